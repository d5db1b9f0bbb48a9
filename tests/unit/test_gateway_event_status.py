"""The gateway's wait for an event's outcome and its read permissions, on the in-memory records."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from types import SimpleNamespace

import pytest

from services.common.channels import (
    INBOX_PAYLOAD_BYTES_MAX,
    OUTCOME_FIELDS,
    inbox_payload,
    inbox_payload_ids,
    inbox_payload_outcomes,
)
from services.gateway.adapters.event_records import InMemoryEventRecords
from services.gateway.domain.errors import DatabaseUnavailable, NotFound
from services.gateway.domain.event_status import AcceptedRecord, InboxRecord, status_body
from services.gateway.domain.keys import KeyHolder
from services.gateway.entrypoints.metrics import GatewayMetrics
from services.gateway.service_layer.event_status import (
    AcceptedLog,
    OutcomeWatch,
    event_status,
    record_and_wait,
)

HASH, OTHER_HASH = b"h" * 32, b"o" * 32
CENTRE = KeyHolder("k1", "return_centre", "centre-1", "producer")
FINANCE = KeyHolder("k2", "finance", "fin", "finance")
OTHER = KeyHolder("k3", "return_centre", "centre-2", "producer")


def refunded(event_id) -> InboxRecord:
    return InboxRecord(
        event_id,
        "collection.logged",
        "applied",
        None,
        HASH,
        taken_back="refunded",
        source_kind="return_centre",
        source_id="centre-1",
        refund_amount=5000,
        refund_currency="EUR",
        refund_method="cash",
    )


async def test_an_outcome_recorded_while_nobody_listens_is_found_by_the_poll():
    records, event_id = InMemoryEventRecords(), uuid.uuid4()
    watch = OutcomeWatch(records, listen=None, poll_interval_s=0.05)
    loop = asyncio.create_task(watch.run_forever())
    try:
        waiting = asyncio.create_task(watch.wait(event_id, HASH, 2.0))
        await asyncio.sleep(0.2)
        records.inbox[event_id] = refunded(event_id)  # no notification: only the poll can see it
        body = await waiting
    finally:
        loop.cancel()
    assert body["status"] == "applied"
    assert body["outcome"]["refund"] == {"amount": 5000, "currency": "EUR", "method": "cash"}
    assert watch.waiting == 0


async def test_a_wait_with_no_outcome_ends_empty_after_its_time_and_is_forgotten():
    watch = OutcomeWatch(InMemoryEventRecords(), poll_interval_s=0.05)
    loop = asyncio.create_task(watch.run_forever())
    try:
        assert await watch.wait(uuid.uuid4(), HASH, 0.2) is None
    finally:
        loop.cancel()
    assert watch.waiting == 0


async def test_the_requests_waiting_are_a_gauge_of_the_metrics():
    watch, metrics = OutcomeWatch(InMemoryEventRecords(), poll_interval_s=0.05), GatewayMetrics()
    metrics.watch(SimpleNamespace(keys={}, failures={}), watch)
    loop = asyncio.create_task(watch.run_forever())
    try:
        waits = [asyncio.create_task(watch.wait(uuid.uuid4(), HASH, 0.3)) for _ in range(3)]
        await asyncio.sleep(0.05)
        during = metrics.exposition().decode()
        assert await asyncio.gather(*waits) == [None] * 3
    finally:
        loop.cancel()
    assert "takeback_gateway_waiting_requests 3.0" in during
    assert "takeback_gateway_waiting_requests 0.0" in metrics.exposition().decode()


async def test_other_content_under_a_decided_id_is_a_conflict():
    event_id = uuid.uuid4()
    watch = OutcomeWatch(InMemoryEventRecords([refunded(event_id)]), poll_interval_s=0.05)
    loop = asyncio.create_task(watch.run_forever())
    try:
        body = await watch.wait(event_id, OTHER_HASH, 1.0)
    finally:
        loop.cancel()
    assert (body["status"], body["outcome"]["reason"]) == ("rejected", "event_id_conflict")


async def test_an_event_is_read_by_its_sender_and_finance_and_unknown_to_others():
    records, event_id = InMemoryEventRecords(), uuid.uuid4()
    await AcceptedLog(records).add(AcceptedRecord(event_id, "return_centre", "centre-1", HASH))
    assert (await event_status(records, CENTRE, event_id))["status"] == "accepted"
    records.inbox[event_id] = refunded(event_id)
    assert (await event_status(records, FINANCE, event_id))["status"] == "applied"
    for holder, unknown in ((OTHER, event_id), (CENTRE, uuid.uuid4())):
        with pytest.raises(NotFound):
            await event_status(records, holder, unknown)


async def test_an_event_not_sent_over_http_is_read_by_the_source_the_inbox_recorded_and_finance():
    records = InMemoryEventRecords()
    sourced, unsourced = uuid.uuid4(), uuid.uuid4()
    records.inbox[sourced] = InboxRecord(
        sourced, "sale.recorded", "applied", None, HASH, source_kind="return_centre", source_id="centre-1"
    )
    records.inbox[unsourced] = InboxRecord(unsourced, "sale.recorded", "rejected", "schema_violation", HASH)
    assert (await event_status(records, CENTRE, sourced))["outcome"] == {"event_type": "sale.recorded"}
    assert (await event_status(records, FINANCE, sourced))["status"] == "applied"
    assert (await event_status(records, FINANCE, unsourced))["outcome"]["reason"] == "schema_violation"
    for holder, event_id in ((OTHER, sourced), (CENTRE, unsourced), (OTHER, unsourced)):
        with pytest.raises(NotFound):
            await event_status(records, holder, event_id)


async def test_the_gateways_record_of_the_sender_comes_before_the_inbox_source():
    records, event_id = InMemoryEventRecords(), uuid.uuid4()
    await AcceptedLog(records).add(AcceptedRecord(event_id, "return_centre", "centre-2", HASH))
    records.inbox[event_id] = refunded(event_id)  # the inbox names centre-1
    assert (await event_status(records, OTHER, event_id))["status"] == "applied"
    with pytest.raises(NotFound):
        await event_status(records, CENTRE, event_id)


async def test_accepted_events_written_together_keep_each_first_record():
    records, event_id = InMemoryEventRecords(), uuid.uuid4()
    log = AcceptedLog(records)
    await asyncio.gather(
        log.add(AcceptedRecord(event_id, "pos", "s-1", HASH)),
        log.add(AcceptedRecord(event_id, "pos", "s-1", OTHER_HASH)),
        *(log.add(AcceptedRecord(uuid.uuid4(), "pos", "s-1", HASH)) for _ in range(20)),
    )
    assert records.accepted_events[event_id].content_hash == HASH
    assert len(records.accepted_events) == 21


class ReadsRecorded(InMemoryEventRecords):
    """The in-memory records, noting the ids of each read of outcomes; `fail` makes the next read raise."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[set] = []
        self.fail = False

    async def outcomes(self, event_ids):
        self.reads.append(set(event_ids))
        if self.fail:
            self.fail = False
            raise ConnectionError("the database is away")
        return await super().outcomes(event_ids)


