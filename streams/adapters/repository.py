"""Loading a batch's slice of the records (row-locked) and writing it back, set-based."""
from __future__ import annotations

import asyncpg
import orjson

from streams.domain.battery import Battery, Party, Transition
from streams.service_layer.state import BatchState, Lot, LotItem, Sale, SaleItem, Terms


async def load(connection: asyncpg.Connection, state: BatchState, serials: set[str], sale_ids: set[str],
               lot_ids: set[str], skus: set[str]) -> None:
    """Lock and read what the batch may touch: lots first (their serials join the set), then the rest."""
    for row in await connection.fetch(
            "SELECT * FROM scheme.lots WHERE lot_id = ANY($1) ORDER BY lot_id FOR UPDATE", list(lot_ids)):
        state.lots[row["lot_id"]] = Lot(row["lot_id"], row["centre_id"], row["recycler_id"], row["status"],
                                        row["dispatched_mass_kg"], row["dispatched_at"], row["received_mass_kg"],
                                        row["received_at"])
    for row in await connection.fetch(
            "SELECT lot_id, serial, dispatched, received FROM scheme.lot_items WHERE lot_id = ANY($1)",
            list(state.lots)):
        state.lots[row["lot_id"]].items[row["serial"]] = LotItem(row["serial"], row["dispatched"], row["received"])
        serials.add(row["serial"])
    for row in await connection.fetch(
            "SELECT * FROM scheme.sales WHERE sale_id = ANY($1) ORDER BY sale_id FOR UPDATE", list(sale_ids)):
        state.sales[row["sale_id"]] = Sale(row["sale_id"], row["store_id"], row["currency"], row["occurred_at"],
                                           row["event_id"], {})
    for row in await connection.fetch("SELECT * FROM scheme.sale_items WHERE sale_id = ANY($1)", list(state.sales)):
        state.sales[row["sale_id"]].items[row["serial"]] = SaleItem(
            row["serial"], row["sku"], row["category"], row["chemistry"], row["mass_kg"], row["deposit"],
            row["recycling_fee"], row["contract"], row["status"])
    for row in await connection.fetch(
            "SELECT * FROM scheme.batteries WHERE serial = ANY($1) ORDER BY serial FOR UPDATE", list(serials)):
        state.batteries[row["serial"]] = Battery(
            row["serial"], row["state"], row["contract"], row["sku"], row["category"], row["chemistry"],
            row["mass_kg"], row["currency"], row["deposit_charged"], row["recycling_fee"], row["deposit_refunded"],
            row["sale_id"], row["store_id"], row["sold_at"], Party(row["custodian_kind"], row["custodian_id"]),
            row["lot_id"], row["collected_at"], row["history_length"])
    for row in await connection.fetch("SELECT * FROM scheme.terms WHERE sku = ANY($1)", list(skus)):
        state.terms.setdefault(row["sku"], []).append(Terms(
            row["sku"], row["currency"], row["effective_from"], row["deposit"], row["recycling_fee"],
            row["event_id"]))


def _columns(rows: list[tuple], count: int) -> list[list]:
    return [list(column) for column in zip(*rows)] if rows else [[] for _ in range(count)]


async def _unnest_insert(connection, table: str, columns: list[tuple[str, str]], rows: list[tuple],
                         conflict: str = "") -> None:
    if not rows:
        return
    names = ", ".join(name for name, _ in columns)
    # jsonb travels as text (an array of JSON lists would be read as a nested array), then is cast.
    params = ", ".join(f"${i}::{'text' if kind == 'jsonb' else kind}[]" for i, (_, kind) in enumerate(columns, 1))
    casts = ", ".join(f"c{i}::jsonb" if kind == "jsonb" else f"c{i}" for i, (_, kind) in enumerate(columns, 1))
    aliases = ", ".join(f"c{i}" for i in range(1, len(columns) + 1))
    values = _columns(rows, len(columns))
    for i, (_, kind) in enumerate(columns):
        if kind == "jsonb":
            values[i] = [_json_text(v) for v in values[i]]
    await connection.execute(
        f"INSERT INTO {table} ({names}) SELECT {casts} FROM unnest({params}) AS t({aliases}) {conflict}", *values)


