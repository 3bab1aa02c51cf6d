"""Funds: where a fill moves metal, on a book with two vaults (the embedded catalogue has one per book,
so this test gives HKGX.RKG a second, LONDON). The report, the ledger's trade and the account's metal
must all name the same vault: the one the order asked for (7002), else the router's choice (a sell's
vault with the most free metal; a buy's first vault)."""
from __future__ import annotations

from router.config import build_config, embedded_defaults
from router.records.ledger import Ledger
from tests.orders.test_flow import HK, SH, Harness, ers, f

GRAM = 1_000_000


def _two_vault_harness() -> Harness:
    tree = embedded_defaults()
    tree["instruments"]["HKGX.RKG"]["vaults"] = ["HK", "LONDON"]
    h = Harness(config=build_config(tree))
    h.ledger = Ledger(h.cfg.catalogue, h.cfg.sections["calendars"])
    h.flow.fills = h.ledger
    return h


def _metal(h: Harness) -> dict:
    return {(a, v): h.accounts[a].metal[v] for a in (SH, HK) for v in ("HK", "LONDON")}


def test_a_fill_moves_metal_in_the_vault_its_report_and_trade_name() -> None:
    h = _two_vault_harness()
    start = _metal(h)
    # Both ask for LONDON, the book's second vault.
    h.order(HK, "HKGX.RKG", 2, 1, "560.00", extra=[(7002, "LONDON")])
    asked = [o for o in ers(h.order(SH, "HKGX.RKG", 1, 1, "560.00", extra=[(7002, "LONDON")])) if f(o, 150) == b"F"]
    # Neither asks: the seller's vault with the most free metal (HK, now that LONDON gave 1 kg), the buyer's first.
    h.order(HK, "HKGX.RKG", 2, 1, "560.00")
    plain = [o for o in ers(h.order(SH, "HKGX.RKG", 1, 1, "560.00")) if f(o, 150) == b"F"]
    assert [(o.session, f(o, 7002)) for o in asked + plain] == [
        (SH, b"LONDON"), (HK, b"LONDON"), (SH, b"HK"), (HK, b"HK")]
    assert [(t.account, t.vault) for t in h.ledger.trades] == [
        (SH, "LONDON"), (HK, "LONDON"), (SH, "HK"), (HK, "HK")]
    moved = {k: v - start[k] for k, v in _metal(h).items() if v != start[k]}
    kg = 1000 * GRAM
    assert moved == {(SH, "LONDON"): kg, (HK, "LONDON"): -kg, (SH, "HK"): kg, (HK, "HK"): -kg}
