"""The journal's day per commit (`Sequencer._rotate`), old code against new in one process.

Every `Sequencer.commit` asks which trading day's journal file the batch goes to. This times that
question alone for two revisions of `router/records/sequencer.py` (the old one read with `git show`
and loaded as a module of its own; everything else it imports is this tree's), alternated in blocks,
on the embedded configuration's calendars, one commit every `--step-us` microseconds from 02:00 UTC
(10:00 in Shanghai, the continuous session) of a weekday, so the day is that of an open book. Each
block's commits continue the last block's clock. The journal is a stand-in holding `trading_day` and
counting `rotate` calls; both revisions must rotate at the same commits (checked: the run fails
otherwise). CPU time (`time.thread_time_ns`) per call; the ratio is the median of the blocks' own
old / new ratios.

Not here: the journal's write (`benchmarks.journal`), the rest of the commit (`benchmarks.service_stages`).

usage: python -m benchmarks.journal_day --old REV [--new REV (default: this tree)] [--blocks 40] [--calls 20000]
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

from benchmarks._timing import PROCESS_START_LOAD, argument_parser, machine_description, machine_line, say, write_json
from router.config import build_config, embedded_defaults

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_767_664_800_000_000_000      # 2026-01-06 02:00 UTC, a Tuesday: 10:00 in Shanghai


class _Journal:
    def __init__(self) -> None:
        self.trading_day: str | None = None
        self.rotations: list[str] = []

    def rotate(self, day: str) -> None:
        self.trading_day = day
        self.rotations.append(day)


def _sequencer_class(rev: str | None) -> type:
    if rev is None:
        from router.records.sequencer import Sequencer
        return Sequencer
    source = subprocess.run(["git", "show", f"{rev}:router/records/sequencer.py"], cwd=ROOT, capture_output=True,
                            check=True, text=True).stdout
    module = types.ModuleType(f"sequencer_{rev}")
    exec(compile(source, f"{rev}:router/records/sequencer.py", "exec"), module.__dict__)
    return module.Sequencer


def _app(cls: type, calendars: Any, books: list) -> Any:
    app = cls.__new__(cls)
    app.journal = _Journal()
    app.flow = types.SimpleNamespace(calendars=calendars, books=books)
    return app


def _block(app: Any, start: int, calls: int, step: int) -> int:
    rotate = app._rotate
    now = start
    t = time.thread_time_ns()
    for _ in range(calls):
        now += step
        rotate(now)
    return time.thread_time_ns() - t


def main() -> int:
    ap = argument_parser(__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="git revision of the old sequencer")
    ap.add_argument("--new", default=None, help="git revision of the new one (default: this tree's)")
    ap.add_argument("--blocks", type=int, default=40)
    ap.add_argument("--calls", type=int, default=20000, help="commits per block")
    ap.add_argument("--step-us", type=int, default=200, help="microseconds between commits")
    a = ap.parse_args()
    config = build_config(embedded_defaults())
    calendars, books = config.sections["calendars"], config.catalogue.by_book()
    apps = {"old": _app(_sequencer_class(a.old), calendars, books),
            "new": _app(_sequencer_class(a.new), calendars, books)}
    step = a.step_us * 1000
    ns: dict[str, list[int]] = {"old": [], "new": []}
    start = T0
    for side in apps:
        _block(apps[side], start - 2 * step * a.calls, a.calls, step)      # warm-up, the clock before T0
    for k in range(a.blocks):
        for side in ("old", "new")[::1 if k % 2 == 0 else -1]:
            ns[side].append(_block(apps[side], start, a.calls, step))
        start += step * a.calls
    if apps["old"].journal.rotations != apps["new"].journal.rotations:
        say(f"FAILED: the revisions rotated differently: {apps['old'].journal.rotations} "
            f"against {apps['new'].journal.rotations}")
        return 1
    per = {side: statistics.median(v) / a.calls for side, v in ns.items()}
    ratio = statistics.median(o / n for o, n in zip(ns["old"], ns["new"]))
    result = {"benchmark": "journal_day", "old": a.old, "new": a.new or "tree", "ns_per_commit": per,
              "old_over_new": round(ratio, 3), "rotations": apps["new"].journal.rotations,
              "machine": machine_description(PROCESS_START_LOAD)}
    say(f"journal day per commit: old {a.old} {per['old']:.0f} ns, new {a.new or 'tree'} {per['new']:.0f} ns, "
        f"old/new {ratio:.2f} ({a.blocks} blocks of {a.calls} commits, {a.step_us} us apart; "
        f"rotations {result['rotations']})")
    say(machine_line(result["machine"]))
    write_json(a.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
