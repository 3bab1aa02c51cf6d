"""The router application behind the FIX gateway: a thin live wrapper around `router.orders.flow`.

It implements the session layer's Application seam (`on_logon`, `on_logout`, `on_message`), reads
the clock once per inbound message, hands the message to the pure `OrderFlow` and sends what comes
back to the right sessions through the gateway's registry (the passive side of a trade may belong to
another client). `on_timer(now_ns)` drives GTD/DAY expiry and the trading-day roll; the admin API
reads `sessions_view`, `book_view`, `routes_view`, `status_view`, `reference_prices_view`, `quota_view` and calls `set_kill_switch` /
`set_fx` / `set_reference_prices`. RequestForPositions (AN) and TradeCaptureReportRequest (AD) are answered from the books of record
(`router.records.position_reports`); the books' admin side is the `BooksAdmin` mixin.
`build_router_app(config, sessions_always_open=..., metrics=...)` builds it from configuration.

Every input that changes state (an application message, a logout, a timer tick, an admin action) is
made a numbered `Command` and applied through `router.records.commands.CommandApplier`; the
write-ahead journal, recovery and snapshots are the `router.records.sequencer.Sequencer` mixin.

Drop-copy sessions (`role = "drop_copy"`, records.drop_copy) get their copies of ExecutionReports in
`send`, or, during a FIX connection's flush, in `after_write` right after the originals' socket write
(the answer does not wait for them): a replay sends nothing and makes no copies, and each
drop-copy session's FIX store serves its resends. An order message on a drop-copy session is refused
with a BusinessMessageReject before it becomes a command (it changes nothing).

Not here: trading logic (router.orders, the matching core), FIX sessions or sockets.
"""
from __future__ import annotations

import copy
import gc
import logging
import time
from decimal import Decimal
from typing import Any, Callable

from router.ops.books_admin import BooksAdmin
from router.ops.admin import AdminResult
from router.ops.audit import log_rejects
from router.config import Config
from router.domain.calendar import SessionState
from router.domain.fx_quotes import fx_view
from router.domain.reasons import Reason
from router.fix.app import SessionHandle
from router.orders.flow import OrderFlow, Out, make_engine
from router.orders.new_order_rejects import business_reject
from router.orders.index import DONE_KEPT, micro_text, units_text
from router.orders.risk import RiskEngine
from router.records.commands import Applied, CommandApplier
from router.records.drop_copy import DropCopy, scopes
from router.records.trade_capture import answer as trade_capture
from router.records.journal import Command, CommandKind, Journal
from router.records.books_commands import register_books
from router.records.ledger import Ledger
from router.records.position_reports import position_reports
from router.records.sequencer import Sequencer
from router.records.snapshot import SnapshotStore
from router.records.snapshot_fork import BackgroundSnapshot

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
log = logging.getLogger("gold_router.app")


def run_id(now_ns: int) -> str:
    """A short id for this process run (milliseconds since the epoch in base 36), prefixing ExecIDs."""
    n, out = now_ns // 1_000_000, ""
    while n:
        n, r = divmod(n, 36)
        out = _B36[r] + out
    return out or "0"


def _sent_by_handle(gateway: Any, out: Out) -> bool:
    h = gateway.handle(out[0])
    if h is None:
        return False
    h.send(out[1], out[2])
    return True


