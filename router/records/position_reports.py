"""RequestForPositions (AN) in, PositionReport (AP) out: the requesting account's open positions in
margined contracts from the books of record.

One AP per open position (TotalNumPosReports says how many), each with the instrument, its settlement
currency, the mark price (SettlPriceType 1 when it is a settlement price, 2 when it is the last trade),
the quantity in lots as LongQty or ShortQty (PosType `TQ`, GoldQtyUnit `LOT`), realised P&L (PosAmtType
`TVAR`) and unrealised P&L (`IMTM`) in the settlement currency, and the margin held (GoldMarginHeld).
A request for an account the session does not own gets one AP with PosReqResult 3, an unsupported
PosReqType one with 1, and an account with no open position one with 2. Symbol(55), when given,
narrows the report to that instrument. Nothing here changes state.

Not here: the ledger (records.ledger), sockets, the clock (time is passed in).
"""
from __future__ import annotations

from typing import Any

from router.domain.reasons import Reason
from router.fix.codec import utc_timestamp
from router.records.ledger import Ledger

AP = b"AP"


def _text(raw: Any) -> str:
    return raw.decode("ascii", "replace") if isinstance(raw, bytes) else (raw or "")


def position_reports(ledger: Ledger, accounts: Any, session: str, msg: Any, now_ns: int) -> list[tuple[bytes, list]]:
    """The AP answers to one AN from `session`, as (msg_type, body) pairs."""
    req_id = msg.get(710) or b"NONE"
    business_date = msg.get(715) or utc_timestamp(now_ns)[:8]
    name = _text(msg.get(1))
    head = [(721, req_id + b"-0"), (710, req_id), (724, msg.get(724) or b"0")]

    def single(result: int, text: str) -> list[tuple[bytes, list]]:
        return [(AP, head + [(727, 0), (728, result), (715, business_date), (1, name or "NONE"), (581, 1),
                             (58, text)])]

    acct = accounts.resolve(session, name)
    if isinstance(acct, Reason):
        return single(3, f"account {name or '(none)'} is not one of this session's accounts")
    if msg.get(724) not in (None, b"0"):
        return single(1, "only PosReqType 0 (positions) is supported")
    symbol = _text(msg.get(55)) or None
    view = ledger.positions_view(acct)
    rows = [p for p in view["positions"] if p["lots"] and (symbol is None or p["symbol"] == symbol)]
    if not rows:
        return single(2, f"no open position{' in ' + symbol if symbol else ''} for {acct.name}")
    out = []
    for n, p in enumerate(rows, 1):
        qty = (704, p["lots"]) if p["lots"] > 0 else (705, -p["lots"])
        body = [(721, req_id + b"-%d" % n), (710, req_id), (724, 0), (727, len(rows)), (728, 0),
                (715, business_date), (1, acct.name), (581, 1), (55, p["symbol"]), (15, p["currency"])]
        if p["mark_price"] is not None:
            body += [(730, p["mark_price"]), (731, 1 if p["mark_source"] == "settlement" else 2)]
        body += [(702, 1), (703, "TQ"), qty, (753, 2), (707, "TVAR"), (708, p["realised_pnl"]),
                 (707, "IMTM"), (708, p["unrealised_pnl"]), (7020, p["margin_held"]), (7009, "LOT")]
        out.append((AP, body))
    return out


__all__ = ["position_reports"]
