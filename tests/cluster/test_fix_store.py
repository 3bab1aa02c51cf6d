"""The FIX store in JetStream: the records' rebuild (pure), and a client whose gateway is killed with
SIGKILL logs on at the other gateway with the sequence numbers it has, no reset: the Logon answer
carries the number it expects next, a ResendRequest is answered from the rebuilt store, and it
trades on. Real processes over a real 3-node JetStream cluster."""
from __future__ import annotations

import asyncio

from router.cluster.fix_store import apply_records
from router.fix.store import MemoryStore
from tests.cluster.roles import Roles, pump_until
from tests.fixclient import FixClient
from tests.natscluster import NatsCluster
from tests.shell.test_recovery import HK, SH, Trader, new_order


def test_a_store_rebuilt_from_its_records_from_the_last_reset():
    records = [b"C 5", b"T 9", b"M 1 old", b"C 7", b"T 2", b"M 1 one", b"M 2 two", b"T 4", b"S 3", b"T 3",
               b"M 3 three"]
    store = MemoryStore(0)
    apply_records(store, records)
    assert store.creation_ns == 7
    assert (store.next_sender_seq, store.next_target_seq) == (4, 4)      # the highest: a late record is no step back
    assert store.get_range(1, 10) == [(1, b"one"), (2, b"two"), (3, b"three")]
    empty = MemoryStore(3)
    apply_records(empty, [b"T 2", b"S 5"])          # no reset recorded: the local store's creation time stays
    assert (empty.creation_ns, empty.next_sender_seq, empty.next_target_seq, len(empty)) == (3, 5, 2, 0)


async def test_a_client_moves_gateway_after_a_kill_without_resetting_sequence_numbers(
        nats_cluster: NatsCluster, tmp_path):
    roles = Roles(tmp_path, nats_cluster.url)
    sh, hk = Trader(SH), Trader(HK)
    moved = None
    try:
        core = await roles.start("core", "core-a")
        await roles.until(core, lambda s: s["leading"])
        gw_a = await roles.start("gateway", "gw-a", "--takeover", "2")
        gw_b = await roles.start("gateway", "gw-b", "--takeover", "2")
        await sh.connect(gw_a.fix_port)
        await hk.connect(gw_b.fix_port)
        await sh.send(b"D", new_order("B1", "HKGX.RKG", 1, 2, "550.00"))
        assert await pump_until(lambda: b"B1" in sh.acked, sh)
        await hk.send(b"D", new_order("S1", "HKGX.RKG", 2, 1, "549.00"))
        assert await pump_until(lambda: sh.acked[b"B1"]["cum"] == 1, sh, hk)
        await roles.until(gw_a, lambda s: s["fix_store"]["queued"] == 0 and s["fix_store"]["published"] > 0)

        await gw_a.kill9()
        await sh.close()
        expect_in, seq_out = sh.seq_in, sh.seq_out
        answers = []
        for _ in range(60):        # refused while gw-a's session lease has not expired; then accepted
            moved = await FixClient.connect(gw_b.fix_port, SH)
            moved.seq = seq_out
            await moved.send(b"A", [(98, 0), (108, 30)])             # no ResetSeqNumFlag: the same numbers
            try:
                answer = await moved.recv(5)
            except (ConnectionError, TimeoutError):
                answer = None
            answers.append(answer.msg_type if answer is not None else b"?")
            if answers[-1] == b"A":
                break
            await moved.close()
            moved = None
            await asyncio.sleep(0.25)
        assert answers[-1] == b"A" and answers[0] == b"5", answers
        # The sequence goes on where it was: the Logon answer has the number the client expects, or
        # the next one when the cancel-on-disconnect report (gw-b appended the dead gateway's
        # disconnect first) was stored just before it; the client asks for that one and gets it.
        assert answer.seq_num in (expect_in, expect_in + 1), (answer.seq_num, expect_in)
        sh.client, sh.seq_out = moved, moved.seq
        await sh.on_message(answer)
        moved = None
        assert gw_b.get("/cluster")["fix_store"]["rebuilt"] == 1
        assert await pump_until(lambda: sh.acked[b"B1"]["done"], sh), sh.trace[-6:]   # cancelled on disconnect

        # what gw-a sent can be had again from gw-b: a ResendRequest for everything
        await sh.send(b"2", [(7, 1), (16, 0)])
        resent = lambda: [t for t in sh.trace if t.startswith(b"<-") and b"\x0143=Y\x01" in t  # noqa: E731
                          and b"\x0111=B1\x01" in t]
        assert await pump_until(lambda: len(resent()) >= 2, sh), sh.trace[-10:]
        # the status agrees; the client trades on
        status = await sh.status(b"B1", b"HKGX.RKG", b"1")
        assert status.get(39) == b"4", status.raw
        await sh.send(b"D", new_order("B2", "HKGX.RKG", 1, 1, "550.00"))
        await hk.send(b"D", new_order("S2", "HKGX.RKG", 2, 1, "549.00"))
        assert await pump_until(lambda: sh.acked.get(b"B2", {}).get("done") and hk.acked.get(b"S2", {}).get("done"),
                                sh, hk)
        assert sh.duplicates == hk.duplicates == 0
        assert not [t for t in sh.trace if t.startswith(b"<-") and b"\x0135=5\x01" in t]   # never logged out
    finally:
        if moved is not None:
            await moved.close()
        await sh.close()
        await hk.close()
        print(roles.logs())
        await roles.stop()
