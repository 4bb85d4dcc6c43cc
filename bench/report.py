"""Numbers to Markdown: percentiles, tables, and the machine they were measured on."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (0 < p <= 100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil(n * p / 100)
    return sorted_values[int(rank) - 1]


def summary(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50 / p99 / max / mean of latencies given in seconds, returned in milliseconds."""
    xs = sorted(x * 1000 for x in latencies_s)
    return {
        "p50": percentile(xs, 50),
        "p99": percentile(xs, 99),
        "max": xs[-1] if xs else float("nan"),
        "mean": statistics.fmean(xs) if xs else float("nan"),
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def load_average() -> str:
    """The 1-minute load average (other work on the machine skews every figure)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"- CPU: {cpu}, {usable} usable cores ({os.cpu_count()} online)\n"
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()}\n"
        f"- load average (1 min) at start: {load_average()}"
    )
