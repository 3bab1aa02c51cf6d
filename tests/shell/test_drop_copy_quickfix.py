"""The stock QuickFIX initiator (PyPI `quickfix`, our dictionary loaded, validation on) as the drop-copy
client of the real `gold-router serve` process, with two trading sessions in the same initiator: the
drop copy sees every execution report of the two clients, keeps its sequence numbers across a kill -9
of the router (QuickFIX asks for the gap itself), and a TradeCaptureReportRequest at the end returns
exactly the fills the clients saw. No Reject crosses any session."""
from __future__ import annotations

import asyncio
import socket
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

quickfix = pytest.importorskip("quickfix")
fix44 = pytest.importorskip("quickfix44")

from tests.fix.test_quickfix import Counterparty, fields, settings_text as one_session_settings, wait_for  # noqa: E402
from tests.shell.test_recovery import kill9, start_serve  # noqa: E402

pytestmark = [pytest.mark.quickfix, pytest.mark.slow]
SH, HK, DC = "SHCLIENT1", "HKCLIENT1", "DROPCOPY1"
SESSIONS = (SH, HK, DC)


class Client(Counterparty):
    """Keeps, per session, every application message (QuickFIX's thread) and who is logged on."""

    def __init__(self) -> None:
        super().__init__()
        self.by_session: list[tuple[str, dict[str, str]]] = []
        self.logged_on: set[str] = set()

    def onLogon(self, session_id):
        super().onLogon(session_id)
        self.logged_on.add(session_id.getSenderCompID().getValue())

    def onLogout(self, session_id):
        super().onLogout(session_id)
        self.logged_on.discard(session_id.getSenderCompID().getValue())

    def fromApp(self, message, session_id):
        super().fromApp(message, session_id)
        self.by_session.append((session_id.getSenderCompID().getValue(), fields(message.toString())))

    def got(self, session: str, msg_type: str) -> list[dict[str, str]]:
        return [m for s, m in list(self.by_session) if s == session and m["35"] == msg_type]

    def reports(self, *sessions: str) -> dict[str, dict[str, str]]:
        """ExecID -> report (resent duplicates collapse), status answers left out."""
        return {m["17"]: m for s in sessions for m in self.got(s, "8") if m["150"] != "I"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_text(tmp: Path, port: int) -> str:
    text = one_session_settings(tmp, port)
    for s in (HK, DC):
        text += f"\n[SESSION]\nBeginString=FIX.4.4\nSenderCompID={s}\nTargetCompID=GOLDRTR\n"
    return text


def sid(session: str) -> "quickfix.SessionID":
    return quickfix.SessionID("FIX.4.4", session, "GOLDRTR")


def send_order(session: str, clordid: str, side: int, qty: int, price: str) -> None:
    m = quickfix.Message()
    m.getHeader().setField(quickfix.MsgType("D"))
    for tag, value in ((11, clordid), (55, "HKGX.RKG"), (54, side), (38, qty), (40, 2), (44, price), (59, 1)):
        m.setField(quickfix.StringField(tag, str(value)))
    m.setField(quickfix.TransactTime())
    quickfix.Session.sendToTarget(m, sid(session))


async def cross(client: Client, tag: str, n: int) -> None:
    """n trades of one lot: HKCLIENT1 offers two lots, SHCLIENT1 lifts one."""
    for i in range(n):
        send_order(HK, f"{tag}S{i}", 2, 2, f"{560 + i}.00")
        await wait_for(lambda: any(m["11"] == f"{tag}S{i}" for m in client.got(HK, "8")), what=f"{tag}S{i} ack")
        send_order(SH, f"{tag}B{i}", 1, 1, f"{560 + i}.00")
        await wait_for(lambda: any(m["11"] == f"{tag}B{i}" and m["150"] == "F" for m in client.got(SH, "8")),
                       what=f"{tag}B{i} fill")


def fills(reports) -> Counter:
    return Counter((m["37"], m["54"], m["32"], m["31"], m["1"]) for m in reports if m["150"] == "F")


@pytest.mark.timeout(300)
async def test_quickfix_drop_copy_across_kill_9_ends_with_exactly_the_clients_trades(tmp_path: Path) -> None:
    port = free_port()
    proc, _ = await start_serve(tmp_path, "--fix-port", str(port))
    path = tmp_path / "initiator.cfg"
    path.write_text(settings_text(tmp_path, port))
    settings = quickfix.SessionSettings(str(path))
    client = Client()
    initiator = quickfix.SocketInitiator(client, quickfix.FileStoreFactory(settings), settings,
                                         quickfix.FileLogFactory(settings))
    initiator.start()
    loop = asyncio.get_running_loop()
    try:
        await wait_for(lambda: client.logged_on == set(SESSIONS), what="three QuickFIX logons")
        await cross(client, "a", 3)
        await wait_for(lambda: set(client.reports(DC)) == set(client.reports(SH, HK)), what="drop copies")

        await kill9(proc)
        await wait_for(lambda: not client.logged_on, what="the sessions noticing the kill")
        proc, _ = await start_serve(tmp_path, "--fix-port", str(port))
        await wait_for(lambda: client.logged_on == set(SESSIONS), timeout=30, what="logons after the restart")
        await cross(client, "b", 3)
        await wait_for(lambda: set(client.reports(DC)) == set(client.reports(SH, HK)), what="drop copies after")
        seen = client.reports(SH, HK)
        assert len(seen) == 24                       # 6 x (New + fill) per side
        assert all(m.get("797") == "Y" for m in client.reports(DC).values())

        today = datetime.now(timezone.utc).date()
        ad = fix44.TradeCaptureReportRequest()
        ad.setField(quickfix.TradeRequestID("TR1"))
        ad.setField(quickfix.TradeRequestType(0))
        ad.setField(quickfix.SubscriptionRequestType("0"))
        for d in (today - timedelta(days=1), today + timedelta(days=1)):
            g = fix44.TradeCaptureReportRequest.NoDates()
            g.setField(quickfix.TradeDate(d.strftime("%Y%m%d")))
            ad.addGroup(g)
        quickfix.Session.sendToTarget(ad, sid(DC))
        await wait_for(lambda: client.got(DC, "AQ"), what="trade capture ack")
        (ack,) = client.got(DC, "AQ")
        assert ack["750"] == "0" and ack["748"] == "12"
        await wait_for(lambda: len(client.got(DC, "AE")) == 12, what="twelve trade capture reports")
        trades = client.got(DC, "AE")
        assert Counter((m["37"], m["54"], m["32"], m["31"], m["1"]) for m in trades) == fills(seen.values())
        assert [m["912"] for m in trades] == ["N"] * 11 + ["Y"]

        await loop.run_in_executor(None, initiator.stop)
    finally:
        if not initiator.isStopped():
            await loop.run_in_executor(None, initiator.stop, True)
        if proc.returncode is None:
            await kill9(proc)
        print((await proc.stderr.read()).decode()[-4000:])

    for s in SESSIONS:
        log_dir = tmp_path / "qf-log"
        messages = (log_dir / f"FIX.4.4-{s}-GOLDRTR.messages.current.log").read_text()
        events = (log_dir / f"FIX.4.4-{s}-GOLDRTR.event.current.log").read_text()
        msg_types = [fields(line.split(" : ", 1)[-1])["35"] for line in messages.splitlines() if "35=" in line]
        assert "3" not in msg_types and "j" not in msg_types, f"a Reject crossed session {s}"
        assert "Rejected" not in events and "Invalid" not in events, events
