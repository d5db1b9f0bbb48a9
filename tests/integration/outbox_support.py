"""An outbox of its own for a test: the same tables as the scheme's, in a throwaway schema."""

from __future__ import annotations

import importlib
import uuid

import asyncpg

from services.common import db_roles
from services.common.outbox import OutboxMessage, write
from tests.conftest import unique

TOPIC = "takeback.test.relay"
# The parking table and the pruning function of revision 0009, made in the test's schema.
_REVISION_0009 = importlib.import_module("infra.migrations.versions.0009_outbox_parking_offsets")
PARKING_AND_PRUNING, PRUNE_CHUNK_ROWS = _REVISION_0009.UPGRADE, _REVISION_0009.PRUNE_CHUNK_ROWS


async def create_outbox_schema(superuser_url: str, role: str = db_roles.STREAMS) -> str:
    """The schema, granted to `role` as revision 0011 grants the scheme's outbox to the streams' role."""
    schema = unique("relaytest").replace("-", "_")
    admin = await asyncpg.connect(superuser_url)
    try:
        await admin.execute(f"""
            CREATE SCHEMA {schema};
            CREATE TABLE {schema}.outbox (LIKE scheme.outbox INCLUDING ALL);
            CREATE TABLE {schema}.outbox_relay (LIKE scheme.outbox_relay INCLUDING ALL);
            INSERT INTO {schema}.outbox_relay (done_snapshot) SELECT pg_current_snapshot();""")
        await admin.execute(PARKING_AND_PRUNING.format(s=schema, chunk=PRUNE_CHUNK_ROWS))
        await admin.execute(f"""
            GRANT USAGE ON SCHEMA {schema} TO {role};
            GRANT SELECT, INSERT ON {schema}.outbox, {schema}.outbox_parked TO {role};
            GRANT SELECT, UPDATE ON {schema}.outbox_relay TO {role};
            GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role};
            GRANT EXECUTE ON FUNCTION {schema}.prune_outbox(interval) TO {role}""")
    finally:
        await admin.close()
    return schema


async def drop_outbox_schema(superuser_url: str, schema: str) -> None:
    admin = await asyncpg.connect(superuser_url)
    try:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await admin.close()


async def add(connection, schema: str, value: bytes = b'{"n": 1}') -> str:
    event_id = str(uuid.uuid4())
    await write(connection, schema, [OutboxMessage(event_id, TOPIC, "k", value)])
    return event_id
