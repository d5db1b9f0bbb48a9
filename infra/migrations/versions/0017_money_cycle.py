"""Closing the money cycle (contract 8.1): payments, handling fees, released deposits, resolved discrepancies.

- `scheme.payments`: one row per `payment.recorded` applied, keyed by its
  `payment_id` (a payment id is used once: `duplicate_payment`), with the event
  that recorded it, the counterparty, the amount, the value date, the bank
  reference and the `excess` (the part above what the counterparty owed at
  that moment, opened as an `overpayment`; 0 if none).
- `scheme.terms.handling_fee`: what a centre earns per collection of the sku
  (default 0); `scheme.collections` keeps the handling fee a collection earned,
  its currency and the `effective_from` of the terms it came from, so
  reconciliation can hold the fees paid against the terms.
- `scheme.batteries.deposit_released`; `scheme.releases` (one row per
  `deposits.released`) and `scheme.released_deposits` (each battery a release
  moved to the reserve, with its amount), so every released battery is traceable.
- `scheme.discrepancy_resolutions`: append-only, one row per resolved
  discrepancy (a discrepancy is resolved once); `scheme.discrepancies` is never
  updated.
- Battery states gain `lost` and `repurposed` (contract 8).

The new append-only tables, and `scheme.collections`, carry `txid` (the writing
transaction, as revision 0015) with a BRIN index, for reconciliation's windows.
Rows of `scheme.collections` written before this revision have none.

Grants, as revision 0011: the streams read and add rows and update in place only
the new state columns (a battery's `deposit_released`, a terms row's
`handling_fee`); the ledger, the gateway and the reader read.

Revision ID: 0017
"""

from infra.migrations.script import run_sql_script

revision = "0017"
down_revision = "0016"

STREAMS, LEDGER, GATEWAY, READER = (
    "takeback_streams",
    "takeback_ledger",
    "takeback_gateway",
    "takeback_reader",
)
NEW_TABLES = ("payments", "releases", "released_deposits", "discrepancy_resolutions")
WINDOWED = ("payments", "releases", "released_deposits", "discrepancy_resolutions", "collections")
STATES = ("in_use", "cancelled", "collected", "in_transit", "at_recycler", "recycled", "lost", "repurposed")
EARLIER_STATES = STATES[:6]


def _states_check(states: tuple[str, ...]) -> str:
    return f"""
ALTER TABLE scheme.batteries DROP CONSTRAINT IF EXISTS batteries_state_check;
ALTER TABLE scheme.batteries ADD CONSTRAINT batteries_state_check
    CHECK (state IN ({", ".join(f"'{s}'" for s in states)})) NOT VALID;
ALTER TABLE scheme.batteries VALIDATE CONSTRAINT batteries_state_check;
"""


