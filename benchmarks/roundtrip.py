"""FIX order->ack round trip over loopback, open loop, against gold-router and its peers in one run.

Targets (each a separate process, started and stopped here):
  echo_floor  C epoll echo server (`benchmarks/peers/echo_floor.c`, built now with `cc -O2`): the floor.
  gateway     gold-router's FIX acceptor with the echo app and the metrics observer.
  gateway_nometrics  the same gateway without the metrics observer (end-to-end cost of metrics).
  router_app  the whole service, `python -m router serve --app router`: risk, routing and the
              matching core behind the gateway, driven by the realistic two-session mix of
              `benchmarks.rt_mix` (instrument and product IOCs, resting orders and their cancels,
              crossing trades between SHCLIENT1 and HKCLIENT1; seeded, the same every run).
  gateway_answers  the gateway answering the same mix with the router's ExecutionReports (same count,
              sessions and drop copies, inputs written ahead) and no order handling
              (`benchmarks/peers/gateway_answers.py`): the ceiling for router_app on these layers.
  router_busy_poll  router_app with `fix.busy_poll_us` = 500: the loop polls instead of sleeping for
              0.5 ms after each read (a core kept busy; the floor's server still sleeps).
  quickfix    a QuickFIX acceptor (PyPI `quickfix`) answering each order with an ExecutionReport.
  quickfix_orders  the same engine running an order-acknowledging application (keeps orders, refuses
              duplicates and bad values, acks, cancels the IOC remainder): the router's peer.
A missing compiler or QuickFIX marks that target skipped; it does not fail the run.

Method: one client process logs on, then for each offered rate sends NewOrderSingles
at fixed intended times t0 + i/rate (open loop: it never waits for an ack before
sending).  Latency is counted from the *intended* send time, so a stalled client or
server shows as latency instead of as a lower send rate (no coordinated omission).
The client busy-polls a non-blocking socket on its own core and stamps receipt with
perf_counter_ns.  Per step it reports p50/p90/p99/p99.9/max, the achieved ack rate,
lost acks, and the server's CPU seconds (from /proc) per order.  Steps stop at the
first saturated rate (achieved < 90 % of offered, acks lost, or p99 > 100 ms).

Answers are told apart (the first one per ClOrdID decides): an ExecutionReport with ExecType(150)
0 or a fill is an ack (only acks give latencies and the achieved rate), 150=8 a reject, the order's
own bytes back (35=D) the echo targets' echo.  Each step and target reports acks (or echoes),
rejects and the reject share; the run exits 1 if router_app rejects more than 1 % of its orders.
The output names the work each target does per order (`rt_results.WORK`) and labels each ratio
with what it compares: echo vs echo (gateway / floor), orders vs echo (router_app / floor or
gateway), echo vs a built ExecutionReport (gateway / QuickFIX, not like for like).

Only same-run ratios mean anything on a shared machine.

usage: python -m benchmarks.roundtrip [--json FILE] [--rates 1000,5000,...] [--duration S]
                                      [--targets echo_floor,gateway,quickfix] [--quick]
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._timing import load_average
from benchmarks.rt_mix import MixClient
from benchmarks.rt_results import (  # noqa: F401  (re-exported: the suite and tests read them here)
    MAX_ROUTER_REJECT_SHARE, P99_LIMIT_NS, RATIO_LABELS, SATURATED_P99_NS, WORK, best_p50, best_p50_ratio,
    machine, percentiles, ratios, reject_failures, report_text, saturated, step_ratio, summarize,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SOH = b"\x01"
# 15k, 25k and 70k (session 12): steps where the router (15k-20k), its answers without order handling
# (25k-50k) and the gateway (60k-80k) reach their knee, so each curve's bend and the highest rate with
# p99 under 1 ms are read at a finer step (about 30 s more per suite run).
DEFAULT_RATES = (1_000, 2_000, 5_000, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000, 60_000,
                 70_000, 80_000, 100_000, 130_000)
QUICK_RATES = (1_000, 5_000, 20_000)
TARGETS = ("echo_floor", "gateway", "gateway_nometrics", "gateway_answers", "router_app", "router_busy_poll",
           "quickfix", "quickfix_orders")
BUSY_POLL_US = 500      # router_busy_poll's fix.busy_poll_us: longer than the mix's gaps at the rates that matter
ACK = re.compile(rb"\x0135=[8D]\x01.*?\x0111=(\d+)\x01", re.S)
# ExecType(150) values that acknowledge an order: New, or a (partial) fill.  8 is a reject; a later
# report on the same order (an IOC's cancelled remainder) is not its answer and is not counted.
ACK_EXEC_TYPES = frozenset((b"0", b"1", b"2", b"F"))
REJECT_EXEC_TYPE = b"8"
LOGON_ACK = re.compile(rb"\x0135=A\x01")
UNANSWERED, REJECTED, OTHER_ANSWER = -1, -2, -3   # lat[k] markers; an ack's latency is >= 0


# ---------------------------------------------------------------- FIX framing (client side)
class Framer:
    """Builds client frames; independent of router.fix.codec on purpose (the codec is under test)."""

    def __init__(self, sender: bytes = b"BENCH", target: bytes = b"GOLDRTR") -> None:
        self.sender, self.target, self.seq = sender, target, 0

    def frame(self, msg_type: bytes, body: bytes, sending_time: bytes) -> bytes:
        self.seq += 1
        payload = b"35=%s\x0149=%s\x0156=%s\x0134=%d\x0152=%s\x01%s" % (
            msg_type, self.sender, self.target, self.seq, sending_time, body)
        head = b"8=FIX.4.4\x019=%d\x01" % len(payload)
        return b"%s%s10=%03d\x01" % (head, payload, (sum(head) + sum(payload)) & 255)

    def logon(self, sending_time: bytes) -> bytes:
        return self.frame(b"A", b"98=0\x01108=30\x01141=Y\x01", sending_time)

    def logout(self, sending_time: bytes) -> bytes:
        return self.frame(b"5", b"", sending_time)

    def order(self, clordid: int, sending_time: bytes, tif: bytes = b"0", price: bytes = b"560.00") -> bytes:
        return self.frame(b"D", b"11=%d\x0155=SGE.AU9999\x0154=1\x0160=%s\x0138=1\x0140=2\x0144=%s\x0159=%s\x01"
                          % (clordid, sending_time, price, tif), sending_time)


def utc_now() -> bytes:
    ns = time.time_ns()
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(ns // 10**9)).encode() + b".%03d" % (ns // 10**6 % 1000)


# ---------------------------------------------------------------- targets
class Target:
    """A server process that prints "READY <port>" once it listens."""

    # What the client logs on as and sends; the full service needs a configured session and an
    # order that leaves nothing resting (IOC below the empty book's price), so runs do not pile up.
    sender = b"BENCH"
    tif = b"0"
    price = b"560.00"

    def __init__(self, name: str, argv: list[str], workdir: Path, env: dict | None = None) -> None:
        self.name, self.argv, self.workdir, self.env = name, argv, workdir, env
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self, timeout: float = 60.0) -> None:
        self.log = open(self.workdir / f"{self.name}.log", "wb")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self.log,
                                     stdin=subprocess.DEVNULL, cwd=ROOT, env=self.env)
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith(b"READY"):
                self.port = int(line.split()[1])
                return
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        tail = (self.workdir / f"{self.name}.log").read_text(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{self.name} did not start: " + (" | ".join(tail) or repr(line)))

    def pin(self, cpus: set[int]) -> bool:
        """Pin every thread of the server (threads started later inherit it); False if not possible."""
        try:
            for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
                os.sched_setaffinity(int(tid), cpus)
            return True
        except (OSError, AttributeError):
            return False

    def cpu_seconds(self) -> float:
        """utime + stime of the process and its threads, from /proc (Linux)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.log.close()
        self.proc = None


