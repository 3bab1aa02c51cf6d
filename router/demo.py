"""`gold-router demo`: the router in-process, a scripted FIX client, and what was routed where and why.

It starts the FIX acceptor with the router application (sessions always open unless
`--calendar-hours`), logs on HKCLIENT1 as a liquidity provider that seeds offers on both cities'
books, then logs on SHCLIENT1 (an onshore account) and sends three routed orders for the 1 kg 9999
product GOLD.KG9999 (quantities in fine grams): one the router sends across the border to Hong Kong,
one a settlement constraint blocks, and one it splits across venues. For each it prints the books
compared (in USD per fine troy ounce, all-in), the books excluded and why, and the fills the client
received with their GrossTradeAmt (settlement currency) and gross quantity in the book's unit, and
for the first the southbound quota taken at acceptance and given back after the fill; it ends
with the day's trades netted into settlement obligations per account and clearing house. The
exit status is 0 when the three scenarios behaved as described, 1 otherwise.

Everything goes over real FIX on loopback; nothing here decides a route (the router does).
"""
from __future__ import annotations

import argparse
import asyncio
import time
from decimal import Decimal
from typing import Any

from router.config import Config
from router.fix.codec import FixMessage, FrameDecoder, Garbled, encode, utc_timestamp
from router.fix.config import with_overrides

PRODUCT = "GOLD.KG9999"
TAG_NAMES = {7001: "GoldSettlCcy", 7002: "GoldVault", 7003: "GoldBarForm", 7004: "GoldSettlCycle",
             7005: "GoldAllowedVenues"}
# The liquidity provider's offers (symbol, lots, price): two cities, three currencies of price.
SEED = [
    ("HKGX.RKG", 1, "559.80"),          # Hong Kong, CNH per gram, 1 kg lots
    ("SGEI.IAU9999", 1, "560.30"),      # Shanghai International Board, CNH per gram, 1 kg lots
    ("SGE.AU9999", 60, "560.00"),       # Shanghai Main Board, CNY per gram, 10 g lots
    ("HKGX.AU99TAEL", 2, "22300.00"),   # Hong Kong 99 tael gold, HKD per tael
]