async def _copy_insert(connection, table: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
    """Rows that are only ever added: binary COPY, no array parameters to build and check element by element."""
    if not rows:
        return
    assert all(kind != "jsonb" for _, kind in columns), "asyncpg has no binary COPY encoder for jsonb"
    schema, name = table.split(".")
    await connection.copy_records_to_table(name, schema_name=schema, records=rows,
                                           columns=[column.strip('"') for column, _ in columns])


def _json_text(value) -> str:
    return orjson.dumps(value, default=str).decode()


BATTERY_COLUMNS = [
    ("serial", "text"), ("state", "text"), ("contract", "text"), ("sku", "text"), ("category", "text"),
    ("chemistry", "text"), ("mass_kg", "numeric"), ("currency", "text"), ("deposit_charged", "bigint"),
    ("recycling_fee", "bigint"), ("deposit_refunded", "bigint"), ("sale_id", "text"), ("store_id", "text"),
    ("sold_at", "timestamptz"), ("custodian_kind", "text"), ("custodian_id", "text"), ("lot_id", "text"),
    ("collected_at", "timestamptz"), ("history_length", "int"),
]
HISTORY_COLUMNS = ["serial", "seq", "at", "event_id", "event_type", "from_kind", "from_id", "to_kind", "to_id",
                   "state"]


async def save(connection: asyncpg.Connection, state: BatchState) -> None:
    batteries = [state.batteries[s] for s in sorted(state.changed_batteries)]
    update = ", ".join(f"{name} = EXCLUDED.{name}" for name, _ in BATTERY_COLUMNS[1:])
    await _unnest_insert(connection, "scheme.batteries", BATTERY_COLUMNS, [
        (b.serial, b.state, b.contract, b.sku, b.category, b.chemistry, b.mass_kg, b.currency, b.deposit_charged,
         b.recycling_fee, b.deposit_refunded, b.sale_id, b.store_id, b.sold_at, b.custodian.kind, b.custodian.id,
         b.lot_id, b.collected_at, b.history_length) for b in batteries],
        f"ON CONFLICT (serial) DO UPDATE SET {update}")
    history = [t for b in batteries for t in b.new_history]
    if history:
        await connection.copy_records_to_table("custody_history", schema_name="scheme", columns=HISTORY_COLUMNS,
                                               records=[_history_record(t) for t in history])
    await _save_sales(connection, state)
    await _save_lots(connection, state)
    await _save_facts(connection, state)


async def record_offsets(connection: asyncpg.Connection, ranges: list[tuple[str, int, int, int]]) -> None:
    """The input offsets this transaction gives an outcome to (applied, rejected or seen before)."""
    await _unnest_insert(connection, "scheme.input_offsets", [
        ("topic", "text"), ("partition", "int"), ("first_offset", "bigint"), ("last_offset", "bigint")], ranges, "")


async def compact_offsets(pool: asyncpg.Pool) -> int:
    """Merge the recorded runs of input offsets (revision 0012): one row per run of offsets, not per batch."""
    return await pool.fetchval("SELECT scheme.compact_input_offsets()")


def _history_record(t: Transition) -> tuple:
    source = t.from_party
    return (t.serial, t.seq, t.at, t.event_id, t.event_type, source.kind if source else None,
            source.id if source else None, t.to_party.kind, t.to_party.id, t.state)


async def _save_sales(connection, state: BatchState) -> None:
    sales = [state.sales[s] for s in sorted(state.changed_sales)]
    await _unnest_insert(connection, "scheme.sales", [
        ("sale_id", "text"), ("store_id", "text"), ("currency", "text"), ("occurred_at", "timestamptz"),
        ("event_id", "uuid")], [(s.sale_id, s.store_id, s.currency, s.occurred_at, s.event_id) for s in sales],
        "ON CONFLICT (sale_id) DO NOTHING")
    await _unnest_insert(connection, "scheme.sale_items", [
        ("sale_id", "text"), ("serial", "text"), ("sku", "text"), ("category", "text"), ("chemistry", "text"),
        ("mass_kg", "numeric"), ("deposit", "bigint"), ("recycling_fee", "bigint"), ("contract", "text"),
        ("status", "text")],
        [(s.sale_id, i.serial, i.sku, i.category, i.chemistry, i.mass_kg, i.deposit, i.recycling_fee, i.contract,
          i.status) for s in sales for i in s.items.values()],
        "ON CONFLICT (sale_id, serial) DO UPDATE SET status = EXCLUDED.status")


async def _save_lots(connection, state: BatchState) -> None:
    lots = [state.lots[l] for l in sorted(state.changed_lots)]
    await _unnest_insert(connection, "scheme.lots", [
        ("lot_id", "text"), ("centre_id", "text"), ("recycler_id", "text"), ("status", "text"),
        ("dispatched_mass_kg", "numeric"), ("received_mass_kg", "numeric"), ("dispatched_at", "timestamptz"),
        ("received_at", "timestamptz")],
        [(l.lot_id, l.centre_id, l.recycler_id, l.status, l.dispatched_mass_kg, l.received_mass_kg,
          l.dispatched_at, l.received_at) for l in lots],
        "ON CONFLICT (lot_id) DO UPDATE SET status = EXCLUDED.status, received_mass_kg = EXCLUDED.received_mass_kg,"
        " received_at = EXCLUDED.received_at")
    await _unnest_insert(connection, "scheme.lot_items", [
        ("lot_id", "text"), ("serial", "text"), ("dispatched", "boolean"), ("received", "boolean")],
        [(l.lot_id, i.serial, i.dispatched, i.received) for l in lots for i in l.items.values()],
        "ON CONFLICT (lot_id, serial) DO UPDATE SET received = EXCLUDED.received")


async def _save_facts(connection, state: BatchState) -> None:
    await _unnest_insert(connection, "scheme.terms", [
        ("sku", "text"), ("currency", "text"), ("effective_from", "timestamptz"), ("deposit", "bigint"),
        ("recycling_fee", "bigint"), ("event_id", "uuid")],
        [(t.sku, t.currency, t.effective_from, t.deposit, t.recycling_fee, t.event_id) for t in state.new_terms],
        "ON CONFLICT (sku, currency, effective_from) DO UPDATE SET deposit = EXCLUDED.deposit,"
        " recycling_fee = EXCLUDED.recycling_fee, event_id = EXCLUDED.event_id")
    await _copy_insert(connection, "scheme.collections", [
        ("event_id", "uuid"), ("collection_id", "text"), ("serial", "text"), ("centre_id", "text"),
        ("condition", "text"), ("mass_kg", "numeric"), ("outcome", "text"), ("occurred_at", "timestamptz")],
        state.collections)
    await _copy_insert(connection, "scheme.refunds", [
        ("refund_id", "uuid"), ("serial", "text"), ("centre_id", "text"), ("amount", "bigint"),
        ("currency", "text"), ("method", "text"), ("payee_ref", "text"), ("caused_by", "uuid"),
        ("occurred_at", "timestamptz")], state.refunds)
    await _copy_insert(connection, "scheme.recoveries", [
        ("lot_id", "text"), ("recycler_id", "text"), ("input_mass_kg", "numeric"), ("cost", "bigint"),
        ("currency", "text"), ("event_id", "uuid"), ("occurred_at", "timestamptz")], state.recoveries)
    await _copy_insert(connection, "scheme.recovered_materials", [
        ("lot_id", "text"), ("material", "text"), ("mass_kg", "numeric")], state.recovered_materials)
    await _unnest_insert(connection, "scheme.discrepancies", [
        ("discrepancy_id", "uuid"), ("kind", "text"), ("subject", "text"), ("details", "jsonb"),
        ("caused_by", "uuid")], state.discrepancies, "ON CONFLICT (discrepancy_id) DO NOTHING")
    await _unnest_insert(connection, "scheme.postings", [  # jsonb has no binary COPY encoder in asyncpg
        ("posting_key", "text"), ("kind", "text"), ("subject", "text"), ("caused_by", "uuid"),
        ("effective_at", "timestamptz"), ("lines", "jsonb")],
        [(p.posting_key, p.kind, p.subject, p.caused_by, p.effective_at,
          [line.as_dict() for line in p.lines]) for p in state.postings])
    await _copy_insert(connection, "scheme.inbox", [
        ("event_id", "uuid"), ("content_hash", "bytea"), ("event_type", "text"), ("topic", "text"),
        ("partition", "int"), ("\"offset\"", "bigint"), ("occurred_at", "timestamptz"), ("outcome", "text"),
        ("reason", "text")], state.inbox)
