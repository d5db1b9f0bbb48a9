"""The ledger on the real PostgreSQL and Kafka: balanced by construction, idempotent, append-only, fed by
its worker."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from contracts import topics
from contracts.postings import PostingRequested, entry_id_for
from services.common import db_roles, outbox
from services.common.channels import LEDGER_OUTBOX_CHANNEL
from services.common.db import create_pool
from services.ledger.adapters import events, journal_repository
from services.ledger.domain.journal import entry_from_request, movements, posted_event_id_for
from services.ledger.service_layer import balances, post
from tests.conftest import kafka_options, send, unique, wait_for
from tests.integration.ledger_support import LEDGER_SERVICE, ask, ledger_worker  # noqa: F401  (a fixture)

ACCOUNTS = ("cash", "bank", "sales", "fees")


@st.composite
def balanced_lines(draw) -> list[tuple[str, str, int, int]]:
    """(account, currency, debit, credit): per currency 1-3 debits and 1-2 credits with the same total."""
    lines = []
    for currency in draw(
        st.lists(st.sampled_from(["EUR", "USD", "GBP"]), min_size=1, max_size=2, unique=True)
    ):
        debits = draw(st.lists(st.integers(1, 10**9), min_size=1, max_size=3))
        cut = draw(st.integers(0, sum(debits) - 1))
        credits = [c for c in (cut, sum(debits) - cut) if c > 0]
        lines += [(draw(st.sampled_from(ACCOUNTS)), currency, d, 0) for d in debits]
        lines += [(draw(st.sampled_from(ACCOUNTS)), currency, 0, c) for c in credits]
    return lines


def requested(run: str, number: int, lines) -> PostingRequested:
    return PostingRequested(
        posting_key=f"prop:{run}:{number}",
        kind="sale",
        subject=f"prop-{run}",
        caused_by=uuid.uuid4(),
        effective_at=datetime.now(UTC),
        lines=[
            {"account": f"prop:{run}:{a}", "currency": c, "debit": d, "credit": k} for a, c, d, k in lines
        ],
    )


async def books_of(pool, run: str) -> tuple[dict, dict]:
    """Balances of the run's accounts, from the movements and from the lines."""
    body = await balances(pool)
    movements = {
        (b["account"], b["currency"]): (b["debit"], b["credit"])
        for b in body["balances"]
        if b["account"].startswith(f"prop:{run}:")
    }
    rows = await pool.fetch(
        "SELECT account, currency, sum(debit)::bigint, sum(credit)::bigint FROM ledger.lines "
        "WHERE account LIKE $1 GROUP BY 1, 2",
        f"prop:{run}:%",
    )
    return movements, {(r[0], r[1]): (r[2], r[3]) for r in rows}


@hypothesis_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=st.lists(balanced_lines(), min_size=1, max_size=6), data=st.data())
async def test_any_sequence_of_valid_postings_keeps_every_entry_balanced_and_posting_twice_changes_nothing(
    pool, specs, data, streams_pool, ledger_pool
):
    run = uuid.uuid4().hex[:12]
    postings = [requested(run, number, lines) for number, lines in enumerate(specs)]
    sequence = postings + data.draw(st.lists(st.sampled_from(postings), max_size=4))  # some asked twice
    cuts = sorted(data.draw(st.sets(st.integers(1, len(sequence)), max_size=3)) | {len(sequence)})
    async with (
        streams_pool.acquire() as connection
    ):  # after every draw: an example aborted by hypothesis asks nothing
        await ask(connection, postings)
    start = 0
    for cut in cuts:
        await post(ledger_pool, sequence[start:cut])
        start = cut

    expected: Counter = Counter()
    for posting in postings:
        for line in posting.lines:
            expected[(line.account, line.currency, "debit")] += line.debit
            expected[(line.account, line.currency, "credit")] += line.credit
    movements, lines = await books_of(pool, run)
    assert (
        movements
        == lines
        == {(a, c): (expected[(a, c, "debit")], expected[(a, c, "credit")]) for a, c, _ in expected}
    )
    unbalanced = await pool.fetch(
        "SELECT e.posting_key FROM ledger.entries e JOIN ledger.lines l USING (entry_id) "
        "WHERE e.posting_key LIKE $1 GROUP BY e.posting_key, l.currency HAVING sum(l.debit) <> sum(l.credit)",
        f"prop:{run}:%",
    )
    assert unbalanced == []
    trial = await pool.fetch(
        "SELECT currency, sum(debit) - sum(credit) AS net FROM ledger.lines GROUP BY currency"
    )
    assert all(row["net"] == 0 for row in trial)

    again = await post(ledger_pool, sequence)
    assert again.posted == [] and again.repeated == len(sequence)
    assert await books_of(pool, run) == (movements, lines)
    assert await pool.fetchval(
        "SELECT count(*) FROM ledger.entries WHERE posting_key LIKE $1", f"prop:{run}:%"
    ) == len(postings)