class _Client:
    """The scripted FIX counterparty: just enough initiator to log on, send and read reports."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sender: str) -> None:
        self.reader, self.writer = reader, writer
        self.sender = sender.encode()
        self.seq = 1
        self.decoder = FrameDecoder()
        self.inbox: list[FixMessage] = []

    @classmethod
    async def connect(cls, host: str, port: int, sender: str) -> "_Client":
        reader, writer = await asyncio.open_connection(host, port)
        c = cls(reader, writer, sender)
        await c.send(b"A", [(98, 0), (108, 30), (141, b"Y")])
        await c.expect(lambda m: m.msg_type == b"A")
        return c

    async def send(self, msg_type: bytes, body: list) -> None:
        self.writer.write(encode(msg_type, self.sender, b"GOLDRTR", self.seq, utc_timestamp(time.time_ns()), body))
        self.seq += 1
        await self.writer.drain()

    async def expect(self, pred: Any, timeout: float = 5.0) -> FixMessage:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, m in enumerate(self.inbox):
                if pred(m):
                    return self.inbox.pop(i)
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError("the router did not answer in time")
            data = await asyncio.wait_for(self.reader.read(65536), left)
            if not data:
                raise ConnectionError("the router closed the connection")
            self.inbox += [m for m in self.decoder.feed(data) if not isinstance(m, Garbled)]

    async def order(self, clordid: str, symbol: str, side: int, qty: int, price: str, tif: str = "0",
                    extra: list | None = None) -> FixMessage:
        await self.send(b"D", [(11, clordid), (55, symbol), (54, side), (60, utc_timestamp(time.time_ns())),
                               (38, qty), (40, 2), (44, price), (59, tif)] + (extra or []))
        return await self.expect(lambda m: m.msg_type == b"8" and m.get(11) == clordid.encode())

    async def reports_until_done(self, clordid: str, timeout: float = 2.0) -> list[FixMessage]:
        """Every further report for `clordid` until it is filled, cancelled or nothing more comes."""
        out = []
        while True:
            try:
                m = await self.expect(lambda m: m.msg_type == b"8" and m.get(11) == clordid.encode(), timeout)
            except (TimeoutError, asyncio.TimeoutError):
                return out
            out.append(m)
            if m.get(39) in (b"2", b"4", b"8", b"C"):
                return out
            timeout = 0.3

    async def close(self) -> None:
        try:
            await self.send(b"5", [])
        except ConnectionError:
            pass
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


def _text(raw: bytes | None) -> str:
    return raw.decode("ascii", "replace") if raw else ""


def _explain(route: dict) -> list[str]:
    lines = []
    for n, c in enumerate(route["compared"], 1):
        cross = f", {c['cross']}" if c["cross"] else ", domestic"
        lines.append(f"    {n}. {c['symbol']:<14} {c['usd_oz_fine']:>9} USD/oz fine, all-in {c['all_in_usd_oz_fine']:>9}"
                     f" ({'quote' if c['from'] == 'quote' else 'reference price'}{cross})")
    for e in route["excluded"]:
        lines.append(f"    x  {e['symbol']:<14} excluded: {e['reason']}")
    return lines


async def _scenario(title: str, sh: _Client, app: Any, clordid: str, qty: int, price: str, tif: str,
                    extra: list | None = None) -> tuple[FixMessage, list[FixMessage]]:
    print(f"\n== {title}")
    ack = await sh.order(clordid, PRODUCT, 1, qty, price, tif, extra)
    rest = await sh.reports_until_done(clordid) if ack.get(150) != b"8" else []
    route = next(r for r in app.routes_view(50) if r["clordid"] == clordid)
    cons = ", ".join(f"{TAG_NAMES[t]}({t})={_text(v)}" for t, v in extra or [])
    print(f"  SHCLIENT1 (onshore) buys at most {qty} fine g of {PRODUCT} at {price} CNY per fine gram"
          + (f" with {cons}" if cons else "") + f", TimeInForce {tif}")
    print("  router compared:" if route["compared"] else "  router found no eligible book:")
    for line in _explain(route):
        print(line)
    if ack.get(150) == b"8":
        print(f"  REJECTED (OrdRejReason {_text(ack.get(103))}): {_text(ack.get(58))}")
        return ack, []
    fills = [m for m in rest if m.get(150) == b"F"]
    for m in fills:
        print(f"  FILL {_text(m.get(32)):>8} g fine on {_text(m.get(30)):<5} {_text(m.get(7008)):<13} at "
              f"{_text(m.get(58)).rpartition(' at ')[2]:<16} = {_text(m.get(31))} CNY per fine g"
              f"  (cum {_text(m.get(14))} g, leaves {_text(m.get(151))} g)")
        print(f"       GrossTradeAmt(381) {_text(m.get(381))} {_text(m.get(120))} for {_text(m.get(7017))} "
              f"{_text(m.get(7018))} gross, {_text(m.get(7003))} bars in vault {_text(m.get(7002))}")
    for m in rest:
        if m.get(150) == b"D":
            print(f"  RESTATED: {_text(m.get(58))}")
    last = rest[-1] if rest else ack
    status = last.get(39)
    order = app.flow.index.by_order_id.get(last.get(37))
    if status in (b"0", b"1") and order is not None and order.book >= 0:
        where = f"remainder {_text(last.get(151))} g fine resting on {app.flow.books[order.book].symbol}"
    else:
        where = {b"2": "filled", b"4": f"cancelled ({_text(last.get(58))})"}.get(status, _text(status))
    print(f"  order {_text(last.get(37))}: {where}; average {_text(last.get(6))} CNY per fine g")
    return ack, fills


def _print_obligations(app: Any) -> None:
    """The day's trades netted into settlement obligations, per account and clearing house."""
    print("\n== the day's netted settlement obligations (what each side owes, per clearing house)")
    days = sorted({t.trading_day for t in app.ledger.trades}) if app.ledger is not None else []
    for day in days:
        for o in app.obligations_view(day.isoformat(), None).data["obligations"]:
            flags = ", ".join(o["cross_border"] + ([] if o["withdrawable"] else ["not withdrawable"]))
            print(f"  {o['account']:<9} {o['clearing_house']:<4} {o['currency']} {o['vault']:<17} value "
                  f"{o['value_date']}: cash {o['cash']:>12}, metal {o['metal_grams']:>6} g"
                  + (f" ({flags})" if flags else ""))


