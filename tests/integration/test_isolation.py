"""The test suite never touches the stack `takeback up` serves with default settings, nor its data.

What can be shown on any machine, CI included, where no such stack runs: the suite's
settings (whether `scripts/test` sourced scripts/test-stack.env or pytest was started
bare, see tests/conftest.py) differ from the defaults in every place data is kept or
reached (state folder, Kafka's ports, PostgreSQL's port and database, every service's
port); the processes of the suite's stack listen on its own ports and on none of the
defaults; its PostgreSQL keeps its data inside the suite's state folder; and a marker
left in a stand-in for the person's database (a database of the default name, made in
the suite's cluster for the test) is unchanged after the suite's stack has run a scenario.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from services.common.settings import PROJECT_ROOT, Settings
from tests.conftest import TEST_STACK_ENV, suite_stack_defaults

PORT_SETTINGS = ("http_port", "streams_metrics_port", "ledger_metrics_port", "kafka_controller_port")
REPLICA_PORT_STEP = (
    100  # the second stream and ledger workers listen on their port + 100 (infra/local/stack.py)
)


HELD_SQL = (  # what `takeback demo` reports the stack held before it ran
    "SELECT (SELECT count(*) FROM scheme.batteries) AS batteries, "
    "(SELECT count(*) FROM scheme.inbox) AS events, "
    "(SELECT count(*) FROM ledger.entries) AS journal_entries"
)


def defaults() -> Settings:
    """What `takeback up` uses when nothing is set: the person's stack."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("TAKEBACK_")}
    saved = os.environ.copy()
    try:
        os.environ.clear()
        os.environ.update(clean)
        return Settings(_env_file=None)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def ports_of(settings: Settings) -> set[int]:
    ports = {getattr(settings, name) for name in PORT_SETTINGS}
    ports |= {int(address.rsplit(":", 1)[1]) for address in settings.kafka_bootstrap.split(",")}
    ports |= {
        settings.streams_metrics_port + REPLICA_PORT_STEP,
        settings.ledger_metrics_port + REPLICA_PORT_STEP,
    }
    ports.add(urlsplit(settings.database_url).port or 5432)
    return ports


def database_of(url: str) -> tuple[int, str]:
    parts = urlsplit(url)
    return parts.port or 5432, parts.path.lstrip("/")


def test_the_suite_settings_share_nothing_with_the_defaults(settings):
    person = defaults()
    assert person.state_dir == PROJECT_ROOT / ".state"
    assert settings.state_dir.resolve() != person.state_dir.resolve()
    suite = settings.state_dir.resolve()
    for part in (
        "kafka",
        "postgres",
        "secrets",
        "run",
        "logs",
        "faust",
    ):  # where the person's stack keeps things
        assert (person.state_dir / part).resolve() not in (suite, *suite.parents), part
    assert not ports_of(settings) & ports_of(person), "a port of the suite's stack is one of the defaults"
    assert database_of(settings.database_url) != database_of(person.database_url)
    assert database_of(settings.database_owner_url) != database_of(person.database_owner_url)
    assert database_of(settings.database_url)[1] != database_of(person.database_url)[1]


