"""Old matching core against new, same run: batch ns per command of two git revisions, alternated.

How a speed change to `matching/` is judged (the price ladders were measured with it). Both
revisions are extracted with `git archive` (as `benchmarks.ab_orderflow` does, with the numba cache
copied when `matching/*.py` are unchanged, else that side compiles once, minutes), then
`benchmarks/ab_matching_probe.py` runs `--repeat` times per side in fresh processes, alternating
and swapping which side goes first each round, so a noisy neighbour on this shared machine hits
both alike. Figures: median over the processes of each side, wall and CPU time per command, batch
with events read in place (copy=False) and with copies (the caller dropping each at once, holding
the last one during the next call, holding all), and CPU time of one call per command (the
order flow's call, and `process_at(copy=False)`); the ratio old / new (> 1: new is faster).
The run fails (exit 1) unless both sides produced the same events and the same final state hash.

Not here: what is timed (that is the probe); any pass/fail speed threshold.

usage: python -m benchmarks.ab_matching --old REV [--new REV (default HEAD)] [--repeat K]
                                        [--commands N] [--resting R] [--batch B] [--cache-from DIR]
                                        [--json FILE]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks._ab import alternate, borrow_cache, extract, finish, medians, ratios, run_probe
from benchmarks._timing import PROCESS_START_LOAD, machine_description

PROBE = Path(__file__).resolve().parent / "ab_matching_probe.py"
FIGURES = ("batch_view_cpu_ns", "batch_view_wall_ns", "batch_copy_cpu_ns", "batch_copy_wall_ns",
           "batch_copy_last_cpu_ns", "batch_copy_all_cpu_ns", "single_view_cpu_ns", "single_rows_cpu_ns")


def probe(tree: Path, args: list[str]) -> dict:
    return run_probe([sys.executable, str(tree / "benchmarks" / PROBE.name), *args], tree, timeout=3600)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ab_matching", description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="git revision of the old code")
    ap.add_argument("--new", default="HEAD", help="git revision of the new code (default HEAD: commit first)")
    ap.add_argument("--repeat", type=int, default=4, help="processes per side, alternated (default 4)")
    ap.add_argument("--commands", type=int, default=200_000)
    ap.add_argument("--resting", type=int, default=30_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--cache-from", action="append", default=[], metavar="DIR",
                    help="a checkout whose numba cache to reuse for a side with the same matching/*.py "
                         "(e.g. /work/main; repeatable)")
    ap.add_argument("--json", help="write the result here")
    a = ap.parse_args(argv)
    args = ["--commands", str(a.commands), "--resting", str(a.resting), "--batch", str(a.batch)]
    with tempfile.TemporaryDirectory(prefix="goldrouter-abm-") as tmp:
        trees = {}
        for side, rev in (("old", a.old), ("new", a.new)):
            (Path(tmp) / side).mkdir()
            trees[side] = extract(rev, Path(tmp) / side)
            for checkout in a.cache_from:
                if borrow_cache(trees[side], Path(checkout)):
                    break
        for tree in trees.values():      # this probe on both sides (it uses only what both cores have)
            (tree / "benchmarks" / PROBE.name).write_bytes(PROBE.read_bytes())
        runs = alternate(a.repeat, lambda side: probe(trees[side], args),
                         lambda r: ", ".join(f"{f} {r[f]:.1f}" for f in FIGURES), lambda line: print(line, flush=True))
    med = medians(runs, FIGURES)
    same = len({(r["events_sha256"], r["state_hash"]) for rs in runs.values() for r in rs}) == 1
    result = {"benchmark": "ab_matching", "old": a.old, "new": a.new, "commands": a.commands,
              "resting": a.resting, "batch": a.batch, "runs": runs, "median_ns": med,
              "old_over_new": ratios(med, 2),
              "identical_events_and_state": same, "machine": machine_description(PROCESS_START_LOAD)}
    print(f"old {a.old} vs new {a.new}: {a.commands} commands ({a.resting} prefilled), batch {a.batch}, "
          f"median of {a.repeat} alternated processes (each the median of 3 engines):")
    for f in FIGURES:
        print(f"  {f:<20} old {med['old'][f]:7.1f} ns   new {med['new'][f]:7.1f} ns   "
              f"old/new {result['old_over_new'][f]}")
    print(f"  identical events and final state on both sides: {same}")
    finish(result, a.json)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
