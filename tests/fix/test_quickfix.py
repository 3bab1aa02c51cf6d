"""Interoperability: a stock QuickFIX initiator (PyPI `quickfix`) against our acceptor and echo app,
with QuickFIX's dictionary validation on and our dictionary loaded; its logs must show no reject."""
from __future__ import annotations

import asyncio
import os
import queue
import time
from pathlib import Path

import pytest

quickfix = pytest.importorskip("quickfix")

from router.fix.echo import EchoApp  # noqa: E402
from router.fix.config import parse_fix_config  # noqa: E402
from router.fix.gateway import start_gateway  # noqa: E402

pytestmark = pytest.mark.quickfix

ROOT = Path(__file__).resolve().parents[2]
DICTIONARY = ROOT / "fix_specs" / "FIX44-goldrouter.xml"
SOH = "\x01"


class Counterparty(quickfix.Application):
    """The QuickFIX side's application: records what its engine hands it (engine thread)."""

    def __init__(self):
        super().__init__()
        self.events: queue.Queue = queue.Queue()
        self.app_in: list[str] = []
        self.admin_in: list[str] = []
        self.logons = 0
        self.logouts = 0

    def onCreate(self, session_id):
        pass

    def onLogon(self, session_id):
        self.logons += 1
        self.events.put("logon")

    def onLogout(self, session_id):
        self.logouts += 1
        self.events.put("logout")

    def toAdmin(self, message, session_id):
        pass

    def fromAdmin(self, message, session_id):
        self.admin_in.append(message.toString())

    def toApp(self, message, session_id):
        pass

    def fromApp(self, message, session_id):
        self.app_in.append(message.toString())
        self.events.put("app")


class GatewayCounter:
    """Observer that counts what the acceptor saw, by message type."""

    def __init__(self):
        self.inbound: dict[bytes, int] = {}
        self.rejects: list = []

    def message_in(self, sid, mt):
        self.inbound[mt] = self.inbound.get(mt, 0) + 1

    def message_out(self, sid, mt):
        pass

    def session_state(self, sid, state):
        pass

    def resend_request(self, sid):
        pass

    def session_reject(self, sid, reason):
        self.rejects.append(reason)


def settings_text(tmp: Path, port: int) -> str:
    return f"""
[DEFAULT]
ConnectionType=initiator
ReconnectInterval=1
FileStorePath={tmp / 'qf-store'}
FileLogPath={tmp / 'qf-log'}
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=Y
DataDictionary={DICTIONARY}
ValidateFieldsOutOfOrder=Y
ValidateFieldsHaveValues=Y
ValidateUserDefinedFields=Y
CheckLatency=Y
MaxLatency=120
HeartBtInt=1
SocketConnectHost=127.0.0.1
SocketConnectPort={port}

[SESSION]
BeginString=FIX.4.4
SenderCompID=SHCLIENT1
TargetCompID=GOLDRTR
"""


def new_order(clordid: str) -> "quickfix.Message":
    m = quickfix.Message()
    m.getHeader().setField(quickfix.MsgType("D"))
    m.setField(quickfix.ClOrdID(clordid))
    m.setField(quickfix.Account("SHCLIENT1"))
    m.setField(quickfix.Symbol("SGE.AU9999"))
    m.setField(quickfix.Side(quickfix.Side_BUY))
    m.setField(quickfix.TransactTime())
    m.setField(quickfix.OrderQty(10))
    m.setField(quickfix.OrdType(quickfix.OrdType_LIMIT))
    m.setField(quickfix.Price(56000))
    return m


