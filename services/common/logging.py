"""Structured logs: JSON when not on a terminal, readable on one."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import orjson
import structlog


def configure_logging(level: str = "info", fmt: str = "auto", service: str = "takeback") -> None:
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = (
        structlog.processors.JSONRenderer(serializer=json_line)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # One write per line (message and newline together): with PYTHONUNBUFFERED a print is two writes,
        # and processes sharing one log file (gateway workers) would interleave them mid-line.
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=max(logging.WARNING, logging.getLevelName(level.upper())), stream=sys.stderr)


def stdlib_logging_config(level: str = "info", fmt: str = "auto", service: str = "takeback") -> dict:
    """A dictConfig that renders other libraries' logs (faust, aiokafka) as JSON lines too."""
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer = (
        structlog.processors.JSONRenderer(serializer=json_line)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=False)
    )

    def add_service(_logger, _name, event_dict):
        event_dict.setdefault("service", service)
        return event_dict

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processor": renderer,
                "foreign_pre_chain": [
                    structlog.stdlib.add_log_level,
                    structlog.stdlib.add_logger_name,
                    add_service,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.format_exc_info,
                ],
            }
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "structured",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level.upper()},
    }


def json_line(event_dict: dict, default: Callable[[Any], Any]) -> str:
    """A log line's JSON, encoded in native code (a third of the standard library's time: the gateway writes
    one a request); what it cannot encode (an integer beyond 64 bits, a key that is not a string) as the
    standard library does."""
    try:
        return orjson.dumps(event_dict, default=default).decode()
    except TypeError:  # orjson's encode error is a TypeError
        return json.dumps(event_dict, default=default)


def get_logger(name: str | None = None):
    return structlog.get_logger(name)
