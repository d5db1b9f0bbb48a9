"""What each counterparty owes, or is owed, as the streams see it: for the overpayment rule (contract 8.1).

A payment above what its counterparty owes in that currency at that moment
opens an `overpayment` with the excess. The streams cannot ask the ledger (it
lags them by the postings still on Kafka), so they keep their own exact view,
derived from what they asked the ledger to post: `scheme.counterparty_movements`
gets, in the transaction of each batch, one row per counterparty account the
batch's postings touched (`clearing:store:*`, `clearing:centre:*`,
`payable:recycler:*`) with the batch's debit - credit on it. Append-only (no row
is hot: two workers never wait on one), so an account's balance is the sum of
its rows (indexed by account). The postings made before this revision are
summed into one row per account and currency.

The streams read and add rows; the ledger, the gateway and the reader read.

Revision ID: 0019
"""

from infra.migrations.script import run_sql_script

revision = "0019"
down_revision = "0018"

STREAMS, LEDGER, GATEWAY, READER = (
    "takeback_streams",
    "takeback_ledger",
    "takeback_gateway",
    "takeback_reader",
)
COUNTERPARTY_PREFIXES = ("clearing:store:", "clearing:centre:", "payable:recycler:")

UPGRADE = f"""
CREATE TABLE IF NOT EXISTS scheme.counterparty_movements (
    account   text NOT NULL,
    currency  char(3) NOT NULL,
    amount    bigint NOT NULL,  -- debit - credit of one batch's postings on the account
    txid      xid8 DEFAULT pg_current_xact_id()
);
CREATE INDEX IF NOT EXISTS counterparty_movements_account
    ON scheme.counterparty_movements (account, currency) INCLUDE (amount);

LOCK TABLE scheme.postings IN SHARE MODE;  -- no batch adds a posting while the earlier ones are summed
INSERT INTO scheme.counterparty_movements (account, currency, amount)
SELECT l->>'account', l->>'currency', sum((l->>'debit')::bigint - (l->>'credit')::bigint)
  FROM scheme.postings p CROSS JOIN LATERAL jsonb_array_elements(p.lines) AS l
 WHERE NOT EXISTS (SELECT 1 FROM scheme.counterparty_movements)
   AND ({" OR ".join(f"l->>'account' LIKE '{prefix}%'" for prefix in COUNTERPARTY_PREFIXES)})
 GROUP BY 1, 2;
"""


def _for_role(role: str, statements: str) -> str:
    return f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') AND current_user <> '{role}' THEN
{statements}
    END IF;
END $$;
"""


GRANTS = {
    STREAMS: f"GRANT SELECT, INSERT ON scheme.counterparty_movements TO {STREAMS};",
    LEDGER: f"GRANT SELECT ON scheme.counterparty_movements TO {LEDGER};",
    GATEWAY: f"GRANT SELECT ON scheme.counterparty_movements TO {GATEWAY};",
    READER: f"GRANT SELECT ON scheme.counterparty_movements TO {READER};",
}


def upgrade() -> None:
    run_sql_script(UPGRADE)
    for role, grants in GRANTS.items():
        run_sql_script(_for_role(role, grants))


def downgrade() -> None:
    run_sql_script("DROP TABLE IF EXISTS scheme.counterparty_movements;")
