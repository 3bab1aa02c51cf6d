"""router.console_view on the real router application (no sockets): the snapshot's parts, and the
obligations cache that keeps the console from re-netting the whole ledger on every snapshot."""
from __future__ import annotations

import json

from router.app import build_router_app
from router.config import load_config
from router.console_view import ObligationsCache, console_view
from router.fix.codec import encode, parse_frame

CONFIG = load_config()
T0 = 1_796_300_000_000_000_000


def msg(sender: str, seq: int, body: list):
    m = parse_frame(encode(b"D", sender.encode(), b"GOLDRTR", seq, b"20261203-02:00:00.000", body))
    m.index()
    return m


def order(clordid: str, symbol: str, side: int, qty: int, price: str) -> list:
    return [(11, clordid), (55, symbol), (54, side), (60, "20261203-02:00:00"), (38, qty), (40, 2), (44, price)]


def test_snapshot_shows_a_cross_border_trade_and_nets_obligations_at_most_once_per_interval():
    app = build_router_app(CONFIG, sessions_always_open=True)
    app.warm_up()
    calls = []
    real = app.obligations_view
    app.obligations_view = lambda day, account: calls.append((day, account)) or real(day, account)
    cache = ObligationsCache(min_interval_ns=1_000_000_000)

    view = console_view(app, None, T0, cache)
    json.dumps(view)                                     # JSON-able as it is
    assert [b["city"] for b in view["books"]].count("Hong Kong") == 3
    assert {q["direction"]: q["used_cny"] for q in view["quota"]} == {"northbound": "0", "southbound": "0"}
    assert view["obligations"] == [] and view["positions"][0]["positions"] == []
    assert calls == [(None, None)]

    app.flow.on_message("HKCLIENT1", msg("HKCLIENT1", 1, order("S1", "HKGX.RKG", 2, 1, "560.00")), T0 + 1)
    app.flow.on_message("SHCLIENT1", msg("SHCLIENT1", 1, order("B1", "HKGX.RKG", 1, 1, "560.00")), T0 + 2)
    view = console_view(app, None, T0 + 500_000_000, cache)
    south = next(q for q in view["quota"] if q["direction"] == "southbound")
    assert south["used_cny"] != "0" and south["used_per_mille"] == 0
    assert view["routes"][0]["clordid"] == "B1" and view["routes"][0]["price_text"] == "560.00"
    assert view["routes"][0]["fills"] == [{"symbol": "HKGX.RKG", "lots": 1, "price": "560.00"}]
    assert view["routes"][1]["fills"] == [{"symbol": "HKGX.RKG", "lots": 1, "price": "560.00"}]   # S1
    assert view["obligations"] == [] and len(calls) == 1      # traded, but within the interval: not re-netted
    view = console_view(app, None, T0 + 1_500_000_000, cache)
    rows = {(o["account"], o["clearing_house"]): o for o in view["obligations"]}
    assert rows["SHCLIENT1", "HKGX"]["cross_border"] == ["southbound"] and len(calls) == 2
    console_view(app, None, T0 + 3_000_000_000, cache)
    assert len(calls) == 2                                    # nothing traded since: not re-netted
