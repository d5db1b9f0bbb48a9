"""Reads for key holders: a battery (any key), the books and the reports (finance keys).

The read models belong to the streams and the ledger; this layer reaches them through
its port (`ports.ReadModels`), which the gateway's wiring provides.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from contracts.queries import InvalidPeriod, ListQuery, Period, Position
from services.gateway.domain.authorisation import authorise_battery_reading, authorise_finance_reading
from services.gateway.domain.errors import InvalidRequest, NotFound
from services.gateway.domain.keys import KeyHolder
from services.gateway.service_layer.ports import ReadModels
from services.gateway.service_layer.reconciliation_runs import ReconciliationRunner


async def battery(models: ReadModels, holder: KeyHolder, serial: str) -> dict:
    authorise_battery_reading(holder)
    view = await models.battery(serial)
    if view is None:
        raise NotFound("unknown_battery", f"no battery with serial {serial!r} is known to the scheme")
    return view


async def balances(models: ReadModels, holder: KeyHolder, as_of: datetime | None) -> dict:
    authorise_finance_reading(holder)
    assert as_of is None or as_of.utcoffset() is not None, "as_of is checked to be timezone-aware at the edge"
    return await models.balances(as_of)


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
    body = (
        run.as_dict()
        if run is not None
        else {
            "run_id": str(run_id),
            "state": "completed",
            "requested_at": None,
            "started_at": None,
            "finished_at": None,
            "error": None,
        }
    )
    return {**body, "result": stored}


async def passport(models: ReadModels, holder: KeyHolder, serial: str) -> dict:
    """The battery passport (contract 8.3): readable by every key that may read the battery."""
    authorise_battery_reading(holder)
    body = await models.passport(serial)
    if body is None:
        raise NotFound("unknown_battery", f"no battery with serial {serial!r} is known to the scheme")
    return body


async def collection_report(
    models: ReadModels,
    holder: KeyHolder,
    year: int | None,
    category: str | None,
    basis: str = "count",
    by: str | None = None,
) -> dict:
    """By count (the section 6 body, unchanged) or, with basis `weight`, by kilograms (contract 8.3);
    `by=country` breaks the weight basis down by country."""
    authorise_finance_reading(holder)
    if by is not None and basis != "weight":
        raise InvalidRequest(
            "invalid_request",
            "query.by: by=country needs basis=weight (the count basis has no country)",
            [
                {
                    "field": "query.by",
                    "rule": "needs_weight_basis",
                    "message": "by=country needs basis=weight (the count basis has no country)",
                }
            ],
        )
    if basis == "weight":
        return await models.collection_by_weight(year, category, by == "country")
    return await models.collection(year, category)


async def recycling_efficiency(models: ReadModels, holder: KeyHolder, year: int | None) -> dict:
    authorise_finance_reading(holder)
    return await models.recycling_efficiency(year)


async def recovery_report(models: ReadModels, holder: KeyHolder, year: int | None) -> dict:
    authorise_finance_reading(holder)
    return await models.recovery(year)


async def settlement(models: ReadModels, holder: KeyHolder, start: datetime, end: datetime) -> dict:
    """Each counterparty's statement over [start, end) of the entries' occurred_at (contract 8.1)."""
    authorise_finance_reading(holder)
    try:
        period = Period(start, end)
    except InvalidPeriod as error:
        raise InvalidRequest(
            "invalid_request",
            f"query.to: {error}",
            [{"field": "query.to", "rule": error.rule, "message": str(error)}],
        ) from None
    return await models.settlement(period)


async def discrepancies(
    models: ReadModels,
    holder: KeyHolder,
    status: str | None = None,
    kind: str | None = None,
    limit: int | None = None,
    after: Position | None = None,
) -> dict:
    """One page of the discrepancies, newest first, each with its resolution (contract 8.1)."""
    authorise_finance_reading(holder)
    query = (
        ListQuery(status, kind, limit, after) if limit is not None else ListQuery(status, kind, after=after)
    )
    return await models.discrepancies(query)


async def liability_by_age(models: ReadModels, holder: KeyHolder) -> dict:
    authorise_finance_reading(holder)
    return await models.liability_by_age()


async def fund_adequacy(models: ReadModels, holder: KeyHolder) -> dict:
    authorise_finance_reading(holder)
    return await models.fund_adequacy()
