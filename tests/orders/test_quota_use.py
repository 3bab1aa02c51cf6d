"""An order's use of the cross-border quota in the pure order flow (reference book, default config):
the product order's claim at acceptance, claims kept only where a product order rests, replaces, and
each direction's own trading-day roll, where a claim taken yesterday is dropped, never given back today."""
from __future__ import annotations

from router.orders.quota import Direction
from tests.orders.test_flow import HK, SH, Harness, ers, f

S, N = Direction.SOUTHBOUND, Direction.NORTHBOUND
MON = 1_767_578_400_000_000_000        # 2026-01-05 02:00 UTC, a Monday: SGE and HKGX open
DAY = 86_400_000_000_000


def test_product_buy_claims_its_limit_notional_at_acceptance_and_the_fill_replaces_it() -> None:
    h = Harness()
    h.order(HK, "HKGX.RKG", 2, 1, "559.80")
    seen = []
    engine = h.flow.engine
    run = engine.process_at_rows          # the flow's one core call per message

    def spy(*a, **k):
        seen.append(h.quota.used(S))
        return run(*a, **k)
    engine.process_at_rows = spy
    outs = h.order(SH, "GOLD.KG9999", 1, 1000, "561.00", tif="3")
    # the 1 kg bar (999.9 g fine) fills; the 0.1 g fine no book takes is cancelled with the IOC remainder
    assert [f(o, 150) for o in ers(outs, SH)] == [b"0", b"F", b"4"]
    # at acceptance: 1 kg at the RKG child limit CNH 561.73, in CNY at USDCNY 7.10 / USDCNH 7.11
    assert seen == [560_939_943_741]
    # after the fill at CNH 559.80 and the remainder's cancel: CNY 559,012.66, the better price's difference
    # and what the order still held given back
    assert h.quota.used(S) == 559_012_658_227


def test_product_buy_resting_on_a_domestic_book_gives_back_its_southbound_claim() -> None:
    h = Harness()
    ack, restated = h.order(SH, "GOLD.KG9999", 1, 1000, "561.00")
    # 100 lots of 10 g (999.9 g fine) rest on SGE.AU9999; 0.1 g fine is reported not filled
    assert f(ack, 150) == b"0" and f(restated, 150) == b"D"
    assert h.quota.used(S) == 0          # it sent no child to HKGX.RKG


def test_sell_consumes_nothing_and_its_fill_adds_back() -> None:
    h = Harness()
    (ack,) = h.order(HK, "SGE.AU9999", 2, 100, "560.00")
    assert f(ack, 150) == b"0" and h.quota.used(N) == 0
    h.order(SH, "SGE.AU9999", 1, 100, "560.00")
    assert h.quota.used(N) == -560_000 * 1_000_000      # 1 kg sold northbound at CNY 560.00


def test_replace_claims_the_new_notional_and_gives_back_a_decrease() -> None:
    h = Harness()
    h.order(SH, "HKGX.RKG", 1, 1, "550.00", clordid="R1")
    one = h.quota.used(S)
    h.send(SH, b"G", [(41, "R1"), (11, "R2"), (55, "HKGX.RKG"), (54, 1), (60, "20260101-00:00:00"),
                      (38, 2), (40, 2), (44, "550.00")])
    assert h.quota.used(S) == 1_098_452_883_263         # 2 kg at CNH 550.00 in CNY (one: 549,226.44)
    h.send(SH, b"G", [(41, "R2"), (11, "R3"), (55, "HKGX.RKG"), (54, 1), (60, "20260101-00:00:00"),
                      (38, 1), (40, 2), (44, "550.00")])
    assert h.quota.used(S) == one


