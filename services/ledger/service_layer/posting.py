"""Post a batch of postings in one PostgreSQL transaction: entries, movements, events, refusals.

A posting seen again is a no-op (same key, same content); the same key with
other content is refused and kept in `ledger.unpostable`, never skipped. The
new entries go in by one COPY after one query found those already posted; a
worker that posted one of them meanwhile makes the COPY fail on the primary key,
and the batch is tried again (it finds that entry posted). A batch the database
refuses as data (a constraint, an out-of-range value) is split and posted
message by message, so one poison message cannot stall its partition.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from contracts.postings import PostingRequested
from services.common import outbox, retry
from services.common.channels import LEDGER_OUTBOX_CHANNEL
from services.common.logging import get_logger
from services.ledger.adapters import events
from services.ledger.adapters import journal_repository as journal
from services.ledger.domain.batch import Batch, PostingMessage, batch_of_entries, sort_messages
from services.ledger.domain.errors import RefusedByDatabase
from services.ledger.domain.journal import entry_from_request, movements

log = get_logger(__name__)
# Errors of the data, not of the connection: the batch is split to find the message at fault.
# (ValueError: a posting the contract's event model refuses; it must not stall the partition either.)
DATA_ERRORS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, ValueError)


@dataclass(frozen=True)
class PostingOutcome:
    posted: list[str]  # posting keys posted by this call
    repeated: int  # postings already posted with the same content
    refused: list[str]  # the reason of each message refused (and stored, once per offset)

    @property
    def unpostable(self) -> int:
        return len(self.refused)

    def __add__(self, other: PostingOutcome) -> PostingOutcome:
        return PostingOutcome(
            self.posted + other.posted, self.repeated + other.repeated, self.refused + other.refused
        )


async def post(pool: asyncpg.Pool, requests: list[PostingRequested]) -> PostingOutcome:
    """Post parsed postings (a caller with models in hand; a conflict raises `PostingKeyConflict`)."""
    return await post_batch(pool, batch_of_entries([entry_from_request(r) for r in requests]))


async def post_messages(pool: asyncpg.Pool, messages: list[PostingMessage]) -> PostingOutcome:
    """Post what the postings topic delivered; what cannot be posted is stored, with its error."""
    batch = None
    try:
        batch = sort_messages(messages)
        return await post_batch(pool, batch)
    except DATA_ERRORS as error:
        if (
            len(messages) == 1 and batch is not None and len(batch.entries) > 1
        ):  # a batch of postings: one posting at a time
            return await _post_one_by_one(pool, messages[0], batch)
        if len(messages) == 1:
            return await _store_refused(pool, messages[0], error)
        log.warning("ledger_batch_split", messages=len(messages), error=str(error))
        outcome = PostingOutcome([], 0, [])
        for message in messages:
            outcome = outcome + await post_messages(pool, [message])
        return outcome


async def post_batch(pool: asyncpg.Pool, batch: Batch) -> PostingOutcome:
    """Post the batch's entries (each balanced: an `Entry` cannot exist otherwise) and store its refusals.

    Another worker may post one of the entries between the query that finds what is posted and the COPY:
    the COPY fails on the primary key and the batch is tried again (`retry.RACE`), finding it posted.
    """

    def raced(attempt: int, error: BaseException, pause_s: float) -> None:
        log.info(
            "ledger_batch_posted_concurrently", attempt=attempt, entries=len(batch.entries), error=str(error)
        )

    return await retry.until_done(
        lambda: _post_batch_once(pool, batch), retry.RACE, (asyncpg.UniqueViolationError,), raced
    )


async def _post_batch_once(pool: asyncpg.Pool, batch: Batch) -> PostingOutcome:
    entries, new, unpostable, repeated = batch.entries, [], batch.unpostable, 0
    async with pool.acquire() as connection, connection.transaction():
        if entries:
            posted_at, posted = await journal.posted_and_now(connection, entries)
            new = [entry for entry in entries if entry.entry_id not in posted]
            conflicts = [
                e for e in entries if posted.get(e.entry_id, e.content_hash) not in (None, e.content_hash)
            ]
            repeated = len(entries) - len(new) - len(conflicts)
            unpostable = batch.refusals_with(conflicts)
            await journal.copy_entries(connection, new, posted_at)
            await journal.insert_movements(connection, movements(new), posted_at)
            # An entry new in this transaction has never had its entry.posted written: no conflict to check.
            await outbox.write_new(
                connection, "ledger", [events.entry_posted(entry, posted_at) for entry in new]
            )
            if new:
                await outbox.notify_written(connection, LEDGER_OUTBOX_CHANNEL)
        await journal.insert_unpostable(connection, unpostable)
    for refused in unpostable:
        log.warning(
            "ledger_posting_unpostable",
            key=refused.key_text,
            reason=refused.reason,
            error=refused.error,
            partition=refused.message.partition,
            offset=refused.message.offset,
        )
    return PostingOutcome(
        [entry.posting_key for entry in new],
        repeated + batch.repeats,
        [refused.reason for refused in unpostable],
    )


async def _post_one_by_one(pool: asyncpg.Pool, message: PostingMessage, batch: Batch) -> PostingOutcome:
    """Post each posting of one message alone; those the database refuses are stored with the message."""
    outcome = PostingOutcome([], 0, [])
    if batch.unpostable:
        refusals = Batch()
        refusals.unpostable.extend(batch.unpostable)
        outcome = await post_batch(pool, refusals)
    for entry in batch.entries:
        single = Batch()
        single.add(entry, message)
        try:
            outcome = outcome + await post_batch(pool, single)
        except DATA_ERRORS as error:
            outcome = outcome + await _store_refused(pool, message, f"{entry.posting_key}: {error}")
    return outcome + PostingOutcome([], batch.repeats, [])


async def _store_refused(
    pool: asyncpg.Pool, message: PostingMessage, error: Exception | str
) -> PostingOutcome:
    """Keep the message in `ledger.unpostable` (once per offset) with why the database refused it."""
    batch = Batch()
    batch.refuse(
        message, RefusedByDatabase(error if isinstance(error, str) else f"{type(error).__name__}: {error}")
    )
    return await post_batch(pool, batch)
