"""Incremental reconciliation without a whole read of the tables updated in place (issue 13, item 4).

Reconciliation sums the batteries (deposits in use, deposits released, refunds
of released batteries) and the sale items (what each store owes, the fees in
the market). Both tables are updated in place, so a window of transaction ids
cannot find what an update took away; an incremental run read them whole.
Now every statement that changes them records what it changed, in the same
transaction:

- `scheme.battery_deltas`: per statement and currency, the change of each
  total (+ the new rows, - the old ones) and of the number of rows counted in
  it, and the serials whose custody (state, history length) or deposit charged
  changed, or that were added or removed (the rows an incremental run checks
  against their custody records and refunds).
- `scheme.sale_item_deltas`: per statement, store and currency, the change of
  what the store owes (items neither cancelled nor returned to it) and of the
  fees in the market, each with the change of its number of items.

Both are append-only (as the sales, revision 0011) and carry `txid`, with a
BRIN index, as the tables of revision 0015: a run reads the deltas of its
window and adds them to the totals the previous run carried. The triggers are
statement-level with transition tables (one row per statement, not per row),
SECURITY DEFINER (no service role may write a delta itself) and ENABLE ALWAYS:
they also fire with `session_replication_role = replica`, so a row rewritten
with the other triggers off is still recorded. Disabling or dropping one
changes its catalog row, which the next run sees (and is full).

The predicates are those of the full run's sums (`services/ledger/adapters/
reconciliation/in_place_figures.py`): a change to one is a new revision.

Revision ID: 0023
"""

from infra.migrations.script import run_sql_script

revision = "0023"
down_revision = "0022"

LEDGER, GATEWAY, READER = ("takeback_ledger", "takeback_gateway", "takeback_reader")

IN_USE = "r.state = 'in_use' AND r.contract = 'deposit' AND NOT r.deposit_released"
OWED = "r.status NOT IN ('cancelled', 'returned_to_store')"
IN_MARKET = "r.status = 'in_market'"

# {rows}: the statement's rows, each with `sign` (+1 new, -1 old); {changed}: per currency, the serials added,
# removed, or whose custody or deposit charged changed.
BATTERY_DELTA = f"""
        WITH r AS ({{rows}}),
        sums AS (
            SELECT r.currency, sum(r.sign) AS batteries,
                   coalesce(sum(r.sign) FILTER (WHERE {IN_USE}), 0) AS liability_n,
                   coalesce(sum(r.sign * r.deposit_charged) FILTER (WHERE {IN_USE}), 0) AS liability,
                   coalesce(sum(r.sign) FILTER (WHERE r.deposit_released), 0) AS released_n,
                   coalesce(sum(r.sign * r.deposit_charged) FILTER (WHERE r.deposit_released), 0) AS released,
                   coalesce(sum(r.sign * r.deposit_refunded) FILTER (WHERE r.deposit_released), 0)
                       AS refunded_of_released
              FROM r GROUP BY r.currency),
        changed AS ({{changed}})
        INSERT INTO scheme.battery_deltas (currency, batteries, liability_n, liability, released_n, released,
                                           refunded_of_released, serials)
        SELECT s.currency, s.batteries, s.liability_n, s.liability, s.released_n, s.released,
               s.refunded_of_released, coalesce(c.serials, '{{{{}}}}')
          FROM sums s LEFT JOIN changed c ON coalesce(c.currency, '') = coalesce(s.currency, '')
         WHERE (s.batteries, s.liability_n, s.liability, s.released_n, s.released, s.refunded_of_released)
               <> (0, 0, 0, 0, 0, 0)
            OR c.serials IS NOT NULL;"""
BATTERY_COLUMNS = "currency, state, contract, deposit_charged, deposit_refunded, deposit_released"
# An UPDATE's rows are matched by serial (a serial changed is one removed and one added).
BATTERY_CHANGED = {
    "INSERT": "SELECT currency, array_agg(serial) AS serials FROM new_rows GROUP BY currency",
    "DELETE": "SELECT currency, array_agg(serial) AS serials FROM old_rows GROUP BY currency",
    "UPDATE": """
            SELECT coalesce(n.currency, o.currency) AS currency,
                   array_agg(coalesce(n.serial, o.serial)) AS serials
              FROM new_rows n FULL JOIN old_rows o ON o.serial = n.serial
             WHERE (n.serial, n.currency, n.state, n.history_length, n.deposit_charged)
                   IS DISTINCT FROM (o.serial, o.currency, o.state, o.history_length, o.deposit_charged)
             GROUP BY 1""",
}

SALE_ITEM_DELTA = f"""
        WITH r AS ({{rows}})
        INSERT INTO scheme.sale_item_deltas (store_id, currency, owed_n, owed, fees_n, fees)
        SELECT * FROM (
            SELECT s.store_id, s.currency,
                   coalesce(sum(r.sign) FILTER (WHERE {OWED}), 0),
                   coalesce(sum(r.sign * (r.deposit + r.recycling_fee)) FILTER (WHERE {OWED}), 0),
                   coalesce(sum(r.sign) FILTER (WHERE {IN_MARKET}), 0),
                   coalesce(sum(r.sign * r.recycling_fee) FILTER (WHERE {IN_MARKET}), 0)
              FROM r JOIN scheme.sales s USING (sale_id) GROUP BY s.store_id, s.currency)
            AS d (store_id, currency, owed_n, owed, fees_n, fees)
         WHERE (d.owed_n, d.owed, d.fees_n, d.fees) <> (0, 0, 0, 0);"""
