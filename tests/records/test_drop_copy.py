"""records.drop_copy on its own: which reports a drop-copy session gets a copy of, where the copies go in
the batch, what it may not send, and whose trades each session may ask for."""
from __future__ import annotations

from router.fix.codec import parse_frame, encode
from router.fix.config import SessionConfig
from router.orders.core_bridge import Out
from router.records.drop_copy import DropCopy, scopes

SESSIONS = [SessionConfig("SHCLIENT1", "SHCLIENT1"), SessionConfig("HKCLIENT1", "HKCLIENT1"),
            SessionConfig("DCALL", "DCALL", role="drop_copy"),
            SessionConfig("DCHK", "DCHK", role="drop_copy", accounts=("HKCLIENT1",))]


def er(session: str, exec_type: bytes, account: str | None) -> Out:
    body = [(37, b"O1"), (17, b"E-" + exec_type), (150, exec_type), (39, b"0")]
    if account is not None:
        body.append((1, account.encode()))
    return Out(session, b"8", body + [(55, b"HKGX.RKG")])


class Counts:
    def __init__(self) -> None:
        self.n: dict[str, int] = {}

    def drop_copy_reports(self, session: str, n: int) -> None:
        self.n[session] = self.n.get(session, 0) + n


def test_copies_follow_their_original_for_the_watched_accounts_only() -> None:
    counts = Counts()
    dc = DropCopy(SESSIONS, counts)
    outs = [er("HKCLIENT1", b"0", "HKCLIENT1"), er("SHCLIENT1", b"F", "SHCLIENT1"),
            Out("SHCLIENT1", b"9", [(37, b"O1")]), er("SHCLIENT1", b"I", "SHCLIENT1"),
            er("SHCLIENT1", b"8", None)]
    got = dc.expand(outs)
    assert [(o.session, o.msg_type, dict(o.body).get(150)) for o in got] == [
        ("HKCLIENT1", b"8", b"0"), ("DCALL", b"8", b"0"), ("DCHK", b"8", b"0"),
        ("SHCLIENT1", b"8", b"F"), ("DCALL", b"8", b"F"),
        ("SHCLIENT1", b"9", None), ("SHCLIENT1", b"8", b"I"),
        ("SHCLIENT1", b"8", b"8"), ("DCALL", b"8", b"8")]     # a reject without an account: every-account copies
    assert got[1].body == outs[0].body + [(797, b"Y")] and outs[0].body[-1] == (55, b"HKGX.RKG")
    assert counts.n == {"DCALL": 3, "DCHK": 1}
    dc.expand(outs, count=False)
    assert counts.n == {"DCALL": 3, "DCHK": 1}
    assert DropCopy(SESSIONS[:2]).expand(outs) is outs and not DropCopy(SESSIONS[:2])
    # The copies alone (the service sends them after the originals' socket write): the same, in order.
    alone = dc.expand(outs, originals=False)
    assert [(o.session, o.body) for o in alone] == [(o.session, o.body) for o in got if o.session in dc.names]
    assert counts.n == {"DCALL": 6, "DCHK": 2}
    assert DropCopy(SESSIONS[:2]).expand(outs, originals=False) == []


def test_a_drop_copy_session_may_not_send_orders() -> None:
    dc = DropCopy(SESSIONS)
    for t in (b"D", b"F", b"G", b"q"):
        msg = parse_frame(encode(t, b"DCHK", b"GOLDRTR", 7, b"20260105-01:00:00", [(11, b"C1")]))
        refused = dc.refusal("DCHK", msg)
        assert refused.session == "DCHK" and refused.msg_type == b"j"
        body = dict(refused.body)
        assert (body[45], body[372], body[379], body[380]) == (b"7", t, b"C1", 6) and "drop_copy" in body[58]
        assert dc.refusal("HKCLIENT1", msg) is None
    status = parse_frame(encode(b"H", b"DCHK", b"GOLDRTR", 8, b"20260105-01:00:00", [(11, b"C1")]))
    assert dc.refusal("DCHK", status) is None


def test_scopes() -> None:
    assert scopes(SESSIONS) == {"SHCLIENT1": {"SHCLIENT1"}, "HKCLIENT1": {"HKCLIENT1"}, "DCALL": None,
                                "DCHK": {"HKCLIENT1"}}
