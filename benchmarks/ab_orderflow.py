"""Old code against new, same run: the order path's Python per order (`benchmarks/ab_probe.py`) on two trees.

How every speed change to the order flow is judged: the old code and the new (two git revisions,
each extracted with `git archive` into its own scratch directory the same way: a tree measured
in place ran a steady 7 % slower than the same commit extracted, so both sides are extracted) are
measured by the same probe (`benchmarks._ab` has the shared steps), `--repeat` times each in fresh processes, alternating and swapping
which side goes first each round (old new, new old, ...), so a noisy neighbour on this shared
machine hits both alike. `--old HEAD --new HEAD` checks the harness itself (ratios near 1). Per figure it reports the median over the
repeats of each side and the ratio old / new (> 1: the new code is faster), with the detected
machine and the load average at start and end. The numba kernels' compiled cache is copied into
the old tree when the kernel modules are unchanged (else the old side compiles once, minutes).

Not here: what is timed (that is `benchmarks/ab_probe.py`, which also checks every answer).

usage: python -m benchmarks.ab_orderflow --old REV [--new REV (default HEAD)] [--repeat K] [--rounds N]
                                         [--blocks B] [--distinct N] [--retained] [--mix [AT]] [--json FILE]

`--blocks B` keeps one probe process per side (`--repeat` such pairs) and alternates B blocks of `--rounds` orders between
them (`compare_blocks`): on a loaded machine whole processes differed by up to 2x (one shared a core
with a neighbour, the next did not), blocks a second apart see the same load.

`--mix [AT]` (with `--blocks`) runs `benchmarks/mix_probe.py` instead: the round trip's mix through the
served flow, mean µs per message of each kind and of the whole mix, blocks of `--rounds` messages.

`--retained` instead runs the probe's `--retained` once per tree: the memory `--rounds` resting orders
and their cancels leave allocated, per order (what the flow keeps of done orders and recent decisions).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._ab import alternate, extract, finish, medians, probe_env, ratios, run_probe
from benchmarks._timing import PROCESS_START_LOAD, machine_description

HERE = Path(__file__).resolve().parent
PROBE = HERE / "ab_probe.py"
FIGURES = ("new", "cancel", "ioc", "send_ioc", "total_ioc", "core", "beyond_core_new", "reject_log")
# `--mix`: the round trip's mix per message kind (benchmarks/mix_probe.py), blocks of --rounds messages.
MIX_PROBE = HERE / "mix_probe.py"
MIX_FIGURES = ("mix_mean", "ioc_instrument", "ioc_product", "rest", "cancel", "cross_rest", "cross_trade")


def compare(old: Path, new: Path, repeat: int, rounds: int, progress=print, distinct: int = 1) -> dict:
    trees = {"old": old, "new": new}
    cmd = [sys.executable, str(PROBE), "--rounds", str(rounds), "--distinct", str(distinct)]
    runs = alternate(repeat, lambda side: run_probe(cmd, trees[side]),
                     lambda r: ", ".join(f"{f} {r[f] / 1000:.1f} us" for f in FIGURES), progress)
    med = medians(runs, FIGURES)
    return {"runs": runs, "median_ns": med, "old_over_new": ratios(med)}


def compare_blocks(old: Path, new: Path, repeat: int, blocks: int, rounds: int, progress=print,
                   distinct: int = 1, mix_at: str | None = None) -> dict:
    """`--blocks`: one long-lived probe per tree, driven block by block (`rounds` orders each, the
    side that goes first swapped every block), so both see the same minute of this shared machine;
    `repeat` such pairs of processes one after the other (one process of the same code ran a steady
    2-3 % off another). Per figure: each side's median over all blocks, and the median of the blocks'
    own old / new ratios (a neighbour's burst slows one block pair, not one side's whole process).
    `mix_at` (not None: `--mix`): the mix probe instead, its clock starting there ("" its default)."""
    cmd = [sys.executable, str(PROBE), "--blocks", "--rounds", str(rounds), "--distinct", str(distinct)]
    figures = FIGURES
    if mix_at is not None:
        cmd = [sys.executable, str(MIX_PROBE), "--blocks"] + (["--at", mix_at] if mix_at else [])
        figures = MIX_FIGURES
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for k in range(repeat):
        pair = _block_pair(old, new, blocks, rounds, lambda line: progress(f"pair {k + 1}/{repeat} {line}"), cmd,
                           figures)
        runs["old"] += pair["old"]
        runs["new"] += pair["new"]
    ratio = {f: round(statistics.median(o[f] / n[f] for o, n in zip(runs["old"], runs["new"]) if n[f]), 3)
             for f in figures}
    return {"runs": runs, "median_ns": medians(runs, figures), "old_over_new": ratio}


def _block_pair(old: Path, new: Path, blocks: int, rounds: int, progress, cmd: list[str],
                figures: tuple[str, ...]) -> dict[str, list[dict]]:
    procs = {side: subprocess.Popen(cmd, cwd=tree,
                                    env=probe_env(tree), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
             for side, tree in (("old", old), ("new", new))}
    try:
        for side, p in procs.items():
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"probe on the {side} tree did not start")
        runs: dict[str, list[dict]] = {"old": [], "new": []}
        for k in range(blocks):
            for side in ("old", "new")[::1 if k % 2 == 0 else -1]:
                p = procs[side]
                p.stdin.write(f"{rounds}\n")
                p.stdin.flush()
                runs[side].append(json.loads(p.stdout.readline()))
            if k % 10 == 9 or k == blocks - 1:
                progress(f"block {k + 1}/{blocks}: " + ", ".join(
                    f"{f} {runs['old'][-1][f] / 1000:.1f}/{runs['new'][-1][f] / 1000:.1f} us" for f in figures[:4]))
        for p in procs.values():
            p.stdin.write("\n")
            p.stdin.flush()
    finally:
        for p in procs.values():
            p.stdin.close()
            p.wait(timeout=60)
    bad = sum(r[-1]["unexpected_answers"] for r in runs.values())
    if bad:
        raise RuntimeError(f"{bad} unexpected answers")
    return runs


def _retained(a: argparse.Namespace, trees: dict[str, Path]) -> int:
    """`--retained`: `ab_probe.py --retained` once per tree (tracemalloc's count is deterministic)."""
    got = {side: run_probe([sys.executable, str(PROBE), "--retained", "--rounds", str(a.rounds),
                            "--distinct", str(a.distinct)], tree)
           for side, tree in trees.items()}
    print(f"old {a.old} vs new {a.new}, memory left allocated per resting order and its cancel "
          f"({a.rounds} orders):")
    for f in ("retained_bytes_per_order", "retained_blocks_per_order"):
        print(f"  {f:<26} old {got['old'][f]:8}   new {got['new'][f]:8}")
    finish({"benchmark": "ab_orderflow --retained", "old": a.old, "new": a.new, "retained": got,
            "machine": machine_description(PROCESS_START_LOAD)}, a.json)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ab_orderflow", description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="git revision of the old code (e.g. a commit before a change)")
    ap.add_argument("--new", default="HEAD", help="git revision of the new code (default HEAD: commit first)")
    ap.add_argument("--repeat", type=int, default=6, help="processes per side, alternated (default 6)")
    ap.add_argument("--rounds", type=int, default=3000, help="orders per process (default 3000)")
    ap.add_argument("--blocks", type=int, default=0,
                    help="per process pair (--repeat pairs) this many alternated blocks of --rounds orders")
    ap.add_argument("--retained", action="store_true",
                    help="instead: memory --rounds resting orders and cancels leave allocated, per order, on each tree")
    ap.add_argument("--distinct", type=int, default=1,
                    help="orders cycle through this many (price, quantity) requests (default 1: one repeated; "
                         "above 4,096 every order is one the flow's memos and the router's plans have not seen)")
    ap.add_argument("--mix", nargs="?", const="", default=None, metavar="AT",
                    help="with --blocks: the round trip's mix per message kind (benchmarks/mix_probe.py), blocks of "
                         "--rounds messages; AT: the probe's UTC start (YYYY-MM-DDTHH:MM; default sessions open)")
    ap.add_argument("--json", help="write the result here")
    a = ap.parse_args(argv)
    if a.mix is not None and not a.blocks:
        ap.error("--mix needs --blocks")
    with tempfile.TemporaryDirectory(prefix="goldrouter-ab-") as tmp:
        (Path(tmp) / "old").mkdir()
        (Path(tmp) / "new").mkdir()
        old, new = extract(a.old, Path(tmp) / "old"), extract(a.new, Path(tmp) / "new")
        if a.retained:
            return _retained(a, {"old": old, "new": new})
        result = (compare_blocks(old, new, a.repeat, a.blocks, a.rounds, distinct=a.distinct, mix_at=a.mix) if a.blocks
                  else compare(old, new, a.repeat, a.rounds, distinct=a.distinct))
    result.update({"benchmark": "ab_orderflow", "old": a.old, "new": a.new, "distinct_requests": a.distinct,
                   "machine": machine_description(PROCESS_START_LOAD)})
    how = (f"{a.repeat} process pairs x {a.blocks} alternated blocks of {a.rounds} orders (ratio: median of the blocks')"
           if a.blocks else f"median of {a.repeat} alternated processes x {a.rounds} orders")
    what = (f"the round trip's mix from {a.mix or 'its default start'}" if a.mix is not None
            else f"{a.distinct} different requests in turn")
    print(f"old {a.old} vs new {a.new}, {how}, {what}:")
    for f in (MIX_FIGURES if a.mix is not None else FIGURES):
        o, n = result["median_ns"]["old"][f], result["median_ns"]["new"][f]
        print(f"  {f:<16} old {o / 1000:7.2f} us   new {n / 1000:7.2f} us   old/new {result['old_over_new'][f]}")
    finish(result, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
