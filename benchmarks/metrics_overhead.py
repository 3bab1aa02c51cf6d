"""Cost of metrics per order round trip, against the codec work the same round trip needs.

Per order the service records: message_in (the NewOrderSingle), order_received,
message_out (the ack) and one ack-latency observation.  This measures those four
calls on `router.ops.metrics.Metrics`, the same four through bound prometheus-client
children (the obvious alternative), and the codec work of the round trip (frame
decode of the order + encode of an ExecutionReport).  The codec is only part of
the per-message CPU (the session layer and the app come on top), so the ratio
printed is an upper bound on the metrics share.  The end-to-end figure is the
round-trip benchmark's gateway vs gateway_nometrics server CPU per order.

It also times one scrape of 200 sessions' worth of series, fast renderer vs prometheus-client's
generate_latest: a scrape runs on the FIX event loop, so its duration is a latency spike.

usage: python -m benchmarks.metrics_overhead [--json FILE] [--repeat N]
"""
from __future__ import annotations

import argparse
import sys
import time

from benchmarks._timing import PROCESS_START_LOAD, calls_for, interleaved_ns, machine_description, medians, write_json


def ours_order():
    from router.ops.metrics import Metrics

    m = Metrics()
    message_in, message_out = m.message_in, m.message_out
    order_received, ack = m.order_received, m.ack_latency_ns

    def one_order() -> None:
        message_in("SHCLIENT1", b"D")
        order_received("SHCLIENT1")
        message_out("SHCLIENT1", b"8")
        ack(35_000)

    return one_order


def prometheus_client_order():
    from prometheus_client import CollectorRegistry, Counter, Histogram

    reg = CollectorRegistry()
    rx = Counter("x_in", "", ("session", "msg_type"), registry=reg).labels("SHCLIENT1", "NewOrderSingle")
    tx = Counter("x_out", "", ("session", "msg_type"), registry=reg).labels("SHCLIENT1", "ExecutionReport")
    orders = Counter("x_orders", "", ("session",), registry=reg).labels("SHCLIENT1")
    hist = Histogram("x_lat", "", buckets=[b / 1e9 for b in (5e3, 1e4, 2e4, 5e4, 1e5, 1e6, 1e7)],
                     registry=reg)
    rx_inc, tx_inc, orders_inc, observe = rx.inc, tx.inc, orders.inc, hist.observe

    def one_order() -> None:
        rx_inc()
        orders_inc()
        tx_inc()
        observe(35_000 / 1e9)

    return one_order


def empty_order():
    def one_order() -> None:
        pass

    return one_order


def codec_order():
    """Decode a NewOrderSingle frame and encode its ExecutionReport, as the gateway does per order."""
    from router.fix.codec import FrameDecoder, encode, utc_timestamp

    ts = utc_timestamp(time.time_ns())
    order = encode(b"D", b"SHCLIENT1", b"GOLDRTR", 2, ts,
                   [(11, b"ORD000001"), (1, b"SHCLIENT1"), (55, b"SGE.AU9999"), (54, b"1"), (60, ts),
                    (38, b"10"), (40, b"2"), (44, b"560.00"), (59, b"0")])
    feed = FrameDecoder().feed

    def one_order() -> None:
        msg = feed(order)[0]
        encode(b"8", b"GOLDRTR", b"SHCLIENT1", 3, ts,
               [(37, b"O1"), (11, msg.get(11)), (17, b"E1"), (150, b"0"), (39, b"0"),
                (55, msg.get(55)), (54, msg.get(54)), (38, msg.get(38)), (44, msg.get(44)),
                (151, msg.get(38)), (14, b"0"), (6, b"0")])

    return one_order


