"""Sending one event to the gateway (`POST /v1/events`) as a real client does: again, with the same
bytes, while the gateway is down, busy (429) or failing (5xx); a refusal (4xx) is final."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from services.common.outage import OUTAGE_WINDOW_S, through_outage

RETRYABLE_STATUS = (429, 500, 502, 503, 504)


class GatewayAway(Exception):
    """Not accepted this time; worth sending again (after `retry_after_s` if the gateway said so)."""

    def __init__(self, reason: str, retry_after_s: float | None = None):
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class EventRefused(RuntimeError):
    """The gateway refused the event for good (400, 401, 403, 413, 415)."""


async def post_event(http: httpx.AsyncClient, body: bytes, key: str) -> None:
    """One attempt: returns once the gateway answered 202 (durably in Kafka)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    try:
        response = await http.post("/v1/events", content=body, headers=headers)
    except httpx.TransportError as error:
        raise GatewayAway(f"{type(error).__name__}: {error}") from None
    if response.status_code == 202:
        return
    if response.status_code in RETRYABLE_STATUS:
        retry_after = response.headers.get("retry-after", "")
        raise GatewayAway(
            f"HTTP {response.status_code}", float(retry_after) if retry_after.isdigit() else None
        )
    raise EventRefused(f"the gateway refused the event: {response.status_code} {response.text[:300]}")


async def send_event(
    http: httpx.AsyncClient,
    body: bytes,
    key: str,
    what: str,
    window_s: float = OUTAGE_WINDOW_S,
    on_retry: Callable[[], None] | None = None,
) -> None:
    """`post_event` through an outage of the gateway (or of the database or broker behind it)."""
    await through_outage(lambda: post_event(http, body, key), what, (GatewayAway,), window_s, on_retry)


async def get_body(
    http: httpx.AsyncClient, path: str, key: str, what: str, window_s: float = OUTAGE_WINDOW_S
) -> dict:
    """A read of the gateway (a report, a battery), through an outage of the gateway or what is behind it."""

    async def attempt() -> dict:
        try:
            response = await http.get(path, headers={"Authorization": f"Bearer {key}"})
        except httpx.TransportError as error:
            raise GatewayAway(f"{type(error).__name__}: {error}") from None
        if response.status_code in RETRYABLE_STATUS:
            raise GatewayAway(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise EventRefused(f"the gateway refused {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    return await through_outage(attempt, what, (GatewayAway,), window_s)


RECONCILIATION_RUNS_PATH = "/v1/finance/reconciliation/runs"
RUN_POLL_S = 0.5
RUN_ASKED_MAX = 3  # a run lost (the gateway restarted) or failed is asked for again, this many times at most


async def fresh_reconciliation(
    http: httpx.AsyncClient, key: str, what: str, window_s: float = OUTAGE_WINDOW_S
) -> dict:
    """The result of a reconciliation run asked for now (its snapshot is taken after this call), followed
    until it completes, through an outage of the gateway; a run the gateway lost or that failed is asked for
    again."""
    headers = {"Authorization": f"Bearer {key}"}

    async def attempt(method: str, path: str) -> httpx.Response:
        try:
            response = await http.request(method, path, headers=headers)
        except httpx.TransportError as error:
            raise GatewayAway(f"{type(error).__name__}: {error}") from None
        if response.status_code in RETRYABLE_STATUS:
            retry_after = response.headers.get("retry-after", "")
            raise GatewayAway(
                f"HTTP {response.status_code}", float(retry_after) if retry_after.isdigit() else None
            )
        return response

    for _ in range(RUN_ASKED_MAX):
        asked = await through_outage(
            lambda: attempt("POST", RECONCILIATION_RUNS_PATH), what, (GatewayAway,), window_s
        )
        if asked.status_code != 202:
            raise EventRefused(
                f"the gateway refused a reconciliation run: {asked.status_code} {asked.text[:300]}"
            )
        url = f"{RECONCILIATION_RUNS_PATH}/{asked.json()['run_id']}"
        while (
            run := await through_outage(lambda url=url: attempt("GET", url), what, (GatewayAway,), window_s)
        ).status_code == 200 and run.json()["state"] in ("queued", "running"):
            await asyncio.sleep(RUN_POLL_S)
        if run.status_code == 200 and run.json()["state"] == "completed":
            return run.json()["result"]
    raise EventRefused(
        f"{what}: no reconciliation run completed in {RUN_ASKED_MAX} attempts "
        f"(last: {run.status_code} {run.text[:300]})"
    )
