"""The read models the gateway serves, wired to the streams' and the ledger's own query functions.

The gateway's service layer asks for them through its port (`ports.ReadModels`); this
module, part of the wiring (`bootstrap.py`), is the one place the gateway names another
service's code, and it names it by import, where the import graph sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from contracts.queries import ListQuery, Period
from services.common.settings import Settings
from services.ledger.service_layer import reports
from services.ledger.service_layer.balances import balances as read_balances
from services.ledger.service_layer.discrepancies import discrepancies as read_discrepancies
from services.ledger.service_layer.reconciliation import input_offsets, reconcile
from streams.views import battery_view


@dataclass(frozen=True)
class PostgresReadModels:
    pool: asyncpg.Pool
    settings: Settings

    async def battery(self, serial: str) -> dict | None:
        return await battery_view(self.pool, serial)

    async def balances(self, as_of: datetime | None) -> dict:
        return await read_balances(self.pool, as_of=as_of)

    async def reconcile(self) -> dict:
        return await reconcile(self.pool, input_offsets(self.settings))

    async def collection(self, year: int | None, category: str | None) -> dict:
        return await reports.collection_report(self.pool, year=year, category=category)

    async def collection_by_weight(self, year: int | None, category: str | None, by_country: bool) -> dict:
        return await reports.collection_by_weight(self.pool, year, category, by_country)

    async def recycling_efficiency(self, year: int | None) -> dict:
        return await reports.recycling_efficiency(self.pool, year)

    async def passport(self, serial: str) -> dict | None:
        return await reports.passport(self.pool, serial)

    async def recovery(self, year: int | None) -> dict:
        return await reports.recovery_report(self.pool, year=year)

    async def liability_by_age(self) -> dict:
        return await reports.liability_by_age(self.pool)

    async def fund_adequacy(self) -> dict:
        return await reports.fund_adequacy(self.pool)

    async def settlement(self, period: Period) -> dict:
        return await reports.settlement(self.pool, period)

    async def discrepancies(self, query: ListQuery) -> dict:
        return await read_discrepancies(self.pool, query)
