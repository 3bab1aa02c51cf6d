"""Which FIX values of an order's enumerated tags this router supports, and the Text when it does not.

Job: the dictionary accepts every FIX 4.4 value of Side(54), OrdType(40), TimeInForce(59),
ExecInst(18) and MassCancelRequestType(530), and any well-formed value of the gold tags
GoldSettlCcy(7001), GoldBarForm(7003), GoldSettlCycle(7004) and GoldAllowedVenues(7005) (they
carry no enumeration there), so an OMS gets an ExecutionReport reject carrying its ClOrdID rather
than a session Reject. `unsupported_value` checks one NewOrderSingle's values against what this
router supports and returns the Text that names the tag, the value and the supported values in
FIX terms ("OrdType(40) 3 not supported; supported: 1 (market), 2 (limit)"), or None. It also
rejects a GoldRoutable(7007) that contradicts Symbol(55).

Not here: malformed input (wrong type, missing tag: the session layer's validator), whether a
supported value fits the chosen books (routing), building the report (`index.reject_report`).
"""
from __future__ import annotations

from typing import Callable, Iterable

from router.orders.core_books import TIFS
from router.orders.marketdata import BAR_FORM_FIX, CYCLE_FIX

SIDES = {b"1": "buy", b"2": "sell"}
ORD_TYPES = {b"1": "market", b"2": "limit"}
TIF_NAMES = {b"0": "day", b"1": "good till cancel", b"3": "immediate or cancel", b"4": "fill or kill",
             b"6": "good till date"}
assert set(TIF_NAMES) == set(TIFS), "TIF_NAMES must name exactly the time in force values the core supports"
# Accepted as before (the dictionary listed exactly these); the router does not act on them.
EXEC_INSTS = {b"6": "participate don't initiate", b"E": "do not increase", b"F": "do not reduce"}
MASS_CANCEL_TYPES = {b"1": "cancel orders for a security", b"7": "cancel all orders"}
BAR_FORMS = {v.encode(): k for k, v in BAR_FORM_FIX.items()} | {b"ANY": "any form the contract delivers"}
CYCLES = {v.encode(): k for k, v in CYCLE_FIX.items()}
NO_GOLD_TAGS = (None, None, None, None, None)      # an order without any of the gold tags 7001..7005


def supported_text(names: dict[bytes, str]) -> str:
    """`1 (market), 2 (limit)`: the supported values with their meanings."""
    return ", ".join(f"{k.decode()} ({v})" for k, v in names.items())


def not_supported(name: str, tag: int, value: bytes, names: dict[bytes, str] | Iterable[str]) -> str:
    shown = value.decode("ascii", "replace")[:32]
    listed = supported_text(names) if isinstance(names, dict) else ", ".join(names)
    return f"{name}({tag}) {shown} not supported; supported: {listed}"


class OrderValues:
    """The supported values of one catalogue (currencies and venues come from it)."""

    def __init__(self, currencies: Iterable[str], venues: Iterable[str]) -> None:
        self.currencies = tuple(sorted(set(currencies)))
        self.venues = tuple(sorted(set(venues)))
        self._ccy = frozenset(c.encode() for c in self.currencies)
        self._venues = frozenset(v.encode() for v in self.venues)

    def unsupported_value(self, g: Callable[[bytes], bytes | None], is_product: bool,
                          gold: tuple | None = None) -> str | None:
        """The Text rejecting this order's first unsupported value, or None (`g` reads a tag's value;
        `gold`, when the caller read them already, is the values of tags 7001..7005 in order)."""
        side = g(b"54")
        if side not in SIDES:
            return not_supported("Side", 54, side or b"", SIDES)
        ord_type = g(b"40")
        if ord_type not in ORD_TYPES:
            return not_supported("OrdType", 40, ord_type or b"", ORD_TYPES)
        tif = g(b"59")
        if tif is not None and tif not in TIF_NAMES:
            return not_supported("TimeInForce", 59, tif, TIF_NAMES)
        inst = g(b"18")
        if inst:
            bad = next((v for v in inst.split(b" ") if v not in EXEC_INSTS), None)
            if bad is not None:
                return not_supported("ExecInst", 18, bad, EXEC_INSTS)
        routable = g(b"7007")
        if routable is not None and (routable == b"Y") != is_product:
            symbol = (g(b"55") or b"").decode("ascii", "replace")
            kind = "a routable product" if is_product else "an instrument"
            return (f"GoldRoutable(7007) {routable.decode()} contradicts Symbol(55) {symbol}, which is {kind} "
                    f"(send 7007={'Y' if is_product else 'N'} or omit it)")
        if gold is None:
            gold = (g(b"7001"), None, g(b"7003"), g(b"7004"), g(b"7005"))
        elif gold == NO_GOLD_TAGS:
            return None
        ccy, _vault, bar, cycle, venues = gold
        if ccy is not None and ccy not in self._ccy:
            return not_supported("GoldSettlCcy", 7001, ccy, self.currencies)
        if bar is not None and bar not in BAR_FORMS:
            return not_supported("GoldBarForm", 7003, bar, [k.decode() for k in BAR_FORMS])
        if cycle is not None and cycle not in CYCLES:
            return not_supported("GoldSettlCycle", 7004, cycle, [k.decode() for k in CYCLES])
        if venues is not None:
            bad = next((v for v in venues.split(b" ") if v not in self._venues), None)
            if bad is not None:
                return not_supported("GoldAllowedVenues", 7005, bad, self.venues)
        return None


__all__ = ["OrderValues", "not_supported", "supported_text", "SIDES", "ORD_TYPES", "TIF_NAMES",
           "EXEC_INSTS", "MASS_CANCEL_TYPES", "BAR_FORMS", "CYCLES", "NO_GOLD_TAGS"]
