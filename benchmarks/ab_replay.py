"""Old code against new, same run: a start's journal replay (CPU per command) and `serve`'s start to ready.

How changes to what a start does are judged (benchmarks/README.md, "Restart: replaying the journal").
The two git revisions are extracted like `benchmarks.ab_orderflow` does (`git archive`, numba's
cache copied when the kernel modules are unchanged). Each side first writes its own journal with its
own code, `benchmarks.recovery.write_journal(dir, --commands, --tail)` (a snapshot `--tail` commands
before the end; the fake clock makes both journals the same commands), so each side loads a
snapshot its own code wrote, as a restart does. The application is built as `serve` builds it
(metrics on, the snapshot store), its kernels warmed, and `recover(freeze=True)` run; every replay
prints the state hashes it ends with, and the two sides must agree (a change that alters the state
fails the run). Modes:

  lockstep   (default) both sides replay at once in two processes that take turns every `--chunk`
             commands of the tail (the waiting one uses no CPU), the first side swapped each turn;
             per chunk the ratio of CPU seconds old / new. Whole replays in turn vary by ±20 % from
             process to process at load 4-5 on this machine; chunks a few seconds apart see the
             same neighbours, so their ratio is steady to about 1 %.
  --processes  whole replays in fresh processes, alternated: `time.process_time()` of `recover()`
             (the snapshot load and the tail) in CPU µs per replayed command.
  --serve    `gold-router serve` launched on a fresh copy of the side's journal, wall seconds to its
             ready line and the CPU seconds it (with the waited-for forked check) spent by then, as
             `benchmarks.recovery.startup_seconds` measures them (`--bytecode-cache`: as its option).

The forked child that checks the snapshot's hashes is in neither replay figure (another process).
Reports medians, the ratio old / new (> 1: the new code is faster) and the load average at start and
end. `--old HEAD --new HEAD` checks the harness (ratios near 1).

Not here: the write-ahead cost or a whole recovery benchmark (`benchmarks.recovery`).

usage: python -m benchmarks.ab_replay --old REV [--new REV] [--repeat K] [--chunk N | --processes | --serve]
                                      [--commands N] [--tail N] [--json FILE]
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
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OVERLAY = "[risk]\nmsg_rate = 1000000\nmsg_burst = 1000000\n"      # as benchmarks.recovery runs `serve`


def probe(journal_root: str, hashes: bool, chunk: int) -> dict:
    """One replay in this process, with the code on sys.path (the tree under test). With `chunk`, the
    replay stops after every `chunk` commands of the tail, prints that chunk's CPU seconds and waits
    for a line on stdin: the controller runs the two sides' chunks in turn (`lockstep`)."""
    from router.app import build_router_app
    from router.config import load_config
    from router.ops.metrics import Metrics
    from router.records.journal import FileJournal
    from router.records.snapshot import SnapshotStore
    from router.records.state_hash import state_hashes
    overlay = Path(journal_root) / "overlay.toml"
    jd = Path(journal_root) / "var" / "journal"
    journal = FileJournal(jd)
    if chunk:
        _step_reads(journal, chunk)
    app = build_router_app(load_config(overlay), sessions_always_open=True, metrics=Metrics(),
                           journal=journal, snapshots=SnapshotStore(jd / "snapshots"))
    app.warm_up()
    c0 = time.process_time()
    n = app.recover(freeze=True)
    cpu = time.process_time() - c0
    out = {"commands": n, "cpu_s": cpu, "us_per_command": cpu / n * 1e6,
           "snapshot_seq": app.recovered_from.seq if app.recovered_from is not None else 0}
    if hashes:
        out["hashes"] = state_hashes(app.flow)
    return out


def _step_reads(journal, chunk: int) -> None:
    """Make the replay's read of the tail (any read not from command 1) pause every `chunk` commands:
    the CPU seconds since the last pause are printed, then a line is awaited on stdin. The time
    between two pauses is the applying of those commands (the replay asks for the next command
    when it is done with the last), whatever the tree's replay loop looks like."""
    for name in ("read", "read_fields"):        # (the replay reads the second where it exists)
        if hasattr(journal, name):
            setattr(journal, name, _stepped(getattr(journal, name), chunk))


def _stepped(read, chunk: int):
    def stepped(start: int):
        commands = read(start)
        if start <= 1:
            return commands
        return _pausing(commands, chunk)
    return stepped


def _pausing(commands, chunk: int):
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()
    n, c0 = 0, time.process_time()
    for cmd in commands:
        yield cmd
        n += 1
        if n % chunk == 0:
            print(json.dumps({"chunk_s": time.process_time() - c0}), flush=True)
            sys.stdin.readline()
            c0 = time.process_time()


def _write(tree: Path, into: Path, commands: int, tail: int) -> None:
    into.mkdir(parents=True, exist_ok=True)
    (into / "overlay.toml").write_text(OVERLAY)
    code = ("import sys; from pathlib import Path; from benchmarks.recovery import write_journal; "
            f"write_journal(Path({str(into / 'var' / 'journal')!r}), {commands}, {tail})")
    subprocess.run([sys.executable, "-c", code], cwd=tree, env=_env(tree), check=True, capture_output=True,
                   timeout=3600)


