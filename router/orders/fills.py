"""What the order flow tells the books of record about each fill: the `Fill` value and the small
`FillObserver` protocol a post-trade ledger implements.

The order flow calls `observer.on_fill(fill, account)` once per account per fill, inside the
deterministic command path (after the core matched, before the ExecutionReport is built), with every
figure already in integers: the value and fee in micro-units of the settlement currency, the metal in
gross micrograms, the time passed in. A full-payment fill has already moved its cash and metal on
the `Account` when the observer hears of it; a margined fill (`margined`) has moved nothing: the
observer holds or releases margin, charges the fee and realises P&L on the account itself, because
only it knows the position the fill opens or closes. For the same reason the flow asks it whether a
new order may open a margined position while its account is under a margin call.

Not here: the ledger (router.records.ledger), netting, anything about how a fill was matched.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Protocol


class Fill(NamedTuple):
    """One account's side of one trade on one instrument."""

    account: str
    symbol: str              # the instrument that traded (a product order's child book)
    side: int                # 1 buy, 2 sell
    lots: int
    px: int                  # the instrument's integer price units
    value: int               # px x lots in micro-units of the settlement currency
    fee: int                 # micro-units of the settlement currency
    ccy: str                 # settlement currency
    vault: str
    gross_ug: int            # gross metal, micrograms
    margined: bool
    direction: str           # "northbound", "southbound" or "domestic"
    order_id: str
    now_ns: int
    value_cny: int = 0       # the value in micro-CNY at the router's FX, as the cross-border quota counts it


class FillObserver(Protocol):
    margin_calls: Any        # truthy while any account is under a margin call

    def on_fill(self, fill: Fill, account: Any) -> None:
        """Record the fill; for a margined one, move the account's cash (margin, fee, realised P&L)."""

    def position_lots(self, account: str, symbol: str) -> int:
        """Signed lots of the account's open position in a margined instrument (0 when none)."""

    def opening_blocked(self, account: str, symbol: str, side: int, lots: int) -> str | None:
        """The text refusing an order that would open or add to a margined position of an account under
        a margin call; None when the order may go on."""


__all__ = ["Fill", "FillObserver"]
