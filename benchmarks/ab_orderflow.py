"""Old code against new, same run: the order path's Python per order (`benchmarks/ab_probe.py`) on two trees.

How every speed change to the order flow is judged: the old code and the new (two git revisions,
each extracted with `git archive` into its own scratch directory the same way: a tree measured
in place ran a steady 7 % slower than the same commit extracted, so both sides are extracted) are
measured by the same probe, `--repeat` times each in fresh processes, alternating and swapping
which side goes first each round (old new, new old, ...), so a noisy neighbour on this shared
machine hits both alike. `--old HEAD --new HEAD` checks the harness itself (ratios near 1). Per figure it reports the median over the
repeats of each side and the ratio old / new (> 1: the new code is faster), with the detected
machine and the load average at start and end. The numba kernels' compiled cache is copied into
the old tree when the kernel modules are unchanged (else the old side compiles once, minutes).

Not here: what is timed (that is `benchmarks/ab_probe.py`, which also checks every answer).

usage: python -m benchmarks.ab_orderflow --old REV [--new REV (default HEAD)] [--repeat K] [--rounds N]
                                         [--blocks B] [--json FILE]

`--blocks B` keeps one probe process per side (`--repeat` such pairs) and alternates B blocks of `--rounds` orders between
them (`compare_blocks`): on a loaded machine whole processes differed by up to 2x (one shared a core
with a neighbour, the next did not), blocks a second apart see the same load.
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROBE = HERE / "ab_probe.py"
# The modules numba compiles and caches (matching.jitcache fingerprints the same list).
_KERNEL_SOURCES = ("layout.py", "kernels_book.py", "kernels_orders.py", "kernels_sweep.py", "kernels_bulk.py",
                   "kernels.py")
FIGURES = ("new", "cancel", "ioc", "send_ioc", "total_ioc", "core", "beyond_core_new", "reject_log")


def extract(rev: str, into: Path) -> Path:
    """`rev` of this repository as plain files in `into`, with the numba cache when it still fits."""
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    cache = ROOT / "matching" / "__pycache__"
    # The compiled code is keyed on the kernel modules' sources (matching.jitcache's fingerprint): the
    # cache fits when they are unchanged, whatever the other files of matching/ (engine.py) say.
    kernel_sources = [ROOT / "matching" / name for name in _KERNEL_SOURCES]
    same = all((into / "matching" / f.name).exists() and (into / "matching" / f.name).read_bytes() == f.read_bytes()
               for f in kernel_sources)
    if same and cache.is_dir():
        (into / "matching" / "__pycache__").mkdir(exist_ok=True)
        for f in cache.iterdir():       # numba's index and code, and matching.jitcache's stamp
            if f.suffix in (".nbi", ".nbc") or f.name == "kernels.stamp":
                shutil.copy2(f, into / "matching" / "__pycache__" / f.name)
        for f in kernel_sources:        # numba's cache index checks the source's mtime
            st = f.stat()
            os.utime(into / "matching" / f.name, ns=(st.st_atime_ns, st.st_mtime_ns))
    return into


def probe(tree: Path, rounds: int) -> dict:
    # One hash seed for every process: dict and set layouts then match across runs (it moved a
    # process's figures by several per cent).
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")
    proc = subprocess.run([sys.executable, str(PROBE), "--rounds", str(rounds)], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"probe failed on {tree}: {proc.stdout[-500:]} {proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(old: Path, new: Path, repeat: int, rounds: int, progress=print) -> dict:
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for k in range(repeat):
        for side, tree in (("old", old), ("new", new))[::1 if k % 2 == 0 else -1]:
            r = probe(tree, rounds)
            runs[side].append(r)
            progress(f"run {k + 1}/{repeat} {side}: " + ", ".join(f"{f} {r[f] / 1000:.1f} us" for f in FIGURES))
    med = {side: {f: statistics.median(r[f] for r in rs) for f in FIGURES} for side, rs in runs.items()}
    ratio = {f: round(med["old"][f] / med["new"][f], 3) if med["new"][f] else None for f in FIGURES}
    return {"runs": runs, "median_ns": med, "old_over_new": ratio}


def compare_blocks(old: Path, new: Path, repeat: int, blocks: int, rounds: int, progress=print) -> dict:
    """`--blocks`: one long-lived probe per tree, driven block by block (`rounds` orders each, the
    side that goes first swapped every block), so both see the same minute of this shared machine;
    `repeat` such pairs of processes one after the other (one process of the same code ran a steady
    2-3 % off another). Per figure: each side's median over all blocks, and the median of the blocks'
    own old / new ratios (a neighbour's burst slows one block pair, not one side's whole process)."""
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for k in range(repeat):
        pair = _block_pair(old, new, blocks, rounds, lambda line: progress(f"pair {k + 1}/{repeat} {line}"))
        runs["old"] += pair["old"]
        runs["new"] += pair["new"]
    med = {side: {f: statistics.median(r[f] for r in rs) for f in FIGURES} for side, rs in runs.items()}
    ratio = {f: round(statistics.median(o[f] / n[f] for o, n in zip(runs["old"], runs["new"]) if n[f]), 3)
             for f in FIGURES}
    return {"runs": runs, "median_ns": med, "old_over_new": ratio}


def _block_pair(old: Path, new: Path, blocks: int, rounds: int, progress) -> dict[str, list[dict]]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    procs = {side: subprocess.Popen([sys.executable, str(PROBE), "--blocks", "--rounds", str(rounds)], cwd=tree,
                                    env=dict(env, PYTHONPATH=str(tree)), stdin=subprocess.PIPE,
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
                    f"{f} {runs['old'][-1][f] / 1000:.1f}/{runs['new'][-1][f] / 1000:.1f} us" for f in FIGURES[:4]))
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ab_orderflow", description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="git revision of the old code (e.g. a commit before a change)")
    ap.add_argument("--new", default="HEAD", help="git revision of the new code (default HEAD: commit first)")
    ap.add_argument("--repeat", type=int, default=6, help="processes per side, alternated (default 6)")
    ap.add_argument("--rounds", type=int, default=3000, help="orders per process (default 3000)")
    ap.add_argument("--blocks", type=int, default=0,
                    help="per process pair (--repeat pairs) this many alternated blocks of --rounds orders")
    ap.add_argument("--json", help="write the result here")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="goldrouter-ab-") as tmp:
        (Path(tmp) / "old").mkdir()
        (Path(tmp) / "new").mkdir()
        old, new = extract(a.old, Path(tmp) / "old"), extract(a.new, Path(tmp) / "new")
        result = (compare_blocks(old, new, a.repeat, a.blocks, a.rounds) if a.blocks
                  else compare(old, new, a.repeat, a.rounds))
    result.update({"benchmark": "ab_orderflow", "old": a.old, "new": a.new,
                   "machine": machine_description(PROCESS_START_LOAD)})
    how = (f"{a.repeat} process pairs x {a.blocks} alternated blocks of {a.rounds} orders (ratio: median of the blocks')"
           if a.blocks else f"median of {a.repeat} alternated processes x {a.rounds} orders")
    print(f"old {a.old} vs new {a.new}, {how}:")
    for f in FIGURES:
        o, n = result["median_ns"]["old"][f], result["median_ns"]["new"][f]
        print(f"  {f:<16} old {o / 1000:7.2f} us   new {n / 1000:7.2f} us   old/new {result['old_over_new'][f]}")
    print(machine_line(result["machine"]))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
