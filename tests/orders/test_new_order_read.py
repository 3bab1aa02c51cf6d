"""A new order read by its shape's positions with kept terms answers as the general reading does.

`OrderFlow.new_order` reads a message of a known shape by position and takes what the request's
repeating values decide (account, symbol, supported values, time in force, constraints, side) from
`ShapeReader.terms`, kept per (session, values); anything else goes through the tag index
(`NewOrderRead._read_new`). A seeded stream of good and bad orders (unknown accounts and symbols,
unsupported values, duplicates and possible resends, missing ClOrdIDs, GTD without or with a past
ExpireTime, fill-or-kill products, gold tags, repeated tags, the throttle) is played with the kept
terms and with every reader dropped before each message; the FIX bytes of every answer and the state
hashes must agree, and the kept path must have answered most orders.
"""
from __future__ import annotations

import os
import random
import tempfile

from hypothesis import given, settings, strategies as st

from router.fix.codec import encode
from router.orders.new_order_read import STATIC_TAGS, KeptTerms, shape_reader
from router.records.snapshot import SnapshotStore
from router.records.state_hash import state_hashes
from tests.orders.test_flow import HK, SH, Harness, f

_TS = b"20260101-00:00:00.000"


def _stream(seed: int, n: int) -> list[tuple[str, list]]:
    """`n` NewOrderSingles (sender, body): mostly a few usual requests, which repeat, and one in four
    drawn from odd values per tag (most of them refused)."""
    rnd = random.Random(seed)
    out = []
    for k in range(n):
        sender = rnd.choice([SH, SH, HK])
        clordid = rnd.choice([f"k{k}"] * 20 + [f"k{max(k - 1, 0)}", ""])
        head = [(11, clordid)] if clordid else []
        if rnd.random() < 0.75:
            symbol, price = rnd.choice([("SGE.AU9999", "560.00"), ("SGE.AU9999", "559.50"),
                                        ("GOLD.KG9999", "560.10"), ("HKGX.AU99TAEL", "22300.00")])
            qty = "1000" if symbol == "GOLD.KG9999" else rnd.choice(["1", "2"])
            body = head + [(55, symbol), (54, rnd.choice([1, 2])), (60, "20260101-00:00:00"), (38, qty), (40, 2),
                           (44, price)]
            if rnd.random() < 0.3:
                body.append((59, rnd.choice(["0", "3"])))
            if rnd.random() < 0.05:
                body.append((97, "Y"))
            out.append((sender, body))
            continue
        symbol = rnd.choice(["SGE.AU9999"] * 4 + ["GOLD.KG9999", "HKGX.RKG", "NOPE.X"])
        limit = rnd.random() < 0.85
        body = head + [(55, symbol), (54, rnd.choice([1, 1, 2, 5])), (60, "20260101-00:00:00"),
                       (38, rnd.choice(["1", "1", "2", "1000", "1E0", "0"])),
                       (40, rnd.choice([2, 2, 3]) if limit else 1)]
        if limit and rnd.random() < 0.95:
            body.append((44, rnd.choice(["560.00", "559.50", "560.10", "560.005", "22300.00"])))
        tif = rnd.choice([None, None, "0", "1", "3", "4", "6", "7"])
        if tif is not None:
            body.append((59, tif))
        if tif == "6" and rnd.random() < 0.8:
            body.append((126, rnd.choice(["20260101-00:10:00", "20250101-00:00:00"])))
        account = rnd.choice([None, None, "SHCLIENT1", "HKCLIENT1", "NOBODY"])
        if account is not None:
            body.append((1, account))
            if rnd.random() < 0.2:
                body.append((1, "NOBODY"))          # a repeated tag: its first occurrence counts
        if rnd.random() < 0.2:
            body.append((7001, rnd.choice(["CNY", "USD", "EUR"])))
        if rnd.random() < 0.1:
            body.append((7005, rnd.choice(["SGE", "SGE HKGX", "LBMA"])))
        if rnd.random() < 0.05:
            body.append((18, rnd.choice(["6", "Z"])))
        if rnd.random() < 0.05:
            body.append((7007, rnd.choice(["Y", "N"])))
        out.append((sender, body))
    return out


