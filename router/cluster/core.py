"""The core role: apply the command stream in order to the router application, and (when leading)
publish the outputs to the gateways.

`ClusterCore(app, nc, name)` drives an ordinary `RouterApp` (no local journal) exactly as the
gateway drives it in `serve`: each command from the stream becomes the same call (`on_message`,
`on_logout`, `on_timer`, an admin command) with the application's clock pinned to the command's
time, so the order flow, the matching core, drop copies and the books of record behave as in one
process. The time of a command is its gateway's clock at receipt, raised to the previous command's
time when an other gateway's clock lagged: deterministic, so every core computes the same state.
The first command fixes the run id (the prefix of OrderIDs and ExecIDs) from its time, so a standby
and a restarted core hand out the same ids.

Outputs are numbered per session (`wire.Output.number`) by every core, and kept in a ring of the
most recent ones. Only the holder of the `core` lease (`router.records.lease`, with its epoch)
publishes them; a standby applies everything and publishes nothing. A core contends for the lease
only once it has caught up with the stream as it stood at start-up, and on taking it over
re-publishes its ring: the outputs the old leader may not have sent. Gateways drop what they have
already delivered (`wire.OutputFilter`). The leader also appends a timer tick every second (expiry,
trading-day rolls, the books' deadline), which every core applies at the same stream position.

Snapshots (`core_snapshots`): at every `[journal] snapshot_every`-th command a core writes its state
(the same snapshot code as `serve`) and compares its state hashes with the other cores'; at start it
loads the newest one and reads the stream from the command after it. Admin mutations (`admin`:
kill switch, FX, reference prices) are appended to the stream as ADMIN commands, so every core
applies them at the same point; the core that took the request answers once it has applied it.

Not here: sharding, HTTP (`serve`).
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

import nats
from nats.js import api

from router.app import RouterApp, run_id
from router.cluster.publisher import CommandPublisher, open_stream
from router.cluster.repair import REPAIR_SUBJECT, ring_reply
from router.cluster.wire import CORE_LEASE, STREAM, SUBJECT, decode_command, encode_output, out_subject
from router.fix.codec import FixMessage, parse_frame
from router.records.commands import Applied, admin_payload
from router.records.journal_format import Command, CommandKind
from router.records.lease import open_lease
from router.records.state_hash import state_hashes

__all__ = ["ClusterCore"]

log = logging.getLogger("gold_router.cluster")
TIMER_INTERVAL_S = 1.0
ADMIN_TIMEOUT_S = 30.0


class _Handle:
    """What the application sees of a session in a core: its name; `send` numbers an output."""

    __slots__ = ("session_id", "account", "extra", "_core")

    def __init__(self, core: "ClusterCore", session_id: str, account: str = "", extra: Any = None) -> None:
        self.session_id = session_id
        self.account = account
        self.extra = extra or {}
        self._core = core

    def send(self, msg_type: bytes, body: list) -> bool:
        self._core._emit(self.session_id, msg_type, body)
        return True


class _Outlet:
    """Stands in for the FIX gateway behind `RouterApp.send`: one handle per configured session."""

    def __init__(self, core: "ClusterCore", sessions: Any) -> None:
        self.handles = {s.target_comp_id: _Handle(core, s.target_comp_id, s.account, s.extra) for s in sessions}

    def handle(self, session_id: str) -> _Handle | None:
        return self.handles.get(session_id)


class ClusterCore:
    def __init__(self, app: RouterApp, nc: Any, name: str, *, takeover: float = 3.0, replicas: int = 3,
                 ring: int = 8192, metrics: Any = None) -> None:
        self.app = app
        self.nc = nc
        self.name = name
        self.takeover = takeover
        self.replicas = replicas
        self.metrics = metrics
        fix = app.config.sections.get("fix")
        self.outlet = _Outlet(self, fix.sessions if fix is not None else ())
        app.attach_gateway(self.outlet)
        self.applied = 0                 # the last stream sequence applied
        self.start_last = 0              # the stream's last sequence when this core started
        self.last_time = 0
        self.numbers: dict[str, int] = {}
        self.ring: collections.deque = collections.deque(maxlen=ring)
        self._batch: list[tuple[str, int, int, bytes, list]] = []
        self._seq = 0
        self.lease: Any = None
        self.leading = False
        self.epoch = 0
        self.caught_up = asyncio.Event()
        self.stats = {"applied": 0, "published": 0, "republished": 0, "failovers": 0, "timers": 0, "repairs": 0}
        self.publisher: CommandPublisher | None = None
        self._sub: Any = None
        self._repair_sub: Any = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._lock = asyncio.Lock()
        self.snapshots: Any = None       # core_snapshots.CoreSnapshots, set before start() to use them
        self.started_from = 0            # the snapshot this start loaded (0: the stream from command 1)
        self.catch_up_s = 0.0            # from start() to applying the stream's last command as it was then
        self._t0 = 0.0
        self._last_data = b""
        self._admin_done: collections.OrderedDict[int, Applied] = collections.OrderedDict()
        self._admin_waiting: dict[int, asyncio.Future] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._t0 = time.monotonic()
        info = await open_stream(self.nc, replicas=self.replicas)
        self.start_last = info.state.last_seq
        if self.snapshots is not None:
            self.started_from = await self.snapshots.restore(self.start_last)
            await self.snapshots.listen()
        if self.applied >= self.start_last:
            self._caught_up()
        self.publisher = CommandPublisher(self.nc, f"{self.name}-{time.time_ns()}")
        await self.publisher.start()
        self.lease = await open_lease(self.nc, CORE_LEASE, self.name, self.takeover, replicas=self.replicas)
        js = self.nc.jetstream()
        config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                                    opt_start_seq=self.applied + 1)
        self._sub = await js.subscribe(SUBJECT, stream=STREAM, cb=self._on_msg, ordered_consumer=True,
                                       idle_heartbeat=0.5, config=config,
                                       pending_msgs_limit=1_000_000, pending_bytes_limit=1 << 30)
        log.info("core %s consuming stream %s from command %d (%d commands there now; %s)", self.name, STREAM,
                 self.applied + 1, self.start_last,
                 f"snapshot at command {self.started_from}" if self.started_from else "no snapshot")
        self._repair_sub = await self.nc.subscribe(REPAIR_SUBJECT, cb=self._on_repair)
        self._tasks = [asyncio.create_task(self._lead()), asyncio.create_task(self._ticks())]

    async def close(self) -> None:
        self._stop.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        for sub in (self._sub, self._repair_sub):
            if sub is None:
                continue
            try:
                await sub.unsubscribe()
            except (nats.errors.Error, Exception):
                pass
        if self.snapshots is not None:
            if self.applied > self.snapshots.last_seq and self._last_data:
                self.snapshots.take(self.applied, self._last_data, background=False)   # a clean stop
            await self.snapshots.close()
        if self.lease is not None and self.leading:
            await self.lease.release()
        if self.publisher is not None:
            await self.publisher.close()

    # -- applying the stream -----------------------------------------------------------------------------
    async def _on_msg(self, msg: Any) -> None:
        seq = msg.metadata.sequence.stream
        if seq <= self.applied:
            return                       # a redelivery after a consumer reset
        if seq != self.applied + 1:
            log.error("core %s: stream message %d after %d: commands missing; not applied", self.name, seq,
                      self.applied)
            return
        try:
            cmd = decode_command(msg.data, seq)
        except Exception:
            log.exception("core %s: stream message %d is not a command; skipped", self.name, seq)
            self.applied = seq
            return
        self.apply(cmd)
        self._last_data = msg.data
        if self.snapshots is not None:
            self.snapshots.after(seq, msg.data)
        if self._batch:
            batch, self._batch = self._batch, []
            async with self._lock:       # after a takeover's re-publication, never interleaved with it
                await self._publish(batch)
        if not self.caught_up.is_set() and self.applied >= self.start_last:
            self._caught_up()

    def _caught_up(self) -> None:
        self.caught_up.set()
        self.catch_up_s = time.monotonic() - self._t0
        log.info("core %s caught up with the stream at command %d in %.2f s (%d commands applied%s)", self.name,
                 self.applied, self.catch_up_s, self.stats["applied"],
                 f" after the snapshot at command {self.started_from}" if self.started_from else " from command 1")

    def apply(self, cmd: Command) -> None:
        """Apply one stream command to the application (synchronously; outputs go to `_batch`)."""
        app = self.app
        t = max(cmd.time_ns, self.last_time)
        self.last_time = t
        if cmd.seq == 1 and not (cmd.kind == CommandKind.ADMIN and b'"op":"start"' in cmd.payload):
            app.flow.ids.run = run_id(t).encode()
        app.clock = lambda: t
        app.seq = cmd.seq - 1            # the Command the application numbers is this stream command
        self._seq = cmd.seq
        kind = cmd.kind
        try:
            if kind == CommandKind.FIX_IN:
                msg = parse_frame(cmd.payload)
                if isinstance(msg, FixMessage):
                    app.on_message(self._handle(cmd.session), msg)
                else:
                    log.error("core %s: command %d holds a frame that does not parse", self.name, cmd.seq)
            elif kind == CommandKind.LOGON:
                app.on_logon(self._handle(cmd.session))
            elif kind == CommandKind.LOGOUT:
                app.on_logout(self._handle(cmd.session))
            elif kind == CommandKind.TIMER:
                app.on_timer(t)
            elif kind == CommandKind.ADMIN:
                self._admin_applied(cmd.seq, app.command(CommandKind.ADMIN, "", cmd.payload, t))
        except Exception:
            log.exception("core %s: command %d (%s from %r) failed", self.name, cmd.seq, kind.name, cmd.session)
            if kind == CommandKind.ADMIN:
                self._admin_applied(cmd.seq, Applied([], False, "failed", f"command {cmd.seq} failed in core "
                                                     f"{self.name}; its log has the error"))
        self.applied = cmd.seq
        self.stats["applied"] += 1

    def resume(self, seq: int, extra: dict) -> None:
        """Continue after a loaded snapshot of command `seq` (`extra`: what `resume_state` gave)."""
        self.applied = self._seq = seq
        self.last_time = int(extra.get("last_time", 0))
        self.numbers = dict(extra.get("numbers", {}))
        self.ring.extend(extra.get("ring", ()))

    def resume_state(self) -> dict:
        """What a snapshot keeps of the core itself, beside the order flow."""
        return {"numbers": self.numbers, "ring": list(self.ring), "last_time": self.last_time}

    # -- admin mutations as stream commands ------------------------------------------------------------
    async def admin(self, op: str, **args: Any) -> Applied:
        """Append an admin command to the stream and return what applying it did here (every core
        applies it at the same point). Raises asyncio.TimeoutError when the stream or the core does
        not get there within ADMIN_TIMEOUT_S."""
        fut = self.publisher.submit(CommandKind.ADMIN, "", admin_payload(op, **args), time.time_ns())
        seq = await asyncio.wait_for(fut, ADMIN_TIMEOUT_S)
        done = self._admin_done.pop(seq, None)
        if done is not None:
            return done
        waiter = self._admin_waiting[seq] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(waiter, ADMIN_TIMEOUT_S)
        finally:
            self._admin_waiting.pop(seq, None)

    def _admin_applied(self, seq: int, applied: Applied) -> None:
        if applied.ok and applied.data and "scope" in applied.data:
            self.app._refresh_gauges()           # the kill switch's gauges, as `serve` updates them
        waiter = self._admin_waiting.get(seq)
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(applied)
            return
        self._admin_done[seq] = applied          # applied before this core heard its ack
        while len(self._admin_done) > 256:
            self._admin_done.popitem(last=False)

    def _handle(self, session: str) -> _Handle:
        return self.outlet.handles.get(session) or _Handle(self, session)

    def _emit(self, session: str, msg_type: bytes, body: list) -> None:
        number = self.numbers.get(session, 0) + 1
        self.numbers[session] = number
        entry = (session, self._seq, number, msg_type, body)
        self.ring.append(entry)
        self._batch.append(entry)

    async def _publish(self, entries: list, epoch: int | None = None) -> None:
        if not self.leading or not self.lease.holding():
            return
        epoch = self.epoch if epoch is None else epoch
        publish = self.nc.publish
        for session, seq, number, msg_type, body in entries:
            try:
                await publish(out_subject(session), encode_output(epoch, seq, number, msg_type, body))
            except (nats.errors.Error, OSError) as exc:
                log.info("core %s: output %d for %s not published (%r)", self.name, number, session, exc)
                continue
            self.stats["published"] += 1

    async def _on_repair(self, msg: Any) -> None:
        """A gateway asks again for outputs it missed (`repair`): the leader answers from its ring."""
        if not self.leading or not self.lease.holding() or not msg.reply:
            return
        try:
            answer = ring_reply(self.ring, lambda s: self.numbers.get(s, 0), msg.data, self.epoch)
        except (ValueError, KeyError, TypeError):
            return
        self.stats["repairs"] += 1
        try:
            await msg.respond(answer)
        except (nats.errors.Error, OSError):
            pass

    # -- leadership and the timer ------------------------------------------------------------------------
    async def _lead(self) -> None:
        await self.caught_up.wait()
        lease = self.lease
        while not self._stop.is_set():
            try:
                held = await lease.step()
            except Exception:
                log.exception("core %s: lease step failed", self.name)
                held = False
            if held and not self.leading:
                async with self._lock:
                    self.leading, self.epoch = True, lease.epoch
                    self.stats["failovers"] += 1
                    entries = list(self.ring)
                    await self._publish(entries)
                self.stats["republished"] += len(entries)
                log.info("core %s leads at epoch %d from command %d; re-published the last %d outputs",
                         self.name, self.epoch, self.applied, len(entries))
            elif not held and self.leading:
                self.leading = False
                log.info("core %s no longer leads (epoch %d); publishing stopped", self.name, self.epoch)
            try:
                await asyncio.wait_for(self._stop.wait(), lease.poll)
            except asyncio.TimeoutError:
                pass

    async def _ticks(self) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(TIMER_INTERVAL_S)
            if self.leading and self.lease.holding() and self.publisher.in_flight < 100:
                self.publisher.submit(CommandKind.TIMER, "", b"", time.time_ns())
                self.stats["timers"] += 1

    # -- views -------------------------------------------------------------------------------------------
    def status(self, hashes: bool = False) -> dict:
        stats = {("applied_here" if k == "applied" else k): v for k, v in self.stats.items()}
        out = {"role": "core", "name": self.name, "leading": self.leading, "epoch": self.epoch,
               "applied": self.applied, "caught_up": self.caught_up.is_set(), "started_from": self.started_from,
               "catch_up_s": round(self.catch_up_s, 3), **stats}
        if self.snapshots is not None:
            out["snapshots"] = self.snapshots.view()
        if hashes:
            out["hashes"] = state_hashes(self.app.flow)
        return out

    def metrics_view(self) -> dict:
        """What `router.ops` exposes as goldrouter_cluster_* for this core."""
        p = self.publisher.stats if self.publisher is not None else None
        return {"role": "core", "published": p.acked if p else 0, "resent": p.resent if p else 0,
                "applied": self.stats["applied"], "outputs_published": self.stats["published"],
                "epoch": self.epoch, "leading": self.leading and self.lease.holding(),
                "failovers": self.stats["failovers"],
                **({"snapshots": self.snapshots.taken, "hash_checks": dict(self.snapshots.checks)}
                   if self.snapshots is not None else {})}
