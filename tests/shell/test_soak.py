"""Soak: the real `gold-router serve` with 200 FIX sessions trading for 60 s (orders, cancels, fills).

Checks what weeks of running need: the server's resident memory (VmRSS, sampled every 5 s from /proc)
grows less than 10 % after the warm-up, no message is lost (every order and cancel is answered, every
session's inbound MsgSeqNums are contiguous) and every session still answers a TestRequest at the end.
The server runs as deployed (file FIX stores, journal) except that `[orders] done_kept` is 2,000, so
the window of ended orders kept findable fills during the warm-up: what grows after it is what would
grow for weeks. What legitimately grows through a trading day (ClOrdIDs taken today, the day's trades
in the books of record) is inside the 10 %.
Marked `soak`: it runs in the whole suite (CI) and on its own with `pytest -m soak -s` (the RSS samples
are printed and written to var/soak-rss.json under the test's directory).
Duration and session count can be lowered for a quick look with GOLDROUTER_SOAK_S / _SESSIONS.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sys
import time

import pytest

from tests.fixclient import FixClient, now_ts

SESSIONS = int(os.environ.get("GOLDROUTER_SOAK_SESSIONS", "200"))
DURATION_S = float(os.environ.get("GOLDROUTER_SOAK_S", "60"))
WARM_UP_S = min(15.0, DURATION_S / 4)
SAMPLE_S = 5.0
PERIOD_S = 0.5                   # each session sends about two requests a second


def soak_config(n: int) -> str:
    lines = ['[risk]\nmsg_rate = 50\nmsg_burst = 100\n', '[orders]\ndone_kept = 2000\n', '[fix]\nheartbeat_s = 300\n']
    for i in range(n):
        name = f"SOAK{i:03d}"
        lines.append(f'[[fix.sessions]]\ntarget_comp_id = "{name}"\naccount = "{name}"\n')
        lines.append(f'[accounts.{name}]\nsession = "{name}"\nside = "onshore"\n'
                     f'eligibility = ["sge_mainboard"]\ncross_border = false\n'
                     f'[accounts.{name}.cash]\nCNY = "100000000"\n[accounts.{name}.metal.SGE_MAINLAND]\n'
                     f'ingot_1kg_9999 = "1000000"\n')
    return "\n".join(lines)


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Trader:
    """One session: sends orders and cancels, reads everything, checks every request is answered."""

    def __init__(self, client: FixClient, name: str, rng: random.Random) -> None:
        self.c = client
        self.name = name
        self.rng = rng
        self.n = 0
        self.open: list[bytes] = []           # order ClOrdIDs acknowledged and not known to be done
        self.unanswered: set[bytes] = set()   # ClOrdIDs of requests without any answer yet
        self.last_seq = 1                     # the Logon answer was 1
        self.gaps: list[tuple[int, int]] = []
        self.fills = 0
        self.sent = 0
        self.heartbeat_ids: set[bytes] = set()

    async def run(self, until: float) -> None:
        reader = asyncio.create_task(self.read())
        try:
            await asyncio.sleep(self.rng.random() * PERIOD_S)
            while time.monotonic() < until:
                await self.step()
                await asyncio.sleep(PERIOD_S * (0.5 + self.rng.random()))
            deadline = time.monotonic() + 20
            while self.unanswered and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            reader.cancel()

    async def step(self) -> None:
        self.n += 1
        if self.open and self.n % 3 == 0:
            orig = self.open.pop(0)
            cid = b"%s-C%d" % (self.name.encode(), self.n)
            self.unanswered.add(cid)
            await self.c.send(b"F", [(41, orig), (11, cid), (55, b"SGE.AU9999"), (54, b"1"), (60, now_ts())])
        else:
            cid = b"%s-O%d" % (self.name.encode(), self.n)
            side = b"1" if self.rng.random() < 0.5 else b"2"
            price = b"%d.%02d" % divmod(55950 + 10 * self.rng.randrange(11), 100)
            self.unanswered.add(cid)
            await self.c.send(b"D", [(11, cid), (55, b"SGE.AU9999"), (54, side), (60, now_ts()), (38, b"1"),
                                     (40, b"2"), (44, price), (59, b"0")])
        self.sent += 1

    async def read(self) -> None:
        while True:
            msg = await self.c.recv(timeout=3600)
            if msg.seq_num != self.last_seq + 1:
                self.gaps.append((self.last_seq, msg.seq_num))
            self.last_seq = msg.seq_num
            mt = msg.msg_type
            if mt == b"8":
                cid = msg.get(11)
                self.unanswered.discard(cid)
                et = msg.get(150)
                if et == b"0" and cid.startswith(b"%s-O" % self.name.encode()):
                    self.open.append(cid)
                elif et == b"F":
                    self.fills += 1
                if msg.get(39) in (b"2", b"4", b"8") and msg.get(41) in self.open:
                    self.open.remove(msg.get(41))
            elif mt == b"9":
                self.unanswered.discard(msg.get(11))
            elif mt == b"1":
                await self.c.send(b"0", [(112, msg.get(112))])
            elif mt == b"0" and msg.get(112):
                self.heartbeat_ids.add(msg.get(112))


@pytest.mark.soak
@pytest.mark.slow
@pytest.mark.timeout(DURATION_S + 240)
async def test_soak_200_sessions(tmp_path):
    (tmp_path / "soak.toml").write_text(soak_config(SESSIONS))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDROUTER_")}
    log = open(tmp_path / "serve.log", "wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "serve", "--config", str(tmp_path / "soak.toml"), "--fix-port", "0",
        "--http-port", "0", "--sessions-always-open", "--log-level", "WARNING",
        stdout=asyncio.subprocess.PIPE, stderr=log, env=env, cwd=tmp_path)
    traders: list[Trader] = []
    samples: list[tuple[float, int]] = []
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        port = int(re.search(rb"FIX 127\.0\.0\.1:(\d+)", line).group(1))
        for i in range(SESSIONS):
            c = await FixClient.connect(port, f"SOAK{i:03d}")
            await c.logon(300)
            traders.append(Trader(c, f"SOAK{i:03d}", random.Random(i)))
        start = time.monotonic()
        until = start + DURATION_S

        async def sample() -> None:
            while True:
                samples.append((round(time.monotonic() - start, 1), rss_kb(proc.pid)))
                await asyncio.sleep(SAMPLE_S)

        sampler = asyncio.create_task(sample())
        await asyncio.gather(*(t.run(until) for t in traders))
        sampler.cancel()
        samples.append((round(time.monotonic() - start, 1), rss_kb(proc.pid)))

        # every session still answers a TestRequest
        for t in traders:
            reader = asyncio.create_task(t.read())
            await t.c.send(b"1", [(112, b"END-" + t.name.encode())])
            deadline = time.monotonic() + 10
            while b"END-" + t.name.encode() not in t.heartbeat_ids and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            reader.cancel()
    finally:
        for t in traders:
            await t.c.close()
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 60)
        log.close()

    warm = [kb for at, kb in samples if at >= WARM_UP_S]
    growth = (max(warm) - warm[0]) / warm[0]
    report = {"sessions": SESSIONS, "duration_s": DURATION_S, "requests": sum(t.sent for t in traders),
              "fills": sum(t.fills for t in traders), "rss_kb": samples, "growth_after_warm_up": round(growth, 4)}
    (tmp_path / "var").mkdir(exist_ok=True)
    (tmp_path / "var" / "soak-rss.json").write_text(json.dumps(report))
    print("soak:", json.dumps(report))
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert not [t.name for t in traders if t.gaps], [(t.name, t.gaps) for t in traders if t.gaps][:5]
    assert not [t.name for t in traders if t.unanswered], [(t.name, sorted(t.unanswered)[:3]) for t in traders
                                                           if t.unanswered][:5]
    missing_hb = [t.name for t in traders if b"END-" + t.name.encode() not in t.heartbeat_ids]
    assert not missing_hb, missing_hb[:10]
    assert report["fills"] > 0 and report["requests"] > SESSIONS * DURATION_S / PERIOD_S / 3
    assert growth < 0.10, report