def test_each_direction_rolls_on_its_destination_day_and_drops_yesterdays_claims() -> None:
    h = Harness()
    cal = h.cfg.sections["calendars"]
    h.flow.on_timer(MON)
    assert h.quota.day(S) == cal.trading_day("HKGX_OUTCRY", MON)
    assert h.quota.day(N) == cal.trading_day("SGE_SPOT", MON)
    h.now = MON
    (ack,) = h.order(SH, "HKGX.RKG", 1, 1, "550.00", tif="1", clordid="G1")     # GTC: survives the roll
    assert f(ack, 150) == b"0" and h.quota.used(S) > 0
    h.flow.on_timer(MON + DAY)
    assert h.quota.used(S) == 0 and h.quota.day(S) == cal.trading_day("HKGX_OUTCRY", MON + DAY)
    h.now = MON + DAY
    outs = h.send(SH, b"F", [(41, "G1"), (11, "G1c"), (55, "HKGX.RKG"), (54, 1), (60, "20260101-00:00:00")])
    assert f(ers(outs)[0], 150) == b"4"
    assert h.quota.used(S) == 0          # yesterday's claim is not given back to today's quota


def _hkt(day: str, hhmm: str) -> int:
    """UTC ns of a Hong Kong wall-clock time (UTC+8, no daylight saving)."""
    from datetime import datetime
    return int(datetime.fromisoformat(f"{day}T{hhmm}+08:00").timestamp()) * 10**9


def _southbound_buy(h: Harness, t: int, symbol: str = "HKGX.RKG", price: str = "560.00") -> None:
    h.now = t
    h.flow.on_timer(t)
    h.order(HK, symbol, 2, 1, price)
    h.order(SH, symbol, 1, 1, price)


def test_the_southbound_day_follows_the_books_that_use_it() -> None:
    from datetime import date
    h = Harness()
    used = h.quota.view
    _southbound_buy(h, _hkt("2026-03-02", "15:00"))
    assert (used()["southbound"]["used_cny"], h.quota.day(S)) == ("559212.38", date(2026, 3, 2))
    # 07:30 Tuesday: the RMB kilobar's e-platform is on Tuesday's trading day (from 05:00), the open outcry
    # not yet (09:00): the quota is on Tuesday, and Tuesday's buy counts there.
    _southbound_buy(h, _hkt("2026-03-03", "07:30"))
    assert (used()["southbound"]["used_cny"], h.quota.day(S)) == ("559212.38", date(2026, 3, 3))
    h.flow.on_timer(_hkt("2026-03-03", "09:00"))          # the outcry opening does not wipe it
    assert (used()["southbound"]["used_cny"], h.quota.day(S)) == ("559212.38", date(2026, 3, 3))
    # Easter Monday 2026-04-06 is a Hong Kong holiday; loco London trades (its day is 04-06 in New York).
    _southbound_buy(h, _hkt("2026-04-02", "15:00"), "HKGX.LLG", "2400.00")
    assert (used()["southbound"]["used_cny"], h.quota.day(S)) == ("1704000.00", date(2026, 4, 2))
    h.flow.on_timer(_hkt("2026-04-06", "22:00"))
    assert (used()["southbound"]["used_cny"], h.quota.day(S)) == ("0.00", date(2026, 4, 6))


def test_a_configured_schedule_alone_gives_a_directions_day() -> None:
    from datetime import date

    from router.config import build_config, embedded_defaults
    tree = embedded_defaults()
    tree["quota"]["southbound_schedule"] = "HKGX_OUTCRY"
    h = Harness(config=build_config(tree))
    _southbound_buy(h, _hkt("2026-03-02", "15:00"))
    h.flow.on_timer(_hkt("2026-03-03", "07:30"))
    assert (h.quota.view()["southbound"]["used_cny"], h.quota.day(S)) == ("559212.38", date(2026, 3, 2))
    h.flow.on_timer(_hkt("2026-03-03", "09:00"))
    assert (h.quota.view()["southbound"]["used_cny"], h.quota.day(S)) == ("0.00", date(2026, 3, 3))


def test_a_quota_schedule_must_be_one_the_directions_books_use() -> None:
    import pytest

    from router.config import build_config, embedded_defaults
    from router.domain.errors import ConfigError
    for key, value in (("southbound_schedule", "SGE_SPOT"), ("southbound_schedule", "NOPE"),
                       ("northbound_schedule", "HKGX_LLG"), ("northbound_schedule", 5)):
        tree = embedded_defaults()
        tree["quota"][key] = value
        with pytest.raises(ConfigError) as err:
            build_config(tree)
        assert f"quota.{key}" in str(err.value)