def _play(stream: list, *, drop_readers: bool) -> tuple[list[bytes], dict, int]:
    h = Harness(reference=True)
    general = 0
    read_new = h.flow._read_new

    def counted(*args):
        nonlocal general
        general += 1
        return read_new(*args)

    h.flow._read_new = counted
    frames = []
    for k, (sender, body) in enumerate(stream):
        if not 100 <= k < 350:
            h.now += 30_000_000         # the throttle refills (1.5 orders at 50/s), but for a burst
        if drop_readers:
            h.flow._readers.clear()
        outs = h.send(sender, b"D", body)
        frames += [encode(o.msg_type, b"GOLDRTR", o.session.encode(), 1, _TS, o.body) for o in outs]
    del h.flow._read_new
    return frames, state_hashes(h.flow), general


def test_kept_terms_answer_as_the_general_reading() -> None:
    stream = _stream(11, 400)
    kept, kept_hashes, kept_general = _play(stream, drop_readers=False)
    fresh, fresh_hashes, fresh_general = _play(stream, drop_readers=True)
    assert fresh_general == len(stream)              # every message read through the tag index
    assert kept_general < len(stream) // 2           # most came by position with kept terms
    exec_types = {v for m in kept for v in m.split(b"\x01") if v.startswith(b"150=")}
    assert {b"150=0", b"150=8", b"150=F"} <= exec_types      # acks, rejects and trades among them
    assert any(b"\x0135=j\x01" in m for m in kept)            # a missing ClOrdID's business reject
    assert any(b"message rate limit exceeded" in m for m in kept)    # the throttle met
    assert kept == fresh
    assert kept_hashes == fresh_hashes


_TAGS = [b"35", b"49", b"11", b"1", b"55", b"54", b"40", b"59", b"38", b"44", b"18", b"7001", b"7005", b"7007",
         b"58", b"60"]


@settings(max_examples=300, deadline=None)
@given(tags=st.lists(st.sampled_from(_TAGS), min_size=1, max_size=24))
def test_positions_read_the_first_occurrence_of_each_tag(tags) -> None:
    values = [b"v%d" % n for n in range(len(tags))]
    first = dict(zip(reversed(tags), reversed(values)))       # as FixMessage.index keeps them
    rd = shape_reader(tuple(tags))
    if not all(t in first for t in (b"11", b"38", b"55", b"54", b"40")):
        assert rd is None
        return
    assert rd.static(values) == tuple(first[t] for t in STATIC_TAGS if t in first)
    assert rd.dynamic(values) == (first[b"11"], first[b"38"], first.get(b"44"))


def test_kept_terms_are_a_cache_a_snapshot_leaves_out() -> None:
    h = Harness(reference=False)
    for _ in range(3):
        h.order(SH, "SGE.AU9999", 1, 1, "559.00")
    readers = [rd for rd in h.flow._readers.values() if rd is not None]
    assert readers and any(rd.terms for rd in readers)
    warm = state_hashes(h.flow)
    h.flow._readers.clear()
    assert state_hashes(h.flow) == warm
    for _ in range(3):
        h.order(SH, "SGE.AU9999", 1, 1, "559.00")
    with tempfile.TemporaryDirectory() as d:
        store = SnapshotStore(os.path.join(d, "snap"))
        snap = store.write(1, h.now, h.flow)
        fresh = Harness(reference=False)
        store.load_into(snap.path, fresh.flow)
    assert isinstance(fresh.flow._readers, KeptTerms) and not fresh.flow._readers
    fresh.now, fresh.n = h.now, 100
    (ack,) = fresh.order(SH, "SGE.AU9999", 1, 1, "559.00")
    assert f(ack, 150) == b"0"



def test_a_usual_order_and_its_cancel_are_read_without_the_index() -> None:
    h = Harness(reference=False)
    seen = []
    for n in range(4):
        body = [(11, f"u{n}"), (55, "SGE.AU9999"), (54, 1), (60, "20260101-00:00:00"), (38, 1), (40, 2),
                (44, "559.00")]
        order = h.msg(b"D", SH, body)
        h.now += 1_000_000
        (ack,) = h.flow.on_message(SH, order, h.now)
        cancel = h.msg(b"F", SH, [(41, f"u{n}"), (11, f"x{n}"), (55, "SGE.AU9999"), (54, 1),
                                  (60, "20260101-00:00:00")])
        h.now += 1_000_000
        (done,) = h.flow.on_message(SH, cancel, h.now)
        assert (f(ack, 150), f(done, 150), f(done, 41)) == (b"0", b"4", f"u{n}".encode())
        seen.append((order, cancel))
    # From the second of each shape on (the codec compiles a shape at its second sighting), and the
    # order's terms kept from the one before.
    assert all(o.shape is not None and o._first is None and c._first is None for o, c in seen[2:])
