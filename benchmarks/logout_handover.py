"""A client moving gateway by Logout: how long the Logout's answer takes, and whether a Logon at the
other gateway at once gets in; two source trees side by side in one run.

Real processes on loopback: a 3-node JetStream cluster (`tests.natscluster`), one core, and a pair
of gateways per tree (`--old DIR` and `--new DIR`: repository checkouts, each gateway started with
that tree on PYTHONPATH; the core runs from the current one). Each round, one pair then the other:
SHCLIENT1 logs on at one gateway of the pair, logs out (the answer timed from the Logout's write),
and on the answer logs on at the other gateway with ResetSeqNumFlag=Y, retrying every 0.25 s while
refused. Per tree: the answer's p50/p99/max, the refusals of that first Logon, and the time from the
Logout's write to the other gateway's Logon answer.

`python -m benchmarks.logout_handover --old /path/to/main --new . [--rounds 40]`. Figures from a
shared 2-core machine. Not here: any pass/fail.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from tests.cluster.roles import Roles
from tests.fixclient import FixClient
from tests.natscluster import NatsCluster

SH = "SHCLIENT1"


def pct_ms(samples: list[float]) -> dict:
    s = sorted(samples)
    at = lambda q: round(s[min(len(s) - 1, int(q * len(s)))] * 1e3, 2)  # noqa: E731
    return {"p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": round(s[-1] * 1e3, 2)}


async def _logon(port: int) -> tuple[FixClient, bytes]:
    c = await FixClient.connect(port, SH)
    await c.send(b"A", [(98, 0), (108, 30), (141, b"Y")], seq=1)
    c.seq = 2
    return c, (await c.recv(10)).msg_type


async def _round(pair: list[int], first: int, tally: dict) -> None:
    client, answer = await _logon(pair[first])
    while answer != b"A":       # the previous round's release may still be under way (old tree)
        await client.close()
        await asyncio.sleep(0.25)
        client, answer = await _logon(pair[first])
    await asyncio.sleep(0.05)
    t0 = time.perf_counter()
    await client.send(b"5", [])
    await client.expect(b"5", 10)
    tally["answer"].append(time.perf_counter() - t0)
    moved, answer = await _logon(pair[1 - first])
    await client.close()
    if answer != b"A":
        tally["refused"] += 1
    while answer != b"A":
        await moved.close()
        await asyncio.sleep(0.25)
        moved, answer = await _logon(pair[1 - first])
    tally["moved"].append(time.perf_counter() - t0)
    await moved.send(b"5", [])
    await moved.expect(b"5", 10)
    await moved.close()


async def _start_pair(roles: Roles, tree: str, tag: str) -> list[int]:
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = tree
    try:
        return [(await roles.start("gateway", f"{tag}-{x}")).fix_port for x in "ab"]
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


async def run(base: Path, trees: dict[str, str], rounds: int) -> dict:
    with NatsCluster(base / "nats", size=3) as nats:
        roles = Roles(base, nats.url)
        try:
            core = await roles.start("core", "core-a")
            await roles.until(core, lambda s: s["leading"])
            pairs = {name: await _start_pair(roles, tree, name) for name, tree in trees.items()}
            tallies = {name: {"answer": [], "moved": [], "refused": 0} for name in trees}
            for r in range(rounds):
                for name in trees:
                    await _round(pairs[name], r % 2, tallies[name])
        finally:
            await roles.stop()
    return {name: {"rounds": rounds, "answer": pct_ms(t["answer"]), "refused": t["refused"],
                   "logout_to_other_logon": pct_ms(t["moved"])} for name, t in tallies.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old", required=True, help="the tree to compare against (a checkout)")
    p.add_argument("--new", default=".", help="the tree under test (default: here)")
    p.add_argument("--rounds", type=int, default=40)
    args = p.parse_args(argv)
    trees = {"old": str(Path(args.old).resolve()), "new": str(Path(args.new).resolve())}
    with tempfile.TemporaryDirectory(prefix="logout-handover-") as tmp:
        result = asyncio.run(run(Path(tmp), trees, args.rounds))
    result["load_average"] = os.getloadavg()
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
