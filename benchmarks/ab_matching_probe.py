"""One measurement of the matching core's batch cost, for `benchmarks.ab_matching` (old vs new, same run).

Run as a script with one code tree first on `sys.path`; it uses only what both old and new cores
have (`Engine`, `warm_up`, `reserve`, `process(copy=False)`, `state_hash`, `benchmarks.streams`).
The seeded exchange-like stream (`--commands`, `--resting` prefilled passive orders) runs through
a warmed engine whose tables are reserved for the whole stream, in `--batch`-command calls with
events read in place (copy=False) and then again with copies (copy=True: each returned array
dropped at once; `copy_last`: the previous one held during each call, as a loop assigning it does;
`copy_all`: every one held to the end), `--runs` times each on fresh engines; then one call per
command, as the order flow makes it (`process_at_rows`, or on an older core
`process_at(copy=False).tolist()`) and as `process_at(copy=False)` alone (CPU time only). Per
command it reports the median wall time and the median CPU time of this thread
(the machine is shared: CPU time leaves out the time other processes held the core), plus a digest
of every event and the final state hash, which the caller compares between the two trees.

Prints one JSON line. Not a benchmark on its own: see benchmarks/ab_matching.py.

usage: python benchmarks/ab_matching_probe.py [--commands N] [--resting R] [--batch B] [--runs K]
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import statistics
import sys
import time

# Run as a script, its own directory comes first on sys.path, where benchmarks/matching.py would hide
# the `matching` package of the tree under test.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

from benchmarks.streams import exchange_books, generate  # noqa: E402
from matching import Engine  # noqa: E402


def one_run(books, groups, cmds, batch: int, copy: bool, keep: str = "none"):
    """`keep` (copying calls): what the caller holds of the returned arrays while the next calls run:
    "none" (each dropped at once), "last" (`events = eng.process(...)` in a loop: the previous one
    is held during the call), "all" (every one, to the end of the run)."""
    eng = Engine(books, groups)
    eng.warm_up()
    eng.reserve(orders=len(cmds), events=3 * len(cmds))
    digest = hashlib.sha256()
    kept, events = [], None
    gc.collect()
    gc.disable()
    try:
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        for lo in range(0, len(cmds), batch):
            events = eng.process(cmds[lo:lo + batch], copy=copy)
            if keep == "all":
                kept.append(events)
            elif keep == "none":
                events = None       # dropped before the next call
        wall, cpu = time.perf_counter_ns() - w0, time.thread_time_ns() - c0
    finally:
        gc.enable()
    del kept, events
    # the events again, untimed, for the comparison between the trees
    check = Engine(books, groups)
    for lo in range(0, len(cmds), batch):
        digest.update(check.process(cmds[lo:lo + batch]).tobytes())
    if check.state_hash() != eng.state_hash():
        raise SystemExit("timed and check engines disagree")
    return wall / len(cmds), cpu / len(cmds), digest.hexdigest(), eng.state_hash()


def one_single(books, groups, cmds, rows: bool):
    """Thread CPU ns per command of one call per command as the order flow makes it: `rows` the
    flow's call (`process_at_rows`; on a core from before it, `process_at(copy=False).tolist()`,
    what the flow did then), else `process_at(copy=False)` alone (the view, not read)."""
    eng = Engine(books, groups)
    eng.warm_up()
    eng.reserve(orders=len(cmds), events=3 * len(cmds))
    at, at_rows, n = eng.process_at, getattr(eng, "process_at_rows", None), len(cmds)
    gc.collect()
    gc.disable()
    try:
        c0 = time.thread_time_ns()
        if not rows:
            for i in range(n):
                at(cmds, i, False)
        elif at_rows is not None:
            for i in range(n):
                at_rows(cmds, i)
        else:
            for i in range(n):
                at(cmds, i, False).tolist()
        cpu = time.thread_time_ns() - c0
    finally:
        gc.enable()
    return cpu / n, eng.state_hash()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--commands", type=int, default=200_000)
    ap.add_argument("--resting", type=int, default=30_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    books, groups = exchange_books()
    cmds = generate(a.commands, seed=a.seed, resting=a.resting)
    out = {}
    for name, copy, keep in (("view", False, "none"), ("copy", True, "none"), ("copy_last", True, "last"),
                             ("copy_all", True, "all")):
        runs = [one_run(books, groups, cmds, a.batch, copy, keep) for _ in range(a.runs)]
        out[f"batch_{name}_wall_ns"] = statistics.median(r[0] for r in runs)
        out[f"batch_{name}_cpu_ns"] = statistics.median(r[1] for r in runs)
        out["events_sha256"], out["state_hash"] = runs[0][2], runs[0][3]
    for name, rows in (("single_view", False), ("single_rows", True)):
        runs = [one_single(books, groups, cmds, rows) for _ in range(a.runs)]
        out[f"{name}_cpu_ns"] = statistics.median(r[0] for r in runs)
        if any(r[1] != out["state_hash"] for r in runs):
            raise SystemExit(f"{name}: one call per command ends on another state than the batch")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
