"""Second-life thresholds in any order (contract 8.3).

The contract makes `reuse_min_pct` and `repurpose_min_pct` of `terms.published`
each an optional integer 0-100 (defaults 85 and 65) and sets no order between
them: terms that give only `reuse_min_pct: 60` keep the default repurpose 65,
and are valid. Revision 0022 refused them with
`terms_repurpose_not_above_reuse` (`repurpose_min_pct <= reuse_min_pct`); this
revision drops that CHECK. Each column keeps its own 0-100 CHECK.

Routing reads them in the contract's order (reuse first, then repurpose), so
with repurpose above reuse a collection is reused or recycled.

Downgrade puts the CHECK back, refused (nothing changed) if terms with
repurpose above reuse were applied since.

Revision ID: 0025
"""

from infra.migrations.script import run_sql_script

revision = "0025"
down_revision = "0024"

UPGRADE = r"""
ALTER TABLE scheme.terms DROP CONSTRAINT IF EXISTS terms_repurpose_not_above_reuse;
"""

DOWNGRADE = r"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM scheme.terms WHERE repurpose_min_pct > reuse_min_pct) THEN
        RAISE EXCEPTION 'terms with repurpose_min_pct above reuse_min_pct were applied: '
                        'revision 0024 refuses them (nothing changed)';
    END IF;
END $$;
ALTER TABLE scheme.terms DROP CONSTRAINT IF EXISTS terms_repurpose_not_above_reuse;
ALTER TABLE scheme.terms ADD CONSTRAINT terms_repurpose_not_above_reuse
    CHECK (repurpose_min_pct <= reuse_min_pct);
"""


def upgrade() -> None:
    run_sql_script(UPGRADE)


def downgrade() -> None:
    run_sql_script(DOWNGRADE)
