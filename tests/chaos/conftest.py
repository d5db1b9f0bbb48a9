"""The chaos soak runs after everything else, even after the other tests that restart the stack."""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.get_closest_marker("chaos") is not None)
