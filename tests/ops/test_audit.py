"""The operator's reject log lines: one per reject an application sends, naming its request and
reason; nothing for messages that are not rejects."""
from __future__ import annotations

import logging

from router.fix.encoding import WireBody
from router.ops.audit import log_rejects, reject_line


def test_each_kind_of_reject_names_its_request_and_reason() -> None:
    er = [(37, b"NONE"), (11, b"A1"), (150, b"8"), (39, b"8"), (103, 11), (1, "SHCLIENT1"), (55, b"SGE.AU9999"),
          (54, b"1"), (38, b"1"), (58, "OrdType(40) 3 not supported; supported: 1 (market), 2 (limit)")]
    assert reject_line("SHCLIENT1", b"8", er) == (
        "order rejected to SHCLIENT1: ClOrdID=A1 Account=SHCLIENT1 Symbol=SGE.AU9999 Side=1 OrderQty=1 "
        "OrdRejReason=11: OrdType(40) 3 not supported; supported: 1 (market), 2 (limit)")
    cxl = [(37, b"NONE"), (11, b"C1"), (41, b"A9"), (39, b"8"), (434, b"1"), (102, 1), (58, "unknown order")]
    assert reject_line("HKCLIENT1", b"9", cxl) == (
        "cancel rejected to HKCLIENT1: ClOrdID=C1 OrigClOrdID=A9 CxlRejResponseTo=1 CxlRejReason=1: unknown order")
    j = [(45, b"7"), (372, b"e"), (379, b"S1"), (380, 2), (58, "unknown instrument")]
    assert reject_line("SHCLIENT1", b"j", j) == (
        "business reject to SHCLIENT1: RefMsgType=e BusinessRejectRefID=S1 BusinessRejectReason=2: unknown instrument")
    y = [(262, b"M1"), (281, b"5"), (58, "MarketDepth must be 0 (full, 20 levels) to 20")]
    assert reject_line("SHCLIENT1", b"Y", y).startswith("market data rejected to SHCLIENT1: MDReqID=M1 MDReqRejReason=5")
    r = [(11, b"Q1"), (530, b"1"), (531, 0), (532, 1), (533, 0), (58, "MassCancelRequestType 1 needs Symbol(55)")]
    assert reject_line("SHCLIENT1", b"r", r).startswith("mass cancel rejected to SHCLIENT1: ClOrdID=Q1")


def test_what_is_not_a_reject_has_no_line(caplog) -> None:
    ack = [(11, b"A1"), (150, b"0"), (39, b"0")]
    done = [(11, b"Q1"), (530, b"7"), (531, b"7"), (533, 3)]
    assert reject_line("SHCLIENT1", b"8", ack) is None
    assert reject_line("SHCLIENT1", b"r", done) is None
    assert reject_line("SHCLIENT1", b"W", [(262, b"M1")]) is None
    with caplog.at_level(logging.INFO, logger="gold_router.rejects"):
        log_rejects([("SHCLIENT1", b"8", ack), ("SHCLIENT1", b"8", [(11, b"B2"), (150, b"8"), (58, "why")])])
    assert [r.getMessage() for r in caplog.records] == ["order rejected to SHCLIENT1: ClOrdID=B2: why"]


def test_encoded_reports_are_logged_as_pair_lists_are(caplog) -> None:
    # The send path reads ExecType(150) off a WireBody's encoding: the same lines as for pairs,
    # with 150=8 in the middle or last, and nothing for 150=80 or a report without 150.
    reports = [[(11, b"A1"), (150, b"0"), (39, b"0")], [(11, b"B2"), (150, b"8"), (58, b"why")],
               [(11, b"C3"), (58, b"last"), (150, b"8")], [(11, b"D4"), (150, b"80")], [(11, b"E5")]]
    lines = []
    for bodies in (reports, [WireBody.of(b) for b in reports]):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="gold_router.rejects"):
            log_rejects([("SHCLIENT1", b"8", b) for b in bodies])
        lines.append([r.getMessage() for r in caplog.records])
    assert lines[0] == lines[1] == ["order rejected to SHCLIENT1: ClOrdID=B2: why",
                                    "order rejected to SHCLIENT1: ClOrdID=C3: last"]