@pytest.fixture
async def posted(streams_pool, ledger_pool) -> PostingRequested:
    run = uuid.uuid4().hex[:12]
    posting = requested(run, 0, [("cash", "EUR", 100, 0), ("sales", "EUR", 0, 100)])
    async with streams_pool.acquire() as connection:
        await ask(connection, [posting])
    await post(ledger_pool, [posting])
    return posting


JOURNAL_TAMPERING = [  # an entry's lines are its arrays (revision 0014): a line changed, a line removed
    "UPDATE ledger.entries SET debits[1] = debits[1] + 1, credits[2] = credits[2] + 1 WHERE entry_id = $1",
    "UPDATE ledger.entries SET accounts = accounts[1:1], currencies = currencies[1:1], debits = debits[1:1], "
    "credits = credits[1:1] WHERE entry_id = $1",
    "UPDATE ledger.entries SET kind = 'refund' WHERE entry_id = $1",
    "DELETE FROM ledger.entries WHERE entry_id = $1",
    "UPDATE ledger.account_movements SET debit = 0 WHERE account = (SELECT account FROM ledger.lines "
    "WHERE entry_id = $1 AND line_no = 1)",
    "DELETE FROM ledger.account_movements WHERE account = (SELECT account FROM ledger.lines "
    "WHERE entry_id = $1 AND line_no = 1)",
]


@pytest.mark.parametrize("statement", JOURNAL_TAMPERING)
async def test_the_ledgers_role_may_not_update_or_delete_the_journal(ledger_pool, posted, statement):
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await ledger_pool.execute(statement, posted.entry_id)


