"""The journal, one row per entry: its lines as arrays, checked by one constraint; `ledger.lines` a view.

Before, an entry was a row of `ledger.entries` (three unique keys: entry_id,
seq, posting_key; two more indexes) and a row of `ledger.lines` per line (its
primary key and an index on the account), a statement trigger for the balance
and a deferred trigger per entry counting its lines: about ten rows and index
entries for a three-line entry, and more than half of PostgreSQL's time.

Now an entry is one row of `ledger.entries`:

- its lines are four arrays, `accounts`, `currencies`, `debits`, `credits`
  (line n is the n-th element of each), and the constraint `entries_lines_valid`
  (`ledger.lines_valid`, IMMUTABLE) refuses a row whose arrays differ in
  length, that has fewer than 2 or more than 16 lines, a negative amount, a line
  that is not exactly one of debit and credit, a currency not of three capital
  letters, or debits that differ from credits in any currency. The database
  checks each entry once, in its own row, with no trigger and no second table.
- `entry_id` is the primary key, and the constraint `entries_id_of_posting_key`
  holds it to `ledger.entry_id_for(posting_key)` (uuid5, as
  `contracts.postings.entry_id_for`), so one posting key has at most one entry
  without an index of its own on the key; `seq` stays (readers order by it) as a
  plain column, no longer unique, with a BRIN index: "the latest N entries"
  are those above `pg_sequence_last_value('ledger.entries_seq_seq') - N` (the
  gateway's posting latency), so readers are given SELECT on the sequence.
- `txid` (xid8, the inserting transaction's id) orders the entries by
  committed-transaction windows, for the relay and incremental reconciliation,
  with a BRIN index: a few pages of summary, nearly free to keep, since the ids
  grow with insertion order. It is on the id as a bigint (`txid::text::bigint`,
  as revision 0015's): PostgreSQL 15 has no BRIN operator class for xid8, and
  making one takes a superuser.

`ledger.lines` becomes a view with the columns the table had (entry_id, line_no,
account, currency, debit, credit, posted_at), so every reader keeps working; the
table, its index and triggers (lines_balance, entry_has_lines, lines_append_only,
lines_no_truncate) go. `ledger.entries` stays append-only by its triggers.

Existing entries are converted: the new table is filled from the old one and
its lines in line_no order, then swapped in (no row of the journal is updated or
deleted, so the append-only triggers need not be disabled); an entry the new
constraints refuse (fewer than two lines, say) stops the upgrade, naming it.
Each role keeps the privileges it had on `ledger.entries`, and has on the view
the SELECT it had on the lines (revision 0011: the ledger's role inserts
entries; readers select entries and lines).

Revision ID: 0014
"""

from infra.migrations.script import run_sql_script

revision = "0014"
down_revision = "0013"

ENTRY_NAMESPACE = "6f1d9a57-2a52-4c43-9d8e-1c6a3e0b7d21"  # contracts.postings.POSTING_NAMESPACE

# The lines of an entry, valid and balanced per currency (contract section 5; the rules of
# contracts.postings.PostingLine and PostingRequested). IMMUTABLE and fully qualified: a CHECK calls it.
LINES_VALID = r"""
CREATE OR REPLACE FUNCTION ledger.lines_valid(accounts text[], currencies text[],
                                              debits bigint[], credits bigint[])
RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    n int := pg_catalog.cardinality(accounts);
    currency text := currencies[1];
    debit bigint;
    credit bigint;
    net numeric := 0;
    single boolean := true;
BEGIN
    IF n IS NULL OR n < 2 OR n > 16
       OR pg_catalog.array_ndims(accounts) <> 1 OR pg_catalog.array_lower(accounts, 1) <> 1
       OR pg_catalog.array_ndims(currencies) IS DISTINCT FROM 1 OR pg_catalog.array_lower(currencies, 1) <> 1
       OR pg_catalog.array_ndims(debits) IS DISTINCT FROM 1 OR pg_catalog.array_lower(debits, 1) <> 1
       OR pg_catalog.array_ndims(credits) IS DISTINCT FROM 1 OR pg_catalog.array_lower(credits, 1) <> 1
       OR pg_catalog.cardinality(currencies) <> n OR pg_catalog.cardinality(debits) <> n
       OR pg_catalog.cardinality(credits) <> n
       OR pg_catalog.array_position(accounts, NULL) IS NOT NULL
       OR pg_catalog.array_position(currencies, NULL) IS NOT NULL
       OR pg_catalog.array_position(debits, NULL) IS NOT NULL
       OR pg_catalog.array_position(credits, NULL) IS NOT NULL
       OR pg_catalog.array_to_string(currencies, ',') !~ '^[A-Z]{3}(,[A-Z]{3})*$' THEN
        RETURN false;
    END IF;
    FOR i IN 1 .. n LOOP  -- each line, and the balance in the first line's currency
        debit := debits[i];
        credit := credits[i];
        IF debit < 0 OR credit < 0 OR (debit = 0) = (credit = 0) THEN
            RETURN false;
        END IF;
        IF currencies[i] = currency THEN
            net := net + debit - credit;
        ELSE
            single := false;
        END IF;
    END LOOP;
    IF net <> 0 THEN
        RETURN false;
    END IF;
    IF single THEN
        RETURN true;
    END IF;
    FOR i IN 2 .. n LOOP  -- more than one currency (seldom): each other one, from its first line
        currency := currencies[i];
        IF currency <> currencies[1] AND pg_catalog.array_position(currencies, currency) = i THEN
            net := 0;
            FOR j IN i .. n LOOP
                IF currencies[j] = currency THEN
                    net := net + debits[j] - credits[j];
                END IF;
            END LOOP;
            IF net <> 0 THEN
                RETURN false;
            END IF;
        END IF;
    END LOOP;
    RETURN true;
END $$;
"""

