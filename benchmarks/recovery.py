"""What the write-ahead journal costs an order, and how fast a restart replays it.

Cases, all in one run:
  ack_*        order→ack latency over loopback TCP through the real gateway and router app, with the
               journal off, on with fsync "none" and on with fsync "batch". One client sends a
               NewOrderSingle (resting, never crossing) and waits for its ack, then cancels it; only
               the D→ack time of acknowledged orders is counted (a reject fails the run). The three
               variants run interleaved round by round in one event loop, so machine noise hits them
               alike. Ratio: journal-on p50 / journal-off p50 (target: journal costs ≤ 10 %).
  replay       `RouterApp.recover()` of a journal of `--commands` commands (orders, cancels, fills,
               timer ticks) written by the live app: commands per second.
  startup      wall time from launching `gold-router serve` to its ready line, in a subprocess (numba's
               cache warm): on an empty journal, on the journal with a snapshot `--tail` commands before
               its end (the snapshot plus a tail replay), and on the same journal with the snapshot
               moved away (the whole journal replayed). Target: snapshot + 100k tail ≤ 5 s.
  snapshot     the event loop's pause for one snapshot of the replayed state: written in place vs
               forked to a child process (`journal.snapshot_background`), same state, same run.

Start-up and replay also give the CPU seconds spent: on this shared 2-core machine the wall time
moves with the load average, the CPU time much less.

`--bytecode-cache` runs the starts with Python's bytecode cache on (one unmeasured start compiles into the
scratch directory): where PYTHONDONTWRITEBYTECODE is set, as in this team's shells, every start otherwise
compiles the router's own modules from source (~0.2-0.3 s), which no restart of an installed router does.

usage: python -m benchmarks.recovery [--json FILE] [--orders N] [--commands N] [--tail N] [--startup-only]
                                     [--bytecode-cache]
"""
from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._timing import argument_parser, load_average, machine_description, machine_line, say, write_json
from router.app import build_router_app
from router.config import load_config
from router.fix.codec import FrameDecoder, encode, parse_frame, utc_timestamp
from router.fix.config import with_overrides
from router.fix.gateway import start_gateway
from router.records.journal import FileJournal
from router.records.replay import replay as replay_journal
from router.records.snapshot import SnapshotStore
from router.records.snapshot_fork import BackgroundSnapshot

ROOT = Path(__file__).resolve().parent.parent
# The per-session message throttle (50/s by default) would refuse a benchmark's back-to-back orders;
# every case here, the `serve` subprocesses included, runs on the defaults with it lifted.
OVERLAY = "[risk]\nmsg_rate = 1000000\nmsg_burst = 1000000\n"
OVERLAY_FILE = Path(tempfile.gettempdir()) / "gold-router-bench-recovery.toml"
OVERLAY_FILE.write_text(OVERLAY)
CONFIG = load_config(OVERLAY_FILE)
VARIANTS = ("off", "none", "batch")


async def _variant(name: str, base: Path):
    journal = None if name == "off" else FileJournal(base / name, fsync=name)
    app = build_router_app(CONFIG, sessions_always_open=True, journal=journal)
    app.warm_up()
    app.recover()
    fix = with_overrides(CONFIG.sections["fix"], port=0, store="memory")
    gateway = await start_gateway(fix, app)
    app.attach_gateway(gateway)
    client = await Client.connect(gateway.port)
    await client.send(b"A", [(98, 0), (108, 30), (141, b"Y")])
    await client.expect(b"A")
    return app, gateway, client


