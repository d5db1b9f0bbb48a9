"""Processes that share one log file (the gateway's workers) never interleave within a line, even when
Python runs unbuffered (`PYTHONUNBUFFERED=1`, as many CI machines and containers set it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROCESSES = 4
LINES = 2000
WRITER = """
from services.common.logging import configure_logging, get_logger
configure_logging("info", "json", service="test")
log = get_logger("test")
for i in range({lines}):
    log.info("line", n=i, padding="x" * 300)
"""


def test_processes_sharing_one_log_file_write_whole_lines(tmp_path: Path):
    path = tmp_path / "shared.log"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(root)}
    with open(path, "wb") as shared:  # one open file, inherited by every writer, as the gateway's workers do
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER.format(lines=LINES)], stderr=shared, env=env, cwd=root
            )
            for _ in range(PROCESSES)
        ]
        assert [writer.wait(timeout=60) for writer in writers] == [0] * PROCESSES
    lines = path.read_text().splitlines()
    assert len(lines) == PROCESSES * LINES
    assert sorted(json.loads(line)["n"] for line in lines) == sorted(list(range(LINES)) * PROCESSES)


def test_a_line_is_the_json_of_its_fields_whatever_they_hold():
    from structlog.processors import _json_fallback_handler

    from services.common.logging import json_line

    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    plain = {
        "event": "http_request",
        "status": 202,
        "duration_ms": 1.25,
        "path": "/v1/événements",
        "ok": True,
    }
    assert json.loads(json_line(plain, _json_fallback_handler)) == plain
    beyond_64_bits = {"event": "total", "amount": 2**70}  # the standard library's encoding, not an error
    assert json.loads(json_line(beyond_64_bits, _json_fallback_handler)) == beyond_64_bits
    assert json.loads(json_line({1: "a"}, _json_fallback_handler)) == {"1": "a"}
    assert json.loads(json_line({"thing": Opaque()}, _json_fallback_handler)) == {"thing": "<opaque>"}
