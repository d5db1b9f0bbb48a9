"""What `takeback demo` prints first: whether the stack held anything before the run (issue 16 item 1)."""

from __future__ import annotations

from services.cli.app import console
from services.cli.demo import say_what_was_there


def said(before: dict | None) -> str:
    with console.capture() as capture:
        say_what_was_there(before)
    return " ".join(capture.get().split())


def test_an_empty_stack_is_said_to_be_empty():
    text = said({"batteries": 0, "events": 0, "journal_entries": 0})
    assert text == "The stack was empty before this run: every figure below is the demo's."


def test_what_a_stack_held_is_said_with_its_counts_and_how_to_start_clean():
    text = said({"batteries": 12_345, "events": 30_001, "journal_entries": 7})
    assert (
        "Before this run the stack already held 12,345 batteries, 30,001 events and 7 journal entries" in text
    )
    assert "the books below include them" in text and "TAKEBACK_STATE_DIR=" in text


def test_a_result_without_the_count_says_nothing():
    assert said(None) == ""