class RouterApp(Sequencer, BooksAdmin):
    def __init__(self, config: Config, flow: OrderFlow, *, sessions_always_open: bool, metrics: Any = None,
                 clock: Callable[[], int] = time.time_ns, journal: Journal | None = None,
                 snapshots: SnapshotStore | None = None, snapshot_every: int = 0) -> None:
        self.config = config
        self.flow = flow
        self.sessions_always_open = sessions_always_open
        self.metrics = metrics
        self.clock = clock
        self.gateway: Any = None
        self.handles: dict[str, SessionHandle] = {}
        self.applier = CommandApplier(flow)
        # RequestForPositions is answered from the books of record, inside the command path like
        # everything else a client sends (its reply waits for the journal as an ack does).
        self.applier.fix_handlers[b"AN"] = self._position_reports
        register_books(self.applier)            # end of day and deferred fee: journaled admin commands
        fix = config.sections.get("fix")
        fix_sessions = fix.sessions if fix is not None else ()
        self._scopes = scopes(fix_sessions)        # whose trades each session may ask for (AD)
        self.applier.fix_handlers[b"AD"] = self._trade_capture
        self.drop_copy = DropCopy(fix_sessions, metrics)   # copies of execution reports, made in `send`
        self.journal = journal
        self.seq = journal.last_seq if journal is not None else 0
        self._pending: list[Command] = []      # applied, not yet in the journal
        self._held: list[Out] = []             # their outputs, sent once the journal has them
        self._late: list[Out] = []             # sent during a connection's flush: copied after its socket write
        self._commit_scheduled = False
        self.snapshots = snapshots
        self.snapshot_every = snapshot_every      # commands between snapshots (0: only at a clean stop)
        self.snapshot_background = False          # periodic snapshots from a forked child (service: config)
        self.background_snapshot = BackgroundSnapshot()     # that child, one at a time
        self.snapshot_seq = self.seq              # the last command the newest snapshot includes
        self._snapshot_scheduled = False
        self.recovered_from: Any = None
        self._tail_outs: list[tuple[int, Out]] = []   # replayed outputs (with their time) a crash may have kept from the FIX store
        self.shutting_down = False
        self._ready = False
        self._perf = time.perf_counter_ns

    # -- lifecycle ---------------------------------------------------------------------------
    def attach_gateway(self, gateway: Any) -> None:
        """Reach every configured session (also ones not logged on: the gateway stores for resend)."""
        self.gateway = gateway
        if self._tail_outs:
            self._redeliver(self._tail_outs)
            self._tail_outs = []

    def warm_up(self, collect: bool = True) -> None:
        """Compile the core, then move everything alive so far (modules, numba, configuration) out of
        the garbage collector's reach: full collections then only walk objects made while serving.
        `collect=False` (`serve`'s start, where only imports and configuration ran before): no
        collection first, so what they left unreachable (~2,500 objects, ~0.6 MB) is frozen too;
        finding it walked all ~130,000 objects alive, 0.085 s of a start."""
        warm = getattr(self.flow.engine, "warm_up", None)
        if warm is not None:
            warm()
        if collect:
            gc.collect()
        gc.freeze()
        self._ready = True

    def ready(self) -> bool:
        return self._ready

    @property
    def ledger(self) -> Ledger | None:
        """The books of record (read through the flow: a snapshot load replaces the object)."""
        fills = self.flow.fills
        return fills if isinstance(fills, Ledger) else None

    def close(self) -> None:
        self._ready = False

    # -- Application seam ----------------------------------------------------------------------
    def on_logon(self, handle: SessionHandle) -> None:
        self.handles[handle.session_id] = handle
        if self.drop_copy.is_drop_copy(handle.session_id):
            accounts = self.drop_copy.accounts_text(handle.session_id)
            log.info("drop-copy session %s logged on: copies of the execution reports of %s", handle.session_id,
                     accounts)

    def on_logout(self, handle: SessionHandle) -> None:
        self.handles.pop(handle.session_id, None)
        if self.shutting_down:
            return
        try:
            self.command(CommandKind.LOGOUT, handle.session_id, b"", self.clock())
        except Exception:
            log.exception("cancel-on-disconnect failed for %s", handle.session_id)

    def on_message(self, handle: SessionHandle, msg: Any) -> None:
        metrics = self.metrics
        t0 = self._perf() if metrics is not None else 0
        session = handle.session_id
        self.handles.setdefault(session, handle)
        # A trading session's message (nearly all) skips the drop-copy refusal's call.
        refused = self.drop_copy.refusal(session, msg) if session in self.drop_copy.names else None
        if refused is not None:
            # Not a command: refusing changes no state, so the journal need not hold it.
            log.info("%s from drop-copy session %s refused: a drop-copy session may not send orders",
                     msg.msg_type.decode(), session)
            self._reply(refused)
            return
        try:
            applied = self.command(CommandKind.FIX_IN, session, msg.raw, self.clock(), msg)
            if msg.msg_type == b"AD":
                self._log_trade_capture(session, msg, applied.outs)
        except Exception:
            # A bug in the order flow must not take the session down: say so loudly, answer the client.
            log.exception("order flow failed on %s from %s", msg.msg_type, handle.session_id)
            reject = [business_reject(handle.session_id, msg, 0, "internal error; the request was not processed")]
            if self.journal is None:
                self.send(reject)
            else:
                self._held.extend(reject)
        if metrics is not None and msg.msg_type == b"D":
            metrics.ack_latency_ns(self._perf() - t0)

    def _position_reports(self, session: str, msg: Any, now_ns: int) -> list[Out]:
        if self.ledger is None:
            return self.flow.on_message(session, msg, now_ns)
        return [Out(session, mt, body) for mt, body in
                position_reports(self.ledger, self.flow.accounts, session, msg, now_ns)]

    def _trade_capture(self, session: str, msg: Any, now_ns: int) -> list[Out]:
        """TradeCaptureReportRequest (AD): read-only, answered from the books of record."""
        return trade_capture(session, msg, self.flow, self._scopes.get(session, frozenset({session})),
                             self.trade_archive)

    def _reply(self, out: Out) -> None:
        """Send an answer that is no command, after any outputs still held for the journal."""
        if self._held or self._pending:
            self._held.append(out)
        else:
            self.send([out])

    def _log_trade_capture(self, session: str, msg: Any, outs: list[Out]) -> None:
        req = (msg.get(568) or b"").decode("ascii", "replace")
        ack = next((dict(o.body) for o in outs if o.msg_type == b"AQ"), {})
        if ack.get(750) == 0:
            log.info("trade capture request %s from %s: %d trade capture reports", req, session, ack.get(748, 0))
        else:
            log.info("trade capture request %s from %s refused: %s", req, session, ack.get(58, ""))
        if self.metrics is not None:
            self.metrics.trade_capture_request(ack.get(750) == 0)

    def on_timer(self, now_ns: int) -> None:
        quota = self.flow.quota
        days = quota.snapshot()
        statuses = dict(self.flow.trading.seen)
        applied = self.command(CommandKind.TIMER, "", b"", now_ns)
        expired = expiries(applied.outs)
        if expired:
            log.info("orders expired: %s", "; ".join(f"{n} {what} on {symbol}" for (symbol, what), n in
                                                     sorted(expired.items())))
        for d, before in days.items():
            after = quota.snapshot()[d]
            if after["day"] != before["day"]:
                used = Decimal(before["used"]).scaleb(-6).quantize(Decimal("0.01"))
                log.info("%s quota rolled to trading day %s%s", d, after["day"],
                         f" (CNY {used} used on {before['day']})" if before["day"] is not None else "")
        for line in self.flow.trading.changes_since(statuses, now_ns):
            log.info("%s", line)
        try:
            self.settle_due(now_ns)         # the books' end of day at the configured deadline
        except Exception:
            log.exception("end of day at the settlement deadline failed")
        try:
            self.roll_ledger(now_ns)        # past days' trades leave memory for the trade archive
        except Exception:
            log.exception("the books' trading-day roll failed")

    def send(self, outs: list[Out]) -> None:
        """Send outputs, with the drop-copy sessions' copies (each right after its original) and the
        reject log; while a FIX connection's flush is under way (the gateway's `reading`), the copies
        and the log wait for `after_write`, after the answers' socket write: the client's answer
        does not wait for them (each session's own messages keep their order)."""
        if getattr(self.gateway, "reading", False):
            self._late.extend(outs)
            self._send(outs)
            return
        log_rejects(outs)
        self._send(self.drop_copy.expand(outs) if self.drop_copy else outs)

    def after_write(self) -> None:
        """The gateway's hook after a connection's socket write: the copies and the reject log of what
        `send` sent during that flush (to drop-copy sessions: stored, flushed in the same callback)."""
        late = self._late
        if late:
            self._late = []
            log_rejects(late)
            if self.drop_copy:
                self._send(self.drop_copy.expand(late, originals=False))

    def _send(self, outs: list[Out]) -> None:
        handles = self.handles
        gateway = self.gateway
        send_batch = getattr(gateway, "send_batch", None)
        if send_batch is not None:
            outs = send_batch(outs)     # the gateway's sessions in one pass; the rest come back
        elif gateway is not None:
            outs = [out for out in outs if not _sent_by_handle(gateway, out)]
        for session, msg_type, body in outs:
            h = handles.get(session)
            if h is not None:
                h.send(msg_type, body)

    # -- admin views and controls ------------------------------------------------------------------
    def sessions_view(self) -> list[dict]:
        fix = self.config.sections.get("fix")
        names = [s.target_comp_id for s in fix.sessions] if fix is not None else sorted(self.handles)
        out = []
        for name in names:
            working = sum(1 for _ in self.flow.index.live_orders(name))
            h = self.handles.get(name)
            out.append({"session_id": name, "state": "active" if h is not None else "disconnected",
                        "working_orders": working,
                        "role": "drop_copy" if self.drop_copy.is_drop_copy(name) else "trading"})
        return out

    def book_view(self, symbol: str, levels: int) -> dict | None:
        cat = self.flow.catalogue
        engine = self.flow.engine
        instr = cat.instruments.get(symbol)
        if instr is not None:
            bids, asks = engine.depth(instr.book_id, levels)

            def rows(side: Any) -> list[dict]:
                return [{"price": units_text(p, instr.price_decimals).decode(), "lots": q, "orders": n}
                        for p, q, n in side.tolist()]
            return {"symbol": symbol, "venue": instr.venue, "quote": f"{instr.quote_ccy}/{instr.quote_unit}",
                    "lot": f"{instr.lot_size} {instr.quote_unit}", "bids": rows(bids), "asks": rows(asks)}
        if symbol in cat.products:      # quoted like the product's orders and its FIX market data
            return self.flow.md.product_book(symbol, levels)
        group = cat.groups.get(symbol)
        if group is None:
            return None
        bids, asks = engine.group_depth(group.group_id, levels)

        def grows(side: Any) -> list[dict]:
            return [{"usd_oz_fine": units_text(p, 6).decode(), "grams": micro_text(q).decode(), "orders": n}
                    for p, q, n in side.tolist()]
        return {"symbol": symbol, "group": group.name, "members": list(group.members),
                "quote": "USD per fine troy oz (consolidated; the same quote as FIX market data for the group: "
                         "Currency(15)=USD, GoldPriceUnit(7010)=OZ)", "bids": grows(bids), "asks": grows(asks)}

    def routes_view(self, limit: int) -> list[dict]:
        return self.flow.routes_view(limit)

    def status_view(self) -> list[dict]:
        return self.flow.trading.view(self.clock())

    def set_kill_switch(self, scope: str, account: str | None, on: bool) -> AdminResult:
        r = self.admin("kill", self.clock(), scope=scope, account=account, on=on)
        self._refresh_gauges()
        return _result(r)

    def set_fx(self, changes: dict[str, Any], force: bool = False) -> AdminResult:
        """pair -> Decimal mid or {"bid", "ask"} / {"mid"}; one journaled command stamped with its time."""
        args: dict[str, Any] = {"rates": changes}
        if force:
            args["force"] = True
        return _result(self.admin("fx", self.clock(), **args))

    def fx_view(self) -> dict:
        return fx_view(self.flow.fx, self.clock(), self.flow.fx_settings)

    def quota_view(self) -> dict:
        return self.flow.quota_view()

    def reference_prices_view(self) -> list[dict]:
        return self.flow.references_view()

    def set_reference_prices(self, prices: dict[str, Decimal], force: bool) -> AdminResult:
        return _result(self.admin("reference_prices", self.clock(), prices=prices, force=force))

    def _refresh_gauges(self) -> None:
        """Every gauge that mirrors the order flow's state, set from the state itself: after a
        recovery (the replay counts nothing, and a snapshot restores no metric) the gauges say what
        the rebuilt router holds, not zero until the next change."""
        m = self.metrics
        if m is None:
            return
        flow = self.flow
        risk = flow.risk
        m.set_kill_switch(risk.halted_all, len(risk.halted))
        for symbol, n in flow._open_count.items():
            m.set_open_orders(symbol, n)
        for symbol, (code, _, _) in flow.trading.seen.items():
            m.set_trading_status(symbol, code)
        if flow.quota is not None:
            flow._quota_metrics()
        ledger = flow.fills
        if ledger is not None:
            for ccy in {p.ccy for p in ledger.positions.values()}:
                ledger._margin_metric(ccy)
            m.set_margin_calls(len(ledger.margin_calls))


