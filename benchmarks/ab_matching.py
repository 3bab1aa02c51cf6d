"""Old matching core against new, same run: batch ns per command of two git revisions, alternated.

How a speed change to `matching/` is judged (the price ladders were measured with it). Both
revisions are extracted with `git archive` (as `benchmarks.ab_orderflow` does, with the numba cache
copied when `matching/*.py` are unchanged, else that side compiles once, minutes), then
`benchmarks/ab_matching_probe.py` runs `--repeat` times per side in fresh processes, alternating
and swapping which side goes first each round, so a noisy neighbour on this shared machine hits
both alike. Figures: median over the processes of each side, wall and CPU time per command, batch
with events read in place (copy=False) and with copies, and CPU time of one call per command (the
order flow's call, and `process_at(copy=False)`); the ratio old / new (> 1: new is faster).
The run fails (exit 1) unless both sides produced the same events and the same final state hash.

Not here: what is timed (that is the probe); any pass/fail speed threshold.

usage: python -m benchmarks.ab_matching --old REV [--new REV (default HEAD)] [--repeat K]
                                        [--commands N] [--resting R] [--batch B] [--cache-from DIR]
                                        [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._timing import PROCESS_START_LOAD, machine_description, machine_line
from benchmarks.ab_orderflow import extract

PROBE = Path(__file__).resolve().parent / "ab_matching_probe.py"
FIGURES = ("batch_view_cpu_ns", "batch_view_wall_ns", "batch_copy_cpu_ns", "batch_copy_wall_ns",
           "single_view_cpu_ns", "single_rows_cpu_ns")


def borrow_cache(tree: Path, checkout: Path) -> bool:
    """Copy the numba cache of `checkout` (e.g. the main worktree) into `tree` when their matching/*.py
    are identical: saves the old side its cold compile (minutes). False when they differ."""
    mine, theirs = tree / "matching", checkout / "matching"
    names = sorted(f.name for f in mine.glob("*.py"))
    if names != sorted(f.name for f in theirs.glob("*.py")) or any(
            (mine / n).read_bytes() != (theirs / n).read_bytes() for n in names):
        return False
    (mine / "__pycache__").mkdir(exist_ok=True)
    for f in (theirs / "__pycache__").iterdir():
        if f.suffix in (".nbi", ".nbc") or f.name == "kernels.stamp":
            shutil.copy2(f, mine / "__pycache__" / f.name)
    for n in names:    # numba's cache index checks the source's mtime
        st = (theirs / n).stat()
        os.utime(mine / n, ns=(st.st_atime_ns, st.st_mtime_ns))
    return True


def probe(tree: Path, args: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")
    proc = subprocess.run([sys.executable, str(tree / "benchmarks" / PROBE.name), *args], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"probe failed on {tree}: {proc.stdout[-500:]} {proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


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
    runs: dict[str, list[dict]] = {"old": [], "new": []}
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
        for k in range(a.repeat):
            for side in ("old", "new")[::1 if k % 2 == 0 else -1]:
                r = probe(trees[side], args)
                runs[side].append(r)
                print(f"run {k + 1}/{a.repeat} {side}: " + ", ".join(f"{f} {r[f]:.1f}" for f in FIGURES), flush=True)
    med = {side: {f: statistics.median(r[f] for r in rs) for f in FIGURES} for side, rs in runs.items()}
    same = len({(r["events_sha256"], r["state_hash"]) for rs in runs.values() for r in rs}) == 1
    result = {"benchmark": "ab_matching", "old": a.old, "new": a.new, "commands": a.commands,
              "resting": a.resting, "batch": a.batch, "runs": runs, "median_ns": med,
              "old_over_new": {f: round(med["old"][f] / med["new"][f], 2) for f in FIGURES},
              "identical_events_and_state": same, "machine": machine_description(PROCESS_START_LOAD)}
    print(f"old {a.old} vs new {a.new}: {a.commands} commands ({a.resting} prefilled), batch {a.batch}, "
          f"median of {a.repeat} alternated processes (each the median of 3 engines):")
    for f in FIGURES:
        print(f"  {f:<20} old {med['old'][f]:7.1f} ns   new {med['new'][f]:7.1f} ns   "
              f"old/new {result['old_over_new'][f]}")
    print(f"  identical events and final state on both sides: {same}")
    print(machine_line(result["machine"]))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
