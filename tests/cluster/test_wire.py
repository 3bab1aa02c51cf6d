"""The cluster's wire formats and the gateway's duplicate/stale rule, without NATS."""
from __future__ import annotations

from router.cluster.wire import (OutputFilter, decode_command, decode_output, encode_command_record,
                                 encode_output)
from router.records.journal_format import CommandKind, JournalCorrupt

import pytest


def test_a_command_is_numbered_by_the_stream_and_checked():
    record = encode_command_record(CommandKind.FIX_IN, "SHCLIENT1", b"8=FIX.4.4\x0135=D\x01", 1234)
    cmd = decode_command(record, 77)
    assert (cmd.seq, cmd.time_ns, cmd.kind, cmd.session, cmd.payload) == (
        77, 1234, CommandKind.FIX_IN, "SHCLIENT1", b"8=FIX.4.4\x0135=D\x01")
    damaged = record[:-1] + bytes([record[-1] ^ 1])
    with pytest.raises(JournalCorrupt):
        decode_command(damaged, 77)


def test_an_output_round_trips_with_its_epoch_command_and_number():
    data = encode_output(3, 41, 7, b"8", [(11, b"B1"), (38, 2), (55, "HKGX.RKG"), (58, b"a=b")])
    out = decode_output(data)
    assert (out.epoch, out.seq, out.number, out.msg_type) == (3, 41, 7, b"8")
    assert out.body == [(11, b"B1"), (38, b"2"), (55, b"HKGX.RKG"), (58, b"a=b")]


def _out(epoch: int, seq: int, number: int):
    return decode_output(encode_output(epoch, seq, number, b"8", [(11, b"X")]))


def test_the_filter_drops_duplicates_and_older_epochs_and_counts_gaps():
    f = OutputFilter()
    assert f.verdict("A", _out(1, 10, 1)) == "deliver"
    assert f.verdict("A", _out(1, 11, 2)) == "deliver"
    # a new leader re-publishes its recent outputs: those delivered are dropped, the rest delivered
    assert f.verdict("A", _out(2, 10, 1)) == "duplicate"
    assert f.verdict("A", _out(2, 11, 2)) == "duplicate"
    assert f.verdict("A", _out(2, 12, 3)) == "deliver"
    # the old leader, still publishing for a moment, is ignored
    assert f.verdict("A", _out(1, 13, 4)) == "stale"
    assert f.verdict("A", _out(2, 13, 4)) == "deliver"
    assert f.verdict("A", _out(2, 20, 9)) == "deliver" and f.gaps == 1
    assert f.dropped == {"stale": 1, "duplicate": 2}


def test_before_its_first_delivery_a_session_ignores_outputs_from_before_its_logon():
    f = OutputFilter()
    assert f.verdict("B", _out(2, 5, 1), floor=8) == "duplicate"
    assert f.verdict("B", _out(2, 9, 2), floor=8) == "deliver"
    assert f.verdict("B", _out(2, 6, 1), floor=8) == "duplicate"


def test_a_role_needs_nats_urls(capsys):
    from router.cli import main
    assert main(["serve", "--role", "core"]) == 2
    assert "--role core needs --nats" in capsys.readouterr().err
    assert main(["serve", "--role", "gateway", "--nats", "nats://127.0.0.1:1", "--takeover", "0"]) == 2
    assert "--takeover 0.0 must be a positive number" in capsys.readouterr().err
