"""Contract 8.2: an event's status read back (`GET /v1/events/{id}`), and the wait for it (`Prefer: wait=N`).

- `AcceptedLog` records each accepted event (after Kafka's acknowledgement) in
  groups: the requests accepted while one INSERT runs go in the next one.
- `OutcomeWatch` answers the waiting requests of this process. It holds no
  connection per request: one LISTEN connection (the streams notify
  `INBOX_CHANNEL` when a batch commits, with the outcomes the batch wrote and
  its other event ids) answers those it waits for from the outcomes carried,
  and then one query reads the outcomes of the events it waits for among the
  others named (of every waiting event when a notification names none). A request
  that starts waiting is read at once (a duplicate of an event decided long
  ago answers now). A notification missed (while the listening connection
  reconnects) costs at most `POLL_INTERVAL_S`: every waiting event is read that
  often while anyone waits. All it knows is in the database, so any gateway
  process gives the same answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from uuid import UUID

from contracts.events import canonical_hash, load_json
from contracts.structs import read_event
from services.common.channels import inbox_payload_ids, inbox_payload_outcomes
from services.common.logging import get_logger
from services.common.retry import TRANSIENT_ERRORS
from services.gateway.domain.errors import DatabaseUnavailable, NotFound
from services.gateway.domain.event_status import (
    AcceptedRecord,
    InboxRecord,
    accepted_body,
    may_read,
    sender_of,
    status_body,
)
from services.gateway.domain.keys import KeyHolder
from services.gateway.service_layer.ports import EventRecords

log = get_logger(__name__)
ACCEPTED_BATCH_MAX = 1_000  # accepted events in one INSERT
WAITING_MAX = 10_000  # requests waiting at once in a process; beyond, a request answers 202 at once
POLL_IDS_MAX = 2_000  # event ids in one read of outcomes
READS_AT_ONCE = 4  # reads of outcomes in progress at once (of the pool's 8 connections)
POLL_INTERVAL_S = 0.5  # the fallback poll while requests wait, should a notification be missed
LISTEN_RETRY_S = 2.0  # between attempts to open the listening connection again
# listen(on_notify) -> is_listening; on_notify gets each notification's payload
Listen = Callable[[Callable[[str], None]], Awaitable[Callable[[], bool]]]


def content_hash(raw: bytes) -> bytes:
    """The idempotency content hash the streams record in the inbox, of an event already accepted."""
    fast = read_event(raw)
    return fast[1] if fast is not None else canonical_hash(load_json(raw))


async def event_status(records: EventRecords, holder: KeyHolder, event_id: UUID) -> dict:
    """The event's status for the source that sent it or finance; `unknown_event` (404) for anyone else."""
    try:
        accepted = await records.accepted(event_id)
        found = (await records.outcomes([event_id])).get(event_id)
    except TRANSIENT_ERRORS as error:
        raise DatabaseUnavailable(
            "database_unavailable",
            f"the scheme's records are not readable now ({type(error).__name__}); retry",
        ) from None
    if (accepted is None and found is None) or not may_read(holder, sender_of(accepted, found)):
        raise NotFound("unknown_event", f"no event {event_id} is known to the scheme for this key")
    sent_hash = accepted.content_hash if accepted is not None else None
    return status_body(event_id, found, sent_hash) or accepted_body(event_id)


async def record_and_wait(
    accepted: AcceptedLog,
    outcomes: OutcomeWatch,
    record: AcceptedRecord,
    timeout_s: float,
    on_recorded: Callable[[], None],
) -> dict | None:
    """`Prefer: wait`: record the acceptance and wait for the decision at once, the wait not held back by
    the write's round trip. The answer still waits for both: a write that fails is `database_unavailable`
    (503) as soon as it fails, whatever the scheme decided; the decision, or None if none within
    `timeout_s`. `on_recorded` once the acceptance is written (even if the request goes away meanwhile)."""

    async def add() -> None:
        await accepted.add(record)
        on_recorded()

    recording = asyncio.ensure_future(add())
    waiting = asyncio.ensure_future(outcomes.wait(record.event_id, record.content_hash, timeout_s))
    try:
        done, _ = await asyncio.wait((recording, waiting), return_when=asyncio.FIRST_EXCEPTION)
        if recording in done:
            recording.result()  # its error, now
        await recording
        return await waiting
    finally:
        if not waiting.done():
            waiting.cancel()
            await asyncio.wait((waiting,))  # its wait is forgotten before the answer


