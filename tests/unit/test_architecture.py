"""The rooms of docs/ARCHITECTURE.md and what each may import: the table there is the rule, read here."""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from contracts.data_out import EntryLine
from contracts.posting_structs import LineWire
from contracts.postings import Line, PostingLine

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contracts", "streams", "services", "infra")
ANY_ROOM = "any room"


def rules(text: str) -> dict[str, set[str] | None]:
    """room -> the rooms it may import (None: any), from the table under "Rooms and what each may import"."""
    section = text.split("## Rooms and what each may import", 1)[1]
    found: dict[str, set[str] | None] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        room = cells[0].strip("`")
        found[room] = None if ANY_ROOM in cells[1] else set(re.findall(r"`([a-z_.]+)`", cells[1]))
    return found


RULES = rules((ROOT / "docs" / "ARCHITECTURE.md").read_text())


def room_of(module: str) -> str | None:
    """The most specific room whose prefix the module falls under."""
    best = None
    for room in RULES:
        if (module == room or module.startswith(room + ".")) and (best is None or len(room) > len(best)):
            best = room
    return best


def allowed(importer_room: str, imported: str) -> bool:
    permitted = RULES[importer_room]
    if permitted is None:
        return True
    target = room_of(imported)
    if target == importer_room:
        return True
    return any(imported == p or imported.startswith(p + ".") or target == p for p in permitted)


def source_of(node: ast.ImportFrom, module: str, path: Path) -> str:
    """The absolute name `from X import ...` imports from, a relative X resolved against the module."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join(package + ([node.module] if node.module else []))


def project_imports(path: Path, module: str) -> list[tuple[int, str]]:
    """Every import of the project's own packages in a file, at any depth (functions too); a relative
    import (`from ..adapters import x`) as the absolute name it stands for."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = source_of(node, module, path)
            names = [source] if node.module else [f"{source}.{a.name}" for a in node.names]
        found += [(node.lineno, name) for name in names if name.split(".")[0] in PACKAGES]
    return found


def modules() -> list[tuple[str, Path]]:
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return out


def violations() -> list[str]:
    found = []
    for module, path in modules():
        if module == "services":
            continue  # the folder that holds the services, not a room
        room = room_of(module)
        if room is None:
            found.append(f"{module}: in no room of docs/ARCHITECTURE.md")
            continue
        for line, imported in project_imports(path, module):
            if not allowed(room, imported):
                found.append(f"{path.relative_to(ROOT)}:{line}: {room} may not import {imported}")
    return found


def test_the_table_names_every_room_the_diagram_draws():
    for room in (
        "contracts",
        "services.common",
        "streams.domain",
        "services.ledger.domain",
        "services.gateway.domain",
        "services.gateway.service_layer",
        "services.cli",
    ):
        assert room in RULES


def test_every_module_imports_only_what_its_room_allows():
    assert violations() == []


@pytest.mark.parametrize(
    "importer, imported",
    [
        ("services.gateway.service_layer.reads", "services.ledger.service_layer.balances"),
        ("streams.domain.battery", "streams.adapters.repository"),
        ("services.ledger.domain.journal", "services.common.db"),
        ("contracts.events", "services.common.settings"),
        ("services.common.db", "streams.views"),
        ("streams.service_layer.handlers", "services.gateway.domain.keys"),
    ],
)
def test_a_forbidden_import_is_caught(importer, imported):
    assert not allowed(room_of(importer), imported)


@pytest.mark.parametrize(
    "importer, imported",
    [
        ("streams.service_layer.batch", "streams.adapters.repository"),
        ("services.ledger.adapters.journal_repository", "services.ledger.domain.journal"),
        ("services.cli.report", "services.ledger.service_layer.balances"),
        ("streams.adapters.repository", "streams.service_layer.state"),
    ],
)
def test_an_allowed_import_passes(importer, imported):
    assert allowed(room_of(importer), imported)


@pytest.mark.parametrize(
    "source, line",
    [
        ("def f():\n    from streams.adapters import repository\n", 2),  # inside a function
        ("from ..adapters import repository\nfrom . import battery\n", 1),  # relative
    ],
)
def test_a_forbidden_import_in_a_file_is_reported(tmp_path, monkeypatch, source, line):
    """The whole check, on a file that breaks the rule: the violation names the file, the line and the
    rule."""
    domain = tmp_path / "streams" / "domain"
    domain.mkdir(parents=True)
    (domain / "bad.py").write_text(source)
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert violations() == [f"streams/domain/bad.py:{line}: streams.domain may not import streams.adapters"]


def import_graph() -> dict[str, set[str]]:
    """module -> the project's modules it imports, at any depth (functions too). `from package import
    name` is an edge to the submodule when `name` is one, else to the package."""
    found = dict(modules())
    graph: dict[str, set[str]] = {module: set() for module in found}
    for module, path in found.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = source_of(node, module, path)
                targets = [
                    f"{source}.{a.name}" if f"{source}.{a.name}" in found else source for a in node.names
                ]
            for target in targets:
                while target and target not in found:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    graph[module].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(found)


