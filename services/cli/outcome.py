"""A driver command's run (demo, bench) that ends in one sentence when it cannot finish, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer

from services.cli.app import err
from services.common.gateway_client import EventRefused
from services.common.logging import configure_logging
from services.common.outage import OutageTooLong
from services.common.settings import get_settings

T = TypeVar("T")


def run_or_say(run: Callable[[], T], command: str, sentences: tuple[type[Exception], ...] = ()) -> T:
    """`run()`; an outage longer than its window, a refusal, a time-out (or one of `sentences`) is said on
    one line (exit 1)."""
    settings = get_settings()
    configure_logging("warning", settings.log_format, service=command)  # logs on stderr, not in the output
    try:
        return run()
    except (OutageTooLong, EventRefused, TimeoutError, *sentences) as error:
        err.print(f"[red]✗ {command}: {error}[/]")
        raise typer.Exit(1) from error
    except Exception as error:  # anything else too: the operator reads one line, the log has the rest
        err.print(f"[red]✗ {command} failed: {type(error).__name__}: {error}[/]")
        raise typer.Exit(1) from error
