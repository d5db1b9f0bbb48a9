"""Reads for key holders: a battery (any key), the books and the reports (finance keys).

The read models belong to the streams and the ledger; they are imported when first
called, so the gateway starts (and says 501 for that endpoint) even in a build that
lacks one of them.
"""
from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.queries import InvalidPeriod, ListQuery, Period, Position
from services.common.settings import Settings
from services.gateway.domain.authorisation import authorise_battery_reading, authorise_finance_reading
from services.gateway.domain.errors import InvalidRequest, NotFound, NotWiredYet
from services.gateway.domain.keys import KeyHolder
from services.gateway.service_layer.reconciliation_runs import ReconciliationRunner

# Where each read model lives: (module, function).
READ_MODELS: dict[str, tuple[str, str]] = {
    "battery": ("streams.views", "battery_view"),
    "balances": ("services.ledger.service_layer.balances", "balances"),
    "reconciliation": ("services.ledger.service_layer.reconciliation", "reconcile"),
    "collection": ("services.ledger.service_layer.reports", "collection_report"),
    "recovery": ("services.ledger.service_layer.reports", "recovery_report"),
    "liability_by_age": ("services.ledger.service_layer.reports", "liability_by_age"),  # the console's pages
    "fund_adequacy": ("services.ledger.service_layer.reports", "fund_adequacy"),
    "settlement": ("services.ledger.service_layer.settlement", "settlement"),
    "discrepancies": ("services.ledger.service_layer.discrepancies", "discrepancies"),
}


def read_model(name: str) -> Callable[..., Any]:
    module_name, function_name = READ_MODELS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is None or not module_name.startswith(error.name):
            raise  # a module that exists but fails to import is a bug, not a missing read model
        module = None
    function = getattr(module, function_name, None)
    if function is None:
        raise NotWiredYet("not_wired_yet", f"{module_name}.{function_name} is not part of this build")
    return function


def is_wired(name: str) -> bool:
    try:
        read_model(name)
    except NotWiredYet:
        return False
    return True


async def battery(pool: asyncpg.Pool, holder: KeyHolder, serial: str) -> dict:
    authorise_battery_reading(holder)
    view = await read_model("battery")(pool, serial)
    if view is None:
        raise NotFound("unknown_battery", f"no battery with serial {serial!r} is known to the scheme")
    return view


async def balances(pool: asyncpg.Pool, holder: KeyHolder, as_of: datetime | None) -> dict:
    authorise_finance_reading(holder)
    assert as_of is None or as_of.utcoffset() is not None, "as_of is checked to be timezone-aware at the edge"
    return await read_model("balances")(pool, as_of=as_of)


async def reconciliation(runner: ReconciliationRunner, holder: KeyHolder) -> dict:
    """The latest completed run (made now if there is none yet): never a run per request."""
    authorise_finance_reading(holder)
    return await runner.latest_or_made_now()


def request_reconciliation(runner: ReconciliationRunner, holder: KeyHolder) -> dict:
    """A fresh run, queued (or the one already queued): its state, to follow at its URL."""
    authorise_finance_reading(holder)
    return runner.request().as_dict()


async def reconciliation_run(runner: ReconciliationRunner, holder: KeyHolder, run_id: UUID) -> dict:
    """A run's state, and its result once completed: one made here, or any stored (the ledger's too)."""
    authorise_finance_reading(holder)
    run = runner.find(run_id)
    stored = await runner.runs.get(run_id) if run is None or run.state == "completed" else None
    if run is None and stored is None:
        raise NotFound("unknown_run", f"no reconciliation run {run_id} is known to this gateway or stored")
    body = run.as_dict() if run is not None else {
        "run_id": str(run_id), "state": "completed", "requested_at": None, "started_at": None,
        "finished_at": None, "error": None}
    return {**body, "result": stored}


def reconciler(pool: asyncpg.Pool, settings: Settings) -> Callable[[], Awaitable[dict]]:
    """A reconciliation of the books against the scheme, as the ledger's leader runs it: incremental from the
    latest stored run when that is a sound start, full otherwise (the body's `scope` says which, and why)."""
    async def reconcile_now() -> dict:
        reconcile = read_model("reconciliation")
        inputs = importlib.import_module(READ_MODELS["reconciliation"][0]).input_offsets(settings)
        return await reconcile(pool, inputs)
    return reconcile_now


async def collection_report(pool: asyncpg.Pool, holder: KeyHolder, year: int | None, category: str | None) -> dict:
    authorise_finance_reading(holder)
    return await read_model("collection")(pool, year=year, category=category)


async def recovery_report(pool: asyncpg.Pool, holder: KeyHolder, year: int | None) -> dict:
    authorise_finance_reading(holder)
    return await read_model("recovery")(pool, year=year)


async def settlement(pool: asyncpg.Pool, holder: KeyHolder, start: datetime, end: datetime) -> dict:
    """Each counterparty's statement over [start, end) of the entries' occurred_at (contract 8.1)."""
    authorise_finance_reading(holder)
    try:
        period = Period(start, end)
    except InvalidPeriod as error:
        raise InvalidRequest("invalid_request", f"query.to: {error}",
                             [{"field": "query.to", "rule": error.rule, "message": str(error)}]) from None
    return await read_model("settlement")(pool, period)


async def discrepancies(pool: asyncpg.Pool, holder: KeyHolder, status: str | None = None, kind: str | None = None,
                        limit: int | None = None, after: Position | None = None) -> dict:
    """One page of the discrepancies, newest first, each with its resolution (contract 8.1)."""
    authorise_finance_reading(holder)
    query = ListQuery(status, kind, limit, after) if limit is not None else ListQuery(status, kind, after=after)
    return await read_model("discrepancies")(pool, query)
