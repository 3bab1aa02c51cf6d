"""What an open operator console costs the order path: the whole service, console closed vs open.

One `python -m router serve --app router` process (the round-trip benchmark's `ServiceTarget`, no
admin token: console reads open on loopback) takes IOC orders from SHCLIENT1 at a fixed offered rate
(open loop, latency from the intended send time, as `benchmarks.roundtrip`). Each order adds a
routing decision, so every console snapshot differs from the last and an open console gets the most
frames the throttle allows: the worst case for the console. Blocks alternate, same run: console
closed, then `--subscribers` console streams open (each a separate process reading
`/console/stream` like the page's fetch, so their reading costs the server, not the client), then
closed again... For each block: the server's CPU time per order (from /proc) and the p50/p99 order
-> ack latency; the result is the median per mode and the ratios open / closed. The issue's target:
the console costs the order path at most 2 %.

Only same-run ratios mean anything on a shared machine.

usage: python -m benchmarks.console [--json FILE] [--rate N] [--duration S] [--repeat N] [--subscribers N] [--pin]
       python -m benchmarks.console --subscribe URL   (one console stream; prints the frames it read)
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks._timing import PROCESS_START_LOAD, argument_parser, machine_description, say, write_json
from benchmarks.roundtrip import ROOT, ServiceTarget, _cpu_split, _start, _step


def subscribe(url: str) -> int:
    """Read a console stream until SIGTERM; print READY at the first frame and the count at the end."""
    frames = 0
    stop = False

    def on_term(signum, frame):
        nonlocal stop
        stop = True
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            for line in resp:
                if line.startswith(b"data: "):
                    frames += 1
                    if frames == 1:
                        print("READY", flush=True)
    except KeyboardInterrupt:
        pass
    print(f"FRAMES {frames}", flush=True)
    return 0 if stop or frames else 1


class Subscribers:
    """`n` console streams, each its own process, open from `open()` to `close()`."""

    def __init__(self, url: str, n: int, cpus: set[int] | None = None) -> None:
        self.url, self.n, self.cpus = url, n, cpus
        self.procs: list[subprocess.Popen] = []
        self.opened = 0.0

    def _affinity(self) -> None:
        if self.cpus:
            os.sched_setaffinity(0, self.cpus)

    def open(self, timeout: float = 10.0) -> None:
        for _ in range(self.n):
            argv = [sys.executable, "-m", "benchmarks.console", "--subscribe", self.url]
            self.procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=ROOT,
                                               preexec_fn=self._affinity))
        deadline = time.monotonic() + timeout
        for p in self.procs:
            line = p.stdout.readline()
            if line.strip() != b"READY" or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"console subscriber did not start: {line!r}")
        self.opened = time.monotonic()

    def close(self) -> float:
        """Stop every stream; returns the frames per second each received on average."""
        frames = []
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            out, _ = p.communicate(timeout=10)
            for line in out.splitlines():
                if line.startswith(b"FRAMES "):
                    frames.append(int(line.split()[1]))
        span = time.monotonic() - self.opened
        self.procs = []
        return round(statistics.mean(frames) / span, 2) if frames and span > 0 else 0.0


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid` in ns, from /proc/PID/task/*/schedstat (Linux): the clock-tick
    figure of /proc/PID/stat is 10 ms coarse, as large as the difference measured here."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            pass
    return total


def wakeups(pid: int) -> int:
    """How many times the main thread (the event loop) has been put on a CPU: the third field of its
    schedstat. Between two readings, messages / wake-ups is how many messages each turn of the loop
    found waiting, which is what makes CPU per message move for the same code (one message per
    wake-up pays cold caches and the loop's fixed cost alone)."""
    try:
        return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 0


def block(live, rate: int, duration_s: float) -> dict:
    """One measured block: the round-trip step plus the server's CPU per order in ns resolution and
    the messages per wake-up of its event loop (see `wakeups`)."""
    pid = live.target.proc.pid
    cpu0, woke0 = cpu_ns(pid), wakeups(pid)
    step = _step(live, rate, duration_s, min(0.5, duration_s / 4))
    cpu, woke = cpu_ns(pid) - cpu0, wakeups(pid) - woke0
    step["server_cpu_us_per_order"] = round(cpu / 1000 / step["acked"], 2) if step["acked"] else None
    step["messages_per_wakeup"] = round(step["sent"] / woke, 2) if woke > 0 and step.get("sent") else None
    return step


def run(rate: int, duration_s: float, repeat: int, subscribers: int, progress=say, pin: bool = False) -> dict:
    # Pinning as benchmarks.roundtrip --pin: server (and the console readers) on one CPU, the
    # busy-polling client on the other. Off by default: on a shared machine it can hurt more than help.
    split = _cpu_split() if pin else None
    saved = os.sched_getaffinity(0) if split else None
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        target = ServiceTarget("router_app", Path(tmp))
        live = _start(target, min(rate, 2000), split[1] if split else None)
        if split:
            os.sched_setaffinity(0, split[0])
        url = f"http://127.0.0.1:{target.http_port}/console/stream"
        subs = Subscribers(url, subscribers, split[1] if split else None)
        blocks: dict[str, list[dict]] = {"closed": [], "open": []}
        try:
            for r in range(repeat):
                for mode in (("closed", "open") if r % 2 == 0 else ("open", "closed")):
                    if mode == "open":
                        subs.open()
                    try:
                        step = block(live, rate, duration_s)
                    finally:
                        fps = subs.close() if mode == "open" else None
                    step["console_frames_per_s"] = fps
                    blocks[mode].append(step)
                    progress(f"  {mode:6} block {r + 1}/{repeat}: {step['acked']} acks, "
                             f"p50 {step['p50_us']} µs, server {step['server_cpu_us_per_order']} µs CPU/order"
                             + (f", {fps} frames/s per console" if fps is not None else ""))
        finally:
            live.close()
            if saved:
                os.sched_setaffinity(0, saved)

    def med(mode: str, key: str):
        vals = [b[key] for b in blocks[mode] if b.get(key) is not None]
        return round(statistics.median(vals), 2) if vals else None

    summary = {mode: {"server_cpu_us_per_order": med(mode, "server_cpu_us_per_order"),
                      "p50_us": med(mode, "p50_us"), "p99_us": med(mode, "p99_us"),
                      "achieved_per_s": med(mode, "achieved_per_s"), "lost": sum(b["lost"] for b in blocks[mode])}
               for mode in blocks}
    summary["open"]["console_frames_per_s"] = med("open", "console_frames_per_s")

    def ratio(key: str):
        a, b = summary["open"][key], summary["closed"][key]
        return round(a / b, 4) if a is not None and b else None
    return {"rate_per_s": rate, "block_s": duration_s, "repeat": repeat, "subscribers": subscribers,
            "summary": summary,
            "ratios": {"cpu_per_order_open_over_closed": ratio("server_cpu_us_per_order"),
                       "p50_open_over_closed": ratio("p50_us"), "p99_open_over_closed": ratio("p99_us")},
            "steps": blocks}


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=2000, help="offered orders per second (default 2000)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per block (default 3)")
    parser.add_argument("--repeat", type=int, default=4, help="closed/open block pairs (default 4)")
    parser.add_argument("--subscribers", type=int, default=1, help="console streams while open (default 1)")
    parser.add_argument("--pin", action="store_true", help="pin server and client to separate CPUs")
    parser.add_argument("--subscribe", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.subscribe:
        return subscribe(args.subscribe)
    say(f"console cost: {args.rate} orders/s, {args.repeat} x (closed, open) blocks of {args.duration} s, "
        f"{args.subscribers} console(s) when open")
    result = run(args.rate, args.duration, args.repeat, args.subscribers, pin=args.pin)
    s, r = result["summary"], result["ratios"]
    say(f"closed: {s['closed']['server_cpu_us_per_order']} µs CPU/order, p50 {s['closed']['p50_us']} µs")
    say(f"open:   {s['open']['server_cpu_us_per_order']} µs CPU/order, p50 {s['open']['p50_us']} µs, "
        f"{s['open']['console_frames_per_s']} frames/s per console")
    say(f"open / closed: CPU per order {r['cpu_per_order_open_over_closed']}, p50 {r['p50_open_over_closed']}, "
        f"p99 {r['p99_open_over_closed']} (target: CPU per order <= 1.02)")
    result["machine"] = machine_description(PROCESS_START_LOAD)
    write_json(args.json, result)
    lost = s["closed"]["lost"] + s["open"]["lost"]
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
