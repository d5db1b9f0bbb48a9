"""Apply a batch of events in one PostgreSQL transaction: inbox, effects, outbox.

Every message ends applied or rejected. A duplicate (same event id, same
content) is a no-op; the same id with other content is `event_id_conflict`.
The transaction commits before the consumer acknowledges the batch, so a
crash re-delivers it and the inbox turns the redelivery into no-ops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from contracts import events as ev
from contracts.structs import InEvent, read_event
from services.common import retry
from services.common.kafka import SIGNATURE_HEADER, SIGNER_HEADER, verify
from services.common.logging import get_logger
from services.common.one_statement import OneStatement
from services.common.outbox import write_into as write_outbox
from services.common.retry import TRANSIENT_ERRORS
from streams.adapters import repository
from streams.adapters.rows import InboxRow, OffsetRangeRow
from streams.adapters.signing_keys import SIGNER_KIND, SigningKeys
from streams.domain import payment
from streams.domain.discrepancy import parse_id
from streams.domain.errors import Rejected
from streams.service_layer import events_out
from streams.service_layer.registry import HANDLERS
from streams.service_layer.state import BatchState

log = get_logger(__name__)
# Rejected by where the message was, not recorded against its event id: the same event sent again to the
# right topic is applied, not taken for a duplicate of the rejected one.
POSITION_BASED_REASONS = frozenset({"wrong_topic"})


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    def header(self, name: str) -> bytes | None:
        return next((value for key, value in self.headers if key == name), None)


@dataclass
class Decoded:
    message: Message
    event: InEvent | ev.Envelope | None = None  # the native struct, or the model when the slow path read it
    content_hash: bytes | None = None
    event_id: UUID | None = None
    violation: ev.ContractViolation | None = None
    by_position: bool = False  # rejected for where or how it came, not recorded against its event id


@dataclass
class Outcome:
    applied: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    outbox: int = 0


def decode(message: Message, now: datetime) -> Decoded:
    """One native pass for a valid event; the contract's models (which name the field and the rule)
    otherwise."""
    decoded = Decoded(message)
    try:
        ev.check_size(message.value)
        fast = read_event(message.value)
        if fast is None:
            obj = ev.load_json(message.value)
            decoded.content_hash = _content_hash(obj)
            event = ev.parse_event(obj)
        else:
            event, decoded.content_hash = fast
        decoded.event_id = event.event_id
        ev.check_topic(event, message.topic)
        ev.check_source(event)
        ev.check_not_in_future(event, now)
        decoded.event = event
    except ev.ContractViolation as violation:
        decoded.violation = violation
        if decoded.content_hash is not None:  # readable JSON: the id it carries, if it is one
            decoded.event_id = violation.event_id
    return decoded


def _content_hash(obj: dict) -> bytes:
    try:
        return ev.canonical_hash(obj)
    except ValueError:  # a number JSON reads as infinite (1e400): it has no canonical form
        raise ev.ContractViolation("invalid_json", "a number is out of the range of a double") from None


async def apply_batch(
    pool: asyncpg.Pool, messages: list[Message], keys: SigningKeys | None = None
) -> Outcome:
    """The whole batch in one transaction; if an event breaks it, one event a transaction.

    With `keys`, every event must be signed by its source, or by the gateway or the operator.
    """
    now = datetime.now(UTC)
    decoded = [decode(m, now) for m in messages]
    if keys is not None:
        await check_signatures(decoded, keys)
    try:
        return await _in_transaction(pool, decoded)
    except TRANSIENT_ERRORS:
        raise  # the database is away: nothing was applied; the caller waits and tries again
    except Exception as error:  # a poison event: isolate it rather than stall the partition
        log.error("batch_failed_isolating", events=len(decoded), error=repr(error))
    total = Outcome()
    for item in decoded:
        try:
            outcome = await _in_transaction(pool, [item])
        except TRANSIENT_ERRORS:
            raise
        except Exception as error:
            log.error("event_failed", event_id=str(item.event_id), error=repr(error))
            item.violation, item.event = ev.ContractViolation("processing_failed", repr(error)[:500]), None
            outcome = await _in_transaction(pool, [item])
        _add(total, outcome)
    return total


async def _in_transaction(pool: asyncpg.Pool, decoded: list[Decoded]) -> Outcome:
    """Concurrent workers touching the same new rows: the whole batch again, a few times."""

    async def attempt() -> Outcome:
        async with pool.acquire() as connection, connection.transaction():
            return await _apply(connection, decoded)

    return await retry.until_done(
        attempt,
        retry.RACE,
        retry.RACE_ERRORS,
        on_retry=lambda n, error, _: log.warning("batch_retry", attempt=n, error=type(error).__name__),
    )


def _add(total: Outcome, part: Outcome) -> None:
    for reason, count in part.rejected.items():
        total.rejected[reason] = total.rejected.get(reason, 0) + count
    for kind, count in part.applied.items():
        total.applied[kind] = total.applied.get(kind, 0) + count
    total.duplicates += part.duplicates
    total.outbox += part.outbox


async def _apply(connection: asyncpg.Connection, decoded: list[Decoded]) -> Outcome:
    outcome, state = Outcome(), BatchState()
    ids = [d.event_id for d in decoded if d.event_id is not None]
    seen: dict[UUID, bytes] = await repository.inbox_hashes(connection, ids)
    await repository.load(connection, state, *_references(decoded))
    await repository.load_orphan_collections(connection, state, _sold_serials(decoded))
    await repository.load_payments(connection, state, *_payment_references(decoded))
    await repository.load_collection_terms(
        connection,
        state,
        {d.event.data.serial for d in decoded if d.event is not None and d.event.type == "collection.logged"},
    )
    for item in decoded:
        if item.event_id is not None and item.event_id in seen:
            if seen[item.event_id] == item.content_hash:
                outcome.duplicates += 1
            else:
                _reject(
                    state,
                    outcome,
                    item,
                    "event_id_conflict",
                    f"event_id {item.event_id} was already used for an event with other content",
                    position_based=True,
                )
            continue
        if item.violation is not None:
            _reject(
                state,
                outcome,
                item,
                item.violation.reason,
                item.violation.message,
                position_based=item.by_position or item.violation.reason in POSITION_BASED_REASONS,
            )
        else:
            _handle(state, outcome, item)
        if item.event_id is not None:
            seen[item.event_id] = item.content_hash
    statement = OneStatement()  # every write of the batch and its notification: one round trip
    await repository.save(connection, state, statement)
    repository.record_offsets(statement, offset_ranges([d.message for d in decoded]))
    state.outbox.extend(events_out.postings_requested(state.postings))
    write_outbox(statement, "scheme", state.outbox)
    repository.notify_outcomes(statement, ids, state)
    counts = await statement.run(connection)
    outcome.outbox = counts[0] if state.outbox else 0
    return outcome


async def check_signatures(decoded: list[Decoded], keys: SigningKeys) -> None:
    """Contract 8.4: a credential writes only as the source it was made for.

    The signature is checked after the event was read (so a replayed duplicate stays a
    no-op) and a failure is rejected by position: the event sent again, signed, applies.
    """

    def signer_of(item: Decoded) -> tuple[str, str]:
        by = item.message.header(SIGNER_HEADER)
        if by is not None:
            return SIGNER_KIND, by.decode("utf-8", "replace")
        return item.event.source.kind, item.event.source.id

    readable = [item for item in decoded if item.event is not None]
    found = await keys.get({signer_of(item) for item in readable})
    for item in readable:
        kind, signer = signer_of(item)
        secret = found.get((kind, signer))
        if secret is None or not verify(secret, item.message.value, item.message.header(SIGNATURE_HEADER)):
            who = f"the {signer}" if kind == SIGNER_KIND else f"source {kind}/{signer}"
            item.violation = ev.ContractViolation(
                "source_mismatch",
                f"not signed by {who}: header {SIGNATURE_HEADER} is missing or not made with "
                "its key (the credential may not speak for source "
                f"{item.event.source.kind}/{item.event.source.id})",
                item.event_id,
            )
            item.event, item.by_position = None, True


def offset_ranges(messages: list[Message]) -> list[OffsetRangeRow]:
    """(topic, partition, first offset, last offset) of each run of consecutive offsets the batch read.

    Recorded in the batch's transaction: every offset read ends with an outcome in the same commit, so
    reconciliation can check the input partitions for offsets that never got one (a lost message).
    """
    ranges: list[list] = []
    for m in sorted(messages, key=lambda m: (m.topic, m.partition, m.offset)):
        last = ranges[-1] if ranges else None
        if last is not None and (last[0], last[1]) == (m.topic, m.partition) and m.offset <= last[3] + 1:
            last[3] = max(last[3], m.offset)
        else:
            ranges.append([m.topic, m.partition, m.offset, m.offset])
    return [OffsetRangeRow(*r) for r in ranges]


def _handle(state: BatchState, outcome: Outcome, item: Decoded) -> None:
    event, message = item.event, item.message
    try:
        HANDLERS[event.type](state, event)
    except Rejected as refusal:
        _reject(state, outcome, item, refusal.reason, refusal.message)
        return
    state.inbox.append(
        InboxRow(
            event.event_id,
            item.content_hash,
            event.type,
            message.topic,
            message.partition,
            message.offset,
            event.occurred_at,
            "applied",
            None,
            event.source.kind,
            event.source.id,
        )
    )
    outcome.applied[event.type] = outcome.applied.get(event.type, 0) + 1


def _source_of(item: Decoded) -> tuple[str | None, str | None]:
    """The event's `source` (kind, id), recorded in the inbox for who may read its status (contract 8.2);
    (None, None) when the event was not read (or, with signing keys, its signature not checked)."""
    return (item.event.source.kind, item.event.source.id) if item.event is not None else (None, None)


def _reject(
    state: BatchState, outcome: Outcome, item: Decoded, reason: str, text: str, position_based: bool = False
) -> None:
    m = item.message
    if item.event_id is not None and not position_based:
        rejection_id = events_out.stable_id("rejected", item.event_id)
        event_type = item.event.type if item.event else _type_of(item)
        state.inbox.append(
            InboxRow(
                item.event_id,
                item.content_hash,
                event_type,
                m.topic,
                m.partition,
                m.offset,
                item.event.occurred_at if item.event else None,
                "rejected",
                reason,
                *_source_of(item),
            )
        )
    else:
        rejection_id = events_out.stable_id("rejected", m.topic, m.partition, m.offset)
    state.outbox.append(
        events_out.event_rejected(
            rejection_id, item.event_id, m.topic, m.partition, m.offset, m.key, reason, text, m.value
        )
    )
    outcome.rejected[reason] = outcome.rejected.get(reason, 0) + 1
    log.info(
        "event_rejected",
        event_id=str(item.event_id) if item.event_id else None,
        reason=reason,
        topic=m.topic,
        partition=m.partition,
        offset=m.offset,
    )


def _type_of(item: Decoded) -> str:
    try:
        value = ev.load_json(item.message.value).get("type")
    except ev.ContractViolation:
        return "unknown"
    return value if isinstance(value, str) else "unknown"


def _sold_serials(decoded: list[Decoded]) -> set[str]:
    return {
        i.serial
        for d in decoded
        if d.event is not None and d.event.type == "sale.recorded"
        for i in d.event.data.items
    }


def _payment_references(decoded: list[Decoded]) -> tuple[set[str], set[tuple[str, str]]]:
    """The payment ids of the batch's payments, and the (account, currency) each settles."""
    payment_ids: set[str] = set()
    accounts: set[tuple[str, str]] = set()
    for item in decoded:
        if item.event is not None and item.event.type == "payment.recorded":
            data = item.event.data
            payment_ids.add(data.payment_id)
            accounts.add((payment.account_of(data.counterparty.kind, data.counterparty.id), data.currency))
    return payment_ids, accounts


