"""A stock QuickFIX initiator (PyPI `quickfix`) runs the full order flow against the router application:
orders, partial fills, a routed product order, replace, status, cancel, mass cancel, market data and
the security list, with QuickFIX's dictionary validation on (our dictionary loaded) and zero rejects
of our messages in its logs."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

quickfix = pytest.importorskip("quickfix")
fix44 = pytest.importorskip("quickfix44")

from router.app import build_router_app  # noqa: E402
from router.config import load_config  # noqa: E402
from router.fix.config import with_overrides  # noqa: E402
from router.fix.gateway import start_gateway  # noqa: E402
from tests.fix.test_quickfix import Counterparty, GatewayCounter, fields, wait_for  # noqa: E402
from tests.fix.test_quickfix import settings_text as one_session_settings  # noqa: E402

pytestmark = [pytest.mark.quickfix, pytest.mark.slow]
SESSIONS = ("SHCLIENT1", "HKCLIENT1")


class Client(Counterparty):
    """The session helper's QuickFIX application, also keeping who received what (QuickFIX's thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_session: list[tuple[str, dict[str, str]]] = []
        self.raw_in: list[str] = []
        self.logged_on: set[str] = set()

    def onLogon(self, session_id):
        super().onLogon(session_id)
        self.logged_on.add(session_id.getSenderCompID().getValue())

    def fromApp(self, message, session_id):
        super().fromApp(message, session_id)
        raw = message.toString()
        self.raw_in.append(raw)
        self.by_session.append((session_id.getSenderCompID().getValue(), fields(raw)))

    def got(self, session: str, msg_type: str, **match: str) -> list[dict[str, str]]:
        out = []
        for s, m in list(self.by_session):
            if s == session and m["35"] == msg_type and all(m.get(k.lstrip("_")) == v for k, v in match.items()):
                out.append(m)
        return out


def settings_text(tmp: Path, port: int) -> str:
    """The session helper's initiator settings, plus a reset at logon and the HKCLIENT1 session."""
    text = one_session_settings(tmp, port).replace("[SESSION]", "ResetOnLogon=Y\n\n[SESSION]")
    return text + "\n[SESSION]\nBeginString=FIX.4.4\nSenderCompID=HKCLIENT1\nTargetCompID=GOLDRTR\n"


def sid(session: str) -> "quickfix.SessionID":
    return quickfix.SessionID("FIX.4.4", session, "GOLDRTR")


def send(session: str, msg_type: str, body: list[tuple[int, str]]) -> None:
    m = quickfix.Message()
    m.getHeader().setField(quickfix.MsgType(msg_type))
    for tag, value in body:
        m.setField(quickfix.StringField(tag, str(value)))
    m.setField(quickfix.TransactTime()) if msg_type in ("D", "F", "G", "q") else None
    quickfix.Session.sendToTarget(m, sid(session))


def order(clordid: str, symbol: str, side: int, qty, price: str) -> list:
    return [(11, clordid), (55, symbol), (54, side), (38, qty), (40, 2), (44, price)]


