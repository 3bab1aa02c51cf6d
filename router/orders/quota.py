"""Daily cross-border quota per direction (Stock Connect style), in integer micro-CNY.

Only buys consume: at acceptance, the limit-price notional in CNY. The unfilled part is given
back on cancel, expiry, reject or IOC remainder; a fill at a better price gives back the
difference; a cross-border sell's fill adds its notional back, so the day's balance can exceed the
limit. Each direction resets when the caller rolls its trading day (`QuotaDays` says which).
Northbound = an offshore account reaching an onshore book; southbound = an onshore account
reaching an offshore book; an account whose side is in the venue's `quota_zone` does not cross
(`quota_direction`: the one notion of crossing for the quota, the permission and the books).

No real "Gold Connect" quota regime is published (reference §4): the amounts and the day's
schedules are policy read from the `[quota]` config table. This module does NOT convert
currencies and does NOT read a clock (the caller passes the time).
"""
from __future__ import annotations

import enum
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Mapping

from router.domain.errors import ConfigError
from router.domain.reasons import Reason

MICRO = 1_000_000
ONSHORE = "onshore"
OFFSHORE = "offshore"
SIDES = (ONSHORE, OFFSHORE)


class Direction(enum.Enum):
    NORTHBOUND = "northbound"
    SOUTHBOUND = "southbound"

    # Members are singletons compared by identity; Enum's own __hash__ (hash of the name, in
    # Python) makes every quota lookup on the router's hot path several times slower.
    __hash__ = object.__hash__


def direction(account_side: str, venue_side: str) -> Direction | None:
    """The direction an account's order to a book flows, or None when it stays on one side."""
    if account_side == venue_side:
        return None
    if account_side == ONSHORE and venue_side == OFFSHORE:
        return Direction.SOUTHBOUND
    if account_side == OFFSHORE and venue_side == ONSHORE:
        return Direction.NORTHBOUND
    raise ValueError(f"unknown border side {account_side!r} or {venue_side!r}")


def quota_direction(account_side: str, venue_side: str, quota_zone: tuple[str, ...]) -> Direction | None:
    """The quota an account's order to a book uses: none when the account's side is in the venue's
    quota zone (the sides whose money funds it without crossing, e.g. the offshore-funded
    International Board for offshore accounts), else the physical direction."""
    if account_side in quota_zone:
        return None
    return direction(account_side, venue_side)


class QuotaDays:
    """Which schedules give each quota direction its trading day (configuration: rebuilt at every start,
    never taken from a snapshot). `[quota] northbound_schedule` / `southbound_schedule` names the one
    schedule a direction follows. By default a direction follows the books that use it (its destination
    side's books whose quota zone leaves the crossing side out): its day is the newest trading day any of
    them is on, so it moves on when the first of them starts a new day (the e-platform's, whose day changes
    at 05:00 HKT, not the open outcry's at 09:00; loco London's on a Hong Kong holiday it trades on)."""

    __slots__ = ("schedules",)

    def __init__(self, books: Any, configured: Mapping[Direction, str] | None = None) -> None:
        configured = configured or {}
        self.schedules: dict[Direction, tuple[str, ...]] = {}
        for d, dest, crossing in ((Direction.NORTHBOUND, ONSHORE, OFFSHORE), (Direction.SOUTHBOUND, OFFSHORE, ONSHORE)):
            used = tuple(sorted({i.schedule for i in books if i.side == dest and crossing not in i.quota_zone}))
            if configured.get(d):
                self.schedules[d] = (configured[d],)
            elif used:
                self.schedules[d] = used

    def __repr__(self) -> str:
        return "QuotaDays(" + ", ".join(f"{d.value}: {'/'.join(s)}" for d, s in self.schedules.items()) + ")"

    def day(self, d: Direction, calendars: Any, now_ns: int) -> Any:
        """The trading day direction `d` counts at `now_ns`: the newest of its schedules' (None while all
        are closed, or when no book uses the direction)."""
        days = [x for s in self.schedules.get(d, ()) if (x := calendars.trading_day(s, now_ns)) is not None]
        return max(days, default=None)


