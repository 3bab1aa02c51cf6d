"""JetStream on this machine: publish ack latency R1 vs R3, pipelined journal appends, node loss, lease failover.

Starts real nats-server processes on loopback (`tests.natscluster`: one lone JetStream server for
R1, a 3-node cluster for R3, stores in a scratch directory) and measures, in one run:

- sync: one JetStream publish at a time (nats-py `js.publish`, each waits for its ack), p50/p99,
  R1 vs R3: the JetStream round trip a gateway would pay per command if it did not batch;
- append1: `JetStreamJournal.append` of one command at a time (the same plus our headers/checks);
- pipelined: `JetStreamJournal.append` of batches of `--batch` commands (~150-byte FIX payloads),
  commands/s and µs per command, with the client's CPU per command (process time) and the
  nats-server processes' CPU per command (utime+stime from /proc, summed over the nodes);
- replay: every command of the pipelined case read back (`JetStreamJournal.read`, decoded and
  checked), commands/s and the client's CPU per command: what a core pays to consume the stream;
- node loss: the R3 stream's leader is SIGKILLed between two appends; the time until the next
  append is acknowledged (the election), and the remaining nodes keep every command;
- failover: a `KvLease` holder (takeover time `--takeover`, default 3 s) stops renewing; the time
  from its last successful renewal until the standby holds the lease, `--failovers` times.

Figures from a shared 2-core machine: client, servers and other work share the cores, so these
are upper bounds on cost. Then the deployments (`benchmarks.cluster_roles`): order→ack latency and
capacity of `serve` vs a gateway + a core vs two gateways + a core + a standby, and the failover
time of the last. Not here: any pass/fail.

usage: python -m benchmarks.cluster [--json FILE] [--sync N] [--commands N] [--batch N] [--failovers N]
                                    [--orders N] [--burst N] [--no-roles | --only-roles]
"""
from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks._timing import argument_parser, machine_line, machine_description, PROCESS_START_LOAD, say, write_json
from router.records.jetstream import JetStreamJournal, connect
from router.records.journal_format import Command, CommandKind
from router.records.lease import open_lease
from tests.natscluster import NatsCluster

T0 = 1_767_225_600_000_000_000
PAYLOAD = (b"8=FIX.4.4|9=140|35=D|49=SHCLIENT1|56=GOLDROUTER|34=1234|52=20261203-10:00:00.000|11=ORD1234567|"
           b"55=SGE.AU9999|54=1|38=1|40=2|44=560.25|59=0|10=123|").ljust(150, b"|")[:150]
CLK = os.sysconf("SC_CLK_TCK")


def commands(first: int, size: int) -> list[Command]:
    return [Command(s, T0 + s, CommandKind.FIX_IN, "SHCLIENT1", PAYLOAD) for s in range(first, first + size)]


def pct(samples_ns: list[int]) -> dict:
    ordered = sorted(samples_ns)
    at = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e3, 1)  # noqa: E731
    return {"samples": len(ordered), "p50_us": at(0.50), "p99_us": at(0.99), "max_us": round(ordered[-1] / 1e3, 1)}


