"""fix_specs/README.md documents the configured vault codes and settlement cycles: its GoldVault(7002) and
GoldSettlCycle(7004) rows name, per code, the instruments of the default catalogue that use it, and this
test fails when the README and the catalogue disagree (a vault renamed, a cycle changed, a code invented)."""
from __future__ import annotations

import re
from pathlib import Path

from router.config import load_config
from router.orders.marketdata import CYCLE_FIX

README = Path(__file__).resolve().parents[2] / "fix_specs" / "README.md"
CATALOGUE = load_config().catalogue


def _row(tag: int) -> str:
    (row,) = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith(f"| {tag} |")]
    return row.rsplit("|", 2)[1]           # the Values column


def _documented(tag: int) -> dict[str, set[str]]:
    """`CODE` ... (instrument, instrument) pairs of the row's Values column."""
    return {code: {s for s in ids.split(", ") if s in CATALOGUE.instruments}
            for code, ids in re.findall(r"`(\w+)`[^(`]*\(([^)]*)\)", _row(tag))}


def test_readme_vault_codes_are_the_catalogues() -> None:
    want: dict[str, set[str]] = {}
    for i in CATALOGUE.instruments.values():
        for v in i.vaults:
            want.setdefault(v, set()).add(i.symbol)
    assert _documented(7002) == want


def test_readme_settlement_cycles_are_the_catalogues() -> None:
    want: dict[str, set[str]] = {code: set() for code in CYCLE_FIX.values()}
    for i in CATALOGUE.instruments.values():
        want[CYCLE_FIX[i.settlement_cycle]].add(i.symbol)
    assert _documented(7004) == want
