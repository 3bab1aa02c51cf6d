"""The trade-value fields of fill reports: GrossTradeAmt exact from integer price x lots x lot size in the
book's settlement currency, the gross quantity in the book's unit, a product fill's vault and bar form,
and the words for what a product order leaves unfilled."""
from __future__ import annotations

from decimal import Decimal

from router.domain.convert import Fx
from router.orders.fill_report import FillReport, decimal_text
from router.orders.route_types import Candidate
from tests.orders.test_routing import CAT, catalogue

FX = Fx({"USDCNY": Decimal("7.10"), "USDCNH": Decimal("7.11"), "USDHKD": Decimal("7.80")})
REPORT = FillReport(CAT)


def book(symbol, cat=CAT):
    return cat.instruments[symbol].book_id


def test_the_issue_tael_fill_is_hkd_22_3_m_for_1000_taels():
    fields = dict(REPORT.fields(book("HKGX.AU99TAEL"), 2_230_000, 10, FX))
    assert fields == {381: b"22300000.00", 120: b"HKD", 7017: b"1000", 7018: b"TAEL", 7003: b"TAEL5"}


def test_gross_amount_on_each_kind_of_book():
    # 3 lots of 10 g at CNY 560.01; a kilobar at CNH 559.80; 2 lots of 100 fine oz at USD 2,400.37.
    assert REPORT.gross_amount(book("SGE.AU9999"), 56001, 3, FX) == (b"16800.30", "CNY")
    assert REPORT.fields(book("HKGX.RKG"), 55980, 1, FX)[:4] == [
        (381, b"559800.00"), (120, b"CNH"), (7017, b"1000"), (7018, b"G")]
    assert REPORT.fields(book("HKGX.LLG"), 240037, 2, FX) == [
        (381, b"480074.00"), (120, b"USD"), (7017, b"200"), (7018, b"OZ"), (7003, b"LGD")]


def test_a_book_settled_in_another_currency_converts_once_to_the_cent():
    cat = catalogue({"HKGX.RKG": {"settlement_ccy": "HKD"}})
    report = FillReport(cat)
    # CNH 559,800.00 at 7.80 / 7.11 HKD per CNH = HKD 614,126.582... -> 614126.58
    assert report.gross_amount(book("HKGX.RKG", cat), 55980, 1, FX) == (b"614126.58", "HKD")


def test_decimal_text_keeps_every_digit_and_at_least_the_cents():
    assert decimal_text(223_000_000, 2, 2) == b"2230000.00"
    assert decimal_text(1_234_567, 4, 2) == b"123.4567"
    assert decimal_text(31_103_476_8, 7) == b"31.1034768"
    assert decimal_text(1000, 0) == b"1000"


def test_product_fill_fields_name_the_instrument_and_every_fill_its_vault():
    fields = REPORT.product_fields(book("HKGX.AU99TAEL"), b"filled on HKGX.AU99TAEL at 22300.00 HKD/hk_tael")
    assert fields == [(58, b"filled on HKGX.AU99TAEL at 22300.00 HKD/hk_tael"), (7008, "HKGX.AU99TAEL")]
    assert REPORT.vault_field("HK") == (7002, b"HK")


def _cand(symbol):
    i = CAT.instruments[symbol]
    return Candidate(symbol, i.book_id, 1, 1, 0, 0, "ref", None, 0, i.settlement_ccy, 0, i.vaults[0], 0)


def test_what_no_book_takes_is_reported_with_the_reason():
    cands = [_cand("HKGX.RKG"), _cand("SGE.AU9999")]
    assert REPORT.unfilled(100_000, cands) == ("below_one_lot",
        "0.1 g fine not filled: below one lot of every book it could reach (smallest: SGE.AU9999, 9.999 g fine)")
    assert REPORT.unfilled(374_290_000, cands) == ("no_liquidity",
        "374.29 g fine not filled: nothing more to trade with within the limit")
    assert REPORT.unfilled(100_000, cands, book("SGE.AU9999")) == ("below_one_lot",
        "0.1 g fine not filled: below one lot of SGE.AU9999 (9.999 g fine), where the order rests")


def test_the_encoded_fill_fields_are_the_pairs_encoded() -> None:
    from router.fix.encoding import WireBody
    for i in CAT.by_book():
        for px, lots in ((i.reference_units, 1), (i.reference_units + 7, 13), (1, 1000)):
            b = i.book_id
            assert REPORT.fields_wire(b, px, lots, FX) == WireBody.of(REPORT.fields(b, px, lots, FX)).wire
        assert REPORT.vault_wire(i.vaults[0]) == WireBody.of([REPORT.vault_field(i.vaults[0])]).wire
        text = b"filled on %s at 1.00" % i.symbol.encode()
        assert REPORT.product_wire(i.book_id, text) == WireBody.of(REPORT.product_fields(i.book_id, text)).wire