def _references(decoded: list[Decoded]) -> tuple[set[str], set[str], set[str], set[str], set[UUID], set[str]]:
    serials: set[str] = set()
    sale_ids: set[str] = set()
    lot_ids: set[str] = set()
    skus: set[str] = set()
    discrepancy_ids: set[UUID] = set()
    release_ids: set[str] = set()
    for item in decoded:
        event = item.event
        if event is None:
            continue
        data = event.data
        if event.type == "discrepancy.resolved":
            discrepancy_ids.update(filter(None, [parse_id(data.discrepancy_id)]))
        elif event.type == "deposits.released":
            release_ids.add(data.release_id)
        if event.type == "sale.recorded":
            sale_ids.add(data.sale_id)
            serials.update(i.serial for i in data.items)
            skus.update(i.sku for i in data.items)
        elif event.type == "sale.cancelled":
            sale_ids.add(data.sale_id)
            serials.update(data.serials)
        elif event.type in ("collection.logged", "custody.transferred", "battery.repurposed"):
            serials.add(data.serial)
        elif event.type == "lot.dispatched":
            lot_ids.add(data.lot_id)
            serials.update(data.serials)
        elif event.type == "lot.received":
            lot_ids.add(data.lot_id)
            serials.update(data.serials_received)
        elif event.type == "recovery.confirmed":
            lot_ids.add(data.lot_id)
        elif event.type == "terms.published":
            skus.add(data.sku)
    return serials, sale_ids, lot_ids, skus, discrepancy_ids, release_ids