# uuid5 of the posting key, as contracts.postings.entry_id_for: the extension's function, wherever it is.
ENTRY_ID_FOR = (
    r"""
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;
DO $$
BEGIN
    EXECUTE pg_catalog.format(
        'CREATE OR REPLACE FUNCTION ledger.entry_id_for(posting_key text) RETURNS uuid '
        'LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT '
        'RETURN %I.uuid_generate_v5(%L::uuid, ''entry:'' OPERATOR(pg_catalog.||) posting_key)',
        (SELECT n.nspname
           FROM pg_catalog.pg_extension x JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace
          WHERE x.extname = 'uuid-ossp'),
        '"""
    + ENTRY_NAMESPACE
    + r"""');
END $$;
"""
)

# Each role's privileges on one relation, given on another (only `kept`, if named).
COPY_PRIVILEGES = r"""
CREATE OR REPLACE FUNCTION pg_temp.copy_privileges(source regclass, target regclass, kept text[] DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    granted record;
BEGIN
    FOR granted IN
        SELECT a.grantee::regrole AS role, a.privilege_type
          FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) AS a
         WHERE c.oid = source AND a.grantee <> 0 AND a.grantee <> c.relowner
           AND (kept IS NULL OR a.privilege_type = ANY (kept))
    LOOP
        EXECUTE pg_catalog.format('GRANT %s ON %s TO %s', granted.privilege_type, target, granted.role);
    END LOOP;
END $$;
"""

