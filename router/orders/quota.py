"""Daily cross-border quota per direction (Stock Connect style), in integer micro-CNY.

An order that crosses the border consumes quota when it is accepted and gives back the
unfilled part when that part is cancelled; fills keep their consumption for the day.
The quota resets when the caller rolls the trading day. Northbound = an offshore account
reaching an onshore book; southbound = an onshore account reaching an offshore book.

No real "Gold Connect" quota regime is published (reference §4): the amounts are policy
read from the `[quota]` config table. This module does NOT decide which orders cross
(see `direction`), does NOT convert currencies and does NOT read a clock.
"""
from __future__ import annotations

import enum
from decimal import Decimal, InvalidOperation
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


class CrossBorderQuota:
    """Used and remaining quota per direction for one trading day. Amounts are micro-CNY ints."""

    __slots__ = ("_limit", "_used", "day")

    def __init__(self, northbound: int, southbound: int, day: Any = None) -> None:
        if northbound < 0 or southbound < 0:
            raise ValueError("quota limits must not be negative")
        self._limit = {Direction.NORTHBOUND: int(northbound), Direction.SOUTHBOUND: int(southbound)}
        self._used = {Direction.NORTHBOUND: 0, Direction.SOUTHBOUND: 0}
        self.day = day

    def limit(self, d: Direction) -> int:
        return self._limit[d]

    def used(self, d: Direction) -> int:
        return self._used[d]

    def remaining(self, d: Direction) -> int:
        return self._limit[d] - self._used[d]

    def fits(self, d: Direction, amount: int) -> bool:
        return amount <= self._limit[d] - self._used[d]

    def consume(self, d: Direction, amount: int) -> Reason | None:
        """Take `amount` from today's quota, all or nothing; a rejection leaves it untouched."""
        if amount < 0:
            raise ValueError("quota amount must not be negative")
        if amount > self._limit[d] - self._used[d]:
            return Reason.QUOTA_EXHAUSTED
        self._used[d] += amount
        return None

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

    def release(self, d: Direction, amount: int) -> int:
        """Give back `amount` (the cancelled unfilled part); returns what was actually given back.

        Capped at what is used, so a release for an order accepted before a day roll
        cannot push today's usage below zero.
        """
        if amount < 0:
            raise ValueError("quota amount must not be negative")
        given = min(amount, self._used[d])
        self._used[d] -= given
        return given

    def release_unfilled(self, d: Direction, claimed: int, leaves_qty: int, order_qty: int) -> int:
        """Give back the unfilled share of an order's claim when it is cancelled or expires:
        claimed * leaves / order_qty, rounded down so the quota is never over-credited."""
        if order_qty <= 0 or not 0 <= leaves_qty <= order_qty:
            raise ValueError("need 0 <= leaves_qty <= order_qty and order_qty > 0")
        return self.release(d, claimed * leaves_qty // order_qty)

    def roll(self, day: Any) -> bool:
        """Start trading day `day`; resets usage when the day changed. Returns whether it reset.

        A quota built without a day (the service's, until its first timer tick) takes the first day
        it is rolled to without resetting: what was used before that tick was used today."""
        if self.day is None:
            self.day = day
            return False
        if day == self.day:
            return False
        self.day = day
        self._used[Direction.NORTHBOUND] = 0
        self._used[Direction.SOUTHBOUND] = 0
        return True

    def set_limits(self, northbound: int, southbound: int) -> None:
        """Apply new limits (config reload); usage is kept, so remaining may go negative."""
        self._limit[Direction.NORTHBOUND] = int(northbound)
        self._limit[Direction.SOUTHBOUND] = int(southbound)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Plain numbers for metrics and the admin API."""
        return {d.value: {"limit": self._limit[d], "used": self._used[d], "remaining": self.remaining(d)}
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


def parse_quota(table: Mapping[str, Any] | None, day: Any = None) -> CrossBorderQuota:
    """Build the quota from the `[quota]` table: northbound_cny, southbound_cny (CNY amounts)."""
    table = table or {}
    for k in table:
        if k not in ("northbound_cny", "southbound_cny"):
            raise ConfigError(f"quota.{k}", "unknown key (expected northbound_cny, southbound_cny)")
    missing = [k for k in ("northbound_cny", "southbound_cny") if k not in table]
    if missing:
        raise ConfigError(f"quota.{missing[0]}", "missing")
    return CrossBorderQuota(amount_to_micro(table["northbound_cny"], "quota.northbound_cny"),
                            amount_to_micro(table["southbound_cny"], "quota.southbound_cny"), day)
