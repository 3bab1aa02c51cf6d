"""Everything done to existing orders: the client's cancel (F), cancel/replace (G), status (H) and mass
cancel (q), and the router's own: kill switch, cancel-on-disconnect, GTD and DAY expiry on the timer.

A client reaches only its own orders (by OrigClOrdID or OrderID within its session); a new ClOrdID
must be unused in the session. A replace keeps Symbol, Side, OrdType and TimeInForce, re-checks
credit and re-reserves funds for the new open quantity and price; for a routable product resting on
one book, the new total (grams) must leave a whole number of that book's lots open and the product
limit is converted to that book's tick, rounded so a buy never pays more. Each request is one core
batch. The kill switch cancels every working order of the account (or all) in one batch while new
orders are refused by the router; cancels stay allowed. A DAY order expires (ExecType=Expired) at the
first timer tick after the last session of its trading day has closed (`expire_at_close`; at the next
trading day's start when sessions are "always open"), and a replace is refused while its book's session
is not in continuous trading, so nothing trades in a closed session. `Amendments` is a mixin of `OrderFlow`.

Not here: new orders, core event translation, I/O.
"""
from __future__ import annotations

from typing import Any

from matching import Op, Tif as CoreTif, commands
from router.domain.calendar import SessionState
from router.domain.convert import COMPARABLE_DEN
from router.fix.codec import utc_timestamp
from router.orders.core_books import OP_CANCEL, OP_REPLACE, PRODUCT_DEN, TIFS
from router.orders.core_bridge import Out
from router.orders.funds import fill_vault, metal_need
from router.orders.index import (
    ET_STATUS, MICRO, ORD_STATUS_REQ_ID, Order, decimal_to_units, micro_text, parse_decimal, text_of as _s,
)
from router.orders.quota import Direction
from router.orders.reports import cancel_reject, exec_report, reject_report
from router.domain.reasons import Reason
from router.orders.order_values import MASS_CANCEL_TYPES, not_supported

_CANCEL_TAGS = (b"41", b"11", b"37")       # OrigClOrdID, ClOrdID, OrderID: what a cancel reads


