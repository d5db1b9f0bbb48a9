"""Property-based tests generated from the committed OpenAPI document (schemathesis), against the live
gateway with valid keys: whatever is sent, no answer is a server error, and every answer is documented."""
from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from services.gateway.adapters.key_repository import PostgresKeyRepository
from services.gateway.openapi import DOCUMENT_PATH
from services.gateway.service_layer import reads
from services.gateway.service_layer.keys import create_key
from tests.conftest import unique
from tests.integration.test_gateway_support import bearer, gateway, gateway_url  # noqa: F401

EXAMPLES_PER_OPERATION_MAX = 30
PATH_OF_READ = {"balances": "/v1/finance/balances", "reconciliation": "/v1/finance/reconciliation",
                "collection": "/v1/reports/collection", "recovery": "/v1/reports/recovery"}
NOT_WIRED = [path for read, path in PATH_OF_READ.items() if not reads.is_wired(read)]
# No parameter to vary, and each run reconciles the whole scheme (seconds): test_gateway_reads covers it.
WITHOUT_INPUT_AND_HEAVY = ["/v1/finance/reconciliation"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# The coverage phase enumerates boundary cases of every schema at collection time: over a minute for
# the event bodies alone. Hypothesis' generation (fuzzing) and the documented examples stay on.
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
schema = schemathesis.openapi.from_dict(json.loads(DOCUMENT_PATH.read_text()), config=CONFIG)
schema = schema.exclude(path=NOT_WIRED + WITHOUT_INPUT_AND_HEAVY)


@pytest.fixture(scope="module")
async def keys(owner_pool):
    repository = PostgresKeyRepository(owner_pool)  # the owner role makes keys
    store_key, _ = await create_key(repository, "pos", unique("store"))
    finance_key, _ = await create_key(repository, "finance", unique("finance"))
    return {"POST": store_key, "GET": finance_key}


def test_endpoints_not_yet_wired_are_left_out():
    if NOT_WIRED:
        pytest.skip(f"read models not in this build, left out of the property tests: {', '.join(NOT_WIRED)}")


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION_MAX, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_server_error_and_every_answer_documented(case, gateway_url, keys):
    case.call_and_validate(base_url=gateway_url, headers=bearer(keys.get(case.method.upper(), keys["GET"])), checks=CHECKS,
                           timeout=30)
