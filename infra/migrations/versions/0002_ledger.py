"""The ledger's own books: append-only double-entry journal, balanced by the database.

Revision ID: 0002
"""

from infra.migrations.script import run_sql_script

revision = "0002"
down_revision = "0001"

SQL = r"""
CREATE SCHEMA IF NOT EXISTS ledger;

CREATE TABLE ledger.entries (
    entry_id      uuid PRIMARY KEY,
    seq           bigserial UNIQUE,
    posting_key   text NOT NULL UNIQUE,       -- the deterministic idempotency key
    kind          text NOT NULL,
    subject       text NOT NULL,              -- the battery, lot or sale it is about
    caused_by     uuid NOT NULL,              -- the event in that caused it
    reverses      uuid REFERENCES ledger.entries,
    effective_at  timestamptz NOT NULL,       -- when the cause occurred
    posted_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX entries_caused_by ON ledger.entries (caused_by);
CREATE INDEX entries_kind_subject ON ledger.entries (kind, subject);

CREATE TABLE ledger.lines (
    entry_id   uuid NOT NULL REFERENCES ledger.entries,
    line_no    smallint NOT NULL CHECK (line_no >= 1),
    account    text NOT NULL,
    currency   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    debit      bigint NOT NULL CHECK (debit >= 0),
    credit     bigint NOT NULL CHECK (credit >= 0),
    posted_at  timestamptz NOT NULL,
    PRIMARY KEY (entry_id, line_no),
    CHECK ((debit = 0) <> (credit = 0))
);
CREATE INDEX lines_account ON ledger.lines (account, currency, posted_at);

-- Per-batch movement of each account: balances are sums of these, never one hot row.
CREATE TABLE ledger.account_movements (
    batch_id   uuid NOT NULL,
    account    text NOT NULL,
    currency   char(3) NOT NULL,
    debit      bigint NOT NULL CHECK (debit >= 0),
    credit     bigint NOT NULL CHECK (credit >= 0),
    posted_at  timestamptz NOT NULL,
    PRIMARY KEY (batch_id, account, currency)
);
CREATE INDEX account_movements_at ON ledger.account_movements (account, currency, posted_at);

CREATE TABLE ledger.outbox (
    seq           bigserial PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    topic         text NOT NULL,
    key           text NOT NULL,
    value         bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX ledger_outbox_unpublished ON ledger.outbox (seq) WHERE published_at IS NULL;

CREATE TABLE ledger.reconciliation_runs (
    run_id   uuid PRIMARY KEY,
    as_of    timestamptz NOT NULL,
    status   text NOT NULL CHECK (status IN ('balanced', 'discrepancies')),
    result   jsonb NOT NULL
);

-- Each entry balances per currency: checked once per INSERT statement over its lines.
CREATE FUNCTION ledger.lines_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad record;
BEGIN
    SELECT n.entry_id, n.currency, sum(n.debit) AS debit, sum(n.credit) AS credit
      INTO bad
      FROM new_lines n
     GROUP BY n.entry_id, n.currency
    HAVING sum(n.debit) <> sum(n.credit)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance in %: debit % credit %',
            bad.entry_id, bad.currency, bad.debit, bad.credit
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER lines_balance AFTER INSERT ON ledger.lines
    REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION ledger.lines_balance();

-- Lines of an entry arrive together: none may be added to an entry posted in an earlier statement.
CREATE FUNCTION ledger.entry_has_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM ledger.lines WHERE entry_id = NEW.entry_id) < 2 THEN
        RAISE EXCEPTION 'journal entry % has fewer than two lines', NEW.entry_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER entry_has_lines AFTER INSERT ON ledger.entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger.entry_has_lines();

-- Append-only, for everyone, by trigger (and, below, by the service role's grants).
CREATE FUNCTION ledger.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % is not allowed; post a reversing entry',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON ledger.entries
    FOR EACH ROW EXECUTE FUNCTION ledger.append_only();
CREATE TRIGGER lines_append_only BEFORE UPDATE OR DELETE ON ledger.lines
    FOR EACH ROW EXECUTE FUNCTION ledger.append_only();
CREATE TRIGGER movements_append_only BEFORE UPDATE OR DELETE ON ledger.account_movements
    FOR EACH ROW EXECUTE FUNCTION ledger.append_only();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON ledger.entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.append_only();
CREATE TRIGGER lines_no_truncate BEFORE TRUNCATE ON ledger.lines
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.append_only();
"""


def upgrade() -> None:
    run_sql_script(SQL)


def downgrade() -> None:
    run_sql_script("DROP SCHEMA ledger CASCADE")
