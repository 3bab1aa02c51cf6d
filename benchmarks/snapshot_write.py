"""What pickling a snapshot costs, with the objects configuration rebuilds named by persistent ids
(snapshot version 3) or by `reducer_override` (version 4): same state, same run.

`SnapshotStore.write` hashes the state and pickles the flow; the background snapshot's forked child
does both while the router trades on, on a 2-core machine beside it. The state: a journal of
`--commands` commands (`benchmarks.recovery.write_journal`) replayed into a fresh application. Per
round, the flow pickled once each way (alternating which goes first), CPU seconds; the two pickles
must load to the same state (checked once, by the state hashes after loading each).

usage: python -m benchmarks.snapshot_write [--json FILE] [--commands N] [--rounds N]
"""
from __future__ import annotations

import io
import pickle
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._timing import argument_parser, load_average, machine_description, machine_line, say, write_json
from benchmarks.recovery import CONFIG, write_journal
from router.app import build_router_app
from router.records import snapshot
from router.records.journal import FileJournal
from router.records.state_hash import state_hashes


class PersistentIds(pickle.Pickler):
    """Version 3's way: `persistent_id`, which pickle calls for every value it saves."""

    def __init__(self, f: io.BytesIO, externals: dict[int, str]) -> None:
        super().__init__(f, protocol=5)
        self.externals = externals

    def persistent_id(self, obj):
        return self.externals.get(id(obj))


def _pickle(pickler: type, flow) -> tuple[float, bytes]:
    body = io.BytesIO()
    t0 = time.process_time()
    pickler(body, snapshot._externals(flow)).dump({"flow": flow.__dict__.copy(),
                                                   "engine": snapshot._engine_state(flow.engine), "extra": None})
    return time.process_time() - t0, body.getvalue()


def _loaded_hashes(body: bytes) -> dict:
    """The state hashes of a fresh application with `body` loaded as `SnapshotStore.load_into` loads it."""
    app = build_router_app(CONFIG, sessions_always_open=True)
    snapshot.SnapshotStore("unused").load_into("(in memory)", app.flow, verify=False,
                                               read=(snapshot.Snapshot(0, 0, {}, "(in memory)"), body))
    return state_hashes(app.flow)


def main(argv: list[str] | None = None) -> int:
    p = argument_parser(__doc__.splitlines()[0])
    p.add_argument("--commands", type=int, default=120_000, help="commands in the journal the state comes from")
    p.add_argument("--rounds", type=int, default=5, help="rounds of (persistent ids, reducer_override)")
    args = p.parse_args(argv)
    load_at_start = load_average()
    base = Path(tempfile.mkdtemp(prefix="bench-snapshot-write-"))
    cases = {"persistent_id": PersistentIds, "reducer_override": snapshot._Pickler}
    try:
        write_journal(base / "journal", args.commands, 0)
        app = build_router_app(CONFIG, sessions_always_open=True, journal=FileJournal(base / "journal"))
        app.warm_up()
        app.recover()
        times: dict[str, list[float]] = {case: [] for case in cases}
        sizes: dict[str, int] = {}
        for k in range(args.rounds):
            for case in list(cases)[::1 if k % 2 == 0 else -1]:
                took, body = _pickle(cases[case], app.flow)
                times[case].append(took)
                sizes[case] = len(body)
                if k == 0 and _loaded_hashes(body) != state_hashes(app.flow):
                    raise SystemExit(f"the {case} pickle does not load to the same state")
        app.journal.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    machine = machine_description(load_at_start)
    say(machine_line(machine))
    med = {case: statistics.median(t) for case, t in times.items()}
    known = len(app.flow.index.by_clordid)
    say(f"pickling the flow after {args.commands} commands ({known} orders known), CPU, median of {args.rounds}: "
        + ", ".join(f"{case} {s * 1e3:.0f} ms ({sizes[case] / 1e6:.1f} MB)" for case, s in med.items())
        + f" (×{med['persistent_id'] / med['reducer_override']:.2f})")
    write_json(args.json, {"machine": machine, "commands": args.commands, "orders_known": known,
                           **{f"{case}_s": round(s, 3) for case, s in med.items()}, "bytes": sizes})
    return 0


if __name__ == "__main__":
    sys.exit(main())