UPGRADE = (
    LINES_VALID
    + ENTRY_ID_FOR
    + COPY_PRIVILEGES
    + r"""
CREATE TABLE ledger.entries_0014 (
    entry_id      uuid NOT NULL,
    seq           bigint NOT NULL DEFAULT nextval('ledger.entries_seq_seq'),  -- an order, for readers
    posting_key   text NOT NULL,              -- the deterministic idempotency key (entry_id derives from it)
    kind          text NOT NULL,
    subject       text NOT NULL,              -- the battery, lot or sale it is about
    caused_by     uuid NOT NULL,              -- the event in that caused it
    reverses      uuid,                       -- the entry it reverses (checked by reconciliation)
    effective_at  timestamptz NOT NULL,       -- when the cause occurred
    posted_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    content_hash  bytea,                      -- SHA-256 of the posting's canonical JSON
    accounts      text[] NOT NULL,            -- line n: accounts[n], currencies[n], debits[n], credits[n]
    currencies    text[] NOT NULL,
    debits        bigint[] NOT NULL,
    credits       bigint[] NOT NULL,
    txid          xid8 NOT NULL DEFAULT pg_current_xact_id()  -- the transaction that posted it
);

INSERT INTO ledger.entries_0014 (entry_id, seq, posting_key, kind, subject, caused_by, reverses, effective_at,
                                 posted_at, content_hash, accounts, currencies, debits, credits)
SELECT e.entry_id, e.seq, e.posting_key, e.kind, e.subject, e.caused_by, e.reverses, e.effective_at,
       e.posted_at, e.content_hash, l.accounts, l.currencies, l.debits, l.credits
  FROM ledger.entries e
  JOIN (SELECT entry_id, array_agg(account ORDER BY line_no) AS accounts,
               array_agg(currency::text ORDER BY line_no) AS currencies,
               array_agg(debit ORDER BY line_no) AS debits, array_agg(credit ORDER BY line_no) AS credits
          FROM ledger.lines GROUP BY entry_id) AS l USING (entry_id)
 ORDER BY e.seq;

DO $$
DECLARE
    lost text;
BEGIN
    SELECT string_agg(e.posting_key, ', ' ORDER BY e.seq) INTO lost
      FROM ledger.entries e
     WHERE NOT EXISTS (SELECT 1 FROM ledger.entries_0014 n WHERE n.entry_id = e.entry_id);
    IF lost IS NOT NULL THEN
        RAISE EXCEPTION 'journal entries without lines, not converted (nothing changed): %', lost;
    END IF;
    SELECT string_agg(l.entry_id::text, ', ') INTO lost
      FROM (SELECT DISTINCT entry_id FROM ledger.lines) l
     WHERE NOT EXISTS (SELECT 1 FROM ledger.entries_0014 n WHERE n.entry_id = l.entry_id);
    IF lost IS NOT NULL THEN
        RAISE EXCEPTION 'journal lines of no entry, not converted (nothing changed): %', lost;
    END IF;
END $$;

ALTER TABLE ledger.entries_0014
    ADD CONSTRAINT entries_lines_valid CHECK (ledger.lines_valid(accounts, currencies, debits, credits)),
    ADD CONSTRAINT entries_id_of_posting_key CHECK (entry_id = ledger.entry_id_for(posting_key));

SELECT pg_temp.copy_privileges('ledger.entries', 'ledger.entries_0014');
ALTER SEQUENCE ledger.entries_seq_seq OWNED BY ledger.entries_0014.seq;

CREATE VIEW ledger.lines_0014 AS
SELECT e.entry_id, l.line_no::smallint AS line_no, l.account, l.currency::char(3) AS currency,
       l.debit, l.credit, e.posted_at
  FROM ledger.entries_0014 e
 CROSS JOIN LATERAL unnest(e.accounts, e.currencies, e.debits, e.credits)
       WITH ORDINALITY AS l(account, currency, debit, credit, line_no);
SELECT pg_temp.copy_privileges('ledger.lines', 'ledger.lines_0014', ARRAY['SELECT']);

DROP TABLE ledger.lines;
DROP TABLE ledger.entries;
DROP FUNCTION ledger.lines_balance();
DROP FUNCTION ledger.entry_has_lines();
ALTER TABLE ledger.entries_0014 RENAME TO entries;
ALTER VIEW ledger.lines_0014 RENAME TO lines;

ALTER TABLE ledger.entries ADD CONSTRAINT entries_pkey PRIMARY KEY (entry_id);
CREATE INDEX entries_caused_by ON ledger.entries (caused_by);
CREATE INDEX entries_kind_subject ON ledger.entries (kind, subject);
CREATE INDEX entries_reverses ON ledger.entries (reverses) WHERE reverses IS NOT NULL;
CREATE INDEX entries_txid_brin ON ledger.entries USING brin ((txid::text::bigint));
CREATE INDEX entries_seq_brin ON ledger.entries USING brin (seq);
DO $$
DECLARE
    role text;
BEGIN
    FOREACH role IN ARRAY ARRAY['takeback_gateway', 'takeback_reader'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role) AND current_user <> role THEN
            EXECUTE pg_catalog.format('GRANT SELECT ON SEQUENCE ledger.entries_seq_seq TO %I', role);
        END IF;
    END LOOP;
END $$;

CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON ledger.entries
    FOR EACH ROW EXECUTE FUNCTION ledger.append_only();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON ledger.entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.append_only();
ANALYZE ledger.entries;
"""
)

