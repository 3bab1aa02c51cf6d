"""Old code against new, same run: the router decision (`benchmarks/router.py`) on two trees, alternated.

Each side is a git revision extracted with `git archive` (`benchmarks._ab.extract`, numba
cache included) and runs its own `benchmarks/router.py` in a fresh process, `--repeat` times,
alternating and swapping which side goes first each round, so a noisy neighbour on this shared
machine hits both alike. Per case it reports the median over the repeats of each side's median ns
per decision and the ratio old / new (> 1: the new code is faster). `--old HEAD --new HEAD`
checks the harness (ratios near 1).

Not here: what a case times (that is `benchmarks/router.py`, which also checks every decision).

usage: python -m benchmarks.ab_router --old REV [--new REV (default HEAD)] [--repeat K] [--calls N]
                                      [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from benchmarks._ab import alternate, extract, finish, medians, ratios, run_checked
from benchmarks._timing import PROCESS_START_LOAD, machine_description


def run(tree: Path, calls: int) -> dict[str, int]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        run_checked([sys.executable, "-m", "benchmarks.router", "--calls", str(calls), "--rounds", "3", "--json", out.name],
                  tree)
        cases = json.loads(Path(out.name).read_text())["cases"]
    return {name: c["median_ns"] for name, c in cases.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ab_router", description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="git revision of the old code")
    ap.add_argument("--new", default="HEAD", help="git revision of the new code (default HEAD: commit first)")
    ap.add_argument("--repeat", type=int, default=4, help="processes per side, alternated (default 4)")
    ap.add_argument("--calls", type=int, default=5000, help="calls per case per round (default 5000)")
    ap.add_argument("--json", help="write the result here")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="goldrouter-abr-") as tmp:
        trees = {}
        for side, rev in (("old", a.old), ("new", a.new)):
            (Path(tmp) / side).mkdir()
            trees[side] = extract(rev, Path(tmp) / side)
        runs = alternate(a.repeat, lambda side: run(trees[side], a.calls),
                         lambda r: ", ".join(f"{n} {v}" for n, v in r.items()), lambda line: print(line, flush=True))
    names = [n for n in runs["new"][0] if n in runs["old"][0]]
    med = medians(runs, names)
    ratio = ratios(med, 2)
    result = {"benchmark": "ab_router", "old": a.old, "new": a.new, "runs": runs, "median_ns": med,
              "old_over_new": ratio, "machine": machine_description(PROCESS_START_LOAD)}
    print(f"old {a.old} vs new {a.new}, median ns per decision, {a.repeat} alternated processes per side:")
    for n in names:
        print(f"  {n:<18} old {med['old'][n]:>7.0f}   new {med['new'][n]:>7.0f}   old/new {ratio[n]}")
    finish(result, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