async def _run(args: argparse.Namespace, config: Config) -> int:
    from router.app import build_router_app
    from router.fix.gateway import start_gateway

    app = build_router_app(config, sessions_always_open=args.sessions_always_open)
    print("gold-router demo: compiling the matching core (cached after the first run)...", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, app.warm_up)
    host = args.fix_host or "127.0.0.1"
    fix = with_overrides(config.sections["fix"], host=host, port=args.fix_port or 0, store="memory")
    gateway = await start_gateway(fix, app)
    app.attach_gateway(gateway)
    clients: list[_Client] = []
    try:
        fx = ", ".join(f"{k} {v}" for k, v in config.fx.rates.items())
        print(f"router listening on {host}:{gateway.port} as GOLDRTR; FX {fx}; "
              f"{'all sessions open' if args.sessions_always_open else 'exchange calendars'}")
        hk = await _Client.connect(host, gateway.port, "HKCLIENT1")
        clients.append(hk)
        print("\n== HKCLIENT1 (offshore liquidity provider) seeds offers on both cities' books")
        for n, (symbol, lots, price) in enumerate(SEED, 1):
            ack = await hk.order(f"SEED{n}", symbol, 2, lots, price)
            ok = "resting" if ack.get(150) == b"0" else f"REJECTED: {_text(ack.get(58))}"
            print(f"  sell {lots:>3} lots {symbol:<14} at {price:>9}  {ok}")
        sh = await _Client.connect(host, gateway.port, "SHCLIENT1")
        clients.append(sh)
        ack1, fills1 = await _scenario("1. crossing the border: the cheapest 1 kg bar is in Hong Kong", sh, app,
                                       "DEMO-1", 1000, "561.00", "3")
        south = app.flow.quota.snapshot()["southbound"]
        claims = [d.quota_claims for _, _, c, d in app.flow.routes if c == b"DEMO-1"]
        claimed = sum(v for c in claims[-1:] for k, v in c.items() if k.value == "southbound")
        taken, used = (Decimal(v).scaleb(-6).quantize(Decimal("0.01")) for v in (claimed, south["used"]))
        print(f"  southbound quota: CNY {taken:,.2f} taken at acceptance (the order's limit), "
              f"CNY {taken - used:,.2f} given back by the better fill price and the unfilled 0.1 g: "
              f"CNY {used:,.2f} used, "
              f"CNY {Decimal(south['remaining']).scaleb(-6):,.2f} left today")
        ack2, _ = await _scenario("2. blocked by a settlement constraint: CNH settlement in a mainland vault",
                                  sh, app, "DEMO-2", 1000, "561.00", "3",
                                  [(7001, b"CNH"), (7002, b"SGE_MAINLAND")])
        ack3, fills3 = await _scenario("3. split across venues: 3 kg, more than any one book offers", sh, app,
                                       "DEMO-3", 3000, "561.50", "0")
        await sh.send(b"q", [(11, "DEMO-END"), (530, 7), (60, utc_timestamp(time.time_ns()))])
        report = await sh.expect(lambda m: m.msg_type == b"r")
        print(f"\nSHCLIENT1 mass-cancels its working orders: {_text(report.get(533))} cancelled")
        _print_obligations(app)
        ok = (bool(fills1) and {f.get(30) for f in fills1} == {b"HKGX"}
              and ack2.get(150) == b"8"
              and len({(f.get(30), f.get(32)) for f in fills3}) >= 2 and len({f.get(30) for f in fills3}) >= 2)
        print("\ndemo " + ("complete: crossed, blocked and split as described" if ok
                           else "FAILED: a scenario did not behave as described"))
        if not ok and not args.sessions_always_open:
            print("(with --calendar-hours the books follow the exchange calendars and may be closed now)")
        return 0 if ok else 1
    finally:
        for c in clients:
            await c.close()
        await gateway.close(timeout=0.5)


def run_demo(args: argparse.Namespace, config: Config) -> int:
    """Entry point of `gold-router demo` (flags: see `router.cli`)."""
    try:
        from router.service import run_loop
        return run_loop(_run(args, config), getattr(args, "event_loop", "asyncio"))
    except (OSError, TimeoutError, asyncio.TimeoutError) as exc:
        print(f"gold-router demo: error: {exc}")
        return 1


__all__ = ["run_demo"]