def server_cpu_s(cluster: NatsCluster) -> float:
    total = 0
    for node in cluster.nodes:
        if node.running:
            fields = Path(f"/proc/{node.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the whole line)
    return total / CLK


async def sync_case(cluster: NatsCluster, replicas: int, count: int) -> dict:
    nc = await connect(cluster.url)
    try:
        js = nc.jetstream()
        stream = f"SYNC_R{replicas}"
        journal = await JetStreamJournal.open(nc, stream=stream, subject=f"sync{replicas}.commands", replicas=replicas)
        for i in range(50):  # warm-up: connection, stream leader, caches
            await js.publish(journal.subject, PAYLOAD)
        raw = []
        for i in range(count):
            start = time.perf_counter_ns()
            await js.publish(journal.subject, PAYLOAD)
            raw.append(time.perf_counter_ns() - start)
        await js.purge_stream(stream)
        await js.delete_stream(stream)
        journal = await JetStreamJournal.open(nc, stream=stream + "_J", subject=f"syncj{replicas}.commands",
                                              replicas=replicas)
        one = []
        for seq in range(1, count + 1):
            batch = commands(seq, 1)
            start = time.perf_counter_ns()
            await journal.append(batch)
            one.append(time.perf_counter_ns() - start)
        return {"replicas": replicas, "sync_publish": pct(raw), "append1": pct(one)}
    finally:
        await nc.close()


async def pipelined_case(cluster: NatsCluster, replicas: int, count: int, size: int) -> dict:
    nc = await connect(cluster.url)
    try:
        journal = await JetStreamJournal.open(nc, stream=f"PIPE_R{replicas}", subject=f"pipe{replicas}.commands",
                                              replicas=replicas)
        await journal.append(commands(1, size))  # warm-up
        batches = [commands(s, size) for s in range(size + 1, count + size + 1, size)]
        spent = 0
        cpu0, srv0 = time.process_time(), server_cpu_s(cluster)
        for batch in batches:
            start = time.perf_counter_ns()
            await journal.append(batch)
            spent += time.perf_counter_ns() - start
        cpu, srv = time.process_time() - cpu0, server_cpu_s(cluster) - srv0
        n = len(batches) * size
        # Replay, as a core catching up would: every command back from the stream, decoded and checked.
        start, cpu0 = time.perf_counter(), time.process_time()
        read = 0
        async for _ in journal.read():
            read += 1
        read_s, read_cpu = time.perf_counter() - start, time.process_time() - cpu0
        assert read == n + size, f"read back {read} of {n + size} commands"
        return {"read_commands_per_s": round(read / read_s), "read_client_cpu_us_per_command":
                round(read_cpu / read * 1e6, 2),"replicas": replicas, "batch": size, "commands": n, "commands_per_s": round(n / (spent / 1e9)),
                "us_per_command": round(spent / n / 1e3, 2), "us_per_batch": round(spent / len(batches) / 1e3, 1),
                "client_cpu_us_per_command": round(cpu / n * 1e6, 2),
                "servers_cpu_us_per_command": round(srv / n * 1e6, 2), "retries": journal.stats.retries}
    finally:
        await nc.close()


async def node_loss_case(cluster: NatsCluster, size: int) -> dict:
    nc = await connect(cluster.url)
    try:
        journal = await JetStreamJournal.open(nc, stream="LOSS", subject="loss.commands")
        await journal.append(commands(1, size))
        leader = (await nc.jetstream().stream_info("LOSS")).cluster.leader
        index = cluster.node_index(leader)
        await asyncio.to_thread(cluster.kill, index)
        start = time.perf_counter()
        await journal.append(commands(size + 1, size))
        resumed = time.perf_counter() - start
        stored = [c.seq async for c in journal.read()]
        await asyncio.to_thread(cluster.restart, index)
        return {"killed": leader, "append_resumed_s": round(resumed, 2), "retries": journal.stats.retries,
                "commands_kept": len(stored) == 2 * size and stored == list(range(1, 2 * size + 1))}
    finally:
        await nc.close()


async def failover_case(cluster: NatsCluster, takeover: float, rounds: int) -> dict:
    nc_a, nc_b = await connect(cluster.urls[0]), await connect(cluster.urls[1])
    times = []
    try:
        for r in range(rounds):
            a = await open_lease(nc_a, f"bench{r}", "a", takeover)
            b = await open_lease(nc_b, f"bench{r}", "b", takeover)
            assert await a.step()
            end = time.monotonic() + takeover  # a renews and b watches for one takeover period
            while time.monotonic() < end:
                await a.step()
                await b.step()
                await asyncio.sleep(a.poll)
            last_renewal = a.core._valid_until - a.core.ttl  # when a's last successful renewal was sent
            while not await b.step():
                await asyncio.sleep(b.poll)
            times.append(time.monotonic() - last_renewal)
            assert not a.holding() and b.epoch == 2
        return {"takeover_configured_s": takeover, "rounds": rounds, "failover_s": [round(t, 2) for t in times],
                "median_s": round(statistics.median(times), 2), "max_s": round(max(times), 2)}
    finally:
        await nc_a.close()
        await nc_b.close()


async def run(args, base: Path) -> dict:
    result: dict = {"nats_server": None}
    with NatsCluster(base / "r1", size=1) as r1, NatsCluster(base / "r3", size=3) as r3:
        say(f"nats-server {r1.binary}; R1 at {r1.url}; R3 at {r3.url}")
        say(f"{'case':>10} {'R':>2} {'p50 µs':>9} {'p99 µs':>9} {'max µs':>9}")
        sync = {}
        for replicas, cluster in ((1, r1), (3, r3)):
            row = await sync_case(cluster, replicas, args.sync)
            sync[f"R{replicas}"] = row
            for what in ("sync_publish", "append1"):
                p = row[what]
                say(f"{what:>12} {replicas:>2} {p['p50_us']:>9,.1f} {p['p99_us']:>9,.1f} {p['max_us']:>9,.1f}")
        result["sync"] = sync
        say(f"pipelined appends of {args.batch}: {'R':>2} {'commands/s':>11} {'µs/command':>11} "
            f"{'client CPU µs/cmd':>18} {'servers CPU µs/cmd':>19}")
        pipe = {}
        for replicas, cluster in ((1, r1), (3, r3)):
            row = await pipelined_case(cluster, replicas, args.commands, args.batch)
            pipe[f"R{replicas}"] = row
            say(f"{'':>29} {replicas:>2} {row['commands_per_s']:>11,} {row['us_per_command']:>11,.2f} "
                f"{row['client_cpu_us_per_command']:>18,.2f} {row['servers_cpu_us_per_command']:>19,.2f}   "
                f"replay {row['read_commands_per_s']:,}/s, {row['read_client_cpu_us_per_command']:.2f} µs CPU/command")
        result["pipelined"] = pipe
        loss = await node_loss_case(r3, args.batch)
        say(f"stream leader {loss['killed']} killed: next append acknowledged after {loss['append_resumed_s']} s "
            f"({loss['retries']} re-sends), every command kept: {loss['commands_kept']}")
        result["node_loss"] = loss
        fail = await failover_case(r3, args.takeover, args.failovers)
        say(f"lease failover (takeover {args.takeover:g} s), from the holder's last renewal: {fail['failover_s']} s")
        result["lease_failover"] = fail
    return result


def main(argv: list[str] | None = None) -> int:
    p = argument_parser(__doc__.splitlines()[0])
    p.add_argument("--sync", type=int, default=2000, help="synchronous publishes per case")
    p.add_argument("--commands", type=int, default=100_000, help="commands per pipelined case")
    p.add_argument("--batch", type=int, default=256, help="commands per pipelined append")
    p.add_argument("--takeover", type=float, default=3.0, help="lease takeover time (s)")
    p.add_argument("--failovers", type=int, default=3, help="lease failovers measured")
    p.add_argument("--orders", type=int, default=300, help="orders timed one at a time per deployment (roles)")
    p.add_argument("--burst", type=int, default=1000, help="orders per client in the capacity case (roles)")
    p.add_argument("--no-roles", dest="roles", action="store_false",
                   help="skip serve vs gateway+core vs 2 gateways+core+standby (benchmarks.cluster_roles)")
    p.add_argument("--only-roles", action="store_true", help="only the deployments (benchmarks.cluster_roles)")
    args = p.parse_args(argv)
    from tests.natscluster import nats_server_binary
    if nats_server_binary() is None:
        say("nats-server not found (Debian package 'nats-server'): nothing to measure")
        return 1
    base = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    try:
        result = asyncio.run(run(args, base)) if not args.only_roles else {}
        if args.roles:
            from benchmarks import cluster_roles
            result["roles"] = asyncio.run(cluster_roles.run(base / "roles", args.orders, args.burst, args.takeover))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    import subprocess
    version = subprocess.run([nats_server_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    result["nats_server"] = version
    machine = machine_description(PROCESS_START_LOAD)
    say(f"{version}; {machine_line(machine)}")
    write_json(args.json, {**result, "machine": machine})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