def scrape_ms(sessions: int = 200, repeat: int = 5) -> dict:
    """A scrape runs on the FIX event loop, so its duration is a latency spike for every session."""
    from prometheus_client import generate_latest

    from router.ops.metrics import FIX_MSG_TYPES, Metrics

    m = Metrics()
    types = list(FIX_MSG_TYPES)[:12]
    for i in range(sessions):
        sid = f"CLIENT{i:03d}"
        for t in types:
            m.message_in(sid, t)
            m.message_out(sid, t)
        m.session_state(sid, "logged_on")
        m.order_received(sid)
    m.session_source = lambda: [{"session_id": f"CLIENT{i:03d}", "next_sender_seq_num": 9,
                                 "next_target_seq_num": 9} for i in range(sessions)]
    samples = interleaved_ns({"goldrouter": (m.exposition, 1),
                              "generate_latest": (lambda: generate_latest(m.registry), 1)}, repeat=repeat)
    med = medians(samples)
    return {"sessions": sessions, "series": m.exposition().count(b"\n"),
            "goldrouter_ms": round(med["goldrouter"] / 1e6, 2),
            "generate_latest_ms": round(med["generate_latest"] / 1e6, 2)}


def measure(repeat: int = 15) -> dict:
    fns = {"empty": empty_order(), "goldrouter": ours_order(),
           "prometheus_client_bound": prometheus_client_order()}
    codec_skipped = None
    try:
        fns["codec"] = codec_order()
    except ImportError as exc:
        codec_skipped = str(exc)
    # Interleaved rounds: a noisy neighbour slows every candidate alike, so the ratios hold.
    med = medians(interleaved_ns({k: (f, calls_for(f, 20.0)) for k, f in fns.items()}, repeat=repeat))
    call = med.pop("empty")  # the cost of calling one_order itself, not of the metrics
    ours = max(med["goldrouter"] - call, 0.1)
    prom = max(med["prometheus_client_bound"] - call, 0.1)
    result = {
        "benchmark": "metrics_overhead",
        "calls_per_order": ["message_in", "order_received", "message_out", "ack_latency"],
        "metrics_ns_per_order": {"goldrouter": round(ours, 1), "prometheus_client_bound": round(prom, 1)},
        "prometheus_client_over_ours": round(prom / ours, 2),
        "machine": machine_description(PROCESS_START_LOAD),
        "scrape": scrape_ms(repeat=max(3, repeat // 3)),
    }
    if codec_skipped is not None:
        result["codec_ns_per_order"] = None
        result["codec_skipped"] = codec_skipped
        return result
    codec = med["codec"] - call
    result["codec_ns_per_order"] = round(codec, 1)
    # Share of metrics in (codec + metrics): an upper bound on the share in the whole per-message CPU.
    result["metrics_share_of_codec_plus_metrics"] = round(ours / (codec + ours), 4)
    result["prometheus_client_share_of_codec_plus_metrics"] = round(prom / (codec + prom), 4)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.metrics_overhead", description=__doc__.splitlines()[0])
    p.add_argument("--json", help="write the results here")
    p.add_argument("--repeat", type=int, default=15)
    args = p.parse_args(argv)
    r = measure(args.repeat)
    ns = r["metrics_ns_per_order"]
    print(f"metrics per order: goldrouter {ns['goldrouter']} ns, prometheus_client bound children "
          f"{ns['prometheus_client_bound']} ns ({r['prometheus_client_over_ours']}x)")
    sc = r["scrape"]
    print(f"scrape of {sc['sessions']} sessions ({sc['series']} lines): {sc['goldrouter_ms']} ms "
          f"(generate_latest: {sc['generate_latest_ms']} ms), on the event loop")
    if r.get("codec_ns_per_order"):
        print(f"codec per order (decode NewOrderSingle + encode ExecutionReport): {r['codec_ns_per_order']} ns")
        print(f"metrics share of codec+metrics: {100 * r['metrics_share_of_codec_plus_metrics']:.1f} % "
              f"(prometheus_client: {100 * r['prometheus_client_share_of_codec_plus_metrics']:.1f} %)")
    write_json(args.json, r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
