"""A stock QuickFIX acceptor with an echo application, as a subprocess peer for the acceptance scripts.

usage: python -m tests.qfpeer DIR      prints "READY <port>" and serves until killed

Same CompIDs as the tests' gateway (GOLDRTR <- SHCLIENT1, SECURE1 with trader/s3cret), our dictionary,
and the echo behaviour of `router.fix.echo`.  The test kills it with SIGKILL: stopping a QuickFIX
acceptor from Python can crash the interpreter, and nothing here needs a clean stop.
"""
from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import quickfix as fix

DICTIONARY = Path(__file__).resolve().parent.parent / "fix_specs" / "FIX44-goldrouter.xml"
ECHOED = (11, 1, 55, 54, 60, 38, 40, 44, 58)


class Echo(fix.Application):
    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, set[str]] = {}

    def onCreate(self, session_id):
        pass

    def onLogon(self, session_id):
        pass

    def onLogout(self, session_id):
        pass

    def toAdmin(self, message, session_id):
        pass

    def fromAdmin(self, message, session_id):
        if message.getHeader().getField(35) == "A" and session_id.getTargetCompID().getString() == "SECURE1":
            user = message.getField(553) if message.isSetField(553) else ""
            password = message.getField(554) if message.isSetField(554) else ""
            if (user, password) != ("trader", "s3cret"):
                raise fix.RejectLogon("Invalid username or password")

    def toApp(self, message, session_id):
        pass

    def fromApp(self, message, session_id):
        header = message.getHeader()
        if header.getField(35) != "D":
            raise fix.UnsupportedMessageType()
        clordid = message.getField(11)
        seen = self.seen.setdefault(session_id.toString(), set())
        if clordid in seen and header.isSetField(97) and header.getField(97) == "Y":
            return
        seen.add(clordid)
        out = fix.Message()
        out.getHeader().setField(fix.MsgType("D"))
        for tag in ECHOED:
            if message.isSetField(tag):
                out.setField(fix.StringField(tag, message.getField(tag)))
        fix.Session.sendToTarget(out, session_id)


def main() -> None:
    work = Path(sys.argv[1])
    work.mkdir(parents=True, exist_ok=True)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = work / "acceptor.cfg"
    cfg.write_text(f"""[DEFAULT]
ConnectionType=acceptor
SocketAcceptHost=127.0.0.1
SocketAcceptPort={port}
FileStorePath={work / 'store'}
FileLogPath={work / 'log'}
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=Y
DataDictionary={DICTIONARY}
SenderCompID=GOLDRTR
BeginString=FIX.4.4
[SESSION]
TargetCompID=SHCLIENT1
[SESSION]
TargetCompID=SECURE1
""")
    settings = fix.SessionSettings(str(cfg))
    acceptor = fix.SocketAcceptor(Echo(), fix.FileStoreFactory(settings), settings, fix.FileLogFactory(settings))
    acceptor.start()
    print(f"READY {port}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