def test_no_import_circle():
    """No two modules of the project import each other, directly or round a longer loop (the command
    line's `main` and its commands once did, to register them)."""
    assert circles(import_graph()) == []


def test_an_import_circle_is_found(tmp_path, monkeypatch):
    cli = tmp_path / "services" / "cli"
    cli.mkdir(parents=True)
    (cli / "main.py").write_text("def main():\n    from services.cli import report\n")
    (cli / "report.py").write_text("from services.cli.main import main\n")
    (cli / "app.py").write_text("from . import report\n")
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert circles(import_graph()) == [["services.cli.main", "services.cli.report"]]


def test_no_module_loads_the_project_by_name():
    """An import by string (importlib, __import__) would hide an edge from the rule above."""
    found = []
    for _module, path in modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                if name in ("import_module", "__import__"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def string_literals(path: Path) -> list[tuple[int, str]]:
    """Every string literal of a file but its docstrings, an f-string as one text (`{}` for each value)."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found, parts = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts.update(id(value) for value in node.values)
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            found.append((node.lineno, text))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and id(node) not in parts
        ):
            found.append((node.lineno, node.value))
    return sorted(found)


LINE_FIELDS = {"account", "debit", "credit"}


def line_types(folder: Path) -> list[str]:
    """Classes that hold a journal line: an account, a debit and a credit among their annotated fields."""
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.name}"
        for path in sorted(folder.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ClassDef)
        and LINE_FIELDS
        <= {
            item.target.id
            for item in node.body
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
        }
    ]


@pytest.mark.parametrize("folder", ["streams", "services/ledger"])
def test_one_journal_line_type(folder):
    """A journal line is `contracts.postings.Line` in the streams and in the ledger (the wire models
    `PostingLine` and `EntryLine` check it where it crosses a topic); neither defines a line of its own."""
    assert line_types(ROOT / folder) == []


def test_the_wire_models_of_a_line_hold_the_same_fields():
    """`Line` and the models that check it on the wire (the posting request's, its native decoder's and
    `entry.posted`'s) name the same four fields."""
    names = {field.name for field in fields(Line)}
    assert names == {"account", "currency", "debit", "credit"}
    assert (
        set(PostingLine.model_fields)
        == set(EntryLine.model_fields)
        == set(LineWire.__struct_fields__)
        == names
    )


def test_a_line_type_of_its_own_is_found(tmp_path, monkeypatch):
    (tmp_path / "postings.py").write_text(
        "class Step:\n    account: str\n\nclass Line:\n    account: str\n    currency: str\n"
        "    debit: int\n    credit: int\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert line_types(tmp_path) == ["postings.py:4: Line"]


# A statement, or a fragment of one (a condition with a cast): SQL is written in capitals in this codebase.
SQL = re.compile(
    r"\b(SELECT|INSERT\s+INTO|UPDATE\s+[a-z_.]+\s+SET|DELETE\s+FROM|WITH\s+\w+\s+AS|SET\s+LOCAL|COPY|"
    r"TRUNCATE|LOCK\s+TABLE)\b|::(text|bigint|int|uuid|timestamptz|pg_snapshot|numeric|xid8?|jsonb)\b"
)
# What speaks to the database only through its adapters (issue 18): the whole ledger and the whole gateway
# but their adapters/ (service layer, entrypoints, domain, bootstrap), the streams' service layer and domain.
SQL_FREE = ("services/ledger", "services/gateway", "streams/service_layer", "streams/domain")


def sql_in(folder: Path) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line}: {text.strip()[:60]!r}"
        for path in sorted(folder.rglob("*.py"))
        if "adapters" not in path.relative_to(folder).parts
        for line, text in string_literals(path)
        if SQL.search(text)
    ]


@pytest.mark.parametrize("folder", SQL_FREE)
def test_sql_only_in_adapters(folder):
    """SQL lives in `adapters/` (query objects and repositories); the service layer calls them."""
    assert sql_in(ROOT / folder) == []


def test_sql_in_a_service_layer_is_found(tmp_path, monkeypatch):
    layer = tmp_path / "service_layer"
    (tmp_path / "adapters").mkdir()
    (tmp_path / "adapters" / "queries.py").write_text('ALL = "SELECT * FROM t"\n')
    layer.mkdir()
    (layer / "bad.py").write_text(
        '"""Reads SELECT in a docstring: prose, not SQL."""\n'
        "async def f(connection, since):\n"
        '    return await connection.fetch(f"SELECT 1 FROM t WHERE x = {since}")\n'
        'WINDOW = "t.txid::text::bigint >= $1"\n'
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert [found.split(": ")[0] for found in sql_in(tmp_path)] == [
        "service_layer/bad.py:3",
        "service_layer/bad.py:4",
    ]
