"""DESIGN STUDY (issue 15, session 11): what one compiled call per socket read would cost per new order.

Issue 15 proposes to "process a whole socket read's worth of messages as one batch through one numba
call that does pre-trade checks, reservations and matching together, leaving Python only parsing and
formatting". Nothing in the service works that way; this benchmark measures what that design could
reach for the plain orders it covers, beside today's path, same process, alternating read by read:

1. today: `OrderFlow.on_message` per message, the flow `benchmarks/orderflow.py` builds (its
   new_instrument figure);
2. the Python the design keeps, in two parts: `pre` (from the parsed `FixMessage`, as the session layer
   hands it over: the tags the core needs into one int64 command row per message, ClOrdID duplicate
   check, account / symbol / price memos, the FIX value check) and `post` (after the call: the order's
   record in the flow's index, its ack from the flow's own template `reports.ack_report`, and for an IOC
   its cancel from `reports.cancelled_report`);
3. `core`: one call per read of `batch_study_kernel.batch_new`, which for each row does today's checks
   (throttle, kill switch, the router's one-book filters, cash, risk limits, collar, credit), takes the
   cash reservation and working notional, and runs the core NEW through the real engine's own command
   loop (`matching.kernels._loop`, called from the new kernel) on the real engine's arena.

Cases: `resting` (SGE.AU9999 buy 1 lot limit DAY at 550.00 or, with --distinct, the prices and sizes
`benchmarks.orderflow` cycles through, below 200 resting sells at 565.00: one ack) and `ioc` (the same
with TimeInForce IOC, meeting nothing: ack + cancel); reads of 1, 2, 7 and 32 messages. Figures:
medians of a read's ns / its messages; `frames` is encoding the answers as the gateway does (the same
bytes on both paths, timed once); "beyond core", issue 15's measure, is today's path + frames - today's
core call alone (`orderflow._core_new`), and for the study at most its path + frames (its whole compiled
call counted, the core NEW inside it too).
Every output is checked: the study's answers must be byte for byte today's (both flows start from the
same state and see the same messages at the same times); the resting orders are then cancelled through
each flow's own `on_message` (untimed; the two cancels must be identical too); at the end both engines'
state hashes must agree, the study's reservations and working notional must be back to zero, and no
message may have fallen outside what the kernel covers. A probe read with an order outside the price
band/collar checks that the kernel refuses it for today's reason. Anything else exits 1.

Read the figure as a LOWER BOUND of that design's cost, not a promise: not covered (README, "One
compiled call per read"): products and their sweep, sells, margined books, quota, FX staleness, constraints,
market/GTD orders, trades (fills, STP, the ledger), the routes log, metrics, rejects' own texts.

usage: python -m benchmarks.batch_study [--json FILE] [--rounds N] [--sizes 1,2,7,32] [--distinct N]
"""
from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from benchmarks._timing import PROCESS_START_LOAD, argument_parser, machine_description, machine_line, say, write_json
from benchmarks.ab_probe import variant
from benchmarks.batch_study_flow import MAX_READ, BatchFlow
from benchmarks.orderflow import _Bench, _config, _core_new
from router.fix.codec import encode
from router.orders.core_bridge import Out

SESSION = "SHCLIENT1"
CASES = ("resting", "ioc")


