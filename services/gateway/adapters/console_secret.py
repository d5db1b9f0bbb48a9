"""The console's signing secret: made once in the state folder's secrets (mode 600), read by every gateway.

Every process of the gateway reads the same file, so a session cookie issued by one is
accepted by all, and by the gateway after a restart. Made with a link from a written
temporary file, so concurrent starts agree on one secret and none reads it half written.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE_NAME = "console-session-key"
SECRET_BYTES = 32


def console_secret(state_dir: Path) -> bytes:
    folder = state_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / FILE_NAME
    if not path.exists():
        temporary = folder / f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(SECRET_BYTES))
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
        finally:
            temporary.unlink(missing_ok=True)
    secret = bytes.fromhex(path.read_text().strip())
    assert len(secret) >= SECRET_BYTES, f"{path} holds a secret of at least {SECRET_BYTES} bytes"
    return secret
