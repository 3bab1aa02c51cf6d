"""Old code against new, same run: the whole service's CPU per order over FIX (two `serve` processes).

The old and the new code (two git revisions, extracted as `benchmarks.ab_orderflow` does) each run
as the round trip's `router_app` target: `python -m router serve --app router` on the embedded
defaults with the file command journal (fsync none) and file FIX stores, throttle lifted, logged
on as SHCLIENT1, IOC orders answered 150=0 then 150=4 (and copied to the default DROPCOPY1
session, which nobody is logged on to). Both run at once; blocks of `--duration` seconds at the
fixed offered `--rate` alternate between them, swapping which goes first each round, `--repeat`
rounds. Per block: the server's CPU time per acknowledged order (/proc/PID/task/*/schedstat, ns
resolution), p50 and p99 from the intended send time, acks and rejects (any reject or lost order
fails the run), and the messages per wake-up of the server's event loop. Reported: the median per side
and old / new (> 1: the new code is cheaper or faster). Messages per wake-up is no speed: it says how
many messages each turn of the loop found waiting, and CPU per order falls as it rises (one message
per wake-up pays cold caches alone), so an A/B whose sides differ in it compares different work.
Near saturation the loop hardly sleeps and the figure runs into the hundreds (a turn on the CPU then
ends by preemption, not by an empty socket): at 12,000/s, where the service spends ~80 µs per message,
it read 154 and 262 in two blocks of the same code (A/A, 16:29 UTC, load 0.6-0.8), at 4,000/s 1.05.

CPU per order is the figure to read on a shared machine: the capacity of the service on one core
is about 1 / CPU per order, and unlike latency it hardly moves with the neighbours' load, as long as
the service keeps up. A block it did not keep up with (the round trip's saturation rule, or a p50
above `BACKLOG_P50_US`) measures a backlog: the loop finds tens of messages per wake-up, so its CPU per
order is cheaper work than the offered rate's. Such blocks are counted per side and the run says so
(`backlogged`); lower `--rate` or quiet the machine and run again (session 12: a neighbour's probes took
a core and both sides of an 8,000/s run showed p50s of 8 ms to 0.9 s).

usage: python -m benchmarks.ab_service --old REV|--old-tree DIR [--new REV|--new-tree DIR] [--rate N] [--duration S] [--repeat K] [--json FILE]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks._ab import extract, finish
from benchmarks._timing import PROCESS_START_LOAD, machine_description
from benchmarks.console import block
from benchmarks.roundtrip import ServiceTarget, _start
from benchmarks.rt_results import saturated

# No block the service keeps up with has a p50 near this (its p50 is ~0.1-0.3 ms below saturation).
BACKLOG_P50_US = 10_000


def backlogged(step: dict) -> bool:
    """A block the service did not keep up with: its figures are a backlog's, not the offered rate's."""
    return saturated(step) or step["p50_us"] is None or step["p50_us"] > BACKLOG_P50_US


def run(old: Path, new: Path, rate: int, duration: float, repeat: int, workdir: Path, progress=print) -> dict:
    lives = {}
    try:
        for side, tree in (("old", old), ("new", new)):
            (workdir / side).mkdir()
            target = ServiceTarget("router_app", workdir / side)
            target.code = tree
            lives[side] = _start(target, min(rate, 2000), None)
        steps: dict[str, list[dict]] = {"old": [], "new": []}
        for r in range(repeat):
            for side in ("old", "new") if r % 2 == 0 else ("new", "old"):
                step = block(lives[side], rate, duration)
                steps[side].append(step)
                progress(f"round {r + 1}/{repeat} {side}: {step['acked']} acks, {step['rejected']} rejects, "
                         f"{step['lost']} lost, p50 {step['p50_us']} us, p99 {step['p99_us']} us, "
                         f"server {step['server_cpu_us_per_order']} us CPU/order, "
                         f"{step['messages_per_wakeup']} messages per wake-up")
    finally:
        for live in lives.values():
            live.close()

    def med(side: str, key: str):
        values = [s[key] for s in steps[side] if s.get(key) is not None]
        return round(statistics.median(values), 2) if values else None

    keys = ("server_cpu_us_per_order", "p50_us", "p99_us", "messages_per_wakeup")
    medians = {side: {k: med(side, k) for k in keys} for side in steps}
    ratios = {k: round(medians["old"][k] / medians["new"][k], 3) if medians["old"][k] and medians["new"][k]
              else None for k in keys}
    bad = sum(s["rejected"] + s["lost"] for ss in steps.values() for s in ss)
    behind = {side: sum(backlogged(s) for s in ss) for side, ss in steps.items()}
    return {"steps": steps, "median": medians, "old_over_new": ratios, "rejected_or_lost": bad,
            "backlogged": behind}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ab_service", description=__doc__.splitlines()[0])
    ap.add_argument("--old", help="git revision of the old code")
    ap.add_argument("--new", default="HEAD", help="git revision of the new code (default HEAD: commit first)")
    ap.add_argument("--rate", type=int, default=5000, help="offered orders/s in every block (default 5000)")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per block (default 3)")
    ap.add_argument("--repeat", type=int, default=6, help="rounds of one block per side (default 6)")
    ap.add_argument("--old-tree", metavar="DIR", help="run this directory as the old code, as it is, instead of "
                    "a git revision (e.g. a copy of a tree with compiled extension modules in it)")
    ap.add_argument("--new-tree", metavar="DIR", help="the same for the new code")
    ap.add_argument("--json", help="write the result here")
    a = ap.parse_args(argv)
    if not (a.old or a.old_tree):
        ap.error("give --old REV or --old-tree DIR")
    with tempfile.TemporaryDirectory(prefix="goldrouter-abs-") as tmp:
        base = Path(tmp)
        (base / "old-code").mkdir()
        (base / "new-code").mkdir()
        old = Path(a.old_tree).resolve() if a.old_tree else extract(a.old, base / "old-code")
        new = Path(a.new_tree).resolve() if a.new_tree else extract(a.new, base / "new-code")
        (base / "run").mkdir()
        result = run(old, new, a.rate, a.duration, a.repeat, base / "run")
    a.old, a.new = a.old_tree or a.old, a.new_tree or a.new
    result.update({"benchmark": "ab_service", "old": a.old, "new": a.new, "rate": a.rate,
                   "machine": machine_description(PROCESS_START_LOAD)})
    print(f"old {a.old} vs new {a.new}: {a.repeat} alternated blocks of {a.duration} s at {a.rate}/s each")
    for k, v in result["old_over_new"].items():
        print(f"  {k:<26} old {result['median']['old'][k]}  new {result['median']['new'][k]}  old/new {v}")
    if any(result["backlogged"].values()):
        print(f"WARNING: blocks the service did not keep up with (old {result['backlogged']['old']}, new "
              f"{result['backlogged']['new']} of {a.repeat} each): their figures are a backlog's; lower --rate "
              "or quiet the machine")
    finish(result, a.json)
    if result["rejected_or_lost"]:
        print(f"FAILED: {result['rejected_or_lost']} orders rejected or lost")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
