"""Trading status of each instrument over FIX and for the admin API: SecurityStatusRequest(e) in,
SecurityStatus(f) out, pushed again to subscribers when the status changes.

An instrument's status comes from its trading schedule (router.domain.calendar) at the time passed
in: the phase (auction, continuous, break, closed), the trading day it counts for, and when and into
what it next changes. It is published as

* SecurityTradingStatus(326): 17 ready to trade (continuous), 21 pre-open (call auction), 18 not
  available for trading (break or closed), 20 unknown or invalid (the date is past the holiday list);
* TradingSessionID(336): the instrument's schedule (e.g. `SGE_SPOT`), TradingSessionSubID(625): 2 opening
  auction, 3 continuous, 7 quiescent (break), absent when closed;
* GoldNextStatusTime(7015) / GoldNextTradingStatus(7016): when the status next changes and its 326 from
  then (absent when no change is known, e.g. with `--sessions-always-open`); Text(58) says it in words.

A request for a routable product or a group answers one SecurityStatus per member instrument. Every
entry point takes `now_ns`; `on_timer(now_ns)` returns the unsolicited (325=Y) SecurityStatus of the
subscribed instruments whose status changed since last sent, sets the
`goldrouter_instrument_trading_status` gauge of every instrument and records each one's status in
`seen`, from which a caller logs the changes (`changes_since`).

Not here: deciding whether an order may trade (the order flow asks `session_open` itself), sockets,
the clock, the SecurityList layout (`marketdata` asks `list_fields`).
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Callable, NamedTuple

from router.domain.calendar import SessionState
from router.domain.catalogue import Catalogue
from router.domain.reasons import Reason
from router.fix.codec import utc_timestamp
from router.orders.core_bridge import Out

READY, NOT_AVAILABLE, UNKNOWN, PRE_OPEN = 17, 18, 20, 21
_CODE = {SessionState.CONTINUOUS: READY, SessionState.AUCTION: PRE_OPEN, SessionState.BREAK: NOT_AVAILABLE,
         SessionState.CLOSED: NOT_AVAILABLE}
_SUB_ID = {SessionState.AUCTION: b"2", SessionState.CONTINUOUS: b"3", SessionState.BREAK: b"7"}
_WORDS = {READY: "ready to trade", PRE_OPEN: "pre-open (call auction)", NOT_AVAILABLE: "not available for trading",
          UNKNOWN: "unknown (date past the holiday calendar)"}


class Status(NamedTuple):
    symbol: str
    schedule: str
    phase: str                 # "continuous", "auction", "break", "closed", "calendar_unknown"
    code: int                  # SecurityTradingStatus(326)
    trading_day: date | None
    next_ns: int | None        # UTC ns of the next change, None if unknown
    next_phase: str | None
    next_code: int | None

    def text(self) -> str:
        out = f"{self.symbol} {self.phase} ({_WORDS[self.code]}), schedule {self.schedule}"
        if self.trading_day is not None:
            out += f", trading day {self.trading_day.isoformat()}"
        if self.next_ns is None:
            return out + ("; always open (sessions_always_open)" if self.schedule == "always_open"
                          else "; no change known")
        return out + f"; {self.next_phase} from {_iso(self.next_ns)}"

    def view(self) -> dict:
        return {"symbol": self.symbol, "schedule": self.schedule, "state": self.phase,
                "security_trading_status": self.code,
                "trading_day": self.trading_day.isoformat() if self.trading_day else None,
                "next_change": _iso(self.next_ns) if self.next_ns is not None else None,
                "next_state": self.next_phase, "text": self.text()}


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // 1_000_000_000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class TradingStatus:
    """Status queries and SecurityStatus subscriptions; see the module docstring."""

    def __init__(self, catalogue: Catalogue, session_open: Callable[[str, int], Any], calendars: Any,
                 metrics: Any = None) -> None:
        self.catalogue = catalogue
        self.metrics = metrics
        self.session_open = session_open
        self.calendars = calendars
        self.subs: dict[tuple[str, bytes], tuple[str, ...]] = {}
        # Each instrument's (326, phase, trading day) at the last timer tick: a caller compares a copy
        # taken before a tick (`changes_since`) to log what changed; the order flow itself does not log.
        self.seen: dict[str, tuple] = {}
        self.sent: dict[tuple[str, bytes, str], tuple] = {}

    # -- queries ------------------------------------------------------------------------------
    def status(self, symbol: str, now_ns: int) -> Status:
        i = self.catalogue.instruments[symbol]
        state = self.session_open(symbol, now_ns)
        if state is True or self.calendars is None:
            return Status(symbol, "always_open", "continuous", READY, None, None, None, None)
        cal = self.calendars
        if state is Reason.CALENDAR_UNKNOWN:
            return Status(symbol, i.schedule, "calendar_unknown", UNKNOWN, None, None, None, None)
        nxt = cal.next_change(i.schedule, now_ns)
        next_phase = next_code = None
        if nxt is not None:
            if cal.covers(i.schedule, nxt):
                st = cal.session_state(i.schedule, nxt)
                next_phase, next_code = st.value, _CODE[st]
            else:
                next_phase, next_code = "calendar_unknown", UNKNOWN
        return Status(symbol, i.schedule, state.value, _CODE[state], cal.trading_day(i.schedule, now_ns), nxt,
                      next_phase, next_code)

    def view(self, now_ns: int) -> list[dict]:
        """Every instrument's status now (for `GET /status`)."""
        return [self.status(i.symbol, now_ns).view() for i in self.catalogue.by_book()]

    def list_fields(self, symbol: str, now_ns: int) -> list[tuple[int, Any]]:
        """The status fields of an instrument's SecurityList entry."""
        s = self.status(symbol, now_ns)
        return [(326, s.code), (336, s.schedule)]

    # -- FIX ------------------------------------------------------------------------------------
    def request(self, session: str, msg: Any, now_ns: int) -> list[Out]:
        req_id = msg.get(324) or b""
        symbol = (msg.get(55) or b"").decode("ascii", "replace")
        kind = msg.get(263)
        cat = self.catalogue
        key = (session, req_id)
        if kind == b"2":
            if self.subs.pop(key, None) is None:
                return [_reject(session, msg, f"no active status subscription with SecurityStatusReqID "
                                              f"{req_id.decode(errors='replace')}")]
            self._forget(key)
            return []
        if symbol in cat.instruments:
            members: tuple[str, ...] = (symbol,)
        elif symbol in cat.products:
            members = tuple(cat.groups[cat.products[symbol].group].members)
        elif symbol in cat.groups:
            members = tuple(cat.groups[symbol].members)
        else:
            return [_reject(session, msg, f"unknown instrument, group or product {symbol!r}", reason=2)]
        if kind == b"1":
            if key in self.subs:
                return [_reject(session, msg, "SecurityStatusReqID already names an active subscription")]
            self.subs[key] = members
        out = []
        for m in members:
            s = self.status(m, now_ns)
            if kind == b"1":
                self.sent[(session, req_id, m)] = (s.code, s.phase, s.trading_day)
            out.append(Out(session, b"f", self._body(req_id, s, now_ns, False)))
        return out

    def on_timer(self, now_ns: int) -> list[Out]:
        cache: dict[str, Status] = {}
        for i in self.catalogue.by_book():
            s = cache[i.symbol] = self.status(i.symbol, now_ns)
            if self.metrics is not None:
                self.metrics.set_trading_status(i.symbol, s.code)
            self.seen[i.symbol] = (s.code, s.phase, s.trading_day)
        if not self.subs:
            return []
        out = []
        for (session, req_id), members in self.subs.items():
            for m in members:
                s = cache.get(m)
                if s is None:
                    s = cache[m] = self.status(m, now_ns)
                now = (s.code, s.phase, s.trading_day)
                k = (session, req_id, m)
                if self.sent.get(k) != now:
                    self.sent[k] = now
                    out.append(Out(session, b"f", self._body(req_id, s, now_ns, True)))
        return out

    def changes_since(self, before: dict[str, tuple], now_ns: int) -> list[str]:
        """One line per instrument whose status at the last tick differs from `before` (a copy of
        `seen` taken earlier; all of them on the first tick)."""
        return [f"trading status {self.status(symbol, now_ns).text()}"
                for symbol, now in self.seen.items() if before.get(symbol) != now]

    def drop_session(self, session: str) -> None:
        for key in [k for k in self.subs if k[0] == session]:
            del self.subs[key]
            self._forget(key)

    def _forget(self, key: tuple[str, bytes]) -> None:
        for k in [k for k in self.sent if k[:2] == key]:
            del self.sent[k]

    @staticmethod
    def _body(req_id: bytes, s: Status, now_ns: int, unsolicited: bool) -> list[tuple[int, Any]]:
        body: list[tuple[int, Any]] = []
        if req_id:
            body.append((324, req_id))
        body += [(55, s.symbol), (7007, b"N"), (336, s.schedule)]
        sub = _SUB_ID.get(SessionState(s.phase)) if s.phase in ("auction", "continuous", "break") else None
        if sub is not None:
            body.append((625, sub))
        body += [(325, b"Y" if unsolicited else b"N"), (326, s.code), (60, utc_timestamp(now_ns)), (58, s.text())]
        if s.next_ns is not None:
            body += [(7015, utc_timestamp(s.next_ns)), (7016, s.next_code)]
        return body


def _reject(session: str, msg: Any, text: str, reason: int = 0) -> Out:
    """BusinessMessageReject(j) for a status request that cannot be answered (380: 0 other, 2 unknown security)."""
    body: list[tuple[int, Any]] = [(45, msg.get(34) or b"0"), (372, b"e")]
    ref = msg.get(324)
    if ref:
        body.append((379, ref))
    return Out(session, b"j", body + [(380, reason), (58, text)])


__all__ = ["TradingStatus", "Status", "READY", "NOT_AVAILABLE", "UNKNOWN", "PRE_OPEN"]