SALE_ITEM_COLUMNS = "sale_id, status, deposit, recycling_fee"


def _rows(columns: str, op: str) -> str:
    new = f"SELECT 1 AS sign, {columns} FROM new_rows"
    old = f"SELECT -1 AS sign, {columns} FROM old_rows"
    return {"INSERT": new, "DELETE": old, "UPDATE": f"{new} UNION ALL {old}"}[op]


def _function(name: str, delta: str, columns: str, changed: dict[str, str] | None = None) -> str:
    branches = "\n    ELS".join(
        f"IF TG_OP = '{op}' THEN{delta.format(rows=_rows(columns, op), changed=(changed or {}).get(op))}"
        for op in ("INSERT", "UPDATE", "DELETE")
    )
    return f"""
CREATE OR REPLACE FUNCTION scheme.{name}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    {branches}
    END IF;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION scheme.{name}() FROM PUBLIC;
"""


def _triggers(table: str, function: str) -> str:
    short = table.split(".")[1]
    return "".join(
        f"""
CREATE OR REPLACE TRIGGER {short}_deltas_{op.lower()} AFTER {op} ON {table}
    REFERENCING {transitions} FOR EACH STATEMENT EXECUTE FUNCTION scheme.{function}();
ALTER TABLE {table} ENABLE ALWAYS TRIGGER {short}_deltas_{op.lower()};"""
        for op, transitions in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        )
    )


UPGRADE = (
    r"""
CREATE TABLE IF NOT EXISTS scheme.battery_deltas (
    txid                  xid8 NOT NULL DEFAULT pg_current_xact_id(),
    currency              char(3),
    batteries             bigint NOT NULL,
    liability_n           bigint NOT NULL,
    liability             numeric NOT NULL,
    released_n            bigint NOT NULL,
    released              numeric NOT NULL,
    refunded_of_released  numeric NOT NULL,
    serials               text[] NOT NULL
);
CREATE INDEX IF NOT EXISTS battery_deltas_txid_brin ON scheme.battery_deltas
    USING brin ((txid::text::bigint));
CREATE TABLE IF NOT EXISTS scheme.sale_item_deltas (
    txid      xid8 NOT NULL DEFAULT pg_current_xact_id(),
    store_id  text NOT NULL,
    currency  char(3) NOT NULL,
    owed_n    bigint NOT NULL,
    owed      numeric NOT NULL,
    fees_n    bigint NOT NULL,
    fees      numeric NOT NULL
);
CREATE INDEX IF NOT EXISTS sale_item_deltas_txid_brin ON scheme.sale_item_deltas
    USING brin ((txid::text::bigint));
CREATE OR REPLACE TRIGGER battery_deltas_never_updated BEFORE UPDATE OR DELETE OR TRUNCATE
    ON scheme.battery_deltas FOR EACH STATEMENT EXECUTE FUNCTION scheme.never_updated();
CREATE OR REPLACE TRIGGER sale_item_deltas_never_updated BEFORE UPDATE OR DELETE OR TRUNCATE
    ON scheme.sale_item_deltas FOR EACH STATEMENT EXECUTE FUNCTION scheme.never_updated();
"""
    + _function("record_battery_deltas", BATTERY_DELTA, BATTERY_COLUMNS, BATTERY_CHANGED)
    + _function("record_sale_item_deltas", SALE_ITEM_DELTA, SALE_ITEM_COLUMNS)
    + _triggers("scheme.batteries", "record_battery_deltas")
    + _triggers("scheme.sale_items", "record_sale_item_deltas")
)


def _for_role(role: str, statements: str) -> str:
    """As revision 0011: only if the role exists and is not the one migrating."""
    return f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') AND current_user <> '{role}' THEN
{statements}
    END IF;
END $$;
"""


GRANTS = {
    role: f"GRANT SELECT ON scheme.battery_deltas, scheme.sale_item_deltas TO {role};"
    for role in (LEDGER, GATEWAY, READER)
}

DOWNGRADE = (
    "".join(
        f"DROP TRIGGER IF EXISTS {table}_deltas_{op} ON scheme.{table};\n"
        for table in ("batteries", "sale_items")
        for op in ("insert", "update", "delete")
    )
    + """
DROP FUNCTION IF EXISTS scheme.record_battery_deltas();
DROP FUNCTION IF EXISTS scheme.record_sale_item_deltas();
DROP TABLE IF EXISTS scheme.battery_deltas;
DROP TABLE IF EXISTS scheme.sale_item_deltas;
"""
)


def upgrade() -> None:
    run_sql_script(UPGRADE)
    for role, grants in GRANTS.items():
        run_sql_script(_for_role(role, grants))


def downgrade() -> None:
    run_sql_script(DOWNGRADE)