class Runner:
    """Two flows built alike (`benchmarks.orderflow._Bench`, 200 resting sells each): today's answers
    every message with `on_message`, the study's through `BatchFlow.read`; same messages, same times."""

    def __init__(self, distinct: int = 1) -> None:
        config = _config()
        self.today = _Bench(config, reference=False, distinct=distinct)
        self.study = _Bench(config, reference=False, distinct=distinct)
        self.batch = BatchFlow(self.study.flow)
        self.distinct = distinct
        self.now = max(self.today.now, self.study.now)
        self.problems: dict[str, int] = {}
        self.first_problem: dict[str, str] = {}
        self.checked = 0
        self._k = 0
        self.read("resting", 1)    # the flow's account / symbol memos, as after any first order
        self.batch.uncovered = 0

    def _problem(self, where: str, what: str) -> None:
        self.problems[where] = self.problems.get(where, 0) + 1
        self.first_problem.setdefault(where, what)

    def _times(self, n: int) -> list[int]:
        self.now += 1000 * n
        return [self.now - 1000 * (n - 1 - j) for j in range(n)]

    def messages(self, case: str, n: int, prices: list | None = None) -> list:
        msgs = []
        for j in range(n):
            self._k += 1
            qty, px = variant(self._k, self.distinct, 55000)
            px = (prices or [None] * n)[j] or px
            body = [(11, f"{case[0]}{self._k}"), (55, "SGE.AU9999"), (54, 1), (60, "20260101-00:00:00"), (38, qty),
                    (40, 2), (44, px)]
            msgs.append(self.today.msg(SESSION, b"D", body + ([(59, 3)] if case == "ioc" else [])))
        return msgs

    def read(self, case: str, n: int, today_first: bool = True, prices: list | None = None) -> tuple[int, list]:
        """One read of `n` orders through both paths, checked; returns (today's ns, the study's ns of
        pre, core, post, and the answers' frames: the same bytes for both, encoded once as the gateway
        encodes them, as `benchmarks.orderflow` adds to new_instrument)."""
        msgs = self.messages(case, n, prices)
        nows = self._times(n)
        flow = self.today.flow
        perf = time.perf_counter_ns
        for first in ((True, False) if today_first else (False, True)):
            if first:
                t = perf()
                mine = [flow.on_message(SESSION, m, now) for m, now in zip(msgs, nows)]
                today_ns = perf() - t
            else:
                theirs, *parts = self.batch.read(SESSION, msgs, nows)
        mine = [o for outs in mine for o in outs]
        t = perf()
        for seq, out in enumerate(mine, 1):
            encode(out.msg_type, b"GOLDRTR", out.session.encode(), seq, b"20260101-00:00:00.000", out.body)
        parts.append(perf() - t)
        self.compare(case, mine, theirs)
        if case != "ioc":
            self.cancel(msgs)
        return today_ns, parts

    def compare(self, case: str, mine: list, theirs: list) -> None:
        """Today's answers are what the case expects, and the study's are the same bytes (a refusal in
        the probe: the same ExecType and OrdRejReason; its Text is the reason's own)."""
        got = [_field(o, 150) for o in mine]
        want = {"resting": [b"0"] * len(got), "ioc": [b"0", b"4"] * (len(got) // 2)}.get(case)
        if case == "probe":
            want = [b"0", b"8", b"0"]
            mine, theirs = ([(o.session, o.msg_type, _field(o, 150), _field(o, 103)) if _field(o, 150) == b"8"
                             else (o.session, o.msg_type, o.body.wire) for o in outs] for outs in (mine, theirs))
        else:
            mine, theirs = ([_wire(o) for o in outs] for outs in (mine, theirs))
        if got != want or not got:
            self._problem(f"today {case}", f"ExecTypes {got}, expected {want}")
        if mine != theirs:
            self._problem(f"study {case}", f"today {mine[:3]} != study {theirs[:3]}")
        self.checked += len(mine)

    def cancel(self, msgs: list) -> None:
        """Cancel the read's resting orders in both flows (untimed): each 150=4, byte for byte alike."""
        live = self.today.flow.index
        for m in msgs:
            o = live.by_clordid.get((SESSION, m.get(11)))
            if o is None or o.oid not in live.live:
                continue
            clordid = m.get(11).decode()
            now = self._times(1)[0]
            cxl = self.today.msg(SESSION, b"F", [(41, clordid), (11, clordid + "c"), (55, "SGE.AU9999"), (54, 1),
                                                 (60, "20260101-00:00:00")])
            a = self.today.flow.on_message(SESSION, cxl, now)
            b = self.study.flow.on_message(SESSION, cxl, now)
            if [_field(o, 150) for o in a] != [b"4"] or [_wire(o) for o in a] != [_wire(o) for o in b]:
                self._problem("cancel", f"today {[_wire(o) for o in a]} study {[_wire(o) for o in b]}")
            self.checked += 2
        self.batch.release(SESSION, [m.get(11) for m in msgs])

    def core_alone(self) -> int:
        """Today's core call alone on a resting NEW (`orderflow._core_new`, on today's flow)."""
        self.today.now = self.now
        ns, accepted = _core_new(self.today, 10_000_000 + self._k)
        if not accepted:
            self._problem("core alone", "the NEW was not accepted")
        return ns

    def final_checks(self) -> None:
        """Both engines hold the same orders; the kernel's reservations and notional are back where they
        started; every message was one the kernel covers; the flows' live orders agree."""
        if self.today.flow.engine.state_hash() != self.study.flow.engine.state_hash():
            self._problem("state", "the two engines' state hashes differ")
        st = self.batch.state
        if not np.array_equal(st.RES, st.res0) or st.OPEN.any() or self.batch.held:
            self._problem("state", f"reservations {st.RES.tolist()} vs {st.res0.tolist()}, notional {st.OPEN.tolist()}")
        if len(self.today.flow.index.live) != len(self.study.flow.index.live):
            self._problem("state", "live order counts differ")
        if self.batch.uncovered:
            self._problem("uncovered", f"{self.batch.uncovered} messages the kernel does not cover")


def _field(out: Out, tag: int) -> Any:
    return dict(out.body).get(tag)


def _wire(out: Out) -> tuple:
    return out.session, out.msg_type, getattr(out.body, "wire", None) or tuple(out.body)


def run(rounds: int, sizes: tuple[int, ...], distinct: int = 1) -> dict[str, Any]:
    """`rounds` reads of every case and size (the first tenth a warm-up), the side that goes first swapped
    read by read; then the refusal probe and the final checks."""
    r = Runner(distinct)
    samples: dict[str, dict[int, dict[str, list[float]]]] = {
        c: {n: {k: [] for k in ("today", "pre", "core", "post", "study", "frames")} for n in sizes} for c in CASES}
    core: list[int] = []
    warm = max(1, rounds // 10)
    flip = 0
    for k in range(rounds + warm):
        for case in CASES:
            for n in sizes:
                flip ^= 1
                today_ns, (pre, mid, post, frames) = r.read(case, n, today_first=bool(flip))
                if k >= warm:
                    s = samples[case][n]
                    for key, ns in (("today", today_ns), ("pre", pre), ("core", mid), ("post", post),
                                    ("study", pre + mid + post), ("frames", frames)):
                        s[key].append(ns / n)
        ns = r.core_alone()
        if k >= warm:
            core.append(ns)
    r.read("probe", 3, prices=[None, "100.00", None])
    r.final_checks()
    table = {c: {n: {k: round(statistics.median(v), 0) for k, v in parts.items()} for n, parts in by_n.items()}
             for c, by_n in samples.items()}
    core_ns = statistics.median(core)
    for by_n in table.values():
        for t in by_n.values():
            t["today_over_study"] = round(t["today"] / t["study"], 2)
            # issue 15's "beyond the matching core" (`benchmarks.orderflow` beyond_core_ns): today's path
            # up to the answers' frames less today's core call alone; the study's up to the frames with
            # its whole compiled call counted (the core NEW inside it too: at most that much)
            t["today_beyond_core"] = t["today"] + t["frames"] - core_ns
            t["study_beyond_core_at_most"] = t["study"] + t["frames"]
    return {"design_study": "one compiled call per socket read (issue 15); a lower bound, see the docstring",
            "ns_per_message": table, "core_alone_ns_today": core_ns, "rounds": rounds,
            "sizes": list(sizes), "distinct_requests": distinct, "answers_checked": r.checked,
            "refused_by_kernel": r.batch.refused, "unexpected": r.problems, "unexpected_examples": r.first_problem}


def main() -> int:
    parser = argument_parser("DESIGN STUDY: one compiled call per socket read vs today's order flow (same run).")
    parser.add_argument("--rounds", type=int, default=2000, help="reads per case and size (default 2000)")
    parser.add_argument("--sizes", default="1,2,7,32", help="messages per read (default 1,2,7,32; at most 64)")
    parser.add_argument("--distinct", type=int, default=1, metavar="N",
                        help="orders cycle through N (price, quantity) requests (default 1; as benchmarks.orderflow)")
    args = parser.parse_args()
    sizes = tuple(int(x) for x in args.sizes.split(","))
    if not all(1 <= n <= MAX_READ for n in sizes):
        parser.error(f"read sizes must be 1..{MAX_READ}")
    result = run(args.rounds, sizes, args.distinct)
    result["machine"] = machine_description(PROCESS_START_LOAD)
    say("DESIGN STUDY, not the service: one numba call per read (checks + reservations + core NEW), "
        "the Python kept around it, against today's on_message; ns per message (median)")
    say(f"{'case':>8} {'read':>4} {'today':>7} {'pre':>6} {'core':>6} {'post':>6} {'study':>6} {'today/study':>11}"
        f" {'frames':>6} | beyond core: {'today':>6} {'study<=':>7}")
    for case, by_n in result["ns_per_message"].items():
        for n, t in by_n.items():
            say(f"{case:>8} {n:>4} {t['today']:>7.0f} {t['pre']:>6.0f} {t['core']:>6.0f} {t['post']:>6.0f} "
                f"{t['study']:>6.0f} {t['today_over_study']:>11.2f} {t['frames']:>6.0f} |              "
                f"{t['today_beyond_core']:>6.0f} {t['study_beyond_core_at_most']:>7.0f}")
    say(f"today's core call alone (resting NEW, process_at_rows): {result['core_alone_ns_today']:.0f} ns; beyond core: "
        "today = path + frames - that (issue 15's measure), study <= path + frames (its whole call counted); "
        f"{args.distinct} distinct requests; not covered: products, "
        "sells, margin, quota, FX staleness, constraints, market/GTD orders, fills (STP, ledger), routes log, metrics")
    bad = sum(result["unexpected"].values())
    say(f"answers checked: {result['answers_checked']:,} (the study's byte for byte today's; cancels alike; "
        f"state hashes, reservations); unexpected: {bad}")
    say(machine_line(result["machine"]))
    write_json(args.json, result)
    if bad:
        for where, what in result["unexpected_examples"].items():
            say(f"FAILED: {where}: {what}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