class CrossBorderQuota:
    """Used and remaining quota per direction, each on its own trading day. Amounts are micro-CNY ints.

    `used` may go below zero: a cross-border sell's fill adds its notional back (Stock Connect's
    daily balance can exceed the limit). Each direction has its own day (`roll(day, d)`, the day
    `QuotaDays` gives it).
    """

    __slots__ = ("_limit", "_used", "_day")

    def __init__(self, northbound: int, southbound: int, day: Any = None) -> None:
        if northbound < 0 or southbound < 0:
            raise ValueError("quota limits must not be negative")
        self._limit = {Direction.NORTHBOUND: int(northbound), Direction.SOUTHBOUND: int(southbound)}
        self._used = {Direction.NORTHBOUND: 0, Direction.SOUTHBOUND: 0}
        self._day = {Direction.NORTHBOUND: day, Direction.SOUTHBOUND: day}

    def __repr__(self) -> str:
        # What it holds, not where: the metrics are handed the quota itself (Metrics.watch_quota), and
        # tests compare the recorded calls of two order-flow paths by their arguments.
        return "CrossBorderQuota(" + ", ".join(f"{d.value} used {self._used[d]} of {self._limit[d]} on {self._day[d]}"
                                               for d in Direction) + ")"

    def limit(self, d: Direction) -> int:
        return self._limit[d]

    def used(self, d: Direction) -> int:
        return self._used[d]

    def remaining(self, d: Direction) -> int:
        return self._limit[d] - self._used[d]

    def day(self, d: Direction) -> Any:
        """The trading day direction `d` is counting (None before its first roll)."""
        return self._day[d]

    def fits(self, d: Direction, amount: int) -> bool:
        return amount <= self._limit[d] - self._used[d]

    def consume(self, d: Direction, amount: int) -> Reason | None:
        """Take `amount` from today's quota, all or nothing; a rejection leaves it untouched."""
        return self.consume_many({d: amount})

    def consume_many(self, claims: Mapping[Direction, int]) -> Reason | None:
        """Consume several directions atomically (a product order may cross both ways)."""
        for d, amount in claims.items():
            if amount < 0:
                raise ValueError("quota amount must not be negative")
            if amount > self._limit[d] - self._used[d]:
                return Reason.QUOTA_EXHAUSTED
        for d, amount in claims.items():
            self._used[d] += amount
        return None

    def charge(self, d: Direction, amount: int) -> None:
        """Count a buy's fill (at its trade price) whatever the balance: the order was already
        admitted against its claim, which the caller releases."""
        if amount < 0:
            raise ValueError("quota amount must not be negative")
        self._used[d] += amount

    def release(self, d: Direction, amount: int) -> int:
        """Give back `amount`: an unfilled claim (cancel, expiry, reject, IOC remainder), the
        difference of a fill at a better price, or a cross-border sell's fill. Not capped: usage may
        go below zero. The caller gives back only claims consumed on the direction's current day."""
        if amount < 0:
            raise ValueError("quota amount must not be negative")
        self._used[d] -= amount
        return amount

    def roll(self, day: Any, d: Direction | None = None) -> bool:
        """Start trading day `day` for direction `d` (both when None); resets usage when the day
        changed. Returns whether anything reset.

        A direction without a day (the service's, until its first timer tick) takes the first day it is
        rolled to without resetting: what was used before that tick was used today."""
        reset = False
        for x in (Direction.NORTHBOUND, Direction.SOUTHBOUND) if d is None else (d,):
            if self._day[x] is None:
                self._day[x] = day
            elif self._day[x] != day:
                self._day[x] = day
                self._used[x] = 0
                reset = True
        return reset

    def set_limits(self, northbound: int, southbound: int) -> None:
        """Apply new limits (config reload); usage is kept, so remaining may go negative."""
        self._limit[Direction.NORTHBOUND] = int(northbound)
        self._limit[Direction.SOUTHBOUND] = int(southbound)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Plain numbers for metrics and the admin API."""
        return {d.value: {"limit": self._limit[d], "used": self._used[d], "remaining": self.remaining(d),
                          "day": self._day[d]} for d in Direction}

    def view(self) -> dict[str, dict[str, Any]]:
        """`GET /quota`: per direction limit_cny, used_cny, balance_cny (CNY, 2 decimals) and trading_day."""
        def cny(micro: int) -> str:
            return str((Decimal(micro) / MICRO).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))
        return {d.value: {"limit_cny": cny(self._limit[d]), "used_cny": cny(self._used[d]),
                          "balance_cny": cny(self.remaining(d)),
                          "trading_day": None if self._day[d] is None else str(self._day[d])}
                for d in Direction}


def amount_to_micro(value: Any, key: str) -> int:
    """A non-negative decimal amount from config (a money or gram amount) as an exact micro-unit int."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ConfigError(key, f"expected a decimal string or integer, got {value!r}")
    try:
        d = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise ConfigError(key, f"not a decimal number: {value!r}") from None
    if not d.is_finite() or d < 0:
        raise ConfigError(key, f"must be a finite non-negative amount, got {value!r}")
    scaled = d * MICRO
    if scaled != scaled.to_integral_value():
        raise ConfigError(key, f"more than 6 decimal places: {value!r}")
    return int(scaled)


QUOTA_KEYS = ("northbound_cny", "southbound_cny", "northbound_schedule", "southbound_schedule")


def parse_quota_schedules(table: Mapping[str, Any] | None) -> dict[Direction, str]:
    """`[quota] northbound_schedule` / `southbound_schedule`: the schedule a direction's day follows,
    when set (that it names a schedule of a book using that direction is checked beside the calendars,
    router.config)."""
    out = {}
    for d in Direction:
        key = f"{d.value}_schedule"
        raw = (table or {}).get(key)
        if raw is None:
            continue
        if not isinstance(raw, str) or not raw:
            raise ConfigError(f"quota.{key}", f"must be a schedule name, got {raw!r}")
        out[d] = raw
    return out


def parse_quota(table: Mapping[str, Any] | None, day: Any = None) -> CrossBorderQuota:
    """Build the quota from the `[quota]` table: northbound_cny, southbound_cny (CNY amounts); the
    two `*_schedule` keys are `parse_quota_schedules`'s."""
    table = table or {}
    for k in table:
        if k not in QUOTA_KEYS:
            raise ConfigError(f"quota.{k}", f"unknown key (expected {', '.join(QUOTA_KEYS)})")
    missing = [k for k in ("northbound_cny", "southbound_cny") if k not in table]
    if missing:
        raise ConfigError(f"quota.{missing[0]}", "missing")
    return CrossBorderQuota(amount_to_micro(table["northbound_cny"], "quota.northbound_cny"),
                            amount_to_micro(table["southbound_cny"], "quota.southbound_cny"), day)
