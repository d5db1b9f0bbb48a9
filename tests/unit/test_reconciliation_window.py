"""When a reconciliation run may start from the previous one, and when it must read everything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.ledger.adapters.reconciliation.in_place_figures import RECORDING_TRIGGERS
from services.ledger.service_layer.reconciliation.window import (
    CARRIED_KEYS_MAX,
    CARRY_VERSION,
    FULL_RUN_INTERVAL_S,
    PreviousRun,
    carry_keys,
    plan,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TRIGGERS = {
    f"{table} {name}": [17000 + n, "900", "A"]
    for n, (table, name) in enumerate((t, name) for t, names in RECORDING_TRIGGERS.items() for name in names)
}
MARKS = {
    "tables": {"ledger.entries": [16400, 0, 0], "scheme.inbox": [16500, 3, 0]},
    "stats_reset": "2026-12-01T08:00:00+00:00",
    "in_place": {"scheme.batteries": 16700, "scheme.sale_items": 16800},
    "triggers": TRIGGERS,
}


def previous(**carried) -> PreviousRun:
    return PreviousRun(
        "run-1",
        NOW - timedelta(minutes=5),
        "balanced",
        "100:105:101",
        {"version": CARRY_VERSION, "marks": MARKS, **carried},
    )


def why(requested="incremental", run=None, last_full=NOW - timedelta(minutes=30), marks=MARKS) -> str | None:
    return plan(requested, run if run is not None else previous(), last_full, marks, NOW).why_full


def with_table(table: str, mark: list[int]) -> dict:
    return {**MARKS, "tables": {**MARKS["tables"], table: mark}}


def test_a_sound_previous_run_gives_an_incremental_run():
    chosen = plan("incremental", previous(), NOW - timedelta(minutes=30), MARKS, NOW)
    assert (chosen.mode, chosen.why_full, chosen.previous.run_id) == ("incremental", None, "run-1")


def test_a_full_run_asked_for_is_full():
    assert why("full") == "a full run was asked for"


def test_the_first_run_is_full():
    assert (
        plan("incremental", None, None, MARKS, NOW).why_full
        == "no earlier run stored a watermark to start from"
    )


def test_totals_of_another_version_are_no_start():
    assert "another version" in why(run=previous(version=CARRY_VERSION + 1))


def test_too_many_keys_carried_make_the_next_run_full():
    carried: dict = {}
    carry_keys(carried, "unposted", [str(i) for i in range(CARRIED_KEYS_MAX + 1)])
    assert carried["overflow"] == "unposted" and len(carried["unposted"]) == CARRIED_KEYS_MAX
    assert "more than 20000 unposted" in why(run=previous(**carried))


def test_a_full_run_is_due_once_the_last_is_older_than_the_interval():
    assert why(last_full=NOW - timedelta(seconds=FULL_RUN_INTERVAL_S - 1)) is None
    assert "older than 3600 s" in why(last_full=NOW - timedelta(seconds=FULL_RUN_INTERVAL_S + 1))
    assert "older than" in why(last_full=None)


def test_a_row_deleted_or_updated_in_an_append_only_table_makes_the_run_full():
    deleted = why(marks=with_table("ledger.entries", [16400, 0, 2]))
    assert deleted.startswith("rows of ledger.entries") and "deleted (2)" in deleted
    assert "updated (1)" in why(marks=with_table("scheme.inbox", [16500, 4, 0]))


def test_a_table_truncated_or_rewritten_makes_the_run_full():
    assert "truncated or rewritten" in why(marks=with_table("ledger.entries", [16999, 0, 0]))


def test_statistics_reset_or_a_table_not_watched_before_make_the_run_full():
    assert "statistics were reset" in why(marks={**MARKS, "stats_reset": "2026-12-01T11:59:00+00:00"})
    assert "not watched" in why(marks=with_table("scheme.refunds", [16600, 0, 0]))


def with_trigger(name: str, mark: list | None) -> dict:
    triggers = {key: value for key, value in TRIGGERS.items() if key != name}
    return {**MARKS, "triggers": triggers if mark is None else {**triggers, name: mark}}


def test_a_trigger_recording_changes_disabled_dropped_or_altered_makes_the_run_full():
    name = "scheme.batteries batteries_deltas_update"
    assert (
        "batteries_deltas_update recording the changes of scheme.batteries is missing or not always"
        in why(marks=with_trigger(name, [17001, "900", "D"]))
    )
    assert "is missing" in why(marks=with_trigger(name, None))
    altered = why(marks=with_trigger(name, [17001, "950", "A"]))  # disabled then enabled again: a new xmin
    assert (
        altered
        == "a trigger recording the changes of batteries or sale items was altered since the previous run"
    )


def test_batteries_or_sale_items_truncated_make_the_run_full():
    marks = {**MARKS, "in_place": {**MARKS["in_place"], "scheme.sale_items": 16801}}
    assert (
        why(marks=marks)
        == "scheme.sale_items was truncated or rewritten since the previous run (new storage file)"
    )
