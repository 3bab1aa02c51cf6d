"""One measurement of the order path's Python, for `benchmarks.ab_orderflow` (old vs new code, same run).

Run as a script by `benchmarks.ab_orderflow` with one code tree first on `sys.path`; it imports only
`router` and `matching` from that tree (the APIs both the old and the new code have), so the same
probe times both. Per order, median of `--rounds` after a warm-up, on the numba core, the embedded
defaults (the throttle lifted), every session open:

  new       `OrderFlow.on_message` of a resting NewOrderSingle (SGE.AU9999, 1 lot, below 200 resting
            sells) -> one ExecutionReport 150=0
  cancel    its OrderCancelRequest -> 150=4
  ioc       an IOC that meets no sell at its price -> 150=0 then 150=4 (the round trip's order)
  send_ioc  what the service then does with the IOC's reports before the socket: the reject log's
            check (`ops.audit.log_rejects`, INFO on as the service runs it), the drop-copy expansion
            (the default DROPCOPY1 session copies every report) and `encode` of each frame
  reject_log the reject log's check alone on the IOC's reports (a part of send_ioc)
  total_ioc ioc + send_ioc, the order path's Python beyond FIX parsing and the session layer
  core      the matching core alone on a resting NEW with the call the service makes
            (`engine.process_at_rows(row, 0)`; a core from before that call: `process_at(row, 0,
            copy=False).tolist()`, what its flow did)
Every answer is checked (150=0 / 150=4 to SHCLIENT1); a wrong one exits 1. `--distinct N`: the
orders cycle through N (price, quantity) requests (`variant`) instead of repeating one.

Prints one JSON line. Not a benchmark on its own: see benchmarks/ab_orderflow.py.

`--retained`: instead, the memory that `--rounds` resting orders and their cancels leave allocated, per
order (bytes and blocks, tracemalloc); deterministic, so one run per tree tells.

usage: python benchmarks/ab_probe.py [--rounds N] [--blocks | --retained] [--distinct N]
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import statistics
import sys
import time

# Run as a script, its own directory comes first on sys.path, where benchmarks/matching.py would hide
# the `matching` package of the tree under test.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import numpy as np  # noqa: E402

from matching import COMMAND_DTYPE, Op
from router.config import build_config, embedded_defaults
from router.fix.codec import encode, parse_frame
from router.orders.flow import OrderFlow, make_engine
from router.orders.risk import RiskEngine
from router.ops.audit import log_rejects
from router.records.drop_copy import DropCopy

T0 = 1_767_225_600_000_000_000
TS = b"20260101-00:00:00.000"


def variant(n: int, distinct: int, top_cents: int) -> tuple[int, str]:
    """The n-th order's (quantity in lots, Price(44) text) when orders cycle through `distinct`
    different requests: prices one tick (0.01) apart below `top_cents` (2,000 of them, inside the
    10 % collar), then the next lot size. The flow and the router keep memos and plans per request
    (at most 4,096 each): one repeated order (`distinct` 1) is their best case, more than 4,096
    their worst, every order one they have not seen."""
    d = n % distinct
    cents = top_cents - d % 2000
    return 1 + d // 2000, f"{cents // 100}.{cents % 100:02d}"


def build() -> tuple[OrderFlow, DropCopy]:
    tree = embedded_defaults()
    tree["risk"] = dict(tree["risk"], msg_rate=10_000_000, msg_burst=10_000_000)
    cfg = build_config(tree)
    p = cfg.sections["participants"]
    flow = OrderFlow(cfg.catalogue, cfg.fx, p.accounts, RiskEngine(p.risk, p.accounts), p.quota,
                     make_engine(cfg.catalogue, cfg.fx), run_id="ab", session_open=lambda s, n: True)
    warm = getattr(flow.engine, "warm_up", None)
    if warm is not None:
        warm()
    return flow, DropCopy(cfg.sections["fix"].sessions)


class Probe:
    def __init__(self, distinct: int = 1) -> None:
        self.flow, self.drop_copy = build()
        self.distinct = distinct
        self.seq = 0
        self.now = T0
        for n in range(200):
            self.on("HKCLIENT1", self.msg("HKCLIENT1", b"D", [(11, f"S{n}"), (55, "SGE.AU9999"), (54, 2),
                                                              (60, "20260101-00:00:00"), (38, 1), (40, 2),
                                                              (44, "565.00")]))

    def msg(self, sender: str, msg_type: bytes, body: list):
        self.seq += 1
        m = parse_frame(encode(msg_type, sender.encode(), b"GOLDRTR", self.seq, TS, body))
        return m            # unindexed, as the session layer hands it to the flow

    def on(self, sender: str, msg) -> list:
        self.now += 1000
        return self.flow.on_message(sender, msg, self.now)

    def messages(self, n: int) -> tuple:
        sh = "SHCLIENT1"
        qty, price = variant(n, self.distinct, 55000)
        ioc_qty, ioc_price = variant(n, self.distinct, 55900)
        return (self.msg(sh, b"D", [(11, f"I{n}"), (55, "SGE.AU9999"), (54, 1), (60, "20260101-00:00:00"), (38, qty),
                                    (40, 2), (44, price)]),
                self.msg(sh, b"F", [(41, f"I{n}"), (11, f"Ic{n}"), (55, "SGE.AU9999"), (54, 1),
                                    (60, "20260101-00:00:00")]),
                self.msg(sh, b"D", [(11, f"X{n}"), (55, "SGE.AU9999"), (54, 1), (60, "20260101-00:00:00"),
                                    (38, ioc_qty), (40, 2), (44, ioc_price), (59, 3)]))

    def send(self, outs: list) -> int:
        """The service's send side for `outs`: the reject log, drop copies, then one frame per message."""
        log_rejects(outs)
        seq = 0
        for session, msg_type, body in self.drop_copy.expand(outs, count=False):
            seq += 1
            encode(msg_type, b"GOLDRTR", session.encode(), seq, TS, body)
        return seq

    def core(self, oid: int) -> int:
        flow = self.flow
        buf = getattr(flow, "_cmd_buf", None)
        if buf is None:
            buf = flow._cmd_buf = np.zeros((1, len(COMMAND_DTYPE.names)), np.int64)
        row = [int(Op.NEW), self.now, 0, oid, 0, 1, 2, 0, 55000, 1, 0, 0, -1] + [0] * (buf.shape[1] - 13)
        buf[0, :] = row                                                # book 0, buy 1 lot @ 550.00, DAY
        engine = flow.engine
        rows = getattr(engine, "process_at_rows", None)
        t = time.perf_counter_ns()
        if rows is not None:
            rows(buf, 0)
        else:
            engine.process_at(buf, 0, copy=False).tolist()
        ns = time.perf_counter_ns() - t
        buf[0, 0] = int(Op.CANCEL)                                     # and take it off again
        engine.process_at(buf, 0)
        return ns


