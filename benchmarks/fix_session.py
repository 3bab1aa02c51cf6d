"""CPU of the FIX session layer per NewOrderSingle echoed, against the codec work in the same run.

In-process parts, interleaved (ns per order): frame decode; `Session.receive` (dictionary validation,
sequence and header checks); the echo body cut from the frame vs split into fields; `Session.send_app`
(encode, file-store append).  Then the whole acceptor over loopback TCP: a client process pipelines
orders at the gateway with the echo app and a file store, and this process's CPU per order is taken
(event loop, transport, store flush included).  Same-run ratios: session layer / codec, raw echo body /
split echo body, TCP CPU per order / in-process sum.

usage: python -m benchmarks.fix_session [--json FILE] [--repeat N] [--orders N]
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time

from benchmarks._timing import PROCESS_START_LOAD, interleaved_ns, machine_description, medians, write_json

ORDER = [(11, b"ORD-%d"), (1, b"SHCLIENT1"), (55, b"SGE.AU9999"), (54, b"1"), (60, b"20260101-00:00:00.000"),
         (38, b"10"), (40, b"2"), (44, b"56000")]


def _order_frames(n: int, first_seq: int, now: int) -> list[bytes]:
    from router.fix.codec import encode, utc_timestamp

    ts = utc_timestamp(now)
    return [encode(b"D", b"SHCLIENT1", b"GOLDRTR", first_seq + i, ts,
                   [(11, b"ORD-%d" % i)] + ORDER[1:]) for i in range(n)]


def in_process(repeat: int, calls: int) -> dict:
    from router.fix.echo import HEADER_TRAILER_TAGS, _raw_body
    from router.fix.codec import FrameDecoder, encode, utc_timestamp
    from router.fix.gateway import load_validator
    from router.fix.session import Session
    from router.fix.store import FileStore

    now = time.time_ns()
    total = calls * (repeat + 1)
    validate = load_validator()
    work = tempfile.mkdtemp(prefix="fixbench-")
    store = FileStore(work, "GOLDRTR-SHCLIENT1", now)
    session = Session("GOLDRTR", "SHCLIENT1", store, validate)
    session.connect(now)
    [logon] = FrameDecoder().feed(encode(b"A", b"SHCLIENT1", b"GOLDRTR", 1, utc_timestamp(now), [(98, 0), (108, 30)]))
    session.receive(logon, now)
    frames = _order_frames(total, 2, now)
    decoded = [FrameDecoder().feed(f)[0] for f in frames]
    for_raw = [FrameDecoder().feed(f)[0] for f in frames]
    for_fields = [FrameDecoder().feed(f)[0] for f in frames]
    body = [(11, b"ORD-1")] + ORDER[1:]
    it = {"decode": iter(frames), "receive": iter(decoded), "raw": iter(for_raw), "fields": iter(for_fields)}
    decoder = FrameDecoder()

    def decode():
        decoder.feed(next(it["decode"]))

    def receive():
        session.receive(next(it["receive"]), now)

    def echo_raw():
        _raw_body(next(it["raw"]))

    def echo_fields():
        m = next(it["fields"])
        [f for f in m.fields if f[0] not in HEADER_TRAILER_TAGS]

    def send_app():
        session.send_app(b"D", body, now)

    samples = interleaved_ns({
        "decode": (decode, calls), "session_receive": (receive, calls), "echo_body_raw": (echo_raw, calls),
        "echo_body_fields": (echo_fields, calls), "session_send_app": (send_app, calls),
    }, repeat=repeat)
    store.close()
    return {k: round(v, 1) for k, v in medians(samples).items()}


CLIENT = r"""
import socket, sys, time, threading
from router.fix.codec import FrameDecoder, encode, utc_timestamp
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
now = time.time_ns()
s.sendall(encode(b"A", b"SHCLIENT1", b"GOLDRTR", 1, utc_timestamp(now), [(98, 0), (108, 30)]))
ts = utc_timestamp(now)
frames = [encode(b"D", b"SHCLIENT1", b"GOLDRTR", i + 2, ts, [(11, b"O%d" % i), (1, b"SHCLIENT1"),
          (55, b"SGE.AU9999"), (54, b"1"), (60, ts), (38, b"10"), (40, b"2"), (44, b"56000")]) for i in range(n)]
dec, got = FrameDecoder(), [0]
def read():
    while got[0] < n:
        data = s.recv(1 << 20)
        if not data:
            break
        got[0] += sum(1 for m in dec.feed(data) if getattr(m, "msg_type", None) == b"D")
t = threading.Thread(target=read); t.start()
for i in range(0, n, 100):
    s.sendall(b"".join(frames[i:i + 100])); time.sleep(0.0005)
t.join(); print(got[0], flush=True)
"""


async def over_tcp(orders: int) -> dict:
    from router.fix.echo import EchoApp
    from router.fix.config import parse_fix_config
    from router.fix.gateway import start_gateway

    cfg = parse_fix_config({"port": 0, "store_dir": tempfile.mkdtemp(prefix="fixbench-"),
                            "sessions": [{"target_comp_id": "SHCLIENT1", "reset_on_logon": True}]})
    gateway = await start_gateway(cfg, EchoApp())
    try:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", CLIENT, str(gateway.port), str(orders),
                                                    stdout=asyncio.subprocess.PIPE)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        out, _ = await proc.communicate()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        await gateway.close(timeout=0.2)
    echoed = int(out.split()[0]) if out.strip() else 0
    return {"orders": orders, "echoed": echoed, "gateway_cpu_ns_per_order": round(1e9 * cpu / orders, 1),
            "wall_s": round(wall, 3)}


def measure(repeat: int, orders: int) -> dict:
    parts = in_process(repeat, 2000)
    tcp = asyncio.run(over_tcp(orders))
    codec = parts["decode"]
    session = parts["session_receive"] + parts["session_send_app"]
    in_process_sum = parts["decode"] + parts["session_receive"] + parts["echo_body_raw"] + parts["session_send_app"]
    return {
        "machine": machine_description(PROCESS_START_LOAD),
        "ns_per_order": parts,
        "tcp": tcp,
        "session_receive_plus_send_over_decode": round(session / codec, 2),
        "echo_body_raw_over_fields": round(parts["echo_body_raw"] / parts["echo_body_fields"], 3),
        "tcp_cpu_over_in_process_sum": round(tcp["gateway_cpu_ns_per_order"] / in_process_sum, 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="write the results here")
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--orders", type=int, default=60000)
    args = p.parse_args(argv)
    r = measure(args.repeat, args.orders)
    for name, ns in r["ns_per_order"].items():
        print(f"{name:18s} {ns / 1000:7.2f} us per order")
    t = r["tcp"]
    print(f"over TCP: {t['echoed']}/{t['orders']} echoed, gateway CPU {t['gateway_cpu_ns_per_order'] / 1000:.2f} us "
          f"per order (in + out), {t['wall_s']} s wall")
    print(f"session receive+send / decode: {r['session_receive_plus_send_over_decode']}x; "
          f"raw echo body / split: {r['echo_body_raw_over_fields']}; "
          f"TCP CPU / in-process sum: {r['tcp_cpu_over_in_process_sum']}x")
    write_json(args.json, r)
    return 0 if t["echoed"] == t["orders"] else 1


if __name__ == "__main__":
    sys.exit(main())