def expiries(outs: list[Out]) -> dict[tuple[str, str], int]:
    """(symbol, "DAY" / "GTD") -> orders a timer tick expired (ExecType=Expired reports), for its log line."""
    out: dict[tuple[str, str], int] = {}
    for o in outs:
        if o.msg_type == b"8":
            body = dict(o.body)
            if body.get(150) == b"C":
                text = body.get(58) or b""
                key = (_text(body.get(55)), "GTD" if b"good-till-date" in text else "DAY")
                out[key] = out.get(key, 0) + 1
    return out


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _result(applied: Applied) -> AdminResult:
    if not applied.ok:
        return AdminResult(False, applied.reason, applied.detail)
    return AdminResult(True, data=applied.data)


def build_router_app(config: Config, *, sessions_always_open: bool, metrics: Any = None,
                     reference_engine: bool = False, clock: Callable[[], int] = time.time_ns,
                     journal: Journal | None = None, snapshots: SnapshotStore | None = None,
                     snapshot_every: int = 0) -> RouterApp:
    """The router application for a validated configuration (engine not yet warmed: call `warm_up`)."""
    cat = config.catalogue
    # A private copy: accounts and quota are mutable run-time state, and one Config may build several apps.
    participants = copy.deepcopy(config.sections["participants"])
    calendars = config.sections.get("calendars")
    if sessions_always_open or calendars is None:
        def session_open(symbol: str, now_ns: int) -> Any:
            return True
        session_open.always_open = True     # type: ignore[attr-defined]  (OrderFlow.expire_at_close reads it)
    else:
        schedule = {s: i.schedule for s, i in cat.instruments.items()}
        state = calendars.session_state
        covers = calendars.covers
        past_calendar: set[str] = set()

        def session_open(symbol: str, now_ns: int) -> Any:
            # A date past the holiday list is CLOSED; say why (Reason.CALENDAR_UNKNOWN) so routing reports it.
            st = state(schedule[symbol], now_ns)
            if st is SessionState.CLOSED and not covers(schedule[symbol], now_ns):
                sched = schedule[symbol]
                if sched not in past_calendar:
                    past_calendar.add(sched)
                    log.warning("schedule %s: date past calendar %s (covers_until %s): orders rejected "
                                "calendar_unknown until the holiday list is extended", sched,
                                calendars.calendar_name(sched), calendars.covered_until(sched))
                return Reason.CALENDAR_UNKNOWN
            return st
    risk = RiskEngine(participants.risk, participants.accounts)
    engine = make_engine(cat, config.fx, reference=reference_engine)
    flow = OrderFlow(cat, config.fx, participants.accounts, risk, participants.quota, engine,
                     run_id=run_id(clock()), session_open=session_open, calendars=calendars, metrics=metrics,
                     perf=time.perf_counter_ns if metrics is not None else None,
                     reference=config.sections.get("reference"), fx_settings=config.sections.get("fx_settings"),
                     done_kept=config.sections.get("orders", DONE_KEPT),
                     quota_schedules=participants.quota_schedules)
    flow.fills = Ledger(cat, calendars, metrics)   # the books of record hear of every fill
    return RouterApp(config, flow, sessions_always_open=sessions_always_open, metrics=metrics, clock=clock,
                     journal=journal, snapshots=snapshots, snapshot_every=snapshot_every)


__all__ = ["RouterApp", "build_router_app", "run_id"]
