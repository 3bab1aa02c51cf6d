"""router.fix.slot: a batch sent through `send_batch` is, frame for frame, what `SessionSlot.send` makes."""
from __future__ import annotations

import pytest

from router.fix import slot as slot_module
from router.fix.config import parse_fix_config
from router.fix.encoding import WireBody
from router.fix.gateway import Gateway

SESSIONS = [{"target_comp_id": "SHCLIENT1"}, {"target_comp_id": "HKCLIENT1"},
            {"target_comp_id": "DROPCOPY1", "role": "drop_copy"}]


class Conn:
    closing = False

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def write(self, frame: bytes) -> None:
        self.frames.append(frame)


def gateway() -> tuple[Gateway, Conn]:
    g = Gateway(parse_fix_config({"port": 0, "store": "memory", "sessions": SESSIONS}), app=object(), validator=None)
    conn = Conn()
    s = g.slots[b"SHCLIENT1"]
    s.conn = conn
    s.session.logged_on = True
    return g, conn


def outs() -> list[tuple]:
    report = WireBody.of([(37, b"O1"), (11, b"C1"), (17, b"E1"), (150, b"0"), (39, b"0"), (55, b"SGE.AU9999")])
    return [("SHCLIENT1", b"8", report), ("DROPCOPY1", b"8", report.copy_with(797, b"Y")),
            ("SHCLIENT1", b"8", [(37, b"O1"), (11, b"C1"), (17, b"E2"), (150, b"4"), (39, b"4")]),
            ("HKCLIENT1", b"8", report), ("NOBODY", b"8", report)]


@pytest.mark.parametrize("now", [1_764_918_000_123_456_789, 1_764_918_000_999_999_999])
def test_a_batch_is_the_messages_one_by_one(monkeypatch, now):
    monkeypatch.setattr(slot_module.time, "time_ns", lambda: now)
    batch, batch_conn = gateway()
    unknown = batch.send_batch(outs())
    single, single_conn = gateway()
    for session, msg_type, body in outs()[:-1]:
        single.by_name[session].send(msg_type, body)
    assert unknown == [outs()[-1]]
    assert batch_conn.frames == single_conn.frames and len(batch_conn.frames) == 2
    for name in ("SHCLIENT1", "HKCLIENT1", "DROPCOPY1"):
        mine, theirs = batch.by_name[name].store, single.by_name[name].store
        assert mine.get_range(1, 10) == theirs.get_range(1, 10) != []
    assert b"\x0152=20251205-07:00:00.%03d\x01" % (now // 1_000_000 % 1000) in batch_conn.frames[0]
