"""What a fill report says about the trade itself: its value and its metal, in the traded book's own terms.

Every fill (an order on an instrument, or one child of a routable product) carries:
- GrossTradeAmt(381): price x quantity in the book's settlement currency, SettlCurrency(120). It is an
  exact decimal computed from the integer price units, the lots and the lot size (e.g. 10 lots of 100
  taels at HKD 22,300.00 = 22300000.00); only a book quoted in another currency than it settles in
  converts at the router's FX, rounded once, half-even, to the cent;
- GoldGrossQty(7017) and GoldGrossQtyUnit(7018): the quantity in the book's own unit, lots x lot size
  (taels for the tael book, grams for gram books, fine troy ounces for loco London).
- GoldVault(7002) and GoldBarForm(7003): where the metal is (the vault a sell takes it from, or a buy's
  delivery vault) and in what bars.
A product fill also names the instrument (7008) and its own price (Text), since its LastQty/LastPx are
fine grams and the product's currency per fine gram.

Also the Text for the part of a product order no book can take (below one lot of every candidate
book, or of the book its remainder would rest on).

Not here: the fill's accounting (orders.funds), quota (orders.quota_use), the rest of the report
(orders.index.exec_report).
"""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from router.domain.catalogue import Catalogue, Instrument
from router.domain.convert import PRECISION, Fx
from router.orders.index import GOLD_BAR_FORM, GOLD_ROUTED_INSTRUMENT, GOLD_VAULT, TEXT, micro_text, units_text
from router.orders.marketdata import BAR_FORM_FIX, PRICE_UNIT_FIX

SETTL_CURRENCY, GROSS_TRADE_AMT, GOLD_GROSS_QTY, GOLD_GROSS_QTY_UNIT = 120, 381, 7017, 7018
_CENT = Decimal("0.01")


def _scaled(d: Decimal) -> tuple[int, int]:
    """(n, places) with d == n / 10**places and places >= 0."""
    sign, digits, exp = d.as_tuple()
    n = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    if exp >= 0:
        return n * 10 ** exp, 0
    return n, -exp


def decimal_text(n: int, places: int, min_places: int = 0) -> bytes:
    """n / 10**places as a plain decimal with at least `min_places` places (trailing zeros beyond kept off)."""
    while places > min_places and n % 10 == 0:
        n //= 10
        places -= 1
    if places < min_places:
        n *= 10 ** (min_places - places)
        places = min_places
    return units_text(n, places)


class _BookTerms:
    __slots__ = ("lot_n", "lot_places", "price_places", "ccy", "quote_ccy", "unit", "bar")

    def __init__(self, i: Instrument) -> None:
        self.lot_n, self.lot_places = _scaled(i.lot_size)
        self.price_places = i.price_decimals
        self.ccy = i.settlement_ccy
        self.quote_ccy = i.quote_ccy
        self.unit = PRICE_UNIT_FIX[i.quote_unit].encode()
        self.bar = BAR_FORM_FIX.get(i.bar_form, i.bar_form).encode()


class FillReport:
    """The per-book terms of the trade-value fields, built once per catalogue."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.books = catalogue.by_book()
        self._terms = [_BookTerms(i) for i in self.books]
        self._fine = [i.lot_fine_micrograms for i in self.books]

    def gross_amount(self, book: int, px: int, lots: int, fx: Fx) -> tuple[bytes, str]:
        """GrossTradeAmt text and its currency: exact in the quote currency, converted only when the
        book settles in another one."""
        t = self._terms[book]
        n, places = px * lots * t.lot_n, t.price_places + t.lot_places
        if t.ccy == t.quote_ccy:
            return decimal_text(n, places, 2), t.ccy
        with localcontext(PRECISION):
            amount = Decimal(n).scaleb(-places) * fx.per_usd(t.ccy) / fx.per_usd(t.quote_ccy)
            amount = amount.quantize(_CENT, rounding=ROUND_HALF_EVEN)
        return str(amount).encode(), t.ccy

    def gross_qty(self, book: int, lots: int) -> bytes:
        t = self._terms[book]
        return decimal_text(lots * t.lot_n, t.lot_places)

    def fields(self, book: int, px: int, lots: int, fx: Fx) -> list[tuple[int, bytes]]:
        """GrossTradeAmt, SettlCurrency, GoldGrossQty, GoldGrossQtyUnit and GoldBarForm of one fill (the
        vault depends on the order: `vault_field`)."""
        amount, ccy = self.gross_amount(book, px, lots, fx)
        t = self._terms[book]
        return [(GROSS_TRADE_AMT, amount), (SETTL_CURRENCY, ccy.encode()),
                (GOLD_GROSS_QTY, self.gross_qty(book, lots)), (GOLD_GROSS_QTY_UNIT, t.unit), (GOLD_BAR_FORM, t.bar)]

    def fields_wire(self, book: int, px: int, lots: int, fx: Fx) -> bytes:
        """`fields`, encoded as an ExecutionReport carries them (b"<SOH>tag=value" each, same order)."""
        amount, ccy = self.gross_amount(book, px, lots, fx)
        t = self._terms[book]
        return b"\x01381=%b\x01120=%b\x017017=%b\x017018=%b\x017003=%b" % (
            amount, ccy.encode(), self.gross_qty(book, lots), t.unit, t.bar)

    @staticmethod
    def vault_wire(vault: str) -> bytes:
        """`vault_field`, encoded."""
        return b"\x017002=" + vault.encode()

    def product_wire(self, book: int, text: bytes) -> bytes:
        """`product_fields`, encoded."""
        return b"\x0158=" + text + b"\x017008=" + self.books[book].symbol.encode()

    @staticmethod
    def vault_field(vault: str) -> tuple[int, bytes]:
        return (GOLD_VAULT, vault.encode())

    def product_fields(self, book: int, text: bytes) -> list[tuple[int, Any]]:
        """A product fill: the instrument that traded and its own price (Text)."""
        return [(TEXT, text), (GOLD_ROUTED_INSTRUMENT, self.books[book].symbol)]

    def unfilled(self, amount_ug: int, candidates: Any, rest_book: int | None = None) -> tuple[str, str]:
        """Why `amount_ug` fine micrograms of a product order are not filled, as (metric label, Text): below
        one lot of the book the remainder would rest on or of every book the order could reach
        (`below_one_lot`), or nothing left to trade with within the limit (`no_liquidity`)."""
        grams = micro_text(amount_ug).decode()
        if rest_book is not None and rest_book >= 0:
            i = self.books[rest_book]
            return "below_one_lot", (f"{grams} g fine not filled: below one lot of {i.symbol} "
                                     f"({micro_text(self._fine[rest_book]).decode()} g fine), where the order rests")
        books = sorted({c.book_id for c in candidates or ()}, key=lambda b: self._fine[b])
        if books and amount_ug < self._fine[books[0]]:
            i = self.books[books[0]]
            return "below_one_lot", (f"{grams} g fine not filled: below one lot of every book it could reach "
                                     f"(smallest: {i.symbol}, {micro_text(self._fine[books[0]]).decode()} g fine)")
        return "no_liquidity", f"{grams} g fine not filled: nothing more to trade with within the limit"


__all__ = ["FillReport", "decimal_text", "GROSS_TRADE_AMT", "SETTL_CURRENCY", "GOLD_GROSS_QTY",
           "GOLD_GROSS_QTY_UNIT"]
