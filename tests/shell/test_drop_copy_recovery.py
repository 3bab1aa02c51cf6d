"""Drop copy across kill -9 of the real `gold-router serve` process: the drop-copy client (DROPCOPY1)
reconnects continuing its sequence numbers, gets what it missed by FIX resend, ends with a copy of
every execution report the two trading clients saw, none twice, and a TradeCaptureReportRequest returns
exactly the fills the clients were told of (the books of record rebuilt by the journal replay)."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from router.fix.codec import FixMessage
from tests.shell.test_recovery import SH, HK, Trader, kill9, new_order, start_serve

DC = "DROPCOPY1"


class Recorder(Trader):
    """A Trader that also keeps every report (by ExecID) and every trade capture message."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.reports: dict[bytes, FixMessage] = {}
        self.capture: list[FixMessage] = []

    async def on_message(self, msg: FixMessage) -> None:
        await super().on_message(msg)
        if msg.msg_type == b"8" and msg.get(150) != b"I":
            self.reports.setdefault(msg.get(17), msg)
        elif msg.msg_type in (b"AQ", b"AE"):
            self.capture.append(msg)


def fills(reports) -> Counter:
    return Counter((m.get(37), m.get(54), m.get(32), m.get(31), m.get(1))
                   for m in reports if m.get(150) == b"F")


async def cross(sh: Trader, hk: Trader, tag: str, n: int) -> None:
    for i in range(n):
        await hk.send(b"D", new_order(f"{tag}S{i}", "HKGX.RKG", 2, 2, f"{560 + i}.00"))
        await sh.send(b"D", new_order(f"{tag}B{i}", "HKGX.RKG", 1, 1, f"{560 + i}.00"))
    await sh.pump(0.3)
    await hk.pump(0.3)


async def test_the_drop_copy_recovers_after_kill_9_with_exactly_the_trades_the_clients_saw(tmp_path) -> None:
    proc, port = await start_serve(tmp_path)
    sh, hk, dc = Recorder(SH), Recorder(HK), Recorder(DC)
    try:
        for t in (sh, hk, dc):
            await t.connect(port)
        await cross(sh, hk, "a", 3)
        await dc.pump(0.5)
        assert dc.reports and set(dc.reports) == set(sh.reports) | set(hk.reports)

        await dc.close()                      # the drop copy is away while the clients trade on
        await cross(sh, hk, "b", 3)
        await kill9(proc)
        for t in (sh, hk):
            await t.close()
        proc, port = await start_serve(tmp_path)
        for t in (sh, hk, dc):
            await t.connect(port)
        await cross(sh, hk, "c", 2)
        await dc.pump(1.0)

        seen = set(sh.reports) | set(hk.reports)
        assert len(seen) >= 24 and set(dc.reports) == seen
        assert all(m.get(797) == b"Y" for m in dc.reports.values())
        assert sh.duplicates == hk.duplicates == dc.duplicates == 0

        today = datetime.now(timezone.utc).date()
        await dc.send(b"AD", [(568, "TR1"), (569, 0), (263, 0), (580, 2),
                              (75, (today - timedelta(days=1)).strftime("%Y%m%d")),
                              (75, (today + timedelta(days=1)).strftime("%Y%m%d"))])
        await dc.pump(0.5)
        (ack,) = [m for m in dc.capture if m.msg_type == b"AQ"]
        trades = [m for m in dc.capture if m.msg_type == b"AE"]
        assert ack.get(750) == b"0" and int(ack.get(748)) == len(trades)
        clients_saw = fills(list(sh.reports.values()) + list(hk.reports.values()))
        assert sum(clients_saw.values()) == 16
        assert Counter((m.get(37), m.get(54), m.get(32), m.get(31), m.get(1)) for m in trades) == clients_saw
    finally:
        if proc.returncode is None:
            await kill9(proc)
        print((await proc.stderr.read()).decode()[-4000:])
        for t in (sh, hk, dc):
            await t.close()
