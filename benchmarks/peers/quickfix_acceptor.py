"""Industry peer for the round-trip benchmark: a QuickFIX (C++ engine, PyPI binding) acceptor.

Two applications, both with QuickFIX's dictionary validation on and its file store, so both sides
pay for persistence and checks:
  --app ack     (target `quickfix`) answers every NewOrderSingle with one ExecutionReport
                (ExecType=0 New) built field by field, and keeps nothing.
  --app orders  (target `quickfix_orders`, the router service's like-for-like peer) runs a small
                order-acknowledging application: it keeps every order by (session, ClOrdID),
                refuses a duplicate ClOrdID, an unknown symbol, a non-positive quantity or price
                with ExecType=8, acknowledges the others (150=0) and, for an immediate order
                (IOC/FOK, which meets no book here), sends its cancelled remainder (150=4) --
                the same two reports per order the router sends for an IOC on an empty book.
Run as a separate process by `benchmarks.roundtrip`; prints "READY <port>" once it listens and
stops on SIGTERM.  Not a test of QuickFIX itself and not used outside the benchmark.

usage: python -m benchmarks.peers.quickfix_acceptor --port N --dir DIR [--app ack|orders]
       [--sender-comp-id GOLDRTR] [--target-comp-id BENCH] [--dict FILE] [--store file|memory]
"""
from __future__ import annotations

import argparse
import itertools
import os
import signal
import sys
import threading

import quickfix as fix


def stock_fix44_dictionary() -> str:
    """The FIX44.xml the PyPI wheel installs under <prefix>/share/quickfix."""
    for prefix in (sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(fix.__file__))):
        path = os.path.join(prefix, "share", "quickfix", "FIX44.xml")
        if os.path.exists(path):
            return path
    raise FileNotFoundError("FIX44.xml of the quickfix wheel not found")


class AckApp(fix.Application):
    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self.acked = 0

    def onCreate(self, session_id):
        pass

    def onLogon(self, session_id):
        pass

    def onLogout(self, session_id):
        pass

    def toAdmin(self, message, session_id):
        pass

    def fromAdmin(self, message, session_id):
        pass

    def toApp(self, message, session_id):
        pass

    def fromApp(self, message, session_id):
        msg_type = fix.MsgType()
        message.getHeader().getField(msg_type)
        if msg_type.getValue() != fix.MsgType_NewOrderSingle:
            return
        n = next(self._ids)
        report = fix.Message()
        report.getHeader().setField(fix.MsgType(fix.MsgType_ExecutionReport))
        for field in (fix.ClOrdID(), fix.Symbol(), fix.Side(), fix.OrderQty()):
            message.getField(field)
            report.setField(field)
        report.setField(fix.OrderID(f"Q{n}"))
        report.setField(fix.ExecID(f"QE{n}"))
        report.setField(fix.ExecType(fix.ExecType_NEW))
        report.setField(fix.OrdStatus(fix.OrdStatus_NEW))
        qty = fix.OrderQty()
        message.getField(qty)
        report.setField(fix.LeavesQty(qty.getValue()))
        report.setField(fix.CumQty(0))
        report.setField(fix.AvgPx(0))
        fix.Session.sendToTarget(report, session_id)
        self.acked += 1


