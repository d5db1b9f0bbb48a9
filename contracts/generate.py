"""Write the generated contract files: `python -m contracts.generate [--check]`.

`contracts/schemas/<type>.json` per event and `contracts/asyncapi.yaml`.
With `--check`, write nothing and exit 1 listing the files that are stale.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from contracts import topics
from contracts.schemas import asyncapi_document, event_schema, schema_file_name

CONTRACTS_DIR = Path(__file__).resolve().parent
SCHEMAS_DIR = CONTRACTS_DIR / "schemas"
ASYNCAPI_FILE = CONTRACTS_DIR / "asyncapi.yaml"


def expected_files() -> dict[Path, str]:
    """Every generated file and its exact text."""
    files = {
        SCHEMAS_DIR / schema_file_name(event_type): _json_text(event_schema(event_type))
        for event_type in topics.EVENT_TYPES
    }
    files[ASYNCAPI_FILE] = yaml.safe_dump(asyncapi_document(), sort_keys=True, allow_unicode=True, width=100)
    return files


def _json_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stale_files() -> list[Path]:
    """Generated files that are missing or differ, and schema files no event has any more."""
    expected = expected_files()
    stale = [
        path
        for path, text in expected.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    leftovers = [path for path in SCHEMAS_DIR.glob("*.json") if path not in expected]
    return sorted(stale + leftovers)


def write_files() -> list[Path]:
    """Bring every generated file up to date; return the ones written or removed."""
    changed = stale_files()
    expected = expected_files()
    SCHEMAS_DIR.mkdir(exist_ok=True)
    for path in changed:
        if path in expected:
            path.write_text(expected[path], encoding="utf-8")
        else:
            path.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 listing stale files; write nothing")
    arguments = parser.parse_args(argv)
    if arguments.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path.relative_to(CONTRACTS_DIR.parent)}")
        return 1 if stale else 0
    for path in write_files():
        print(f"updated: {path.relative_to(CONTRACTS_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
