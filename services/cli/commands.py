"""Commands beyond the stack's lifecycle; each module registers itself on `app`."""
from services.cli import battery  # noqa: E402,F401
from services.cli import keys  # noqa: E402,F401  (takeback keys)
from services.cli import report  # noqa: E402,F401  (takeback report ...: the ledger's finance reports)
from services.cli import bench  # noqa: E402,F401
from services.cli import demo  # noqa: E402,F401
from services.cli import chaos  # noqa: E402,F401
from services.cli import kafka_credentials  # noqa: E402,F401  (takeback kafka-credentials)
