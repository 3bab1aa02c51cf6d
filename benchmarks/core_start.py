"""A cluster core's start from its newest snapshot vs from command 1: same stream, same run.

A 3-node JetStream cluster (`tests.natscluster`). `--commands` commands are appended straight to
the command stream (the Logons of SHCLIENT1 and HKCLIENT1, then NewOrderSingles: buys resting at
a spread of prices and sells crossing some of them, so orders rest, fill and pile up), with the
per-session rate limit lifted. Core A, whose `[journal] snapshot_every` puts its one snapshot
`--tail` commands before the end, applies them all and snapshots; it is killed with SIGKILL and
started again. Then core B, which has no snapshot, starts on the same stream. Per start: the
snapshot it loaded, the commands it applied, the seconds from the core's start to having applied
the stream's last command (`catch_up_s` of its /cluster: snapshot load + reading the tail), and
from launching the process to that point (interpreter, configuration, the matching core from
numba's cache, NATS connection included).

`python -m benchmarks.core_start [--commands 20000] [--tail 1000]`. Figures from a shared 2-core
machine where NATS, the publisher and the core share the cores. Not here: any pass/fail.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from benchmarks._timing import say
from router.cluster.publisher import CommandPublisher, open_stream
from router.fix.encoding import encode
from router.records.jetstream import connect
from router.records.journal_format import CommandKind
from tests.cluster.roles import Roles
from tests.fixclient import now_ts
from tests.natscluster import NatsCluster

OVERLAY = "[risk]\nmsg_rate = 1000000\nmsg_burst = 1000000\n"


def frame(session: str, seq: int, clordid: str, side: int, price: str) -> bytes:
    body = [(11, clordid), (55, "HKGX.RKG"), (54, side), (60, now_ts()), (38, 1), (40, 2), (44, price), (59, 1)]
    return encode(b"D", session.encode(), b"GOLDROUTER", seq, now_ts(), body)


async def fill_stream(url: str, n: int) -> int:
    """Append two Logons and n orders; returns the stream's last sequence."""
    nc = await connect(url, name="benchmark core_start")
    try:
        await open_stream(nc)
        pub = CommandPublisher(nc, f"bench-{time.time_ns()}")
        await pub.start()
        t = time.time_ns()
        futures = [pub.submit(CommandKind.LOGON, s, b"", t) for s in ("SHCLIENT1", "HKCLIENT1")]
        for i in range(n):
            t += 1000
            if i % 3 == 2:       # one sell in three, crossing the best bids
                futures.append(pub.submit(CommandKind.FIX_IN, "HKCLIENT1", frame("HKCLIENT1", i + 2, f"S{i}", 2,
                                                                                   "549.00"), t))
            else:
                price = f"{540 + (i % 100) / 10:.2f}"
                futures.append(pub.submit(CommandKind.FIX_IN, "SHCLIENT1", frame("SHCLIENT1", i + 2, f"B{i}", 1,
                                                                                   price), t))
            if len(futures) >= 2000:
                await asyncio.gather(*futures)
                futures = []
        seqs = await asyncio.gather(*futures)
        await pub.close()
        return max(seqs) if seqs else 0
    finally:
        await nc.close()


async def one_start(roles: Roles, name: str, config: Path, last: int) -> dict:
    launched = time.monotonic()
    core = await roles.start("core", name, "--config", str(config))
    s = await roles.until(core, lambda s: s["caught_up"] and s["applied"] >= last, timeout=1800)
    return {"core": name, "started_from": s["started_from"], "applied": s["applied_here"],
            "catch_up_s": s["catch_up_s"], "launch_to_caught_up_s": round(time.monotonic() - launched, 2),
            "_role": core}


async def run(base: Path, commands: int, tail: int) -> dict:
    cluster = NatsCluster(base / "nats", size=3)
    cluster.start()
    roles = Roles(base, cluster.url)
    try:
        config = base / "core.toml"
        every = max(1, commands - tail)
        config.write_text(OVERLAY + f"[journal]\nsnapshot_every = {every}\n", encoding="utf-8")
        last = await fill_stream(cluster.url, commands)
        say(f"stream filled: {last} commands; snapshot every {every}")
        first = await one_start(roles, "core-a", config, last)
        await roles.until(first["_role"], lambda s: s["snapshots"]["taken"] >= 1, timeout=600)
        await first["_role"].kill9()
        again = await one_start(roles, "core-a", config, last)
        await again["_role"].kill9()
        fresh = await one_start(roles, "core-b", config, last)
        out = {"commands": last, "snapshot_every": every,
               "first_start": first, "restart_from_snapshot": again, "fresh_core_from_command_1": fresh}
        for v in (first, again, fresh):
            v.pop("_role")
        return out
    finally:
        await roles.stop()
        cluster.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--commands", type=int, default=20000)
    p.add_argument("--tail", type=int, default=1000)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="core-start-") as tmp:
        result = asyncio.run(run(Path(tmp), args.commands, args.tail))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