async def _listening(records, poll_interval_s: float = 60.0):
    """A watch listening on a fake channel: (watch, its loop task, notify(payload))."""
    notify = []

    async def listen(on_notify):
        notify.append(on_notify)
        return lambda: True

    watch = OutcomeWatch(records, listen=listen, poll_interval_s=poll_interval_s)
    loop = asyncio.create_task(watch.run_forever())
    while not notify:
        await asyncio.sleep(0.01)
    return watch, loop, notify[0]


async def _waiting_for(watch, records, count: int):
    ids = [uuid.uuid4() for _ in range(count)]
    tasks = [asyncio.create_task(watch.wait(event_id, HASH, 5.0)) for event_id in ids]
    while watch.waiting < count or not records.reads:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the read of the new waiters is done
    return ids, tasks


async def test_a_notification_reads_only_the_waiting_events_it_names():
    records = ReadsRecorded()
    watch, loop, notify = await _listening(records)
    try:
        (mine, other), tasks = await _waiting_for(watch, records, 2)
        records.inbox[mine] = refunded(mine)
        records.reads.clear()
        notify(",".join(str(i) for i in (uuid.uuid4(), mine, uuid.uuid4())))
        body = await asyncio.wait_for(tasks[0], 2.0)
        assert body["status"] == "applied"
        assert records.reads == [{mine}]
        notify(str(uuid.uuid4()))  # a batch of events nobody waits for here: no read
        await asyncio.sleep(0.1)
        assert records.reads == [{mine}]
        assert not tasks[1].done() and watch.waiting == 1
    finally:
        loop.cancel()