class Client:
    """Just enough of a FIX initiator for this benchmark: send, and wait for a message type."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.seq, self.decoder, self.pending = reader, writer, 1, FrameDecoder(), []

    @classmethod
    async def connect(cls, port: int) -> "Client":
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, msg_type: bytes, body: list) -> None:
        self.writer.write(encode(msg_type, b"SHCLIENT1", b"GOLDRTR", self.seq, utc_timestamp(time.time_ns()), body))
        self.seq += 1

    async def expect(self, msg_type: bytes):
        while True:
            while not self.pending:
                self.pending.extend(self.decoder.feed(await self.reader.read(65536)))
            msg = self.pending.pop(0)
            if msg.msg_type == msg_type:
                return msg

    async def close(self) -> None:
        self.writer.close()


async def ack_latency(orders: int, base: Path) -> dict:
    parts = {v: await _variant(v, base) for v in VARIANTS}
    samples: dict[str, list[int]] = {v: [] for v in VARIANTS}
    for i in range(orders):
        for v in VARIANTS:
            _, _, c = parts[v]
            ts = utc_timestamp(time.time_ns())
            t0 = time.perf_counter_ns()
            await c.send(b"D", [(11, f"o{i}"), (55, "SGE.AU9999"), (54, 1), (60, ts), (38, 1), (40, 2),
                                (44, "558.00"), (59, 1)])
            ack = await c.expect(b"8")
            samples[v].append(time.perf_counter_ns() - t0)
            if ack.get(150) != b"0":
                raise SystemExit(f"variant {v}: order {i} was not acknowledged: {ack.raw!r}")
            await c.send(b"F", [(41, f"o{i}"), (11, f"c{i}"), (55, "SGE.AU9999"), (54, 1), (60, ts)])
            await c.expect(b"8")
    for app, gateway, client in parts.values():
        await client.close()
        await gateway.close(timeout=0.2)
        if app.journal is not None:
            app.journal.close()
    out = {}
    for v, s in samples.items():
        s.sort()
        out[v] = {"p50_us": s[len(s) // 2] / 1000, "p99_us": s[int(len(s) * 0.99)] / 1000, "orders": len(s)}
    for v in ("none", "batch"):
        out[f"ratio_p50_{v}_vs_off"] = round(out[v]["p50_us"] / out["off"]["p50_us"], 3)
    return out


class _Handle:
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id

    def send(self, msg_type: bytes, body: list) -> bool:
        return True


def write_journal(directory: Path, commands: int, tail: int) -> int:
    """A journal of `commands` commands from the live app driven in-process (no sockets): orders from
    two sessions on three books, about half of them trading, cancels and a timer tick every 100; with
    `tail`, one snapshot exactly `tail` commands before the end (none with tail 0)."""
    now = [1_764_900_000_000_000_000]

    def clock() -> int:
        now[0] += 1_000_000
        return now[0]
    app = build_router_app(CONFIG, sessions_always_open=True, journal=FileJournal(directory), clock=clock,
                           snapshots=SnapshotStore(directory / "snapshots"))
    app.recover()
    rng = random.Random(1)
    seqs = {"SHCLIENT1": 1, "HKCLIENT1": 1}
    handles = {s: _Handle(s) for s in seqs}
    books = {"HKGX.RKG": 560, "SGE.AU9999": 560, "HKGX.LLG": 2400}
    while app.seq < commands:
        s = rng.choice(list(seqs))
        if app.seq % 100 == 0:
            app.on_timer(clock())
            continue
        if rng.random() < 0.85:
            sym = rng.choice(list(books))
            body = [(11, f"{s[:2]}{app.seq}"), (55, sym), (54, rng.choice((1, 2))), (60, utc_timestamp(now[0])),
                    (38, rng.randint(1, 3)), (40, 2), (44, f"{books[sym] + rng.choice((-1, 0, 1))}.00"), (59, 1)]
            msg_type = b"D"
        else:
            body = [(41, f"{s[:2]}{rng.randrange(app.seq)}"), (11, f"x{app.seq}"), (55, "HKGX.RKG"), (54, 1),
                    (60, utc_timestamp(now[0]))]
            msg_type = b"F"
        frame = encode(msg_type, s.encode(), b"GOLDRTR", seqs[s], utc_timestamp(now[0]), body)
        seqs[s] += 1
        app.on_message(handles[s], parse_frame(frame))
        if app.seq % 64 == 0:
            app.commit()        # one group commit per event-loop batch, as the gateway does
        if tail and app.seq == commands - tail:
            app.take_snapshot(background=False)
    app.commit()
    app.journal.close()
    return app.seq


def replay_rate(directory: Path, pause_gc: bool = True) -> dict:
    """`RouterApp.recover()` of the journal as `serve` runs it (the collector paused during the replay),
    or with `pause_gc=False` the same replay with the collector running, for the comparison."""
    journal = FileJournal(directory)
    app = build_router_app(CONFIG, sessions_always_open=True, journal=journal)
    app.warm_up()             # numba's kernels loaded before the clock starts, as `serve` does
    t0, c0 = time.perf_counter(), time.process_time()
    if pause_gc:
        n = app.recover()
    else:
        n = replay_journal(journal, app.applier, pause_gc=False).commands
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    journal.close()
    return {"commands": n, "seconds": round(took, 3), "commands_per_s": round(n / took),
            "cpu_seconds": round(cpu, 3), "cpu_us_per_command": round(cpu / n * 1e6, 1)}


def snapshot_pause(directory: Path) -> dict:
    """The event loop's pause for one snapshot of the state the journal in `directory` rebuilds:
    written synchronously (the loop waits for pickling and hashing) vs by a forked child (the loop
    waits only for the fork; `journal.snapshot_background`), same state, same run."""
    app = build_router_app(CONFIG, sessions_always_open=True, journal=FileJournal(directory),
                           snapshots=SnapshotStore(directory / "bench-snapshots"))
    app.warm_up()
    app.recover()
    store, flow = app.snapshots, app.flow
    t0 = time.perf_counter_ns()
    store.write(app.seq, 0, flow)
    sync_ns = time.perf_counter_ns() - t0

    async def forked() -> tuple[int, float]:
        done = asyncio.get_running_loop().create_future()
        pause = BackgroundSnapshot().start(app.seq + 1, lambda: store.write(app.seq + 1, 0, flow),
                                           lambda seq, ok, s: done.set_result((ok, s)))
        ok, seconds = await done
        if not ok:
            raise SystemExit("the background snapshot failed")
        return pause, seconds
    pause_ns, child_s = asyncio.run(forked())
    app.journal.close()
    return {"orders_known": len(flow.index.by_clordid), "orders_live": len(flow.index.live),
            "sync_ms": round(sync_ns / 1e6, 1), "fork_pause_ms": round(pause_ns / 1e6, 2),
            "child_ms": round(child_s * 1e3, 1), "ratio_pause_fork_vs_sync": round(pause_ns / sync_ns, 4)}


def serve_env(bytecode_cache: Path | None = None) -> dict:
    """The environment `serve` runs in: this one with the repository on the path; with
    `bytecode_cache`, Python's bytecode cache on and kept there (whatever PYTHONDONTWRITEBYTECODE
    says), so only the first start compiles the modules, as every restart of an installed router."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if bytecode_cache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    return env


