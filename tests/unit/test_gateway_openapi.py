"""The committed OpenAPI document is the app's, and it covers contract section 6."""
from __future__ import annotations

import json

from services.gateway.openapi import DOCUMENT_PATH, render

CONTRACT_OPERATIONS = {
    ("post", "/v1/events"), ("get", "/v1/batteries/{serial}"), ("get", "/v1/finance/balances"),
    ("get", "/v1/finance/reconciliation"), ("get", "/v1/reports/collection"), ("get", "/v1/reports/recovery"),
    ("get", "/healthz"), ("get", "/metrics"),
}


def test_the_committed_document_is_not_stale():
    assert DOCUMENT_PATH.read_text() == render(), "run: python -m services.gateway.openapi"


def test_every_operation_of_the_contract_is_documented_with_its_refusals():
    document = json.loads(DOCUMENT_PATH.read_text())
    operations = {(method, path) for path, item in document["paths"].items() for method in item}
    assert operations == CONTRACT_OPERATIONS
    post = document["paths"]["/v1/events"]["post"]
    assert {"202", "400", "401", "403", "413"} <= set(post["responses"])
    assert len(post["requestBody"]["content"]["application/json"]["schema"]["oneOf"]) == 8
    assert not any("422" in item[m]["responses"] for item in document["paths"].values() for m in item)