def _exec_types(outs: list) -> list[bytes]:
    return [next((v for t, v in o.body if t == 150), b"?") for o in outs if o.session == "SHCLIENT1"]


class Runner:
    """The probe's state across blocks of orders: `block(n)` times `n` more orders (after a warm-up of
    its own the first time) and gives each figure's median over them."""

    def __init__(self, warm: int, distinct: int = 1) -> None:
        logging.getLogger("gold_router.rejects").setLevel(logging.INFO)     # as `serve` runs it
        self.probe = Probe(distinct)
        self.n = 0
        self.bad = 0
        gc.collect()
        gc.freeze()
        self._orders(warm)

    def _orders(self, count: int) -> dict[str, list[int]]:
        probe = self.probe
        samples: dict[str, list[int]] = {k: [] for k in ("new", "cancel", "ioc", "send_ioc", "total_ioc", "core",
                                                          "reject_log")}
        clock = time.perf_counter_ns
        for n in range(self.n, self.n + count):
            new, cancel, ioc = probe.messages(n)
            t = clock()
            a = probe.on("SHCLIENT1", new)
            t1 = clock()
            b = probe.on("SHCLIENT1", cancel)
            t2 = clock()
            c = probe.on("SHCLIENT1", ioc)
            t3 = clock()
            probe.send(c)
            t4 = clock()
            log_rejects(c)
            t5 = clock()
            core = probe.core(50_000_000 + n)
            self.bad += (_exec_types(a) != [b"0"]) + (_exec_types(b) != [b"4"]) + (_exec_types(c) != [b"0", b"4"])
            for key, ns in (("new", t1 - t), ("cancel", t2 - t1), ("ioc", t3 - t2), ("send_ioc", t4 - t3),
                            ("total_ioc", t4 - t2), ("core", core), ("reject_log", t5 - t4)):
                samples[key].append(ns)
        self.n += count
        return samples

    def block(self, rounds: int) -> dict:
        out = {k: statistics.median(v) for k, v in self._orders(rounds).items()}
        out["beyond_core_new"] = out["new"] - out["core"]
        out["unexpected_answers"] = self.bad
        return out


def run(rounds: int, distinct: int = 1) -> dict:
    return Runner(max(rounds // 10, 50), distinct).block(rounds)


def retained(rounds: int, distinct: int = 1) -> dict:
    """`--retained`: what `rounds` resting orders and their cancels leave allocated (tracemalloc, after a
    collection), per order: bytes and blocks. What stays is what the flow keeps of done orders (the index
    keeps `done_kept` of them) and of recent decisions (`ROUTES_KEPT`); the answers are checked as ever."""
    import tracemalloc
    runner = Runner(max(rounds // 10, 50), distinct)
    probe = runner.probe
    msgs = [probe.messages(n) for n in range(runner.n, runner.n + rounds)]
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    for new, cancel, _ in msgs:
        runner.bad += (_exec_types(probe.on("SHCLIENT1", new)) != [b"0"])
        runner.bad += (_exec_types(probe.on("SHCLIENT1", cancel)) != [b"4"])
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    diff = after.compare_to(before, "filename")
    return {"retained_bytes_per_order": round(sum(d.size_diff for d in diff) / rounds, 1),
            "retained_blocks_per_order": round(sum(d.count_diff for d in diff) / rounds, 2),
            "unexpected_answers": runner.bad}


def serve(warm: int, distinct: int = 1) -> int:
    """`--blocks`: after the warm-up print "ready", then per line read from stdin (a number of orders)
    one JSON line of that block's medians; an empty line or end of input ends it. So the caller can
    alternate two trees block by block (`ab_orderflow --blocks`)."""
    runner = Runner(warm, distinct)
    print("ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            break
        print(json.dumps(runner.block(int(line))), flush=True)
    return 1 if runner.bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3000)
    ap.add_argument("--blocks", action="store_true", help="serve blocks of orders read from stdin (see serve)")
    ap.add_argument("--retained", action="store_true", help="memory --rounds orders leave allocated (see retained)")
    ap.add_argument("--distinct", type=int, default=1, help="orders cycle through this many requests (see variant)")
    a = ap.parse_args()
    if a.blocks:
        return serve(max(a.rounds // 10, 50), a.distinct)
    if a.retained:
        result = retained(a.rounds, a.distinct)
        print(json.dumps(result))
        return 1 if result["unexpected_answers"] else 0
    result = run(a.rounds, a.distinct)
    print(json.dumps(result))
    return 1 if result["unexpected_answers"] else 0


if __name__ == "__main__":
    sys.exit(main())
