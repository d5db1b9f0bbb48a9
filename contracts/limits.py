"""Bounds of the wire (contract section 8.4), in bytes."""

# A message value above this is rejected (`too_large`); over HTTP the body gets 413.
MESSAGE_VALUE_BYTES_MAX = 256 * 1024
# A rejection carries at most this much of the original value, with its length and SHA-256.
REJECTION_ORIGINAL_BYTES_MAX = 16 * 1024
# A rejection travels under the original key, cut to this many bytes (identifiers are 64 characters).
REJECTION_KEY_BYTES_MAX = 256
# A rejection's `message` (for a person) is cut to this many characters.
REJECTION_MESSAGE_CHARS_MAX = 4096
# What a broker takes on the input topics: above the contract's limit, so that a value between the two is
# answered by a `too_large` rejection rather than a producer error, and bounded so no one fills a partition
# with one message.
INPUT_TOPIC_MESSAGE_BYTES_MAX = 1024 * 1024 + 1024
# What the scheme's producers send and what the output topics take: an event out is at most this big, or it
# is parked (never retried for ever).
OUTPUT_MESSAGE_BYTES_MAX = 1024 * 1024