def startup_seconds(cwd: Path, env: dict | None = None, config: Path = OVERLAY_FILE) -> tuple[float, float]:
    """Wall seconds from launch to the ready line, and the CPU seconds `serve` (with the children it
    waited for: the forked snapshot check) spent by then. Ended with SIGKILL, so no stop snapshot or
    checkpoint changes the journal the next case starts from."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "router", "serve", "--fix-port", "0", "--http-port", "0",
                                 "--sessions-always-open", "--log-level", "WARNING", "--config", str(config)],
                                cwd=cwd, stdout=subprocess.PIPE, stderr=err, text=True,
                                env=env if env is not None else serve_env())
        line = proc.stdout.readline()
        took = time.perf_counter() - t0
        proc.send_signal(signal.SIGKILL)
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = -9
        proc.stdout.close()
        if "gold-router ready" not in line:
            err.seek(0)
            raise SystemExit(f"serve did not start: {line!r}; its log ends: {err.read()[-2000:]}")
    return took, usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argument_parser(__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=2000, help="orders per variant for the ack latency")
    p.add_argument("--commands", type=int, default=200_000, help="commands in the replayed journal")
    p.add_argument("--tail", type=int, default=100_000, help="commands after the snapshot")
    p.add_argument("--startup-only", action="store_true",
                   help="only the journal, the three starts and one replay (for a 1,000,000-command run)")
    p.add_argument("--bytecode-cache", action="store_true",
                   help="starts with Python's bytecode cache on (in the scratch directory; one unmeasured start "
                        "compiles), as an installed router restarts, even where PYTHONDONTWRITEBYTECODE is set")
    args = p.parse_args(argv)
    load_at_start = load_average()
    say(machine_line(machine_description(load_at_start)))
    base = Path(tempfile.mkdtemp(prefix="bench-recovery-", dir=ROOT / "var" if (ROOT / "var").is_dir() else None))
    out: dict = {}
    try:
        if not args.startup_only:
            out["ack"] = _acks(args.orders, base)
        empty, full = base / "empty", base / "full"
        (empty / "var").mkdir(parents=True)
        journal_dir = full / "var" / "journal"
        t0 = time.perf_counter()
        n = write_journal(journal_dir, args.commands, args.tail)
        say(f"journal of {n} commands written in {time.perf_counter() - t0:.1f} s")
        snaps = list((journal_dir / "snapshots").glob("*.snapshot"))
        snap_seq = max(int(f.name.split(".")[0]) for f in snaps) if snaps else 0
        env = serve_env(base / "pycache" if args.bytecode_cache else None)
        if args.bytecode_cache:
            startup_seconds(empty, env)         # compiles every module serve imports, not measured
        start_empty, start_snap = startup_seconds(empty, env), startup_seconds(full, env)
        (journal_dir / "snapshots").rename(full / "snapshots-away")
        start_full = startup_seconds(full, env)
        replay = replay_rate(journal_dir)
        out["replay"] = replay
        say(f"replay: {replay['commands']} commands in {replay['seconds']} s = {replay['commands_per_s']}/s, "
            f"{replay['cpu_us_per_command']} µs of CPU per command (collector paused, as serve does)")
        if not args.startup_only:
            out["replay_collector_running"] = gc_on = replay_rate(journal_dir, pause_gc=False)
            say(f"replay with the collector running: {gc_on['seconds']} s (×{gc_on['seconds'] / replay['seconds']:.2f})")
            out["snapshot"] = snap = snapshot_pause(journal_dir)
            say(f"snapshot of {snap['orders_known']} known orders ({snap['orders_live']} live): event loop paused "
                f"{snap['sync_ms']} ms written in place vs {snap['fork_pause_ms']} ms to fork a writer "
                f"(×{snap['ratio_pause_fork_vs_sync']}; the child took {snap['child_ms']} ms)")
        bytecode = ("bytecode cached" if args.bytecode_cache else
                    "bytecode compiled at every start" if os.environ.get("PYTHONDONTWRITEBYTECODE") else
                    "bytecode cache as Python keeps it")
        say(f"serve start to ready (wall, CPU; {bytecode}): empty journal {_s(start_empty)}; {n} commands from the "
            f"snapshot at command {snap_seq} + a {n - snap_seq}-command tail {_s(start_snap)} (target ≤ 5 s wall); "
            f"the whole journal {_s(start_full)}")
        machine = machine_description(load_at_start)      # the load at the end too
        say(machine_line(machine))
        out.update(machine=machine, startup={
            "empty_s": round(start_empty[0], 2), "empty_cpu_s": round(start_empty[1], 2), "commands": n,
            "snapshot_seq": snap_seq, "tail": n - snap_seq,
            "snapshot_plus_tail_s": round(start_snap[0], 2), "snapshot_plus_tail_cpu_s": round(start_snap[1], 2),
            "whole_journal_s": round(start_full[0], 2), "whole_journal_cpu_s": round(start_full[1], 2),
            "bytecode": bytecode})
        out["targets"] = {"snapshot_plus_tail_le_5s": start_snap[0] <= 5.0}
        if "ack" in out:
            out["targets"]["journal_cost_p50_none_le_1.10"] = out["ack"]["ratio_p50_none_vs_off"] <= 1.10
        write_json(args.json, out)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


def _s(wall_cpu: tuple[float, float]) -> str:
    return f"{wall_cpu[0]:.2f} s ({wall_cpu[1]:.2f} s CPU)"


def _acks(orders: int, base: Path) -> dict:
    acks = asyncio.run(ack_latency(orders, base))
    for v in VARIANTS:
        say(f"order→ack journal {v:<5}: p50 {acks[v]['p50_us']:.1f} µs, p99 {acks[v]['p99_us']:.1f} µs")
    say(f"journal cost on p50: fsync none ×{acks['ratio_p50_none_vs_off']}, batch ×{acks['ratio_p50_batch_vs_off']}"
        " (target ≤ ×1.10 for none)")
    return acks


if __name__ == "__main__":
    sys.exit(main())