# Back to an entries table and a lines table (revisions 0002 to 0013), the lines unnested from the arrays.
DOWNGRADE = (
    COPY_PRIVILEGES
    + r"""
CREATE TABLE ledger.entries_0013 (
    entry_id      uuid PRIMARY KEY,
    seq           bigint NOT NULL DEFAULT nextval('ledger.entries_seq_seq') UNIQUE,
    posting_key   text NOT NULL UNIQUE,
    kind          text NOT NULL,
    subject       text NOT NULL,
    caused_by     uuid NOT NULL,
    reverses      uuid,
    effective_at  timestamptz NOT NULL,
    posted_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    content_hash  bytea
);
INSERT INTO ledger.entries_0013
SELECT entry_id, seq, posting_key, kind, subject, caused_by, reverses, effective_at, posted_at, content_hash
  FROM ledger.entries ORDER BY seq;
CREATE TABLE ledger.lines_0013 (
    entry_id   uuid NOT NULL,
    line_no    smallint NOT NULL CHECK (line_no >= 1),
    account    text NOT NULL,
    currency   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    debit      bigint NOT NULL CHECK (debit >= 0),
    credit     bigint NOT NULL CHECK (credit >= 0),
    posted_at  timestamptz NOT NULL,
    PRIMARY KEY (entry_id, line_no),
    CHECK ((debit = 0) <> (credit = 0))
);
INSERT INTO ledger.lines_0013 SELECT * FROM ledger.lines;
SELECT pg_temp.copy_privileges('ledger.entries', 'ledger.entries_0013');
SELECT pg_temp.copy_privileges('ledger.lines', 'ledger.lines_0013');
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'takeback_ledger') THEN
        GRANT INSERT ON ledger.lines_0013 TO takeback_ledger;
    END IF;
END $$;
ALTER SEQUENCE ledger.entries_seq_seq OWNED BY ledger.entries_0013.seq;
REVOKE SELECT ON SEQUENCE ledger.entries_seq_seq FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'takeback_gateway') THEN
        REVOKE SELECT ON SEQUENCE ledger.entries_seq_seq FROM takeback_gateway;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'takeback_reader') THEN
        REVOKE SELECT ON SEQUENCE ledger.entries_seq_seq FROM takeback_reader;
    END IF;
END $$;
DROP VIEW ledger.lines;
DROP TABLE ledger.entries;
DROP FUNCTION ledger.lines_valid(text[], text[], bigint[], bigint[]);
DROP FUNCTION ledger.entry_id_for(text);
ALTER TABLE ledger.entries_0013 RENAME TO entries;
ALTER TABLE ledger.lines_0013 RENAME TO lines;
ALTER TABLE ledger.entries RENAME CONSTRAINT entries_0013_pkey TO entries_pkey;
ALTER TABLE ledger.entries RENAME CONSTRAINT entries_0013_seq_key TO entries_seq_key;
ALTER TABLE ledger.entries RENAME CONSTRAINT entries_0013_posting_key_key TO entries_posting_key_key;
ALTER TABLE ledger.lines RENAME CONSTRAINT lines_0013_pkey TO lines_pkey;
ALTER TABLE ledger.lines RENAME CONSTRAINT lines_0013_check TO lines_check;
ALTER TABLE ledger.lines RENAME CONSTRAINT lines_0013_line_no_check TO lines_line_no_check;
ALTER TABLE ledger.lines RENAME CONSTRAINT lines_0013_currency_check TO lines_currency_check;
ALTER TABLE ledger.lines RENAME CONSTRAINT lines_0013_debit_check TO lines_debit_check;
ALTER TABLE ledger.lines RENAME CONSTRAINT lines_0013_credit_check TO lines_credit_check;
CREATE INDEX entries_caused_by ON ledger.entries (caused_by);
CREATE INDEX entries_kind_subject ON ledger.entries (kind, subject);
CREATE INDEX entries_reverses ON ledger.entries (reverses) WHERE reverses IS NOT NULL;
CREATE INDEX lines_account ON ledger.lines (account, currency, posted_at);

CREATE FUNCTION ledger.lines_balance() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE bad record;
BEGIN
    SELECT n.entry_id INTO bad
      FROM (SELECT DISTINCT entry_id FROM new_lines) n
     WHERE NOT EXISTS (SELECT 1 FROM ledger.entries e WHERE e.entry_id = n.entry_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal lines name entry %, which does not exist', bad.entry_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
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
END $f$;
CREATE TRIGGER lines_balance AFTER INSERT ON ledger.lines
    REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION ledger.lines_balance();
CREATE FUNCTION ledger.entry_has_lines() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF (SELECT count(*) FROM ledger.lines WHERE entry_id = NEW.entry_id) < 2 THEN
        RAISE EXCEPTION 'journal entry % has fewer than two lines', NEW.entry_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $f$;
CREATE CONSTRAINT TRIGGER entry_has_lines AFTER INSERT ON ledger.entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger.entry_has_lines();
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON ledger.entries
    FOR EACH ROW EXECUTE FUNCTION ledger.append_only();
CREATE TRIGGER lines_append_only BEFORE UPDATE OR DELETE ON ledger.lines
    FOR EACH ROW EXECUTE FUNCTION ledger.append_only();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON ledger.entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.append_only();
CREATE TRIGGER lines_no_truncate BEFORE TRUNCATE ON ledger.lines
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.append_only();
"""
)


def upgrade() -> None:
    run_sql_script(UPGRADE)


def downgrade() -> None:
    run_sql_script(DOWNGRADE)
