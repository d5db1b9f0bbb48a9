"""Reads for key holders: a battery (any key), the books and the reports (finance keys).

The read models belong to the streams and the ledger; they are imported when first
called, so the gateway starts (and says 501 for that endpoint) even in a build that
lacks one of them.
"""
from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any, Callable

import asyncpg

from services.gateway.domain.authorisation import authorise_battery_reading, authorise_finance_reading
from services.gateway.domain.errors import NotFound, NotWiredYet
from services.gateway.domain.keys import KeyHolder

# Where each read model lives: (module, function).
READ_MODELS: dict[str, tuple[str, str]] = {
    "battery": ("streams.views", "battery_view"),
    "balances": ("services.ledger.service_layer.balances", "balances"),
    "reconciliation": ("services.ledger.service_layer.reconciliation", "reconcile"),
    "collection": ("services.ledger.service_layer.reports", "collection_report"),
    "recovery": ("services.ledger.service_layer.reports", "recovery_report"),
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


async def reconciliation(pool: asyncpg.Pool, holder: KeyHolder) -> dict:
    authorise_finance_reading(holder)
    return await read_model("reconciliation")(pool)


async def collection_report(pool: asyncpg.Pool, holder: KeyHolder, year: int | None, category: str | None) -> dict:
    authorise_finance_reading(holder)
    return await read_model("collection")(pool, year=year, category=category)


async def recovery_report(pool: asyncpg.Pool, holder: KeyHolder, year: int | None) -> dict:
    authorise_finance_reading(holder)
    return await read_model("recovery")(pool, year=year)
