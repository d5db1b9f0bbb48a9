"""The writes of a transaction gathered into one statement (services/common/one_statement.py)."""

from __future__ import annotations

import asyncio

from services.common.one_statement import OneStatement


class Connection:
    """Records what it was sent; answers the final query with the counts it is given."""

    def __init__(self, row: tuple) -> None:
        self.row, self.sent = row, []

    async def fetchrow(self, sql: str, *args: object) -> tuple:
        self.sent.append((sql, args))
        return self.row


def test_each_write_keeps_its_own_parameters_renumbered_in_order() -> None:
    statement = OneStatement()
    statement.add("INSERT INTO a SELECT * FROM unnest($1::int[], $2::text[])", [1], ["x"])
    statement.add("INSERT INTO b SELECT $1::int, $1::int + 1", 7)
    statement.select("pg_notify($1, $2)", "channel", "payload")
    assert statement.sql == (
        "WITH w1 AS (INSERT INTO a SELECT * FROM unnest($1::int[], $2::text[])), "
        "w2 AS (INSERT INTO b SELECT $3::int, $3::int + 1) SELECT pg_notify($4, $5)"
    )
    connection = Connection(())
    assert asyncio.run(statement.run(connection)) == []
    assert connection.sent[0][1] == ([1], ["x"], 7, "channel", "payload")


def test_counted_writes_are_returned_in_the_order_they_were_added() -> None:
    statement = OneStatement()
    statement.add("INSERT INTO a VALUES ($1) RETURNING 1", 1, counted=True)
    statement.add("INSERT INTO b VALUES ($1)", 2)
    statement.add("INSERT INTO c VALUES ($1) RETURNING 1", 3, counted=True)
    assert statement.sql.endswith("SELECT (SELECT count(*) FROM w1), (SELECT count(*) FROM w3)")
    assert asyncio.run(statement.run(Connection((4, 0)))) == [4, 0]


def test_run_sends_nothing_when_empty_and_starts_again_empty() -> None:
    statement, connection = OneStatement(), Connection((1,))
    assert not statement
    assert asyncio.run(statement.run(connection)) == [] and connection.sent == []
    statement.add("INSERT INTO a VALUES ($1) RETURNING 1", 1, counted=True)
    assert asyncio.run(statement.run(connection)) == [1]
    assert not statement and statement.sql == "SELECT NULL"
    statement.add("INSERT INTO b VALUES ($1)", 2)
    assert statement.sql == "WITH w1 AS (INSERT INTO b VALUES ($1)) SELECT NULL"
