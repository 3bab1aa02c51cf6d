"""Cross-border quota: direction, consume / release / exhaust, day roll, config parsing."""
from __future__ import annotations

from decimal import Decimal

import pytest

from router.domain.errors import ConfigError
from router.orders.quota import (MICRO, CrossBorderQuota, Direction, amount_to_micro, direction, parse_quota)
from router.domain.reasons import Reason

N, S = Direction.NORTHBOUND, Direction.SOUTHBOUND


def test_direction_follows_account_and_book_sides():
    assert direction("onshore", "offshore") is S
    assert direction("offshore", "onshore") is N
    assert direction("onshore", "onshore") is None
    assert direction("offshore", "offshore") is None
    with pytest.raises(ValueError):
        direction("onshore", "moon")


def test_consume_reduces_remaining_per_direction_only():
    q = CrossBorderQuota(northbound=1_000, southbound=500)
    assert q.consume(N, 300) is None
    assert (q.used(N), q.remaining(N)) == (300, 700)
    assert (q.used(S), q.remaining(S)) == (0, 500)


def test_exhausted_quota_rejects_with_its_reason_and_leaves_usage_alone():
    q = CrossBorderQuota(northbound=1_000, southbound=500)
    assert q.consume(S, 500) is None
    assert q.remaining(S) == 0
    assert q.consume(S, 1) is Reason.QUOTA_EXHAUSTED
    assert q.used(S) == 500
    # The other direction is independent.
    assert q.consume(N, 1_000) is None


def test_consume_is_all_or_nothing():
    q = CrossBorderQuota(northbound=100, southbound=100)
    assert q.consume(N, 60) is None
    assert q.consume(N, 41) is Reason.QUOTA_EXHAUSTED
    assert q.used(N) == 60
    assert q.consume(N, 40) is None
    assert q.remaining(N) == 0


def test_release_and_sell_add_back_may_take_usage_below_zero():
    q = CrossBorderQuota(northbound=1_000, southbound=1_000)
    q.consume(N, 800)
    # 300 filled, 500 cancelled: the cancelled part comes back.
    assert q.release(N, 500) == 500
    assert q.used(N) == 300
    # a cross-border sell's fill adds its notional back: the balance exceeds the limit
    q.release(N, 450)
    assert q.used(N) == -150
    assert q.remaining(N) == 1_150
    # a fill is charged whatever the balance (its order was admitted against its claim)
    q.charge(N, 2_000)
    assert q.used(N) == 1_850 and q.consume(N, 1) is Reason.QUOTA_EXHAUSTED


def test_consume_many_is_atomic_across_directions():
    q = CrossBorderQuota(northbound=100, southbound=50)
    assert q.consume_many({N: 80, S: 60}) is Reason.QUOTA_EXHAUSTED
    assert (q.used(N), q.used(S)) == (0, 0)
    assert q.consume_many({N: 80, S: 50}) is None
    assert (q.used(N), q.used(S)) == (80, 50)


def test_negative_amounts_are_programming_errors():
    q = CrossBorderQuota(northbound=100, southbound=100)
    with pytest.raises(ValueError):
        q.consume(N, -1)
    with pytest.raises(ValueError):
        q.release(N, -1)
    with pytest.raises(ValueError):
        CrossBorderQuota(northbound=-1, southbound=0)


def test_roll_resets_only_on_a_new_trading_day():
    q = CrossBorderQuota(northbound=100, southbound=100, day="2026-03-02")
    q.consume(N, 100)
    q.consume(S, 40)
    assert q.roll("2026-03-02") is False
    assert q.remaining(N) == 0
    assert q.roll("2026-03-03") is True
    assert (q.used(N), q.used(S)) == (0, 0)
    assert q.day(N) == q.day(S) == "2026-03-03"


def test_each_direction_rolls_on_its_own_day():
    q = CrossBorderQuota(northbound=100, southbound=100, day="2026-03-02")
    q.consume(N, 70)
    q.consume(S, 40)
    # the offshore destination's day rolled first: only the southbound quota resets
    assert q.roll("2026-03-03", S) is True
    assert (q.used(N), q.used(S)) == (70, 0)
    assert (q.day(N), q.day(S)) == ("2026-03-02", "2026-03-03")
    assert q.roll("2026-03-03", S) is False
    assert q.roll("2026-03-03", N) is True and q.used(N) == 0


def test_set_limits_keeps_usage():
    q = CrossBorderQuota(northbound=100, southbound=100)
    q.consume(N, 90)
    q.set_limits(northbound=50, southbound=200)
    assert q.remaining(N) == -40
    assert q.consume(N, 1) is Reason.QUOTA_EXHAUSTED
    assert q.remaining(S) == 200


def test_snapshot_for_metrics():
    q = CrossBorderQuota(northbound=10, southbound=20)
    q.consume(S, 5)
    assert q.snapshot() == {"northbound": {"limit": 10, "used": 0, "remaining": 10, "day": None},
                            "southbound": {"limit": 20, "used": 5, "remaining": 15, "day": None}}


def test_view_in_cny_with_the_trading_day():
    q = CrossBorderQuota(northbound=1_000_000_000 * MICRO, southbound=1_000_000_000 * MICRO, day="2026-03-02")
    q.consume(S, 560_939_943_741)
    q.release(S, 561_139_662_448)
    v = q.view()
    assert v["southbound"] == {"limit_cny": "1000000000.00", "used_cny": "-199.72",
                               "balance_cny": "1000000199.72", "trading_day": "2026-03-02"}
    assert v["northbound"]["used_cny"] == "0.00"


def test_parse_quota_in_exact_micro_cny():
    q = parse_quota({"northbound_cny": "1000000000", "southbound_cny": Decimal("2500.125")})
    assert q.limit(N) == 1_000_000_000 * MICRO
    assert q.limit(S) == 2_500_125_000


@pytest.mark.parametrize("table, key", [
    ({"northbound_cny": "1"}, "quota.southbound_cny"),
    ({"northbound_cny": "1", "southbound_cny": "-5"}, "quota.southbound_cny"),
    ({"northbound_cny": "x", "southbound_cny": "1"}, "quota.northbound_cny"),
    ({"northbound_cny": 1.5, "southbound_cny": "1"}, "quota.northbound_cny"),
    ({"northbound_cny": "1", "southbound_cny": "1", "eastbound_cny": "1"}, "quota.eastbound_cny"),
])
def test_parse_quota_errors_name_the_key(table, key):
    with pytest.raises(ConfigError) as err:
        parse_quota(table)
    assert err.value.key == key


def test_amount_to_micro_rejects_sub_micro_precision():
    assert amount_to_micro("0.000001", "k") == 1
    with pytest.raises(ConfigError):
        amount_to_micro("0.0000001", "k")
    with pytest.raises(ConfigError):
        amount_to_micro(True, "k")


def test_the_first_roll_of_a_quota_without_a_day_keeps_what_was_used():
    # The service builds the quota without a day and rolls it on its first timer tick, up to a second
    # after start: an order accepted before that tick must keep its claim.
    q = CrossBorderQuota(northbound=100, southbound=100)
    q.consume(S, 40)
    assert q.roll("2026-03-02") is False
    assert (q.used(S), q.day(S)) == (40, "2026-03-02")
    assert q.roll("2026-03-03") is True and q.used(S) == 0
