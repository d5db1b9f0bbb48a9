"""Every command of `takeback`; each module registers itself on `app` when imported."""

from services.cli import (
    battery,  # noqa: F401
    bench,  # noqa: F401
    chaos,  # noqa: F401
    demo,  # noqa: F401
    discrepancies,  # noqa: F401  (takeback discrepancies)
    kafka_credentials,  # noqa: F401  (takeback kafka-credentials)
    keys,  # noqa: F401  (takeback keys)
    passport,  # noqa: F401  (takeback passport export|show)
    report,  # noqa: F401  (takeback report ...: the ledger's finance reports)
    stack,  # noqa: F401  (takeback up, down, status)
)
