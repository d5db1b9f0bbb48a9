"""Issue 15: 1,000 requests waiting at once with `Prefer: wait`, over real HTTP against the real stack.

Every one is answered with its own event's outcome (a refund, a lease closed, an orphan
taken back, a duplicate's one decision, a battery already returned, a transfer of a
battery the scheme does not know), or 202 only once its wait expired (and the event then
reads back with that outcome); none is a 5xx; and the gateway's resident memory stays
under 200 MB. The inbox is locked while the requests arrive, so no outcome can be
recorded until all 1,000 wait at once (the gateway's `takeback_gateway_waiting_requests`
says so); then every one is decided together.
"""

from __future__ import annotations

import asyncio
import re
import resource
import time
from collections import Counter
from collections.abc import Mapping

import aiohttp
import pytest

from services.bench.memory import peak_resident_kb, process_tree, resident_kb
from tests.conftest import envelope, unique, wait_for
from tests.integration.scheme import item
from tests.integration.test_gateway_support import (  # noqa: F401
    bearer,
    gateway,
    gateway_url,
    http,
    new_key,
    unknown_transfer,
)

WAITERS = 1000
WAIT_S = 10  # the contract's longest wait
RSS_MAX_KB = 200 * 1024  # issue 15: the gateway under 200 MB
# The whole gateway in one process: all 1,000 requests wait in it (the stack runs one worker per core; each
# holds its share). Per key, the limits stay far above the burst.
GATEWAY_ENV = {
    "TAKEBACK_GATEWAY_WORKERS": "1",
    "TAKEBACK_HTTP_KEY_RATE_PER_S": "5000",
    "TAKEBACK_HTTP_KEY_BURST": "20000",
}
DEPOSIT_SOLD, LEASED, ORPHANS, DUPLICATED, RETURNED, UNKNOWN = 250, 100, 350, 50, 100, 100
ITEMS_PER_SALE = 10
SETUP_IN_FLIGHT = 20
ALL_WAITING_TIMEOUT_S = 60.0  # for the 1,000 to be accepted and waiting (the inbox locked meanwhile)
SAMPLE_S = 0.05  # the gateway's resident memory, read from /proc
PROBE_S = 0.5  # its count of waiting requests, from /metrics (a scrape costs the gateway some ms of CPU)
FDS_SPARE = 200
WAITING_LINE = re.compile(rb"^takeback_gateway_waiting_requests ([0-9.e+]+)$", re.MULTILINE)


def wait(seconds: int = WAIT_S) -> dict[str, str]:
    return {"Prefer": f"wait={seconds}", "Content-Type": "application/json"}


def collection(centre_id: str, serial: str, refund: dict | None = None) -> dict:
    data = {"collection_id": unique("C"), "centre_id": centre_id, "serial": serial, "condition": "damaged"}
    if refund is not None:
        data["refund"] = refund
    return envelope("collection.logged", "return_centre", centre_id, data)


def collected(taken_back: str, refund: dict | None = None) -> dict:
    return {"state": "collected", "refund": refund, "handling_fee": 0, "taken_back": taken_back}


def enough_files() -> None:
    """The client holds a connection (a file) per request: its soft limit raised, as the gateway raises its
    own."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = WAITERS + FDS_SPARE
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"this process may open at most {hard} files; {wanted} are needed")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class Burst:
    """The 1,000 requests: (key, event, expected status, expected outcome without its message, a text the
    message must hold)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict, str, dict, str | None]] = []

    def add(self, key: str, event: dict, status: str, outcome: dict, in_message: str | None = None) -> None:
        self.requests.append((key, event, status, outcome, in_message))


