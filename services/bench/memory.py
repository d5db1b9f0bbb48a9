"""Peak resident memory (VmHWM) and CPU time of the stack's processes, from /proc."""

from __future__ import annotations

import os
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _peak_kb(pid: int) -> int:
    return _status_kb(pid, "VmHWM:")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (a gateway's supervisor, its workers and their helpers)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending += _children(current)
    return found


def resident_kb(pids: list[int]) -> dict[int, int]:
    """Resident memory now (VmRSS) of each process, in KiB; 0 for one gone."""
    return {pid: _status_kb(pid, "VmRSS:") for pid in pids}


def _rollup_kb(pids: list[int], fields: tuple[str, ...]) -> dict[int, int]:
    """The sum of these fields of each process's smaps_rollup, in KiB; 0 for one gone."""
    found = {}
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            lines = []
        found[pid] = sum(int(line.split()[1]) for line in lines if line.startswith(fields))
    return found


def private_kb(pids: list[int]) -> dict[int, int]:
    """Memory each process holds alone now (Private_Clean + Private_Dirty of smaps_rollup), in KiB; 0 for one
    gone. Resident memory also counts the pages of shared libraries each process maps, so a sum of VmRSS over
    processes counts those once per process; a sum of these counts none of them."""
    return _rollup_kb(pids, ("Private_Clean:", "Private_Dirty:"))


def proportional_kb(pids: list[int]) -> dict[int, int]:
    """Each process's proportional share of memory now (Pss of smaps_rollup), in KiB; 0 for one gone: its
    private pages plus each shared page divided by the processes that map it, so a sum over processes counts
    every page once (the honest total of several processes; VmRSS counts shared pages in each)."""
    return _rollup_kb(pids, ("Pss:",))


def peak_resident_kb(pids: list[int]) -> dict[int, int]:
    """Peak resident memory since each process started (VmHWM), in KiB; 0 for one gone."""
    return {pid: _peak_kb(pid) for pid in pids}


def _stack_pids(run_dir: Path) -> dict[str, int]:
    pids = {}
    for pid_file in sorted(run_dir.glob("*.pid")):
        try:
            pids[pid_file.stem] = int(pid_file.read_text().strip())
        except ValueError:
            continue
    return pids


def peak_rss_mb(run_dir: Path) -> dict[str, float]:
    """Per process name; for PostgreSQL the largest of its server processes."""
    peaks: dict[str, float] = {}
    for name, pid in _stack_pids(run_dir).items():
        kb = max([_peak_kb(pid), *(_peak_kb(c) for c in _children(pid))])
        if kb:
            peaks[name] = round(kb / 1024, 1)
    return peaks


def _cpu_ticks(pid: int) -> int:
    """User + system time of the process, plus that of its children it has waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    return sum(int(f) for f in fields[11:15])  # utime stime cutime cstime


def cpu_ticks(run_dir: Path) -> dict[str, int]:
    """CPU ticks so far of each process of the stack and its live children (PostgreSQL's backends)."""
    return {
        name: _cpu_ticks(pid) + sum(_cpu_ticks(c) for c in _children(pid))
        for name, pid in _stack_pids(run_dir).items()
    }


def own_cpu_ticks() -> int:
    return _cpu_ticks(os.getpid())


def cpu_seconds(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
    """CPU seconds each process used between two readings (an exited backend's time is in the
    postmaster's)."""
    return {name: round(max(0, after[name] - before.get(name, 0)) / TICKS_PER_S, 2) for name in after}
