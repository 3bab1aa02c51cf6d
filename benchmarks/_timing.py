"""Shared timing helpers for the benchmarks: repeated perf_counter_ns timings, medians, machine note, JSON.

Job: time a zero-argument callable in batches with ``time.perf_counter_ns`` (GC
off while timing), interleave several candidates round by round so a noisy,
shared machine slows them alike (ratios come from the same run), take medians,
describe the machine, and write the ``--json FILE`` result.

Not its job: deciding what to measure or any pass/fail threshold; those live in
each benchmark module. Nothing here is used by the service.
"""
from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Mapping


def batch_ns(fn: Callable[[], object], number: int) -> float:
    """Mean ns per call over one batch of `number` calls, GC paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter_ns() - start
    finally:
        if enabled:
            gc.enable()
    return elapsed / number


def median_ns(fn: Callable[[], object], number: int, repeat: int = 15, warmup: int = 1) -> float:
    """Median over `repeat` batches of the mean ns per call."""
    for _ in range(warmup):
        batch_ns(fn, number)
    return statistics.median(batch_ns(fn, number) for _ in range(repeat))


def interleaved_ns(candidates: Mapping[str, tuple[Callable[[], object], int]], repeat: int = 15,
                   warmup: int = 1) -> dict[str, list[float]]:
    """ns-per-call samples for each candidate (name -> (fn, calls per batch)), one batch each per round."""
    for _ in range(warmup):
        for fn, number in candidates.values():
            batch_ns(fn, number)
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeat):
        for name, (fn, number) in candidates.items():
            samples[name].append(batch_ns(fn, number))
    return samples


def medians(samples: Mapping[str, list[float]]) -> dict[str, float]:
    return {name: round(statistics.median(values), 1) for name, values in samples.items()}


def calls_for(fn: Callable[[], object], target_ms: float = 40.0) -> int:
    """A batch size that takes about target_ms, from a short trial."""
    trial = max(batch_ns(fn, 50), 1.0)
    return max(10, int(target_ms * 1e6 / trial))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def load_average() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages now (None where the platform has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def machine_description(load_at_start: list[float] | None = None) -> dict:
    """What the figures were measured on, detected now: CPU model (/proc/cpuinfo), cores, load
    average (`load_avg` now, i.e. at the end, and `load_avg_start` when the caller took it at its
    start), Python and library versions.  Nothing here is written by hand."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": usable,
        "load_avg_start": load_at_start,
        "load_avg": load_average(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numba": _version("numba"),
        "numpy": _version("numpy"),
        "simplefix": _version("simplefix"),
    }


def machine_line(m: dict | None) -> str:
    """One line of the detected machine facts, for printed output and the summary."""
    if not m:
        return "machine: not recorded"
    return (f"machine: {m.get('cpu_model')}, {m.get('cpus_usable')} of {m.get('cpus')} cores usable, "
            f"load average {m.get('load_avg_start') or '?'} at start, {m.get('load_avg')} at end, "
            f"Python {m.get('python')}, numba {m.get('numba')}, numpy {m.get('numpy')}, {m.get('platform')}")


# Load averages when this module was imported, i.e. about when a benchmark process started.
PROCESS_START_LOAD = load_average()


def argument_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", metavar="FILE", help="write the result as JSON to FILE")
    return parser


def write_json(path: str | os.PathLike | None, data: dict) -> None:
    """Write data (plus a machine note if absent) to path; no-op when path is None."""
    if not path:
        return
    data = dict(data)
    data.setdefault("machine", machine_description(PROCESS_START_LOAD))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(target)


def say(text: str) -> None:
    print(text, flush=True, file=sys.stdout)
