"""orders.core_one_command: one command per message through one reused buffer, and the one-event
answers' own paths give what the general loop (`CoreEvents._reports`) gives.

A resting order's ACCEPTED, a requested cancel's CANCELLED and an IOC that met nothing (an instrument's,
or a product's sweep) are answered without the general loop; the scripted morning here runs through
both (the general one by patching the four paths to `_reports` and the builder to `exec_report`'s
general build) and compares the lines sent, the metrics calls and the state hashes.
"""
from __future__ import annotations

import pytest

from router.orders.core_bridge import CoreEvents
from router.orders.core_one_command import _SWEPT_TEXTS, OneCommand
from router.records.state_hash import state_hashes
from tests.orders.test_flow import HK, SH, Harness, ers, f
from tests.orders.test_new_order_paths import _wire


def test_single_commands_go_through_one_buffer_the_engine_keeps_a_view_of() -> None:
    h = Harness(reference=False)
    (ack,) = h.order(SH, "SGE.AU9999", 1, 1, "550.00", clordid="B1")
    buf = h.flow._cmd_buf
    outs = h.order(HK, "SGE.AU9999", 2, 1, "550.00", clordid="S1")
    assert f(ack, 150) == b"0" and [f(o, 150) for o in ers(outs)] == [b"0", b"F", b"F"]
    assert h.flow._cmd_buf is buf
    # The engine reuses its flat view of that buffer rather than re-checking it per message.
    assert h.flow.engine._last_batch is buf


def _morning(reference: bool, *, general: bool, monkeypatch) -> tuple[list[str], dict]:
    """The fill transcript's scripted morning (every venue, products, fills, replaces, cancels), with a
    market-data subscriber on the main book, through the usual paths or (`general`) with every core
    answer through `CoreEvents._reports` and every report through `exec_report`'s general build: the
    lines sent and the state hashes."""
    from router.orders.reports import exec_report
    from router.records.ledger import Ledger
    from tests.orders.test_fill_transcript import _cancel, _script
    from tests.orders.test_marketdata import md_request

    with monkeypatch.context() as m:
        if general:
            m.setattr(OneCommand, "_accepted_alone",
                      lambda self, ev, now_ns: self._reports([ev], (("new", None),), now_ns))
            m.setattr(OneCommand, "_cancelled_alone",
                      lambda self, ev, clordid, now_ns: self._reports([ev], (("cancel", None, clordid),), now_ns))
            m.setattr(OneCommand, "_unfilled_ioc",
                      lambda self, ev, ev2, now_ns: self._reports([ev, ev2], (("new", None),), now_ns))
            m.setattr(OneCommand, "_unswept_ioc",
                      lambda self, ev, ev2, now_ns: self._reports([ev, ev2], (("new", None),), now_ns))
            m.setattr(CoreEvents, "exec_report", staticmethod(lambda *a, **k: exec_report(*a, **k)))
        h = Harness(reference=reference)
        h.ledger = Ledger(h.cfg.catalogue, h.cfg.sections["calendars"])
        h.flow.fills = h.ledger
        h.flow.metrics = metrics = _Recorder()
        subscribed = _wire(h.send(HK, b"V", md_request("MD1", ["SGE.AU9999"], depth=2)))
        lines = [*subscribed, *(ln.encode() for ln in _script(h))]
        lines += _wire(h.order(SH, "SGE.AU9999", 1, 4, "550.00", clordid="late"))    # a book update
        for orig, new in (("late", "late-c"), ("late", "late-d"), ("nope", "nope-c")):   # cancelled, late, unknown
            lines += _wire(_cancel(h, SH, orig, new, "SGE.AU9999", 1))
        lines += _wire(h.order(HK, "SGEI.IAU9999", 2, 2, "561.00", clordid="i-s"))
        lines += _wire(h.order(SH, "SGEI.IAU9999", 1, 1, "561.00", clordid="i-b"))        # fills half of i-s
        lines += _wire(_cancel(h, HK, "i-s", "i-c", "SGEI.IAU9999", 2))                  # cancels a partial fill
        lines += _wire(h.order(SH, "GOLD.KG9999", 1, 1000, "540.00", clordid="p-r"))     # a product rests
        lines += _wire(_cancel(h, SH, "p-r", "p-c", "GOLD.KG9999", 1))
        iocs = [(SH, "SGE.AU9999", 1, "551.00"), (HK, "SGE.AU9999", 2, "600.00"), (SH, "HKGX.LLG", 1, "2300.00")]
        for n, (sender, symbol, side, price) in enumerate(iocs):
            lines += _wire(h.order(sender, symbol, side, 2, price, clordid=f"ioc{n}", tif="3"))  # met nothing
        # Product IOCs whose sweep met nothing (two asked again: their cancel Text is the kept one), then one
        # with the kept Texts dropped.
        piocs = [(SH, "GOLD.KG9999", 1, 1000, "505.00"), (HK, "GOLD.KG9999", 2, 1000, "615.00"),
                 (SH, "GOLD.HKSH", 1, 20, "505.00"), (HK, "GOLD.HKSH", 2, 15, "615.00"),
                 (SH, "GOLD.KG9999", 1, 1000, "505.00"), (SH, "GOLD.HKSH", 1, 20, "505.00")]
        for n, (sender, symbol, side, qty, price) in enumerate(piocs):
            lines += _wire(h.order(sender, symbol, side, qty, price, clordid=f"pioc{n}", tif="3"))
        _SWEPT_TEXTS.clear()
        lines += _wire(h.order(HK, "GOLD.KG9999", 2, 1000, "615.00", clordid="pioc-cleared", tif="3"))
        h.flow.metrics = None
        return lines + metrics.calls, state_hashes(h.flow)


class _Recorder:
    """A metrics object that notes every call (name and arguments) as a line, in order."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []

    def __getattr__(self, name: str):
        return lambda *args: self.calls.append(f"metrics {name}{args!r}".encode())


@pytest.mark.parametrize("reference", [True, False], ids=["reference_book", "numba"])
def test_the_acknowledgements_own_path_equals_the_general_one(reference: bool, monkeypatch) -> None:
    """A resting order's one ACCEPTED event, a cancel's one CANCELLED event and an IOC's two when it met
    nothing skip `_reports` (`OneCommand._accepted_alone`, `_cancelled_alone`, `_unfilled_ioc`), and
    every acknowledgement and unfilled cancel is a template (`reports.ack_report`, `cancelled_report`):
    the same messages, byte for byte, the same metrics calls, and the same state as the general loop and
    builder."""
    usual, usual_hashes = _morning(reference, general=False, monkeypatch=monkeypatch)
    general, general_hashes = _morning(reference, general=True, monkeypatch=monkeypatch)
    assert sum(b"|150=0|" in ln for ln in usual) >= 20                            # acks, resting or not
    assert sum(b"\x01150=4\x0139=4\x01" in ln for ln in usual) >= 3                  # requested cancels
    assert sum(b"\x01150=4\x0139=4\x01" in ln and b"\x0158=unfilled remainder" in ln for ln in usual) >= 3  # IOCs
    assert sum(b"\x01150=4\x0139=4\x01" in ln and b"g fine not filled" in ln for ln in usual) >= 7  # product IOCs
    assert sum(ln.startswith(HK.encode() + b" X ") or b"\x0135=X\x01" in ln for ln in usual) >= 10  # book updates
    assert sum(ln.startswith(b"metrics routed(") for ln in usual) >= 10
    assert usual == general
    assert usual_hashes == general_hashes