@pytest.mark.parametrize("statement", JOURNAL_TAMPERING)
async def test_a_superuser_is_stopped_by_the_append_only_trigger(superuser_url, posted, statement):
    connection = await asyncpg.connect(superuser_url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await connection.execute(statement, posted.entry_id)
    finally:
        await connection.close()


INSERT_ENTRY = (
    "INSERT INTO ledger.entries (entry_id, posting_key, kind, subject, caused_by, effective_at, "
    "accounts, currencies, debits, credits) VALUES ($1, $2, 'sale', 'BAT-X', $1, now(), $3, $4, $5, $6)"
)


@pytest.mark.parametrize(
    "accounts, currencies, debits, credits",
    [
        (["a", "b"], ["EUR", "EUR"], [100, 0], [0, 99]),  # unbalanced
        (
            ["a", "b", "c", "d"],
            ["EUR", "USD", "EUR", "USD"],
            [100, 0, 0, 5],
            [0, 100, 100, 0],
        ),  # balanced in total only
        (["a"], ["EUR"], [0], [0]),  # one line
        ([], [], [], []),  # none
        (["a", "b"] * 9, ["EUR"] * 18, [1, 0] * 9, [0, 1] * 9),  # more than 16 lines
        (["a", "b"], ["EUR"], [100, 0], [0, 100]),  # arrays of other lengths
        (["a", "b"], ["EUR", "EUR"], [100, 100], [100, 100]),  # a line both debit and credit
        (["a", "b", "c"], ["EUR", "EUR", "EUR"], [100, 0, 0], [0, 100, 0]),  # a line of zero
        (["a", "b"], ["EUR", "EUR"], [-100, 0], [0, -100]),  # negative amounts
        (["a", "b"], ["eur", "eur"], [100, 0], [0, 100]),  # not a currency code
        (["a", "b"], ["EUR", "EUR"], [100, None], [0, 100]),  # a missing amount
    ],
)
async def test_the_database_refuses_an_entry_whose_lines_are_invalid_or_unbalanced(
    pool, ledger_pool, accounts, currencies, debits, credits
):
    key = unique("direct")
    with pytest.raises(asyncpg.CheckViolationError, match="entries_lines_valid"):
        await ledger_pool.execute(INSERT_ENTRY, entry_id_for(key), key, accounts, currencies, debits, credits)
    assert (
        await pool.fetchval("SELECT count(*) FROM ledger.entries WHERE entry_id = $1", entry_id_for(key)) == 0
    )


async def test_the_database_refuses_an_entry_whose_id_is_not_that_of_its_posting_key(pool, ledger_pool):
    """So one posting key has at most one entry, held by the primary key alone."""
    with pytest.raises(asyncpg.CheckViolationError, match="entries_id_of_posting_key"):
        await ledger_pool.execute(
            INSERT_ENTRY, uuid.uuid4(), unique("direct"), ["a", "b"], ["EUR", "EUR"], [100, 0], [0, 100]
        )


async def test_lines_are_only_read_through_the_view_of_the_entries(pool, ledger_pool):
    key = unique("direct")
    async with ledger_pool.acquire() as connection:
        transaction = connection.transaction()  # rolled back: no entry the scheme did not ask for is left
        await transaction.start()
        try:
            await connection.execute(
                INSERT_ENTRY,
                entry_id_for(key),
                key,
                ["a", "b", "c"],
                ["EUR", "EUR", "EUR"],
                [100, 0, 0],
                [0, 60, 40],
            )
            rows = await connection.fetch(
                "SELECT line_no, account, currency, debit, credit FROM ledger.lines "
                "WHERE entry_id = $1 ORDER BY line_no",
                entry_id_for(key),
            )
            assert [tuple(row) for row in rows] == [
                (1, "a", "EUR", 100, 0),
                (2, "b", "EUR", 0, 60),
                (3, "c", "EUR", 0, 40),
            ]
            for statement, refusal in [
                (
                    "INSERT INTO ledger.lines SELECT * FROM ledger.lines WHERE false",
                    "cannot insert into view",
                ),
                ("UPDATE ledger.lines SET debit = debit WHERE false", "cannot update view"),
                ("DELETE FROM ledger.lines WHERE false", "cannot delete from view"),
            ]:
                with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match=refusal):
                    async with connection.transaction():
                        await connection.execute(statement)
        finally:
            await transaction.rollback()
    assert (
        await pool.fetchval("SELECT count(*) FROM ledger.entries WHERE entry_id = $1", entry_id_for(key)) == 0
    )


async def test_a_posting_copied_meanwhile_by_another_worker_is_a_repeat_not_a_refusal(
    pool, streams_pool, ledger_pool
):
    """Another worker's transaction copies the same entry after this one looked: the COPY meets it on the
    primary key, and the batch, tried again, finds it posted."""
    run = uuid.uuid4().hex[:12]
    postings = [
        requested(run, n, [("cash", "EUR", 20 + n, 0), ("sales", "EUR", 0, 20 + n)]) for n in range(2)
    ]
    async with streams_pool.acquire() as connection:
        await ask(connection, postings)
    entries = [entry_from_request(p) for p in postings]
    async with ledger_pool.acquire() as other:
        transaction = other.transaction()
        await transaction.start()
        posted_at, _ = await journal_repository.posted_and_now(other, entries[:1])
        await journal_repository.copy_entries(other, entries[:1], posted_at)  # a whole posting of the first
        await journal_repository.insert_movements(other, movements(entries[:1]), posted_at)
        await outbox.write_new(other, "ledger", [events.entry_posted(entries[0], posted_at)])
        racing = asyncio.create_task(post(ledger_pool, postings))  # looks now: the first is not posted yet
        await asyncio.sleep(0.5)  # its COPY waits for this transaction
        await transaction.commit()
        outcome = await racing
    assert (outcome.posted, outcome.repeated, outcome.refused) == ([postings[1].posting_key], 1, [])
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM ledger.entries WHERE entry_id = ANY($1::uuid[])",
            [e.entry_id for e in entries],
        )
        == 2
    )


