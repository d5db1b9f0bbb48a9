"""The database's roles (revision 0011), and where a process finds its role's password.

One role per service, with only what it needs; a read-only role for the command
line's reports and for operators; the owner, which runs the migrations and alone
makes and revokes API keys. `takeback up` creates them on its local cluster, each
with a password generated once and kept in `<state dir>/secrets/postgres-<role>`
(mode 600), and starts every service with its own role's URL.

A URL without a password (the defaults) takes its role's password from that
folder; a URL with one is used as it is (a database you bring yourself).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

OWNER = "takeback_owner"  # owns the schemas: migrations, API keys, signing keys
READER = "takeback_reader"  # reads the scheme and the ledger: the command line's reports, operators
STREAMS = "takeback_streams"
LEDGER = "takeback_ledger"
GATEWAY = "takeback_gateway"
LEGACY = "takeback"  # the one role every service shared before revision 0011: it keeps no privilege

SERVICE_ROLES = {"streams": STREAMS, "ledger": LEDGER, "gateway": GATEWAY}
LOCAL_ROLES = (OWNER, READER, STREAMS, LEDGER, GATEWAY)


def secret_name(role: str) -> str:
    return f"postgres-{role}"


def password_file(state_dir: Path, role: str) -> Path:
    return Path(state_dir) / "secrets" / secret_name(role)


def known_password(state_dir: Path, role: str) -> str | None:
    """The role's password made by `takeback up`, or None before it made one (or for a database you bring)."""
    try:
        return password_file(state_dir, role).read_text().strip() or None
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None


def role_of(url: str) -> str | None:
    username = urlsplit(url).username
    return unquote(username) if username else None


def with_role(url: str, role: str, password: str | None) -> str:
    """The same server and database as `url`, as `role` (with `password`, if any)."""
    parts = urlsplit(url)
    where = parts.netloc.rpartition("@")[2]
    user = quote(role, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunsplit(parts._replace(netloc=f"{user}@{where}"))


def filled(url: str, state_dir: Path) -> str:
    """`url`, with its role's password from the secrets folder when it names a role but no password."""
    parts = urlsplit(url)
    role = role_of(url)
    if role is None or parts.password is not None:
        return url
    password = known_password(state_dir, role)
    return with_role(url, role, password) if password else url


def of_local_cluster(url: str, state_dir: Path) -> str:
    """`url` on the local cluster, whose roles' passwords are the generated ones, whatever the URL says."""
    role = role_of(url)
    password = known_password(state_dir, role) if role in (*LOCAL_ROLES, LEGACY) else None
    return with_role(url, role, password) if password else url


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    role = role_of(url)
    return with_role(url, role, None) if role else url
