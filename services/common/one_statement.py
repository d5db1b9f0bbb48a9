"""A transaction's writes sent as one statement: one round trip for every table it changes.

Each write is a data-modifying common table expression (`WITH w1 AS (INSERT ...), w2 AS (...) SELECT ...`).
PostgreSQL runs every one of them once, to completion, whether or not the final query reads it; they
share one snapshot, so none sees another's rows, and the constraints and AFTER triggers (foreign keys,
the reconciliation deltas) run at the end of the statement, when every row is in. A write that must
see another's rows (a read of what an earlier write changed) goes in a later statement: `run` it first.

Rows travel as one JSON parameter a table (read back by `json_populate_recordset` as the table's own
row type) or as typed arrays; the statement's text depends only on which tables are written, so the
driver prepares each shape once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import asyncpg

_PARAMETER = re.compile(r"\$(\d+)")


@dataclass
class OneStatement:
    """Writes gathered for one round trip; `run` sends them and starts again empty."""

    _parts: list[str] = field(default_factory=list)
    _args: list[object] = field(default_factory=list)
    _counted: list[str] = field(default_factory=list)
    _final: list[str] = field(default_factory=list)

    def add(self, sql: str, *args: object, counted: bool = False) -> str:
        """One data-modifying statement (`$1`.. its own parameters); its name in the statement.

        `counted`: `run` returns how many rows it wrote (its RETURNING rows; the caller's SQL says
        `RETURNING 1`).
        """
        name = f"w{len(self._parts) + 1}"
        self._parts.append(f"{name} AS ({self._renumber(sql, args)})")
        if counted:
            self._counted.append(name)
        return name

    def select(self, sql: str, *args: object) -> None:
        """An expression of the final query (a `pg_notify(...)`), evaluated once every write is in."""
        self._final.append(self._renumber(sql, args))

    def _renumber(self, sql: str, args: tuple[object, ...]) -> str:
        base = len(self._args)
        self._args.extend(args)
        return _PARAMETER.sub(lambda m: f"${int(m.group(1)) + base}", sql)

    def __bool__(self) -> bool:
        return bool(self._parts or self._final)

    @property
    def sql(self) -> str:
        final = [f"(SELECT count(*) FROM {name})" for name in self._counted] + self._final
        head = f"WITH {', '.join(self._parts)} " if self._parts else ""
        return f"{head}SELECT {', '.join(final) if final else 'NULL'}"

    async def run(self, connection: asyncpg.Connection) -> list[int]:
        """Send what was gathered (nothing when empty); the counts of the counted writes, in order."""
        if not self:
            return []
        sql, args, counted = self.sql, self._args, len(self._counted)
        self._parts, self._args, self._counted, self._final = [], [], [], []
        row = await connection.fetchrow(sql, *args)
        return [int(row[i]) for i in range(counted)]
