"""FX in routing: books whose conversion needs a stale rate are excluded `fx_stale`, and an account's
funding currency adds the FX half-spread to the all-in price; through the router application with time
passed in (its clock), rates set by the journaled admin command."""
from __future__ import annotations

from decimal import Decimal as D

from router.app import build_router_app
from router.config import load_config
from router.fix.codec import encode, parse_frame
from router.records.state_hash import flow_state_hash

T0 = 1_780_000_000 * 10**9
S = 10**9
SH = "SHCLIENT1"
ALL = {"USDCNY": "7.1000", "USDCNH": "7.1100", "USDHKD": "7.8000"}


def _app(tmp_path, overlay: str):
    path = tmp_path / "fx.toml"
    path.write_text(overlay, encoding="utf-8")
    now = [T0]
    app = build_router_app(load_config(path), sessions_always_open=True, reference_engine=True,
                           clock=lambda: now[0])
    return app, now


def _order(app, now: int, clordid: str, symbol: str, qty, price: str) -> dict:
    body = [(11, clordid), (55, symbol), (54, 1), (60, "20260604-02:00:00"), (38, qty), (40, 2), (44, price)]
    msg = parse_frame(encode(b"D", SH.encode(), b"GOLDRTR", 1, b"20260604-02:00:00.000", body))
    outs = app.flow.on_message(SH, msg, now)
    return dict(next(o for o in outs if o.msg_type == b"8").body)


def test_a_book_needing_a_rate_older_than_max_age_is_excluded_fx_stale(tmp_path) -> None:
    app, now = _app(tmp_path, "[fx]\nmax_age_s = 30\n")
    # Configured rates carry no time: with the check on, a CNH book needs an update first.
    rej = _order(app, T0, "c0", "HKGX.RKG", 1, "560.00")
    assert rej[150] == b"8" and rej[103] == 99 and "fx" in str(rej[58]).lower()
    assert app.flow.routes[-1][3].reason.label == "fx_stale"
    assert "HKGX.RKG: converts with USDCNH, USDCNY, not all updated within fx.max_age_s = 30 s" in str(rej[58])
    assert app.set_fx(dict(ALL)).ok
    now[0] = T0 + 30 * S
    assert _order(app, now[0], "c1", "HKGX.RKG", 1, "560.00")[150] == b"0"
    now[0] = T0 + 31 * S
    assert _order(app, now[0], "c2", "HKGX.RKG", 1, "560.00")[150] == b"8"
    # A CNY book for a CNY price converts nothing: it needs no rate and still trades.
    assert _order(app, now[0], "c3", "SGE.AU9999", 1, "560.00")[150] == b"0"
    # A product: the CNH book is excluded fx_stale, the CNY books are ranked.
    ack = _order(app, now[0], "c4", "GOLD.KG9999", 1000, "561.00")
    assert ack[150] == b"0"
    explained = app.flow.routes_view(1)[0]
    assert {"symbol": "HKGX.RKG", "reason": "fx_stale"}.items() <= next(
        e for e in explained["excluded"] if e["symbol"] == "HKGX.RKG").items()
    assert "HKGX.RKG" not in [c["symbol"] for c in explained["compared"]]
    # A fresh update of the pairs the book needs lets it trade again.
    assert app.set_fx({"USDCNH": "7.1100", "USDCNY": "7.1000"}).ok
    assert _order(app, now[0], "c5", "HKGX.RKG", 1, "560.00")[150] == b"0"


def test_max_age_zero_turns_the_check_off(tmp_path) -> None:
    app, now = _app(tmp_path, "")
    assert app.flow.fx_settings.max_age_s == 0
    assert _order(app, T0 + 10**6 * S, "c1", "HKGX.RKG", 1, "560.00")[150] == b"0"


def test_a_funding_currency_adds_the_half_spread_into_the_settlement_currency(tmp_path) -> None:
    app, now = _app(tmp_path, '[accounts.SHCLIENT1]\nfunding_ccy = "CNY"\n')

    def all_in() -> dict:
        _order(app, now[0], f"q{now[0]}", "GOLD.KG9999", 1000, "561.00")
        now[0] += S
        return {c["symbol"]: D(c["all_in_usd_oz_fine"]) for c in app.flow.routes_view(1)[0]["compared"]}

    before = all_in()
    # The same mids, now two-sided: USDCNH 0.12 wide (half-spread 8,439 ppm), USDCNY has no spread.
    assert app.set_fx({"USDCNH": {"bid": "7.0500", "ask": "7.1700"}}).ok
    after = all_in()
    assert after["SGE.AU9999"] == before["SGE.AU9999"]                  # settles in CNY: nothing to convert
    assert after["SGEI.IAU9999"] > before["SGEI.IAU9999"]                # the International Board settles in CNH
    rkg = app.flow.router.books()["HKGX.RKG"]
    assert rkg.settl_ccy == "CNH" and app.flow.router.fx_costs.funding_ppm("CNY", "CNH") == 8439
    spread_usd = D(-(-rkg.ref_comp * 8439 // 10**6)).scaleb(-6)       # micro-USD per fine oz, rounded up
    assert abs(after["HKGX.RKG"] - before["HKGX.RKG"] - spread_usd) <= D("0.01")
    assert after["HKGX.RKG"] - before["HKGX.RKG"] > D("15")             # ~0.84 % of ~USD 2,450


def test_fx_state_survives_a_snapshot_and_is_hashed(tmp_path) -> None:
    from router.records.snapshot import SnapshotStore
    app, now = _app(tmp_path, "[fx]\nmax_age_s = 30\n")
    assert app.set_fx({"USDCNY": {"bid": "7.0990", "ask": "7.1010"}}).ok
    before = flow_state_hash(app.flow)
    store = SnapshotStore(str(tmp_path / "snap"))
    snap = store.write(1, T0, app.flow)
    fresh, _ = _app(tmp_path, "[fx]\nmax_age_s = 30\n")
    store.load_into(snap.path, fresh.flow)                     # checks the state hashes itself
    fx = fresh.flow.fx
    assert fx.quotes["USDCNY"] == (D("7.0990"), D("7.1010")) and fx.stamps["USDCNY"] == T0
    assert fresh.flow.router.fx is fx                          # the router converts with the restored rates
    assert flow_state_hash(fresh.flow) == before
    # The settings are configuration: a restart with another fx.max_age_s uses the new one.
    other, _ = _app(tmp_path, "[fx]\nmax_age_s = 5\n")
    store.load_into(snap.path, other.flow)
    assert other.flow.fx_settings.max_age_s == 5 and other.flow.router.fx_settings is other.flow.fx_settings
    assert other.flow.fx.stamps["USDCNY"] == T0
    assert app.set_fx({"USDCNY": {"bid": "7.0980", "ask": "7.1020"}}).ok          # same mid, new spread
    assert flow_state_hash(app.flow) != before
