"""What the benchmarks read of a running process, and how they summarise what they measured.

Shared by `load_test.py` and `soak.py`. Memory figures come from Linux's
`/proc/<pid>/status` (`VmRSS`: resident now; `VmHWM`: the peak resident set);
a process that has exited reads as `None`.
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Sequence
from pathlib import Path


def status_kib(pid: int, field: str) -> int | None:
    """A `kB` field of /proc/<pid>/status (`VmRSS`, `VmHWM`, ...), or None once it exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_kib(pid: int) -> int | None:
    """VmRSS (resident set now) of a live process, in KiB."""
    return status_kib(pid, "VmRSS")


def peak_rss_kib(pid: int) -> int | None:
    """VmHWM (peak resident set) of a live process, in KiB."""
    return status_kib(pid, "VmHWM")


def children(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc/<pid>/task/*/children)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def process_name(pid: int) -> str:
    """The command name of `pid` (`/proc/<pid>/comm`), or `?` once it exited."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max of durations in seconds, in milliseconds; empty for no values."""
    if not values:
        return {}
    # `statistics.quantiles` needs two points on Python 3.11.
    cuts = (
        statistics.quantiles(values, n=100, method="inclusive")
        if len(values) > 1
        else [values[0]] * 99
    )
    return {
        "p50_ms": round(cuts[49] * 1000, 1),
        "p90_ms": round(cuts[89] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def least_squares_slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """The slope of the least-squares line through `(xs, ys)`; None under two distinct xs."""
    if len(xs) < 2:
        return None
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