async def test_balances_as_of_a_past_instant(pool, streams_pool, ledger_pool):
    run = uuid.uuid4().hex[:12]
    first, second = (
        requested(run, n, [("cash", "EUR", 10 * (n + 1), 0), ("sales", "EUR", 0, 10 * (n + 1))])
        for n in range(2)
    )
    async with streams_pool.acquire() as connection:
        await ask(connection, [first, second])
    await post(ledger_pool, [first])
    between = await pool.fetchval("SELECT now()")
    await post(ledger_pool, [second])
    then = {
        b["account"]: b["debit"] for b in (await balances(pool, between))["balances"] if run in b["account"]
    }
    now = {b["account"]: b["debit"] for b in (await balances(pool))["balances"] if run in b["account"]}
    assert then == {f"prop:{run}:cash": 10, f"prop:{run}:sales": 0}
    assert now == {f"prop:{run}:cash": 30, f"prop:{run}:sales": 0}


async def test_a_posting_on_the_topic_is_posted_once_and_announced_as_entry_posted(
    pool, producer, settings, ledger_worker, streams_pool
):
    posting = requested(uuid.uuid4().hex[:12], 0, [("cash", "EUR", 700, 0), ("fees", "EUR", 0, 700)])
    async with streams_pool.acquire() as connection:
        await ask(connection, [posting])
    announced = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, **kafka_options(), enable_auto_commit=False
    )
    await announced.start()
    try:
        partitions = [TopicPartition(topics.LEDGER, p) for p in range(settings.topic_partitions)]
        announced.assign(partitions)
        await announced.seek_to_end(*partitions)
        for _ in range(2):  # delivered twice: posted once
            await send(producer, topics.POSTINGS, posting.posting_key, posting.model_dump_json().encode())
        event = await wait_for(lambda: _next_event(announced, posting.posting_key))
    finally:
        await announced.stop()
    assert event["data"]["entry_id"] == str(entry_id_for(posting.posting_key))
    assert event["source"] == {"kind": "scheme", "id": "ledger"}
    assert (
        await pool.fetchval("SELECT count(*) FROM ledger.entries WHERE posting_key = $1", posting.posting_key)
        == 1
    )


async def _next_event(consumer: AIOKafkaConsumer, posting_key: str) -> dict | None:
    fetched = await consumer.getmany(timeout_ms=200)
    for record in (r for records in fetched.values() for r in records):
        event = json.loads(record.value)
        if event["event_id"] == str(posted_event_id_for(posting_key)):
            return event
    return None


async def test_a_malformed_posting_is_kept_and_does_not_stall_its_partition(
    pool, streams_pool, producer, settings, ledger_worker
):
    poison_key = unique("poison")
    posting = requested(uuid.uuid4().hex[:12], 0, [("cash", "EUR", 5, 0), ("fees", "EUR", 0, 5)])
    async with streams_pool.acquire() as connection:
        await ask(connection, [posting])
    await producer.send_and_wait(
        topics.POSTINGS, b'{"posting_key": 1.5', key=poison_key.encode(), partition=0
    )
    await producer.send_and_wait(
        topics.POSTINGS, posting.model_dump_json().encode(), key=posting.posting_key.encode(), partition=0
    )
    await wait_for(
        lambda: pool.fetchval("SELECT 1 FROM ledger.entries WHERE posting_key = $1", posting.posting_key)
    )
    kept = await pool.fetchrow("SELECT value, error FROM ledger.unpostable WHERE key = $1", poison_key)
    assert kept["value"] == b'{"posting_key": 1.5' and kept["error"].startswith("malformed_posting")
    metrics = "".join(
        httpx.get(f"http://127.0.0.1:{port}/metrics").text  # whichever worker held the partition
        for _, port, _ in LEDGER_SERVICE.instances(settings)
    )
    assert 'takeback_ledger_unpostable_total{reason="malformed_posting"}' in metrics


