"""The gateway's API keys: bound to one source and a role, stored as a salted HMAC, never in plain text.

Revision ID: 0004
"""

from infra.migrations.script import run_sql_script

revision = "0004"
down_revision = "0003"

SQL = r"""
CREATE SCHEMA IF NOT EXISTS gateway;

-- A key is `tbk_<key_id>_<secret>`; only key_id is stored as such. secret_hash is
-- HMAC-SHA256(salt, key_id ":" secret) with a random salt per key (see services/gateway/domain/keys.py).
CREATE TABLE gateway.api_keys (
    key_id       text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
    hash_scheme  text NOT NULL DEFAULT 'hmac-sha256-v1' CHECK (hash_scheme = 'hmac-sha256-v1'),
    salt         bytea NOT NULL CHECK (length(salt) = 16),
    secret_hash  bytea NOT NULL CHECK (length(secret_hash) = 32),
    source_kind  text NOT NULL
                 CHECK (source_kind IN ('pos', 'return_centre', 'transporter', 'recycler', 'finance')),
    source_id    text NOT NULL CHECK (source_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    role         text NOT NULL CHECK (role IN ('producer', 'finance')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    CHECK (role <> 'finance' OR source_kind = 'finance'),
    CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);
CREATE INDEX api_keys_source ON gateway.api_keys (source_kind, source_id);

-- A key never changes, except that it is revoked once; a revocation is never undone.
CREATE FUNCTION gateway.api_keys_only_revoke() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL
       OR (NEW.key_id, NEW.hash_scheme, NEW.salt, NEW.secret_hash, NEW.source_kind, NEW.source_id,
           NEW.role, NEW.created_at)
          IS DISTINCT FROM
          (OLD.key_id, OLD.hash_scheme, OLD.salt, OLD.secret_hash, OLD.source_kind, OLD.source_id,
           OLD.role, OLD.created_at) THEN
        RAISE EXCEPTION 'API key %: only an unrevoked key may change, and only by being revoked', OLD.key_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER api_keys_only_revoke BEFORE UPDATE ON gateway.api_keys
    FOR EACH ROW EXECUTE FUNCTION gateway.api_keys_only_revoke();

-- Keys are revoked, never deleted: the audit trail of who could send what stays whole.
CREATE FUNCTION gateway.api_keys_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'API keys are revoked, never deleted (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER api_keys_no_delete BEFORE DELETE OR TRUNCATE ON gateway.api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION gateway.api_keys_never_deleted();

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'takeback')
       AND current_user <> 'takeback' THEN
        GRANT USAGE ON SCHEMA gateway TO takeback;
        GRANT SELECT, INSERT ON gateway.api_keys TO takeback;
        GRANT UPDATE (revoked_at) ON gateway.api_keys TO takeback;
    END IF;
END $$;
"""


def upgrade() -> None:
    run_sql_script(SQL)


def downgrade() -> None:
    run_sql_script("DROP SCHEMA gateway CASCADE")