async def test_a_notification_naming_no_id_reads_every_waiting_event():
    records = ReadsRecorded()
    watch, loop, notify = await _listening(records)
    try:
        ids, tasks = await _waiting_for(watch, records, 3)
        for event_id in ids:
            records.inbox[event_id] = refunded(event_id)
        records.reads.clear()
        notify("")  # a batch too large to name its ids
        bodies = await asyncio.wait_for(asyncio.gather(*tasks), 2.0)
    finally:
        loop.cancel()
    assert [b["event_id"] for b in bodies] == [str(i) for i in ids]
    assert records.reads == [set(ids)]


async def test_an_outcome_never_notified_is_found_while_other_notifications_keep_coming():
    records = ReadsRecorded()
    watch, loop, notify = await _listening(records, poll_interval_s=0.2)
    try:
        (missed,), tasks = await _waiting_for(watch, records, 1)
        records.inbox[missed] = refunded(missed)  # its notification was lost
        for _ in range(100):  # other batches' notifications, waking the watch every 10 ms
            if tasks[0].done():
                break
            other = uuid.uuid4()
            notify(str(other))
            await asyncio.sleep(0.01)
        body = await asyncio.wait_for(tasks[0], 1.0)
    finally:
        loop.cancel()
    assert body["status"] == "applied"


async def test_a_read_that_failed_is_made_again_for_every_waiting_event():
    records = ReadsRecorded()
    watch, loop, notify = await _listening(records)
    try:
        (event_id,), tasks = await _waiting_for(watch, records, 1)
        records.inbox[event_id] = refunded(event_id)
        records.fail = True
        notify(str(event_id))  # this read fails; its notification will not come again
        while records.fail:
            await asyncio.sleep(0.01)
        notify(str(uuid.uuid4()))  # the next wake, for another batch, reads every waiting event
        body = await asyncio.wait_for(tasks[0], 2.0)
    finally:
        loop.cancel()
    assert body["status"] == "applied"


class SlowAccepted(InMemoryEventRecords):
    """The in-memory records whose write of accepted events waits for `release` (or fails with `error`)."""

    def __init__(self, error: Exception | None = None) -> None:
        super().__init__()
        self.release, self.error, self.reads = asyncio.Event(), error, 0

    async def outcomes(self, event_ids):
        self.reads += 1
        return await super().outcomes(event_ids)

    async def add_accepted(self, records):
        await self.release.wait()
        if self.error is not None:
            raise self.error
        await super().add_accepted(records)


async def test_the_wait_starts_with_the_write_of_the_acceptance_and_the_answer_waits_for_both():
    records, event_id, recorded = SlowAccepted(), uuid.uuid4(), []
    records.inbox[event_id] = refunded(event_id)  # decided before the acceptance is written
    watch = OutcomeWatch(records, poll_interval_s=0.05)
    loop = asyncio.create_task(watch.run_forever())
    try:
        answer = asyncio.create_task(
            record_and_wait(
                AcceptedLog(records),
                watch,
                AcceptedRecord(event_id, "return_centre", "centre-1", HASH),
                2.0,
                on_recorded=lambda: recorded.append(event_id),
            )
        )
        await asyncio.sleep(0.2)
        assert not answer.done() and recorded == []  # decided, but its acceptance is not written yet
        assert records.reads and watch.waiting == 0  # the wait already read the decision
        records.release.set()
        body = await answer
    finally:
        loop.cancel()
    assert body["status"] == "applied" and recorded == [event_id]
    assert records.accepted_events[event_id].content_hash == HASH


