"""The ledger's use cases; what the HTTP gateway and the command line call.

balances(pool, as_of=None)              contract section 6 balances body
reconcile(pool)                         contract section 6 reconciliation body
settlement(pool, period), liability_by_age(pool), fund_adequacy(pool)
collection_report(pool, year=None, category=None), recovery_report(pool, year=None)
collection_by_weight(pool, year, category, by_country), recycling_efficiency(pool, year=None)
passport(pool, serial), passport_export(pool, category=None)
post(pool, postings), post_messages(pool, messages)
"""

from services.ledger.service_layer.balances import balances
from services.ledger.service_layer.posting import PostingOutcome, post, post_messages
from services.ledger.service_layer.reconciliation import reconcile, run_reconciliation
from services.ledger.service_layer.reports import (
    collection_by_weight,
    collection_report,
    fund_adequacy,
    liability_by_age,
    passport,
    passport_export,
    recovery_report,
    recycling_efficiency,
    settlement,
)

__all__ = [
    "balances",
    "reconcile",
    "run_reconciliation",
    "settlement",
    "liability_by_age",
    "fund_adequacy",
    "collection_report",
    "recovery_report",
    "collection_by_weight",
    "recycling_efficiency",
    "passport",
    "passport_export",
    "post",
    "post_messages",
    "PostingOutcome",
]
