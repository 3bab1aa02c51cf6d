"""What the order-flow state hash costs, and what its fast paths buy: same state, same run.

The state hash (`router.records.state_hash`) is computed for every snapshot (written and loaded)
and every journal checkpoint (a clean stop, and each one a replay passes), so it is on the path of
a restart. The state: a journal of `--commands` commands (orders from two sessions on three books,
about half trading, cancels, timer ticks: `benchmarks.recovery.write_journal`) replayed into a
fresh application. Cases, alternated round by round:
  fast     the walker as the service runs it (scalars by exact class and empty containers by
           shortcuts, attribute lists cached per class)
  general  the same walker with the two shortcut tables emptied (the attribute cache stays), i.e.
           the general path for every value
Both must give the same digest (checked; the run fails otherwise).

usage: python -m benchmarks.state_hash [--json FILE] [--commands N] [--rounds N]
"""
from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._timing import argument_parser, load_average, machine_description, machine_line, say, write_json
from benchmarks.recovery import CONFIG, write_journal
from router.app import build_router_app
from router.records import state_hash
from router.records.journal import FileJournal


def _time(fast: bool, flow) -> tuple[float, str]:
    saved = state_hash._SCALAR_PREFIX, state_hash._EMPTY
    if not fast:
        state_hash._SCALAR_PREFIX, state_hash._EMPTY = {}, {}
    try:
        t0 = time.perf_counter()
        digest = state_hash.flow_state_hash(flow)
        return time.perf_counter() - t0, digest
    finally:
        state_hash._SCALAR_PREFIX, state_hash._EMPTY = saved


def main(argv: list[str] | None = None) -> int:
    p = argument_parser(__doc__.splitlines()[0])
    p.add_argument("--commands", type=int, default=30_000, help="commands in the journal the state comes from")
    p.add_argument("--rounds", type=int, default=5, help="rounds of (fast, general)")
    args = p.parse_args(argv)
    load_at_start = load_average()
    base = Path(tempfile.mkdtemp(prefix="bench-state-hash-"))
    try:
        write_journal(base / "journal", args.commands, 0)
        app = build_router_app(CONFIG, sessions_always_open=True, journal=FileJournal(base / "journal"))
        app.warm_up()
        app.recover()
        times: dict[str, list[float]] = {"fast": [], "general": []}
        for _ in range(args.rounds):
            digests = set()
            for case in times:
                took, digest = _time(case == "fast", app.flow)
                times[case].append(took)
                digests.add(digest)
            if len(digests) != 1:
                raise SystemExit("the fast and the general walk gave different digests")
        app.journal.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    machine = machine_description(load_at_start)
    say(machine_line(machine))
    fast, general = statistics.median(times["fast"]), statistics.median(times["general"])
    known = len(app.flow.index.by_clordid)
    say(f"state hash of the state after {args.commands} commands ({known} orders known): fast {fast * 1e3:.0f} ms, "
        f"general {general * 1e3:.0f} ms (median of {args.rounds}; ×{general / fast:.2f} for the fast paths)")
    write_json(args.json, {"machine": machine, "commands": args.commands, "orders_known": known,
                           "fast_s": round(fast, 3), "general_s": round(general, 3),
                           "ratio_general_vs_fast": round(general / fast, 3)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
