"""Commands beyond the stack's lifecycle; each module registers itself on `app`."""
from services.cli import battery  # noqa: E402,F401
