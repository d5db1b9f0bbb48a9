"""The scheme's system of record: inbox, batteries and custody, sales, lots, outbox.

Revision ID: 0001
"""

from infra.migrations.script import run_sql_script

revision = "0001"
down_revision = None

SQL = r"""
CREATE SCHEMA IF NOT EXISTS scheme;

-- Every event in that was read, once: the idempotency key with its content hash.
CREATE TABLE scheme.inbox (
    event_id      uuid PRIMARY KEY,
    content_hash  bytea NOT NULL,
    event_type    text NOT NULL,
    topic         text NOT NULL,
    partition     int NOT NULL,
    "offset"      bigint NOT NULL,
    occurred_at   timestamptz,
    outcome       text NOT NULL CHECK (outcome IN ('applied', 'rejected')),
    reason        text,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((outcome = 'rejected') = (reason IS NOT NULL))
);
CREATE INDEX inbox_outcome ON scheme.inbox (outcome, event_type);

CREATE TABLE scheme.terms (
    sku             text NOT NULL,
    currency        char(3) NOT NULL,
    effective_from  timestamptz NOT NULL,
    deposit         bigint NOT NULL CHECK (deposit >= 0),
    recycling_fee   bigint NOT NULL CHECK (recycling_fee >= 0),
    event_id        uuid NOT NULL,
    PRIMARY KEY (sku, currency, effective_from)
);

CREATE TABLE scheme.sales (
    sale_id      text PRIMARY KEY,
    store_id     text NOT NULL,
    currency     char(3) NOT NULL,
    occurred_at  timestamptz NOT NULL,
    event_id     uuid NOT NULL
);

CREATE TABLE scheme.sale_items (
    sale_id        text NOT NULL REFERENCES scheme.sales,
    serial         text NOT NULL,
    sku            text NOT NULL,
    category       text NOT NULL,
    chemistry      text NOT NULL,
    mass_kg        numeric NOT NULL CHECK (mass_kg > 0),
    deposit        bigint NOT NULL CHECK (deposit >= 0),
    recycling_fee  bigint NOT NULL CHECK (recycling_fee >= 0),
    contract       text NOT NULL CHECK (contract IN ('deposit', 'lease')),
    status         text NOT NULL CHECK (status IN ('in_market', 'suspense', 'cancelled')),
    PRIMARY KEY (sale_id, serial)
);

CREATE TABLE scheme.batteries (
    serial           text PRIMARY KEY,
    state            text NOT NULL CHECK (state IN
                       ('in_use', 'cancelled', 'collected', 'in_transit', 'at_recycler', 'recycled')),
    contract         text CHECK (contract IN ('deposit', 'lease')),   -- NULL: never sold here (orphan)
    sku              text,
    category         text,
    chemistry        text,
    mass_kg          numeric,
    currency         char(3),
    deposit_charged  bigint NOT NULL DEFAULT 0 CHECK (deposit_charged >= 0),
    recycling_fee    bigint NOT NULL DEFAULT 0 CHECK (recycling_fee >= 0),
    deposit_refunded bigint NOT NULL DEFAULT 0 CHECK (deposit_refunded >= 0),
    sale_id          text,
    store_id         text,
    sold_at          timestamptz,
    custodian_kind   text NOT NULL,
    custodian_id     text NOT NULL,
    lot_id           text,
    collected_at     timestamptz,
    history_length   int NOT NULL CHECK (history_length >= 1),
    CHECK (deposit_refunded <= deposit_charged)
);
CREATE INDEX batteries_state ON scheme.batteries (state, contract);

-- Every transition of every battery, whole and in order.
CREATE TABLE scheme.custody_history (
    serial      text NOT NULL REFERENCES scheme.batteries,
    seq         int NOT NULL CHECK (seq >= 1),
    at          timestamptz NOT NULL,
    event_id    uuid NOT NULL,
    event_type  text NOT NULL,
    from_kind   text,
    from_id     text,
    to_kind     text NOT NULL,
    to_id       text NOT NULL,
    state       text NOT NULL,
    PRIMARY KEY (serial, seq)
);

CREATE TABLE scheme.collections (
    event_id       uuid PRIMARY KEY,
    collection_id  text NOT NULL,
    serial         text NOT NULL,
    centre_id      text NOT NULL,
    condition      text NOT NULL,
    mass_kg        numeric,
    outcome        text NOT NULL CHECK (outcome IN ('refunded', 'lease_closed', 'taken_back_free')),
    occurred_at    timestamptz NOT NULL
);
CREATE INDEX collections_serial ON scheme.collections (serial);

-- One refund per battery, ever: invariant 3 held by the database.
CREATE TABLE scheme.refunds (
    refund_id   uuid PRIMARY KEY,
    serial      text NOT NULL UNIQUE,
    centre_id   text NOT NULL,
    amount      bigint NOT NULL CHECK (amount >= 0),
    currency    char(3) NOT NULL,
    method      text NOT NULL,
    payee_ref   text,
    caused_by   uuid NOT NULL,
    occurred_at timestamptz NOT NULL
);

CREATE TABLE scheme.lots (
    lot_id              text PRIMARY KEY,
    centre_id           text NOT NULL,
    recycler_id         text NOT NULL,
    status              text NOT NULL CHECK (status IN ('in_transit', 'received', 'recovered')),
    dispatched_mass_kg  numeric NOT NULL,
    received_mass_kg    numeric,
    dispatched_at       timestamptz NOT NULL,
    received_at         timestamptz
);

CREATE TABLE scheme.lot_items (
    lot_id      text NOT NULL REFERENCES scheme.lots,
    serial      text NOT NULL,
    dispatched  boolean NOT NULL,
    received    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (lot_id, serial)
);

CREATE TABLE scheme.recoveries (
    lot_id         text PRIMARY KEY REFERENCES scheme.lots,
    recycler_id    text NOT NULL,
    input_mass_kg  numeric NOT NULL,
    cost           bigint NOT NULL CHECK (cost >= 0),
    currency       char(3) NOT NULL,
    event_id       uuid NOT NULL,
    occurred_at    timestamptz NOT NULL
);

CREATE TABLE scheme.recovered_materials (
    lot_id    text NOT NULL REFERENCES scheme.recoveries,
    material  text NOT NULL,
    mass_kg   numeric NOT NULL CHECK (mass_kg > 0),
    PRIMARY KEY (lot_id, material)
);

CREATE TABLE scheme.discrepancies (
    discrepancy_id  uuid PRIMARY KEY,
    kind            text NOT NULL,
    subject         text NOT NULL,
    details         jsonb NOT NULL,
    caused_by       uuid NOT NULL,
    opened_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX discrepancies_kind ON scheme.discrepancies (kind);

-- What the scheme asked the ledger to post: the journal's intent, for reconciliation.
CREATE TABLE scheme.postings (
    posting_key  text PRIMARY KEY,
    kind         text NOT NULL,
    subject      text NOT NULL,
    caused_by    uuid NOT NULL,
    effective_at timestamptz NOT NULL,
    lines        jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Events out, written in the same transaction as the change that caused them.
CREATE TABLE scheme.outbox (
    seq           bigserial PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    topic         text NOT NULL,
    key           text NOT NULL,
    value         bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON scheme.outbox (seq) WHERE published_at IS NULL;
"""


def upgrade() -> None:
    run_sql_script(SQL)


def downgrade() -> None:
    run_sql_script("DROP SCHEMA scheme CASCADE")
