"""Timing, and the table the benchmarks print (servers: testkit.servers)."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path


@dataclass
class Figure:
    name: str
    unit: str
    runs: list[float]

    def row(self) -> str:
        median = statistics.median(self.runs)
        low, high = min(self.runs), max(self.runs)
        spread = (high - low) / median * 100 if median else 0.0
        return f"{self.name:<64} {median:>10.2f} {self.unit:<10} ±{spread / 2:>5.1f}%  (n={len(self.runs)}, {low:.2f}–{high:.2f})"


def repeat(runs: int, measure: Callable[[], float]) -> list[float]:
    measure()  # warm-up, not counted
    return [measure() for _ in range(runs)]


def header() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    libs = ", ".join(
        f"{name} {version(name)}"
        for name in ("starlette", "strawberry-graphql", "sqlalchemy", "uvicorn", "pillow")
    )
    return (
        f"machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}\n"
        f"python {platform.python_version()}; {libs}"
    )
