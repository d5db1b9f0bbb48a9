"""Every finance report of the ledger in one place (the HTTP gateway imports its read models from here).

settlement(pool, period)                            each counterparty's statement over a period
liability_by_age(pool)                              deposits in use by age of sale
fund_adequacy(pool)                                 recycling fund vs expected cost
collection_report(pool, year=None, category=None)   EU collection rate and targets
recovery_report(pool, year=None)                    EU material recovery and targets
collection_by_weight(pool, year, category, by_country)  EU collection by weight (Annex XI)
recycling_efficiency(pool, year=None)               EU recycling efficiency per chemistry group
passport(pool, serial), passport_export(pool, category)  the battery passport (Annex XIII)
"""

from services.ledger.service_layer.finance import fund_adequacy, liability_by_age
from services.ledger.service_layer.passports import passport, passport_export
from services.ledger.service_layer.regulatory import collection_report, recovery_report
from services.ledger.service_layer.settlement import settlement
from services.ledger.service_layer.weight_reports import collection_by_weight, recycling_efficiency

__all__ = [
    "settlement",
    "liability_by_age",
    "fund_adequacy",
    "collection_report",
    "recovery_report",
    "collection_by_weight",
    "recycling_efficiency",
    "passport",
    "passport_export",
]
