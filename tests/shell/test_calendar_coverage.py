"""Holiday calendars that run out: a date past `calendars.<name>.covers_until` is not a trading day.

The default lists end 2026-12-31, so with the default configuration an order on a January 2027 weekday is
rejected `calendar_unknown` (OrdRejReason 2, Text naming the calendar and the key to extend), through the
order flow with time passed in and over real TCP FIX with the application's clock set to that date; an
overlay file that moves `covers_until` makes the same instant tradeable; a bad value names the key.
The `serve` process itself takes no clock, so it is not started here.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from router.app import build_router_app
from router.config import calendar_warnings, load_config
from router.domain.calendar import SessionState
from router.domain.errors import ConfigError
from router.fix.codec import encode, parse_frame
from router.fix.config import with_overrides
from router.fix.gateway import start_gateway
from router.ops.metrics import Metrics
from tests.fixclient import FixClient, now_ts

CONFIG = load_config()
SH = "SHCLIENT1"


def _ns(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp()) * 1_000_000_000


JAN_2027 = _ns(2027, 1, 5, 2, 0)     # Tuesday 10:00 in Shanghai and Hong Kong: a weekday past the lists
DEC_2026 = _ns(2026, 12, 29, 2, 0)   # Tuesday 10:00, inside the lists


def _order(clordid: str, symbol: str, qty, price: str) -> list:
    return [(11, clordid), (55, symbol), (54, 1), (60, now_ts()), (38, qty), (40, 2), (44, price)]


def _send(app, clordid: str, symbol: str, qty, price: str, now: int):
    msg = parse_frame(encode(b"D", SH.encode(), b"GOLDRTR", 1, b"20270105-02:00:00.000",
                             _order(clordid, symbol, qty, price)))
    (er,) = app.flow.on_message(SH, msg, now)
    return dict(er.body)


def test_order_past_the_holiday_list_is_rejected_calendar_unknown() -> None:
    metrics = Metrics()
    app = build_router_app(CONFIG, sessions_always_open=False, reference_engine=True, metrics=metrics,
                           clock=lambda: JAN_2027)
    body = _send(app, "C1", "SGE.AU9999", 1, "560.00", JAN_2027)
    assert body[150] == b"8" and body[103] == 2
    assert "CN_SGE holiday calendar ends 2026-12-31; extend calendars.CN_SGE.holidays" in body[58]
    hk = _send(app, "C2", "HKGX.RKG", 1, "560.00", JAN_2027)
    assert hk[150] == b"8" and "HK_HKGX holiday calendar ends 2026-12-31" in hk[58]
    # A product whose every book is past its calendar gets the same single reason.
    product = _send(app, "C3", "GOLD.KG9999", 1000, "561.00", JAN_2027)
    assert product[150] == b"8" and product[103] == 2 and "holiday calendar ends 2026-12-31" in product[58]
    assert 'orders_rejected_total{reason="calendar_unknown"} 3.0' in metrics.exposition().decode()
    # The calendars themselves report the day as closed and uncovered.
    cals = CONFIG.sections["calendars"]
    assert cals.session_state("SGE_SPOT", JAN_2027) is SessionState.CLOSED
    assert not cals.covers("SGE_SPOT", JAN_2027) and cals.covers("SGE_SPOT", DEC_2026)


def test_inside_the_list_and_with_sessions_always_open_the_same_order_is_accepted() -> None:
    app = build_router_app(CONFIG, sessions_always_open=False, reference_engine=True, clock=lambda: DEC_2026)
    assert _send(app, "C1", "SGE.AU9999", 1, "560.00", DEC_2026)[150] == b"0"
    open_app = build_router_app(CONFIG, sessions_always_open=True, reference_engine=True, clock=lambda: JAN_2027)
    assert _send(open_app, "C1", "SGE.AU9999", 1, "560.00", JAN_2027)[150] == b"0"


def test_an_overlay_extending_covers_until_makes_the_date_tradeable(tmp_path) -> None:
    overlay = tmp_path / "extend.toml"
    overlay.write_text('[calendars.CN_SGE]\ncovers_until = "2027-01-31"\n', encoding="utf-8")
    config = load_config(overlay)
    app = build_router_app(config, sessions_always_open=False, reference_engine=True, clock=lambda: JAN_2027)
    assert _send(app, "C1", "SGE.AU9999", 1, "560.00", JAN_2027)[150] == b"0"
    # Hong Kong was not extended: still refused.
    assert _send(app, "C2", "HKGX.RKG", 1, "560.00", JAN_2027)[150] == b"8"
    # An overlay holiday inside the extension closes that day.
    overlay.write_text('[calendars.CN_SGE]\ncovers_until = "2027-01-31"\nholidays = ["2027-01-05"]\n',
                       encoding="utf-8")
    closed = build_router_app(load_config(overlay), sessions_always_open=False, reference_engine=True,
                              clock=lambda: JAN_2027)
    body = _send(closed, "C1", "SGE.AU9999", 1, "560.00", JAN_2027)
    assert body[150] == b"8" and "trading session closed (schedule SGE_SPOT)" in body[58]


@pytest.mark.parametrize("text, key, problem", [
    ('[calendars.CN_SGE]\ncovers_until = "31/12/2027"\n', "calendars.CN_SGE.covers_until", "is not a date"),
    ('[calendars.HK_HKGX]\ncovers_until = 2027\n', "calendars.HK_HKGX.covers_until", "is not a date"),
    ('[calendars.LLG]\nholidays = ["2027-01-01"]\n', "calendars.LLG.holidays", "after covers_until"),
    ('[calendars.NEW]\nholidays = []\n', "calendars.NEW.covers_until", "missing"),
])
def test_a_bad_covers_until_in_an_overlay_names_the_file_and_key(tmp_path, text: str, key: str,
                                                                 problem: str) -> None:
    overlay = tmp_path / "bad.toml"
    overlay.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(overlay)
    assert err.value.key == key and problem in err.value.problem
    assert str(overlay) in str(err.value)


def test_warnings_say_orders_are_refused_once_the_list_has_run_out() -> None:
    assert calendar_warnings(CONFIG, date(2026, 10, 1)) == []
    ahead = calendar_warnings(CONFIG, date(2026, 12, 3))
    assert ahead and all("covers only until 2026-12-31" in w and "calendar_unknown after" in w for w in ahead)
    past = calendar_warnings(CONFIG, date(2027, 1, 5))
    assert len(past) == len(ahead) and all("calendar_unknown since" in w for w in past)


async def test_calendar_unknown_over_fix_with_the_app_clock_in_january_2027() -> None:
    app = build_router_app(CONFIG, sessions_always_open=False, clock=lambda: JAN_2027)
    app.warm_up()
    gateway = await start_gateway(with_overrides(CONFIG.sections["fix"], port=0, store="memory"), app)
    app.attach_gateway(gateway)
    client = await FixClient.connect(gateway.port, SH)
    try:
        await client.logon(reset=True)
        await client.send(b"D", _order("F1", "SGE.AU9999", 1, "560.00"))
        rej = await client.expect(b"8")
        assert rej.get(150) == b"8" and rej.get(39) == b"8" and rej.get(103) == b"2"
        assert b"CN_SGE holiday calendar ends 2026-12-31" in rej.get(58)
    finally:
        await client.close()
        await gateway.close(timeout=0.5)
