"""Database rows as JSON values: what a report body and a stored run may contain."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

MASS_QUANTUM = Decimal("0.001")  # masses are shown in kilograms with three decimals


def jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: json_value(value) for key, value in dict(row).items()}


def json_value(value: Any) -> Any:
    """Exact JSON: datetimes as RFC 3339, UUIDs as text, decimals (masses) as strings."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dict):
        return {key: json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def decimal_text(value: Decimal | None, quantum: Decimal = MASS_QUANTUM) -> str | None:
    return None if value is None else str(value.quantize(quantum))
