"""The bridge between the order flow and the matching core: core events into ExecutionReports.

`CoreEvents` is the part of `OrderFlow` that runs a batch through `engine.process()` and turns every
event (accepted, rejected, trade for both sides, cancelled, replaced, expired, sweep report) into the
reports for the right sessions, settling funds and releasing quota, credit and reservations when an
order is done.

Not here: one command per message and its usual one- or two-event answers without the general loop
(orders.core_one_command), books, factors, command rows and the best-price reader (orders.core_books), request parsing
and checks (orders.flow, orders.amend), reservations (orders.funds), I/O.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from matching import EventKind, Op, Reason as CoreReason, Tif as CoreTif, commands
from router.domain.catalogue import Instrument
from router.fix.codec import utc_timestamp
from router.orders.index import (
    DONE_STATUSES, ET_CANCELED, ET_EXPIRED, ET_NEW, ET_REJECTED, ET_REPLACED, ET_TRADE, MICRO,
    OS_CANCELED, OS_EXPIRED, OS_REJECTED, Order, units_text,
)
from router.orders.funds import fill_vault, trade_terms
from router.orders.quota_use import direction_of
from router.orders.reports import ack_report, cancel_reject, exec_report, quiet_report, trade_report
from router.domain.reasons import Reason

_CORE_REJECT = {
    CoreReason.BAD_TICK: Reason.BAD_PRICE, CoreReason.BAD_PRICE: Reason.BAD_PRICE,
    CoreReason.PRICE_LIMIT: Reason.PRICE_LIMIT, CoreReason.BAD_LOT: Reason.LOT_ROUNDING,
    CoreReason.BELOW_MIN_QTY: Reason.LOTS_OUT_OF_RANGE, CoreReason.ABOVE_MAX_QTY: Reason.LOTS_OUT_OF_RANGE,
    CoreReason.BAD_QTY: Reason.BAD_QTY, CoreReason.REPLACE_BELOW_FILLED: Reason.BAD_QTY,
    CoreReason.UNKNOWN_ORDER: Reason.UNKNOWN_ORDER, CoreReason.ORDER_NOT_LIVE: Reason.TOO_LATE,
    CoreReason.DUPLICATE_ORDER_ID: Reason.DUPLICATE_CLORDID, CoreReason.BAD_EXPIRE_TIME: Reason.UNSUPPORTED,
}
_CANCEL_TEXT = {
    CoreReason.UNFILLED_IOC: "unfilled remainder cancelled (immediate order)",
    CoreReason.FOK_UNFILLABLE: "fill-or-kill order could not be filled in full",
    CoreReason.MASS_CANCEL: "cancelled by mass cancel",
}
# Per core reason: our reason and the reject's Text.
_REJECT_TEXT = {r: (_CORE_REJECT.get(r, Reason.UNSUPPORTED),
                    f"{_CORE_REJECT.get(r, Reason.UNSUPPORTED).text} (core: {r.name.lower()})") for r in CoreReason}
# The core's reason codes as enum members by int: `CoreReason(code)` per event cost more than a dict item.
_CORE_REASONS = {int(r): r for r in CoreReason}
ET_RESTATED = b"D"
K_ACCEPTED, K_REJECTED, K_TRADE, K_CANCELLED, K_REPLACED, K_EXPIRED, K_MASS, K_SWEEP = (
    int(EventKind.ACCEPTED), int(EventKind.REJECTED), int(EventKind.TRADE), int(EventKind.CANCELLED),
    int(EventKind.REPLACED), int(EventKind.EXPIRED), int(EventKind.MASS_CANCEL_REPORT),
    int(EventKind.SWEEP_REPORT))


_CANCEL_REQUESTED = int(CoreReason.CANCEL_REQUESTED)
_SELF_TRADE = int(CoreReason.SELF_TRADE)
_TIF_GTD = int(CoreTif.GTD)
# NamedTuple construction through tuple.__new__ skips the generated __new__ (several per message).
_new = tuple.__new__


class Out(NamedTuple):
    session: str
    msg_type: bytes
    body: list


class CoreEvents:
    """Mixin of `OrderFlow`: one core batch in, reports out (uses the flow's index, risk, quota, md)."""

    # The ExecutionReport builder. The journal replay puts `reports.quiet_report` on the instance for
    # the commands whose outputs nobody reads (all but the last few thousand): same effect on every
    # order, no body built (router.records.replay; ×1.08 replay CPU, benchmarks/README.md "Restart").
    exec_report = staticmethod(exec_report)

    def memory_stats(self) -> dict[str, int]:
        """What the flow and the core hold, for the memory gauges: the index's entries and (numba
        engine) the order table's rows live, free and allocated, and how its arena grew so far."""
        out = {"index_" + k: v for k, v in self.index.sizes().items()}
        rows = getattr(self.engine, "order_rows", None)
        if rows is not None:
            out["rows_live"], out["rows_free"], out["rows_capacity"] = rows()
        growths = getattr(self.engine, "arena_growths", None)
        if growths is not None:
            out.update(("growth_" + k, v) for k, v in growths().items())
        return out

    # Per book: its lot's grams as an exact (numerator, denominator), made on first use (not pickled
    # by older snapshots, hence no __init__), for the routed-grams metric.
    _lot_grams_ratios: list[tuple[int, int]] | None = None

    # TransactTime(60) text of the last millisecond stamped, shared with `OneCommand._stamp`.
    _ts_ms = -1
    _ts = b""

    def _cancel_batch(self, victims: list[Order], now_ns: int, text: str) -> list[Out]:
        if not victims:
            return []
        cmds = commands(len(victims))
        cmds["op"] = Op.CANCEL
        cmds["time"] = now_ns
        cmds["order_id"] = [o.oid for o in victims]
        return self._run(cmds, [("unsolicited", o, text) for o in victims], now_ns)

    # -- core events -> execution reports -----------------------------------------------------------
    def _accepted(self, o: Order, book: int, core_qty: int, ts: bytes) -> Out | None:
        """The core accepted `o` (on `book`, `core_qty` of its lots; book -1: a product's sweep): where it
        rests, and its acknowledgement the first time (None after)."""
        if book >= 0:
            o.book = book
            o.core_qty, o.core_cum = core_qty, 0
            o.direction = direction_of(o, book)
        if o.acked:
            return None
        o.acked = True
        self._count_open(o.symbol, 1)
        metrics = self.metrics
        if metrics is not None:
            metrics.order_accepted(o.symbol)
            if not o.is_product:
                metrics.routed(self.books[book].venue, _dir(o), self._grams(book, o.qty))
        report = self.exec_report
        # The usual builder's acknowledgement is a template with the order's pieces in its slots.
        body = (ack_report(o, self.ids.next_exec(), ts) if report is exec_report
                else report(o, _exec_id(self.ids, report), ET_NEW, ts, explain=True))
        return _new(Out, (o.session, b"8", body))

    def _grams(self, book: int, lots: int) -> int:
        """`lots` of `book` in whole grams for the metrics, as int(lots * lot_grams) gives them, from the
        Decimal's exact ratio kept per book (a Decimal multiply per ack or fill cost ~0.15 us)."""
        ratios = self._lot_grams_ratios
        if ratios is None:
            ratios = self._lot_grams_ratios = [i.lot_grams.as_integer_ratio() for i in self.books]
        num, den = ratios[book]
        return lots * num // den

    def _run(self, cmds: np.ndarray, ctx: list[tuple], now_ns: int) -> list[Out]:
        perf = self.perf
        t0 = perf() if perf is not None else 0
        events = self.engine.process(cmds, copy=False)      # consumed at once, as in _run_one
        if perf is not None and self.metrics is not None:
            self.metrics.matching_batch_ns(perf() - t0)
        return self._reports(events.tolist(), ctx, now_ns)

    def _reports(self, events: list, ctx: Any, now_ns: int) -> list[Out]:
        outs: list[Out] = []
        self._fill_now = now_ns         # the fill observer's time for this batch
        report = self.exec_report
        quiet = report is quiet_report
        if quiet:
            # A replay's reports that nobody reads: no TransactTime and no ExecID text is formatted,
            # the ExecID counter moves as it did live (`Ids.skip_exec`; benchmarks/README.md "Restart").
            ts = b""
            next_exec = self.ids.skip_exec
        else:
            ms = now_ns // 1_000_000
            if ms == self._ts_ms:        # TransactTime has millisecond precision: many messages share one
                ts = self._ts
            else:
                ts = self._ts = utc_timestamp(now_ns)
                self._ts_ms = ms
            next_exec = self.ids.next_exec
        touched: set[int] = set()
        by_oid = self.index.by_oid
        md_books = self.md.by_book
        trades: list[tuple[int, int, int]] = []
        for ev in events:           # each event's fields in EVENT_DTYPE order
            kind, reason, idx, book = ev[0], ev[2], ev[4], ev[5]
            if book >= 0:
                touched.add(book)
            if kind == K_TRADE:
                self._trade(ev, outs, ts)
                self.last_trade_px[book] = ev[10]
                if md_books.get(book):
                    trades.append((book, ev[10], ev[11]))
                continue
            o = by_oid.get(ev[7])
            c = ctx[idx] if idx < len(ctx) else ("?",)
            if kind == K_ACCEPTED:
                if o is not None:
                    ack = self._accepted(o, book, ev[11], ts)
                    if ack is not None:
                        outs.append(ack)
            elif kind == K_REJECTED:
                self._core_reject(c, _CORE_REASONS.get(reason) or CoreReason(reason), outs, ts)
            elif kind == K_CANCELLED:
                if o is None or o.status in DONE_STATUSES:
                    continue
                text = _CANCEL_TEXT.get(reason, "")
                if reason == _SELF_TRADE:
                    text = "" if quiet else self._self_trade_text(o, c)
                elif c[0] == "cancel" and reason == _CANCEL_REQUESTED:
                    self.index.rename(o, c[2])
                elif c[0] == "unsolicited":
                    text = c[2]
                o.status = OS_CANCELED
                self._finish(o)
                outs.append(_new(Out, (o.session, b"8", report(o, next_exec(), ET_CANCELED, ts, text=text))))
            elif kind == K_REPLACED:
                if o is None or c[0] != "replace":
                    continue
                _, _, clordid, _, new_base, price, notional, _, (claims, _, shrink), core_price = c
                self._quota_replaced(o, claims, shrink)
                self.index.rename(o, clordid)
                o.qty, o.price = new_base, price
                o.er_fixed = None
                o.leaves = new_base - o.cum
                text = ""
                if o.is_product:        # whole lots of the resting book; the rest is not filled, and said so
                    fine = self.books[o.book].lot_fine_micrograms
                    o.dust = o.leaves % fine
                    o.leaves -= o.dust
                    if o.dust:
                        text = self.fill_report.unfilled(o.dust, (), o.book)[1]
                o.core_qty = ev[11]
                o.notional, o.notional_qty = notional, o.leaves
                self.risk.on_open_notional(o.oid, notional)
                o.explain = self._replace_explain(o, core_price)
                outs.append(_new(Out, (o.session, b"8", report(o, next_exec(), ET_REPLACED, ts, text=text,
                                                                    explain=True))))
            elif kind == K_EXPIRED:
                if o is None or o.done:
                    continue
                o.status = OS_EXPIRED
                self._finish(o)
                text = "good-till-date order expired" if reason == CoreReason.EXPIRED_GTD else "day order expired"
                outs.append(_new(Out, (o.session, b"8", report(o, next_exec(), ET_EXPIRED, ts, text=text))))
            elif kind == K_SWEEP:
                if o is None or o.done:
                    continue
                self._swept(o, book, ev[11], ev[12], outs, ts)
        if touched and md_books:    # no subscriber at all: nothing to publish (publish would find no keys)
            outs.extend(Out(s, mt, body) for s, mt, body in self.md.publish(touched, trades))
        return outs

    def _trade(self, ev: list, outs: list[Out], ts: bytes) -> None:
        book, px, lots = ev[5], ev[10], ev[11]
        i = self.books[book]
        venue = self._venue[book]
        fine_ug = i.lot_fine_micrograms
        report = self.exec_report
        fill_report = self.fill_report
        # The trade's own fields (GrossTradeAmt .. GoldBarForm) are the same for both sides: encoded once,
        # then joined into each side's report in one piece, and not built at all under a replay's quiet
        # builder, which makes no bodies (benchmarks/README.md, "Fills: core events to state").
        quiet = report is quiet_report
        trade_wire = b"" if quiet else fill_report.fields_wire(book, px, lots, self.fx)
        by_oid = self.index.by_oid
        if self.metrics is not None:
            self.metrics.fill(i.venue, self._grams(book, lots))
        # The trade's value, fees, metal and CNY value, the same for both sides: computed once.
        b = self.router.books()[i.symbol]
        terms = trade_terms(b, px, lots)
        accounts = self.accounts
        for o, is_maker in ((by_oid.get(ev[7]), False), (by_oid.get(ev[14]), True)):
            if o is None:
                continue
            if is_maker:
                o.core_cum = ev[18]
            if o.is_product:
                base = lots * fine_ug
                px_scaled = px * self.product_num[o.symbol][book]
                if self.metrics is not None and not is_maker and o.book < 0:
                    self.metrics.routed(i.venue, _dir_book(o, i), self._grams(book, lots))
            else:
                base, px_scaled = lots, px
            leaves_before = o.leaves
            vault = fill_vault(o, i)    # before `_finish` lets go of the order's constraints
            o.fill(base, px_scaled, venue)
            self._quota_fill(o, book, terms[3], base, leaves_before)
            self._settle(o, accounts.get(o.account), i, b, px, lots, terms, vault)
            if o.leaves and o.notional_qty:
                self.risk.on_open_notional(o.oid, o.notional * o.leaves // o.notional_qty)
            if o.leaves == 0:
                self._finish(o)
            if quiet:
                outs.append(_new(Out, (o.session, b"8", report(o, self.ids.skip_exec(), ET_TRADE, ts))))
                continue
            tail = trade_wire + fill_report.vault_wire(vault)
            if o.is_product:
                # LastQty/LastPx are fine grams and the product's price; say which instrument traded, at its
                # own price.
                tail += fill_report.product_wire(book, self._fill_text[book] % units_text(px, i.price_decimals))
            # An instrument's fill from its template (same bytes; a product's takes exec_report inside it).
            body = (trade_report(o, self.ids.next_exec(), ts, tail) if report is exec_report
                    else report(o, self.ids.next_exec(), ET_TRADE, ts, last=True, tail=tail))
            outs.append(_new(Out, (o.session, b"8", body)))

    def _swept(self, o: Order, book: int, rested: int, returned: int, outs: list[Out], ts: bytes) -> None:
        """A product order's sweep is over: its remainder rests (`rested` fine micrograms on `book`) or is
        cancelled; what no book takes (`returned`) is reported as not filled, with the reason."""
        cands = o.decision.candidates if o.decision is not None else ()
        if rested > 0:
            o.leaves = rested
            o.dust = returned
            self._quota_swept(o, book)
            if self.metrics is not None:
                i = self.books[book]
                self.metrics.routed(i.venue, _dir_book(o, i), rested // MICRO)
            if returned:
                text = self._unfilled(o, returned, cands, book)
                outs.append(_new(Out, (o.session, b"8", self.exec_report(o, self.ids.next_exec(), ET_RESTATED, ts,
                                                                      text=text))))
            return
        left = o.leaves
        o.book = -1
        o.status = OS_CANCELED
        self._finish(o)
        if o.tif in (3, 4) or o.ord_type == 1:
            text = "unfilled remainder cancelled (immediate order): " + self._unfilled(o, left, cands)
        else:
            text = ("remainder too small to rest on the best book, cancelled: "
                    + self._unfilled(o, left, cands, self._rest_book_of(o)))
        outs.append(_new(Out, (o.session, b"8", self.exec_report(o, self.ids.next_exec(), ET_CANCELED, ts, text=text))))

    def _unfilled(self, o: Order, amount: int, cands: Any, rest: int | None = None) -> str:
        """The Text for what a product order leaves unfilled, counted by reason in the metrics."""
        label, text = self.fill_report.unfilled(amount, cands, rest)
        if self.metrics is not None:
            self.metrics.product_unfilled(o.symbol, label, amount)
        return text

    def _rest_book_of(self, o: Order) -> int | None:
        d = o.decision
        return None if d is None or d.rest_book is None else self._rest_candidate(d).book_id

    def _self_trade_text(self, o: Order, c: tuple) -> str:
        """Text of a self-trade prevention cancel: which order of the two this was, and the account's mode."""
        mode = self.accounts.get(o.account).self_trade
        if self.metrics is not None:
            self.metrics.self_trade_cancel(mode)
        if c[0] == "new" and c[1] is o:
            return (f"{Reason.SELF_TRADE.text}: would have traded with a resting order of account {o.account} "
                    f"(self_trade = {mode})")
        return (f"{Reason.SELF_TRADE.text}: an incoming order of account {o.account} would have traded with "
                f"it (self_trade = {mode})")

    def _core_reject(self, c: tuple, reason: CoreReason, outs: list[Out], ts: bytes) -> None:
        ours, text = _REJECT_TEXT[reason]
        if c[0] == "new":
            o = c[1]
            o.status = OS_REJECTED
            self._finish(o, acked=False)
            if self.metrics is not None:
                self.metrics.order_rejected(ours.label)
            outs.append(Out(o.session, b"8", self.exec_report(o, self.ids.next_exec(), ET_REJECTED, ts, text=text,
                                                           rej=ours, explain=True)))
        elif c[0] in ("cancel", "replace"):
            o = c[1]
            if c[0] == "replace":
                self._restore(o, self.accounts.get(o.account), c[7])
                self._quota_replace_refused(c[8][1])
            outs.append(Out(o.session, b"9", cancel_reject(o, c[2], c[3], b"1" if c[0] == "cancel" else b"2",
                                                          ours, text)))

    def _replace_explain(self, o: Order, core_price: int) -> bytes:
        """GoldRouteExplain(7006) of a replace: the order as replaced, and the book it keeps resting on
        (a replace is not routed again) with its limit there, in that instrument's own quote."""
        i = self.books[o.book]
        head = f"RPL {'B' if o.side == 1 else 'S'} {o.symbol} {o.qty_text(o.qty).decode()}"
        if o.price is not None:
            head += f" @{units_text(o.price, o.price_decimals).decode()}"
        return (f"{head}; rests {i.symbol} {units_text(core_price, i.price_decimals).decode()} "
                f"(not re-routed)").encode("ascii", "replace")

    def _finish(self, o: Order, acked: bool = True) -> None:
        """The order is done: give back quota for its unfilled part, reservations, credit."""
        if o.quota_claims:
            self._quota_done(o)
        self._release(o)
        self.risk.on_done(o.oid)
        self.index.finish(o)
        if o.tif == _TIF_GTD:
            self._gtd -= 1
        if acked and o.acked:
            self._count_open(o.symbol, -1)
        # A done order is kept a while for status requests; its routing objects are not needed then, and
        # every object it keeps alive lengthens the garbage collector's full passes.
        o.decision = None
        o.constraints = None

    def _count_open(self, symbol: str, delta: int) -> None:
        n = self._open_count.get(symbol, 0) + delta
        self._open_count[symbol] = n
        if self.metrics is not None:
            self.metrics.set_open_orders(symbol, n)


def _exec_id(ids: Any, report: Any) -> bytes:
    """The next ExecID for a report by `report`: under a replay's quiet builder the counter moves and
    no text is made (`Ids.skip_exec`; nobody reads those reports)."""
    return ids.skip_exec() if report is quiet_report else ids.next_exec()


def _dir(o: Order) -> str:
    d = next(iter(o.quota_claims), None) if o.quota_claims else None
    if d is None and o.decision is not None and o.decision.candidates:
        d = o.decision.candidates[0].direction
    return d.value if d is not None else "domestic"


def _dir_book(o: Order, i: Instrument) -> str:
    if o.decision is not None:
        for c in o.decision.candidates:
            if c.symbol == i.symbol:
                return c.direction.value if c.direction is not None else "domestic"
    return "domestic"
