"""The order flow's cost per message KIND under the round trip's mix, in process (issue 15, session 10).

The service's flow stage (`benchmarks.service_stages`: `RouterApp.on_message`) is a mean over the
mix of `benchmarks/rt_mix.py`; `benchmarks.orderflow` and `ab_probe` time single cases with no fills.
This probe replays `rt_mix.plan`'s messages (both sessions, seeded steps, every kind) through
`OrderFlow.on_message` of the flow the service builds (`build_router_app`: the ledger hears every fill,
metrics on, sessions always open, the throttle lifted as the round trip's overlay lifts it) and times
each call (`perf_counter_ns`), grouped by kind:

  ioc_instrument  IOC on an instrument, meets nothing: 150=0 then 150=4
  ioc_product     IOC on a routable product (several books), meets nothing: 150=0 then 150=4
  rest            a resting DAY order: 150=0
  cancel          that order's OrderCancelRequest: 150=4
  cross_rest      the first leg of a crossing pair: rests, 150=0
  cross_trade     the second leg: trades with it, its 150=0 and a fill to each session

The collector runs as the service runs it (everything built so far frozen, then
`router.service.SERVING_GC_THRESHOLD`), so the young passes a message sets off are charged to it, as
in the served flow stage. Reported per kind: mean and median µs, and each kind's share of the
mix's mean per message (`mix_mean`: the figure to set against the service's flow stage, which also
holds the command's numbering and journal record). Every answer is checked (the ExecTypes each kind
must give to its sender, and a trade's fill to the resting side); a wrong one exits 1.

Imports only `router` and `matching` from the tree first on `sys.path` (and `rt_mix.py` from beside
this file), so `benchmarks.ab_orderflow --mix` runs it on an old and a new tree.

usage: python benchmarks/mix_probe.py [--messages N] [--blocks] [--profile KIND[,KIND]] [--top N]
`--blocks`: after a warm-up print "ready", then per line of stdin (a number of messages) one JSON line
of that block's per-kind means. `--profile`: a cProfile of only the calls of those kinds (all: `all`),
functions ranked by own time, µs per message of those kinds (the profiler inflates: read the order).
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import statistics
import sys
import time

# Run as a script, its own directory comes first on sys.path, where benchmarks/matching.py would hide
# the `matching` package of the tree under test.
HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == HERE:
    del sys.path[0]

from router.app import build_router_app  # noqa: E402
from router.config import build_config, embedded_defaults  # noqa: E402
from router.fix.codec import encode, parse_frame  # noqa: E402
from router.ops.metrics import Metrics  # noqa: E402

_spec = importlib.util.spec_from_file_location("_rt_mix", os.path.join(HERE, "rt_mix.py"))
rt_mix = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rt_mix)

KINDS = ("ioc_instrument", "ioc_product", "rest", "cancel", "cross_rest", "cross_trade")
SESSIONS = ("SHCLIENT1", "HKCLIENT1")
# 2026-12-08 (a Tuesday) 02:00 UTC: every default schedule in its continuous session (SGE 10:00 Beijing,
# HKGX 10:00 HKT), so the ledger's trading days come from the calendars. `--at` moves it (the served
# round trip runs at the wall clock: at night and at weekends every session is closed).
T0 = 1_796_695_200_000_000_000
TS = b"20260101-00:00:00.000"
STEP = 2000                    # messages per rt_mix step (one plan)
SERVING_GC = (10_000, 20, 10)  # router.service.SERVING_GC_THRESHOLD (not imported: aiohttp)
# What each kind must answer to its sender (ExecType(150) values in order).
EXPECT = {"ioc_instrument": [b"0", b"4"], "ioc_product": [b"0", b"4"], "rest": [b"0"], "cancel": [b"4"],
          "cross_rest": [b"0"], "cross_trade": [b"0", b"F"]}


class MixFeed:
    """rt_mix's messages, step after step, each parsed (as the session layer hands it on) only when its
    turn comes: a queue of parsed messages would be young objects the collector walks, which the
    service does not hold. The crossing pairs' legs are told apart (the first rests, the second trades)."""

    def __init__(self) -> None:
        self.step = 0
        self.seq = {s: 0 for s in SESSIONS}
        self.next_id = 1
        self.slots: list = []
        self.k = 0
        self.first = 0
        self.crossing = False

    def _msg(self, sender: str, msg_type: bytes, body: list):
        self.seq[sender] += 1
        m = parse_frame(encode(msg_type, sender.encode(), b"GOLDRTR", self.seq[sender], TS, body))
        return m            # unindexed, as the session layer hands it to the flow

    def next(self) -> tuple:
        if self.k == len(self.slots):
            self.slots = rt_mix.plan(STEP, self.step)
            self.step += 1
            self.first, self.next_id = self.next_id, self.next_id + STEP
            self.k = 0
        k, first = self.k, self.first
        self.k += 1
        sess, kind, sym, side, qty, price, tif, orig = self.slots[k]
        sender = SESSIONS[sess]
        if kind == "cancel":
            body = [(41, first + orig), (11, first + k), (55, sym), (54, side), (60, TS[:17]), (38, qty)]
            return "cancel", sender, self._msg(sender, b"F", body)
        if kind == "cross":
            # Legs of one pair are never interleaved with another pair's (rt_mix.plan): they alternate.
            kind = "cross_trade" if self.crossing else "cross_rest"
            self.crossing = not self.crossing
        body = [(11, first + k), (55, sym), (54, side), (60, TS[:17]), (38, qty), (40, 2), (44, price), (59, tif)]
        return kind, sender, self._msg(sender, b"D", body)


