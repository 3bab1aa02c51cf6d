"""Trading status over FIX, driven through the router application with the real exchange calendars:
SecurityStatusRequest(e) answered with SecurityStatus(f), pushed again when the status changes, the
status in the SecurityList, and the admin view."""
from __future__ import annotations

from router.app import build_router_app
from router.config import load_config
from router.fix.codec import encode, parse_frame, parse_utc_timestamp
from tests.orders.test_flow import f

CONFIG = load_config()
SH = "SHCLIENT1"
SUNDAY = 1_767_484_800_000_000_000          # 2026-01-04 00:00 UTC: every book is closed
WEDNESDAY_10H = 1_767_751_200_000_000_000   # 2026-01-07 02:00 UTC = 10:00 in Shanghai: SGE continuous


class Client:
    def __init__(self, always_open: bool = False) -> None:
        self.app = build_router_app(CONFIG, sessions_always_open=always_open, reference_engine=True,
                                    clock=lambda: SUNDAY)
        self.seq = 0

    def send(self, msg_type: bytes, body: list, now: int):
        self.seq += 1
        msg = parse_frame(encode(msg_type, SH.encode(), b"GOLDRTR", self.seq, b"20260104-00:00:00.000", body))
        return self.app.flow.on_message(SH, msg, now)


def status_request(req_id: str, symbol: str, kind: int) -> list:
    return [(324, req_id), (55, symbol), (263, kind)]


def test_a_closed_book_says_so_and_when_it_opens() -> None:
    c = Client()
    (st,) = c.send(b"e", status_request("S1", "SGE.AU9999", 0), SUNDAY)
    assert st.msg_type == b"f" and f(st, 324) == b"S1" and f(st, 55) == b"SGE.AU9999"
    assert (f(st, 326), f(st, 336), f(st, 325), f(st, 625)) == (b"18", b"SGE_SPOT", b"N", None)
    cal = CONFIG.sections["calendars"]
    nxt = cal.next_change("SGE_SPOT", SUNDAY)
    assert parse_utc_timestamp(f(st, 7015)) == nxt
    assert f(st, 7016) in (b"17", b"21")
    assert f(st, 58).startswith(b"SGE.AU9999 closed (not available for trading), schedule SGE_SPOT; ")


def test_an_open_book_is_ready_to_trade_on_its_trading_day() -> None:
    c = Client()
    (st,) = c.send(b"e", status_request("S2", "SGE.AU9999", 0), WEDNESDAY_10H)
    assert (f(st, 326), f(st, 625), f(st, 7016)) == (b"17", b"3", b"18")
    assert b"trading day 2026-01-07" in f(st, 58)
    # The admin view says the same.
    (view,) = [v for v in c.app.flow.trading.view(WEDNESDAY_10H) if v["symbol"] == "SGE.AU9999"]
    assert view["state"] == "continuous" and view["security_trading_status"] == 17
    assert view["next_change"] == "2026-01-07T07:30:00Z" and view["next_state"] == "closed"


def test_subscribers_get_each_change_pushed_once() -> None:
    c = Client()
    outs = c.send(b"e", status_request("SUB", "GOLD.KG9999", 1), SUNDAY)
    members = CONFIG.catalogue.groups[CONFIG.catalogue.products["GOLD.KG9999"].group].members
    assert sorted(f(o, 55).decode() for o in outs) == sorted(members)
    flow = c.app.flow
    assert flow.on_timer(SUNDAY + 1_000_000_000) == []
    nxt = min(parse_utc_timestamp(f(o, 7015)) for o in outs)
    pushed = [o for o in flow.on_timer(nxt) if o.msg_type == b"f"]
    assert pushed and all(f(o, 325) == b"Y" and f(o, 324) == b"SUB" for o in pushed)
    assert all(f(o, 326) in (b"17", b"21") for o in pushed)
    assert [o for o in flow.on_timer(nxt + 1_000_000_000) if o.msg_type == b"f"] == []
    # Unsubscribed, nothing more is pushed; a second unsubscribe is refused.
    assert c.send(b"e", status_request("SUB", "GOLD.KG9999", 2), nxt) == []
    assert [o for o in flow.on_timer(WEDNESDAY_10H) if o.msg_type == b"f"] == []
    (j,) = c.send(b"e", status_request("SUB", "GOLD.KG9999", 2), nxt)
    assert j.msg_type == b"j" and b"no active status subscription" in f(j, 58)


def test_disconnect_drops_status_subscriptions() -> None:
    c = Client()
    c.send(b"e", status_request("D1", "SGE.AU9999", 1), SUNDAY)
    c.app.flow.disconnected(SH, SUNDAY)
    assert [o for o in c.app.flow.on_timer(WEDNESDAY_10H) if o.msg_type == b"f"] == []


def test_unknown_symbol_gets_a_business_reject_naming_it() -> None:
    (j,) = Client().send(b"e", status_request("U1", "XAU.NOPE", 0), SUNDAY)
    assert j.msg_type == b"j" and f(j, 380) == b"2" and f(j, 379) == b"U1" and b"'XAU.NOPE'" in f(j, 58)


def test_security_list_carries_the_status_now() -> None:
    c = Client()
    (y,) = c.send(b"x", [(320, "L1"), (559, 4)], WEDNESDAY_10H)
    rows: dict[bytes, dict[int, bytes]] = {}
    current = None
    for t, v in y.body:
        if t == 55:
            current = rows.setdefault(v if isinstance(v, bytes) else v.encode(), {})
        elif current is not None:
            current.setdefault(t, v if isinstance(v, bytes) else str(v).encode())
    assert rows[b"SGE.AU9999"][326] == b"17" and rows[b"SGE.AU9999"][336] == b"SGE_SPOT"
    assert 326 not in rows[b"GOLD.KG9999"]


def test_sessions_always_open_is_ready_with_no_change_known() -> None:
    (st,) = Client(always_open=True).send(b"e", status_request("A1", "HKGX.LLG", 0), SUNDAY)
    assert (f(st, 326), f(st, 336), f(st, 7015)) == (b"17", b"always_open", None)
    assert b"always open" in f(st, 58)


def test_each_status_change_is_noted_once_for_the_log() -> None:
    flow = Client().app.flow
    trading = flow.trading
    before = dict(trading.seen)
    flow.on_timer(SUNDAY)
    first = trading.changes_since(before, SUNDAY)
    assert len(first) == len(CONFIG.catalogue.instruments)
    assert any(line.startswith("trading status SGE.AU9999 closed (not available for trading)") for line in first)
    before = dict(trading.seen)
    flow.on_timer(SUNDAY + 1_000_000_000)
    assert trading.changes_since(before, SUNDAY + 1_000_000_000) == []
    flow.on_timer(WEDNESDAY_10H)
    assert any(line.startswith("trading status SGE.AU9999 continuous (ready to trade)") for line in
               trading.changes_since(before, WEDNESDAY_10H))
