"""Old code against new, same run: a start's journal replay (CPU per command) and `serve`'s start to ready.

How changes to what a start does are judged (benchmarks/README.md, "Restart: replaying the journal").
The two git revisions are extracted like `benchmarks.ab_orderflow` does (`git archive`, numba's
cache copied when the kernels are unchanged). Each side first writes its own journal with its own
code, `benchmarks.recovery.write_journal(dir, --commands, --tail)` (a snapshot `--tail` commands
before the end; the fake clock makes both journals the same commands), so each side loads a
snapshot its own code wrote, as a restart does. Then, in fresh processes, alternating and swapping
which side goes first each round:

  replay   (default) the application built as `serve` builds it (metrics on, the snapshot store),
           the kernels warmed, then `recover(freeze=True)` timed with `time.process_time()`: the
           snapshot load and the tail replay, in CPU µs per replayed command. The forked child
           that checks the snapshot's hashes is not in this process's CPU. Each process also prints
           the state hashes after the replay; both sides must agree (a change that alters the state
           fails the run).
  --serve  `gold-router serve` launched on a fresh copy of the side's journal, wall seconds to its
           ready line and the CPU seconds it (with the waited-for forked check) spent by then, as
           `benchmarks.recovery.startup_seconds` measures them.

Reports the median per side, the ratio old / new (> 1: the new code is faster) and the load average
at start and end. `--old HEAD --new HEAD` checks the harness (ratios near 1).

Not here: the write-ahead cost or a whole recovery benchmark (`benchmarks.recovery`).

usage: python -m benchmarks.ab_replay --old REV [--new REV] [--repeat K] [--serve] [--commands N] [--tail N]
                                      [--json FILE]
       python benchmarks/ab_replay.py --probe DIR     (one timed replay, run inside a tree)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OVERLAY = "[risk]\nmsg_rate = 1000000\nmsg_burst = 1000000\n"      # as benchmarks.recovery runs `serve`


def probe(journal_root: str, hashes: bool) -> dict:
    """One replay in this process, with the code on sys.path (the tree under test)."""
    from router.app import build_router_app
    from router.config import load_config
    from router.ops.metrics import Metrics
    from router.records.journal import FileJournal
    from router.records.snapshot import SnapshotStore
    from router.records.state_hash import state_hashes
    overlay = Path(journal_root) / "overlay.toml"
    jd = Path(journal_root) / "var" / "journal"
    app = build_router_app(load_config(overlay), sessions_always_open=True, metrics=Metrics(),
                           journal=FileJournal(jd), snapshots=SnapshotStore(jd / "snapshots"))
    app.warm_up()
    c0 = time.process_time()
    n = app.recover(freeze=True)
    cpu = time.process_time() - c0
    out = {"commands": n, "cpu_s": cpu, "us_per_command": cpu / n * 1e6,
           "snapshot_seq": app.recovered_from.seq if app.recovered_from is not None else 0}
    if hashes:
        out["hashes"] = state_hashes(app.flow)
    return out


def _write(tree: Path, into: Path, commands: int, tail: int) -> None:
    into.mkdir(parents=True, exist_ok=True)
    (into / "overlay.toml").write_text(OVERLAY)
    code = ("import sys; from pathlib import Path; from benchmarks.recovery import write_journal; "
            f"write_journal(Path({str(into / 'var' / 'journal')!r}), {commands}, {tail})")
    subprocess.run([sys.executable, "-c", code], cwd=tree, env=_env(tree), check=True, capture_output=True,
                   timeout=3600)


def _env(tree: Path) -> dict:
    # One hash seed for every process (as ab_orderflow): dict and set layouts then match across runs.
    return dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")


def run_replay(tree: Path, journal_root: Path, hashes: bool) -> dict:
    # -P: this file runs as a script inside the tree under test, without benchmarks/ (whose router.py
    # would shadow the package) at the head of sys.path.
    proc = subprocess.run([sys.executable, "-P", str(HERE / "ab_replay.py"), "--probe", str(journal_root)]
                          + (["--hashes"] if hashes else []), cwd=tree, env=_env(tree),
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"probe failed on {tree}: {proc.stdout[-500:]} {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_serve(tree: Path, journal_root: Path) -> dict:
    """`serve` from a fresh copy of the journal: wall and CPU seconds to the ready line."""
    with tempfile.TemporaryDirectory(prefix="ab-replay-serve-") as tmp:
        shutil.copytree(journal_root / "var", Path(tmp) / "var")
        t0 = time.perf_counter()
        with tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen([sys.executable, "-m", "router", "serve", "--fix-port", "0", "--http-port", "0",
                                     "--sessions-always-open", "--log-level", "WARNING", "--config",
                                     str(journal_root / "overlay.toml")], cwd=tmp, stdout=subprocess.PIPE,
                                    stderr=err, text=True, env=_env(tree))
            line = proc.stdout.readline()
            took = time.perf_counter() - t0
            proc.send_signal(signal.SIGKILL)
            _, _, usage = os.wait4(proc.pid, 0)
            proc.returncode = -9
            proc.stdout.close()
            if "gold-router ready" not in line:
                err.seek(0)
                raise RuntimeError(f"serve did not start on {tree}: {line!r}; {err.read()[-2000:]}")
    return {"wall_s": took, "cpu_s": usage.ru_utime + usage.ru_stime}


def compare(old: Path, new: Path, journals: dict[str, Path], repeat: int, serve: bool, progress=print) -> dict:
    trees = {"old": old, "new": new}
    figures = ("wall_s", "cpu_s") if serve else ("us_per_command", "cpu_s")
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    hashes: dict[str, dict] = {}
    for k in range(repeat):
        for side in ("old", "new")[::1 if k % 2 == 0 else -1]:
            if serve:
                r = run_serve(trees[side], journals[side])
            else:
                r = run_replay(trees[side], journals[side], hashes=k < 2)
                if "hashes" in r:
                    hashes[side] = r.pop("hashes")
            runs[side].append(r)
            progress(f"run {k + 1}/{repeat} {side}: " + ", ".join(f"{f} {r[f]:.3f}" for f in figures)
                     + f"  (load {os.getloadavg()[0]:.1f})")
    if not serve and hashes["old"] != hashes["new"]:
        raise SystemExit(f"the two sides replayed to different states: old {hashes['old']} new {hashes['new']}")
    med = {side: {f: statistics.median(r[f] for r in rs) for f in figures} for side, rs in runs.items()}
    ratio = {f: round(med["old"][f] / med["new"][f], 3) for f in figures}
    return {"runs": runs, "median": med, "old_over_new": ratio, "same_state": not serve}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ab_replay", description=__doc__.splitlines()[0])
    ap.add_argument("--old", help="git revision of the old code")
    ap.add_argument("--new", default="HEAD", help="git revision of the new code (default HEAD: commit first)")
    ap.add_argument("--repeat", type=int, default=4, help="processes per side, alternated (default 4)")
    ap.add_argument("--commands", type=int, default=120_000, help="commands in the journal (default 120000)")
    ap.add_argument("--tail", type=int, default=100_000, help="commands after the snapshot (default 100000)")
    ap.add_argument("--serve", action="store_true", help="time `serve` start to ready instead of the replay")
    ap.add_argument("--json", help="write the result here")
    ap.add_argument("--probe", help=argparse.SUPPRESS)
    ap.add_argument("--hashes", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.probe:
        print(json.dumps(probe(a.probe, a.hashes)))
        return 0
    if not a.old:
        ap.error("--old is required")
    sys.path.insert(0, str(ROOT))
    from benchmarks._timing import PROCESS_START_LOAD, machine_description, machine_line
    from benchmarks.ab_orderflow import extract
    with tempfile.TemporaryDirectory(prefix="goldrouter-ab-replay-") as tmp:
        trees, journals = {}, {}
        for side, rev in (("old", a.old), ("new", a.new)):
            (Path(tmp) / side).mkdir()
            trees[side] = extract(rev, Path(tmp) / side)
            journals[side] = Path(tmp) / f"journal-{side}"
            t0 = time.perf_counter()
            _write(trees[side], journals[side], a.commands, a.tail)
            print(f"{side} ({rev}): journal of {a.commands} commands written in {time.perf_counter() - t0:.0f} s")
        result = compare(trees["old"], trees["new"], journals, a.repeat, a.serve)
    result.update({"benchmark": "ab_replay", "mode": "serve" if a.serve else "replay", "old": a.old, "new": a.new,
                   "commands": a.commands, "tail": a.tail, "machine": machine_description(PROCESS_START_LOAD)})
    print(f"old {a.old} vs new {a.new}, median of {a.repeat} alternated processes, {a.commands} commands "
          f"(snapshot {a.tail} before the end):")
    for f, o in result["median"]["old"].items():
        print(f"  {f:<15} old {o:8.3f}   new {result['median']['new'][f]:8.3f}   old/new {result['old_over_new'][f]}")
    if result["same_state"]:
        print("  state hashes after the replay: the same on both sides")
    print(machine_line(result["machine"]))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
