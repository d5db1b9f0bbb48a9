"""Property-based tests generated from the committed OpenAPI document (schemathesis), against the live
gateway with a finance key and a POS key: every phase (examples, coverage, fuzzing, stateful) and every
check of the document (no 5xx, every answer documented and of its schema and headers, data the schema calls
valid is accepted, data it calls invalid is refused).

The coverage phase of `POST /v1/events` is the one part marked slow (`test_gateway_events_coverage.py`):
schemathesis builds its cases while the suite is collected, and for that body (every event type, each a
choice of shapes) it took 78 s of the suite's 10 minutes (`pytest --collect-only`, measured alone against 2 s
for any other operation). Its examples and fuzzing phases stay in the default suite, with every check, and
every refusal of an event has tests of its own (`test_gateway_events.py`, `test_gateway_limits.py`)."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation

from services.common.db import create_pool
from services.gateway.adapters.key_repository import PostgresKeyRepository
from services.gateway.openapi import DOCUMENT_PATH
from services.gateway.service_layer.keys import create_key
from tests.conftest import unique
from tests.integration.test_gateway_support import bearer, gateway, gateway_url  # noqa: F401

EXAMPLES_PER_OPERATION_MAX = 30
STATEFUL_EXAMPLES_MAX = 20
STATEFUL_STEPS_MAX = 6
# Limits out of the way: a 429 is documented, but would hide every other answer.
GATEWAY_ENV = {
    "TAKEBACK_HTTP_BODY_MAX_BYTES": str(256 * 1024),
    "TAKEBACK_HTTP_KEY_RATE_PER_S": "100000",
    "TAKEBACK_HTTP_KEY_BURST": "100000",
    "TAKEBACK_HTTP_AUTH_FAILURE_RATE_PER_S": "100000",
    "TAKEBACK_HTTP_AUTH_FAILURE_BURST": "100000",
}
FINANCE_PATHS = ("/v1/finance/", "/v1/reports/")
HYPOTHESIS = settings(
    max_examples=EXAMPLES_PER_OPERATION_MAX,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)

# 413 is a refusal too: the body limit (TAKEBACK_HTTP_BODY_MAX_BYTES, declared on POST /v1/events) is not
# a rule JSON Schema can state, and the coverage phase sends arrays of their maximum length and more.
REFUSED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]
CHECKS = {
    "negative_data_rejection": {"expected-statuses": REFUSED},
    "positive_data_acceptance": {"expected-statuses": ACCEPTED},
}
POST_EVENTS = "POST /v1/events"
CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {  # every phase, as the defaults have them (said, not assumed)
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True, "max-steps": STATEFUL_STEPS_MAX},
        },
        "operations": [{"include-name": POST_EVENTS, "phases": {"coverage": {"enabled": False}}}],  # slow
        "checks": CHECKS,
    }
)
DOCUMENT = json.loads(DOCUMENT_PATH.read_text())
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@pytest.fixture(scope="module")
async def keys(stack, settings):
    """A POS key (events, batteries) and a finance key (the books, reports, reconciliation runs)."""
    owner = await create_pool(settings.database_owner_url, max_size=1)  # the owner makes keys
    try:
        repository = PostgresKeyRepository(owner)
        store_key, _ = await create_key(repository, "pos", unique("store"))
        finance_key, _ = await create_key(repository, "finance", unique("finance"))
    finally:
        await owner.close()
    return {"pos": store_key, "finance": finance_key}


def key_for(case, keys) -> str:
    return keys["finance"] if case.path.startswith(FINANCE_PATHS) else keys["pos"]


def auth_for(case, keys) -> dict:
    """The key's header, unless the case was made to break the headers (e.g. without Authorization): adding
    the key back would turn that invalid request into a valid one, which the gateway rightly accepts."""
    meta = case.meta
    if (
        meta is not None
        and meta.is_negative_at(ParameterLocation.HEADER)
        and "Authorization" not in (case.headers or {})
    ):
        return {}
    return bearer(key_for(case, keys))


# Rules no schema can state: one between two values (a period's `to` after its `from`), of an opaque one (a
# list's `cursor` is only ever the `next_cursor` the list wrote), or a real calendar day in a form the
# document's pattern does state (`period_bound`: 2026-02-31). A request the schema allows may break them:
# its 400 names the rule, and is judged by every other check. So are the rules between two fields of an event
# (contract 8.3: a recycling output above its input), and the one between two parameters of the collection
# report (`by=country` needs `basis=weight`).
RULES_NO_SCHEMA_STATES = {
    "period_order",
    "cursor",
    "period_bound",
    "not_above_input",
    "needs_weight_basis",
}


def broken_rules(response) -> set[str]:
    if response.status_code != 400:
        return set()
    try:
        return {error["rule"] for error in response.json()["errors"]}
    except (ValueError, KeyError, TypeError):
        return set()


def call_and_validate(case, gateway_url, keys) -> None:
    response = case.call(base_url=gateway_url, headers=auth_for(case, keys), timeout=30)
    rules = broken_rules(response)
    excluded = [positive_data_acceptance] if rules and rules <= RULES_NO_SCHEMA_STATES else None
    case.validate_response(response, excluded_checks=excluded)


@schema.parametrize()
@HYPOTHESIS
def test_no_server_error_and_every_answer_documented(case, gateway_url, keys):
    call_and_validate(case, gateway_url, keys)


def test_sequences_of_calls_keep_to_the_document(gateway_url, keys):
    """The stateful phase: calls chained by the document's links (a run asked for, then followed)."""

    class GatewayMachine(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"base_url": gateway_url, "headers": auth_for(case, keys), "timeout": 30}

    GatewayMachine.run(
        settings=settings(
            HYPOTHESIS, max_examples=STATEFUL_EXAMPLES_MAX, stateful_step_count=STATEFUL_STEPS_MAX
        )
    )
