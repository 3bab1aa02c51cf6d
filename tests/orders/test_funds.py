"""Funds: where a fill moves metal, and in what bar form.

A book with two vaults (the embedded catalogue has one per book, so one test gives HKGX.RKG a second,
LONDON): the report, the ledger's trade and the account's metal must all name the same vault: the one
the order asked for (7002), else the router's choice (a sell's vault with the most free metal; a buy's
first vault). Holdings are per vault and bar form: the HK vault holds 990 tael bars (HKGX.AU99TAEL) and
9999 kilobars (HKGX.RKG), and a full-payment sale must deliver its own book's form, on an instrument
order and on each book a product order sweeps."""
from __future__ import annotations

from router.config import build_config, embedded_defaults
from router.records.ledger import Ledger
from tests.orders.test_flow import HK, SH, Harness, ers, f

GRAM = 1_000_000
KG9999, TAEL990 = "ingot_1kg_9999", "tael_bar_990"


def _two_vault_harness() -> Harness:
    tree = embedded_defaults()
    tree["instruments"]["HKGX.RKG"]["vaults"] = ["HK", "LONDON"]
    for a in (SH, HK):      # LONDON now holds two forms: a plain amount would be ambiguous
        tree["accounts"][a]["metal"]["LONDON"] = {"lgd_400oz": "200000", KG9999: "200000"}
    return _with_ledger(Harness(config=build_config(tree)))


def _with_ledger(h: Harness) -> Harness:
    h.ledger = Ledger(h.cfg.catalogue, h.cfg.sections["calendars"])
    h.flow.fills = h.ledger
    return h


def _metal(h: Harness) -> dict:
    return {(a, v): h.accounts[a].metal[(v, KG9999)] for a in (SH, HK) for v in ("HK", "LONDON")}


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


def _sell_all(h: Harness, symbol: str, lots: int, price: str) -> None:
    """SHCLIENT1 sells `lots` of `symbol` to HKCLIENT1's bids: all it holds of that book's form in HK
    (in orders of at most 20 lots: max_order_grams is 100 kg fine; the buyer gets the cash to pay)."""
    for ccy in ("CNH", "HKD"):
        h.accounts[HK].cash[ccy] += 10**15
    while lots:
        n = min(lots, 20)
        h.order(HK, symbol, 1, n, price)
        fills = [o for o in ers(h.order(SH, symbol, 2, n, price), SH) if f(o, 150) == b"F"]
        assert sum(int(f(o, 32)) for o in fills) == n
        lots -= n


def _hk_view(h: Harness) -> dict:
    return {form: v["grams"] for form, v in h.ledger.positions_view(h.accounts[SH])["metal"]["HK"].items()}


def test_kilobars_do_not_back_a_sale_of_tael_bars() -> None:
    """Audit a1: kilobars bought in HK must not deliver a 99 Tael Gold lot (3742.9 g of 990 tael bars)."""
    h = _with_ledger(Harness())
    _sell_all(h, "HKGX.AU99TAEL", 100, "22300.00")      # SHCLIENT1's 374,290 g of tael bars leave
    h.order(HK, "HKGX.RKG", 2, 4, "560.00")
    h.order(SH, "HKGX.RKG", 1, 4, "560.00")            # 4 kilobars arrive: 4,000 g gross of 9999
    trades = len(h.ledger.trades)
    h.order(HK, "HKGX.AU99TAEL", 1, 1, "22300.00")
    (rej,) = ers(h.order(SH, "HKGX.AU99TAEL", 2, 1, "22300.00"), SH)
    assert f(rej, 150) == b"8" and f(rej, 103) == b"3"
    assert f(rej, 58) == (b"insufficient free metal of the book's bar form in its vaults: HKGX.AU99TAEL: "
                          b"insufficient free metal (needs 3742.9 g of bar form tael_bar_990 in HK)")
    assert len(h.ledger.trades) == trades                # nothing settled, nothing recorded
    assert _hk_view(h) == {KG9999: "204000", TAEL990: "0"}


