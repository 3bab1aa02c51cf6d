"""Where the whole service's time goes per message: CPU counters around its stages, under the round trip's mix.

Starts `python -m router serve --app router` as the round trip's `router_app` target does (file
journal fsync none, file FIX stores, throttle lifted), but through this module's `--child` entry,
which wraps the service's stage functions with thread-CPU-time counters before running the CLI.
After a warm-up block the counters are reset, `--repeat` blocks of the realistic mix
(`benchmarks.rt_mix`) are sent at `--rate`, and the counters are read back (SIGUSR1 makes the
child write them as JSON). Reported per message sent: CPU µs in each stage, and the process's CPU
per message from /proc for comparison (the rest is the event loop, timers and HTTP outside the
FIX callbacks). Stages nest: `input` holds `parse`, `session`, `flow` and `output`; `flow` holds
`soon` (scheduling a commit, when one is scheduled); `output` holds `commit` (the group commit:
`journal`, `send` and the rest of `Sequencer.commit`), `after` (what follows the socket write: the
drop copies and the reject log, `RouterApp.after_write`, not counted in `send`) and
`stores` (the FIX stores' flushes).
`output`, `commit` and `stores` also count the calls made outside a read (the other session's
answers of a fill, flushed on the next loop turn).

Latency beside CPU: every `data_received` call (one socket read, its frames, the commit and the socket
write of its answers) is also timed on the wall clock (`perf_counter_ns`), whole and up to its socket
write (the answer leaving: what follows it, `after`, delays the next read but not this answer), so the
server's residence per read (p50, p90) can be set against the client's order->ack p50 of the same blocks: what the
client sees beyond the residence is the loopback, the wake-ups of both processes and the client's
own loop, not work in the server. Reported with the frames per read.

The counters use CLOCK_THREAD_CPUTIME_ID, so a neighbour's load does not inflate them, but each
read costs a system call: the stage figures carry a few µs of the counters' own overhead per
message. Compare stages with each other, not with an uninstrumented run.

usage: python -m benchmarks.service_stages [--rate N] [--duration S] [--repeat K] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

# (label, module, class, method): wrapped in the child, in this order.
STAGES = (
    ("input", "router.fix.transport", "FixConnection", "data_received"),
    ("parse", "router.fix.codec", "FrameDecoder", "feed"),
    ("session", "router.fix.session", "Session", "receive"),
    ("flow", "router.app", "RouterApp", "on_message"),
    ("output", "router.fix.transport", "FixConnection", "flush"),
    ("journal", "router.records.journal", "FileJournal", "append"),
    ("send", "router.app", "RouterApp", "send"),
    ("after", "router.app", "RouterApp", "after_write"),
    ("commit", "router.records.sequencer", "Sequencer", "commit"),
    ("stores", "router.fix.store", "FileStore", "flush"),
    ("soon", "router.records.sequencer", "Sequencer", "_schedule_commit"),
)
DESCRIPTION = {
    "input": "all FIX input callbacks (data_received: everything below)",
    "parse": "framing and parsing (FrameDecoder.feed)",
    "session": "session layer (Session.receive: sequence, CompIDs, SendingTime, validation)",
    "flow": "command + order flow (RouterApp.on_message: numbering, risk, routing, core, reports)",
    "output": "batch end (FixConnection.flush: group commit, stores' flush, socket write)",
    "journal": "journal append (encode + one write per batch)",
    "send": "reports out (encode, FIX store records, queue to sockets; in a read's flush the originals only)",
    "after": "after the socket write (the drop copies: made, encoded, stored; the reject log)",
    "commit": "group commit (journal append and send, with the rotation check and metrics)",
    "stores": "FIX stores' flush (one write per store with records)",
    "soon": "scheduling the commit (call_soon)",
}


def _child(out: str, argv: list[str]) -> int:
    import importlib

    acc: dict[str, list[int]] = {}
    clock = time.thread_time_ns
    wall = time.perf_counter_ns
    residence: list[int] = []     # wall ns of each data_received call (bounded below)
    answered: list[int] = []      # wall ns from a data_received call's start to its socket write

    def wrap(label: str, owner: type, name: str) -> None:
        inner = getattr(owner, name)
        slot = acc.setdefault(label, [0, 0])

        def timed(*args, **kwargs):
            t0 = clock()
            try:
                return inner(*args, **kwargs)
            finally:
                slot[0] += clock() - t0
                slot[1] += 1
        setattr(owner, name, timed)

    for label, module, cls, name in STAGES:
        owner = getattr(importlib.import_module(module), cls)
        if hasattr(owner, name):        # `after` exists from session 10 on
            wrap(label, owner, name)
    connection = importlib.import_module("router.fix.transport").FixConnection
    timed_input = connection.data_received

    read_start = [0]

    def resident(*args, **kwargs):
        t0 = read_start[0] = wall()
        try:
            return timed_input(*args, **kwargs)
        finally:
            read_start[0] = 0
            if len(residence) < 1_000_000:
                residence.append(wall() - t0)
    connection.data_received = resident

    class AnswerClock:
        """The connection's transport, noting when a read's first socket write happens."""

        def __init__(self, inner: object) -> None:
            self.inner = inner

        def write(self, data: bytes) -> None:
            t0 = read_start[0]
            if t0:
                read_start[0] = 0
                if len(answered) < 1_000_000:
                    answered.append(wall() - t0)
            self.inner.write(data)

        def __getattr__(self, name: str):
            return getattr(self.inner, name)

    made = connection.connection_made

    def connection_made(self, transport):
        made(self, transport)
        self.transport = AnswerClock(self.transport)
    connection.connection_made = connection_made

    def dump(*_: object) -> None:
        counters = {k: {"cpu_ns": v[0], "calls": v[1]} for k, v in acc.items()}
        counters["residence_ns"] = sorted(residence)
        counters["answer_ns"] = sorted(answered)
        Path(out).write_text(json.dumps(counters))

    def reset(*_: object) -> None:
        for v in acc.values():
            v[0] = v[1] = 0
        residence.clear()
        answered.clear()
    signal.signal(signal.SIGUSR1, dump)
    signal.signal(signal.SIGUSR2, reset)
    from router.cli import main
    return main(argv)


def run(rate: int, duration: float, repeat: int, workdir: Path, progress=print) -> dict:
    from benchmarks.console import block
    from benchmarks.roundtrip import ServiceTarget, _start

    out = workdir / "stages.json"
    target = ServiceTarget("router_app", workdir)
    target.argv = [sys.executable, "-m", "benchmarks.service_stages", "--child", str(out), "--"] + target.argv[3:]
    live = _start(target, min(rate, 2000), None)
    pid = live.target.proc.pid
    steps = []
    try:
        block(live, rate, min(duration, 1.0))
        os.kill(pid, signal.SIGUSR2)
        for r in range(repeat):
            step = block(live, rate, duration)
            steps.append(step)
            progress(f"block {r + 1}/{repeat}: {step['acked']} acks, {step['rejected']} rejects, {step['lost']} lost, "
                     f"server {step['server_cpu_us_per_order']} us CPU/message")
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        counters = json.loads(out.read_text())
    finally:
        live.close()
    sent = sum(s["sent"] for s in steps)
    cpu = sorted(s["server_cpu_us_per_order"] for s in steps if s.get("server_cpu_us_per_order"))
    residence = counters.pop("residence_ns")
    answered = counters.pop("answer_ns", [])
    stages = {k: {"us_per_message": round(v["cpu_ns"] / 1000 / sent, 2), "calls": v["calls"],
                  "what": DESCRIPTION[k]} for k, v in counters.items()}
    p50s = sorted(s["p50_us"] for s in steps if s.get("p50_us") is not None)
    return {"benchmark": "service_stages", "rate": rate, "messages": sent,
            "rejected_or_lost": sum(s["rejected"] + s["lost"] for s in steps),
            "server_cpu_us_per_message_median": cpu[len(cpu) // 2] if cpu else None,
            "stages": stages, "latency": _latency(residence, answered, sent, p50s), "steps": steps}


def _latency(residence: list[int], answered: list[int], sent: int, p50s: list[float]) -> dict:
    """The server's wall time per socket read, and to that read's socket write (the answer leaving),
    against the client's order->ack p50 (median of blocks)."""
    def pct(values: list[int], q: float) -> float | None:
        return round(values[min(len(values) - 1, int(q * len(values)))] / 1000, 1) if values else None
    return {"reads": len(residence), "frames_per_read": round(sent / len(residence), 2) if residence else None,
            "residence_p50_us": pct(residence, 0.5), "residence_p90_us": pct(residence, 0.9),
            "answer_p50_us": pct(answered, 0.5), "answer_p90_us": pct(answered, 0.9),
            "client_p50_us": p50s[len(p50s) // 2] if p50s else None}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return _child(argv[1], argv[3:])
    from benchmarks._timing import PROCESS_START_LOAD, machine_description, machine_line

    ap = argparse.ArgumentParser(prog="python -m benchmarks.service_stages", description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=2000, help="offered messages/s of the mix (default 2000)")
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per block (default 2)")
    ap.add_argument("--repeat", type=int, default=3, help="measured blocks (default 3)")
    ap.add_argument("--json", help="write the result here")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="goldrouter-stages-") as tmp:
        result = run(a.rate, a.duration, a.repeat, Path(tmp))
    result["machine"] = machine_description(PROCESS_START_LOAD)
    print(f"{result['messages']:,} messages of the mix at {a.rate}/s; server CPU "
          f"{result['server_cpu_us_per_message_median']} us per message (/proc, median of blocks)")
    depth = {"input": 0, "journal": 3, "send": 3, "commit": 2, "stores": 2, "soon": 2, "after": 2}
    for label in ("input", "parse", "session", "flow", "soon", "output", "commit", "journal", "send", "after",
                  "stores"):
        st = result["stages"].get(label)
        if st:
            indent = "  " * depth.get(label, 1)
            print(f"  {indent}{label:<8} {st['us_per_message']:7.2f} us  {st['what']}")
    lat = result["latency"]
    print(f"latency: client order->ack p50 {lat['client_p50_us']} us; server wall time per socket read "
          f"p50 {lat['residence_p50_us']} us, p90 {lat['residence_p90_us']} us, to its socket write p50 "
          f"{lat['answer_p50_us']} us, p90 {lat['answer_p90_us']} us ({lat['reads']} reads, "
          f"{lat['frames_per_read']} messages per read)")
    print(machine_line(result["machine"]))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2) + "\n")
    if result["rejected_or_lost"]:
        print(f"FAILED: {result['rejected_or_lost']} messages rejected or lost")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