async def test_a_batch_of_postings_posts_each_and_keeps_the_one_that_is_malformed(
    pool, streams_pool, producer, ledger_worker
):
    run = uuid.uuid4().hex[:12]
    good = [requested(run, n, [("cash", "EUR", 3 + n, 0), ("fees", "EUR", 0, 3 + n)]) for n in range(2)]
    async with streams_pool.acquire() as connection:
        await ask(connection, good)
    bad = json.loads(good[0].model_dump_json()) | {"posting_key": f"{run}:bad", "lines": []}
    items = [json.loads(good[0].model_dump_json()), bad, json.loads(good[1].model_dump_json())]
    key = unique("postings")
    await producer.send_and_wait(topics.POSTINGS, json.dumps({"postings": items}).encode(), key=key.encode())
    await wait_for(lambda: pool.fetchrow("SELECT error FROM ledger.unpostable WHERE key = $1", key))
    posted = await pool.fetchval(
        "SELECT count(*) FROM ledger.entries WHERE posting_key = ANY($1::text[])",
        [p.posting_key for p in good],
    )
    kept = await pool.fetchval("SELECT error FROM ledger.unpostable WHERE key = $1", key)
    assert posted == 2
    assert kept.startswith("malformed_posting") and "postings[1]" in kept and "lines" in kept


async def test_a_batch_of_postings_sent_again_posts_nothing_twice(
    pool, streams_pool, producer, ledger_worker
):
    run = uuid.uuid4().hex[:12]
    postings = [requested(run, n, [("cash", "EUR", 10 + n, 0), ("fees", "EUR", 0, 10 + n)]) for n in range(3)]
    async with streams_pool.acquire() as connection:
        await ask(connection, postings)
    value = b'{"postings":[' + b",".join(p.model_dump_json().encode() for p in postings) + b"]}"
    for _ in range(2):
        await producer.send_and_wait(topics.POSTINGS, value, key=unique("postings").encode())
    keys = [p.posting_key for p in postings]
    await wait_for(lambda: _count_is(pool, keys, 3))
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM ledger.lines l JOIN ledger.entries e USING (entry_id) "
            "WHERE e.posting_key = ANY($1::text[])",
            keys,
        )
        == 6
    )


async def _count_is(pool, keys: list[str], expected: int) -> bool:
    return (
        await pool.fetchval("SELECT count(*) FROM ledger.entries WHERE posting_key = ANY($1::text[])", keys)
        == expected
    )


async def test_posting_new_entries_wakes_the_ledgers_relay_and_a_repeat_does_not(
    settings, superuser_url, streams_pool
):
    """The transaction that writes `entry.posted` to the outbox notifies the relay's channel at commit;
    postings already posted write nothing, and notify nothing."""
    run = uuid.uuid4().hex[:12]
    postings = [requested(run, 0, [("cash", "EUR", 31, 0), ("sales", "EUR", 0, 31)])]
    async with streams_pool.acquire() as connection:
        await ask(connection, postings)  # asked by the scheme, as every entry is (reconciliation traces it)
    pool = await create_pool(settings.database_url_as(db_roles.LEDGER), max_size=1)
    listener = await asyncpg.connect(superuser_url)
    try:
        poster = await pool.fetchval("SELECT pg_backend_pid()")  # the one session that posts
        heard: list[int] = []
        await listener.add_listener(LEDGER_OUTBOX_CHANNEL, lambda _c, pid, _ch, _p: heard.append(pid))
        assert (await post(pool, postings)).posted == [postings[0].posting_key]

        async def woken() -> bool:
            return poster in heard

        await wait_for(woken, timeout_s=10)
        heard.clear()
        assert (await post(pool, postings)).repeated == 1
        await asyncio.sleep(1.0)  # a notification is delivered at commit: long before this
        assert poster not in heard
    finally:
        await listener.close()
        await pool.close()
