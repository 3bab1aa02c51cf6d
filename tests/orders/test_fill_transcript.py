"""Every message a scripted trading morning produces, byte for byte, against a transcript recorded
from the code before the fill path was made faster (2026-12-03, main 606b068): instrument orders
crossing on every venue and currency (partial fills, resting remainders, IOC remainders), routable
product orders sweeping, resting and filling passively, margined T+D positions opened and closed,
replaces, cancels and a refused replace, with the books of record attached. A change to how
ExecutionReports, fill fields, funds, quota or the ledger are computed must leave this identical
(`FILLS_TRANSCRIPT_WRITE=1` rewrites the file, for a deliberate change of what is sent).

Both engines run the same script: the numba core and the reference book."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from router.fix.encoding import WireBody
from router.records.ledger import Ledger
from tests.orders.test_flow import HK, SH, Harness

TRANSCRIPT = Path(__file__).parent / "data" / "fill_transcript.txt"


def _line(out) -> str:
    body = out.body if isinstance(out.body, WireBody) else WireBody.of(out.body)
    return f"{out.session} {out.msg_type.decode()} " + body.wire.replace(b"\x01", b"|").decode()


def _replace(h: Harness, sender: str, orig: str, new: str, symbol: str, side: int, qty, price: str):
    return h.send(sender, b"G", [(41, orig), (11, new), (55, symbol), (54, side), (60, "20260101-00:00:00"),
                                 (38, qty), (40, 2), (44, price)])


def _cancel(h: Harness, sender: str, orig: str, new: str, symbol: str, side: int):
    return h.send(sender, b"F", [(41, orig), (11, new), (55, symbol), (54, side), (60, "20260101-00:00:00")])


def _script(h: Harness) -> list:
    steps = [
        # Instrument orders: a partial fill of a resting sell, a buy that fills and rests, an IOC remainder.
        lambda: h.order(HK, "SGE.AU9999", 2, 100, "560.00", clordid="S1"),
        lambda: h.order(SH, "SGE.AU9999", 1, 30, "560.50", clordid="B1"),
        lambda: h.order(SH, "SGE.AU9999", 1, 200, "560.00", clordid="B2", tif="1"),
        lambda: h.order(HK, "SGE.AU9999", 2, 15, "559.50", clordid="S2", tif="3"),
        lambda: _replace(h, SH, "B2", "B2r", "SGE.AU9999", 1, 150, "559.80"),
        lambda: h.order(HK, "SGE.AU9999", 2, 50, "559.80", clordid="S3", tif="3"),
        # Other venues and currencies: HKD taels, CNH kilobars, USD loco London (T+2), CNH international board.
        lambda: h.order(HK, "HKGX.AU99TAEL", 2, 2, "22300.00", clordid="T1"),
        lambda: h.order(SH, "HKGX.AU99TAEL", 1, 3, "22300.50", clordid="T2", tif="3"),
        lambda: h.order(HK, "HKGX.LLG", 2, 3, "2400.00", clordid="L1"),
        lambda: h.order(SH, "HKGX.LLG", 1, 2, "2400.10", clordid="L2"),
        lambda: h.order(HK, "SGEI.IAU9999", 2, 1, "560.00", clordid="I1"),
        lambda: h.order(SH, "SGEI.IAU9999", 1, 1, "560.00", clordid="I2"),
        # Margined T+D: open, then close at a profit the other way round.
        lambda: h.order(HK, "SGE.AUTD", 2, 2, "560.00", clordid="D1"),
        lambda: h.order(SH, "SGE.AUTD", 1, 2, "560.00", clordid="D2"),
        lambda: h.order(HK, "SGE.AUTD", 1, 1, "561.00", clordid="D3"),
        lambda: h.order(SH, "SGE.AUTD", 2, 2, "561.00", clordid="D4"),
        lambda: h.order(SH, "SGE.MAUTD", 1, 3, "560.00", clordid="M1"),
        lambda: h.order(HK, "SGE.MAUTD", 2, 3, "559.90", clordid="M2"),
        # Routable products: a split across venues that rests, a passive fill, an IOC with dust, a replace.
        lambda: h.order(HK, "HKGX.RKG", 2, 1, "560.00", clordid="K1"),
        lambda: h.order(HK, "SGE.AU9999", 2, 30, "560.50", clordid="K2"),
        lambda: h.order(SH, "GOLD.KG9999", 1, 2000, "561.00", clordid="P1"),
        lambda: h.order(HK, "SGE.AU9999", 2, 20, "555.00", clordid="K3"),
        lambda: _replace(h, SH, "P1", "P1r", "GOLD.KG9999", 1, 1800, "560.50"),
        lambda: h.order(HK, "SGE.AU9999", 2, 25, "556.00", clordid="K4"),
        lambda: _replace(h, SH, "P1r", "P1x", "GOLD.KG9999", 1, 60, "560.50"),
        lambda: h.order(HK, "HKGX.RKG", 2, 1, "560.00", clordid="K5"),
        lambda: h.order(SH, "GOLD.KG9999", 1, 1000, "562.00", clordid="P2", tif="3"),
        lambda: h.order(HK, "HKGX.AU99TAEL", 2, 1, "22300.00", clordid="K6"),
        lambda: h.order(SH, "GOLD.HKSH", 1, 3800, "565.00", clordid="P3", tif="3"),
        lambda: _cancel(h, SH, "B2r", "B2c", "SGE.AU9999", 1),
        lambda: h.order(SH, "GOLD.KG9999", 2, 500, "550.00", clordid="P4", tif="3"),     # self-trade
        # Cancels after the self-trade cancels: too late.
        lambda: _cancel(h, SH, "P1r", "P1c", "GOLD.KG9999", 1),
        lambda: _cancel(h, HK, "S1", "S1c", "SGE.AU9999", 2),
        lambda: _cancel(h, HK, "S1", "S1d", "SGE.AU9999", 2),
    ]
    lines = []
    for k, step in enumerate(steps):
        lines.append(f"# step {k}")
        lines += [_line(o) for o in step()]
    for a in (SH, HK):
        lines.append(f"# {a} {h.ledger.positions_view(h.accounts.get(a))}")
    lines += [f"# trade {t}" for t in h.ledger.trades]
    return lines


@pytest.mark.parametrize("reference", [True, False], ids=["reference_book", "numba"])
def test_a_trading_morning_sends_exactly_the_recorded_messages(reference: bool) -> None:
    h = Harness(reference=reference)
    h.ledger = Ledger(h.cfg.catalogue, h.cfg.sections["calendars"])
    h.flow.fills = h.ledger
    lines = _script(h)
    assert sum(" 8 " in ln and "|150=F|" in ln for ln in lines) >= 20      # the script did trade
    text = "\n".join(lines) + "\n"
    if os.environ.get("FILLS_TRANSCRIPT_WRITE") and reference:
        TRANSCRIPT.write_text(text)
    assert text.splitlines() == TRANSCRIPT.read_text().splitlines()


def test_every_fill_report_names_the_vault_the_books_of_record_moved() -> None:
    """A fill's report and its trade in the ledger take the vault from one rule (`funds.fill_vault`):
    over the whole morning, fill by fill in the order they happened, the report's 7002 is the trade's
    vault (buys and sells, full payment and margined, instruments and product sweeps)."""
    h = Harness()
    h.ledger = Ledger(h.cfg.catalogue, h.cfg.sections["calendars"])
    h.flow.fills = h.ledger
    lines = _script(h)
    reported = [dict(p.split("=", 1) for p in ln.split(" ", 2)[2].split("|") if "=" in p)
                for ln in lines if " 8 " in ln and "|150=F|" in ln]
    assert len(reported) == len(h.ledger.trades) >= 20
    assert {t.margined for t in h.ledger.trades} == {True, False} and {t.side for t in h.ledger.trades} == {1, 2}
    assert len({t.vault for t in h.ledger.trades}) >= 3
    assert [r["7002"] for r in reported] == [t.vault for t in h.ledger.trades]
