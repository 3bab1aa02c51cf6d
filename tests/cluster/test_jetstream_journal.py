"""The JetStream command journal against a real 3-node cluster: round trip, dedup, fencing, node loss."""
from __future__ import annotations

import asyncio
import time

import pytest

from router.records.jetstream import JetStreamJournal, JournalFenced, connect, decode_record
from router.records.journal_format import Command, CommandKind, JournalCorrupt, JournalError, encode_command
from tests.natscluster import NatsCluster

T0 = 1_767_225_600_000_000_000


def batch(first: int, size: int, tag: bytes = b"A") -> list[Command]:
    return [Command(s, T0 + s, CommandKind.FIX_IN if s % 3 else CommandKind.ADMIN, f"SESSION{s % 4}",
                    tag + b"|35=D|11=%d|" % s) for s in range(first, first + size)]


async def read_all(journal: JetStreamJournal, from_seq: int = 1) -> list[Command]:
    return [cmd async for cmd in journal.read(from_seq)]


async def test_append_and_read_back_in_order(nats_cluster: NatsCluster):
    nc = await connect(nats_cluster.url)
    try:
        journal = await JetStreamJournal.open(nc, stream="RT", subject="rt.commands")
        assert journal.last_seq == 0
        assert await read_all(journal) == []
        first, second = batch(1, 300), batch(301, 1)
        await journal.append(first)
        await journal.append(second)
        await journal.append([])
        assert journal.last_seq == 301
        assert journal.stats.commands == 301 and journal.stats.appends == 2
        assert await read_all(journal) == first + second
        assert await read_all(journal, 299) == first[-2:] + second
        assert await read_all(journal, 302) == []
        info = await nc.jetstream().stream_info("RT")
        assert info.config.num_replicas == 3 and info.state.last_seq == 301
        # Reopened (a restarted writer), it finds where the stream ends and continues from there.
        again = await JetStreamJournal.open(nc, stream="RT", subject="rt.commands")
        assert again.last_seq == 301
        with pytest.raises(JournalError, match="leaves a gap"):
            await again.append(batch(303, 1))
        await again.append(batch(302, 2))
        assert [c.seq for c in await read_all(again, 300)] == [300, 301, 302, 303]
        await again.close()
        with pytest.raises(JournalError, match="closed"):
            await again.append(batch(304, 1))
    finally:
        await nc.close()


async def test_an_existing_stream_with_another_shape_is_refused(nats_cluster: NatsCluster):
    nc = await connect(nats_cluster.url)
    try:
        await JetStreamJournal.open(nc, stream="SHAPE", subject="shape.commands", replicas=1)
        with pytest.raises(JournalError, match="R1 .want R3."):
            await JetStreamJournal.open(nc, stream="SHAPE", subject="shape.commands", replicas=3)
        with pytest.raises(JournalError, match="subjects"):
            await JetStreamJournal.open(nc, stream="SHAPE", subject="other.commands", replicas=1)
    finally:
        await nc.close()


async def test_a_resent_batch_is_stored_once(nats_cluster: NatsCluster):
    nc = await connect(nats_cluster.url)
    try:
        journal = await JetStreamJournal.open(nc, stream="DEDUP", subject="dedup.commands")
        commands = batch(1, 50)
        await journal.append(commands)
        # A writer that lost the acks re-sends the same batch: the stream keeps one copy of each.
        retry = await JetStreamJournal.open(nc, stream="DEDUP", subject="dedup.commands")
        retry._last_seq = 0  # as if it had never heard the acks
        await retry.append(commands)
        assert retry.stats.duplicates == 50
        assert retry.last_seq == 50
        info = await nc.jetstream().stream_info("DEDUP")
        assert info.state.messages == 50 and info.state.last_seq == 50
        assert await read_all(journal) == commands
    finally:
        await nc.close()


async def test_a_second_writer_is_fenced_off(nats_cluster: NatsCluster):
    nc1 = await connect(nats_cluster.urls[0])
    nc2 = await connect(nats_cluster.urls[1])
    try:
        a = await JetStreamJournal.open(nc1, stream="FENCE", subject="fence.commands")
        b = await JetStreamJournal.open(nc2, stream="FENCE", subject="fence.commands")
        await a.append(batch(1, 10, b"A"))
        # b still believes the stream is empty: its commands 1.. collide with a's.
        with pytest.raises(JournalFenced, match="another writer"):
            await b.append(batch(1, 5, b"B"))
        # b reopens at 10; a moves on to 12 meanwhile; b's 11 and 12 are refused.
        b = await JetStreamJournal.open(nc2, stream="FENCE", subject="fence.commands")
        await a.append(batch(11, 2, b"A"))
        with pytest.raises(JournalFenced):
            await b.append(batch(11, 2, b"B"))
        stored = await read_all(a)
        assert [c.seq for c in stored] == list(range(1, 13))
        assert all(c.payload.startswith(b"A|") for c in stored)
    finally:
        await nc1.close()
        await nc2.close()


async def test_a_damaged_message_is_refused_on_read(nats_cluster: NatsCluster):
    good = encode_command(batch(1, 1)[0])
    assert decode_record(good) == batch(1, 1)[0]
    with pytest.raises(JournalCorrupt, match="CRC"):
        decode_record(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(JournalCorrupt, match="length"):
        decode_record(good + b"x")
    nc = await connect(nats_cluster.url)
    try:
        journal = await JetStreamJournal.open(nc, stream="DMG", subject="dmg.commands")
        await journal.append(batch(1, 2))
        await nc.jetstream().publish("dmg.commands", b"not a command record")  # acked: stored on the quorum
        with pytest.raises(JournalCorrupt):
            await JetStreamJournal.open(nc, stream="DMG", subject="dmg.commands")
    finally:
        await nc.close()


@pytest.mark.slow
async def test_appends_continue_through_a_killed_node_which_catches_up(nats_cluster: NatsCluster):
    nc = await connect(nats_cluster.url)
    try:
        journal = await JetStreamJournal.open(nc, stream="KILL", subject="kill.commands")
        await journal.append(batch(1, 100))
        info = await nc.jetstream().stream_info("KILL")
        leader = nats_cluster.node_index(info.cluster.leader)
        # Kill the stream's leader: the worst node to lose. Appends ride through the election.
        await asyncio.to_thread(nats_cluster.kill, leader)
        seq = 101
        started = time.monotonic()
        while seq <= 1000:
            await journal.append(batch(seq, 100))
            seq += 100
        assert journal.last_seq == 1000
        assert time.monotonic() - started < 60
        assert [c.seq for c in await read_all(journal)] == list(range(1, 1001))
        # Restart it: it rejoins and catches up on what it missed.
        await asyncio.to_thread(nats_cluster.restart, leader)
        name = nats_cluster.nodes[leader].name
        deadline = time.monotonic() + 30
        caught_up = False
        while time.monotonic() < deadline and not caught_up:
            report = await asyncio.to_thread(nats_cluster.jsz, leader, "?streams=true")
            streams = [s for acc in report.get("account_details") or [] for s in acc.get("stream_detail") or []]
            caught_up = any(s["name"] == "KILL" and s["state"]["last_seq"] == 1000 for s in streams)
            if not caught_up:
                await asyncio.sleep(0.2)
        assert caught_up, f"{name} did not catch up to seq 1000"
        await journal.append(batch(1001, 10))
        assert journal.last_seq == 1010
    finally:
        await nc.close()
