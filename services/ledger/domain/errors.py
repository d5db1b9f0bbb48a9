"""Why the ledger refuses a posting: a small tree whose names are the stored reasons."""

from __future__ import annotations


class PostingRefused(Exception):
    """A posting message the ledger will not post; kept in `ledger.unpostable` with `reason`."""

    reason = "posting_refused"

    def __init__(self, message: str, posting_key: str | None = None) -> None:
        super().__init__(f"{self.reason}: {message}")
        self.message = message
        self.posting_key = posting_key


class MalformedPosting(PostingRefused):
    """Not JSON, or not a `PostingRequested` (a missing field, a float amount, ...)."""

    reason = "malformed_posting"


class KeyMismatch(PostingRefused):
    """The message key is not the posting key: the partitioning the ledger relies on is broken."""

    reason = "key_mismatch"


class UnbalancedEntry(PostingRefused):
    """Debits differ from credits in some currency."""

    reason = "unbalanced_entry"


class PostingKeyConflict(PostingRefused):
    """The posting key was posted before with other content: an error, never a silent skip."""

    reason = "posting_key_conflict"


class RefusedByDatabase(PostingRefused):
    """The database refused the posting alone (a value out of range, a constraint)."""

    reason = "refused_by_database"
