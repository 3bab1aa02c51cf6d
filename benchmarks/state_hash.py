"""What the order-flow state hash costs, and what its fast paths buy: same state, same run.

The state hash (`router.records.state_hash`) is computed for every snapshot (written and loaded)
and every journal checkpoint (a clean stop, and each one a replay passes), so it is on the path of
a restart. The state: a journal of `--commands` commands (orders from two sessions on three books,
about half trading, cancels, timer ticks: `benchmarks.recovery.write_journal`) replayed into a
fresh application. Cases, alternated round by round:
  fast     the walker as the service runs it (scalars by exact class and empty containers by
           shortcuts, members digested inline, a slotted object's attributes read in one call)
  general  the same walker with the shortcut tables emptied and `_FAST` off (the attribute cache
           stays), i.e. the general path for every value
  old      with `--old REV`: that revision's `router/records/state_hash.py`, loaded beside this one
           and run on the same state (how a change to the walker is judged)
  previous with `--previous`: this walker in the digest version before `HASH_VERSION` (how a new
           digest version is judged)
All cases in one digest version must give the same digest (checked; the run fails otherwise); the
collector is off while a walk is timed, as in the forked check and the snapshot writer. `--snapshot-at N` hashes the state
as a start loads it instead: the journal's snapshot at command N, loaded, no replay (the forked
check at a start hashes that state).

usage: python -m benchmarks.state_hash [--json FILE] [--commands N] [--rounds N] [--old REV] [--previous]
                                       [--snapshot-at N]
"""
from __future__ import annotations

import gc
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._timing import argument_parser, load_average, machine_description, machine_line, say, write_json
from benchmarks.recovery import CONFIG, write_journal
from router.app import build_router_app
from router.records import state_hash
from router.records.journal import FileJournal
from router.records.snapshot import SnapshotStore

ROOT = Path(__file__).resolve().parent.parent


def _time(case: str, flow, old=None) -> tuple[float, str]:
    if case == "old":
        return _timed(old.flow_state_hash, flow)
    if case == "previous":
        return _timed(lambda f: state_hash.flow_state_hash(f, state_hash.HASH_VERSION - 1), flow)
    saved = state_hash._SCALAR_PREFIX, state_hash._EMPTY, state_hash._FAST
    if case == "general":
        state_hash._SCALAR_PREFIX, state_hash._EMPTY, state_hash._FAST = {}, {}, False
    try:
        return _timed(state_hash.flow_state_hash, flow)
    finally:
        state_hash._SCALAR_PREFIX, state_hash._EMPTY, state_hash._FAST = saved


def _timed(fn, flow) -> tuple[float, str]:
    gc.disable()
    try:
        t0 = time.process_time()
        digest = fn(flow)
        return time.process_time() - t0, digest
    finally:
        gc.enable()


def _old_walker(rev: str, into: Path):
    """`rev`'s state_hash module, loaded under another name (it imports nothing of the router)."""
    source = subprocess.run(["git", "show", f"{rev}:router/records/state_hash.py"], cwd=ROOT, check=True,
                            capture_output=True).stdout
    path = into / "old_state_hash.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("old_state_hash", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    p = argument_parser(__doc__.splitlines()[0])
    p.add_argument("--commands", type=int, default=30_000, help="commands in the journal the state comes from")
    p.add_argument("--rounds", type=int, default=5, help="rounds of (fast, general[, old])")
    p.add_argument("--old", help="also time this git revision's walker on the same state")
    p.add_argument("--previous", action="store_true", help="also time the previous digest version")
    p.add_argument("--snapshot-at", type=int, default=0,
                   help="hash the state of a snapshot at this command, loaded as a start loads it")
    args = p.parse_args(argv)
    load_at_start = load_average()
    base = Path(tempfile.mkdtemp(prefix="bench-state-hash-"))
    try:
        old = _old_walker(args.old, base) if args.old else None
        tail = args.commands - args.snapshot_at if args.snapshot_at else 0
        write_journal(base / "journal", args.commands, tail)
        app = build_router_app(CONFIG, sessions_always_open=True, journal=FileJournal(base / "journal"),
                               snapshots=SnapshotStore(base / "journal" / "snapshots"))
        app.warm_up()
        if args.snapshot_at:
            gc.disable()                # as the replay loads it
            app.snapshots.load_into(app.snapshots.candidates(args.snapshot_at)[0], app.flow, verify=False)
            gc.enable()
        else:
            app.recover()
        times: dict[str, list[float]] = {"fast": [], "general": []}
        if old is not None:
            times["old"] = []
        if args.previous:
            times["previous"] = []
        for k in range(args.rounds):
            digests = set()
            for case in list(times)[::1 if k % 2 == 0 else -1]:
                took, digest = _time(case, app.flow, old)
                times[case].append(took)
                if case != "previous":
                    digests.add(digest)
            if len(digests) != 1:
                raise SystemExit(f"the walks gave different digests: {digests}")
        app.journal.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    machine = machine_description(load_at_start)
    say(machine_line(machine))
    med = {case: statistics.median(t) for case, t in times.items()}
    known = len(app.flow.index.by_clordid)
    state = f"the snapshot at command {args.snapshot_at}" if args.snapshot_at else f"after {args.commands} commands"
    say(f"state hash of the state {state} ({known} orders known), CPU, median of {args.rounds}: "
        + ", ".join(f"{case} {s * 1e3:.0f} ms" for case, s in med.items())
        + f" (×{med['general'] / med['fast']:.2f} general/fast"
        + (f", ×{med['old'] / med['fast']:.2f} old/fast" if "old" in med else "")
        + (f", ×{med['previous'] / med['fast']:.2f} previous/fast" if "previous" in med else "") + ")")
    write_json(args.json, {"machine": machine, "commands": args.commands, "snapshot_at": args.snapshot_at,
                           "orders_known": known, "old": args.old,
                           **{f"{case}_s": round(s, 3) for case, s in med.items()},
                           "ratio_general_vs_fast": round(med["general"] / med["fast"], 3)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
