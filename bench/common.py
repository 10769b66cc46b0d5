"""Shared helpers for benchmark scripts: a result table, machine description, --json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass
class Figure:
    """One measured figure with its target; ``lower_is_better`` decides pass/fail."""

    name: str
    measured: float
    target: float
    unit: str
    lower_is_better: bool = True
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.measured < self.target if self.lower_is_better else self.measured >= self.target


def machine() -> str:
    """A one-line description of this machine."""
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")


def median_time(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` over ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the flags every bench script takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--quick", action="store_true", help="smaller workloads")
    return p


def report(title: str, figures: list[Figure], as_json: bool) -> None:
    """Print the figures as a table (or JSON) with target and pass/fail."""
    if as_json:
        print(json.dumps({"title": title, "machine": machine(),
                          "figures": [asdict(f) | {"passed": f.passed} for f in figures]},
                         indent=1))
        return
    print(f"# {title}  ({machine()})")
    width = max(len(f.name) for f in figures)
    print(f"{'figure':<{width}}  {'target':>14}  {'measured':>14}  result")
    for f in figures:
        sign = "<" if f.lower_is_better else ">="
        target = f"{sign} {f.target:g} {f.unit}"
        measured = f"{f.measured:.4g} {f.unit}"
        note = f"  ({f.note})" if f.note else ""
        print(f"{f.name:<{width}}  {target:>14}  {measured:>14}  "
              f"{'pass' if f.passed else 'FAIL'}{note}")
