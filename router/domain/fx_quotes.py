"""FX quotes that can be trusted: bid/ask per pair, the time each was set, and the checks an update passes.

A pair's value is either a mid (`"7.1000"`) or a two-sided quote (`{"bid": "7.0990", "ask": "7.1010"}`,
whose mid is the average); a `{"mid": ...}` table is accepted too. `Fx.rates` always holds the mid, which
every conversion uses; `Fx.quotes` holds bid/ask where known (a mid-only update drops the old spread:
the router no longer knows it); `Fx.stamps` the journaled command time (ns) of the update that last set
each pair. A configured rate has no stamp.

Settings (`[fx]` table, besides the pairs): `max_age_s` (default 0 = off) — a book whose conversion needs
a rate older than this, or never stamped, is excluded by the router (`fx_stale`); `max_jump_pct`
(default 2) — an update moving a mid by more than this percent is refused unless forced.

`needed_ccys` says which currencies' rates a book's price conversion needs; `half_spread_ppm` what
converting one currency into another costs at half the bid/ask spread of each leg via USD.

Pure functions of their inputs: no clock (times are passed in), no I/O, no HTTP.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, localcontext
from typing import Any, Iterable, Mapping, NamedTuple

from router.domain.config_checks import check_decimal
from router.domain.convert import FX_PAIRS, PRECISION, Fx
from router.domain.errors import ConfigError

FX_SETTINGS = ("max_age_s", "max_jump_pct")
QUOTE_KEYS = ("bid", "ask", "mid")
NS = 1_000_000_000


@dataclass(frozen=True)
class FxSettings:
    max_age_s: int = 0
    max_jump_pct: Decimal = Decimal(2)

    @property
    def max_age_ns(self) -> int:
        return self.max_age_s * NS


def parse_fx_settings(raw: Mapping[str, Any] | None) -> FxSettings:
    """`fx.max_age_s` (whole seconds >= 0) and `fx.max_jump_pct` (positive percent) from the `[fx]` table."""
    raw = raw or {}
    age = raw.get("max_age_s", 0)
    if isinstance(age, bool) or not isinstance(age, int) or age < 0:
        raise ConfigError("fx.max_age_s", f"must be a whole number of seconds >= 0 (0 = off), got {age!r}")
    pct = check_decimal(raw.get("max_jump_pct", 2), "fx.max_jump_pct")
    if pct <= 0:
        raise ConfigError("fx.max_jump_pct", f"must be a positive number of percent, got {pct}")
    return FxSettings(age, pct)


def parse_quote(value: Any, key: str) -> tuple[Decimal, tuple[Decimal, Decimal] | None]:
    """(mid, (bid, ask) or None) from a number/string or a {bid, ask} / {mid} table; ConfigError names `key`."""
    if isinstance(value, Mapping):
        extra = [k for k in value if k not in QUOTE_KEYS]
        if extra:
            raise ConfigError(f"{key}.{extra[0]}", "unknown key (known: bid, ask, mid)")
        if "bid" in value or "ask" in value:
            if "bid" not in value or "ask" not in value or "mid" in value:
                raise ConfigError(key, "give both bid and ask (their mid is used), or only mid")
            bid = _positive(value["bid"], f"{key}.bid")
            ask = _positive(value["ask"], f"{key}.ask")
            if ask < bid:
                raise ConfigError(key, f"ask {ask} is below bid {bid}")
            with localcontext(PRECISION):
                return (bid + ask) / 2, (bid, ask)
        if "mid" not in value:
            raise ConfigError(key, "give bid and ask, or mid")
        return _positive(value["mid"], f"{key}.mid"), None
    return _positive(value, key), None


def _positive(value: Any, key: str) -> Decimal:
    rate = check_decimal(value, key)
    if rate <= 0:
        raise ConfigError(key, f"must be positive, got {rate}")
    return rate


def check_pairs(raw: Mapping[str, Any], key: str = "fx") -> dict[str, tuple[Decimal, tuple | None]]:
    """Every pair of an `[fx]`-style table (settings skipped) parsed; an unknown pair names itself."""
    if not isinstance(raw, Mapping):
        raise ConfigError(key, "must be a table of PAIR = rate")
    out = {}
    for pair, value in raw.items():
        if pair in FX_SETTINGS:
            continue
        if pair not in FX_PAIRS:
            raise ConfigError(f"{key}.{pair}", f"unknown FX pair (known: {', '.join(FX_PAIRS)})")
        out[pair] = parse_quote(value, f"{key}.{pair}")
    return out


class FxUpdate(NamedTuple):
    """An applied update (`fx`, and `changes` as (pair, old mid, new mid)) or a refusal: reason
    "unknown_pair" / "bad_rate" / "max_jump_pct" with a detail naming the pair."""

    ok: bool
    fx: Fx | None
    reason: str | None = None
    detail: str = ""
    changes: tuple[tuple[str, Decimal, Decimal], ...] = ()


def apply_update(fx: Fx, raw: Mapping[str, Any], now_ns: int, settings: FxSettings, force: bool) -> FxUpdate:
    """All or nothing: every pair of `raw` valid and (unless `force`) within `max_jump_pct` of its mid."""
    for pair in raw:
        if pair not in FX_PAIRS:
            return FxUpdate(False, None, "unknown_pair", f"unknown FX pair {pair!r} (known: {', '.join(FX_PAIRS)})")
    try:
        parsed = {pair: parse_quote(v, pair) for pair, v in raw.items()}
    except ConfigError as err:
        return FxUpdate(False, None, "bad_rate", f"{err.key}: {err.problem}")
    changes = []
    for pair, (mid, _) in parsed.items():
        old = fx.rates.get(pair)
        if old is not None and not force:
            with localcontext(PRECISION):
                jump = abs(mid - old) / old * 100
            if jump > settings.max_jump_pct:
                return FxUpdate(False, None, "max_jump_pct",
                                f"{pair} {old} -> {mid} moves {jump.quantize(Decimal('0.01'))} %, more than "
                                f"fx.max_jump_pct {settings.max_jump_pct} %; send \"force\": true to apply it")
        changes.append((pair, old, mid))
    rates, quotes, stamps = dict(fx.rates), dict(fx.quotes), dict(fx.stamps)
    for pair, (mid, quote) in parsed.items():
        rates[pair] = mid
        if quote is None:
            quotes.pop(pair, None)
        else:
            quotes[pair] = quote
        stamps[pair] = now_ns
    return FxUpdate(True, Fx(rates, quotes, stamps), changes=tuple(changes))


def stale_ccys(fx: Fx, now_ns: int, max_age_ns: int) -> frozenset[str]:
    """Currencies whose USD rate is older than `max_age_ns` at `now_ns` (or never stamped); none when off."""
    if max_age_ns <= 0:
        return frozenset()
    out = set()
    for pair in FX_PAIRS:
        stamp = fx.stamps.get(pair)
        if stamp is None or now_ns - stamp > max_age_ns:
            out.add(pair[3:])
    return frozenset(out)


def needed_ccys(ccys: Iterable[str | None]) -> frozenset[str]:
    """The currencies whose USD rate converting among `ccys` needs: none when they are all one currency
    (no conversion), else every one but USD (each leg goes through USD)."""
    distinct = {c for c in ccys if c}
    if len(distinct) <= 1:
        return frozenset()
    return frozenset(distinct - {"USD"})


def half_spread_ppm(fx: Fx, src: str, dst: str) -> int:
    """Cost of converting `src` into `dst` at the quoted sides, parts per million of the amount, rounded
    up: half of each leg's (ask - bid) / mid via USD. 0 for the same currency or legs with no bid/ask."""
    if src == dst:
        return 0
    total = Decimal(0)
    with localcontext(PRECISION):
        for ccy in (src, dst):
            quote = fx.quotes.get("USD" + ccy) if ccy != "USD" else None
            if quote is not None:
                bid, ask = quote
                total += (ask - bid) / (bid + ask) * 1_000_000      # (ask-bid)/2 / ((bid+ask)/2)
        return int(total.to_integral_value(rounding=ROUND_CEILING))


def fx_view(fx: Fx, now_ns: int, settings: FxSettings) -> dict:
    """JSON-able: each pair's bid/ask (None when only a mid is known), mid, when set and age in seconds
    (None for a configured rate), whether it is stale, and the settings."""
    stale = stale_ccys(fx, now_ns, settings.max_age_ns)
    pairs = {}
    for pair in FX_PAIRS:
        if pair not in fx.rates:
            continue
        quote = fx.quotes.get(pair)
        stamp = fx.stamps.get(pair)
        pairs[pair] = {
            "bid": None if quote is None else str(quote[0]), "ask": None if quote is None else str(quote[1]),
            "mid": str(fx.rates[pair]), "set_ns": stamp,
            "age_s": None if stamp is None else round((now_ns - stamp) / NS, 3),
            "stale": pair[3:] in stale,
        }
    return {"pairs": pairs, "max_age_s": settings.max_age_s, "max_jump_pct": str(settings.max_jump_pct)}
