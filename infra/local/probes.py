"""Does a server answer? One probe per kind, shared by `takeback up` and the compose init."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from infra.local.topics import describe_cluster


async def postgres_answers(url: str, timeout_s: float = 2.0) -> bool:
    try:
        connection = await asyncpg.connect(url, timeout=timeout_s)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


async def kafka_answers(bootstrap: str, timeout_s: float = 5.0, options: dict | None = None) -> bool:
    try:
        await asyncio.wait_for(describe_cluster(bootstrap, options), timeout=timeout_s)
    except Exception:  # any failure to reach the broker means "not up yet"
        return False
    return True


def service_healthy(port: int, host: str = "127.0.0.1") -> bool:
    """A service of ours answers 200 on /healthz."""
    try:
        return httpx.get(f"http://{host}:{port}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
