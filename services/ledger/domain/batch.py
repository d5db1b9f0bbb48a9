"""A batch of posting messages, sorted into entries to post, repeats, and messages that cannot be posted."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.ledger.domain.errors import PostingKeyConflict, PostingRefused
from services.ledger.domain.journal import Entry, read_message


@dataclass(frozen=True)
class PostingMessage:
    """One message read from the postings topic, where it was read."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Unpostable:
    message: PostingMessage
    reason: str
    error: str

    @property
    def key_text(self) -> str | None:
        return self.message.key.decode("utf-8", "replace") if self.message.key is not None else None


@dataclass
class Batch:
    """Distinct posting keys (the first message of a key wins), repeats counted, refusals kept."""

    entries: list[Entry] = field(default_factory=list)
    repeats: int = 0
    unpostable: list[Unpostable] = field(default_factory=list)
    _by_key: dict[str, Entry] = field(default_factory=dict)
    _message_of: dict[str, PostingMessage | None] = field(default_factory=dict)

    def add(self, entry: Entry, message: PostingMessage | None = None) -> None:
        seen = self._by_key.get(entry.posting_key)
        if seen is None:
            self._by_key[entry.posting_key] = entry
            self._message_of[entry.posting_key] = message
            self.entries.append(entry)
        elif seen.content_hash == entry.content_hash:
            self.repeats += 1
        else:
            self._refuse(
                message,
                PostingKeyConflict(
                    "the same posting key twice in a batch, with other content", entry.posting_key
                ),
            )

    def refuse(self, message: PostingMessage, refusal: PostingRefused) -> None:
        """One record per message: a second refusal in the same message (a batch) adds its error to it."""
        for index, kept in enumerate(self.unpostable):
            if kept.message is message:
                self.unpostable[index] = Unpostable(message, kept.reason, f"{kept.error}; {refusal}")
                return
        self.unpostable.append(Unpostable(message, refusal.reason, str(refusal)))

    def refusals_with(self, posted_before: list[Entry]) -> list[Unpostable]:
        """The batch's refusals and, for each entry whose key was posted before with other content, one of
        the message that asked again. The batch is left as it is: a transaction tried again asks again."""
        if not posted_before:
            return self.unpostable
        refusals = Batch(unpostable=list(self.unpostable))
        for entry in posted_before:
            refusals._refuse(
                self._message_of.get(entry.posting_key),
                PostingKeyConflict("posted before with other content", entry.posting_key),
            )
        return refusals.unpostable

    def _refuse(self, message: PostingMessage | None, refusal: PostingRefused) -> None:
        if message is None:  # called with entries, not messages: the caller hears it
            raise refusal
        self.refuse(message, refusal)


def sort_messages(messages: list[PostingMessage]) -> Batch:
    batch = Batch()
    for message in messages:
        entries, refusals = read_message(message.key, message.value)
        for refusal in refusals:
            batch.refuse(message, refusal)
        for entry in entries:
            batch.add(entry, message)
    return batch


def batch_of_entries(entries: list[Entry]) -> Batch:
    batch = Batch()
    for entry in entries:
        batch.add(entry)
    return batch