async def prepared_burst(http, new_key) -> Burst:
    """Batteries sold (deposit and lease) and orphans already collected, each applied, then the burst."""
    store, centre, haulier = unique("store"), unique("centre"), unique("haul")
    pos_key, centre_key = await new_key("pos", store), await new_key("return_centre", centre)
    haulier_key = await new_key("transporter", haulier)
    sku = unique("SKU")  # no terms: no handling fee
    deposits = {unique("BAT"): 1000 + index for index in range(DEPOSIT_SOLD)}  # a refund per serial
    leased = [unique("BAT") for _ in range(LEASED)]
    items = [item(serial, deposit=amount, sku=sku) for serial, amount in deposits.items()] + [
        item(serial, deposit=0, contract="lease", sku=sku) for serial in leased
    ]
    sales = [
        envelope(
            "sale.recorded",
            "pos",
            store,
            {
                "sale_id": unique("S"),
                "store_id": store,
                "currency": "EUR",
                "items": items[start : start + ITEMS_PER_SALE],
            },
        )
        for start in range(0, len(items), ITEMS_PER_SALE)
    ]
    returned = [unique("OLD") for _ in range(RETURNED)]
    before = [(pos_key, sale) for sale in sales] + [
        (centre_key, collection(centre, serial)) for serial in returned
    ]
    gate = asyncio.Semaphore(SETUP_IN_FLIGHT)

    async def applied(key: str, event: dict) -> None:
        async with gate:
            response = await http.post("/v1/events", json=event, headers={**bearer(key), **wait()})
        assert (response.status_code, response.json()["status"]) == (200, "applied"), response.text

    await asyncio.gather(*(applied(key, event) for key, event in before))

    burst = Burst()
    for serial, amount in deposits.items():
        refund = {"amount": amount, "currency": "EUR", "method": "card"}
        event = collection(centre, serial, {"method": "card"})
        burst.add(centre_key, event, "applied", collected("refunded", refund))
    for serial in leased:
        burst.add(centre_key, collection(centre, serial), "applied", collected("lease_closed"))
    for _ in range(ORPHANS):
        burst.add(centre_key, collection(centre, unique("OLD")), "applied", collected("taken_back_free"))
    for _ in range(DUPLICATED):  # the same event twice in the burst: one decision, answered to both
        event = collection(centre, unique("OLD"))
        for _copy in range(2):
            burst.add(centre_key, event, "applied", collected("taken_back_free"))
    for serial in returned:
        burst.add(
            centre_key,
            collection(centre, serial, {"method": "cash"}),
            "rejected",
            {"reason": "already_returned"},
            serial,
        )
    for _ in range(UNKNOWN):
        serial = unique("NONE")
        transfer = unknown_transfer(haulier, serial)
        burst.add(haulier_key, transfer, "rejected", {"reason": "unknown_battery"}, serial)
    assert len(burst.requests) == WAITERS
    return burst


class MemoryWatch:
    """VmRSS of every process of the gateway, sampled while the burst runs; VmHWM read at its end."""

    def __init__(self, pid: int) -> None:
        self.pids = process_tree(pid)
        self.peak_sampled_kb = 0
        self.sampling: asyncio.Task | None = None

    def total_kb(self) -> int:
        return sum(resident_kb(self.pids).values())

    async def _sample(self) -> None:
        while True:
            self.peak_sampled_kb = max(self.peak_sampled_kb, self.total_kb())
            await asyncio.sleep(SAMPLE_S)

    def __enter__(self) -> MemoryWatch:
        self.before_kb = self.total_kb()
        self.sampling = asyncio.create_task(self._sample())
        return self

    def __exit__(self, *_) -> None:
        assert self.sampling is not None
        self.sampling.cancel()
        self.peak_kb = peak_resident_kb(self.pids)


async def waiting_now(session: aiohttp.ClientSession) -> int:
    async with session.get("/metrics") as response:
        assert response.status == 200
        found = WAITING_LINE.search(await response.read())
    assert found is not None, "/metrics has no takeback_gateway_waiting_requests"
    return int(float(found.group(1)))


