"""The gold catalogue: venues, instruments, interoperable groups and routable products.

Built from the `constants`, `venues`, `instruments`, `groups` and `products` tables of the
configuration (already parsed by `router.config`), validated key by key: every error is a
`ConfigError` naming the key path. Also assigns each instrument its matching-core book id
(the order of the `instruments` table) and the integer scales the core works in.

It does not convert prices (that is `router.domain.convert`), know about FX rates, calendars or
accounts, and holds no mutable state: reference prices that move at run time live with the
books, not here.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from router.domain.config_checks import Table
from router.domain.errors import ConfigError

CURRENCIES = ("CNY", "CNH", "HKD", "USD")
QUOTE_UNITS = ("gram", "hk_tael", "troy_oz_fine")
KINDS = ("spot_full_payment", "deferred_margin", "spot_deferrable", "spot_rolling")
SIDES = ("onshore", "offshore")
SETTLEMENT_CYCLES = ("T+0", "T+1", "T+2", "deferred")
MICROGRAMS_PER_GRAM = 1_000_000


@dataclass(frozen=True, slots=True)
class Constants:
    grams_per_troy_oz: Decimal
    grams_per_hk_tael: Decimal

    def unit_grams(self, unit: str) -> Decimal:
        """Grams in one quote unit (gross for gram/tael quotes, fine for fine-ounce quotes)."""
        if unit == "gram" or unit == "gram_fine":
            return Decimal(1)
        if unit == "hk_tael":
            return self.grams_per_hk_tael
        return self.grams_per_troy_oz


@dataclass(frozen=True, slots=True)
class Venue:
    code: str
    name: str
    tz: str
    side: str
    settlement_ccy: str
    eligibility: str
    # Account sides that trade this venue without cross-border quota (default: the venue's own side).
    quota_zone: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    book_id: int
    venue: str
    exchange_code: str
    kind: str
    quote_ccy: str
    quote_unit: str
    price_decimals: int
    tick: Decimal
    tick_units: int              # integer price units per tick
    lot_size: Decimal            # quote units per lot
    lot_grams: Decimal           # gross grams per lot (fine grams for fine-ounce quotes)
    lot_micrograms: int          # gross micrograms per lot (fine for fine-ounce quotes): metal held and moved
    lot_fine_micrograms: int     # fine micrograms per lot: a product order's unit and the core's group unit
    min_lots: int
    max_lots: int
    fineness: Decimal
    fineness_adjust: bool
    bar_form: str
    vaults: tuple[str, ...]
    settlement_cycle: str
    settlement_ccy: str
    side: str
    eligibility: str
    price_limit_pct: Decimal
    margin_rate: Decimal | None
    fee_rate: Decimal
    fee_per_lot: Decimal
    carry_bp_per_day: Decimal
    schedule: str
    reference_price: Decimal
    quota_zone: tuple[str, ...] = ()
    # Calendars that count a T+N value date (None: the trading schedule) and that the value date must also
    # be a business day on (None: no other); names checked against the calendars by router.config.
    settlement_calendar: str | None = None
    payment_calendar: str | None = None

    @property
    def price_scale(self) -> int:
        return 10 ** self.price_decimals

    def price_to_units(self, price: Decimal) -> int | None:
        """Integer price units for a decimal price, or None when it is not a whole unit."""
        units = price * self.price_scale
        if units != units.to_integral_value():
            return None
        return int(units)

    def units_to_price(self, units: int) -> Decimal:
        return Decimal(units).scaleb(-self.price_decimals)

    @property
    def reference_units(self) -> int:
        return int(self.reference_price * self.price_scale)


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    members: tuple[str, ...]
    group_id: int


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    group: str
    qty_unit: str               # "gram_fine": OrderQty is fine grams, a maximum each book fills in its whole lots
    price_ccy: str
    price_unit: str
    price_decimals: int

    @property
    def price_scale(self) -> int:
        return 10 ** self.price_decimals


@dataclass(frozen=True, slots=True)
class Catalogue:
    constants: Constants
    venues: dict[str, Venue]
    instruments: dict[str, Instrument]
    groups: dict[str, Group]
    products: dict[str, Product]

    def by_book(self) -> list[Instrument]:
        return sorted(self.instruments.values(), key=lambda i: i.book_id)

    def instrument(self, symbol: str) -> Instrument | None:
        return self.instruments.get(symbol)


def _positive(value: Decimal, key: str) -> Decimal:
    if value <= 0:
        raise ConfigError(key, f"must be positive, got {value}")
    return value


def _choice(value: str, allowed: tuple[str, ...], key: str) -> str:
    if value not in allowed:
        raise ConfigError(key, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def parse_constants(raw: Any) -> Constants:
    t = Table(raw, "constants", {"grams_per_troy_oz", "grams_per_hk_tael"})
    return Constants(
        grams_per_troy_oz=_positive(t.decimal("grams_per_troy_oz"), "constants.grams_per_troy_oz"),
        grams_per_hk_tael=_positive(t.decimal("grams_per_hk_tael"), "constants.grams_per_hk_tael"),
    )


def parse_venue(code: str, raw: Any) -> Venue:
    key = f"venues.{code}"
    t = Table(raw, key, {"name", "tz", "side", "settlement_ccy", "eligibility", "quota_zone"})
    side = _choice(t.str("side"), SIDES, f"{key}.side")
    zone = tuple(_choice(z, SIDES, f"{key}.quota_zone") for z in t.str_list("quota_zone", [side]))
    if not zone:
        raise ConfigError(f"{key}.quota_zone", f"needs at least one of {', '.join(SIDES)}")
    return Venue(
        code=code,
        name=t.str("name"),
        tz=t.str("tz"),
        side=side,
        settlement_ccy=_choice(t.str("settlement_ccy"), CURRENCIES, f"{key}.settlement_ccy"),
        eligibility=t.str("eligibility"),
        quota_zone=zone,
    )


_INSTRUMENT_KEYS = {
    "venue", "exchange_code", "kind", "quote_ccy", "quote_unit", "price_decimals", "tick", "lot_size",
    "min_lots", "max_lots", "fineness", "fineness_adjust", "bar_form", "vaults", "settlement_cycle",
    "settlement_ccy", "price_limit_pct", "margin_rate", "fee_rate", "fee_per_lot", "carry_bp_per_day",
    "schedule", "reference_price", "settlement_calendar", "payment_calendar",
}


def parse_instrument(symbol: str, raw: Any, book_id: int, venues: dict[str, Venue],
                     constants: Constants) -> Instrument:
    key = f"instruments.{symbol}"
    t = Table(raw, key, _INSTRUMENT_KEYS)
    venue_code = t.str("venue")
    venue = venues.get(venue_code)
    if venue is None:
        raise ConfigError(f"{key}.venue", f"unknown venue {venue_code!r} (known: {', '.join(venues)})")
    if not symbol.startswith(venue_code + "."):
        raise ConfigError(key, f"symbol must start with its venue code {venue_code + '.'!r}")
    decimals = t.int("price_decimals")
    if not 0 <= decimals <= 6:
        raise ConfigError(f"{key}.price_decimals", f"must be 0..6, got {decimals}")
    tick = _positive(t.decimal("tick"), f"{key}.tick")
    tick_units = tick.scaleb(decimals)
    if tick_units != tick_units.to_integral_value():
        raise ConfigError(f"{key}.tick", f"{tick} is not a multiple of the price unit 10^-{decimals}")
    quote_unit = _choice(t.str("quote_unit"), QUOTE_UNITS, f"{key}.quote_unit")
    lot_size = _positive(t.decimal("lot_size"), f"{key}.lot_size")
    lot_grams = lot_size * constants.unit_grams(quote_unit)
    lot_ug = lot_grams * MICROGRAMS_PER_GRAM
    if lot_ug != lot_ug.to_integral_value():
        raise ConfigError(f"{key}.lot_size", f"{lot_size} {quote_unit} is not a whole number of micrograms")
    fineness = t.decimal("fineness")
    if not 0 < fineness <= 1:
        raise ConfigError(f"{key}.fineness", f"must be in (0, 1], got {fineness}")
    fineness_adjust = t.bool("fineness_adjust", True)
    fine_ug = lot_ug * fineness if quote_unit != "troy_oz_fine" and fineness_adjust else lot_ug
    if fine_ug != fine_ug.to_integral_value():
        raise ConfigError(f"{key}.fineness", f"{lot_size} {quote_unit} at {fineness} is not a whole number of "
                                             f"fine micrograms")
    min_lots, max_lots = t.int("min_lots", 1), t.int("max_lots")
    if min_lots < 1 or max_lots < min_lots:
        raise ConfigError(f"{key}.max_lots", f"need 1 <= min_lots <= max_lots, got {min_lots}..{max_lots}")
    reference_price = _positive(t.decimal("reference_price"), f"{key}.reference_price")
    ref_units = reference_price.scaleb(decimals)
    if ref_units != ref_units.to_integral_value() or int(ref_units) % int(tick_units):
        raise ConfigError(f"{key}.reference_price", f"{reference_price} is not a multiple of the tick {tick}")
    margin = t.decimal("margin_rate", None)
    if margin is not None and not 0 < margin <= 1:
        raise ConfigError(f"{key}.margin_rate", f"must be in (0, 1], got {margin}")
    kind = _choice(t.str("kind"), KINDS, f"{key}.kind")
    if kind == "deferred_margin" and margin is None:
        raise ConfigError(f"{key}.margin_rate", "required for a deferred_margin instrument")
    limit = t.decimal("price_limit_pct", Decimal(0))
    if not 0 <= limit < 100:
        raise ConfigError(f"{key}.price_limit_pct", f"must be in [0, 100), got {limit}")
    vaults = tuple(t.str_list("vaults"))
    if not vaults:
        raise ConfigError(f"{key}.vaults", "needs at least one vault")
    cycle = _choice(t.str("settlement_cycle"), SETTLEMENT_CYCLES, f"{key}.settlement_cycle")
    day_calendars = {k: t.str(k, None) for k in ("settlement_calendar", "payment_calendar")}
    for k, name in day_calendars.items():
        if name is not None and not cycle.startswith("T+"):
            raise ConfigError(f"{key}.{k}", f"only a T+N settlement cycle counts business days, not {cycle!r}")
    return Instrument(
        symbol=symbol, book_id=book_id, venue=venue_code,
        exchange_code=t.str("exchange_code", symbol),
        kind=kind,
        quote_ccy=_choice(t.str("quote_ccy"), CURRENCIES, f"{key}.quote_ccy"),
        quote_unit=quote_unit, price_decimals=decimals, tick=tick, tick_units=int(tick_units),
        lot_size=lot_size, lot_grams=lot_grams, lot_micrograms=int(lot_ug), lot_fine_micrograms=int(fine_ug),
        min_lots=min_lots, max_lots=max_lots, fineness=fineness,
        fineness_adjust=fineness_adjust,
        bar_form=t.str("bar_form"), vaults=vaults,
        settlement_cycle=cycle,
        settlement_ccy=_choice(t.str("settlement_ccy", venue.settlement_ccy), CURRENCIES,
                               f"{key}.settlement_ccy"),
        side=venue.side, eligibility=venue.eligibility,
        price_limit_pct=limit, margin_rate=margin,
        fee_rate=t.decimal("fee_rate", Decimal(0)),
        fee_per_lot=t.decimal("fee_per_lot", Decimal(0)),
        carry_bp_per_day=t.decimal("carry_bp_per_day", Decimal(0)),
        schedule=t.str("schedule"),
        reference_price=reference_price,
        quota_zone=venue.quota_zone or (venue.side,),
        **day_calendars,
    )


def parse_catalogue(cfg: dict[str, Any]) -> Catalogue:
    """The catalogue from a whole configuration mapping (only its catalogue tables are read)."""
    constants = parse_constants(cfg.get("constants"))
    venues_raw = Table(cfg.get("venues"), "venues", None)
    venues = {code: parse_venue(code, raw) for code, raw in venues_raw.items()}
    inst_raw = Table(cfg.get("instruments"), "instruments", None)
    instruments: dict[str, Instrument] = {}
    for book_id, (symbol, raw) in enumerate(inst_raw.items()):
        instruments[symbol] = parse_instrument(symbol, raw, book_id, venues, constants)
    if len(instruments) > 64:
        raise ConfigError("instruments", "at most 64 instruments (the core's allowed-books set is a 64-bit mask)")
    groups: dict[str, Group] = {}
    for gid, (name, raw) in enumerate(Table(cfg.get("groups", {}), "groups", None).items()):
        t = Table(raw, f"groups.{name}", {"members"})
        members = tuple(t.str_list("members"))
        for i, m in enumerate(members):
            if m not in instruments:
                raise ConfigError(f"groups.{name}.members[{i}]", f"unknown instrument {m!r}")
        if len(members) < 2 or len(set(members)) != len(members):
            raise ConfigError(f"groups.{name}.members", "needs two or more distinct instruments")
        groups[name] = Group(name, members, gid)
    products: dict[str, Product] = {}
    for pid, raw in Table(cfg.get("products", {}), "products", None).items():
        key = f"products.{pid}"
        if pid in instruments:
            raise ConfigError(key, "a product id may not reuse an instrument symbol")
        t = Table(raw, key, {"group", "qty_unit", "price_ccy", "price_unit", "price_decimals"})
        group = t.str("group")
        if group not in groups:
            raise ConfigError(f"{key}.group", f"unknown group {group!r}")
        products[pid] = Product(
            id=pid, group=group,
            qty_unit=_choice(t.str("qty_unit"), ("gram_fine",), f"{key}.qty_unit"),
            price_ccy=_choice(t.str("price_ccy"), CURRENCIES, f"{key}.price_ccy"),
            price_unit=_choice(t.str("price_unit"), ("gram_fine",), f"{key}.price_unit"),
            price_decimals=t.int("price_decimals", 2),
        )
    return Catalogue(constants, venues, instruments, groups, products)


__all__ = [
    "Catalogue", "Constants", "Group", "Instrument", "Product", "Venue", "parse_catalogue",
    "CURRENCIES", "MICROGRAMS_PER_GRAM",
]