class Amendments:
    """Mixin of `OrderFlow` (uses its index, risk, accounts, router books and `_run`)."""

    def _find_orig(self, session: str, msg: Any) -> Order | None:
        return self.index.find(session, msg.get(41), msg.get(37))

    def cancel(self, session: str, msg: Any, now_ns: int) -> list[Out]:
        orig_raw, clordid, order_id = msg.pick(_CANCEL_TAGS)      # by position: no index built
        clordid, orig = clordid or b"NONE", orig_raw or b"NONE"
        o = self.index.find(session, orig_raw, order_id)
        reason, text = None, ""
        if o is None:
            reason, text = Reason.UNKNOWN_ORDER, f"unknown order OrigClOrdID={_s(orig)} in this session"
        elif self.index.clordid_used(session, clordid):
            reason, text = Reason.DUPLICATE_CLORDID, f"duplicate ClOrdID {_s(clordid)} in this session"
        elif o.done or o.book < 0:
            reason, text = Reason.TOO_LATE, f"order {_s(o.order_id)} is already done ({_s(o.status)})"
        if reason is None:
            r = self.risk.check_message(session, now_ns)
            if r is not None:
                reason, text = r, r.text
        if reason is not None:
            return [Out(session, b"9", cancel_reject(o, clordid, orig, b"1", reason, text))]
        self.index.use_clordid(session, clordid)
        row = [OP_CANCEL, now_ns, 0, o.oid, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0]
        return self._run_one(row, ("cancel", o, clordid, orig), now_ns)

    def replace(self, session: str, msg: Any, now_ns: int) -> list[Out]:
        clordid, orig = msg.get(11) or b"NONE", msg.get(41) or b"NONE"
        o = self._find_orig(session, msg)

        def rej(reason: Reason, text: str) -> list[Out]:
            return [Out(session, b"9", cancel_reject(o, clordid, orig, b"2", reason, text))]

        if o is None:
            return rej(Reason.UNKNOWN_ORDER, f"unknown order OrigClOrdID={_s(orig)} in this session")
        if self.index.clordid_used(session, clordid):
            return rej(Reason.DUPLICATE_CLORDID, f"duplicate ClOrdID {_s(clordid)} in this session")
        if o.done or o.book < 0:
            return rej(Reason.TOO_LATE, f"order {_s(o.order_id)} is already done ({_s(o.status)})")
        if (msg.get(55) and _s(msg.get(55)) != o.symbol) or (msg.get(54) and msg.get(54) != b"%d" % o.side):
            return rej(Reason.UNSUPPORTED, "a replace may not change Symbol(55) or Side(54)")
        if msg.get(40) not in (None, b"2") or o.ord_type != 2:
            return rej(Reason.UNSUPPORTED, "only limit orders can be replaced, to a limit order")
        if msg.get(59) is not None and TIFS.get(msg.get(59), (None,))[0] != o.tif:
            return rej(Reason.UNSUPPORTED, "a replace may not change TimeInForce(59)")
        r = self.risk.check_message(session, now_ns)
        if r is not None:
            return rej(r, r.text)
        state = self.session_open(self.books[o.book].symbol, now_ns)
        if state is not True and state is not SessionState.CONTINUOUS:
            # A replace can cross the book: refuse it where no trade may happen (a cancel stays allowed).
            return rej(Reason.SESSION_CLOSED, f"{self.books[o.book].symbol}: {Reason.SESSION_CLOSED.text}; "
                                              "only a cancel is accepted now")
        qty_d, price_d = parse_decimal(msg.get(38)), parse_decimal(msg.get(44))
        if qty_d is None or qty_d <= 0 or qty_d != qty_d.to_integral_value():
            return rej(Reason.BAD_QTY, f"OrderQty(38) {_s(msg.get(38))!r} must be a positive whole number")
        if price_d is None or price_d <= 0:
            return rej(Reason.BAD_PRICE, f"Price(44) {_s(msg.get(44))!r} must be positive")
        price = decimal_to_units(price_d, o.price_decimals)
        if price is None:
            return rej(Reason.BAD_PRICE, f"price {price_d} is finer than the price unit")
        i = self.books[o.book]
        b = self.router.books()[i.symbol]
        if o.is_product:
            new_base = int(qty_d) * MICRO
            leaves = new_base - o.cum
            # As on a new order, the quantity is a maximum: the whole fine lots of the resting book that fit.
            if leaves < b.fine_ug:
                return rej(Reason.LOTS_OUT_OF_RANGE, f"new quantity leaves {micro_text(max(leaves, 0)).decode()} "
                                                     f"g fine open, less than one lot of {i.symbol} "
                                                     f"({micro_text(b.fine_ug).decode()} g fine) where the order rests")
            core_qty = o.core_cum + leaves // b.fine_ug
            pnum = self.product_num[o.symbol][o.book]
            # The product limit in this book's units, rounded so a buy never pays more (sell receives less).
            units = price * PRODUCT_DEN
            child = units // pnum // b.tick * b.tick if o.side == 1 else -(-(-(-units // pnum)) // b.tick) * b.tick
            if child <= 0:
                return rej(Reason.BAD_PRICE, f"price {price_d} converts to no valid price on {i.symbol}")
            core_price, lots_open = child, leaves // b.fine_ug
        else:
            new_base = int(qty_d)
            if price % i.tick_units:
                return rej(Reason.BAD_PRICE, f"price {price_d} is not a multiple of the tick {i.tick} on {i.symbol}")
            core_qty, core_price, lots_open = new_base, price, new_base - o.cum
            if lots_open <= 0:
                return rej(Reason.BAD_QTY, f"new OrderQty {new_base} is not above the filled {o.cum} lots")
        acct = self.accounts.get(o.account)
        notional = core_price * lots_open * b.cny_num // COMPARABLE_DEN
        fine = lots_open * b.fine_ug        # max_order_grams counts fine grams, as on a new order
        r = self.risk.check_replace(acct, o.oid, fine, notional, core_price * b.num // b.den, b.ref_comp)
        if r is not None:
            return rej(r, self.risk.limit_text(r, acct, fine, notional) or r.text)
        vault = fill_vault(o, i)
        saved = self._re_reserve(o, acct, b, vault, core_price, lots_open)
        if saved is Reason.INSUFFICIENT_METAL:
            # Holdings are per vault and bar form: say which form, and where, the larger sale needs.
            return rej(saved, "insufficient free metal for the replaced quantity: "
                              + metal_need(b.bar_form, vault, lots_open * b.lot_ug))
        if isinstance(saved, Reason):
            return rej(saved, f"{saved.text} for the replaced quantity")
        quota = self._replace_quota(o, notional)
        if isinstance(quota, Reason):
            self._restore(o, acct, saved)
            return rej(quota, f"{quota.text} for the replaced quantity")
        self.index.use_clordid(session, clordid)
        row = [OP_REPLACE, now_ns, 0, o.oid, 0, 0, 0, 0, core_price, core_qty, 0, 0, -1, 0, 0, 0, 0, 0]
        ctx = ("replace", o, clordid, orig, new_base, price, notional, saved, quota, core_price)
        return self._run_one(row, ctx, now_ns)

    def status(self, session: str, msg: Any, now_ns: int) -> list[Out]:
        o = self.index.find(session, msg.get(11), msg.get(37))
        ts = utc_timestamp(now_ns)
        req_id = msg.get(790) or None       # OrdStatusReqID, echoed on the status report
        if o is None:
            body = reject_report(self.ids.next_exec(), ts, msg.get(11) or b"NONE", _s(msg.get(1)),
                                 msg.get(55) or b"", msg.get(54) or b"", b"", b"", Reason.UNKNOWN_ORDER,
                                 f"unknown order ClOrdID={_s(msg.get(11))} in this session")
            body[3] = (150, ET_STATUS)
            if req_id:
                body.insert(2, (ORD_STATUS_REQ_ID, req_id))
            return [Out(session, b"8", body)]
        return [Out(session, b"8", exec_report(o, self.ids.next_exec(), ET_STATUS, ts, status_req_id=req_id))]

    def mass_cancel(self, session: str, msg: Any, now_ns: int) -> list[Out]:
        clordid = msg.get(11) or b"NONE"
        kind = msg.get(530)
        symbol = _s(msg.get(55))
        account = _s(msg.get(1))
        report = [(11, clordid), (37, self.ids.next_report()), (530, kind or b"7")]
        reject = None
        if kind not in MASS_CANCEL_TYPES:
            reject = (0, not_supported("MassCancelRequestType", 530, kind or b"", MASS_CANCEL_TYPES))
        elif kind == b"1" and not symbol:
            reject = (1, "MassCancelRequestType(530) 1 cancels the orders of one Symbol(55): send Symbol(55), "
                         "or 530=7 to cancel all orders")
        elif kind == b"1" and symbol not in self.catalogue.instruments and symbol not in self.catalogue.products:
            reject = (1, f"unknown instrument or product {symbol!r}")
        if reject is not None:
            return [Out(session, b"r", report + [(531, 0), (532, reject[0]), (533, 0), (58, reject[1])])]
        victims = [o for o in self.index.live_orders(session)
                   if (kind == b"7" or o.symbol == symbol) and (not account or o.account == account)
                   and o.book >= 0]
        outs = self._cancel_batch(victims, now_ns, "cancelled by mass cancel request")
        outs.append(Out(session, b"r", report + [(531, kind), (533, len(victims))]))
        return outs

    # -- risk controls, session events and timers -------------------------------------------------
    def kill(self, scope: str, account: str | None, on: bool, now_ns: int) -> list[Out]:
        """Kill switch: refuse new orders and cancel working ones (global or one account); off resumes."""
        if scope == "global":
            if not on:
                self.risk.resume_all()
                return []
            ids = self.risk.kill_all()
        else:
            if not on:
                self.risk.resume_account(account)
                return []
            ids = self.risk.kill_account(account)
        victims = [self.index.by_oid[i] for i in ids if i in self.index.by_oid]
        return self._cancel_batch([o for o in victims if not o.done and o.book >= 0], now_ns,
                                  "cancelled by kill switch")

    def disconnected(self, session: str, now_ns: int) -> list[Out]:
        """Cancel-on-disconnect for the session's working orders (unless its accounts opted out)."""
        self.md.drop_session(session)
        self.trading.drop_session(session)
        ids = set(self.risk.on_disconnect(session))
        victims = [o for o in self.index.live_orders(session) if o.oid in ids and o.book >= 0]
        return self._cancel_batch(victims, now_ns, "cancelled on disconnect")

    @property
    def expire_at_close(self) -> bool:
        """DAY orders end at their session's close, except when sessions are "always open" (a `session_open`
        marked `always_open`; then at the trading-day roll). Derived from configuration, never from a snapshot."""
        return self.calendars is not None and not getattr(self.session_open, "always_open", False)

    def _session_close(self, schedule: str, day: Any) -> int:
        """UTC ns at which the last window counting for trading day `day` ends (its DAY orders expire then)."""
        windows = self.calendars.sessions(schedule, day)
        return max(end for _, end, _ in windows) if windows else 0

    def on_timer(self, now_ns: int) -> list[Out]:
        """GTD expiry, DAY expiry and the reference price at each instrument's trading-day roll, the
        ClOrdID day and each quota direction's day roll; SecurityStatus to the subscribers of an instrument
        whose trading status changed."""
        pushed = self.trading.on_timer(now_ns)
        cmds = []
        if self._gtd and any(o.tif == CoreTif.GTD and o.expire_ns <= now_ns for o in self.index.live.values()):
            cmds.append((-1, int(CoreTif.GTC)))
        rolled: list[tuple[int, Any]] = []     # (book, the trading day that ended)
        if self.calendars is not None:
            day_tif = int(CoreTif.DAY)
            for i in self.books:
                b = i.book_id
                day = self.calendars.trading_day(i.schedule, now_ns)
                if day is None:
                    # Closed: once the last session of the day it traded has ended, its DAY orders expire.
                    close = self.day_close.get(b)
                    if close is not None and now_ns >= close:
                        del self.day_close[b]
                        cmds.append((b, day_tif))
                    continue
                prev = self._days.get(b)
                self._days[b] = day
                if day != prev:
                    if prev is not None:
                        # Also at the roll: no tick fell in the closed time, or sessions are "always open".
                        self.day_close.pop(b, None)
                        cmds.append((b, day_tif))
                        rolled.append((b, prev))
                    if self.expire_at_close:
                        self.day_close[b] = self._session_close(i.schedule, day)
            day = self.calendars.trading_day(self.books[0].schedule, now_ns)
            if day is not None and day != self._id_day:
                self._id_day = day
                self.index.new_day()
            # Each quota direction rolls when its day (`QuotaDays`: from the command's time only, so a replay
            # rolls alike) moves on; forward only, so schedules on different days never reset it twice.
            rolled_quota = False
            for d in (Direction.NORTHBOUND, Direction.SOUTHBOUND):
                qday = self.quota_day_schedules.day(d, self.calendars, now_ns)
                was = self.quota.day(d)
                if qday is not None and (was is None or qday > was) and self.quota.roll(qday, d):
                    rolled_quota = True
            if rolled_quota and self.metrics is not None:
                self._quota_metrics()
            self._roll_references(rolled, now_ns)
        if not cmds:
            return pushed
        batch = commands(len(cmds))
        batch["op"] = Op.EXPIRE
        batch["time"] = now_ns
        batch["book"] = [b for b, _ in cmds]
        batch["tif"] = [t for _, t in cmds]
        return pushed + self._run(batch, [("expire",)] * len(cmds), now_ns)