async def test_a_failed_write_of_the_acceptance_answers_at_once_not_after_the_wait():
    records = SlowAccepted(error=ConnectionError("the database is away"))
    watch = OutcomeWatch(records, poll_interval_s=0.05)
    loop = asyncio.create_task(watch.run_forever())
    records.release.set()
    started = asyncio.get_running_loop().time()
    try:
        with pytest.raises(DatabaseUnavailable):
            await record_and_wait(
                AcceptedLog(records),
                watch,
                AcceptedRecord(uuid.uuid4(), "return_centre", "centre-1", HASH),
                5.0,
                on_recorded=lambda: pytest.fail("counted though not written"),
            )
    finally:
        loop.cancel()
    assert asyncio.get_running_loop().time() - started < 1.0
    assert watch.waiting == 0  # the wait was given up


class FirstReadHeld(InMemoryEventRecords):
    """The in-memory records whose first read of outcomes waits until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release, self.reads = asyncio.Event(), 0

    async def outcomes(self, event_ids):
        self.reads += 1
        if self.reads == 1:
            await self.release.wait()
        return await super().outcomes(event_ids)


async def test_a_notification_is_read_while_another_read_is_still_in_progress():
    records = FirstReadHeld()
    watch, loop, notify = await _listening(records)
    slow, quick = uuid.uuid4(), uuid.uuid4()
    try:
        held = asyncio.create_task(watch.wait(slow, HASH, 5.0))
        while records.reads < 1:  # the read at once of the first waiter, held
            await asyncio.sleep(0.01)
        answered = asyncio.create_task(watch.wait(quick, HASH, 5.0))
        records.inbox[quick] = refunded(quick)
        notify(str(quick))
        body = await asyncio.wait_for(answered, 1.0)  # not behind the held read
        assert body["status"] == "applied" and not held.done()
        records.release.set()
        records.inbox[slow] = refunded(slow)
        notify(str(slow))
        assert (await asyncio.wait_for(held, 1.0))["status"] == "applied"
    finally:
        records.release.set()
        loop.cancel()


def _field(record: InboxRecord, name: str):
    value = getattr(record, name)
    return value.hex() if name == "content_hash" else value  # as the streams send it


def _carried(*records: InboxRecord, others: tuple = ()) -> str:
    """A notification as a batch sends it: the outcomes it wrote, and the other ids it read."""
    return inbox_payload(
        [r.event_id for r in records] + list(others),
        {r.event_id: tuple(_field(r, name) for name in OUTCOME_FIELDS) for r in records},
    )


async def test_a_notification_carrying_outcomes_answers_from_them_and_reads_only_the_others_named():
    records = ReadsRecorded()
    watch, loop, notify = await _listening(records)
    try:
        (mine, seen_before, other), tasks = await _waiting_for(watch, records, 3)
        records.inbox[seen_before] = refunded(seen_before)
        records.reads.clear()
        notify(_carried(refunded(mine), others=(seen_before,)))  # `mine` is not in the records: no read of it
        assert (await asyncio.wait_for(tasks[0], 2.0)) == status_body(mine, refunded(mine), HASH)
        assert (await asyncio.wait_for(tasks[1], 2.0))["status"] == "applied"
        assert records.reads == [{seen_before}]
        conflict = replace(refunded(other), content_hash=OTHER_HASH)
        notify(_carried(conflict))  # another content under its id: the conflict, as a read would say
        assert (await asyncio.wait_for(tasks[2], 2.0))["outcome"]["reason"] == "event_id_conflict"
        assert records.reads == [{seen_before}]
    finally:
        loop.cancel()


def test_a_payload_carries_outcomes_exactly_and_names_the_ids_alone_when_they_do_not_fit():
    event_id = uuid.uuid4()
    record = refunded(event_id)
    outcomes, others = inbox_payload_outcomes(_carried(record, others=(uuid.uuid4(),)))
    assert InboxRecord(event_id, *outcomes[event_id]) == record and len(others) == 1
    many = [refunded(uuid.uuid4()) for _ in range(60)]  # about 9 kB: over PostgreSQL's 8,000 bytes
    payload = _carried(*many)
    assert len(payload.encode()) < INBOX_PAYLOAD_BYTES_MAX
    assert inbox_payload_outcomes(payload) is None
    assert inbox_payload_ids(payload) == [r.event_id for r in many]
    assert inbox_payload_outcomes(",".join(str(uuid.uuid4()) for _ in range(3))) is None
