"""Cost of metrics per order round trip, against the codec work the same round trip needs.

Per order the service records: message_in (the NewOrderSingle), order_received,
message_out (the ack) and one ack-latency observation.  This measures those four
calls on `router.metrics.Metrics`, the same four through bound prometheus-client
children (the obvious alternative), and the codec work of the round trip (frame
decode of the order + encode of an ExecutionReport).  The codec is only part of
the per-message CPU (the session layer and the app come on top), so the ratio
printed is an upper bound on the metrics share.  The end-to-end figure is the
round-trip benchmark's gateway vs gateway_nometrics server CPU per order.

usage: python -m benchmarks.metrics_overhead [--json FILE] [--repeat N]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from statistics import median

ORDERS = 2_000


def _best_ns_per_iter(fn, n: int, repeat: int) -> float:
    """Median over `repeat` runs of fn(n) (which does n iterations), per iteration."""
    samples = []
    for _ in range(repeat):
        t = time.perf_counter_ns()
        fn(n)
        samples.append((time.perf_counter_ns() - t) / n)
    return median(samples)


def ours_loop():
    from router.metrics import Metrics

    m = Metrics()
    message_in, message_out = m.message_in, m.message_out
    order_received, ack = m.order_received, m.ack_latency_ns

    def run(n: int) -> None:
        for i in range(n):
            message_in("SHCLIENT1", b"D")
            order_received("SHCLIENT1")
            message_out("SHCLIENT1", b"8")
            ack(35_000 + (i & 1023))

    return run


def prometheus_client_loop():
    from prometheus_client import CollectorRegistry, Counter, Histogram

    reg = CollectorRegistry()
    rx = Counter("x_in", "", ("session", "msg_type"), registry=reg).labels("SHCLIENT1", "NewOrderSingle")
    tx = Counter("x_out", "", ("session", "msg_type"), registry=reg).labels("SHCLIENT1", "ExecutionReport")
    orders = Counter("x_orders", "", ("session",), registry=reg).labels("SHCLIENT1")
    hist = Histogram("x_lat", "", buckets=[b / 1e9 for b in (5e3, 1e4, 2e4, 5e4, 1e5, 1e6, 1e7)],
                     registry=reg)
    rx_inc, tx_inc, orders_inc, observe = rx.inc, tx.inc, orders.inc, hist.observe

    def run(n: int) -> None:
        for i in range(n):
            rx_inc()
            orders_inc()
            tx_inc()
            observe((35_000 + (i & 1023)) / 1e9)

    return run


def empty_loop():
    def run(n: int) -> None:
        for i in range(n):
            pass

    return run


def codec_loop():
    """Decode a NewOrderSingle frame and encode its ExecutionReport, as the gateway does per order."""
    from router.fix_codec import FrameDecoder, encode, utc_timestamp

    ts = utc_timestamp(time.time_ns())
    order = encode(b"D", b"SHCLIENT1", b"GOLDRTR", 2, ts,
                   [(11, b"ORD000001"), (1, b"SHCLIENT1"), (55, b"SGE.AU9999"), (54, b"1"), (60, ts),
                    (38, b"10"), (40, b"2"), (44, b"560.00"), (59, b"0")])
    decoder = FrameDecoder()
    feed = decoder.feed

    def run(n: int) -> None:
        for i in range(n):
            msg = feed(order)[0]
            encode(b"8", b"GOLDRTR", b"SHCLIENT1", i, ts,
                   [(37, b"O1"), (11, msg.get(11)), (17, b"E1"), (150, b"0"), (39, b"0"),
                    (55, msg.get(55)), (54, msg.get(54)), (38, msg.get(38)), (44, msg.get(44)),
                    (151, msg.get(38)), (14, b"0"), (6, b"0")])

    return run


def machine() -> dict:
    try:
        from benchmarks._timing import machine_description

        return machine_description()
    except (ImportError, AttributeError):
        import os
        import platform

        return {"python": platform.python_version(), "cpus": os.cpu_count(),
                "load_avg": list(os.getloadavg())}


def measure(repeat: int = 15) -> dict:
    empty = _best_ns_per_iter(empty_loop(), ORDERS, repeat)
    ours = _best_ns_per_iter(ours_loop(), ORDERS, repeat) - empty
    prom = _best_ns_per_iter(prometheus_client_loop(), ORDERS, repeat) - empty
    result = {
        "benchmark": "metrics_overhead",
        "calls_per_order": ["message_in", "order_received", "message_out", "ack_latency"],
        "metrics_ns_per_order": {"goldrouter": round(ours, 1), "prometheus_client_bound": round(prom, 1)},
        "prometheus_client_over_ours": round(prom / ours, 2) if ours > 0 else None,
        "machine": machine(),
    }
    try:
        codec = _best_ns_per_iter(codec_loop(), ORDERS, repeat) - empty
    except ImportError as exc:
        result["codec_ns_per_order"] = None
        result["codec_skipped"] = str(exc)
        return result
    result["codec_ns_per_order"] = round(codec, 1)
    # Share of metrics in (codec + metrics): an upper bound on the share in the whole per-message CPU.
    result["metrics_share_of_codec_plus_metrics"] = round(ours / (codec + ours), 4)
    result["prometheus_client_share_of_codec_plus_metrics"] = round(prom / (codec + prom), 4)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="write the results here")
    p.add_argument("--repeat", type=int, default=15)
    args = p.parse_args(argv)
    r = measure(args.repeat)
    ns = r["metrics_ns_per_order"]
    print(f"metrics per order: goldrouter {ns['goldrouter']} ns, prometheus_client bound children "
          f"{ns['prometheus_client_bound']} ns ({r['prometheus_client_over_ours']}x)")
    if r.get("codec_ns_per_order"):
        print(f"codec per order (decode NewOrderSingle + encode ExecutionReport): {r['codec_ns_per_order']} ns")
        print(f"metrics share of codec+metrics: {100 * r['metrics_share_of_codec_plus_metrics']:.1f} % "
              f"(prometheus_client: {100 * r['prometheus_client_share_of_codec_plus_metrics']:.1f} %)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
