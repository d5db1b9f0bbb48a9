"""The `takeback` command: parse, dispatch, print. Work lives in the services."""

from __future__ import annotations


def main() -> None:
    import logging

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # "unable to connect" while a broker starts
    from services.cli import commands  # noqa: F401  (registers every command on the app)
    from services.cli.app import app

    app()
