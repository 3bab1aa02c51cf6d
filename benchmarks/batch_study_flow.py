"""Design study (issue 15, session 11): the Python that "one compiled call per socket read" keeps.

`BatchFlow.read(session, msgs, nows)` answers one read's NewOrderSingles on a live `OrderFlow`, as the
design would: `pre` puts, for each parsed `FixMessage`, the tags the core needs into one int64 command row
(the request's repeating part read as today's flow reads it, `orders.new_order_read`: a known message
shape's kept terms by position, else through the tag index with the flow's account and symbol memos and
its FIX value check; the price-text memo; the ClOrdID duplicate check); one call of `batch_study_kernel.batch_new` does the checks, reservations and core NEWs of every
row; `post` makes each accepted order's record in the flow's index and its ack from the flow's own
template (`reports.ack_report`; an IOC that met nothing also its `reports.cancelled_report`), the same
bytes today's `on_message` sends. `StudyState` copies what the kernel reads from the flow into its one
state array (router's static filter rows, account limits and cash, throttle and collar settings).

A benchmark only: the service does not use it, and it covers only plain buy limit orders on an
instrument (`benchmarks.batch_study` lists what it leaves out). A message it does not cover is
answered by today's `on_message` and counted (`uncovered`).
"""
from __future__ import annotations

import time
from typing import Any

from benchmarks import batch_study_kernel as bk
from matching.types import MAX_PRICE, MAX_QTY, NCF
from router.domain.catalogue import CURRENCIES
from router.orders.core_books import OP_NEW, TIFS, pack_row
from router.orders.core_bridge import Out
from router.orders.core_one_command import _IOC_TEXT
from router.orders.index import OS_CANCELED, Order, fast_units
from router.orders.new_order_read import TIF_TERMS
from router.orders.reports import ack_report, cancelled_report
from router.orders.route_types import _TENS, _UNITS_FORMAT, NO_CONSTRAINTS, RouteRequest, Side

MAX_READ = 64
_GTD = TIFS[b"6"][0]
_new = tuple.__new__


class StudyState:
    """The kernel's state (`batch_study_kernel`'s ST) copied from a live flow: per (account, instrument
    book) the router's static filter row, per account its limits, cash and session, the risk config."""

    def __init__(self, flow: Any) -> None:
        accounts = list(flow.owner_of)          # owner = account index, as the flow gives the core
        books = flow.books
        sessions = sorted({flow.accounts.get(a).session for a in accounts})
        self.st = st = bk.empty_state(len(accounts), len(books), len(CURRENCIES), len(sessions), MAX_READ)
        risk = flow.risk
        cfg = risk.config
        st[bk.H_COLLAR_BP] = -1 if cfg.collar_bp is None else cfg.collar_bp
        st[bk.H_RATE], st[bk.H_CAP], st[bk.H_HALTED_ALL] = risk._rate, risk._cap, int(risk.halted_all)
        P = bk.view(st, bk.H_OFF_P, len(accounts) * len(books), bk.NP)
        LIM = bk.view(st, bk.H_OFF_LIM, len(accounts), bk.NL)
        CASH = bk.view(st, bk.H_OFF_CASH, len(accounts), len(CURRENCIES))
        RES = bk.view(st, bk.H_OFF_RES, len(accounts), len(CURRENCIES))
        tokens, last = bk.view(st, bk.H_OFF_TOK, len(sessions)), bk.view(st, bk.H_OFF_LAST, len(sessions))
        last[:] = -1                    # no bucket yet (`RiskEngine.check_message` makes a full one)
        for n, session in enumerate(sessions):
            if session in risk._buckets:
                tokens[n], last[n] = risk._buckets[session]
        for a, name in enumerate(accounts):
            acct = flow.accounts.get(name)
            lim = acct.limits
            LIM[a] = (int(name in risk.halted), _or(lim.max_order_ug), _or(lim.max_notional_cny), _or(lim.credit_cny),
                      sessions.index(acct.session))
            for c, ccy in enumerate(CURRENCIES):
                CASH[a, c], RES[a, c] = acct.cash.get(ccy, 0), acct.reserved_cash.get(ccy, 0)
            for b, instr in enumerate(books):
                P[a * len(books) + b] = _static_row(flow.router, acct, instr.symbol)
        self.res0 = RES.copy()
        self.RES, self.OPEN = RES, bk.view(st, bk.H_OFF_OPEN, len(accounts))


def _or(v: int | None) -> int:
    return -1 if v is None else v


def _static_row(router: Any, acct: Any, symbol: str) -> list[int]:
    """`Router._statics`' row for (account, instrument) flat, as `batch_study_kernel.P_*`; P_KNOWN 0 where
    a value the kernel cannot hold is missing (no lower band, no reference price)."""
    (sym, book_id, bit, venue_ok, pre, d, post, vaults, form, lo, hi, tick, num, den, lot_ug, fine_ug, cny_num,
     min_lots, max_lots, settl_num, fee_ppm, lot_fee_settl, margin, ccy, ref_comp, *_) = \
        router._statics(acct, symbol, NO_CONSTRAINTS)[0]
    known = int(venue_ok and lo is not None and ref_comp is not None)
    return [known, bk.CODE.get(pre, 0), bk.CODE.get(post, 0), int(d is not None), tick, lo or 0,
            -1 if hi is None else hi, min_lots, max_lots if max_lots is not None else 2**62, num, den,
            ref_comp or 0, settl_num, fee_ppm, lot_fee_settl, cny_num, CURRENCIES.index(ccy),
            -1 if margin is None else margin, fine_ug, 1, max(settl_num, cny_num, 1)]