TABLES = r"""
CREATE TABLE IF NOT EXISTS scheme.payments (
    payment_id         text PRIMARY KEY,
    event_id           uuid NOT NULL UNIQUE,
    counterparty_kind  text NOT NULL CHECK (counterparty_kind IN ('store', 'centre', 'recycler')),
    counterparty_id    text NOT NULL,
    amount             bigint NOT NULL CHECK (amount >= 0),
    currency           char(3) NOT NULL,
    value_date         date NOT NULL,
    reference          text,
    excess             bigint NOT NULL DEFAULT 0 CHECK (excess >= 0 AND excess <= amount),
    occurred_at        timestamptz NOT NULL,
    txid               xid8 DEFAULT pg_current_xact_id()
);
CREATE INDEX IF NOT EXISTS payments_counterparty
    ON scheme.payments (counterparty_kind, counterparty_id, currency);

ALTER TABLE scheme.terms
    ADD COLUMN IF NOT EXISTS handling_fee bigint NOT NULL DEFAULT 0 CHECK (handling_fee >= 0);

ALTER TABLE scheme.collections
    ADD COLUMN IF NOT EXISTS handling_fee bigint NOT NULL DEFAULT 0 CHECK (handling_fee >= 0),
    ADD COLUMN IF NOT EXISTS handling_fee_currency char(3),
    ADD COLUMN IF NOT EXISTS terms_effective_from timestamptz,  -- the terms the fee came from
    ADD COLUMN IF NOT EXISTS txid xid8;
ALTER TABLE scheme.collections ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
ALTER TABLE scheme.collections DROP CONSTRAINT IF EXISTS collections_fee_has_currency;
ALTER TABLE scheme.collections ADD CONSTRAINT collections_fee_has_currency
    CHECK (handling_fee = 0 OR handling_fee_currency IS NOT NULL);

ALTER TABLE scheme.batteries ADD COLUMN IF NOT EXISTS deposit_released boolean NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS scheme.releases (
    release_id   text PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    currency     char(3) NOT NULL,
    sold_before  timestamptz NOT NULL,
    occurred_at  timestamptz NOT NULL,
    txid         xid8 DEFAULT pg_current_xact_id()
);

CREATE TABLE IF NOT EXISTS scheme.released_deposits (
    release_id  text NOT NULL REFERENCES scheme.releases,
    serial      text NOT NULL,
    amount      bigint NOT NULL CHECK (amount >= 0),
    currency    char(3) NOT NULL,
    txid        xid8 DEFAULT pg_current_xact_id(),
    PRIMARY KEY (release_id, serial)
);
CREATE INDEX IF NOT EXISTS released_deposits_serial ON scheme.released_deposits (serial);

CREATE TABLE IF NOT EXISTS scheme.discrepancy_resolutions (
    discrepancy_id  uuid PRIMARY KEY REFERENCES scheme.discrepancies,
    resolution      text NOT NULL CHECK (resolution IN ('returned_to_store', 'written_off', 'accepted')),
    note            text,
    event_id        uuid NOT NULL,
    resolved_at     timestamptz NOT NULL,
    txid            xid8 DEFAULT pg_current_xact_id()
);
"""

BRIN = "\n".join(
    f"CREATE INDEX IF NOT EXISTS {table}_txid_brin ON scheme.{table} USING brin ((txid::text::bigint));"
    for table in WINDOWED
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


NEW = ", ".join(f"scheme.{t}" for t in NEW_TABLES)
GRANTS = {
    STREAMS: f"""
        GRANT SELECT, INSERT ON {NEW} TO {STREAMS};
        GRANT UPDATE (deposit_released) ON scheme.batteries TO {STREAMS};
        GRANT UPDATE (handling_fee) ON scheme.terms TO {STREAMS};
    """,
    LEDGER: f"GRANT SELECT ON {NEW} TO {LEDGER};",
    GATEWAY: f"GRANT SELECT ON {NEW} TO {GATEWAY};",
    READER: f"GRANT SELECT ON {NEW} TO {READER};",
}

DOWNGRADE = """
DROP TABLE IF EXISTS scheme.discrepancy_resolutions, scheme.released_deposits, scheme.releases,
    scheme.payments;
ALTER TABLE scheme.batteries DROP COLUMN IF EXISTS deposit_released;
DROP INDEX IF EXISTS scheme.collections_txid_brin;
ALTER TABLE scheme.collections DROP CONSTRAINT IF EXISTS collections_fee_has_currency,
    DROP COLUMN IF EXISTS handling_fee, DROP COLUMN IF EXISTS handling_fee_currency,
    DROP COLUMN IF EXISTS terms_effective_from, DROP COLUMN IF EXISTS txid;
ALTER TABLE scheme.terms DROP COLUMN IF EXISTS handling_fee;
"""


def upgrade() -> None:
    run_sql_script(TABLES + BRIN + _states_check(STATES))
    for role, grants in GRANTS.items():
        run_sql_script(_for_role(role, grants))


def downgrade() -> None:
    run_sql_script(DOWNGRADE + _states_check(EARLIER_STATES))
