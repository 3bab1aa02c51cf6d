"""The gold-router FIX gateway answering the round trip's mix as the router does, with no order handling.

A benchmark target process: `router.fix.gateway.start_gateway` with the router's default sessions
(SHCLIENT1 and HKCLIENT1 trading, DROPCOPY1 nobody logs on to), file stores, the metrics observer,
and `AnswerApp`, which sends every message of `benchmarks.rt_mix` the ExecutionReports the router
service sends it, in the same number, to the same sessions, each with its drop copy (stored for
DROPCOPY1 after the answers' socket write, as the router's are), and appends each batch's incoming
frames to a file before the batch's answers leave (the router's command journal with fsync "none":
one write per batch):

  IOC NewOrderSingle (59=3)      150=0, then 150=4 (nothing to trade against)
  DAY NewOrderSingle (59=0)      150=0; at the crossing price a leg that meets the oldest waiting
                                 leg of the other side also fills both (150=F to each session)
  OrderCancelRequest (35=F)      150=4 for the order it names

It decides nothing: no risk, routing, funds, matching or state beyond the crossing legs waiting for
their pair. So its capacity is what the router's FIX work for the mix alone costs on these layers:
the ceiling any order flow, however fast, can reach on them. `benchmarks.roundtrip` runs it as the `gateway_answers` target; `router_app / gateway_answers` is then the order handling's
share and `gateway_answers / gateway` what answering the mix costs against echoing one frame.

Not its job: being correct about orders (every answer is made up from the request's own fields).

usage: python -m benchmarks.peers.gateway_answers --dir DIR [--port 0] [--event-loop uvloop|asyncio]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import deque

TRADING = ("SHCLIENT1", "HKCLIENT1")
DROP_COPY = "DROPCOPY1"
CROSS_PRICE = b"560.00"
_ER = b"8"


class AnswerApp:
    """Answers each message with the router's count of ExecutionReports; see the module docstring."""

    def __init__(self, journal_path: str) -> None:
        self.journal = open(journal_path, "ab")
        self.batch: list[bytes] = []
        self.drop = None              # DROPCOPY1's handle, set once the gateway is up
        self.copies: list[list] = []  # its copies of this read's reports, sent by `after_write`
        self.handles: dict[str, object] = {}
        # Crossing legs waiting for their pair, oldest first, per side: (handle, ClOrdID).
        self.waiting: dict[bytes, deque] = {b"1": deque(), b"2": deque()}
        self.exec_id = 0

    def on_logon(self, handle) -> None:
        self.handles[handle.session_id] = handle

    def on_logout(self, handle) -> None:
        for legs in self.waiting.values():
            legs.clear()

    def commit(self) -> None:
        # Write-ahead, as the router's group commit: the batch's inputs reach the file before any of
        # its answers reach a store or a socket.
        if self.batch:
            self.journal.write(b"".join(self.batch))
            self.journal.flush()
            self.batch.clear()

    def _report(self, handle, clordid: bytes, symbol: bytes, side: bytes, qty: bytes, exec_type: bytes,
                status: bytes, leaves: bytes, cum: bytes) -> None:
        self.exec_id += 1
        body = [(37, b"O%d\x0111=%s\x0117=E%d\x01150=%s\x0139=%s\x0155=%s\x0154=%s\x0138=%s\x01151=%s\x0114=%s"
                 b"\x016=0" % (self.exec_id, clordid, self.exec_id, exec_type, status, symbol, side, qty,
                               leaves, cum))]
        handle.send(_ER, body)
        if self.drop is not None:
            self.copies.append([body[0], (797, b"Y")])

    def after_write(self) -> None:
        # As the router's (`RouterApp.after_write`): the drop copies after the answers' socket write,
        # stored and flushed in the same callback.
        copies, self.copies = self.copies, []
        for body in copies:
            self.drop.send(_ER, body)

    def on_message(self, handle, msg) -> None:
        self.batch.append(msg.raw)
        g = msg.index().get
        clordid, symbol, side, qty = g(b"11"), g(b"55"), g(b"54"), g(b"38")
        if msg.msg_type == b"F":
            self._report(handle, clordid, symbol, side, qty, b"4", b"4", b"0", b"0")
            return
        if msg.msg_type != b"D":
            return
        self._report(handle, clordid, symbol, side, qty, b"0", b"0", qty, b"0")
        if g(b"59") == b"3":
            self._report(handle, clordid, symbol, side, qty, b"4", b"4", b"0", b"0")
        elif g(b"44") == CROSS_PRICE:
            # As the book would: the leg meets the oldest waiting leg of the other side.
            other = self.waiting[b"2" if side == b"1" else b"1"]
            if other:
                peer, peer_clordid = other.popleft()
                self._report(handle, clordid, symbol, side, qty, b"F", b"2", b"0", qty)
                self._report(peer, peer_clordid, symbol, b"2" if side == b"1" else b"1", qty, b"F", b"2", b"0", qty)
            else:
                self.waiting[side].append((handle, clordid))


async def serve(args: argparse.Namespace) -> int:
    from benchmarks.peers.gateway_echo import ready_until_stopped
    from router.fix.config import parse_fix_config
    from router.fix.gateway import start_gateway
    from router.ops.metrics import Metrics, sample_event_loop_lag

    sessions = [{"target_comp_id": s, "account": s, "reset_on_logon": True} for s in TRADING + (DROP_COPY,)]
    config = parse_fix_config({
        "host": "127.0.0.1", "port": args.port, "sender_comp_id": "GOLDRTR",
        "store": "file", "store_dir": os.path.join(args.dir, "store"), "sessions": sessions,
    })
    os.makedirs(args.dir, exist_ok=True)
    app = AnswerApp(os.path.join(args.dir, "inputs.log"))
    observer = Metrics()
    lag_task = asyncio.create_task(sample_event_loop_lag(observer, 0.5))
    gateway = await start_gateway(config, app, observer=observer)
    app.drop = gateway.handle(DROP_COPY)
    await ready_until_stopped(gateway.port)
    lag_task.cancel()
    await gateway.close()
    app.journal.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", required=True, help="scratch directory (file stores and the inputs file live under it)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--event-loop", choices=("uvloop", "asyncio"), default="uvloop",
                   help="the loop `gold-router serve` runs on by default (uvloop)")
    args = p.parse_args(argv)
    from router.service import run_loop
    return run_loop(serve(args), args.event_loop)


if __name__ == "__main__":
    sys.exit(main())
