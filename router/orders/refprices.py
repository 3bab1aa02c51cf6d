"""Run-time reference prices: the centre of each instrument's daily price band and risk collar.

The configured `reference_price` of an instrument is only the starting value. `ReferencePrices`
(a mixin of `OrderFlow`) sets new references as one all-or-nothing operation with time passed in:
the matching core's daily limit (Op.SET_REF_PRICE, on the numba engine and the reference book
alike), the router's precomputed band, collar reference and no-quote ranking (`Router.set_reference`,
which drops its caches) move together. A change of more than `reference.max_jump_pct` is refused
unless forced; unknown symbols, non-positive and off-tick prices are refused with a specific reason.
At an instrument's trading-day roll (`on_timer`) the reference becomes, for a margined instrument
(SGE T+D, HKGX.LLG), the settlement price posted for the day that ended (source "settlement": the
venue measures a deferred contract's daily limit from the previous settlement); else, or without
one, the last trade price of that day, if the book traded (source "last_trade"); otherwise the old
one stays. Settlement prices reach the flow from the books' journaled end-of-day command
(`records.books_commands`, `note_settlement_price`), so a replay rolls to the same reference.

Not here: HTTP parsing (router/ops/admin.py), the clock, the journal, the books of record.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Mapping, NamedTuple

from matching import Op, commands
from router.domain.config_checks import Table
from router.domain.errors import ConfigError
from router.orders.index import units_text

log = logging.getLogger("gold_router.reference")

REFERENCE_KEYS = {"max_jump_pct"}
SOURCES = ("config", "admin", "last_trade", "settlement")


@dataclass(frozen=True)
class ReferenceConfig:
    max_jump_pct: Decimal = Decimal(20)


def parse_reference_config(raw: Any) -> ReferenceConfig:
    """The `[reference]` table: `max_jump_pct` (positive decimal, default 20)."""
    t = Table(raw if raw is not None else {}, "reference", REFERENCE_KEYS)
    pct = t.decimal("max_jump_pct", Decimal(20))
    if not pct.is_finite() or pct <= 0:
        raise ConfigError("reference.max_jump_pct", f"must be a positive number of percent, got {pct}")
    return ReferenceConfig(pct)


class RefUpdate(NamedTuple):
    """Outcome of `set_reference_prices`: applied (`changes` as (symbol, old units, new units)), or
    refused with a reason code ("unknown_symbol", "bad_price", "off_tick", "max_jump_pct")."""

    ok: bool
    reason: str | None
    detail: str
    changes: tuple[tuple[str, int, int], ...] = ()


def _refused(reason: str, detail: str) -> RefUpdate:
    return RefUpdate(False, reason, detail)


def _inward(lo: Decimal, hi: Decimal, tick: int) -> tuple[int, int]:
    """A [lo, hi] band in price units rounded inwards to whole ticks."""
    lo_i = int(lo.to_integral_value(rounding=ROUND_CEILING))
    hi_i = int(hi.to_integral_value(rounding=ROUND_FLOOR))
    return -(-lo_i // tick) * tick, hi_i // tick * tick


class ReferencePrices:
    """Mixin of `OrderFlow` (uses its catalogue, books, engine, router, risk, metrics)."""

    ref_config = ReferenceConfig()
    ref_source: dict[str, str]
    last_trade_px: list[int]
    settlement_px: dict[int, tuple[date, int]] | None = None     # None: a snapshot written before it existed

    def _init_references(self, config: ReferenceConfig | None) -> None:
        if config is not None:
            self.ref_config = config
        self.ref_source = {i.symbol: "config" for i in self.books}
        self.last_trade_px = [0] * len(self.books)
        self.settlement_px = {}         # book -> (trading day, price units) of its latest settlement price

    def note_settlement_price(self, symbol: str, trading_day: date, units: int) -> None:
        """The books settled `symbol` for `trading_day` at `units`: a margined instrument's reference
        at that day's roll."""
        if self.settlement_px is None:
            self.settlement_px = {}
        self.settlement_px[self.catalogue.instruments[symbol].book_id] = (trading_day, units)

    def reference_units(self, symbol: str) -> int:
        return self.router.books()[symbol].ref

    def set_reference_prices(self, prices: Mapping[str, Decimal], now_ns: int, *, force: bool = False,
                             source: str = "admin") -> RefUpdate:
        """Set the reference of each symbol (Decimal in the instrument's quote), all or nothing."""
        cat = self.catalogue
        max_jump = self.ref_config.max_jump_pct
        new: list[tuple[str, int, int]] = []
        for symbol, price in prices.items():
            instr = cat.instruments.get(symbol)
            if instr is None:
                return _refused("unknown_symbol", f"{symbol!r} is not an instrument")
            if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
                return _refused("bad_price", f"{symbol}: reference price must be positive, got {price}")
            units = price.scaleb(instr.price_decimals)
            if units != units.to_integral_value() or int(units) % instr.tick_units:
                tick = units_text(instr.tick_units, instr.price_decimals).decode()
                return _refused("off_tick", f"{symbol}: {price} is not a multiple of the tick {tick}")
            if int(units) >= 2**31:
                return _refused("bad_price", f"{symbol}: {price} is beyond the core's price range")
            old = self.reference_units(symbol)
            if not force and abs(int(units) - old) * 100 > max_jump * old:
                was = units_text(old, instr.price_decimals).decode()
                return _refused("max_jump_pct", f"{symbol}: {was} -> {price} moves more than "
                                f"reference.max_jump_pct = {max_jump} %; send force=true to apply it")
            new.append((symbol, old, int(units)))
        self._apply_references(new, now_ns, source)
        return RefUpdate(True, None, "", tuple(new))

    def _apply_references(self, changes: list[tuple[str, int, int]], now_ns: int, source: str) -> None:
        if not changes:
            return
        cat = self.catalogue
        cmds = commands(len(changes))
        for n, (symbol, _old, units) in enumerate(changes):
            cmds[n]["op"] = Op.SET_REF_PRICE
            cmds[n]["time"] = now_ns
            cmds[n]["book"] = cat.instruments[symbol].book_id
            cmds[n]["price"] = units
        events = self.engine.process(cmds)
        if len(events):
            raise RuntimeError(f"matching core refused a reference price: {events.tolist()}")
        for symbol, old, units in changes:
            self.router.set_reference(symbol, units)
            self.ref_source[symbol] = source
            d = cat.instruments[symbol].price_decimals
            log.info("reference price %s %s -> %s (%s)", symbol, units_text(old, d).decode(),
                     units_text(units, d).decode(), source)
            if self.metrics is not None:
                self.metrics.reference_price_update(symbol, source)

    def _roll_references(self, rolled: list[tuple[int, date | None]], now_ns: int) -> None:
        """Trading-day roll of these (book, day that ended): a margined instrument's settlement price
        of that day, else its last trade, becomes the reference."""
        by_source: dict[str, list[tuple[str, int, int]]] = {}
        settled = self.settlement_px or {}
        for b, ended in rolled:
            px, source = self.last_trade_px[b], "last_trade"
            self.last_trade_px[b] = 0
            instr = self.books[b]
            posted = settled.get(b)
            if instr.margin_rate is not None and posted is not None and posted[0] == ended:
                px, source = posted[1], "settlement"
            if px:
                old = self.reference_units(instr.symbol)
                if px != old:
                    by_source.setdefault(source, []).append((instr.symbol, old, px))
        for source, group in sorted(by_source.items()):
            self._apply_references(group, now_ns, source)

    def references_view(self) -> list[dict]:
        """Each instrument's reference, daily band and collar (decimal strings in its quote) and source."""
        out = []
        collar_bp = self.risk.config.collar_bp
        for symbol, b in self.router.books().items():
            i = b.instr
            d = i.price_decimals

            def txt(units: int | None) -> str | None:
                return None if units is None else units_text(units, d).decode()
            collar = None
            if collar_bp is not None:
                lo, hi = _inward(Decimal(b.ref) * (10_000 - collar_bp) / 10_000,
                                 Decimal(b.ref) * (10_000 + collar_bp) / 10_000, b.tick)
                collar = [txt(lo), txt(hi)]
            out.append({"symbol": symbol, "quote": f"{i.quote_ccy}/{i.quote_unit}", "reference": txt(b.ref),
                        "band": [txt(b.lo), txt(b.hi)], "band_pct": str(i.price_limit_pct),
                        "collar": collar, "source": self.ref_source.get(symbol, "config")})
        return out