class AcceptedLog:
    def __init__(self, records: EventRecords) -> None:
        self.records = records
        self._pending: list[tuple[AcceptedRecord, asyncio.Future]] = []
        self._writing: asyncio.Task | None = None

    async def add(self, record: AcceptedRecord) -> None:
        """Return once the record is written (with the others pending); `database_unavailable` if it is
        not."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_pending())
        try:
            await future
        except TRANSIENT_ERRORS as error:
            raise DatabaseUnavailable(
                "database_unavailable",
                f"the event is in Kafka, but its acceptance was not "
                f"recorded ({type(error).__name__}); send it again with the same event_id",
            ) from None

    async def _write_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:ACCEPTED_BATCH_MAX], self._pending[ACCEPTED_BATCH_MAX:]
            try:
                await self.records.add_accepted([record for record, _ in batch])
            except Exception as error:  # each request answers for itself (a transient error is a 503)
                _settle(batch, error=error)
            else:
                _settle(batch)


def _settle(batch: list[tuple[AcceptedRecord, asyncio.Future]], error: Exception | None = None) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error) if error is not None else future.set_result(None)


class OutcomeWatch:
    def __init__(
        self, records: EventRecords, listen: Listen | None = None, poll_interval_s: float = POLL_INTERVAL_S
    ) -> None:
        self.records = records
        self.listen = listen
        self.poll_interval_s = poll_interval_s
        self._waiting: dict[UUID, list[tuple[bytes | None, asyncio.Future]]] = {}
        self._count = 0
        self._due: set[UUID] = set()  # waiting events to read at the next wake
        self._read_all = False  # read every waiting event at the next wake
        self._last_read_all = 0.0  # the event loop's time of the last read of every waiting event
        self._wake = asyncio.Event()
        self._is_listening: Callable[[], bool] = lambda: False
        self._reads = asyncio.Semaphore(READS_AT_ONCE)
        self._reading: set[asyncio.Task] = set()  # reads in progress (kept referenced until done)

    @property
    def waiting(self) -> int:
        return self._count

    async def wait(self, event_id: UUID, sent_hash: bytes | None, timeout_s: float) -> dict | None:
        """The event's status body once it is applied or rejected; None if not within `timeout_s`."""
        if self._count >= WAITING_MAX or timeout_s <= 0:
            return None
        future = asyncio.get_running_loop().create_future()
        entry = (sent_hash, future)
        self._waiting.setdefault(event_id, []).append(entry)
        self._count += 1
        self._due.add(event_id)
        self._wake.set()  # read at once: a duplicate of an event applied long ago answers now
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return None
        finally:
            self._forget(event_id, entry)

    def _forget(self, event_id: UUID, entry: tuple) -> None:
        entries = self._waiting.get(event_id, [])
        if entry in entries:
            entries.remove(entry)
            self._count -= 1
        if not entries:
            self._waiting.pop(event_id, None)

    def notified(self, payload: str) -> None:
        """A batch committed: its events that wait here are read at the next wake (all, if it names
        none)."""
        if not self._waiting:
            return
        carried = inbox_payload_outcomes(payload)
        if carried is not None:  # answered from the outcomes the batch wrote; the others are read
            outcomes, named = carried
            for event_id, fields in outcomes.items():
                if event_id in self._waiting:
                    self._answer(event_id, InboxRecord(event_id, *fields))
        else:
            named = inbox_payload_ids(payload)
        if named is None:
            self._read_all = True
        else:
            due = [event_id for event_id in named if event_id in self._waiting]
            if not due and not self._read_all:
                return  # none of this batch's events waits here
            self._due.update(due)
        self._wake.set()

    async def run_forever(self) -> None:
        try:
            await self._watch()
        finally:
            for read in list(self._reading):
                read.cancel()

    async def _watch(self) -> None:
        while True:
            await self._keep_listening()
            try:
                await asyncio.wait_for(
                    self._wake.wait(), self.poll_interval_s if self._waiting else LISTEN_RETRY_S
                )
            except TimeoutError:
                pass
            self._wake.clear()
            if not self._waiting:
                self._due.clear()
                self._read_all = False
                continue
            now = asyncio.get_running_loop().time()
            if self._read_all or now - self._last_read_all >= self.poll_interval_s:
                ids = list(self._waiting)  # also the fallback, should a notification have been missed
                self._last_read_all = now
            else:
                ids = [event_id for event_id in self._due if event_id in self._waiting]
            self._due.clear()  # what is named from here on is read at the next wake
            self._read_all = False
            if ids:
                # Reads at once, up to READS_AT_ONCE: a batch's notification is not held behind the read of
                # another's (each answer is set once, whichever read finds it first).
                await self._reads.acquire()
                read = asyncio.create_task(self.poll(ids))
                self._reading.add(read)
                read.add_done_callback(self._read_done)

    def _read_done(self, read: asyncio.Task) -> None:
        self._reading.discard(read)
        self._reads.release()

    async def poll(self, ids: list[UUID] | None = None) -> None:
        """One read of the outcomes of these waiting events (of every one by default; in slices of
        POLL_IDS_MAX); each found is answered."""
        ids = list(self._waiting) if ids is None else ids
        for start in range(0, len(ids), POLL_IDS_MAX):
            try:
                found = await self.records.outcomes(ids[start : start + POLL_IDS_MAX])
            except Exception as error:  # the database is away (or a bug, logged): the next poll tries again
                log.warning("outcomes_unreadable", error=repr(error)[:300], waiting=self._count)
                self._read_all = True  # every waiting event, at the next wake or poll
                return
            for event_id, record in found.items():
                self._answer(event_id, record)

    def _answer(self, event_id: UUID, record: InboxRecord) -> None:
        """Each request waiting for the event, with its body (each answer is set once)."""
        for sent_hash, future in self._waiting.get(event_id, []):
            if not future.done():
                future.set_result(status_body(event_id, record, sent_hash))

    async def _keep_listening(self) -> None:
        if self.listen is None or self._is_listening():
            return
        try:
            self._is_listening = await self.listen(self.notified)
        except Exception as error:  # the polls answer meanwhile
            log.warning("outcomes_not_listening", error=repr(error)[:300], retry_s=LISTEN_RETRY_S)
            return
        self._read_all = True  # what was notified while nobody listened is read at once
        self._wake.set()
