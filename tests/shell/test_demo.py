"""`gold-router demo` end to end: the in-process router, the scripted FIX client and what it prints."""
from __future__ import annotations

import re

from router.cli import main


def test_demo_crosses_blocks_and_splits_and_says_why(capsys) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "demo complete: crossed, blocked and split as described" in out
    one, two, three = (out.split("\n== ")[i] for i in (2, 3, 4))
    # 1: routed southbound to the Hong Kong kilobar, the cheapest all-in book, and filled there.
    assert one.startswith("1. crossing the border")
    assert re.search(r"1\. HKGX\.RKG .* southbound\)", one)
    # Fine grams: a 1 kg 9999 bar is 999.9 g fine; the fill states its value in CNH and its gross grams.
    assert re.search(r"FILL +999\.9 g fine on HKGX +HKGX\.RKG", one)
    assert "GrossTradeAmt(381) 559800.00 CNH for 1000 G gross, KG1 bars in vault HK" in one
    # The quota taken at the order's limit and what the better fill price gave back.
    assert re.search(r"southbound quota: CNY 560,939\.94 taken at acceptance .* CNY 1,927\.28 given back .*"
                     r"CNY 559,012\.66 used", one)
    assert "0.1 g fine not filled: below one lot of every book it could reach" in one
    # 2: the constraint excludes every book, each with its reason, and the order is rejected.
    assert "x  SGE.AU9999     excluded: settl_ccy_mismatch" in two
    assert "x  HKGX.RKG       excluded: vault_mismatch" in two
    assert "REJECTED (OrdRejReason 0)" in two
    # 3: filled on two venues, the remainder rests.
    venues = re.findall(r"FILL +[\d.]+ g fine on (\w+)", three)
    assert len(set(venues)) >= 2
    assert re.search(r"remainder [\d.]+ g fine resting on SGE\.AU9999", three)
    # The day ends with the netted obligations: the Hong Kong kilobar bought southbound settles in CNH.
    obligations = out.split("\n== ")[5]
    assert obligations.startswith("the day's netted settlement obligations")
    assert re.search(r"SHCLIENT1 HKGX CNH HK .* metal +\d+ g \(southbound", obligations)
    assert re.search(r"HKCLIENT1 HKGX CNH HK .* cash +\d+\.\d\d, metal +-\d+ g", obligations)
