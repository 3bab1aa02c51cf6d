"""One core command per message, and the core's usual answers to it without the general event loop.

`OneCommand` is the part of `OrderFlow` that runs a single command (a new order, a cancel, a replace)
through one reused int64 row (`_run_one`) and answers the three common cases on their own paths: a
resting order's one ACCEPTED event (`_accepted_alone`), a requested cancel's one CANCELLED event
(`_cancelled_alone`) and an IOC that met nothing, ACCEPTED then CANCELLED (`_unfilled_ioc`). They make
the same effects and reports as `CoreEvents._reports`, which takes every other answer
(`tests/orders/test_core_one_command.py` compares both, byte for byte and by state hash).

Not here: the general loop over a batch's events, trades, replaces, expiries, sweeps, rejects and what
an order's end releases (orders.core_bridge), the command rows' layout (orders.core_books), request
parsing and checks (orders.flow, orders.amend).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from matching import Reason as CoreReason
from router.fix.codec import utc_timestamp
from router.orders.core_books import ROW_FIELDS, pack_row
from router.orders.core_bridge import (
    _CANCEL_REQUESTED, _CANCEL_TEXT, K_ACCEPTED, K_CANCELLED, K_SWEEP, Out, _exec_id,
)
from router.orders.index import DONE_STATUSES, ET_CANCELED, OS_CANCELED
from router.orders.reports import cancelled_report, exec_report, quiet_report

_UNFILLED_IOC = int(CoreReason.UNFILLED_IOC)
_IOC_TEXT_STR = _CANCEL_TEXT[CoreReason.UNFILLED_IOC]
_IOC_TEXT = _IOC_TEXT_STR.encode()
# An unfilled product IOC's cancel: (metric label, Text str, Text bytes) by (fill reports, fine micrograms
# left, candidate books), what `CoreEvents._swept`'s Text shows; bounded, cleared when full (`_unswept_ioc`).
_SWEPT_TEXTS: dict[tuple, tuple[str, str, bytes]] = {}
SWEPT_TEXTS_KEPT = 4096
# NamedTuple construction through tuple.__new__ skips the generated __new__ (one per report).
_new = tuple.__new__


class OneCommand:
    """Mixin of `OrderFlow` (beside `CoreEvents`, whose `_reports`, `_accepted` and `_finish` it uses):
    one command in, its reports out."""

    _cmd_buf: np.ndarray | None = None

    def _run_one(self, row: list[int], ctx: tuple, now_ns: int) -> list[Out]:
        """One command (a flat int64 row in COMMAND_DTYPE field order), the common case per message.

        The row goes into one preallocated (1, NCF) int64 array that owns its memory, handed to the
        engine every time: `process_at_rows` on the same array object reuses the flat view it made the
        first time (it keeps it only for an array its view is based on), so no command array is
        allocated or checked per message."""
        buf = self._cmd_buf
        if buf is None:
            buf = self._cmd_buf = np.zeros((1, len(ROW_FIELDS)), np.int64)
        pack_row(buf, 0, *row)      # half the cost of numpy's own list assignment
        perf = self.perf
        t0 = perf() if perf is not None else 0
        # the events as lists of ints, straight from the core's int64 rows (~3x cheaper than a
        # structured view's tolist(); benchmarks/README.md, Matching, "The one-command call")
        events = self.engine.process_at_rows(buf, 0)
        if perf is not None and self.metrics is not None:
            self.metrics.matching_batch_ns(perf() - t0)
        if len(events) == 1:
            # A resting order's acceptance and a cancel's one event, their usual answers, each on its own
            # path (benchmarks/README.md, "Order flow: the acknowledgement's own path").
            ev = events[0]
            kind = ev[0]
            if kind == K_ACCEPTED and ctx[0] == "new":
                return self._accepted_alone(ev, now_ns)
            if kind == K_CANCELLED and ev[2] == _CANCEL_REQUESTED and ctx[0] == "cancel":
                return self._cancelled_alone(ev, ctx[2], now_ns)
        elif len(events) == 2 and ctx[0] == "new":
            # An IOC that met nothing: accepted, then its whole quantity cancelled.
            ev, ev2 = events
            if ev[0] == K_ACCEPTED and ev2[7] == ev[7]:
                if ev2[0] == K_CANCELLED and ev2[2] == _UNFILLED_IOC:
                    return self._unfilled_ioc(ev, ev2, now_ns)
                # A product IOC's sweep that met nothing: accepted, then the sweep's report, nothing rested.
                if ev2[0] == K_SWEEP and ev2[11] <= 0 and ctx[1].tif == 3:
                    return self._unswept_ioc(ev, ev2, now_ns)
        return self._reports(events, (ctx,), now_ns)

    def _unfilled_ioc(self, ev: list[int], ev2: list[int], now_ns: int) -> list[Out]:
        """`_reports` of an instrument IOC's two events when nothing traded (ACCEPTED, then CANCELLED
        for the unfilled remainder, both of one order): its ack and its cancel, as the general loop
        would make them, the cancel from `reports.cancelled_report`'s template under the usual builder."""
        o, outs, ts = self._ioc_accepted(ev, now_ns)
        if o is not None and o.status not in DONE_STATUSES:
            o.status = OS_CANCELED
            self._finish(o)
            outs.append(self._cancel_out(o, ts, _IOC_TEXT, _IOC_TEXT_STR))
        if self.md.by_book:
            self._publish(outs, ev, ev2)
        return outs

    def _unswept_ioc(self, ev: list[int], ev2: list[int], now_ns: int) -> list[Out]:
        """`_reports` of a product IOC's two events when its sweep met nothing (ACCEPTED on no book, then
        SWEEP_REPORT with nothing rested): its ack and its cancel as the general loop and `_swept` make
        them, the cancel from `reports.cancelled_report`'s template and its Text kept per (amount,
        candidate books) (benchmarks/README.md, "IOC orders, session 11")."""
        o, outs, ts = self._ioc_accepted(ev, now_ns)
        if o is not None and o.status not in DONE_STATUSES:
            left = o.leaves
            cands = o.decision.candidates if o.decision is not None else ()
            fill_report = self.fill_report
            key = (fill_report, left, *[c[1] for c in cands])
            got = _SWEPT_TEXTS.get(key)
            if got is None:
                label, why = fill_report.unfilled(left, cands)
                text = "unfilled remainder cancelled (immediate order): " + why
                if len(_SWEPT_TEXTS) >= SWEPT_TEXTS_KEPT:
                    _SWEPT_TEXTS.clear()
                got = _SWEPT_TEXTS[key] = (label, text, text.encode())
            o.book = -1
            o.status = OS_CANCELED
            self._finish(o)
            if self.metrics is not None:
                self.metrics.product_unfilled(o.symbol, got[0], left)
            outs.append(self._cancel_out(o, ts, got[2], got[1]))
        if self.md.by_book:
            self._publish(outs, ev, ev2)
        return outs

    def _ioc_accepted(self, ev: list[int], now_ns: int) -> tuple[Any, list[Out], bytes]:
        """What both IOC paths open with: the order of the ACCEPTED event `ev` (None if gone), the outputs
        so far (its ack, when `_accepted` makes one) and the TransactTime text."""
        self._fill_now = now_ns
        o = self.index.by_oid.get(ev[7])
        if o is None:
            return None, [], b""
        ts = self._stamp(now_ns)
        ack = self._accepted(o, ev[5], ev[11], ts)
        return o, ([] if ack is None else [ack]), ts

    def _cancel_out(self, o: Any, ts: bytes, text: bytes, text_str: str) -> Out:
        """A cancelled order's report (a client's cancel, an IOC's remainder) to its session: from
        `reports.cancelled_report`'s template under the usual builder, else by the builder in use."""
        report = self.exec_report
        body = (cancelled_report(o, self.ids.next_exec(), ts, text) if report is exec_report
                else report(o, _exec_id(self.ids, report), ET_CANCELED, ts, text=text_str))
        return _new(Out, (o.session, b"8", body))

    def _publish(self, outs: list[Out], ev: list[int], ev2: list[int]) -> None:
        """The market data of the books two events touched, added to `outs` (the caller has checked that
        anybody subscribes: no call at all on the usual path)."""
        touched = {b for b in (ev[5], ev2[5]) if b >= 0}
        if touched:
            outs.extend(Out(s, mt, body) for s, mt, body in self.md.publish(touched, []))

    def _accepted_alone(self, ev: list[int], now_ns: int) -> list[Out]:
        """`_reports` of one ACCEPTED event, a resting new order's usual answer: the same effects and
        reports without the general loop's set-up (benchmarks/README.md, "Order flow: the
        acknowledgement's own path"); `tests/orders/test_new_order_paths.py` checks both give the same."""
        self._fill_now = now_ns
        o = self.index.by_oid.get(ev[7])
        if o is None:
            return []
        ts = self._stamp(now_ns)
        book = ev[5]
        ack = self._accepted(o, book, ev[11], ts)
        outs = [] if ack is None else [ack]
        if book >= 0 and self.md.by_book:
            outs.extend(Out(s, mt, body) for s, mt, body in self.md.publish({book}, []))
        return outs

    def _cancelled_alone(self, ev: list[int], clordid: bytes, now_ns: int) -> list[Out]:
        """`_reports` of the one CANCELLED event a client's cancel (new ClOrdID `clordid`) gets: the
        same effects and reports without the general loop; its report from a template
        (`reports.cancelled_report`) under the usual builder."""
        self._fill_now = now_ns
        o = self.index.by_oid.get(ev[7])
        outs: list[Out] = []
        if o is not None and o.status not in DONE_STATUSES:
            ts = self._stamp(now_ns)
            self.index.rename(o, clordid)
            o.status = OS_CANCELED
            self._finish(o)
            outs.append(self._cancel_out(o, ts, b"", ""))
        book = ev[5]
        if book >= 0 and self.md.by_book:
            outs.extend(Out(s, mt, body) for s, mt, body in self.md.publish({book}, []))
        return outs

    def _stamp(self, now_ns: int) -> bytes:
        """TransactTime(60) text for `now_ns` on the one-event paths: kept per millisecond (its precision),
        and none at all under a replay's quiet reports, which never write it (see `_reports`)."""
        ms = now_ns // 1_000_000
        if ms == self._ts_ms:
            return self._ts
        if self.exec_report is quiet_report:
            return b""
        self._ts = ts = utc_timestamp(now_ns)
        self._ts_ms = ms
        return ts