async def test_quickfix_runs_the_full_order_flow(tmp_path: Path) -> None:
    config = load_config()
    counter = GatewayCounter()
    app = build_router_app(config, sessions_always_open=True)
    app.warm_up()
    gateway = await start_gateway(with_overrides(config.sections["fix"], port=0, store="memory"), app,
                                  observer=counter)
    app.attach_gateway(gateway)
    path = tmp_path / "initiator.cfg"
    path.write_text(settings_text(tmp_path, gateway.port))
    settings = quickfix.SessionSettings(str(path))
    client = Client()
    initiator = quickfix.SocketInitiator(client, quickfix.FileStoreFactory(settings), settings,
                                         quickfix.FileLogFactory(settings))
    initiator.start()
    SH, HK = SESSIONS
    try:
        await wait_for(lambda: client.logged_on == set(SESSIONS), what="both QuickFIX logons")

        # Market data first, so the order flow below produces incremental refreshes.
        md = fix44.MarketDataRequest()
        md.setField(quickfix.MDReqID("MD1"))
        md.setField(quickfix.SubscriptionRequestType("1"))
        md.setField(quickfix.MarketDepth(5))
        md.setField(quickfix.MDUpdateType(1))
        for entry in ("0", "1", "2"):
            g = fix44.MarketDataRequest.NoMDEntryTypes()
            g.setField(quickfix.MDEntryType(entry))
            md.addGroup(g)
        for symbol in ("SGE.AU9999", "GOLD.KG9999"):
            g = fix44.MarketDataRequest.NoRelatedSym()
            g.setField(quickfix.Symbol(symbol))
            md.addGroup(g)
        quickfix.Session.sendToTarget(md, sid(SH))
        await wait_for(lambda: len(client.got(SH, "W")) == 2, what="two snapshots")

        # A resting sell, partially filled by a buy: both sides get their reports.
        send(HK, "D", order("HK-S1", "SGE.AU9999", 2, 10, "560.00"))
        await wait_for(lambda: client.got(HK, "8", _11="HK-S1", _150="0"), what="ack of HK-S1")
        send(SH, "D", order("SH-B1", "SGE.AU9999", 1, 4, "560.00"))
        await wait_for(lambda: client.got(HK, "8", _11="HK-S1", _150="F"), what="passive partial fill")
        (fill,) = client.got(SH, "8", _11="SH-B1", _150="F")
        assert (fill["32"], fill["31"], fill["30"], fill["39"]) == ("4", "560.00", "SGE", "2")
        (passive,) = client.got(HK, "8", _11="HK-S1", _150="F")
        assert (passive["39"], passive["14"], passive["151"]) == ("1", "4", "6")

        # A routed product order takes the rest of the sell and rests its remainder.
        send(SH, "D", order("SH-P1", "GOLD.KG9999", 1, 2000, "561.00"))
        await wait_for(lambda: client.got(SH, "8", _11="SH-P1", _150="F"), what="product fill")
        (ack,) = client.got(SH, "8", _11="SH-P1", _150="0")
        assert ack["7006"].startswith("B GOLD.KG9999 2000 @561.00; 1.") and ".SGE.AU9999 560.94=" in ack["7006"]
        (pfill,) = client.got(SH, "8", _11="SH-P1", _150="F")
        # fine grams: 6 lots of 10 g are 59.994 g fine
        assert (pfill["32"], pfill["14"], pfill["151"]) == ("59.994", "59.994", "1940.006")
        assert (pfill["381"], pfill["120"], pfill["7017"], pfill["7018"]) == ("33600.00", "CNY", "60", "G")

        # Replace, status, cancel.
        send(SH, "G", [(41, "SH-P1"), (11, "SH-P2"), (55, "GOLD.KG9999"), (54, 1), (38, 1500), (40, 2),
                       (44, "560.50")])
        await wait_for(lambda: client.got(SH, "8", _11="SH-P2", _150="5"), what="replaced")
        (rep,) = client.got(SH, "8", _11="SH-P2", _150="5")
        assert (rep["41"], rep["38"], rep["151"], rep["44"]) == ("SH-P1", "1500", "1439.856", "560.50")
        assert rep["7006"].startswith("RPL B GOLD.KG9999 1500 @560.50; rests SGE.AU9999 ")
        send(SH, "H", [(11, "SH-P2"), (55, "GOLD.KG9999"), (54, 1), (790, "ST1")])
        await wait_for(lambda: client.got(SH, "8", _11="SH-P2", _150="I"), what="status")
        assert client.got(SH, "8", _11="SH-P2", _150="I")[0]["790"] == "ST1"
        send(SH, "F", [(41, "SH-P2"), (11, "SH-P3"), (55, "GOLD.KG9999"), (54, 1)])
        await wait_for(lambda: client.got(SH, "8", _11="SH-P3", _150="4"), what="cancelled")
        send(SH, "F", [(41, "NOT-THERE"), (11, "SH-P4"), (55, "GOLD.KG9999"), (54, 1)])
        await wait_for(lambda: client.got(SH, "9", _11="SH-P4"), what="cancel reject")

        # Mass cancel of three working orders.
        for n in range(3):
            send(HK, "D", order(f"HK-M{n}", "HKGX.RKG", 1, 1, "555.00"))
        await wait_for(lambda: len([m for m in client.got(HK, "8", _150="0") if m["11"].startswith("HK-M")]) == 3,
                       what="three acks")
        send(HK, "q", [(11, "HK-MC"), (530, 7)])
        await wait_for(lambda: client.got(HK, "r"), what="mass cancel report")
        (mass,) = client.got(HK, "r")
        assert (mass["531"], mass["533"]) == ("7", "3")
        await wait_for(lambda: len([m for m in client.got(HK, "8", _150="4") if m["11"].startswith("HK-M")]) == 3,
                       what="three cancels")

        # Kill switch on one account: its working order is cancelled, its next order rejected with
        # OrdRejReason 12 (surveillance), the other account trades on; switched off, it trades again.
        send(HK, "D", order("HK-K1", "HKGX.RKG", 1, 1, "555.00"))
        await wait_for(lambda: client.got(HK, "8", _11="HK-K1", _150="0"), what="ack of HK-K1")
        result = app.set_kill_switch("account", "HKCLIENT1", True)
        assert result.ok and result.data["cancelled"] == 1
        await wait_for(lambda: client.got(HK, "8", _11="HK-K1", _150="4"), what="kill switch cancel")
        assert client.got(HK, "8", _11="HK-K1", _150="4")[0]["58"] == "cancelled by kill switch"
        send(HK, "D", order("HK-K2", "HKGX.RKG", 1, 1, "555.00"))
        await wait_for(lambda: client.got(HK, "8", _11="HK-K2", _150="8"), what="kill switch reject")
        (killed,) = client.got(HK, "8", _11="HK-K2", _150="8")
        assert (killed["39"], killed["103"]) == ("8", "12")
        send(SH, "D", order("SH-K3", "SGE.AU9999", 1, 1, "550.00"))
        await wait_for(lambda: client.got(SH, "8", _11="SH-K3", _150="0"), what="other account unaffected")
        assert app.set_kill_switch("account", "HKCLIENT1", False).ok
        send(HK, "D", order("HK-K4", "HKGX.RKG", 1, 1, "555.00"))
        await wait_for(lambda: client.got(HK, "8", _11="HK-K4", _150="0"), what="ack after the kill switch")

        # Reference data.
        send(SH, "x", [(320, "SL1"), (559, 4)])
        await wait_for(lambda: client.got(SH, "y"), what="security list")
        assert client.got(SH, "y")[0]["560"] == "0"
        send(SH, "x", [(320, "SL2"), (559, 0), (55, "NOPE")])
        await wait_for(lambda: client.got(SH, "y", _320="SL2"), what="empty security list")
        assert client.got(SH, "y", _320="SL2")[0]["560"] == "2"
        assert "\x01326=17\x01336=always_open\x01" in next(r for r in client.raw_in if "\x01320=SL1\x01" in r)

        # Trading status of a product: one SecurityStatus per member instrument, validated by QuickFIX.
        send(SH, "e", [(324, "ST1"), (55, "GOLD.KG9999"), (263, 0)])
        await wait_for(lambda: len(client.got(SH, "f", _324="ST1")) >= 2, what="security status")
        assert all((m["326"], m["325"], m["336"]) == ("17", "N", "always_open") for m in client.got(SH, "f"))
        assert client.got(SH, "X"), "no incremental refresh reached the subscriber"
        assert any("269=2" in raw for raw in client.raw_in), "no trade entry reached the subscriber"
        # The documented gold tags on market data, validated by QuickFIX: 7013 on every W and X, and
        # on the consolidated product view 7014 on every level.
        (wp,) = client.got(SH, "W", _55="GOLD.KG9999")
        assert wp["7013"] == "Y" and wp["7009"] == "GF" and wp["7010"] == "G"
        assert client.got(SH, "W", _55="SGE.AU9999")[0]["7013"] == "N"
        xp = client.got(SH, "X", _55="GOLD.KG9999")
        assert xp and all(m["7013"] == "Y" for m in xp)
        assert all(m["7013"] == "N" and "7014" not in m for m in client.got(SH, "X", _55="SGE.AU9999"))
        for raw in client.raw_in:
            if "\x0135=X\x01" in raw and "\x0155=GOLD.KG9999\x01" in raw:
                assert raw.count("\x01279=") == raw.count("\x017014=") > 0, raw

        # Our rejections are valid messages too: a bad tick, an unknown order's status, a bad MD request.
        send(SH, "D", order("SH-BAD", "SGE.AU9999", 1, 1, "560.005"))
        await wait_for(lambda: client.got(SH, "8", _11="SH-BAD", _150="8"), what="rejected order")
        assert client.got(SH, "8", _11="SH-BAD")[0]["103"] == "99"
        send(SH, "H", [(11, "NEVER"), (55, "SGE.AU9999"), (54, 1)])
        await wait_for(lambda: client.got(SH, "8", _11="NEVER", _150="I"), what="unknown-order status")
        bad = fix44.MarketDataRequest()
        bad.setField(quickfix.MDReqID("MD9"))
        bad.setField(quickfix.SubscriptionRequestType("0"))
        bad.setField(quickfix.MarketDepth(1))
        g = fix44.MarketDataRequest.NoMDEntryTypes()
        g.setField(quickfix.MDEntryType("0"))
        bad.addGroup(g)
        g = fix44.MarketDataRequest.NoRelatedSym()
        g.setField(quickfix.Symbol("NOPE"))
        bad.addGroup(g)
        quickfix.Session.sendToTarget(bad, sid(SH))
        await wait_for(lambda: client.got(SH, "Y"), what="market data reject")
        assert client.got(SH, "Y")[0]["281"] == "0"

        await asyncio.get_running_loop().run_in_executor(None, initiator.stop)
    finally:
        if not initiator.isStopped():
            await asyncio.get_running_loop().run_in_executor(None, initiator.stop, True)
        await gateway.close(timeout=0.5)

    assert counter.rejects == []
    for s in SESSIONS:
        log_dir = tmp_path / "qf-log"
        messages = (log_dir / f"FIX.4.4-{s}-GOLDRTR.messages.current.log").read_text()
        events = (log_dir / f"FIX.4.4-{s}-GOLDRTR.event.current.log").read_text()
        msg_types = [fields(line.split(" : ", 1)[-1])["35"] for line in messages.splitlines() if "35=" in line]
        assert "3" not in msg_types and "j" not in msg_types, f"a Reject crossed session {s}"
        assert "Rejected" not in events and "Invalid" not in events, events
