"""What every old-against-new benchmark (`benchmarks/ab_*.py`) does the same way.

- `extract(rev, into)`: a git revision as plain files, with this checkout's numba cache when the
  kernel sources are the same (both sides are extracted: a tree measured in place ran a steady 7 %
  slower than the same commit extracted). `borrow_cache` takes the cache of another checkout.
- `probe_env(tree)`, `run_checked`, `run_probe(cmd, tree, timeout)`: a probe process on one tree, with one hash seed
  for every process (dict and set layouts then match across runs; it moved figures by several per
  cent), answering with one JSON line.
- `alternate(repeat, run_one, progress)`: `repeat` rounds of one run per side, the side that goes
  first swapped every round (old new, new old, ...), so a noisy neighbour on this shared machine
  hits both alike.
- `medians`, `ratios`: per figure each side's median and old / new (> 1: the new code is faster).
- `finish(result, json_path)`: the detected machine line and the optional JSON file.

Not here: what any script times, or how it prints its own table.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
from pathlib import Path
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("old", "new")
# The modules numba compiles and caches (matching.jitcache fingerprints the same list).
_KERNEL_SOURCES = ("layout.py", "kernels_book.py", "kernels_levels.py", "kernels_orders.py", "kernels_sweep.py",
                   "kernels_bulk.py", "kernels.py", "indexing.py")


def _copy_cache(cache: Path, into: Path, sources: Iterable[Path]) -> None:
    (into / "matching" / "__pycache__").mkdir(exist_ok=True)
    for f in cache.iterdir():       # numba's index and code, and matching.jitcache's stamp
        if f.suffix in (".nbi", ".nbc") or f.name == "kernels.stamp":
            shutil.copy2(f, into / "matching" / "__pycache__" / f.name)
    for f in sources:               # numba's cache index checks the source's mtime
        st = f.stat()
        os.utime(into / "matching" / f.name, ns=(st.st_atime_ns, st.st_mtime_ns))


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
        _copy_cache(cache, into, kernel_sources)
    return into


def borrow_cache(tree: Path, checkout: Path) -> bool:
    """Copy the numba cache of `checkout` (e.g. the main worktree) into `tree` when their matching/*.py
    are identical: saves that side its cold compile (minutes). False when they differ."""
    mine, theirs = tree / "matching", checkout / "matching"
    names = sorted(f.name for f in mine.glob("*.py"))
    if names != sorted(f.name for f in theirs.glob("*.py")) or any(
            (mine / n).read_bytes() != (theirs / n).read_bytes() for n in names):
        return False
    _copy_cache(theirs / "__pycache__", tree, [theirs / n for n in names])
    return True


def probe_env(tree: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")


def run_checked(cmd: list[str], tree: Path, timeout: float = 1800) -> str:
    """Run `cmd` in `tree` with that tree first on the path; its stdout (an error if it failed)."""
    proc = subprocess.run(cmd, cwd=tree, env=probe_env(tree), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"probe failed on {tree}: {proc.stdout[-500:]} {proc.stderr[-2000:]}")
    return proc.stdout


def run_probe(cmd: list[str], tree: Path, timeout: float = 1800) -> dict:
    """`run_checked`, and the last stdout line parsed as JSON (the probes' answer)."""
    return json.loads(run_checked(cmd, tree, timeout).strip().splitlines()[-1])


def alternate(repeat: int, run_one: Callable[[str], dict], describe: Callable[[dict], str],
              progress=print) -> dict[str, list[dict]]:
    """`repeat` rounds of `run_one(side)` for both sides, the first side swapped each round."""
    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    for k in range(repeat):
        for side in SIDES[::1 if k % 2 == 0 else -1]:
            r = run_one(side)
            runs[side].append(r)
            progress(f"run {k + 1}/{repeat} {side}: {describe(r)}")
    return runs


def medians(runs: dict[str, list[dict]], figures: Iterable[str]) -> dict[str, dict]:
    figures = tuple(figures)
    return {side: {f: statistics.median(r[f] for r in rs) for f in figures} for side, rs in runs.items()}


def ratios(med: dict[str, dict], digits: int = 3) -> dict:
    """old / new per figure (> 1: the new side took less); None where the new side's figure is 0."""
    return {f: round(o / med["new"][f], digits) if med["new"][f] else None for f, o in med["old"].items()}


def finish(result: dict, json_path: str | None) -> None:
    from benchmarks._timing import machine_line      # after the caller has put the checkout on sys.path
    print(machine_line(result["machine"]))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2) + "\n")
