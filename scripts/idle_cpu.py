"""The running stack's fixed costs: each process's CPU while no event comes in, in ms of CPU a second.

    source <your stack's env> && .venv/bin/python scripts/idle_cpu.py --seconds 60

Reads the user + system time of every process of the stack (with its live children: PostgreSQL's
backends, the gateway's workers) from /proc before and after the interval, as `takeback bench` counts
its `cpu_seconds`; the stack must run on this machine. Start it some 20 s after `takeback up`, once the
first health readings and the consumer groups' joins are over. What it shows is what a worker spends
whatever the load: health reports, relays looking for rows, the stream framework's timers. Not a test.
"""

from __future__ import annotations

import argparse
import json
import time

from services.bench.memory import TICKS_PER_S, cpu_ticks
from services.common.settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    seconds = parser.parse_args().seconds
    run_dir = get_settings().state_dir / "run"
    before, started = cpu_ticks(run_dir), time.monotonic()
    time.sleep(seconds)
    after, elapsed = cpu_ticks(run_dir), time.monotonic() - started
    per_second = {
        name: round((after[name] - before.get(name, 0)) * 1000 / TICKS_PER_S / elapsed, 1) for name in after
    }
    print(json.dumps({"seconds": round(elapsed, 1), "cpu_ms_per_s": per_second}))


if __name__ == "__main__":
    main()
