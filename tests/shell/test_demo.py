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
    assert re.search(r"FILL +1000 g on HKGX", one)
    # 2: the constraint excludes every book, each with its reason, and the order is rejected.
    assert "x  SGE.AU9999     excluded: settl_ccy_mismatch" in two
    assert "x  HKGX.RKG       excluded: vault_mismatch" in two
    assert "REJECTED (OrdRejReason 0)" in two
    # 3: filled on two venues, the remainder rests.
    venues = re.findall(r"FILL +\d+ g on (\w+)", three)
    assert len(set(venues)) >= 2
    assert re.search(r"remainder \d+ g resting on SGE\.AU9999", three)
    # The day ends with the netted obligations: the Hong Kong kilobar bought southbound settles in CNH.
    obligations = out.split("\n== ")[5]
    assert obligations.startswith("the day's netted settlement obligations")
    assert re.search(r"SHCLIENT1 HKGX CNH HK .* metal +\d+ g \(southbound", obligations)
    assert re.search(r"HKCLIENT1 HKGX CNH HK .* cash +\d+\.\d\d, metal +-\d+ g", obligations)
