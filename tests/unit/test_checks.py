"""The habits CI relies on (issue 18): what `scripts/check` types (mypy, strict: `contracts/` and every
`domain/`), and the lock `scripts/setup` installs (every package pinned and hashed, every bound two-sided)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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


def locked() -> dict[str, tuple[str, int]]:
    """requirements.lock: name -> (pinned version, number of hashes)."""
    pins: dict[str, tuple[str, int]] = {}
    name = ""
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==(\S+)( \\)?", line)
            assert match, f"requirements.lock: {line!r} is not one pinned package"
            name = canonicalize_name(match[1])
            pins[name] = (match[3], 0)
        elif "--hash=sha256:" in line:
            pins[name] = (pins[name][0], pins[name][1] + 1)
    return pins


def declared() -> list[Requirement]:
    """What pyproject.toml asks for: the dependencies, the test extra and the build backend."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    texts = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["test"],
        *project["build-system"]["requires"],
    ]
    return [Requirement(text) for text in texts]


def test_every_locked_package_is_pinned_with_its_hashes():
    pins = locked()
    assert {"pip", "setuptools"} <= set(pins), "the installer and the build backend are locked too"
    assert [name for name, (_version, hashes) in pins.items() if hashes == 0] == []


def test_every_declared_dependency_is_bounded_on_both_sides_and_locked_within_its_bounds():
    pins = locked()
    for requirement in declared():
        operators = {spec.operator for spec in requirement.specifier}
        assert "==" in operators or (operators & {">=", ">", "~="} and operators & {"<", "<=", "~="}), (
            f"{requirement} has no upper or no lower bound"
        )
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock: run scripts/lock"
        assert requirement.specifier.contains(pins[name][0]), f"{requirement.name}=={pins[name][0]}"


def test_setup_installs_only_the_lock_with_hashes():
    """A fresh clone installs exactly the lock: hashes required, wheels only, the project built with the
    locked backend; no other `pip install` fetches anything."""
    installs = re.findall(
        r"\.venv/bin/python -m pip install [^)\n]*?(?= 2>&1|\)|\n)", (ROOT / "scripts/setup").read_text()
    )
    installs = [command.strip() for command in installs]
    assert installs == [
        ".venv/bin/python -m pip install -q --require-hashes --only-binary :all: -r requirements.lock",
        ".venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .",
    ]
