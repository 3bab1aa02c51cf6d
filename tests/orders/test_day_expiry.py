"""DAY orders end at their venue's session close, through the order flow with time passed in.

Tuesday 2026-12-01 is an SGE trading day: SGE.AU9999 (schedule SGE_SPOT) trades until 15:30 Beijing
(07:30 UTC). A DAY order placed at 10:00 expires (ExecType=Expired) at the first timer tick after
15:30, not when the next trading day starts at 20:00; a GTC order stays; after the close a replace is
refused (it could trade) while a cancel is accepted. With sessions "always open" a DAY order lives to
the trading-day roll as before.
"""
from __future__ import annotations

from datetime import datetime, timezone

from router.app import build_router_app
from router.config import load_config
from router.fix.codec import encode, parse_frame

CONFIG = load_config()
SH = "SHCLIENT1"


def _ns(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp()) * 1_000_000_000


OPEN = _ns(2026, 12, 1, 2, 0)          # Tue 10:00 Beijing: continuous
BEFORE_CLOSE = _ns(2026, 12, 1, 7, 29)  # 15:29
AFTER_CLOSE = _ns(2026, 12, 1, 7, 31)   # 15:31: closed until the night session at 20:00
NIGHT = _ns(2026, 12, 1, 12, 1)         # 20:01: Wednesday's trading day has started


def _msg(msg_type: bytes, fields: list):
    return parse_frame(encode(msg_type, SH.encode(), b"GOLDRTR", 1, b"20261201-02:00:00.000", fields))


def _order(clordid: str, tif: int, price: str = "560.00") -> list:
    return [(11, clordid), (55, "SGE.AU9999"), (54, 1), (60, "20261201-02:00:00"), (38, 1), (40, 2),
            (44, price), (59, tif)]


def _reports(outs, msg_type: bytes = b"8") -> list[dict]:
    return [dict(o.body) for o in outs if o.msg_type == msg_type]


def _app(always_open: bool = False):
    return build_router_app(CONFIG, sessions_always_open=always_open, reference_engine=True, clock=lambda: OPEN)


def test_a_day_order_expires_at_the_session_close_and_a_gtc_order_stays() -> None:
    app = _app()
    flow = app.flow
    flow.on_timer(OPEN)
    (day,) = _reports(flow.on_message(SH, _msg(b"D", _order("DAY1", 0)), OPEN))
    (gtc,) = _reports(flow.on_message(SH, _msg(b"D", _order("GTC1", 1, "559.00")), OPEN))
    assert (day[150], gtc[150]) == (b"0", b"0")
    assert _reports(flow.on_timer(BEFORE_CLOSE)) == []
    expired = _reports(flow.on_timer(AFTER_CLOSE))
    assert [(r[11], r[150], r[39]) for r in expired] == [(b"DAY1", b"C", b"C")]
    assert b"day order expired" in expired[0][58]
    assert _reports(flow.on_timer(AFTER_CLOSE + 10**9)) == []      # once
    assert _reports(flow.on_timer(NIGHT)) == []                    # nothing left to end at the roll
    live = {o.clordid for o in flow.index.live.values() if not o.done}
    assert live == {b"GTC1"}


def test_after_the_close_a_replace_is_refused_and_a_cancel_accepted() -> None:
    app = _app()
    flow = app.flow
    flow.on_timer(OPEN)
    flow.on_message(SH, _msg(b"D", _order("GTC1", 1, "559.00")), OPEN)
    flow.on_timer(AFTER_CLOSE)
    (rej,) = _reports(flow.on_message(SH, _msg(b"G", [
        (11, "GTC2"), (41, "GTC1"), (55, "SGE.AU9999"), (54, 1), (60, "20261201-07:32:00"), (38, 1), (40, 2),
        (44, "600.00")]), AFTER_CLOSE), b"9")
    assert rej[434] == b"2" and "session closed" in str(rej[58]) and "only a cancel" in str(rej[58])
    (new_rej,) = _reports(flow.on_message(SH, _msg(b"D", _order("DAY2", 0)), AFTER_CLOSE))
    assert new_rej[150] == b"8" and new_rej[103] == 2
    (cxl,) = _reports(flow.on_message(SH, _msg(b"F", [
        (11, "GTC3"), (41, "GTC1"), (55, "SGE.AU9999"), (54, 1), (60, "20261201-07:32:00")]), AFTER_CLOSE))
    assert (cxl[150], cxl[39]) == (b"4", b"4")


def test_with_sessions_always_open_a_day_order_lives_until_the_trading_day_rolls() -> None:
    app = _app(always_open=True)
    flow = app.flow
    flow.on_timer(OPEN)
    flow.on_message(SH, _msg(b"D", _order("DAY1", 0)), OPEN)
    assert _reports(flow.on_timer(AFTER_CLOSE)) == []
    expired = _reports(flow.on_timer(NIGHT))
    assert [(r[11], r[150]) for r in expired] == [(b"DAY1", b"C")]


def test_the_close_survives_a_snapshot(tmp_path) -> None:
    from router.records.state_hash import flow_state_hash
    app = _app()
    app.flow.on_timer(OPEN)
    app.flow.on_message(SH, _msg(b"D", _order("DAY1", 0)), OPEN)
    close = app.flow.day_close[app.flow.catalogue.instruments["SGE.AU9999"].book_id]
    assert close == _ns(2026, 12, 1, 7, 30)
    before = flow_state_hash(app.flow)
    app.flow.day_close.clear()
    assert flow_state_hash(app.flow) != before                       # the close is state, hashed


def test_whether_day_orders_end_at_the_close_comes_from_configuration_not_a_snapshot(tmp_path) -> None:
    from router.records.snapshot import SnapshotStore
    closing = _app()
    assert closing.flow.expire_at_close and not _app(always_open=True).flow.expire_at_close
    store = SnapshotStore(str(tmp_path))
    snap = store.write(1, OPEN, closing.flow)
    restarted = _app(always_open=True)
    store.load_into(snap.path, restarted.flow)
    assert not restarted.flow.expire_at_close