class ServiceTarget(Target):
    """`python -m router serve --app router`: the whole service, ready when GET /ready says so."""

    sender = b"SHCLIENT1"
    tif = b"3"          # IOC: acknowledged and expired at once, nothing rests
    price = b"559.00"   # inside the default 10 % collar around 560.00
    # The round trip drives it with the realistic two-session mix (benchmarks.rt_mix); sender, tif
    # and price above are for a plain `Client` (single-session IOC stream) pointed at it.
    mix = True

    def __init__(self, name: str, workdir: Path, busy_poll_us: int = 0) -> None:
        fix_port, self.http_port = _free_port(), _free_port()
        overlay = workdir / f"bench-overlay-{name}.toml"
        # The default throttle (50 msg/s per session) is a risk control, not what is measured here.
        # The command journal runs as it ships: a file journal with its default policy, fsync "none"
        # (written to the page cache in one group commit per batch, before any report leaves), and
        # the FIX store on files, as the gateway target's.
        overlay.write_text("[risk]\nmsg_rate = 10000000\nmsg_burst = 10000000\n\n"
                           "[journal]\nstore = \"file\"\nfsync = \"none\"\n"
                           + (f"\n[fix]\nbusy_poll_us = {busy_poll_us}\n" if busy_poll_us else ""))
        argv = [sys.executable, "-m", "router", "serve", "--app", "router", "--config", str(overlay),
                "--fix-port", str(fix_port), "--http-port", str(self.http_port),
                "--store-dir", str(workdir / name / "fix-store"), "--journal-dir", str(workdir / name / "journal"),
                "--reset-on-logon", "--sessions-always-open"]
        super().__init__(name, argv, workdir)
        self.fix_port = fix_port

    def start(self, timeout: float = 300.0) -> None:
        import urllib.error
        import urllib.request

        self.log = open(self.workdir / f"{self.name}.log", "wb")
        # `code`: another tree's router (benchmarks.ab_service runs an old and a new one side by side).
        code = getattr(self, "code", None)
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=code or ROOT,
                                     env=dict(os.environ, PYTHONPATH=str(code)) if code else None)
        self.proc.stdout = open(os.devnull, "rb")  # stop() closes it like the other targets' pipe
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/ready", timeout=2) as r:
                    if r.status == 200:
                        self.port = self.fix_port
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.stop()
        tail = (self.workdir / f"{self.name}.log").read_text(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{self.name} did not become ready: " + (" | ".join(tail) or "no output"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_echo_floor(workdir: Path) -> Path | str:
    """Compile the C echo server; returns its path or the reason it cannot be built."""
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        return "no C compiler (cc) on PATH"
    src = HERE / "peers" / "echo_floor.c"
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    exe = workdir / f"echo_floor-{digest}"
    proc = subprocess.run([cc, "-O2", "-o", str(exe), str(src)], capture_output=True, timeout=120)
    if proc.returncode != 0:
        return "cc failed: " + proc.stderr.decode(errors="replace")[-500:]
    return exe


def make_target(name: str, workdir: Path) -> Target | str:
    py = sys.executable
    if name == "echo_floor":
        exe = build_echo_floor(workdir)
        return exe if isinstance(exe, str) else Target(name, [str(exe), "0"], workdir)
    if name in ("gateway", "gateway_nometrics"):
        try:
            import router.fix.gateway  # noqa: F401
            import router.fix.echo  # noqa: F401
        except ImportError as exc:
            return f"gateway not importable: {exc}"
        argv = [py, "-m", "benchmarks.peers.gateway_echo", "--dir", str(workdir / name), "--port", "0"]
        if name == "gateway_nometrics":
            argv.append("--no-metrics")
        return Target(name, argv, workdir)
    if name == "gateway_answers":
        target = Target(name, [py, "-m", "benchmarks.peers.gateway_answers", "--dir", str(workdir / name),
                               "--port", "0"], workdir)
        target.mix = True   # driven by the router's two-session mix, like router_app
        return target
    if name in ("router_app", "router_busy_poll"):
        try:
            import router.app  # noqa: F401
            import router.service  # noqa: F401
        except ImportError as exc:
            return f"router service not importable: {exc}"
        return ServiceTarget(name, workdir, BUSY_POLL_US if name == "router_busy_poll" else 0)
    if name in ("quickfix", "quickfix_orders"):
        try:
            import quickfix  # noqa: F401
        except ImportError:
            return "PyPI quickfix not installed"
        argv = [py, "-m", "benchmarks.peers.quickfix_acceptor", "--port", str(_free_port()),
                "--dir", str(workdir / name)]
        if name == "quickfix":
            return Target(name, argv, workdir)
        target = Target(name, argv + ["--app", "orders"], workdir)
        # The router target's order: IOC inside the collar, acknowledged then its remainder cancelled.
        target.tif, target.price = ServiceTarget.tif, ServiceTarget.price
        return target
    return f"unknown target {name!r}"


# ---------------------------------------------------------------- client
class Client:
    def __init__(self, port: int, sender: bytes = b"BENCH", tif: bytes = b"0", price: bytes = b"560.00") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.framer = Framer(sender=sender)
        self.tif, self.price = tif, price
        self.next_id = 1
        self.buf = b""

    def logon(self, timeout: float = 10.0) -> None:
        self.sock.sendall(self.framer.logon(utc_now()))
        deadline = time.monotonic() + timeout
        data = b""
        while not LOGON_ACK.search(data):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no Logon reply: {data[:200]!r}")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"connection closed during logon: {data[:200]!r}")
            data += chunk
        self.sock.setblocking(False)

    def close(self) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.settimeout(1.0)
            self.sock.sendall(self.framer.logout(utc_now()))
            time.sleep(0.05)
        except OSError:
            pass
        self.sock.close()

    def run_step(self, rate: int, duration_s: float, warmup_s: float, drain_s: float = 2.0) -> dict:
        n = max(1, int(rate * duration_s))
        first = self.next_id
        self.next_id += n
        stamp = utc_now()
        msgs = [self.framer.order(first + k, stamp, self.tif, self.price) for k in range(n)]
        lat = [UNANSWERED] * n
        self.echoed = 0
        t0 = time.perf_counter_ns() + 1_000_000  # 1 ms ahead: the first message is not already late
        give_up = t0 + (n - 1) * 1_000_000_000 // rate + int(drain_s * 1e9)
        # A collection pause in the client would show up as every target's latency.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            acked, i, last_ack_ns = self._pump(msgs, lat, first, n, rate, t0, give_up)
        finally:
            if gc_was_enabled:
                gc.enable()
        warm = int(min(warmup_s * rate, n // 5))
        measured = sorted(x for x in lat[warm:] if x >= 0)
        lost = lat.count(UNANSWERED)
        rejected = lat.count(REJECTED)
        span_s = (last_ack_ns - t0) / 1e9
        return {
            "offered_per_s": rate, "sent": i, "acked": acked, "echoed": self.echoed, "rejected": rejected,
            "reject_share": round(rejected / n, 4),
            "other_answers": lat.count(OTHER_ANSWER), "lost": lost,
            "achieved_per_s": round(acked / span_s, 1) if span_s > 0 else 0.0,
            **percentiles(measured),
        }

    def _pump(self, msgs: list[bytes], lat: list[int], first: int, n: int, rate: int, t0: int,
              give_up: int) -> tuple[int, int, int]:
        """The open-loop send/receive loop: busy-polls until every order is answered or `give_up`.

        An order's first answer decides: an ExecutionReport with ExecType(150) 0 or a fill is an ack
        (its latency is kept), 150=8 a reject (counted, marked REJECTED, no latency), the order's
        own bytes back (35=D, the echo targets) an echo, counted as that target's ack."""
        send, recv, clock = self.sock.send, self.sock.recv, time.perf_counter_ns
        period_num = 1_000_000_000
        finditer = ACK.finditer
        acks, reject = ACK_EXEC_TYPES, REJECT_EXEC_TYPE
        acked = answered = echoed = i = 0
        out = b""
        last_ack_ns = t0
        while answered < n:
            now = clock()
            if i < n and now >= t0 + i * period_num // rate:
                j = i + 1
                # everything already due leaves in one write, the way a busy sender batches
                while j < n and t0 + j * period_num // rate <= now:
                    j += 1
                out = out + b"".join(msgs[i:j]) if out else b"".join(msgs[i:j])
                i = j
            if out:
                try:
                    sent = send(out)
                    out = out[sent:]
                except BlockingIOError:
                    pass
            try:
                data = recv(1 << 20)
            except BlockingIOError:
                data = None
            if data:
                t = clock()
                buf = self.buf + data
                cut = buf.rfind(b"\x0110=")
                if cut >= 0 and len(buf) >= cut + 8:
                    done, self.buf = buf[:cut + 8], buf[cut + 8:]
                    for m in finditer(done):
                        k = int(m.group(1)) - first
                        if 0 <= k < n and lat[k] == UNANSWERED:
                            answered += 1
                            start = m.start()
                            if done[start + 4] == 68:      # 35=D: the echo targets' answer
                                echoed += 1
                            else:
                                e = done.find(b"\x01150=", start, done.find(b"\x0110=", start))
                                et = done[e + 5:e + 6] if e >= 0 else b""
                                if et not in acks:
                                    lat[k] = REJECTED if et == reject else OTHER_ANSWER
                                    continue
                            lat[k] = t - (t0 + k * period_num // rate)
                            acked += 1
                    last_ack_ns = t
                else:
                    self.buf = buf
            elif data == b"":
                break
            elif i >= n and now > give_up:
                break
        self.echoed = echoed
        return acked, i, last_ack_ns


def _cpu_split() -> tuple[set[int], set[int]] | None:
    """Client on one CPU, server on another, so neither migrates mid-run (None: fewer than 2 CPUs)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None
    return ({cpus[0]}, {cpus[1]}) if len(cpus) >= 2 else None


class Live:
    """A started target with its logged-on client and the steps measured so far."""

    def __init__(self, target: Target, client: Client) -> None:
        self.target, self.client = target, client
        self.steps: list[dict] = []
        self.done = False
        self.error: str | None = None
        self.pinned = False

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        self.target.stop()


def _start(target: Target, warm_rate: int, server_cpus: set[int] | None) -> Live:
    target.start()
    try:
        pinned = server_cpus is not None and target.pin(server_cpus)
        if getattr(target, "mix", False):
            client = MixClient(target.port, Framer)
        else:
            client = Client(target.port, target.sender, target.tif, target.price)
        live = Live(target, client)
        live.pinned = pinned
        client.logon()
        client.run_step(warm_rate, 0.3, 0.0)  # warm caches, JITs and the store file
        return live
    except BaseException:
        target.stop()
        raise


def _step(live: Live, rate: int, duration_s: float, warmup_s: float) -> dict:
    load = os.getloadavg()[0]
    cpu0 = live.target.cpu_seconds()
    step = live.client.run_step(rate, duration_s, warmup_s)
    cpu = live.target.cpu_seconds() - cpu0
    step["server_cpu_s"] = round(cpu, 3)
    step["server_cpu_us_per_order"] = round(cpu * 1e6 / step["acked"], 2) if step["acked"] else None
    step["load_avg_1min"] = round(load, 2)
    return step


def run(rates: list[int], duration_s: float, warmup_s: float, targets: list[str], progress=print,
        pin: bool = False) -> dict:
    """All targets are started first and measured in turn at each rate, so a noisy neighbour
    hits them at about the same moments and the same-run ratios stay meaningful.  A target
    leaves the rotation (and is stopped, freeing its CPU) at its first saturated rate."""
    results: dict = {}
    load_at_start = load_average()
    split = _cpu_split() if pin else None
    saved = os.sched_getaffinity(0) if split else None
    live: list[Live] = []
    with tempfile.TemporaryDirectory(prefix="goldrouter-rt-") as tmp:
        workdir = Path(tmp)
        try:
            for name in targets:
                target = make_target(name, workdir)
                if isinstance(target, str):
                    results[name] = {"status": "skipped", "reason": target}
                    progress(f"{name:<18} skipped: {target}")
                    continue
                try:
                    live.append(_start(target, min(rates), split[1] if split else None))
                except (RuntimeError, OSError) as exc:
                    results[name] = {"status": "failed", "reason": str(exc)}
                    progress(f"{name:<18} failed: {exc}")
            if split:
                os.sched_setaffinity(0, split[0])
            for rate in rates:
                for lv in live:
                    if lv.done:
                        continue
                    try:
                        step = _step(lv, rate, duration_s, warmup_s)
                    except OSError as exc:
                        lv.error, lv.done = f"at {rate}/s: {exc}", True
                        lv.close()
                        progress(f"{lv.target.name:<18} failed {lv.error}")
                        continue
                    lv.steps.append(step)
                    answers = "echoes" if step["echoed"] else "acks"
                    progress(f"{lv.target.name:<18} {rate:>7}/s  p50 {step['p50_us']} us  p99 {step['p99_us']} us  "
                             f"achieved {step['achieved_per_s']:.0f}/s  {answers} {step['acked']}  "
                             f"rejects {step['rejected']}  lost {step['lost']}")
                    if saturated(step):
                        lv.done = True
                        lv.close()
                if all(lv.done for lv in live):
                    break
                time.sleep(0.2)
        finally:
            for lv in live:
                lv.close()
            if saved is not None:
                os.sched_setaffinity(0, saved)
    for lv in live:
        if lv.error and not lv.steps:
            results[lv.target.name] = {"status": "failed", "reason": lv.error}
            continue
        res = summarize(lv.steps)
        if lv.error:
            res["error"] = lv.error
        res["pinned_cpus"] = ({"client": sorted(split[0]), "server": sorted(split[1])}
                              if split and lv.pinned else None)
        res["work"] = WORK.get(lv.target.name)
        res["load_avg_1min"] = [lv.steps[0]["load_avg_1min"], lv.steps[-1]["load_avg_1min"]] if lv.steps else []
        results[lv.target.name] = res
    ordered = {name: results[name] for name in targets if name in results}
    for name, res in ordered.items():
        res.setdefault("work", WORK.get(name))
    return {
        "benchmark": "roundtrip",
        "method": "open loop, latency from intended send time, one client process busy-polling, "
                  "targets interleaved rate by rate",
        "duration_s_per_rate": duration_s, "warmup_s": warmup_s,
        "machine": machine(load_at_start),
        "targets": ordered,
        "ratios": ratios(ordered),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.roundtrip", description=__doc__.splitlines()[0])
    p.add_argument("--json", help="write the results here")
    p.add_argument("--rates", help="comma-separated offered rates, orders/s")
    p.add_argument("--duration", type=float, default=2.0, help="seconds per rate (default 2)")
    p.add_argument("--warmup", type=float, default=0.2, help="seconds discarded at each rate's start")
    p.add_argument("--targets", default=",".join(TARGETS),
                   help=f"comma-separated subset of {','.join(TARGETS)} (default: all)")
    p.add_argument("--quick", action="store_true", help="3 low rates, 0.5 s each (smoke run)")
    p.add_argument("--pin", action="store_true",
                   help="pin client and server to separate CPUs (steadier on a quiet machine, worse on a busy one)")
    args = p.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",")] if args.rates else list(DEFAULT_RATES)
    duration = args.duration
    if args.quick:
        rates, duration = (rates if args.rates else list(QUICK_RATES)), min(duration, 0.5)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    result = run(rates, duration, args.warmup, targets, pin=args.pin)
    result["failures"] = reject_failures(result)
    print(report_text(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    failed = [k for k, v in result["targets"].items() if v["status"] == "failed"]
    for reason in result["failures"]:
        print(f"FAILED: {reason}")
    return 1 if failed or result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
