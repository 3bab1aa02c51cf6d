"""Order-flow cost per inbound message, in process, with the numba core and the reference book, same run.

Cases (each a pre-parsed FIX message handed to `OrderFlow.on_message`; the default catalogue and
accounts, every session open, the message throttle lifted because it is a risk control):
  new_instrument     NewOrderSingle SGE.AU9999, 1 lot, resting below the market -> ack
  cancel_instrument  OrderCancelRequest of that order -> cancelled
  new_product        NewOrderSingle GOLD.KG9999, 9,999 fine g (1,000 lots of 10 g: no fine remainder to report),
                     routed over three books, rests -> ack
  cancel_product     OrderCancelRequest of that order -> cancelled
plus `core_new`: the matching core alone on the same kind of resting NEW, made with the call the
service makes per message (`engine.process_at_rows(buf, 0)` on the order flow's own
preallocated command row, as `CoreEvents._run_one` does), so `beyond_core_ns` = new_instrument
plus encoding its ack's frame (`new_instrument_to_frame_ns`, what the gateway then sends) -
core_new is the Python the order path adds up to the ack's bytes (router included),
and `top_of_book_ns`: one best-prices read of the SGE.AU9999 book through `engine.top_of_book` and
through the order flow's `TopReader` (the core's live `top_prices` arrays), alternated call by call.
Orders and cancels alternate, so the books keep a constant size (200 resting sells stand opposite).
Every output is checked, not only timed: a new order must come back as one ExecutionReport
ExecType(150)=0 to its sender, a cancel as 150=4 (and the core's own NEW as an ACCEPTED event);
anything else is counted per case in `unexpected`, printed, and makes the run exit 1.

Method: per-call perf_counter_ns, median and p99 over N rounds after a warm-up; the engines are
interleaved round by round so machine noise hits both alike. Then `gc_worst_full_pause_ms`: the
longest full garbage collection while N IOC orders run with the collector on, after the service's
warm-up freeze. Figures from a shared 2-core machine: compare ratios within one run.

`--profile ROUNDS` adds a cProfile ranking of the order flow's functions by own time over ROUNDS
rounds of the four cases (the profile used to pick what to speed up; JSON `profile`).

`--distinct N` makes the new orders cycle through N (price, quantity) pairs instead of repeating one:
the router keeps a plan per request (`router/orders/route_plan.py`, at most 4,096), so one repeated
order is its best case and N above that bound its worst (every order a request never seen).

usage: python -m benchmarks.orderflow [--json FILE] [--rounds N] [--distinct N] [--profile ROUNDS]
"""
from __future__ import annotations

import gc
import statistics
import time
from typing import Any

import numpy as np

from benchmarks._timing import (
    PROCESS_START_LOAD, argument_parser, machine_description, machine_line, say, write_json,
)
from benchmarks.ab_probe import variant
from matching import COMMAND_DTYPE, EventKind, Op
from router.config import build_config, embedded_defaults
from router.fix.codec import encode, parse_frame
from router.orders.core_books import OP_NEW, TopReader, pack_row
from router.orders.flow import OrderFlow, make_engine
from router.orders.risk import RiskEngine

T0 = 1_767_225_600_000_000_000
CASES = ("new_instrument", "cancel_instrument", "new_product", "cancel_product")


def _config() -> Any:
    tree = embedded_defaults()
    tree["risk"] = dict(tree["risk"], msg_rate=10_000_000, msg_burst=10_000_000)
    return build_config(tree)