def _env(tree: Path) -> dict:
    # Only the driver calls this (the probe runs inside the tree under test, which may lack _ab).
    from benchmarks._ab import probe_env
    return probe_env(tree)


def run_replay(tree: Path, journal_root: Path, hashes: bool) -> dict:
    from benchmarks._ab import run_probe
    return run_probe(_probe_cmd(journal_root, hashes, 0), tree, timeout=3600)


def _probe_cmd(journal_root: Path, hashes: bool, chunk: int) -> list[str]:
    # -P: this file runs as a script inside the tree under test, without benchmarks/ (whose router.py
    # would shadow the package) at the head of sys.path.
    return ([sys.executable, "-P", str(HERE / "ab_replay.py"), "--probe", str(journal_root), "--chunk", str(chunk)]
            + (["--hashes"] if hashes else []))


def run_lockstep(trees: dict[str, Path], journals: dict[str, Path], chunk: int, progress=print) -> dict:
    """Both sides' replays at once, in two processes taking turns chunk by chunk (the other one waits,
    using no CPU), first side swapped every chunk: a noisy neighbour then hits the two sides' same
    commands within seconds of each other. Per chunk the ratio old / new of CPU seconds."""
    errs = {side: tempfile.TemporaryFile("w+") for side in ("old", "new")}
    procs = {side: subprocess.Popen(_probe_cmd(journals[side], True, chunk), cwd=trees[side], env=_env(trees[side]),
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errs[side], text=True)
             for side in ("old", "new")}

    def line(side: str) -> dict:
        got = procs[side].stdout.readline()
        if not got:
            errs[side].seek(0)
            raise RuntimeError(f"the {side} probe stopped: {errs[side].read()[-2000:]}")
        return json.loads(got)
    for side in procs:
        assert line(side).get("ready")       # snapshot loaded, at the tail's first command (both at once)
    chunks: dict[str, list[float]] = {"old": [], "new": []}
    results: dict[str, dict] = {}
    k = 0
    while len(results) < 2:
        for side in ("old", "new")[::1 if k % 2 == 0 else -1]:
            if side in results:
                continue
            procs[side].stdin.write("\n")
            procs[side].stdin.flush()
            got = line(side)
            if "chunk_s" in got:
                chunks[side].append(got["chunk_s"])
            else:
                results[side] = got
        k += 1
        if k % 5 == 0:
            progress(f"chunk {k}: " + ", ".join(f"{s} {c[-1] * 1e6 / chunk:.1f} us/command" for s, c in chunks.items()
                                                if c) + f"  (load {os.getloadavg()[0]:.1f})")
    for side, p in procs.items():
        p.wait(60)
        errs[side].close()
    n = min(len(c) for c in chunks.values())
    ratios = [chunks["old"][i] / chunks["new"][i] for i in range(n)]
    return {"chunks": chunks, "chunk_ratios": ratios, "results": results}


def run_serve(tree: Path, journal_root: Path, bytecode_cache: bool = False) -> dict:
    """`serve` from a fresh copy of the journal: wall and CPU seconds to the ready line. With
    `bytecode_cache`, Python's bytecode cache on, kept beside the tree (`benchmarks.recovery --bytecode-cache`)."""
    env = _env(tree)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tree.parent / f"pycache-{tree.name}")
    from benchmarks.recovery import startup_seconds      # the driver only: it imports the router
    with tempfile.TemporaryDirectory(prefix="ab-replay-serve-") as tmp:
        shutil.copytree(journal_root / "var", Path(tmp) / "var")
        took, cpu = startup_seconds(Path(tmp), env, journal_root / "overlay.toml")
    return {"wall_s": took, "cpu_s": cpu}


