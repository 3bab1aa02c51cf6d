"""TradeCaptureReportRequest (AD) answered from the books of record: an AQ, then one AE per trade.

`answer(session, msg, flow, scope)` reads a snapshot request (SubscriptionRequestType
263 = 0 or absent; TradeRequestType 569 = 0 all trades or 1 matched trades, ours are all matched) for
one trading day (NoDates(580) = 1, TradeDate(75)) or an inclusive range (NoDates = 2), optionally
narrowed to one account (Parties: PartyID(448) with PartyRole(452) = 24 customer account), one
Symbol(55) and one Side(54). It answers TradeCaptureReportRequestAck (AQ: TradeRequestStatus 0 accepted
with TotNumTradeReports(748), or 2 rejected with TradeRequestResult(749) and a Text saying what to send
instead), then for an accepted request one TradeCaptureReport (AE) per trade in the order the trades
happened, the last with LastRptRequested(912)=Y. A session only sees the trades of its `scope`
(records.drop_copy.scopes: a drop-copy session its accounts, a trading session its own account).

A trade is one account's side of one fill as `records.ledger.Ledger` keeps it: TradeReportID(571) is
its number in the ledger, from 1 (stable: a journal replay rebuilds the same list, and the trading-day
roll only lets go of the oldest trades). Days the ledger has let go of are read from the trade archive
(`records.trade_archive`) when the caller gives one, so a past day is answered after the roll and after
a restart as before it. Quantities in lots of the
instrument, LastPx(31) in the instrument's quote currency and unit, SettlDate(64) the value date, and in
the side: GrossTradeAmt(381) the trade's value in its settlement currency (SettlCurrency(120), as
Currency(15)) to the currency's minor unit, half-even: the ExecutionReport's 381 for the same fill.

Not here: sockets, sessions, logging (the live app logs each request; a replay answers again, silently);
the request is journaled like any inbound message and changes no state.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from router.fix.codec import utc_timestamp
from router.orders.core_bridge import Out
from router.orders.index import units_text
from router.records.ledger import money_text
from router.records.trade_archive import TradeArchive, trades_of_days

__all__ = ["answer"]

# TradeRequestResult(749)
OK, BAD_INSTRUMENT, BAD_PARTIES, TYPE_NOT_SUPPORTED, UNAUTHORIZED, OTHER = 0, 1, 3, 8, 9, 99
# TradeRequestStatus(750)
ACCEPTED, REJECTED = 0, 2
_NA = b"[N/A]"          # Symbol(55) is required on AQ; a request for every instrument has none


class _Refused(Exception):
    def __init__(self, result: int, text: str) -> None:
        super().__init__(text)
        self.result = result
        self.text = text


def _day(raw: bytes) -> date:
    text = raw.decode("ascii", "replace")
    try:
        if len(text) != 8 or not text.isdigit():
            raise ValueError(text)
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise _Refused(OTHER, f"TradeDate(75) {text!r} is not a date (YYYYMMDD)") from None


def _request(msg: Any, scope: frozenset[str] | None, known_accounts: Any) -> tuple[date, date, str | None]:
    if (msg.get(263) or b"0") != b"0":
        raise _Refused(OTHER, "only snapshot requests are served (SubscriptionRequestType(263) 0): a drop-copy "
                              "session receives every execution report live")
    if msg.get(569) not in (b"0", b"1"):
        raise _Refused(TYPE_NOT_SUPPORTED, f"TradeRequestType(569) {(msg.get(569) or b'').decode()} not supported; "
                                           "supported: 0 (all trades), 1 (matched trades)")
    fields = msg.fields
    days = [_day(v) for t, v in fields if t == 75]
    if not days or len(days) > 2:
        raise _Refused(OTHER, "send the trading day as NoDates(580)=1 with TradeDate(75) YYYYMMDD "
                              "(or NoDates=2 for a first and last day)")
    first, last = days[0], days[-1]
    if last < first:
        raise _Refused(OTHER, f"the last TradeDate(75) {last:%Y%m%d} is before the first {first:%Y%m%d}")
    accounts = [v.decode("ascii", "replace") for i, (t, v) in enumerate(fields)
                if t == 448 and _role_after(fields, i) in (None, b"24")]
    account = None
    if len(accounts) > 1:
        raise _Refused(BAD_PARTIES, "name at most one account (PartyID(448) with PartyRole(452) 24)")
    if accounts:
        account = accounts[0]
        if account not in known_accounts:
            raise _Refused(BAD_PARTIES, f"unknown account {account!r}")
        if scope is not None and account not in scope:
            raise _Refused(UNAUTHORIZED, f"this session may see the trades of {', '.join(sorted(scope))} only")
    return first, last, account


def _role_after(fields: list, i: int) -> bytes | None:
    """PartyRole(452) of the party entry starting at field `i` (None when the entry has none)."""
    for t, v in fields[i + 1:]:
        if t == 452:
            return v
        if t == 448:
            return None
    return None


def _ack(msg: Any, status: int, result: int, count: int | None, text: str | None) -> list:
    body: list[tuple[int, Any]] = [(568, msg.get(568) or b"NONE"), (569, msg.get(569) or b"0")]
    if count is not None:
        body.append((748, count))
    body += [(749, result), (750, status), (55, msg.get(55) or _NA)]
    if text:
        body.append((58, text))
    return body


def answer(session: str, msg: Any, flow: Any, scope: frozenset[str] | None,
           archive: TradeArchive | None = None) -> list[Out]:
    """The AQ and AEs answering one TradeCaptureReportRequest from the order flow's books of record
    (`flow.fills`, a Ledger) and the trade archive; see the module docstring."""
    ledger = flow.fills
    if getattr(ledger, "trades", None) is None:
        return [Out(session, b"AQ", _ack(msg, REJECTED, OTHER, None, "no books of record in this router"))]
    try:
        first, last, account = _request(msg, scope, flow.accounts)
    except _Refused as why:
        return [Out(session, b"AQ", _ack(msg, REJECTED, why.result, None, why.text))]
    catalogue = flow.catalogue
    symbol = (msg.get(55) or b"").decode("ascii", "replace") or None
    if symbol is not None and symbol not in catalogue.instruments:
        text = f"Symbol(55) {symbol!r} is not an instrument; trades are kept per instrument (leave Symbol out for all)"
        return [Out(session, b"AQ", _ack(msg, REJECTED, BAD_INSTRUMENT, None, text))]
    side = int(msg.get(54)) if msg.get(54) in (b"1", b"2") else None
    chosen = [(n, t) for n, t in trades_of_days(ledger.trades, ledger.trades_dropped, first, last, archive)
              if (scope is None or t.account in scope)
              and (account is None or t.account == account) and (symbol is None or t.symbol == symbol)
              and (side is None or t.side == side)]
    req_id = msg.get(568) or b"NONE"
    outs = [Out(session, b"AQ", _ack(msg, ACCEPTED, OK, len(chosen), None))]
    for i, (n, t) in enumerate(chosen):
        instr = catalogue.instruments[t.symbol]
        body: list[tuple[int, Any]] = [
            (571, b"T%d" % n), (568, req_id), (748, len(chosen)), (912, b"Y" if i == len(chosen) - 1 else b"N"),
            (570, b"Y"), (55, t.symbol.encode()), (32, t.lots), (31, units_text(t.px, instr.price_decimals)),
            (30, t.venue.encode()), (75, t.trading_day.strftime("%Y%m%d").encode()),
            (60, utc_timestamp(t.now_ns)), (64, t.value_date.strftime("%Y%m%d").encode()),
            (552, 1), (54, t.side), (37, t.order_id.encode() if isinstance(t.order_id, str) else t.order_id),
            (1, t.account.encode()), (15, t.ccy.encode()),
            (381, money_text(t.value, t.ccy).encode()), (120, t.ccy.encode()),
        ]
        outs.append(Out(session, b"AE", body))
    return outs
