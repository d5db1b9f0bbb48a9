"""The coverage phase of `POST /v1/events` (schemathesis), against the live gateway: every check of the
document, as `test_gateway_api_properties.py` runs every other phase and operation.

Slow: its cases are built while it is collected (78 s for that body), so `tests/conftest.py` collects this
module only when slow tests are selected: `.venv/bin/python -m pytest -m slow
tests/integration/test_gateway_events_coverage.py`.
"""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from tests.integration.test_gateway_api_properties import (  # noqa: F401 (fixtures)
    CHECKS,
    DOCUMENT,
    HYPOTHESIS,
    POST_EVENTS,
    call_and_validate,
    keys,
)
from tests.integration.test_gateway_support import gateway, gateway_url  # noqa: F401

pytestmark = pytest.mark.slow

COVERAGE_ONLY = SchemathesisConfig.from_dict(
    {
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": False},
            "stateful": {"enabled": False},
        },
        "checks": CHECKS,
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=COVERAGE_ONLY).include(name=POST_EVENTS)


@schema.parametrize()
@HYPOTHESIS
def test_the_coverage_phase_of_posting_an_event(case, gateway_url, keys):  # noqa: F811
    call_and_validate(case, gateway_url, keys)
