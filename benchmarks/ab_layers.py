"""Old code against new, same run: the FIX layers around the order flow, per message, on two trees.

`benchmarks.ab_service` times the whole service, where the order flow is three quarters of the CPU
and process-to-process spread is about ±5 %: a change of one or two µs in the session layer or the
send path is invisible there. This times only those layers, in process, with the thread's CPU
clock, on the same stream for both trees (extracted with `git archive` as `ab_orderflow` does, run
in fresh processes alternately, swapping which goes first each round):

  parse    `FrameDecoder.feed` of NewOrderSingle frames, two per socket read (as the round trip's
           mix arrives at 1,500/s)
  session  `Session.receive` of each (sequence, CompIDs, SendingTime, dictionary validation, the
           file store's sequence record)
  send     `Session.send_app` of two ExecutionReports per order to the client's session and the
           same two to a drop-copy session (encode, the file store's message records), as an IOC's
           150=0 and 150=4 go out with their copies
  flush    both sessions' file stores flushed once per read, as the gateway does per batch
  total    the sum, per order

Every answer is checked: each order must come out of the session layer as one delivered message.

usage: python -m benchmarks.ab_layers --old REV [--new REV] [--repeat K] [--orders N] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

FIGURES = ("parse", "session", "send", "flush", "total")
HERE = Path(__file__).resolve()

# Run as a script (the probe), its own directory comes first on sys.path, where benchmarks/router.py
# would hide the `router` package of the tree under test.
if sys.path and os.path.abspath(sys.path[0] or ".") == str(HERE.parent):
    del sys.path[0]


def _probe(orders: int) -> dict:
    """One process's measurement of the tree first on sys.path (imports only router.fix)."""
    from router.fix.acceptor_setup import load_validator
    from router.fix.codec import FrameDecoder, encode, utc_timestamp
    from router.fix.encoding import WireBody
    from router.fix.session import DELIVER, Session
    from router.fix.store import FileStore

    clock = time.thread_time_ns
    now = time.time_ns()
    stamp = utc_timestamp(now)
    with tempfile.TemporaryDirectory(prefix="ab-layers-") as tmp:
        client = Session("GOLDRTR", "SHCLIENT1", FileStore(tmp, "client", now), load_validator())
        copies = Session("GOLDRTR", "DROPCOPY1", FileStore(tmp, "copies", now), None)
        client.connect(now)
        client.receive(FrameDecoder().feed(encode(b"A", b"SHCLIENT1", b"GOLDRTR", 1, stamp,
                                                  [(98, b"0"), (108, b"30")]))[0], now)
        frames = [encode(b"D", b"SHCLIENT1", b"GOLDRTR", i + 2, stamp,
                         [(11, b"%d" % i), (1, b"SHCLIENT1"), (55, b"SGE.AU9999"), (54, b"1"), (60, stamp),
                          (38, b"10"), (40, b"2"), (44, b"559.00"), (59, b"3")]) for i in range(orders)]
        reports = [WireBody.of([(37, b"O%d" % i), (11, b"%d" % i), (17, b"E%d-%d" % (i, k)), (150, et), (39, et),
                                (1, b"SHCLIENT1"), (55, b"SGE.AU9999"), (54, b"1"), (38, b"10"), (40, b"2"),
                                (44, b"559.00"), (59, b"3"), (151, b"0" if k else b"10"), (14, b"0"), (6, b"0"),
                                (60, stamp)])
                   for i in range(orders) for k, et in enumerate((b"0", b"4"))]
        decoder = FrameDecoder()
        spent = dict.fromkeys(FIGURES[:-1], 0)
        delivered = 0
        for r in range(0, orders, 2):
            t0 = clock()
            msgs = decoder.feed(frames[r] + frames[r + 1])
            t1 = clock()
            actions = [client.receive(m, now) for m in msgs]
            t2 = clock()
            for k in range(2 * r, 2 * r + 4):
                client.send_app(b"8", reports[k], now)
                copies.send_app(b"8", reports[k], now)
            t3 = clock()
            client.store.flush()
            copies.store.flush()
            t4 = clock()
            spent["parse"] += t1 - t0
            spent["session"] += t2 - t1
            spent["send"] += t3 - t2
            spent["flush"] += t4 - t3
            delivered += sum(1 for acts in actions for a in acts if a[0] == DELIVER)
        client.store.close()
        copies.store.close()
    if delivered != orders:
        raise SystemExit(f"{delivered} of {orders} orders delivered by the session layer")
    out = {k: v / orders for k, v in spent.items()}
    out["total"] = sum(out.values())
    return out


def compare(old: Path, new: Path, repeat: int, orders: int, progress=print) -> dict:
    from benchmarks._ab import alternate, medians, ratios, run_probe
    trees = {"old": old, "new": new}
    runs = alternate(repeat, lambda side: run_probe([sys.executable, str(HERE), "--probe", str(orders)], trees[side],
                                                    timeout=600),
                     lambda r: ", ".join(f"{f} {r[f] / 1000:.2f} us" for f in FIGURES), progress)
    med = medians(runs, FIGURES)
    return {"runs": runs, "median_ns": med, "old_over_new": ratios(med)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--probe"]:
        print(json.dumps(_probe(int(argv[1]))))
        return 0
    from benchmarks._ab import extract, finish
    from benchmarks._timing import PROCESS_START_LOAD, machine_description

    ap = argparse.ArgumentParser(prog="python -m benchmarks.ab_layers", description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="git revision of the old code")
    ap.add_argument("--new", default="HEAD", help="git revision of the new code (default HEAD: commit first)")
    ap.add_argument("--repeat", type=int, default=8, help="processes per side, alternated (default 8)")
    ap.add_argument("--orders", type=int, default=20000, help="orders per process (default 20000)")
    ap.add_argument("--json", help="write the result here")
    a = ap.parse_args(argv)
    orders = a.orders + a.orders % 2
    with tempfile.TemporaryDirectory(prefix="goldrouter-abl-") as tmp:
        (Path(tmp) / "old").mkdir()
        (Path(tmp) / "new").mkdir()
        old, new = extract(a.old, Path(tmp) / "old"), extract(a.new, Path(tmp) / "new")
        result = compare(old, new, a.repeat, orders)
    result.update({"benchmark": "ab_layers", "old": a.old, "new": a.new, "orders": orders,
                   "machine": machine_description(PROCESS_START_LOAD)})
    print(f"old {a.old} vs new {a.new}, median of {a.repeat} alternated processes x {orders} orders (CPU per order):")
    for f in FIGURES:
        o, n = result["median_ns"]["old"][f], result["median_ns"]["new"][f]
        print(f"  {f:<8} old {o / 1000:6.2f} us   new {n / 1000:6.2f} us   old/new {result['old_over_new'][f]}")
    finish(result, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