def compare(trees: dict[str, Path], journals: dict[str, Path], repeat: int, mode: str, chunk: int,
            progress=print, bytecode_cache: bool = False) -> dict:
    """`repeat` runs of `mode`: "lockstep" (each run gives a ratio per chunk), "processes" (whole
    replays in turn) or "serve"; medians per side and old / new."""
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    hashes: dict[str, dict] = {}
    ratios: list[float] = []
    if mode == "serve" and bytecode_cache:
        for side in trees:          # one unmeasured start each compiles the modules into the cache
            run_serve(trees[side], journals[side], True)
    for k in range(repeat):
        if mode == "lockstep":
            got = run_lockstep(trees, journals, chunk, progress)
            ratios += got["chunk_ratios"]
            for side, r in got["results"].items():
                hashes[side] = r.pop("hashes")
                runs[side].append(r)
            progress(f"run {k + 1}/{repeat}: median chunk old/new {statistics.median(got['chunk_ratios']):.3f}, "
                     + ", ".join(f"{side} {r['us_per_command']:.1f} us/command" for side, r in got["results"].items()))
            if hashes["old"] != hashes["new"]:
                break
            continue
        for side in ("old", "new")[::1 if k % 2 == 0 else -1]:
            if mode == "serve":
                r = run_serve(trees[side], journals[side], bytecode_cache)
            else:
                r = run_replay(trees[side], journals[side], hashes=k < 2)
                if "hashes" in r:
                    hashes[side] = r.pop("hashes")
            runs[side].append(r)
            progress(f"run {k + 1}/{repeat} {side}: " + ", ".join(f"{f} {v:.3f}" for f, v in r.items()
                                                                if f in ("wall_s", "cpu_s", "us_per_command"))
                     + f"  (load {os.getloadavg()[0]:.1f})")
    if mode != "serve" and hashes["old"] != hashes["new"]:
        raise SystemExit(f"the two sides replayed to different states: old {hashes['old']} new {hashes['new']}")
    figures = ("wall_s", "cpu_s") if mode == "serve" else ("us_per_command", "cpu_s")
    med = {side: {f: statistics.median(r[f] for r in rs) for f in figures} for side, rs in runs.items()}
    ratio = {f: round(med["old"][f] / med["new"][f], 3) for f in figures}
    out = {"runs": runs, "median": med, "old_over_new": ratio, "same_state": mode != "serve"}
    if ratios:
        q = statistics.quantiles(ratios, n=4)
        out["chunk_ratio"] = {"median": round(statistics.median(ratios), 3), "q1": round(q[0], 3),
                              "q3": round(q[2], 3), "chunks": len(ratios)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ab_replay", description=__doc__.splitlines()[0])
    ap.add_argument("--old", help="git revision of the old code")
    ap.add_argument("--new", default="HEAD", help="git revision of the new code (default HEAD: commit first)")
    ap.add_argument("--repeat", type=int, default=2, help="runs (lockstep) or processes per side (default 2)")
    ap.add_argument("--commands", type=int, default=120_000, help="commands in the journal (default 120000)")
    ap.add_argument("--tail", type=int, default=100_000, help="commands after the snapshot (default 100000)")
    ap.add_argument("--chunk", type=int, default=2000, help="commands per lock-step turn (default 2000)")
    ap.add_argument("--processes", action="store_true", help="whole replays in turn instead of lock-step chunks")
    ap.add_argument("--serve", action="store_true", help="time `serve` start to ready instead of the replay")
    ap.add_argument("--bytecode-cache", action="store_true",
                    help="with --serve: Python's bytecode cache on (one unmeasured start per side compiles)")
    ap.add_argument("--json", help="write the result here")
    ap.add_argument("--probe", help=argparse.SUPPRESS)
    ap.add_argument("--hashes", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.probe:
        print(json.dumps(probe(a.probe, a.hashes, a.chunk)), flush=True)
        return 0
    if not a.old:
        ap.error("--old is required")
    if not 0 < a.tail < a.commands:
        # the tail is what follows the snapshot: with no command before it there is no snapshot, the
        # replay reads from command 1 and the lock-step pause (any read not from command 1) never comes
        ap.error(f"--tail must be above 0 and below --commands ({a.commands}), got {a.tail}")
    mode = "serve" if a.serve else "processes" if a.processes else "lockstep"
    sys.path.insert(0, str(ROOT))
    from benchmarks._ab import extract, finish
    from benchmarks._timing import PROCESS_START_LOAD, machine_description
    with tempfile.TemporaryDirectory(prefix="goldrouter-ab-replay-") as tmp:
        trees, journals = {}, {}
        for side, rev in (("old", a.old), ("new", a.new)):
            (Path(tmp) / side).mkdir()
            trees[side] = extract(rev, Path(tmp) / side)
            journals[side] = Path(tmp) / f"journal-{side}"
            t0 = time.perf_counter()
            _write(trees[side], journals[side], a.commands, a.tail)
            print(f"{side} ({rev}): journal of {a.commands} commands written in {time.perf_counter() - t0:.0f} s")
        result = compare(trees, journals, a.repeat, mode, a.chunk, bytecode_cache=a.bytecode_cache)
    result.update({"benchmark": "ab_replay", "mode": mode, "bytecode_cache": a.bytecode_cache, "old": a.old, "new": a.new, "commands": a.commands,
                   "tail": a.tail, "machine": machine_description(PROCESS_START_LOAD)})
    print(f"old {a.old} vs new {a.new}, {mode}, {a.repeat} runs, {a.commands} commands (snapshot {a.tail} before "
          f"the end):")
    if "chunk_ratio" in result:
        c = result["chunk_ratio"]
        print(f"  CPU per chunk of {a.chunk} commands, old/new: median {c['median']} (quartiles {c['q1']}..{c['q3']}, "
              f"{c['chunks']} chunks)")
    for f, o in result["median"]["old"].items():
        print(f"  {f:<15} old {o:8.3f}   new {result['median']['new'][f]:8.3f}   old/new {result['old_over_new'][f]}")
    if result["same_state"]:
        print("  state hashes after the replay: the same on both sides")
    finish(result, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
