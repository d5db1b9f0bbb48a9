"""Every command of `takeback`; each module registers itself on `app` when imported."""
from services.cli import stack  # noqa: F401  (takeback up, down, status)
from services.cli import battery  # noqa: F401
from services.cli import keys  # noqa: F401  (takeback keys)
from services.cli import report  # noqa: F401  (takeback report ...: the ledger's finance reports)
from services.cli import bench  # noqa: F401
from services.cli import demo  # noqa: F401
from services.cli import chaos  # noqa: F401
from services.cli import kafka_credentials  # noqa: F401  (takeback kafka-credentials)
