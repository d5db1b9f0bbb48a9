"""`python -m services.gateway.openapi`: write the committed OpenAPI document from the app.

`--check` exits 1 if the committed file is stale (a unit test does the same).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from services.common.settings import Settings
from services.gateway.entrypoints.app import create_app

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")


def render() -> str:
    return json.dumps(create_app(Settings()).openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        stale = not DOCUMENT_PATH.exists() or DOCUMENT_PATH.read_text() != text
        print(
            f"{DOCUMENT_PATH} is {'stale: run python -m services.gateway.openapi' if stale else 'up to date'}"
        )
        return 1 if stale else 0
    DOCUMENT_PATH.write_text(text)
    print(f"wrote {DOCUMENT_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
