"""What `scripts/check` types (mypy, strict): `contracts/` and every `domain/` package (issue 18 item 2)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def domains() -> list[str]:
    return sorted(
        str(path.relative_to(ROOT))
        for package in ("streams", "services", "infra")
        for path in (ROOT / package).rglob("domain")
        if path.is_dir() and (path / "__init__.py").exists()
    )


def test_mypy_files_name_contracts_and_every_domain():
    """A bare `mypy` (pyproject's `files`) types what `scripts/check` types: no domain left out."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True
    assert sorted(config["files"]) == sorted(["contracts", *domains()])
