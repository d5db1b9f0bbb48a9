"""Who may speak for a source: the secret each signer signs its events with.

A message on an input topic carries `takeback-signature` (HMAC-SHA256 of the
value, hex) made with the secret of the envelope's source, or, with the
header `takeback-signer: gateway|operator`, with the secret of the gateway
(which checked an API key bound to that source) or of the operator's tools.
The stream workers read this table to check it; only the owner role (the
command line) adds or revokes a key. A revoked key signs nothing from then on.

Revision ID: 0010
"""

from infra.migrations.script import run_sql_script

revision = "0010"
down_revision = "0009"

UPGRADE = r"""
CREATE TABLE IF NOT EXISTS scheme.signing_keys (
    signer_kind  text NOT NULL,  -- a source kind (pos, return_centre, ...), or 'signer' (gateway, operator)
    signer_id    text NOT NULL,
    secret       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    PRIMARY KEY (signer_kind, signer_id)
);
COMMENT ON TABLE scheme.signing_keys
    IS 'secrets the stream workers check event signatures with; owner-managed';
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'takeback') AND current_user <> 'takeback' THEN
        REVOKE ALL ON scheme.signing_keys FROM takeback;
        GRANT SELECT ON scheme.signing_keys TO takeback;
    END IF;
END $$;
"""


def upgrade() -> None:
    run_sql_script(UPGRADE)


def downgrade() -> None:
    run_sql_script("DROP TABLE IF EXISTS scheme.signing_keys;")
