"""Peak resident memory (VmHWM) of the stack's processes, from /proc."""
from __future__ import annotations

from pathlib import Path


def _peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def peak_rss_mb(run_dir: Path) -> dict[str, float]:
    """Per process name; for PostgreSQL the largest of its server processes."""
    peaks: dict[str, float] = {}
    for pid_file in sorted(run_dir.glob("*.pid")):
        try:
            pid = int(pid_file.read_text().strip())
        except ValueError:
            continue
        kb = max([_peak_kb(pid), *(_peak_kb(c) for c in _children(pid))])
        if kb:
            peaks[pid_file.stem] = round(kb / 1024, 1)
    return peaks
