"""Log on to gold-router as SHCLIENT1 with a stock QuickFIX initiator, buy 1 lot of SGE.AU9999 at
560.00 CNY/g (a DAY limit order), cancel it once acknowledged, and print every ExecutionReport.

usage: python examples/first_order.py [examples/initiator.cfg]     (with `gold-router serve` running)
"""
import sys
import time

import quickfix as fix


class Client(fix.Application):
    def __init__(self):
        super().__init__()
        self.session, self.reports = None, []

    def onCreate(self, sid): pass
    def onLogon(self, sid): self.session = sid
    def onLogout(self, sid): pass
    def toAdmin(self, msg, sid): pass
    def fromAdmin(self, msg, sid): pass
    def toApp(self, msg, sid): print("sent    ", msg.toString().replace("\x01", "|"))

    def fromApp(self, msg, sid):
        print("received", msg.toString().replace("\x01", "|"))
        if msg.getHeader().getField(35) == "8":
            self.reports.append(msg.getField(150))      # ExecType: 0 new, 4 cancelled, 8 rejected, F fill


def send(client, msg_type, fields):
    msg = fix.Message()
    msg.getHeader().setField(fix.MsgType(msg_type))
    for tag, value in fields:
        msg.setField(fix.StringField(tag, value))
    msg.setField(fix.TransactTime())
    fix.Session.sendToTarget(msg, client.session)


def wait(condition, seconds=15.0):
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            sys.exit("gold-router did not answer in time (is `gold-router serve` running?)")
        time.sleep(0.05)


def main():
    settings = fix.SessionSettings(sys.argv[1] if len(sys.argv) > 1 else "examples/initiator.cfg")
    client = Client()
    initiator = fix.SocketInitiator(client, fix.FileStoreFactory(settings), settings, fix.FileLogFactory(settings))
    initiator.start()
    try:
        wait(lambda: client.session is not None)
        order_id = f"FIRST-{int(time.time())}"
        send(client, "D", [(11, order_id), (55, "SGE.AU9999"), (54, "1"), (38, "1"), (40, "2"), (44, "560.00"),
                           (59, "0")])
        wait(lambda: client.reports)
        if client.reports[0] != "8":        # acknowledged: cancel it again
            send(client, "F", [(41, order_id), (11, order_id + "-C"), (55, "SGE.AU9999"), (54, "1")])
            wait(lambda: "4" in client.reports)
    finally:
        initiator.stop()


if __name__ == "__main__":
    main()