def build():
    tree = embedded_defaults()
    tree["risk"] = dict(tree["risk"], msg_rate=10_000_000, msg_burst=10_000_000)
    app = build_router_app(build_config(tree), sessions_always_open=True, metrics=Metrics())
    app.warm_up()
    return app.flow


def _check(kind: str, sender: str, outs: list) -> bool:
    mine = [next((v for t, v in o.body if t == 150), b"?") for o in outs if o.session == sender]
    if mine != EXPECT[kind]:
        return False
    if kind == "cross_trade":   # the resting leg's fill to the other session
        return [next((v for t, v in o.body if t == 150), b"?") for o in outs if o.session != sender] == [b"F"]
    return True


class Runner:
    def __init__(self, warm: int, start_ns: int = T0) -> None:
        self.flow = build()
        self.feed = MixFeed()
        self.now = start_ns
        self.bad = 0
        self.first_bad = None
        gc.collect()
        gc.freeze()
        gc.set_threshold(*SERVING_GC)
        self.run(warm)

    def run(self, count: int, profiler=None, kinds=()) -> dict[str, list[int]]:
        samples: dict[str, list[int]] = {k: [] for k in KINDS}
        clock, on, feed = time.perf_counter_ns, self.flow.on_message, self.feed
        for _ in range(count):
            kind, sender, msg = feed.next()
            self.now += 100_000
            prof = profiler is not None and kind in kinds
            if prof:
                profiler.enable()
            t = clock()
            outs = on(sender, msg, self.now)
            t1 = clock()
            if prof:
                profiler.disable()
            samples[kind].append(t1 - t)
            if not _check(kind, sender, outs):
                self.bad += 1
                if self.first_bad is None:
                    self.first_bad = (kind, [(o.session, o.msg_type, dict(o.body).get(150), dict(o.body).get(58))
                                             for o in outs])
        return samples

    def block(self, count: int) -> dict:
        samples = self.run(count)
        n = sum(len(v) for v in samples.values())
        out = {k: statistics.fmean(v) for k, v in samples.items() if v}
        out["mix_mean"] = sum(sum(v) for v in samples.values()) / n
        out["unexpected_answers"] = self.bad
        return out


def table(samples: dict[str, list[int]]) -> dict:
    n = sum(len(v) for v in samples.values())
    total = sum(sum(v) for v in samples.values())
    rows = {k: {"share_of_messages": round(len(v) / n, 3), "mean_us": round(statistics.fmean(v) / 1000, 2),
                "median_us": round(statistics.median(v) / 1000, 2),
                "us_per_mix_message": round(sum(v) / n / 1000, 2), "share_of_cost": round(sum(v) / total, 3)}
            for k, v in samples.items() if v}
    return {"messages": n, "mix_mean_us": round(total / n / 1000, 2), "kinds": rows}


def profile(runner: Runner, count: int, kinds: set[str], top: int) -> None:
    import cProfile
    import pstats
    prof = cProfile.Profile()
    samples = runner.run(count, prof, kinds)
    n = sum(len(v) for k, v in samples.items() if k in kinds)
    stats = pstats.Stats(prof)
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
    print(f"cProfile of {n} messages of {sorted(kinds)}: own time, us per message (inflated; read the order)")
    for (file, line, name), (cc, nc, tt, ct, _) in rows:
        where = f"{os.path.relpath(file) if file.startswith('/') else file}:{line}"
        print(f"  {tt / n * 1e6:7.2f} own {ct / n * 1e6:7.2f} cum {nc / n:6.2f} calls  {name}  {where}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--warm", type=int, default=4_000)
    ap.add_argument("--blocks", action="store_true")
    ap.add_argument("--profile", help="comma-separated kinds (or all) to profile instead of timing")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--at", help="UTC start, YYYY-MM-DDTHH:MM (default 2026-12-08T02:00, sessions open)")
    a = ap.parse_args()
    start = T0
    if a.at:
        from datetime import datetime, timezone
        start = int(datetime.fromisoformat(a.at).replace(tzinfo=timezone.utc).timestamp()) * 1_000_000_000
    runner = Runner(a.warm, start)
    if a.blocks:
        print("ready", flush=True)
        for line in sys.stdin:
            if not line.strip():
                break
            print(json.dumps(runner.block(int(line))), flush=True)
        return 1 if runner.bad else 0
    if a.profile:
        profile(runner, a.messages, set(KINDS) if a.profile == "all" else set(a.profile.split(",")), a.top)
    else:
        result = table(runner.run(a.messages))
        print(f"{result['messages']} messages of the mix: {result['mix_mean_us']} us per message (mean)")
        for k, r in result["kinds"].items():
            print(f"  {k:<15} {r['share_of_messages']:6.1%} of messages  mean {r['mean_us']:7.2f} us  "
                  f"median {r['median_us']:7.2f} us  {r['us_per_mix_message']:6.2f} us/mix msg "
                  f"({r['share_of_cost']:.1%} of the cost)")
        print(json.dumps(result))
    if runner.bad:
        print(f"FAILED: {runner.bad} unexpected answers, first: {runner.first_bad}")
    return 1 if runner.bad else 0


if __name__ == "__main__":
    sys.exit(main())
