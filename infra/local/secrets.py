"""Credentials generated at set-up, never defaults: one file each under `<state dir>/secrets/`, mode 600.

`takeback up` makes what is missing and passes each process only its own.
Nothing here is ever logged.
"""

from __future__ import annotations

import os
import secrets as random
from pathlib import Path

SECRET_BYTES = 24


def secrets_dir(state_dir: Path) -> Path:
    path = state_dir / "secrets"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def secret(state_dir: Path, name: str) -> str:
    """The secret called `name`, made (random, URL-safe) and kept with mode 600 the first time it is
    asked for."""
    assert name and "/" not in name and not name.startswith("."), "a secret's name is a plain file name"
    path = secrets_dir(state_dir) / name
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(random.token_urlsafe(SECRET_BYTES))
    return path.read_text().strip()