class OrdersApp(AckApp):
    """Keeps orders and answers as an order-handling application would (see the module docstring)."""

    SYMBOLS = frozenset(("SGE.AU9999", "SGEI.IAU9999", "HKGX.RKG", "HKGX.AU99TAEL"))

    def __init__(self) -> None:
        super().__init__()
        self.orders: dict[tuple[str, str], dict] = {}
        self.rejected = 0

    def fromApp(self, message, session_id):
        msg_type = fix.MsgType()
        message.getHeader().getField(msg_type)
        if msg_type.getValue() != fix.MsgType_NewOrderSingle:
            return
        clordid, symbol, side, qty, price, tif = (fix.ClOrdID(), fix.Symbol(), fix.Side(), fix.OrderQty(),
                                                  fix.Price(), fix.TimeInForce())
        for field in (clordid, symbol, side, qty):
            message.getField(field)
        has_price = message.isSetField(price)
        if has_price:
            message.getField(price)
        immediate = False
        if message.isSetField(tif):
            message.getField(tif)
            immediate = tif.getValue() in (fix.TimeInForce_IMMEDIATE_OR_CANCEL, fix.TimeInForce_FILL_OR_KILL)
        key = (session_id.toString(), clordid.getValue())
        problem = ("duplicate ClOrdID" if key in self.orders else
                   "unknown symbol" if symbol.getValue() not in self.SYMBOLS else
                   "quantity must be positive" if qty.getValue() <= 0 else
                   "price must be positive" if has_price and price.getValue() <= 0 else None)
        n = next(self._ids)
        order = {"id": f"Q{n}", "clordid": clordid.getValue(), "symbol": symbol.getValue(),
                 "side": side.getValue(), "qty": qty.getValue(), "cum": 0.0}
        if problem is not None:
            self.rejected += 1
            self._report(session_id, order, n, fix.ExecType_REJECTED, fix.OrdStatus_REJECTED, 0, problem)
            return
        self.orders[key] = order
        self._report(session_id, order, n, fix.ExecType_NEW, fix.OrdStatus_NEW, order["qty"])
        self.acked += 1
        if immediate:
            self._report(session_id, order, n, fix.ExecType_CANCELED, fix.OrdStatus_CANCELED, 0,
                         "unfilled remainder cancelled (immediate order)")

    def _report(self, session_id, order: dict, n: int, exec_type: str, status: str, leaves: float,
                text: str | None = None) -> None:
        report = fix.Message()
        report.getHeader().setField(fix.MsgType(fix.MsgType_ExecutionReport))
        report.setField(fix.OrderID(order["id"]))
        report.setField(fix.ClOrdID(order["clordid"]))
        report.setField(fix.ExecID(f"QE{n}{exec_type}"))
        report.setField(fix.ExecType(exec_type))
        report.setField(fix.OrdStatus(status))
        report.setField(fix.Symbol(order["symbol"]))
        report.setField(fix.Side(order["side"]))
        report.setField(fix.OrderQty(order["qty"]))
        report.setField(fix.LeavesQty(leaves))
        report.setField(fix.CumQty(order["cum"]))
        report.setField(fix.AvgPx(0))
        if text:
            report.setField(fix.Text(text))
        fix.Session.sendToTarget(report, session_id)


def settings_text(args: argparse.Namespace) -> str:
    store = (f"FileStorePath={os.path.join(args.dir, 'store')}\n" if args.store == "file" else "")
    return (
        "[DEFAULT]\n"
        "ConnectionType=acceptor\n"
        f"SocketAcceptPort={args.port}\n"
        "SocketAcceptHost=127.0.0.1\n"
        "SocketNodelay=Y\n"
        "StartTime=00:00:00\n"
        "EndTime=00:00:00\n"
        "UseDataDictionary=Y\n"
        f"DataDictionary={args.dict}\n"
        "ValidateUserDefinedFields=N\n"
        "ResetOnLogon=Y\n"
        f"{store}"
        "\n[SESSION]\n"
        "BeginString=FIX.4.4\n"
        f"SenderCompID={args.sender_comp_id}\n"
        f"TargetCompID={args.target_comp_id}\n"
        "HeartBtInt=30\n"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True, help="scratch directory for settings and the store")
    p.add_argument("--sender-comp-id", default="GOLDRTR")
    p.add_argument("--target-comp-id", default="BENCH")
    p.add_argument("--dict", default=None, help="FIX 4.4 data dictionary (default: the wheel's FIX44.xml)")
    p.add_argument("--store", choices=("file", "memory"), default="file")
    p.add_argument("--app", choices=("ack", "orders"), default="ack",
                   help="ack: one ExecutionReport per order; orders: keep orders, check, ack (and cancel an IOC)")
    args = p.parse_args(argv)
    args.dict = args.dict or stock_fix44_dictionary()
    os.makedirs(args.dir, exist_ok=True)
    cfg = os.path.join(args.dir, "acceptor.cfg")
    with open(cfg, "w") as fh:
        fh.write(settings_text(args))

    settings = fix.SessionSettings(cfg)
    store = (fix.FileStoreFactory(settings) if args.store == "file" else fix.MemoryStoreFactory())
    app = OrdersApp() if args.app == "orders" else AckApp()
    acceptor = fix.SocketAcceptor(app, store, settings, fix.ScreenLogFactory(False, False, False))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    acceptor.start()
    print(f"READY {args.port}", flush=True)
    while not stop.wait(0.2):
        pass
    acceptor.stop()
    print(f"ACKED {app.acked}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
