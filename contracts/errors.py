"""Why an event breaks the contract, in words a producer can act on."""

import json
from typing import Any
from uuid import UUID

from pydantic import ValidationError

SHOWN_INPUT_LENGTH_MAX = 60
# Rules across fields or items, whose input is the whole object or list: the message says what is wrong.
_RULES_SHOWN_WITHOUT_INPUT = (
    "balanced",
    "unique",
    "one_sided",
    "after_occurred_at",
    "not_above_input",
)


class ContractViolation(Exception):
    """An event the scheme refuses; `reason` is a rejection code of the contract."""

    def __init__(
        self,
        reason: str,
        message: str,
        event_id: UUID | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.event_id = event_id
        self.errors = errors or []  # for schema_violation: one {field, rule, message} per failing field


def format_errors(error: ValidationError) -> list[dict[str, str]]:
    """One {field, rule, message} per failing field; field is a dotted path like `data.items.0.deposit`."""
    described = []
    for detail in error.errors(include_url=False):
        rule, message, show_input = _describe(detail)
        if show_input:
            message = f"{message} (got {_show(detail['input'])})"
        # A rule that spans the envelope and its data names the field it refuses (`ctx["field"]`).
        field = (
            (detail.get("ctx") or {}).get("field")
            or ".".join(str(part) for part in detail["loc"])
            or "(event)"
        )
        described.append({"field": field, "rule": rule, "message": message})
    return described


def summarize(errors: list[dict[str, str]]) -> str:
    """`field: message; field: message` for a person to read."""
    return "; ".join(f"{error['field']}: {error['message']}" for error in errors)


def _describe(detail: Any) -> tuple[str, str, bool]:
    kind, context = detail["type"], detail.get("ctx") or {}
    if kind == "missing":
        return "required", "is required", False
    if kind == "extra_forbidden":
        return "unknown_field", "is not a field of this event", False
    if kind == "literal_error":
        return "one_of", f"must be one of {context.get('expected')}", True
    if kind in ("too_short", "too_long"):
        bound = (
            f"at least {context['min_length']}" if kind == "too_short" else f"at most {context['max_length']}"
        )
        return "length", f"must have {bound} item(s) (got {context.get('actual_length')})", False
    if kind in ("string_too_short", "string_too_long"):
        return "length", detail["msg"].replace("String should have", "must have"), True
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "object", "must be a JSON object", True
    if kind == "list_type":
        return "array", "must be a JSON array", True
    if kind in ("int_type", "string_type"):
        return kind.removesuffix("_type"), f"must be a JSON {kind.removesuffix('_type')}", True
    if kind == "greater_than_equal":
        return "minimum", f"must be >= {context.get('ge')}", True
    return kind, detail["msg"], kind not in _RULES_SHOWN_WITHOUT_INPUT


def _show(value: Any) -> str:
    shown = json.dumps(value, default=str, ensure_ascii=False)
    if len(shown) > SHOWN_INPUT_LENGTH_MAX:
        return shown[: SHOWN_INPUT_LENGTH_MAX - 3] + "..."
    return shown