async def test_a_thousand_requests_waiting_at_once_are_each_answered_with_their_outcome_in_bounded_memory(
    gateway, gateway_url, http, new_key, owner_pool
):
    enough_files()
    burst = await prepared_burst(http, new_key)
    answers: list[tuple[int, Mapping[str, str], dict, float] | None] = [None] * WAITERS
    connector = aiohttp.TCPConnector(limit=WAITERS + 10, limit_per_host=WAITERS + 10)
    timeout = aiohttp.ClientTimeout(total=WAIT_S + 60)
    async with aiohttp.ClientSession(gateway_url, connector=connector, timeout=timeout) as session:

        async def send(index: int) -> None:
            key, event, *_ = burst.requests[index]
            started = time.monotonic()
            async with session.post("/v1/events", json=event, headers={**bearer(key), **wait()}) as response:
                body = await response.json(content_type=None)
                answers[index] = (response.status, response.headers.copy(), body, time.monotonic() - started)

        with MemoryWatch(gateway.pid) as memory:
            async with owner_pool.acquire() as connection, connection.transaction():
                await connection.execute("LOCK TABLE scheme.inbox IN EXCLUSIVE MODE")  # no outcome recorded
                started = time.monotonic()
                sending = [asyncio.create_task(send(index)) for index in range(WAITERS)]
                async with aiohttp.ClientSession(gateway_url) as probe:
                    peak_waiting = 0
                    while time.monotonic() - started < ALL_WAITING_TIMEOUT_S:
                        peak_waiting = max(peak_waiting, await waiting_now(probe))
                        if peak_waiting == WAITERS or any(task.done() for task in sending):
                            break
                        await asyncio.sleep(PROBE_S)
                all_waiting_s = time.monotonic() - started
                rss_all_waiting_kb = memory.total_kb()
            await asyncio.gather(*sending)  # the lock is released: every outcome is recorded now
        answered_s = time.monotonic() - started

    statuses = Counter(answer[0] for answer in answers if answer is not None)
    peak_kb = sum(memory.peak_kb.values())
    print(
        f"\n{WAITERS} waiting with Prefer: wait={WAIT_S}: all waiting {all_waiting_s:.1f} s after the first "
        f"was sent (peak {peak_waiting} waiting), all answered {answered_s:.1f} s after; statuses "
        f"{dict(statuses)}; gateway resident {memory.before_kb / 1024:.1f} MiB before, "
        f"{rss_all_waiting_kb / 1024:.1f} MiB with all waiting, peak sampled "
        f"{memory.peak_sampled_kb / 1024:.1f} MiB, VmHWM {peak_kb / 1024:.1f} MiB "
        f"({len(memory.pids)} processes)"
    )
    assert peak_waiting == WAITERS, f"only {peak_waiting} requests waited at once"
    assert None not in answers
    assert not [status for status in statuses if status >= 500], statuses
    expired = []
    for answer, (key, event, status, outcome, in_message) in zip(answers, burst.requests, strict=True):
        assert answer is not None
        code, headers, body, seconds = answer
        assert headers.get("Preference-Applied") == f"wait={WAIT_S}", (code, body)
        if code == 202:  # only once the wait expired
            assert body == {"event_id": event["event_id"], "status": "accepted"}
            assert seconds >= WAIT_S, (seconds, body)
            expired.append((key, event, status, outcome, in_message))
            continue
        assert code == 200, (code, body)
        assert_decided(body, event, status, outcome, in_message)
    assert statuses[200] > 0, "no request was answered within its wait"

    async def read_back(key: str, event: dict) -> dict | None:
        body = (await http.get(f"/v1/events/{event['event_id']}", headers=bearer(key))).json()
        return body if body["status"] != "accepted" else None

    for key, event, status, outcome, in_message in expired:  # each expired one was still decided as expected
        body = await wait_for(lambda key=key, event=event: read_back(key, event))
        assert_decided(body, event, status, outcome, in_message)
    assert peak_kb < RSS_MAX_KB, f"the gateway peaked at {peak_kb / 1024:.1f} MiB"


def assert_decided(body: dict, event: dict, status: str, outcome: dict, in_message: str | None) -> None:
    assert (body["event_id"], body["status"]) == (event["event_id"], status), body
    if in_message is None:
        assert body["outcome"] == outcome, body
    else:
        assert {k: v for k, v in body["outcome"].items() if k != "message"} == outcome, body
        assert in_message in body["outcome"]["message"], body