def test_tael_bars_do_not_back_a_sale_of_kilobars() -> None:
    """The reverse: 990 tael bars must not deliver a 9999 kilobar (it would create fine gold)."""
    h = _with_ledger(Harness())
    _sell_all(h, "HKGX.RKG", 200, "560.00")              # SHCLIENT1's 200 kilobars leave
    (rej,) = ers(h.order(SH, "HKGX.RKG", 2, 1, "560.00"), SH)
    assert f(rej, 150) == b"8"
    assert f(rej, 58).endswith(b"HKGX.RKG: insufficient free metal (needs 1000 g of bar form ingot_1kg_9999 in HK)")
    assert _hk_view(h) == {KG9999: "0", TAEL990: "374290"}
    # The tael bars still sell on their own book.
    h.order(HK, "HKGX.AU99TAEL", 1, 1, "22300.00")
    fills = [o for o in ers(h.order(SH, "HKGX.AU99TAEL", 2, 1, "22300.00"), SH) if f(o, 150) == b"F"]
    assert [(f(o, 7002), f(o, 7003)) for o in fills] == [(b"HK", b"TAEL5")]
    assert _hk_view(h) == {KG9999: "0", TAEL990: "370547.1"}


def test_a_product_sale_fills_only_on_books_whose_form_the_account_holds() -> None:
    """GOLD.HKSH sweeps SGE.AU9999 (1 kg 9999 in SGE_MAINLAND) and HKGX.AU99TAEL (990 tael bars in HK):
    each candidate checks free metal of its own form; tael bars go first while held (the better bid)."""
    h = _with_ledger(Harness())
    h.order(HK, "HKGX.AU99TAEL", 1, 2, "22300.00")
    h.order(HK, "SGE.AU9999", 1, 740, "530.00")
    first = [o for o in ers(h.order(SH, "GOLD.HKSH", 2, 3706, "520.00", tif="3"), SH) if f(o, 150) == b"F"]
    assert [f(o, 7008) for o in first] == [b"HKGX.AU99TAEL"]
    _sell_all(h, "HKGX.AU99TAEL", 99, "22300.00")       # the rest of its tael bars leave
    outs = ers(h.order(SH, "GOLD.HKSH", 2, 3706, "520.00", tif="3"), SH)
    assert b"HKGX.AU99TAEL" in f(outs[0], 7006) and b"insufficient_metal" in f(outs[0], 7006)
    fills = [o for o in outs if f(o, 150) == b"F"]
    assert [(f(o, 7008), f(o, 7002), f(o, 7003), f(o, 32)) for o in fills] == [
        (b"SGE.AU9999", b"SGE_MAINLAND", b"KG1", b"3699.63")]
    assert [t.symbol for t in h.ledger.trades if t.account == SH][-1] == "SGE.AU9999"


def test_a_replace_reserves_metal_of_its_own_bar_form() -> None:
    """A resting tael sale raised to more lots than the tael bars held is refused, kilobars or not."""
    h = Harness()
    sh = h.accounts[SH]
    sh.metal[("HK", TAEL990)] = 2 * 3_742_900_000            # two lots of 100 taels
    sh.metal[("HK", KG9999)] = 10_000 * GRAM                # 10 kg of kilobars: no help
    assert f(h.order(SH, "HKGX.AU99TAEL", 2, 1, "23000.00", clordid="R1")[0], 150) == b"0"

    def replace(orig: str, new: str, lots: int) -> list:
        return h.send(SH, b"G", [(41, orig), (11, new), (55, "HKGX.AU99TAEL"), (54, 2), (60, "20260101-00:00:00"),
                                 (38, lots), (40, 2), (44, "23000.00")])

    (rej,) = replace("R1", "R2", 3)
    assert rej.msg_type == b"9" and f(rej, 58) == (b"insufficient free metal for the replaced quantity: needs "
                                                   b"11228.7 g of bar form tael_bar_990 in HK")
    assert sh.reserved_metal == {("HK", TAEL990): 3_742_900_000}     # the old reservation, kept
    (rep,) = replace("R1", "R3", 2)
    assert f(rep, 150) == b"5"
    assert sh.reserved_metal == {("HK", TAEL990): 2 * 3_742_900_000}
    assert sh.free_metal("HK", TAEL990) == 0 and sh.free_metal("HK", KG9999) == 10_000 * GRAM