class _Bench:
    def __init__(self, config: Any, reference: bool, prefill: int = 200, distinct: int = 1) -> None:
        p = config.sections["participants"]
        self.distinct = distinct
        self.flow = OrderFlow(config.catalogue, config.fx, p.accounts, RiskEngine(p.risk, p.accounts), p.quota,
                              make_engine(config.catalogue, config.fx, reference=reference), run_id="bench",
                              session_open=lambda s, n: True)
        warm = getattr(self.flow.engine, "warm_up", None)
        if warm is not None:
            warm()
        self.seq = 0
        self.now = T0
        for n in range(prefill):
            self.on("HKCLIENT1", b"D", [(11, f"S{n}"), (55, "SGE.AU9999"), (54, 2), (60, "20260101-00:00:00"),
                                        (38, 1), (40, 2), (44, "565.00")])

    def msg(self, sender: str, msg_type: bytes, body: list) -> Any:
        self.seq += 1
        m = parse_frame(encode(msg_type, sender.encode(), b"GOLDRTR", self.seq, b"20260101-00:00:00.000", body))
        return m            # unindexed, as the session layer hands it to the flow

    def on(self, sender: str, msg_type: bytes, body: list) -> list:
        self.now += 1000
        return self.flow.on_message(sender, self.msg(sender, msg_type, body), self.now)

    def round_messages(self, n: int) -> dict[str, Any]:
        sh = "SHCLIENT1"
        qty, price = variant(n, self.distinct, 55000)
        return {
            "new_instrument": self.msg(sh, b"D", [(11, f"I{n}"), (55, "SGE.AU9999"), (54, 1),
                                                  (60, "20260101-00:00:00"), (38, qty), (40, 2),
                                                  (44, price)]),
            "cancel_instrument": self.msg(sh, b"F", [(41, f"I{n}"), (11, f"Ic{n}"), (55, "SGE.AU9999"), (54, 1),
                                                     (60, "20260101-00:00:00")]),
            "new_product": self.msg(sh, b"D", [(11, f"P{n}"), (55, "GOLD.KG9999"), (54, 1),
                                               (60, "20260101-00:00:00"), (38, 9999), (40, 2), (44, price)]),
            "cancel_product": self.msg(sh, b"F", [(41, f"P{n}"), (11, f"Pc{n}"), (55, "GOLD.KG9999"), (54, 1),
                                                  (60, "20260101-00:00:00")]),
        }


EXPECTED = {"new_instrument": b"0", "cancel_instrument": b"4", "new_product": b"0", "cancel_product": b"4"}


def answer_problem(case: str, outs: list) -> str | None:
    """None when `outs` is exactly the answer the case expects (one ExecutionReport to SHCLIENT1
    with the expected ExecType); otherwise what came back instead."""
    if len(outs) == 1 and outs[0].session == "SHCLIENT1" and outs[0].msg_type == b"8":
        exec_type = next((v for t, v in outs[0].body if t == 150), None)
        if exec_type == EXPECTED[case]:
            return None
    return "; ".join(f"{o.session} 35={o.msg_type.decode()} "
                     + " ".join(f"{t}={v.decode(errors='replace') if isinstance(v, bytes) else v}"
                                for t, v in o.body if t in (150, 39, 58, 103)) for o in outs) or "nothing"


def _core_new(bench: _Bench, oid: int) -> tuple[int, bool]:
    """ns for the core alone on a resting NEW, made exactly as the service makes it (the flow's own
    command row, `process_at_rows(buf, 0)`), then its CANCEL (not counted); and whether the
    NEW came back accepted."""
    flow = bench.flow
    buf = flow._cmd_buf
    if buf is None:
        buf = flow._cmd_buf = np.zeros((1, len(COMMAND_DTYPE.names)), np.int64)
    row = [OP_NEW, bench.now, 0, oid, 0, 1, 2, 0, 55000, 1, 0, 0, -1, 0, 0, 0, 0, 0]
    pack_row(buf, 0, *row)
    engine = flow.engine
    t = time.perf_counter_ns()
    events = engine.process_at_rows(buf, 0)
    ns = time.perf_counter_ns() - t
    accepted = len(events) > 0 and events[0][0] == EventKind.ACCEPTED     # field 0: kind
    row[0] = int(Op.CANCEL)
    pack_row(buf, 0, *row)
    engine.process_at_rows(buf, 0)
    return ns, accepted


def _top_of_book_ns(bench: _Bench, calls: int) -> dict[str, float]:
    """Median ns of one top-of-book read: the engine's query vs the order flow's reader."""
    engine = bench.flow.engine
    reader = TopReader(engine)
    book = bench.flow.catalogue.instruments["SGE.AU9999"].book_id
    assert reader(book)[1] == engine.top_of_book(book).ask_price
    perf = time.perf_counter_ns
    engine_ns, reader_ns = [], []
    for _ in range(calls):
        t = perf()
        engine.top_of_book(book)
        engine_ns.append(perf() - t)
        t = perf()
        reader(book)
        reader_ns.append(perf() - t)
    return {"engine_top_of_book": statistics.median(engine_ns), "top_reader": statistics.median(reader_ns)}


