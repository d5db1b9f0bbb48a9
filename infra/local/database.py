"""The local cluster's database, its roles and their generated passwords (revision 0011 grants them
their rights).

Every role gets a password generated once (`<state dir>/secrets/postgres-<role>`,
mode 600), never a default: the owner, each service's role, the reader, and
the shared role `takeback` of earlier versions if it is still there (it keeps
no privilege). `<state dir>/secrets/pgpass` lists them all for `psql`
(`PGPASSFILE=.state/secrets/pgpass psql -h 127.0.0.1 -p 55432 -U takeback_reader takeback`).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from infra.local.secrets import secret, secrets_dir
from services.common import db_roles
from services.common.settings import Settings

PASSFILE = "pgpass"


def password(state_dir: Path, role: str) -> str:
    """The role's password, made the first time it is asked for."""
    return secret(state_dir, db_roles.secret_name(role))


async def ensure_roles(superuser_url: str, settings: Settings) -> None:
    """Create (or re-password) the roles and create the database, owned by the owner role, once."""
    state, owner = settings.state_dir, db_roles.role_of(settings.database_owner_url) or db_roles.OWNER
    database = urlsplit(settings.database_url).path.lstrip("/")
    roles = list(dict.fromkeys((owner, *db_roles.LOCAL_ROLES)))
    connection = await asyncpg.connect(superuser_url)
    try:
        if await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", db_roles.LEGACY):
            roles.append(db_roles.LEGACY)  # its old password was its name: it gets a generated one too
        for role in roles:
            exists = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            literal = password(state, role).replace("'", "''")
            await connection.execute(
                f"""{"ALTER" if exists else "CREATE"} ROLE "{role}" LOGIN PASSWORD '{literal}'"""
            )
        # Every session of a role but the owner's is bounded, whatever client opens it (the services also set
        # these on their own pools): a forgotten transaction cannot hold back a relay's window or vacuum.
        for role in roles:
            if role != owner:
                await connection.execute(
                    f'ALTER ROLE "{role}" SET idle_in_transaction_session_timeout = '
                    f"'{settings.idle_in_transaction_timeout_s}s'; "
                    f"ALTER ROLE \"{role}\" SET statement_timeout = '{settings.statement_timeout_s}s'"
                )
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await connection.execute(f'CREATE DATABASE "{database}" OWNER "{owner}"')
    finally:
        await connection.close()
    connection = await asyncpg.connect(superuser_url.rsplit("/", 1)[0] + f"/{database}")
    try:
        await connection.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        for role in roles:
            await connection.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
    finally:
        await connection.close()
    write_passfile(state, settings.database_url, roles)


def write_passfile(state_dir: Path, url: str, roles: list[str]) -> Path:
    """`<secrets>/pgpass` (mode 600): host:port:database:role:password of each role, for psql and
    operators."""
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or 5432}:{parts.path.lstrip('/')}"
    lines = [f"{where}:{role}:{_escaped(password(state_dir, role))}\n" for role in roles]
    path = secrets_dir(state_dir) / PASSFILE
    temporary = path.with_name(f".{PASSFILE}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.writelines(lines)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path


def _escaped(field: str) -> str:
    return field.replace("\\", "\\\\").replace(":", "\\:")
