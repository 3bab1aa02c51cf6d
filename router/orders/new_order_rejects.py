"""How a refused new order is answered: the values `OrderFlow.new_order` returns when it says no.

`NewOrderRejects` (a mixin of `OrderFlow`, using its ids, metrics, router, risk, accounts, catalogue
and calendars) makes the ExecutionReport reject carrying the order's ClOrdID and counts it by reason
(`_reject_new`), reads a quantity or price the fast path did not take exactly or refuses it naming
the unit or the tick (`_slow_qty`, `_slow_price`), and writes the precise Text of a routing refusal:
the risk limit, the price collar band, or each excluded book with its own detail (`_why`). `business_reject` builds a
BusinessMessageReject(j) for requests that cannot get an ExecutionReport.

Not here: deciding whether to refuse (the checks stay in `router.orders.flow`, routing and risk in
`router.orders.routing` / `router.orders.risk`), the reject report's FIX layout (`router.orders.reports`),
sockets, the clock (`now_ns` is passed in).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from router.domain.catalogue import Instrument
from router.domain.reasons import Reason
from router.fix.codec import utc_timestamp
from router.orders.core_bridge import Out
from router.orders.index import decimal_to_units, micro_text, parse_decimal, text_of as _s, units_text
from router.orders.funds import metal_need
from router.orders.marketdata import BAR_FORM_FIX, CYCLE_FIX
from router.orders.reports import reject_report
from router.orders.risk import collar_band
from router.orders.routing import RouteDecision

__all__ = ["NewOrderRejects", "business_reject"]


class NewOrderRejects:
    """Mixin of `OrderFlow`: the answers to refused new orders (see the module docstring)."""

    def _reject_new(self, session: str, msg: Any, now_ns: int, reason: Reason, text: str,
                    account: str = "", explain: bytes = b"") -> list[Out]:
        if self.metrics is not None:
            self.metrics.order_rejected(reason.label)
        body = reject_report(self.ids.next_exec(), utc_timestamp(now_ns), msg.get(11) or b"NONE", account,
                             msg.get(55) or b"", msg.get(54) or b"", msg.get(38) or b"", msg.get(40) or b"",
                             reason, text, explain)
        return [Out(session, b"8", body)]

    def _slow_qty(self, session: str, msg: Any, now_ns: int, raw: bytes | None, lots: bool,
                  account: str) -> int | list[Out]:
        """The exact Decimal reading of an OrderQty(38) the fast path did not take: a whole number of
        lots (`lots`) or fine grams, or the rejection."""
        qty_d = parse_decimal(raw)
        unit = "lots" if lots else "fine grams"
        if qty_d is None or qty_d <= 0:
            return self._reject_new(session, msg, now_ns, Reason.BAD_QTY,
                                    f"OrderQty(38) {_s(raw)!r} must be a positive number of {unit}", account)
        if qty_d != qty_d.to_integral_value():
            return self._reject_new(session, msg, now_ns, Reason.LOT_ROUNDING,
                                    f"OrderQty(38) {qty_d} is not a whole number of {unit}", account)
        return int(qty_d)

    def _slow_price(self, session: str, msg: Any, now_ns: int, raw: bytes | None, decimals: int,
                    instr: Instrument | None, symbol: str, account: str) -> int | list[Out]:
        """The exact Decimal reading of a price the fast path did not take: units, or the rejection."""
        price_d = parse_decimal(raw)
        if price_d is None or price_d <= 0:
            return self._reject_new(session, msg, now_ns, Reason.BAD_PRICE,
                                    f"limit order needs a positive Price(44), got {_s(raw)!r}", account)
        price = decimal_to_units(price_d, decimals)
        if price is None or (instr is not None and price % instr.tick_units):
            tick = instr.tick if instr is not None else Decimal(1).scaleb(-decimals)
            return self._reject_new(session, msg, now_ns, Reason.BAD_PRICE,
                                    f"price {price_d} is not a multiple of the tick {tick} on {symbol}", account)
        return price

    def _why(self, d: RouteDecision, qty: int, price: int | None) -> str:
        """A precise Text for a routing rejection: the reason plus each excluded book's detail."""
        reason = d.reason
        books = self.router.books()
        acct = self.accounts.get(d.request.account)
        if acct is not None:
            text = self.risk.limit_text(reason, acct, d.qty_ug, d.notional_cny)
            if text is not None:
                return text
        if reason is Reason.PRICE_COLLAR and d.candidates and self.risk.config.collar_bp is not None:
            b = books[d.candidates[0].symbol]
            i, bp = b.instr, self.risk.config.collar_bp
            lo, hi = collar_band(b.ref, bp)
            return (f"{reason.text}: {Decimal(bp) / 100:f} % around the reference "
                    f"{units_text(b.ref, i.price_decimals).decode()} {i.quote_ccy} per {i.quote_unit.replace('_', ' ')} "
                    f"on {i.symbol}, "
                    f"{units_text(lo, i.price_decimals).decode()}..{units_text(hi, i.price_decimals).decode()}")
        if not d.excluded:
            return f"{reason.text} ({d.request.symbol})"
        parts = []
        for e in d.excluded:
            parts.append(f"{e.symbol}: {self._exclusion_detail(d, e, books[e.symbol], acct)}")
        return f"{reason.text}: " + "; ".join(parts)

    def _exclusion_detail(self, d: RouteDecision, e: Any, b: Any, acct: Any) -> str:
        """One excluded book's part of a routing refusal's Text: its reason with that book's own values."""
        i = b.instr
        detail = e.reason.text
        if e.reason is Reason.PRICE_LIMIT:
            hi = "none" if b.hi is None else units_text(b.hi, i.price_decimals).decode()
            detail = (f"price outside the daily limit {units_text(b.lo, i.price_decimals).decode()}.."
                      f"{hi} {i.quote_ccy}")
        elif e.reason is Reason.LOTS_OUT_OF_RANGE and d.request.symbol in self.catalogue.products:
            detail = (f"quantity below {i.min_lots} lot(s) of {i.lot_size} {i.quote_unit} "
                      f"({micro_text(i.lot_fine_micrograms).decode()} g fine each)")
        elif e.reason is Reason.LOTS_OUT_OF_RANGE:
            detail = f"quantity outside {i.min_lots}..{i.max_lots} lots of {i.lot_size} {i.quote_unit}"
        elif e.reason is Reason.LOT_ROUNDING:
            detail = f"quantity not a whole number of {i.lot_grams} g lots"
        elif e.reason in (Reason.INSUFFICIENT_CASH, Reason.INSUFFICIENT_MARGIN, Reason.CURRENCY_NOT_HELD,
                          Reason.SETTL_CCY_MISMATCH):
            detail = f"{e.reason.text} ({i.settlement_ccy})"
        elif e.reason is Reason.INSUFFICIENT_METAL:
            # Holdings are per vault and bar form: say which form, and where, the sale needed.
            req = d.request
            ug = None if req.symbol in self.catalogue.products else req.qty * i.lot_micrograms
            detail = (f"insufficient free metal "
                      f"({metal_need(i.bar_form, req.constraints.vault or ' or '.join(i.vaults), ug)})")
        elif e.reason is Reason.VAULT_MISMATCH:
            detail = f"{e.reason.text} (delivers in {', '.join(i.vaults)})"
        elif e.reason is Reason.BAR_FORM_MISMATCH:
            detail = f"{e.reason.text} (delivers {BAR_FORM_FIX.get(i.bar_form, i.bar_form)})"
        elif e.reason is Reason.SETTL_CYCLE_MISMATCH:
            detail = f"{e.reason.text} (settles {CYCLE_FIX.get(i.settlement_cycle, i.settlement_cycle)})"
        elif e.reason is Reason.SESSION_CLOSED:
            detail = f"trading session closed (schedule {i.schedule})"
        elif e.reason is Reason.FX_STALE:
            needs = self.router.fx_costs.needs(d.request.symbol, e.symbol, acct.funding_ccy if acct else None)
            detail = (f"converts with {', '.join('USD' + c for c in sorted(needs))}, not all updated within "
                      f"fx.max_age_s = {self.fx_settings.max_age_s} s")
        elif e.reason is Reason.CALENDAR_UNKNOWN and self.calendars is not None:
            cal = self.calendars.calendar_name(i.schedule)
            detail = (f"{cal} holiday calendar ends {self.calendars.covered_until(i.schedule).isoformat()}; "
                      f"extend calendars.{cal}.holidays and covers_until in config")
        return detail


def business_reject(session: str, msg: Any, reason: int, text: str) -> Out:
    """BusinessMessageReject(j): 380 = 0 other, 3 unsupported message type, 5 required field missing."""
    body = [(45, msg.get(34) or b"0"), (372, msg.msg_type)]
    ref = msg.get(11) or msg.get(262) or msg.get(320)
    if ref:
        body.append((379, ref))
    body += [(380, reason), (58, text)]
    return Out(session, b"j", body)
