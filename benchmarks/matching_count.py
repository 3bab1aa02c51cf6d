"""Old matching core against new by instructions executed (callgrind), a figure the load cannot blur.

The ns figures of `benchmarks.ab_matching` move by several per cent with this shared machine's
load; the number of instructions the batch kernel executes does not. Both revisions are extracted
as `ab_matching` does. numba keys its on-disk cache on the CPU, and valgrind's CPU is not the host's,
so both sides compile for one named CPU (`CPU`: haswell, AVX2; a cold compile each, minutes, run side
by side): each side's probe (this file run as a script with `--probe`, copied into both trees) runs
once natively, which fills that cache, then once under `valgrind --tool=callgrind --instr-atstart=no`
and must end as the native run did. The probe prefills the seeded stream's passive orders untraced,
then switches instrumentation on through callgrind's client request (a C helper compiled with gcc
into a temporary directory and called through ctypes) for the next `--commands` commands in
`--batch`-command calls with events in place (`process(copy=False)`), and off again.
Reported: instructions per command of that window on each side and old / new (> 1: fewer on the
new side); with `--cache-sim` also callgrind's simulated first-level and last-level data misses per
command (a model of an idealised cache, not of this CPU: a hint, not a measurement). The run fails
unless both sides end on the same state hash and the same events per batch (ab_matching compares
every event).

Not here: time (see ab_matching; instructions are not time: a cache miss costs hundreds of
instructions' worth, which only the ns figures show).

usage: python -m benchmarks.matching_count --old REV [--new REV] [--commands N] [--resting R]
                                           [--batch B] [--cache-sim] [--json FILE]
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

if __name__ == "__main__" and "--probe" in sys.argv:
    # As a script, its own directory comes first on sys.path, where benchmarks/matching.py would hide
    # the `matching` package of the tree under test.
    if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]

_HELPER = r"""
#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void cg_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
"""


def _helper(tmp: Path) -> Path:
    src, lib = tmp / "cgwin.c", tmp / "libcgwin.so"
    src.write_text(_HELPER)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(lib), str(src)], check=True)
    return lib


def probe(a) -> int:
    """Inside one tree: prefill untimed, the window of commands with callgrind's collection on."""
    from benchmarks.streams import exchange_books, generate
    from matching import Engine
    lib = ctypes.CDLL(a.helper) if a.helper else None
    books, groups = exchange_books()
    cmds = generate(a.resting + a.commands, seed=a.seed, resting=a.resting)
    eng = Engine(books, groups)
    eng.warm_up()
    eng.reserve(orders=len(cmds), events=3 * len(cmds))
    digest = hashlib.sha256()
    for lo in range(0, a.resting, a.batch):
        digest.update(eng.process(cmds[lo:min(lo + a.batch, a.resting)], copy=False).tobytes())
    batches = [cmds[lo:lo + a.batch] for lo in range(a.resting, len(cmds), a.batch)]
    sizes = []
    if lib:
        lib.cg_start()
    for batch in batches:
        sizes.append(len(eng.process(batch, copy=False)))
    if lib:
        lib.cg_stop()
    digest.update(repr(sizes).encode())   # events per batch; the final state hash covers the rest
    print(json.dumps({"state_hash": eng.state_hash(), "events_sha256": digest.hexdigest(),
                      "resting": eng.resting_orders()}))
    return 0


def _totals(out: Path) -> dict[str, int]:
    events, totals = [], []
    for line in out.read_text().splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("totals:"):
            totals = [int(x) for x in line.split()[1:]]
    return dict(zip(events, totals))


# valgrind's CPU differs from the host's (no AVX-512), and numba keys its cache on the CPU: without one
# named target the traced run would compile everything again, under valgrind (hours, not seconds)
CPU = {"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": "+avx2,+fma,+bmi,+bmi2,+popcnt,+lzcnt,+movbe,+f16c"}