class BatchFlow:
    """The design's Python around one compiled call per read, on a live `OrderFlow` (its index, ids,
    templates and engine); `read` answers a read of NewOrderSingles. Uncovered messages take the flow's
    own `on_message` and are counted in `uncovered` (a timed run must have none)."""

    def __init__(self, flow: Any) -> None:
        self.flow = flow
        self.state = StudyState(flow)
        self.kern = bk.compiled_entry()
        st = self.state.st
        self.rows_at = int(st[bk.H_OFF_ROWS]) * 8      # byte offset of the read's command rows in ST
        out = bk.view(st, bk.H_OFF_OUT, MAX_READ, bk.NR)
        self.outcomes = tuple(out[:n] for n in range(MAX_READ + 1))    # views made once, not per read
        self.tails: dict[tuple, bytes] = {}
        # core id -> (account, currency, cash reserved, working notional) of each resting order: the
        # design would keep it per core order row in the kernel's state; a dict item here
        self.held: dict[int, tuple] = {}
        self.uncovered = 0
        self.refused = 0
        self._calls = 0

    def read(self, session: str, msgs: list, nows: list[int]) -> tuple[list[Out], int, int, int]:
        """One read's messages -> (answers, ns of pre, core, post)."""
        perf = time.perf_counter_ns
        t0 = perf()
        flow = self.flow
        index, st, at = flow.index, self.state.st, self.rows_at
        price_units, owner_of = flow._price_units, flow.owner_of
        pending: list = []
        seen: set = set()
        fallback: list = []
        for j, msg in enumerate(msgs):
            # the request's repeating part as today's flow reads it (`orders.new_order_read`): a known
            # shape's kept terms by position, else through the tag index (and kept for the next order)
            rd, terms, dyn = flow._kept(session, msg)
            if terms is not None:
                clordid, qty, price_raw = dyn
            if terms is None:
                read = self._read_terms(session, msg, rd)
                if read is not None:
                    clordid, qty, price_raw, terms = read
            if terms is None or not clordid or clordid in seen or index.clordid_used(session, clordid):
                fallback.append((msg, nows[j]))
                continue
            acct, known, core_tif, tif, _, constraints, side, limit = terms
            if known[5] or constraints is not NO_CONSTRAINTS or core_tif is _GTD or not limit:
                fallback.append((msg, nows[j]))
                continue
            qty = int(qty) if qty and qty.isdigit() else fast_units(qty, 0)
            if not qty or qty > MAX_QTY:
                fallback.append((msg, nows[j]))
                continue
            key = (price_raw, known[3])
            price = price_units.get(key)
            if price is None:
                price = fast_units(key[0], known[3])
                if not price or price > MAX_PRICE:
                    fallback.append((msg, nows[j]))
                    continue
                price_units[key] = price
            seen.add(clordid)
            i = len(pending)
            now = nows[j]
            pack_row(st, at + i * NCF * 8, OP_NEW, now, known[1].book_id, 0, owner_of[acct.name], side, 2, tif,
                     price, qty, 0, 0, -1, 0, 0, 0, 0, 0)
            pending.append((msg, now, clordid, acct.name, known, side, tif, qty, price))
        t1 = perf()
        outs = self._call(len(pending))
        t2 = perf()
        outs = self._answers(session, pending, outs)
        for msg, now in fallback:   # answered by today's path (a timed run must have none: counted)
            self.uncovered += 1
            outs += flow.on_message(session, msg, now)
        t3 = perf()
        return outs, t1 - t0, t2 - t1, t3 - t2

    def _read_terms(self, session: str, msg: Any, rd: Any) -> tuple | None:
        """`NewOrderRead._read_new` without its throttle (the kernel's) and its refusals (None: today's
        path answers those): (ClOrdID, raw OrderQty, raw Price, terms), the terms kept in `rd`."""
        flow = self.flow
        g = msg.index().get
        acct = flow._acct_cache.get((session, g(b"1")))
        known = flow._symbol_terms.get(g(b"55"))
        gold = (g(b"7001"), g(b"7002"), g(b"7003"), g(b"7004"), g(b"7005"))
        tifs = TIF_TERMS.get(g(b"59") or b"0")
        if (acct is None or known is None or tifs is None
                or flow.values.unsupported_value(g, known[5], gold) is not None):
            return None
        return g(b"11"), g(b"38"), g(b"44"), flow._keep_terms(session, msg, rd, g, acct, known, tifs, gold)

    def _call(self, n: int) -> list:
        """The compiled call over the read's rows (again from the row it stopped at, after the engine
        made room), the core ids handed back to the flow's counter; the rows' outcomes as lists."""
        if not n:
            return []
        st, engine, ids = self.state.st, self.flow.engine, self.flow.ids
        st[bk.H_NEXT_OID] = ids._oid
        done = self.kern(engine._A, st, n, 0)
        while done < n:
            engine._make_room(n - done)
            done = self.kern(engine._A, st, n, done)
        ids._oid = st.item(bk.H_NEXT_OID)
        self._calls += n
        if self._calls >= 256:      # the engine's own high-water look (`Engine._one`, every 256 calls)
            self._calls = 0
            engine._watch()
        return self.outcomes[n].tolist()

    def _answers(self, session: str, pending: list, results: list) -> list[Out]:
        """Each row's answer from its outcome: the order's record and its ack (and an IOC's cancel)."""
        flow = self.flow
        index, run, stamp, tails, owner_of = flow.index, flow.ids.run, flow._stamp, self.tails, flow.owner_of
        next_exec, held = flow.ids.next_exec, self.held
        outs: list[Out] = []
        for (msg, now, clordid, name, known, side, tif, qty, price), res in zip(pending, results):
            code, book, core_qty, need, ccy, notional, oid = res
            if code != bk.RESTING and code != bk.IOC_DONE:
                outs += self._not_acked(session, msg, now, code, name)
                continue
            symbol, instr, _, decimals, _, _ = known
            text = _UNITS_FORMAT[decimals] % divmod(price, _TENS[decimals])
            tail = tails.get((name, book, side)) or self._tail(name, known, side, qty, price, text)
            explain = b"%b %b %d @%b; 1.%b %b%b" % (b"B" if side == 1 else b"S", instr.symbol.encode(), qty, text,
                                                     instr.symbol.encode(), text, tail)
            o = Order(oid, b"%s-%d" % (run, oid), session, name, owner_of[name], clordid, symbol, False,
                      side, 2, tif, qty, price, decimals, 0, None, explain, NO_CONSTRAINTS, notional, 1)
            o.book, o.core_qty, o.core_cum, o.direction = book, core_qty, 0, None
            index.add(o)
            if code == bk.RESTING:
                held[oid] = (owner_of[name], ccy, need, notional)
            o.acked = True
            flow._count_open(symbol, 1)
            flow._fill_now = now
            ts = stamp(now)
            outs.append(_new(Out, (session, b"8", ack_report(o, next_exec(), ts))))
            if code == bk.IOC_DONE:     # its reservation and notional were given back in the kernel
                o.status = OS_CANCELED
                index.finish(o)
                flow._count_open(symbol, -1)
                o.constraints = None
                outs.append(_new(Out, (session, b"8", cancelled_report(o, next_exec(), ts, _IOC_TEXT))))
            if flow.md.by_book:
                outs.extend(Out(s, mt, body) for s, mt, body in flow.md.publish({book}, []))
        return outs

    def release(self, session: str, clordids: list) -> None:
        """Give back in the kernel's arrays what the flow's cancel of these orders gave back in Python
        (`_finish`): the design would do it in the cancel's own compiled call. Untimed."""
        flow, st = self.flow, self.state
        for clordid in clordids:
            o = flow.index.by_clordid.get((session, clordid))
            if o is not None and o.oid not in flow.index.live and o.oid in self.held:
                a, ccy, need, notional = self.held.pop(o.oid)
                st.RES[a, ccy] -= min(need, int(st.RES[a, ccy]))
                st.OPEN[a] -= notional

    def _tail(self, name: str, known: tuple, side: int, qty: int, price: int, text: bytes) -> bytes:
        """The explanation line's part after the price, kept per (account, book, side): for an instrument
        order on its reference price it depends on nothing else (`route_types.explain_line`). Made once
        from the router's own line for this order."""
        symbol, instr = known[0], known[1]
        router = self.flow.router
        router.top_of_book = None
        d = router.route(_new(RouteRequest, (name, Side.BUY if side == 1 else Side.SELL, symbol, qty, price,
                                              TIFS[b"0"][1], NO_CONSTRAINTS)), 0)
        line = router.explain_bytes(d)
        sym = instr.symbol.encode()
        head = b"%b %b %d @%b; 1.%b %b" % (b"B" if side == 1 else b"S", sym, qty, text, sym, text)
        if not d.ok or not line.startswith(head) or d.candidates[0].source != "ref":
            raise RuntimeError(f"no reference-price explanation for this order: {line!r}")
        tail = self.tails[(name, instr.book_id, side)] = line[len(head):]
        return tail

    def _not_acked(self, session: str, msg: Any, now: int, code: int, name: str) -> list[Out]:
        """A row the kernel refused (today's reject report, with the reason's own text) or that the core
        rejected or traded (not covered: counted)."""
        if code >= bk.REFUSED:
            self.refused += 1
            reason = bk.REASONS[code - bk.REFUSED - 1]
            return self.flow._reject_new(session, msg, now, reason, reason.text, name)
        self.uncovered += 1
        return [Out(session, b"8", [(150, b"?"), (58, f"outcome {code} not covered".encode())])]