def test_scripts_test_and_a_bare_pytest_use_the_same_stack():
    """scripts/test sources test-stack.env; tests/conftest.py applies the same file: one stack either way."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("TAKEBACK_")}
    sourced = subprocess.run(
        ["bash", "-c", f"cd {PROJECT_ROOT} && source {TEST_STACK_ENV} && env"],
        env=clean,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    from_script = dict(line.split("=", 1) for line in sourced.splitlines() if line.startswith("TAKEBACK_"))
    assert from_script == suite_stack_defaults(PROJECT_ROOT)
    assert set(from_script) >= {
        "TAKEBACK_STATE_DIR",
        "TAKEBACK_KAFKA_BOOTSTRAP",
        "TAKEBACK_KAFKA_CONTROLLER_PORT",
        "TAKEBACK_DATABASE_URL",
        "TAKEBACK_DATABASE_OWNER_URL",
        "TAKEBACK_HTTP_PORT",
        "TAKEBACK_STREAMS_METRICS_PORT",
        "TAKEBACK_LEDGER_METRICS_PORT",
    }


def listening_ports(pids: set[int]) -> set[int]:
    """The TCP ports on which these processes hold a listening socket (from /proc)."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def stack_pids(settings: Settings) -> set[int]:
    """Every process of the suite's stack (its pid files) and their children."""
    pids = set()
    for pid_file in (settings.state_dir / "run").glob("*.pid"):
        try:
            pids.add(int(pid_file.read_text().strip()))
        except ValueError:
            continue
    children = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            ppid = next(line for line in status.read_text().splitlines() if line.startswith("PPid:"))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
        if int(ppid.split()[1]) in pids:
            children.add(int(status.parent.name))
    return pids | children


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads listening sockets from /proc (Linux)")
def test_the_suite_stack_listens_on_its_own_ports_and_none_of_the_defaults(stack, settings):
    listening = listening_ports(stack_pids(settings))
    own = {settings.http_port, settings.streams_metrics_port, settings.ledger_metrics_port}
    own |= {int(address.rsplit(":", 1)[1]) for address in settings.kafka_bootstrap.split(",")}
    own.add(urlsplit(settings.database_url).port)
    assert own <= listening, (
        f"the suite's stack should listen on {sorted(own)}; it listens on {sorted(listening)}"
    )
    assert not listening & ports_of(defaults()), (
        f"the suite's stack listens on a default port: {sorted(listening)}"
    )


async def test_the_suite_database_lives_in_the_suite_state_folder(superuser_url, settings):
    connection = await asyncpg.connect(superuser_url)
    try:
        data_directory = Path(await connection.fetchval("SHOW data_directory")).resolve()
        database = await connection.fetchval("SELECT current_database()")
    finally:
        await connection.close()
    assert settings.state_dir.resolve() in data_directory.parents
    assert (defaults().state_dir / "postgres").resolve() not in (data_directory, *data_directory.parents)
    assert database == database_of(settings.database_url)[1] != database_of(defaults().database_url)[1]


async def test_a_marker_in_a_database_named_as_the_person_s_is_untouched_by_a_scenario(
    superuser_url, settings, stack
):
    """A stand-in for the person's database: a database of the default name, made in the suite's cluster with
    a marker row; a whole demo-sized scenario through the suite's stack leaves it exactly as it was. (Were the
    suite's settings to name the default database, it would exist already and the test fails at once.)"""
    from services.demo.runner import Demo

    stand_in = database_of(defaults().database_url)[1]
    admin = await asyncpg.connect(superuser_url)
    existing = await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", stand_in)
    assert existing == 0, f"the suite's cluster already holds a database named {stand_in!r}, as the person's"
    try:
        await admin.execute(f'CREATE DATABASE "{stand_in}"')
        marker = str(uuid.uuid4())
        person = await asyncpg.connect(superuser_url.rsplit("/", 1)[0] + f"/{stand_in}")
        try:
            await person.execute("CREATE TABLE marker (value text PRIMARY KEY, at timestamptz DEFAULT now())")
            await person.execute("INSERT INTO marker (value) VALUES ($1)", marker)
            before = await person.fetch("SELECT value, at FROM marker")
            schemas_before = await person.fetch("SELECT nspname FROM pg_namespace ORDER BY 1")
            suite = await asyncpg.connect(superuser_url)
            try:
                held = await suite.fetchrow(HELD_SQL)
                results = await Demo(
                    settings, batteries=60, months=4, seed=23, progress=lambda *_: None
                ).run_all()
                after = await suite.fetchrow(HELD_SQL)
            finally:
                await suite.close()
            assert await person.fetch("SELECT value, at FROM marker") == before
            assert await person.fetch("SELECT nspname FROM pg_namespace ORDER BY 1") == schemas_before
        finally:
            await person.close()
        assert database_of(settings.database_url)[1] != stand_in
        # The demo says what the stack held before it ran: at least what was there just before, less than
        # after it.
        for name in ("batteries", "events", "journal_entries"):
            assert held[name] <= results["before"][name] < after[name], name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{stand_in}" WITH (FORCE)')
        await admin.close()
