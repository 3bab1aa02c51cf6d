"""What re-delivering the replay's tail costs a start: `RouterApp._redeliver` CPU, in the two cases.

After a replay the application holds the outputs of the journal's last `REDELIVER_TAIL` commands and,
once the gateway is attached, re-sends each session the ExecutionReports its FIX store lacks
(drop-copy sessions' copies included). Timed here with `time.process_time()` on a journal written by
`benchmarks.recovery.write_journal` (--commands, a snapshot --tail commands before the end), against
stand-in sessions that store nothing and send nowhere, in two cases:

  newer   every session's store began its run of sequence numbers after the tail's commands (a start
          past a sequence reset; also `benchmarks.recovery`'s starts, whose FIX stores are new): nothing
          is re-sent.
  older   the stores began before (a crash mid-day): every report of the tail is checked and re-sent.

Run it in two trees (PYTHONPATH=<tree>) to compare code; figures are medians of --repeat calls.

Not here: the replay itself (`benchmarks.ab_replay`), sockets (the stand-ins send nothing).

usage: python -m benchmarks.redelivery [--commands N] [--tail N] [--repeat K]
       (another tree: cd <tree> && PYTHONPATH=<tree> python -P <this file> ...)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


class _Session:
    def __init__(self, name: str, epoch: int) -> None:
        self.session_id, self.sequence_epoch = name, epoch

    def stored_messages(self) -> list:
        return []

    def send(self, msg_type: bytes, body) -> bool:
        return True


class _Gateway:
    def __init__(self, names, epoch: int) -> None:
        self.sessions = {n: _Session(n, epoch) for n in names}

    def handle(self, name: str):
        return self.sessions.get(name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commands", type=int, default=30_000)
    ap.add_argument("--tail", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    from benchmarks.recovery import CONFIG, write_journal
    from router.app import build_router_app
    from router.records.journal import FileJournal
    from router.records.snapshot import SnapshotStore
    with tempfile.TemporaryDirectory(prefix="bench-redelivery-") as tmp:
        jd = Path(tmp) / "journal"
        write_journal(jd, a.commands, a.tail)
        app = build_router_app(CONFIG, sessions_always_open=True, journal=FileJournal(jd),
                               snapshots=SnapshotStore(jd / "snapshots"))
        app.warm_up()
        app.recover(freeze=True)
        tail = app._tail_outs
        names = {out.session for _, out in tail} | set(app.drop_copy.names)
        out = {"outputs": len(tail), "load": os.getloadavg()}
        for case, epoch in (("newer", time.time_ns()), ("older", 0)):
            samples = []
            for _ in range(a.repeat):
                # fresh bodies each call: a body caches the pairs it was read as
                bodies = [(w, o._replace(body=type(o.body)(o.body.wire)) if hasattr(o.body, "wire") else o)
                          for w, o in tail]
                app.gateway = _Gateway(names, epoch)
                c0 = time.process_time()
                app._redeliver(bodies)
                samples.append(time.process_time() - c0)
            out[f"{case}_ms"] = round(statistics.median(samples) * 1000, 1)
        app.journal.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
