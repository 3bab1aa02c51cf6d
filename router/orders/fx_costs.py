"""What FX means for routing, for one FX state: which rates routing a symbol to a book converts with,
and what an account's funding currency costs to convert into a book's settlement currency.

`FxCosts.needs(symbol, book, funding)`: the currencies whose USD rate the router converts with when it
sends an order for `symbol` (an instrument or a routable product) to `book` — the book's quote and
settlement currency, CNY (limits and quota count in CNY), the product's currency and the account's
funding currency; none when they are all one currency (`router.domain.fx_quotes.needed_ccys`). The
router excludes the book `fx_stale` when one of them is stale.
`FxCosts.funding_ppm(funding, settlement)`: half the bid/ask spread of each leg via USD, in ppm, added
to a buy's all-in price (taken off a sell's). Both are cached per key; a new FX state makes a new object.

Not here: the staleness clock (time is passed to `fx_quotes.stale_ccys` by the router), HTTP, metrics.
"""
from __future__ import annotations

from router.domain.catalogue import Catalogue
from router.domain.convert import Fx
from router.domain.fx_quotes import half_spread_ppm, needed_ccys


class FxCosts:
    def __init__(self, fx: Fx, catalogue: Catalogue) -> None:
        self.fx = fx
        self.catalogue = catalogue
        self._needs: dict[tuple[str, str, str | None], frozenset[str]] = {}
        self._ppm: dict[tuple[str, str], int] = {}

    def needs(self, symbol: str, book: str, funding: str | None) -> frozenset[str]:
        key = (symbol, book, funding)
        got = self._needs.get(key)
        if got is None:
            i = self.catalogue.instruments[book]
            product = self.catalogue.products.get(symbol)
            got = self._needs[key] = needed_ccys((i.quote_ccy, i.settlement_ccy, "CNY", funding,
                                                  product.price_ccy if product is not None else None))
        return got

    def funding_ppm(self, funding: str, settlement_ccy: str) -> int:
        got = self._ppm.get((funding, settlement_ccy))
        if got is None:
            got = self._ppm[(funding, settlement_ccy)] = half_spread_ppm(self.fx, funding, settlement_ccy)
        return got