async def wait_for(pred, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def fields(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in raw.split(SOH):
        if "=" in part:
            k, _, v = part.partition("=")
            out.setdefault(k, v)
    return out


@pytest.mark.slow
async def test_quickfix_initiator_against_gateway(tmp_path):
    counter = GatewayCounter()
    echo = EchoApp()
    cfg = parse_fix_config({"port": 0, "store_dir": str(tmp_path / "gw-store"),
                            "sessions": [{"target_comp_id": "SHCLIENT1"}]})
    gateway = await start_gateway(cfg, echo, observer=counter)
    path = tmp_path / "initiator.cfg"
    path.write_text(settings_text(tmp_path, gateway.port))
    settings = quickfix.SessionSettings(str(path))
    app = Counterparty()
    initiator = quickfix.SocketInitiator(app, quickfix.FileStoreFactory(settings), settings,
                                         quickfix.FileLogFactory(settings))
    sid = quickfix.SessionID("FIX.4.4", "SHCLIENT1", "GOLDRTR")
    initiator.start()
    try:
        # logon
        await wait_for(lambda: app.logons == 1, what="QuickFIX logon")
        qf_session = quickfix.Session.lookupSession(sid)

        # application messages through the echo app
        for i in range(25):
            quickfix.Session.sendToTarget(new_order(f"QF-{i}"), sid)
        await wait_for(lambda: len(app.app_in) >= 25, what="25 echoes")
        echoed = [fields(m)["11"] for m in app.app_in[:25]]
        assert echoed == [f"QF-{i}" for i in range(25)]

        # heartbeats both ways while idle (HeartBtInt=1)
        await wait_for(lambda: counter.inbound.get(b"0", 0) >= 2, what="heartbeats from QuickFIX")
        await wait_for(lambda: sum(1 for m in app.admin_in if fields(m)["35"] == "0") >= 2,
                       what="heartbeats from the gateway")

        # a gap from QuickFIX's side: we ask for a resend, QuickFIX gap-fills
        rr_before = counter.inbound.get(b"4", 0)
        qf_session.setNextSenderMsgSeqNum(qf_session.getExpectedSenderNum() + 5)
        quickfix.Session.sendToTarget(new_order("QF-AFTER-GAP"), sid)
        await wait_for(lambda: any(fields(m)["11"] == "QF-AFTER-GAP" for m in app.app_in), what="echo after gap")
        assert counter.inbound.get(b"4", 0) > rr_before  # QuickFIX answered our ResendRequest with a gap fill

        # disconnect, the gateway sends while the counterparty is away, reconnect: QuickFIX resolves the
        # gap by ResendRequest and gets the stored messages with PossDupFlag=Y
        qf_session.logout()
        await wait_for(lambda: app.logouts == 1, what="QuickFIX logout")
        await wait_for(lambda: gateway.sessions_info()[0]["state"] == "disconnected", what="gateway disconnect")
        handle = gateway.handle("SHCLIENT1")
        body = [(11, b"OFFLINE-1"), (1, b"SHCLIENT1"), (55, b"SGE.AU9999"), (54, b"2"),
                (60, b"20260101-00:00:00.000"), (38, b"10"), (40, b"2"), (44, b"56100")]
        assert handle.send(b"D", body) is False
        assert handle.send(b"D", [(11, b"OFFLINE-2")] + body[1:]) is False
        qf_session.logon()
        await wait_for(lambda: app.logons == 2, what="QuickFIX second logon")
        await wait_for(lambda: sum(1 for m in app.app_in if fields(m)["11"].startswith("OFFLINE")) == 2,
                       what="resent offline messages")
        resent = [fields(m) for m in app.app_in if fields(m)["11"].startswith("OFFLINE")]
        assert [r["11"] for r in resent] == ["OFFLINE-1", "OFFLINE-2"]
        assert all(r.get("43") == "Y" and "122" in r for r in resent)
        assert qf_session.getExpectedTargetNum() == gateway.sessions_info()[0]["next_sender_seq_num"]

        # clean logout; stop() blocks until the Logout handshake is done, and the gateway answers on
        # this thread's event loop, so it runs in a worker thread
        await asyncio.get_running_loop().run_in_executor(None, initiator.stop)
        await wait_for(lambda: gateway.sessions_info()[0]["state"] == "disconnected", what="final disconnect")
        assert app.logouts == 2
    finally:
        if not initiator.isStopped():
            await asyncio.get_running_loop().run_in_executor(None, initiator.stop, True)
        await gateway.close(timeout=0.5)

    assert counter.rejects == []
    log_dir = tmp_path / "qf-log"
    messages = (log_dir / "FIX.4.4-SHCLIENT1-GOLDRTR.messages.current.log").read_text()
    events = (log_dir / "FIX.4.4-SHCLIENT1-GOLDRTR.event.current.log").read_text()
    msg_types = [fields(line.split(" : ", 1)[-1])["35"] for line in messages.splitlines() if "35=" in line]
    assert "3" not in msg_types and "j" not in msg_types, "a Reject crossed the session"
    assert "Rejected" not in events and "Invalid" not in events
    assert "Timed out" not in events  # every Logout and TestRequest was answered in time
    assert events.count("Received logout response") == 2
    assert "2" in msg_types  # ResendRequests happened both ways
    assert msg_types.count("A") == 4
    assert os.path.getsize(log_dir / "FIX.4.4-SHCLIENT1-GOLDRTR.event.current.log") > 0


# ---------------------------------------------------------------- the acceptance scripts against QuickFIX

from tests.fix.test_acceptance import SCRIPTS, run_script  # noqa: E402

SHARED = [p for p in SCRIPTS if "#! quickfix-differs" not in p.read_text()]


def test_most_scripts_describe_behaviour_quickfix_shares():
    assert len(SHARED) >= len(SCRIPTS) * 2 // 3


@pytest.mark.slow
@pytest.mark.parametrize("script", SHARED, ids=[p.stem for p in SHARED])
async def test_script_against_quickfix_acceptor(script, tmp_path):
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "tests.qfpeer", str(tmp_path / "qf")],
                            stdout=subprocess.PIPE, cwd=ROOT)
    try:
        line = await asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline)
        assert line.startswith(b"READY "), line
        await run_script(script, int(line.split()[1]))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
