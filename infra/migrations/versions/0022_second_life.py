"""Second life, grading and countries (contract 8.3): the columns the routes, the passport and the
regulator's reports read.

- `scheme.sales.country`: where the sale placed its batteries on the market
  (ISO 3166-1 alpha-2), if the point of sale said.
- `scheme.collections`: `state_of_health_pct` (0-100) and `country` as the
  centre graded and logged them, and `route`, the `battery.routed` the scheme
  emitted for that collection (reuse, repurpose, recycle or inspect). Rows of
  earlier revisions have none.
- `scheme.terms`: `reuse_min_pct` (default 85) and `repurpose_min_pct` (default
  65), the state of health a collected battery of the sku needs to be reused or
  repurposed; never a repurpose threshold above the reuse one.
- `scheme.recoveries.output_mass_kg`: what the recycling process put out, never
  more than its input (recycling efficiency, Annex XII Part B).
- `gateway.api_keys`: a key may be bound to a `second_life` source, the new
  source kind.
- `scheme.repurposings`: append-only, one row per `battery.repurposed` applied
  (its event id is its key): the battery, the second-life operator, the
  application and when. No role but the owner may update, delete or truncate it,
  by grants and by a trigger, as the sales (revision 0011).

The battery states `repurposed` and `lost` exist since revision 0017; the masses
of sale items and collections are the existing `mass_kg` columns.

Grants, as revision 0017: the streams read and add repurposings and update in
place only the new terms columns (terms published again for the same date
replace the earlier ones); the ledger, the gateway and the reader read.

Revision ID: 0022
"""

from infra.migrations.script import run_sql_script

revision = "0022"
down_revision = "0021"

STREAMS, LEDGER, GATEWAY, READER = (
    "takeback_streams",
    "takeback_ledger",
    "takeback_gateway",
    "takeback_reader",
)

SOURCE_KINDS = ("pos", "return_centre", "transporter", "recycler", "finance", "second_life")
EARLIER_SOURCE_KINDS = SOURCE_KINDS[:5]


def _source_kinds_check(kinds: tuple[str, ...]) -> str:
    """The source kinds an API key may be bound to (revision 0004), now with `second_life`."""
    return f"""
ALTER TABLE gateway.api_keys DROP CONSTRAINT IF EXISTS api_keys_source_kind_check;
ALTER TABLE gateway.api_keys ADD CONSTRAINT api_keys_source_kind_check
    CHECK (source_kind IN ({", ".join(f"'{k}'" for k in kinds)}));
"""


UPGRADE = r"""
ALTER TABLE scheme.sales ADD COLUMN IF NOT EXISTS country char(2) CHECK (country ~ '^[A-Z]{2}$');

ALTER TABLE scheme.collections
    ADD COLUMN IF NOT EXISTS state_of_health_pct smallint
        CHECK (state_of_health_pct BETWEEN 0 AND 100),
    ADD COLUMN IF NOT EXISTS country char(2) CHECK (country ~ '^[A-Z]{2}$'),
    ADD COLUMN IF NOT EXISTS route text CHECK (route IN ('reuse', 'repurpose', 'recycle', 'inspect'));

ALTER TABLE scheme.terms
    ADD COLUMN IF NOT EXISTS reuse_min_pct smallint NOT NULL DEFAULT 85
        CHECK (reuse_min_pct BETWEEN 0 AND 100),
    ADD COLUMN IF NOT EXISTS repurpose_min_pct smallint NOT NULL DEFAULT 65
        CHECK (repurpose_min_pct BETWEEN 0 AND 100);
ALTER TABLE scheme.terms DROP CONSTRAINT IF EXISTS terms_repurpose_not_above_reuse;
ALTER TABLE scheme.terms ADD CONSTRAINT terms_repurpose_not_above_reuse
    CHECK (repurpose_min_pct <= reuse_min_pct);

ALTER TABLE scheme.recoveries ADD COLUMN IF NOT EXISTS output_mass_kg numeric
    CHECK (output_mass_kg > 0 AND output_mass_kg <= input_mass_kg);

CREATE TABLE IF NOT EXISTS scheme.repurposings (
    serial         text NOT NULL,
    operator_id    text NOT NULL,
    application    text NOT NULL CHECK (application IN ('stationary_storage', 'vehicle', 'other')),
    event_id       uuid PRIMARY KEY,
    repurposed_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS repurposings_serial ON scheme.repurposings (serial);

CREATE OR REPLACE TRIGGER repurposings_never_updated BEFORE UPDATE OR DELETE OR TRUNCATE
    ON scheme.repurposings FOR EACH STATEMENT EXECUTE FUNCTION scheme.never_updated();
""" + _source_kinds_check(SOURCE_KINDS)


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
    STREAMS: f"""
        GRANT SELECT, INSERT ON scheme.repurposings TO {STREAMS};
        GRANT UPDATE (reuse_min_pct, repurpose_min_pct) ON scheme.terms TO {STREAMS};
    """,
    LEDGER: f"GRANT SELECT ON scheme.repurposings TO {LEDGER};",
    GATEWAY: f"GRANT SELECT ON scheme.repurposings TO {GATEWAY};",
    READER: f"GRANT SELECT ON scheme.repurposings TO {READER};",
}

DOWNGRADE = """
DROP TABLE IF EXISTS scheme.repurposings;
ALTER TABLE scheme.recoveries DROP COLUMN IF EXISTS output_mass_kg;
ALTER TABLE scheme.terms DROP CONSTRAINT IF EXISTS terms_repurpose_not_above_reuse,
    DROP COLUMN IF EXISTS reuse_min_pct, DROP COLUMN IF EXISTS repurpose_min_pct;
ALTER TABLE scheme.collections DROP COLUMN IF EXISTS state_of_health_pct, DROP COLUMN IF EXISTS country,
    DROP COLUMN IF EXISTS route;
ALTER TABLE scheme.sales DROP COLUMN IF EXISTS country;
"""


def upgrade() -> None:
    run_sql_script(UPGRADE)
    for role, grants in GRANTS.items():
        run_sql_script(_for_role(role, grants))


def downgrade() -> None:
    run_sql_script(DOWNGRADE + _source_kinds_check(EARLIER_SOURCE_KINDS))
