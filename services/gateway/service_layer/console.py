"""The finance console's use cases: logging in with a finance key, the session's holder, each page's figures.

Every page reads through the same service-layer functions as the HTTP API (`reads`),
with the same finance-only authorisation, so the console shows exactly what the API
serves. The two reports the API does not serve (liability by age, fund adequacy) are
the ledger's own use cases, the ones `takeback report` prints, read through the same
port (`ports.ReadModels`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.queries import Position
from services.gateway.domain.authorisation import authorise_finance_reading
from services.gateway.domain.console_session import ConsoleSession
from services.gateway.domain.keys import KeyHolder
from services.gateway.service_layer import reads
from services.gateway.service_layer.authentication import KeyVerifier
from services.gateway.service_layer.ports import KeyRepository, ReadModels
from services.gateway.service_layer.reconciliation_runs import ReconciliationRunner


async def login(keys: KeyVerifier, presented: str | None) -> KeyHolder:
    """A valid finance key's holder; `Unauthenticated` (401) for a bad key, `Forbidden` (403) for others."""
    holder = await keys.verify(presented)
    authorise_finance_reading(holder)
    return holder


async def session_holder(repository: KeyRepository, session: ConsoleSession | None) -> KeyHolder | None:
    """Whom a signed session speaks for: its key, still known, not revoked and finance; else nobody."""
    if session is None:
        return None
    stored = await repository.get(session.key_id)
    if stored is None or stored.revoked_at is not None or stored.role != "finance":
        return None
    return stored.holder()


async def reconciliation(runner: ReconciliationRunner, holder: KeyHolder) -> dict:
    return await reads.reconciliation(runner, holder)


async def balances(models: ReadModels, holder: KeyHolder) -> dict:
    return await reads.balances(models, holder, None)


async def liability_by_age(models: ReadModels, holder: KeyHolder) -> dict:
    return await reads.liability_by_age(models, holder)


async def fund_adequacy(models: ReadModels, holder: KeyHolder) -> dict:
    return await reads.fund_adequacy(models, holder)


async def targets(models: ReadModels, holder: KeyHolder) -> dict[str, Any]:
    """Collection (by count and by weight), recovery and recycling efficiency, every year, as
    `GET /v1/reports/collection`, `/recovery` and `/recycling-efficiency` serve them."""
    return {
        "collection": await reads.collection_report(models, holder, None, None),
        "collection_weight": await reads.collection_report(models, holder, None, None, "weight"),
        "recovery": await reads.recovery_report(models, holder, None),
        "efficiency": await reads.recycling_efficiency(models, holder, None),
    }


async def settlement(models: ReadModels, holder: KeyHolder, start: datetime, end: datetime) -> dict:
    return await reads.settlement(models, holder, start, end)


async def discrepancies(
    models: ReadModels, holder: KeyHolder, status: str | None, kind: str | None, after: Position | None
) -> dict:
    return await reads.discrepancies(models, holder, status, kind, None, after)


async def battery(models: ReadModels, holder: KeyHolder, serial: str) -> dict:
    authorise_finance_reading(holder)
    return await reads.battery(models, holder, serial)


async def passport(models: ReadModels, holder: KeyHolder, serial: str) -> dict:
    """The battery's passport (contract 8.3), as `GET /v1/batteries/{serial}/passport` serves it."""
    authorise_finance_reading(holder)
    return await reads.passport(models, holder, serial)