def _gc_worst_pause_ms(config: Any, orders: int) -> tuple[float, int]:
    """The longest full collection over `orders` IOC orders, and how many were not acknowledged."""
    bench = _Bench(config, reference=False)
    gc.collect()
    gc.freeze()
    pauses: list[int] = []
    start = [0]

    def watch(phase: str, info: dict) -> None:
        if phase == "start":
            start[0] = time.perf_counter_ns()
        elif info["generation"] == 2:
            pauses.append(time.perf_counter_ns() - start[0])

    not_acked = 0
    gc.callbacks.append(watch)
    try:
        for n in range(orders):
            outs = bench.on("SHCLIENT1", b"D", [(11, f"G{n}"), (55, "SGE.AU9999"), (54, 1),
                                                (60, "20260101-00:00:00"), (38, 1), (40, 2), (44, "559.00"), (59, 3)])
            # An IOC below the resting sells: acknowledged (150=0), then its remainder cancelled.
            if not outs or answer_problem("new_instrument", outs[:1]) is not None:
                not_acked += 1
    finally:
        gc.callbacks.remove(watch)
        gc.unfreeze()
    return (round(max(pauses) / 1e6, 2) if pauses else 0.0), not_acked


def profile_rounds(config: Any, rounds: int, top: int = 25) -> list[dict[str, Any]]:
    """cProfile of `rounds` order/cancel rounds of every case on the numba engine (after a warm-up):
    the functions with the most own time, as rows {function, calls, own_us_per_round,
    cumulative_us_per_round}. Profiler overhead inflates every figure; read the ranking."""
    import cProfile
    import pstats

    bench = _Bench(config, reference=False)
    msgs = [bench.round_messages(n) for n in range(rounds + rounds // 5)]
    flow = bench.flow

    def play(batch: list) -> None:
        for m in batch:
            for case in CASES:
                bench.now += 1000
                flow.on_message("SHCLIENT1", m[case], bench.now)

    play(msgs[rounds:])
    prof = cProfile.Profile()
    prof.enable()
    play(msgs[:rounds])
    prof.disable()
    stats = pstats.Stats(prof).stats
    rows = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    return [{"function": f"{path.rsplit('/', 2)[-1] if path.startswith('/') else path}:{line}({name})",
             "calls": nc, "own_us_per_round": round(tt * 1e6 / rounds, 2),
             "cumulative_us_per_round": round(ct * 1e6 / rounds, 2)}
            for (path, line, name), (_, nc, tt, ct, _) in rows]


def main() -> int:
    parser = argument_parser("Order-flow cost per inbound message (numba core vs reference book, same run).")
    parser.add_argument("--rounds", type=int, default=5000, help="order/cancel rounds per engine (default 5000)")
    parser.add_argument("--gc-orders", type=int, default=60000, help="IOC orders for the GC pause figure")
    parser.add_argument("--distinct", type=int, default=1, metavar="N",
                        help="new orders cycle through N different (price, quantity) pairs (default 1: one "
                             "order repeated; above the router's 4,096 kept plans every order is a new request)")
    parser.add_argument("--profile", type=int, default=0, metavar="ROUNDS",
                        help="also profile ROUNDS rounds with cProfile and print the top functions by own time")
    args = parser.parse_args()
    config = _config()
    benches = {"numba": _Bench(config, reference=False, distinct=args.distinct),
               "reference": _Bench(config, reference=True, distinct=args.distinct)}
    samples: dict[str, dict[str, list[int]]] = {e: {c: [] for c in CASES} for e in benches}
    core: list[int] = []
    wire: list[int] = []
    answers = {e: {c: 0 for c in CASES} for e in benches}
    unexpected = {e: {c: 0 for c in (*CASES, "core_new")} for e in benches}
    first_problem: dict[str, str] = {}
    warm = args.rounds // 10
    for n in range(args.rounds + warm):
        for engine, bench in benches.items():
            msgs = bench.round_messages(n)
            for case in CASES:
                bench.now += 1000
                t = time.perf_counter_ns()
                outs = bench.flow.on_message("SHCLIENT1", msgs[case], bench.now)
                ns = time.perf_counter_ns() - t
                if case == "new_instrument" and engine == "numba":
                    # ... and the ack's frame, as the gateway encodes it: the whole NewOrderSingle -> ack
                    t = time.perf_counter_ns()
                    for seq, out in enumerate(outs, 1):
                        encode(out.msg_type, b"GOLDRTR", out.session.encode(), seq, b"20260101-00:00:00.000",
                               out.body)
                    if n >= warm:
                        wire.append(ns + time.perf_counter_ns() - t)
                answers[engine][case] += 1
                problem = answer_problem(case, outs)
                if problem is not None:
                    unexpected[engine][case] += 1
                    first_problem.setdefault(f"{engine} {case}", problem)
                if n >= warm:
                    samples[engine][case].append(ns)
        ns, accepted = _core_new(benches["numba"], 10_000_000 + n)
        if not accepted:
            unexpected["numba"]["core_new"] += 1
        if n >= warm:
            core.append(ns)

    def stats(values: list[int]) -> dict[str, float]:
        values = sorted(values)
        return {"median": statistics.median(values), "p99": values[int(len(values) * 0.99)]}

    result: dict[str, Any] = {
        "ns_per_message": {e: {c: stats(v)["median"] for c, v in cases.items()} for e, cases in samples.items()},
        "p99_ns_per_message": {e: {c: stats(v)["p99"] for c, v in cases.items()} for e, cases in samples.items()},
        "core_new_ns": statistics.median(core),
    }
    # The order's answer is not done until its frame is: the flow builds the ack's fields already
    # encoded (router.orders.reports), so on_message alone would hide work moved out of the gateway.
    result["new_instrument_to_frame_ns"] = statistics.median(wire)
    result["beyond_core_ns"] = result["new_instrument_to_frame_ns"] - result["core_new_ns"]
    result["top_of_book_ns"] = _top_of_book_ns(benches["numba"], max(args.rounds, 1000))
    result["reference_over_numba_new_product"] = round(
        result["ns_per_message"]["reference"]["new_product"] / result["ns_per_message"]["numba"]["new_product"], 2)
    result["gc_worst_full_pause_ms"], gc_not_acked = _gc_worst_pause_ms(config, args.gc_orders)
    unexpected["numba"]["ioc_gc_run"] = gc_not_acked
    result["messages_checked"] = answers
    result["unexpected"] = unexpected
    result["unexpected_examples"] = first_problem
    if args.profile:
        result["profile"] = profile_rounds(config, args.profile)
        say(f"profile ({args.profile} rounds of {', '.join(CASES)}; cProfile inflates every figure, "
            "read the ranking): own us/round, cumulative us/round, calls, function")
        for r in result["profile"]:
            say(f"  {r['own_us_per_round']:8.2f} {r['cumulative_us_per_round']:9.2f} {r['calls']:>8} {r['function']}")
    result["distinct_requests"] = args.distinct
    result["machine"] = machine_description(PROCESS_START_LOAD)
    for engine in benches:
        say(f"{engine:>9}: " + ", ".join(f"{c} {result['ns_per_message'][engine][c] / 1000:.1f} us" for c in CASES))
    say(f"new orders: {args.distinct} different (price, quantity) requests in turn")
    say(f"core alone (resting NEW) {result['core_new_ns'] / 1000:.1f} us; the order flow adds "
        f"{result['beyond_core_ns'] / 1000:.1f} us up to the ack's encoded frame (router, risk, funds, reports)")
    tops = result["top_of_book_ns"]
    say(f"top of book: engine.top_of_book {tops['engine_top_of_book'] / 1000:.1f} us, "
        f"order flow's TopReader (live top_prices) {tops['top_reader'] / 1000:.2f} us")
    say(f"worst full GC pause over {args.gc_orders} IOC orders: {result['gc_worst_full_pause_ms']} ms")
    checked = sum(sum(c.values()) for c in answers.values()) + len(core) + args.gc_orders
    bad = sum(sum(c.values()) for c in unexpected.values())
    say(f"answers checked: {checked:,} (news acked 150=0, cancels 150=4, core NEWs ACCEPTED); "
        f"unexpected: {bad}")
    say(machine_line(result["machine"]))
    write_json(args.json, result)
    if bad:
        for where, what in first_problem.items():
            say(f"FAILED: {where}: first unexpected answer: {what}")
        say(f"FAILED: {bad} unexpected answers: {unexpected}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