def _warm(trees: list[Path], args: list[str]) -> list[dict]:
    """Each tree's probe once natively, side by side: fills its numba cache for CPU (a cold compile,
    minutes) and gives the figures the traced run must reproduce."""
    from benchmarks._ab import probe_env
    procs = [subprocess.Popen([sys.executable, str(t / "benchmarks" / Path(__file__).name), "--probe", *args],
                              cwd=t, env={**probe_env(t), **CPU}, stdout=subprocess.PIPE, text=True)
             for t in trees]
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit("a native probe failed")
    return [json.loads(o.strip().splitlines()[-1]) for o in outs]


def count(tree: Path, lib: Path, args: list[str], cache_sim: bool, native: dict, tmp: Path) -> dict:
    from benchmarks._ab import probe_env
    out = tmp / f"callgrind.{tree.name}.out"
    vg = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
          f"--cache-sim={'yes' if cache_sim else 'no'}"]
    proc = subprocess.run([*vg, sys.executable, str(tree / "benchmarks" / Path(__file__).name), "--probe",
                           "--helper", str(lib), *args], cwd=tree, env={**probe_env(tree), **CPU},
                          capture_output=True, text=True, timeout=7200)
    if proc.returncode != 0:
        raise SystemExit(f"{tree.name}: traced probe failed: {proc.stderr[-2000:]}")
    if json.loads(proc.stdout.strip().splitlines()[-1]) != native:
        raise SystemExit(f"{tree.name}: the traced run ended elsewhere than the native one")
    return {**native, "counts": _totals(out)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.matching_count", description=__doc__.splitlines()[0])
    ap.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--helper", help=argparse.SUPPRESS)
    ap.add_argument("--old", help="git revision of the old code")
    ap.add_argument("--new", default="HEAD", help="git revision of the new code (default HEAD)")
    ap.add_argument("--commands", type=int, default=50_000, help="commands counted, after the prefill")
    ap.add_argument("--resting", type=int, default=30_000, help="prefilled passive orders (not counted)")
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache-sim", action="store_true", help="also callgrind's simulated data-cache misses")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    if a.probe:
        return probe(a)
    if not a.old:
        ap.error("--old is required")
    from benchmarks._ab import extract
    args = ["--commands", str(a.commands), "--resting", str(a.resting), "--batch", str(a.batch),
            "--seed", str(a.seed)]
    res = {}
    with tempfile.TemporaryDirectory(prefix="goldrouter-cnt-") as tmp:
        tmp = Path(tmp)
        lib = _helper(tmp)
        trees = {}
        for side, rev in (("old", a.old), ("new", a.new)):
            (tmp / side).mkdir()
            trees[side] = extract(rev, tmp / side)
            (trees[side] / "benchmarks" / Path(__file__).name).write_bytes(Path(__file__).read_bytes())
        natives = _warm(list(trees.values()), args)
        for (side, tree), native in zip(trees.items(), natives):
            res[side] = count(tree, lib, args, a.cache_sim, native, tmp)
    same = res["old"]["state_hash"] == res["new"]["state_hash"] and \
        res["old"]["events_sha256"] == res["new"]["events_sha256"]
    n = a.commands
    print(f"old {a.old} vs new {a.new}: {n} commands counted after {a.resting} prefilled, batch {a.batch}, "
          f"callgrind, per command:")
    ratios = {}
    for ev in res["old"]["counts"]:
        o, w = res["old"]["counts"][ev], res["new"]["counts"].get(ev, 0)
        ratios[ev] = round(o / w, 4) if w else None
        print(f"  {ev:<6} old {o / n:9.1f}   new {w / n:9.1f}   old/new {ratios[ev]}")
    print(f"  identical events and final state on both sides: {same}")
    if a.json:
        Path(a.json).write_text(json.dumps({"benchmark": "matching_count", "old": a.old, "new": a.new,
                                            "commands": n, "resting": a.resting, "batch": a.batch,
                                            "sides": res, "old_over_new": ratios, "identical": same},
                                           indent=2) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
