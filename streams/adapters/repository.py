"""Loading a batch's slice of the records (row-locked) and writing it back, set-based."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from uuid import UUID

import asyncpg
import orjson

from services.common.channels import INBOX_CHANNEL, INBOX_PAYLOAD_OUTCOMES_MAX, inbox_payload
from services.common.ids import stable_id
from services.common.money import minor_units
from services.common.one_statement import OneStatement
from streams.adapters import releases
from streams.adapters.rows import (
    BatteryRow,
    CollectionRow,
    CounterpartyMovementRow,
    DiscrepancyRow,
    HistoryRow,
    InboxRow,
    LateSaleRow,
    LotItemRow,
    LotRow,
    OffsetRangeRow,
    PaymentRow,
    PostingRow,
    RecoveredMaterialRow,
    RecoveryRow,
    RefundRow,
    RepurposingRow,
    ResolutionRow,
    SaleItemRow,
    SaleRow,
    TermsRow,
    as_json,
    columns,
)
from streams.domain.battery import Battery, Party, Transition
from streams.domain.discrepancy import Discrepancy
from streams.domain.lot import Lot, LotItem
from streams.domain.payment import is_counterparty_account
from streams.domain.sale import Sale, SaleItem
from streams.domain.terms import Terms
from streams.service_layer.state import BatchState


async def load(
    connection: asyncpg.Connection,
    state: BatchState,
    serials: set[str],
    sale_ids: set[str],
    lot_ids: set[str],
    skus: set[str],
    discrepancy_ids: set[UUID] = frozenset(),
    release_ids: set[str] = frozenset(),
) -> None:
    """Lock and read what the batch may touch: discrepancies and lots first (their serials and sales join the
    sets), then the rest."""
    await _load_closing(connection, state, serials, sale_ids, discrepancy_ids, release_ids)
    for row in await _fetch(
        connection, "SELECT * FROM scheme.lots WHERE lot_id = ANY($1) ORDER BY lot_id FOR UPDATE", lot_ids
    ):
        state.lots[row["lot_id"]] = Lot(
            row["lot_id"],
            row["centre_id"],
            row["recycler_id"],
            row["status"],
            row["dispatched_mass_kg"],
            row["dispatched_at"],
            row["received_mass_kg"],
            row["received_at"],
        )
    for row in await _fetch(
        connection,
        "SELECT lot_id, serial, dispatched, received FROM scheme.lot_items WHERE lot_id = ANY($1)",
        state.lots,
    ):
        state.lots[row["lot_id"]].items[row["serial"]] = LotItem(
            row["serial"], row["dispatched"], row["received"]
        )
        serials.add(row["serial"])
    for row in await _fetch(
        connection, "SELECT * FROM scheme.sales WHERE sale_id = ANY($1) ORDER BY sale_id FOR UPDATE", sale_ids
    ):
        state.sales[row["sale_id"]] = Sale(
            row["sale_id"],
            row["store_id"],
            row["currency"],
            row["occurred_at"],
            row["event_id"],
            {},
            row["country"],
        )
    for row in await _fetch(
        connection, "SELECT * FROM scheme.sale_items WHERE sale_id = ANY($1)", state.sales
    ):
        state.sales[row["sale_id"]].items[row["serial"]] = SaleItem(
            row["serial"],
            row["sku"],
            row["category"],
            row["chemistry"],
            row["mass_kg"],
            row["deposit"],
            row["recycling_fee"],
            row["contract"],
            row["status"],
        )
    for row in await _fetch(
        connection,
        "SELECT * FROM scheme.batteries WHERE serial = ANY($1) ORDER BY serial FOR UPDATE",
        serials,
    ):
        state.batteries[row["serial"]] = Battery(
            row["serial"],
            row["state"],
            row["contract"],
            row["sku"],
            row["category"],
            row["chemistry"],
            row["mass_kg"],
            row["currency"],
            row["deposit_charged"],
            row["recycling_fee"],
            row["deposit_refunded"],
            row["sale_id"],
            row["store_id"],
            row["sold_at"],
            Party(row["custodian_kind"], row["custodian_id"]),
            row["lot_id"],
            row["collected_at"],
            row["history_length"],
            row["deposit_released"],
        )
    for row in await _fetch(connection, "SELECT * FROM scheme.terms WHERE sku = ANY($1)", skus):
        state.terms.setdefault(row["sku"], []).append(_terms(row))


async def _fetch(connection: asyncpg.Connection, sql: str, keys: Iterable) -> list[asyncpg.Record]:
    """The rows of these keys; no round trip when there are none (most batches touch few tables)."""
    keys = list(keys)
    return await connection.fetch(sql, keys) if keys else []


def _terms(row: asyncpg.Record) -> Terms:
    return Terms(
        row["sku"],
        row["currency"],
        row["effective_from"],
        row["deposit"],
        row["recycling_fee"],
        row["event_id"],
        row["handling_fee"],
        row["reuse_min_pct"],
        row["repurpose_min_pct"],
    )


async def load_orphan_collections(
    connection: asyncpg.Connection, state: BatchState, serials: set[str]
) -> None:
    """The first collection of each battery among these (a batch's sold serials) taken back as an orphan."""
    orphans = [s for s in serials if s in state.batteries and state.batteries[s].returned_as_orphan]
    if not orphans:
        return
    for row in await connection.fetch(
        "SELECT DISTINCT ON (serial) * FROM scheme.collections WHERE serial = ANY($1)"
        " AND outcome = 'taken_back_free' ORDER BY serial, occurred_at, event_id",
        orphans,
    ):
        values = {name: row[name] for name in columns(CollectionRow)}
        values["event_id"] = UUID(str(row["event_id"]))  # Python's UUID: the id goes out in events
        state.orphan_collections[row["serial"]] = CollectionRow(**values)


async def load_collection_terms(connection: asyncpg.Connection, state: BatchState, serials: set[str]) -> None:
    """The terms of the skus of the batteries the batch collects, where not loaded yet (a handling fee)."""
    skus = {b.sku for s in serials if (b := state.batteries.get(s)) is not None and b.sku} - set(state.terms)
    if skus:
        for row in await connection.fetch("SELECT * FROM scheme.terms WHERE sku = ANY($1)", list(skus)):
            state.terms.setdefault(row["sku"], []).append(_terms(row))


async def load_payments(
    connection: asyncpg.Connection, state: BatchState, payment_ids: set[str], accounts: set[tuple[str, str]]
) -> None:
    """The events that recorded the batch's payment ids, and the balance of each account its payments settle.

    Payments for one id share a key, so one worker applies them in order; the balances are sums of
    append-only rows (no row to lock), read as committed when the batch starts.
    """
    if not payment_ids:
        return
    for row in await connection.fetch(
        "SELECT payment_id, event_id FROM scheme.payments WHERE payment_id = ANY($1)", list(payment_ids)
    ):
        state.payments_recorded[row["payment_id"]] = row["event_id"]
    for row in await connection.fetch(
        "SELECT m.account, m.currency, sum(m.amount) AS net FROM scheme.counterparty_movements m "
        "JOIN unnest($1::text[], $2::text[]) AS a(account, currency) "
        "ON m.account = a.account AND m.currency = a.currency GROUP BY 1, 2",
        [a for a, _ in accounts],
        [c for _, c in accounts],
    ):
        state.counterparty_balances[(row["account"], row["currency"].strip())] = minor_units(row["net"])


def counterparty_movements(postings) -> list[CounterpartyMovementRow]:
    """The batch's debit - credit per counterparty account and currency (none where it nets to 0)."""
    net: dict[tuple[str, str], int] = {}
    for posting in postings:
        for line in posting.lines:
            if is_counterparty_account(line.account):
                key = (line.account, line.currency)
                net[key] = net.get(key, 0) + line.debit - line.credit
    return [
        CounterpartyMovementRow(account, currency, amount)
        for (account, currency), amount in sorted(net.items())
        if amount
    ]


async def _load_closing(
    connection: asyncpg.Connection,
    state: BatchState,
    serials: set[str],
    sale_ids: set[str],
    discrepancy_ids: set[UUID],
    release_ids: set[str],
) -> None:
    """The discrepancies the batch resolves (with any resolution), and who made the releases it names.

    Most batches hold neither: they make no round trip for them."""
    for row in await connection.fetch(DISCREPANCIES_SQL, list(discrepancy_ids)) if discrepancy_ids else ():
        found = state.known_discrepancies[row["discrepancy_id"]] = Discrepancy(
            row["discrepancy_id"],
            row["kind"],
            row["subject"],
            row["details"],
            row["caused_by"],
            row["resolution"],
        )
        serials.add(found.subject)
        if "sale_id" in found.details:
            sale_ids.add(found.details["sale_id"])
    if not release_ids:
        return
    for row in await connection.fetch(
        "SELECT release_id, event_id FROM scheme.releases WHERE release_id = ANY($1)", list(release_ids)
    ):
        state.release_owners[row["release_id"]] = row["event_id"]


DISCREPANCIES_SQL = """
    SELECT d.discrepancy_id, d.kind, d.subject, d.details, d.caused_by, r.resolution
      FROM scheme.discrepancies d LEFT JOIN scheme.discrepancy_resolutions r USING (discrepancy_id)
     WHERE d.discrepancy_id = ANY($1::uuid[])"""


def _write(statement: OneStatement, table: str, row_type: type, rows: list, conflict: str = "") -> None:
    """One write of the batch's statement, one parameter: the rows as JSON, read back by PostgreSQL as the
    table's own row type."""
    if not rows:
        return
    statement.add(_insert_sql(table, row_type, conflict), as_json(rows))


@functools.cache
def _insert_sql(table: str, row_type: type, conflict: str) -> str:
    """The text of a `_write` (a few kinds, each built once)."""
    names = ", ".join(f'"{name}"' for name in columns(row_type))
    return (
        f"INSERT INTO {table} ({names}) SELECT {names}"
        f" FROM json_populate_recordset(NULL::{table}, $1::text::json) {conflict}"
    )


def _battery_row(b: Battery) -> BatteryRow:
    return BatteryRow(
        b.serial,
        b.state,
        b.contract,
        b.sku,
        b.category,
        b.chemistry,
        b.mass_kg,
        b.currency,
        b.deposit_charged,
        b.recycling_fee,
        b.deposit_refunded,
        b.sale_id,
        b.store_id,
        b.sold_at,
        b.custodian.kind,
        b.custodian.id,
        b.lot_id,
        b.collected_at,
        b.history_length,
        b.deposit_released,
    )


def _history_row(t: Transition) -> HistoryRow:
    source = t.from_party
    return HistoryRow(
        t.serial,
        t.seq,
        t.at,
        t.event_id,
        t.event_type,
        source.kind if source else None,
        source.id if source else None,
        t.to_party.kind,
        t.to_party.id,
        t.state,
    )


BATTERY_UPDATE = ", ".join(f"{name} = EXCLUDED.{name}" for name in columns(BatteryRow)[1:])


async def save(connection: asyncpg.Connection, state: BatchState, statement: OneStatement) -> None:
    """What the batch changed, each table one write of `statement` (sent by the caller, with its own
    writes). Rows go in key order, as the loads lock them. Releases read the batteries as the batch left
    them: when there are any, what was gathered before them is sent first."""
    batteries = [state.batteries[s] for s in sorted(state.changed_batteries)]
    _write(
        statement,
        "scheme.batteries",
        BatteryRow,
        [_battery_row(b) for b in batteries],
        f"ON CONFLICT (serial) DO UPDATE SET {BATTERY_UPDATE}",
    )
    _write(
        statement,
        "scheme.custody_history",
        HistoryRow,
        [_history_row(t) for b in batteries for t in b.new_history],
    )
    _save_sales(statement, state)
    _save_lots(statement, state)
    if state.new_releases:
        await statement.run(connection)
        await _save_releases(connection, state)
    _save_facts(statement, state)


async def inbox_hashes(connection: asyncpg.Connection, event_ids: list[UUID]) -> dict[UUID, bytes]:
    """The content hash the inbox holds for each of these events it has seen, in one read."""
    rows = await connection.fetch(
        "SELECT event_id, content_hash FROM scheme.inbox WHERE event_id = ANY($1::uuid[])", event_ids
    )
    return {row["event_id"]: bytes(row["content_hash"]) for row in rows}


def notify_outcomes(statement: OneStatement, event_ids: list[UUID], state: BatchState) -> None:
    """Delivered at commit (contract 8.2): the waiting gateways answer from the outcomes it carries, and
    read those of the other ids named."""
    outcomes = decided(state) if len(state.inbox) <= INBOX_PAYLOAD_OUTCOMES_MAX else None  # else: ids
    payload = inbox_payload(dict.fromkeys(event_ids), outcomes)
    statement.select("pg_notify($1, $2)", INBOX_CHANNEL, payload)


def decided(state: BatchState) -> dict[UUID, tuple]:
    """Each event the batch wrote an inbox row for: its outcome as `GET /v1/events/{id}` reads it back
    (services/gateway/adapters/event_records.py, `_OUTCOMES`), from the rows the batch writes, in
    `OUTCOME_FIELDS` order. A collection's refund is the one it caused for its battery; its outcome,
    the late sale's that settled it in this batch, if any; a rejection's message, its event.rejected's."""
    collections = {c.event_id: c for c in state.collections}
    late = {s.collection_event_id: s for s in state.late_sales}
    refunds = {(r.caused_by, r.serial): r for r in state.refunds}
    rejections = None
    out: dict[UUID, tuple] = {}
    for row in state.inbox:
        message = None
        if row.outcome == "rejected":
            if rejections is None:
                rejections = {str(m.event_id): m for m in state.outbox}
            sent = rejections.get(stable_id("rejected", row.event_id))
            message = orjson.loads(sent.value).get("data", {}).get("message") if sent is not None else None
        c = collections.get(row.event_id) if row.event_type == "collection.logged" else None
        settled = late.get(c.event_id) if c is not None else None
        refund = refunds.get((row.event_id, c.serial)) if c is not None else None
        out[row.event_id] = (
            row.event_type,
            row.outcome,
            row.reason,
            row.content_hash.hex(),
            message,
            (settled.outcome if settled is not None else c.outcome) if c is not None else None,
            row.source_kind,
            row.source_id,
            refund.amount if refund is not None else None,
            refund.currency if refund is not None else None,
            refund.method if refund is not None else None,
            c.handling_fee + (settled.handling_fee if settled is not None else 0) if c is not None else None,
        )
    return out


def record_offsets(statement: OneStatement, ranges: list[OffsetRangeRow]) -> None:
    """The input offsets this transaction gives an outcome to (applied, rejected or seen before)."""
    _write(statement, "scheme.input_offsets", OffsetRangeRow, ranges)


async def compact_offsets(pool: asyncpg.Pool) -> int:
    """Merge the recorded runs of input offsets (revision 0012): one row per run of offsets, not per batch."""
    return await pool.fetchval("SELECT scheme.compact_input_offsets()")


def _save_sales(statement: OneStatement, state: BatchState) -> None:
    sales = [state.sales[s] for s in sorted(state.changed_sales)]
    _write(
        statement,
        "scheme.sales",
        SaleRow,
        [SaleRow(s.sale_id, s.store_id, s.currency, s.occurred_at, s.event_id, s.country) for s in sales],
        "ON CONFLICT (sale_id) DO NOTHING",
    )
    items = [
        (sale_id, state.sales[sale_id].items[serial]) for sale_id, serial in sorted(state.changed_sale_items)
    ]
    _write(
        statement,
        "scheme.sale_items",
        SaleItemRow,
        [
            SaleItemRow(
                sale_id,
                i.serial,
                i.sku,
                i.category,
                i.chemistry,
                i.mass_kg,
                i.deposit,
                i.recycling_fee,
                i.contract,
                i.status,
            )
            for sale_id, i in items
        ],
        "ON CONFLICT (sale_id, serial) DO UPDATE SET status = EXCLUDED.status",
    )


def _save_lots(statement: OneStatement, state: BatchState) -> None:
    lots = [state.lots[lot_id] for lot_id in sorted(state.changed_lots)]
    _write(
        statement,
        "scheme.lots",
        LotRow,
        [
            LotRow(
                lot.lot_id,
                lot.centre_id,
                lot.recycler_id,
                lot.status,
                lot.dispatched_mass_kg,
                lot.received_mass_kg,
                lot.dispatched_at,
                lot.received_at,
            )
            for lot in lots
        ],
        "ON CONFLICT (lot_id) DO UPDATE SET status = EXCLUDED.status,"
        " received_mass_kg = EXCLUDED.received_mass_kg, received_at = EXCLUDED.received_at",
    )
    # Only the items the batch added or changed: a receipt marks the received ones, a recovery none.
    items = [(lot_id, state.lots[lot_id].items[serial]) for lot_id, serial in sorted(state.changed_lot_items)]
    _write(
        statement,
        "scheme.lot_items",
        LotItemRow,
        [LotItemRow(lot_id, i.serial, i.dispatched, i.received) for lot_id, i in items],
        "ON CONFLICT (lot_id, serial) DO UPDATE SET received = EXCLUDED.received",
    )


async def _save_releases(connection, state: BatchState) -> None:
    """After the batteries the batch changed are saved: each release finds the rest, set-based."""
    for release in state.new_releases:
        made, _ = await releases.release_deposits(connection, release)
        state.postings.extend(made)


def _save_facts(statement: OneStatement, state: BatchState) -> None:
    _write(
        statement,
        "scheme.terms",
        TermsRow,
        [
            TermsRow(
                t.sku,
                t.currency,
                t.effective_from,
                t.deposit,
                t.recycling_fee,
                t.event_id,
                t.handling_fee,
                t.reuse_min_pct,
                t.repurpose_min_pct,
            )
            for t in state.new_terms
        ],
        "ON CONFLICT (sku, currency, effective_from) DO UPDATE SET deposit = EXCLUDED.deposit,"
        " recycling_fee = EXCLUDED.recycling_fee, event_id = EXCLUDED.event_id,"
        " handling_fee = EXCLUDED.handling_fee, reuse_min_pct = EXCLUDED.reuse_min_pct,"
        " repurpose_min_pct = EXCLUDED.repurpose_min_pct",
    )
    _write(statement, "scheme.collections", CollectionRow, state.collections)
    _write(statement, "scheme.refunds", RefundRow, state.refunds)
    _write(statement, "scheme.late_sales", LateSaleRow, state.late_sales)  # after their collections
    _write(statement, "scheme.recoveries", RecoveryRow, state.recoveries)
    _write(statement, "scheme.recovered_materials", RecoveredMaterialRow, state.recovered_materials)
    _write(
        statement,
        "scheme.discrepancies",
        DiscrepancyRow,
        state.discrepancies,
        "ON CONFLICT (discrepancy_id) DO NOTHING",
    )
    _write(
        statement,
        "scheme.postings",
        PostingRow,
        [
            PostingRow(p.posting_key, p.kind, p.subject, p.caused_by, p.effective_at, p.lines)
            for p in state.postings
        ],
    )
    _write(
        statement,
        "scheme.payments",
        PaymentRow,
        [
            PaymentRow(
                p.payment_id,
                p.event_id,
                p.counterparty_kind,
                p.counterparty_id,
                p.amount,
                p.currency,
                p.value_date,
                p.reference,
                p.excess,
                p.occurred_at,
            )
            for p in state.new_payments
        ],
    )
    _write(
        statement,
        "scheme.counterparty_movements",
        CounterpartyMovementRow,
        counterparty_movements(state.postings),
    )
    _write(statement, "scheme.discrepancy_resolutions", ResolutionRow, state.resolutions)
    _write(statement, "scheme.repurposings", RepurposingRow, state.repurposings)
    _write(statement, "scheme.inbox", InboxRow, state.inbox)
