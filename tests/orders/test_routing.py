"""The smart router on the real default catalogue: each hard filter in isolation, ranking across
currencies, fees and carry changing the ranking, conservative child limits, quota claims, risk
integration, market orders and the explanation."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings, strategies as st

from router.orders.accounts import Accounts, parse_account, parse_accounts, vault_forms
from router.domain.calendar import SessionState
from router.config import build_config, embedded_defaults
from router.domain.convert import Fx
from router.orders.quota import MICRO, CrossBorderQuota, Direction
from router.domain.reasons import Reason
from router.orders.risk import RiskConfig, RiskEngine
from router.orders.routing import (Constraints, RouteRequest, Router, Side, Tif)

BUY, SELL = Side.BUY, Side.SELL
FX = Fx({"USDCNY": Decimal("7.25"), "USDCNH": Decimal("7.25"), "USDHKD": Decimal("7.80")})
ALL_TAGS = ["sge_mainboard", "sge_international", "hkgx"]
BIG = "100000000000"      # enough cash that funds never decide a ranking test


def catalogue(patch=None):
    tree = embedded_defaults()
    for symbol, fields in (patch or {}).items():
        tree["instruments"][symbol].update(fields)
    return build_config(tree, sections=False).catalogue


CAT = catalogue()
FORMS = vault_forms(CAT.instruments.values())       # vault -> the bar forms its instruments deliver


def account(name="ON", side="onshore", **patch):
    t = {"session": name, "side": side, "eligibility": ALL_TAGS, "cross_border": True,
         "cash": {c: BIG for c in ("CNY", "CNH", "HKD", "USD")},
         "metal": {v: {form: "10000000" for form in forms} for v, forms in FORMS.items()}}
    t.update(patch)
    return parse_account(name, t, vault_forms=FORMS)


class Sessions:
    """The session-state callable, with a set of closed instruments."""

    def __init__(self):
        self.closed: set[str] = set()
        self.calls = 0

    def __call__(self, symbol, now_ns):
        self.calls += 1
        return SessionState.CLOSED if symbol in self.closed else SessionState.CONTINUOUS


def router(*accounts, cat=CAT, quota=None, top=None, risk=None, sessions=None, fx=FX):
    accts = Accounts(accounts or (account(), account("OFF", "offshore")))
    q = quota or CrossBorderQuota(10**18, 10**18)
    r = Router(cat, accts, q, sessions or Sessions(), fx, top_of_book=top, risk=risk)
    return r


def req(symbol="GOLD.KG9999", qty=1000, price=56000, side=BUY, account="ON", tif=Tif.DAY, **c):
    return RouteRequest(account, side, symbol, qty, price, tif, Constraints(**c))


def ranked(d):
    return [c.symbol for c in d.candidates]


def excluded(d):
    return {e.symbol: e.reason for e in d.excluded}


# ------------------------------------------------------------------ ranking across currencies

def test_reference_worked_example_hk_tael_is_cheaper_than_shanghai():
    """Reference §5.4: USDCNY 7.25 / USDHKD 7.80; SGE 560.00 = 2,402.72, HKGX 22,300 = 2,399.80 USD/oz fine."""
    r = router()
    d = r.route(req("GOLD.HKSH", qty=374290, price=56500), 0)
    assert d.ok, d.explain_text()
    assert ranked(d) == ["HKGX.AU99TAEL", "SGE.AU9999"]
    by = {c.symbol: c for c in d.candidates}
    assert round(by["HKGX.AU99TAEL"].comparable / MICRO, 2) == 2399.80
    assert round(by["SGE.AU9999"].comparable / MICRO, 2) == 2402.72
    # 374,290 fine g: the whole fine lots that fit, 101 of 3,705.471 g or 37,432 of 9.999 g
    assert by["HKGX.AU99TAEL"].lots == 101 and by["SGE.AU9999"].lots == 37432
    e = d.explain()
    assert [x["usd_oz_fine"] for x in e["compared"]] == ["2399.80", "2402.72"]
    # a seller wants the dearer book first
    d = r.route(req("GOLD.HKSH", qty=374290, price=55000, side=SELL), 0)
    assert ranked(d) == ["SGE.AU9999", "HKGX.AU99TAEL"]


def test_ranking_uses_live_quotes_over_reference_prices():
    quotes = {CAT.instruments["SGE.AU9999"].book_id: 55500}     # SGE ask 555.00 now beats HK's reference
    r = router(top=lambda book, side: quotes.get(book))
    d = r.route(req("GOLD.HKSH", qty=374290, price=56500), 0)
    assert ranked(d) == ["SGE.AU9999", "HKGX.AU99TAEL"]
    assert [c.source for c in d.candidates] == ["quote", "ref"]


def test_sell_ranking_uses_the_best_bid():
    sge = CAT.instruments["SGE.AU9999"].book_id
    hk = CAT.instruments["HKGX.AU99TAEL"].book_id
    bids = {sge: 55800, hk: 2235000}        # HK bid 22,350 = ~2,405.2 USD/oz beats SGE's 558.00
    seen = []

    def top(book, side):
        seen.append(side)
        return bids.get(book)
    d = router(top=top).route(req("GOLD.HKSH", qty=374290, price=55000, side=SELL), 0)
    assert ranked(d) == ["HKGX.AU99TAEL", "SGE.AU9999"]
    assert set(seen) == {SELL}
    assert d.candidates[0].all_in < d.candidates[0].comparable      # fees reduce what a seller nets


def test_fx_change_recomputes_factors_and_can_flip_the_ranking():
    r = router()
    assert ranked(r.route(req("GOLD.HKSH", qty=374290, price=56500), 0))[0] == "HKGX.AU99TAEL"
    # A weaker CNY makes SGE's 560.00 cheaper in USD than HK's 22,300.
    weak_cny = Fx({"USDCNY": Decimal("7.27"), "USDCNH": Decimal("7.27"), "USDHKD": Decimal("7.80")})
    d = r.route(req("GOLD.HKSH", qty=374290, price=56500), 0, weak_cny)
    assert ranked(d)[0] == "SGE.AU9999"
    assert r.fx is weak_cny


def test_proportional_fees_change_the_ranking():
    # KG9999 members all reference 560.00 in CNY/CNH at one rate: equal raw prices, so fees decide.
    d = router().route(req(), 0)
    assert len({c.comparable for c in d.candidates}) == 1
    assert ranked(d)[0] == "HKGX.RKG"          # CNH 23 per kg lot < 3.5 bp
    dear_hk = catalogue({"HKGX.RKG": {"fee_rate": Decimal("0.001")}})
    d = router(cat=dear_hk).route(req(), 0)
    assert ranked(d)[-1] == "HKGX.RKG"
    assert ranked(d)[:2] == ["SGE.AU9999", "SGEI.IAU9999"]     # equal all-in: book id breaks the tie


def test_carry_changes_the_ranking():
    # HK tael gold is ~12 bp cheaper; a 20 bp/day per diem makes it the dearer place to buy.
    cat = catalogue({"HKGX.AU99TAEL": {"carry_bp_per_day": Decimal(20)}})
    d = router(cat=cat).route(req("GOLD.HKSH", qty=374290, price=56500), 0)
    assert ranked(d) == ["SGE.AU9999", "HKGX.AU99TAEL"]
    hk = d.candidates[1]
    assert hk.all_in - hk.comparable > 20 * hk.comparable // 10_000


def test_per_lot_fee_is_spread_over_the_lot():
    b = router().books()["HKGX.AU99TAEL"]
    # HKD 10 per 100-tael lot at 7.80 over 119.134 fine oz = USD 0.01076 per oz
    assert b.lot_fee_comp == 10762


# ------------------------------------------------------------------ hard filters, one at a time

def test_all_pass_by_default():
    d = router().route(req(), 0)
    assert d.ok and sorted(ranked(d)) == ["HKGX.RKG", "SGE.AU9999", "SGEI.IAU9999"]
    assert d.excluded == ()


def test_allowed_venues():
    d = router().route(req(allowed_venues=frozenset({"HKGX"})), 0)
    assert ranked(d) == ["HKGX.RKG"]
    assert excluded(d) == {"SGE.AU9999": Reason.VENUE_NOT_ALLOWED, "SGEI.IAU9999": Reason.VENUE_NOT_ALLOWED}


def test_session_closed_and_auction_are_not_open():
    s = Sessions()
    s.closed = {"HKGX.RKG"}
    r = router(sessions=s)
    d = r.route(req(), 123)
    assert excluded(d) == {"HKGX.RKG": Reason.SESSION_CLOSED}
    r2 = router(sessions=lambda sym, t: SessionState.AUCTION if sym == "SGE.AU9999" else True)
    assert excluded(r2.route(req(), 0)) == {"SGE.AU9999": Reason.SESSION_CLOSED}
    s.closed = set(CAT.instruments)
    d = r.route(req("SGE.AU9999", qty=1, price=56000), 0)
    assert d.reason is Reason.SESSION_CLOSED


def test_eligibility():
    d = router(account(eligibility=["sge_mainboard", "hkgx"])).route(req(), 0)
    assert excluded(d) == {"SGEI.IAU9999": Reason.NOT_ELIGIBLE}


def test_cross_border_permission():
    d = router(account(cross_border=False)).route(req(), 0)
    assert excluded(d) == {"HKGX.RKG": Reason.CROSS_BORDER_NOT_ALLOWED}
    # The International Board is the offshore participants' board (its quota_zone): an offshore account
    # trading it does not cross, so it needs no cross-border permission; the Main Board does.
    d = router(account("OFF", "offshore", cross_border=False)).route(req(account="OFF"), 0)
    assert excluded(d) == {"SGE.AU9999": Reason.CROSS_BORDER_NOT_ALLOWED}


def test_an_offshore_account_without_cross_border_trades_the_international_board_end_to_end() -> None:
    from tests.orders.test_flow import HK, Harness, ers, f
    tree = embedded_defaults()
    tree["accounts"]["HKCLIENT1"]["cross_border"] = False
    h = Harness(config=build_config(tree))
    (ack,) = ers(h.order(HK, "SGEI.IAU9999", 1, 1, "560.00"))
    assert f(ack, 150) == b"0", f(ack, 58)
    (rej,) = ers(h.order(HK, "SGE.AU9999", 1, 100, "560.00"))
    assert (f(rej, 150), f(rej, 103)) == (b"8", b"0")
    assert f(rej, 58).startswith(b"account may not trade across the border")


def test_quota_claim_consume_exhaust_release():
    quota = CrossBorderQuota(northbound=10**18, southbound=600_000 * MICRO)
    r = router(quota=quota)
    d = r.route(req(), 0)
    rkg = next(c for c in d.candidates if c.symbol == "HKGX.RKG")
    assert rkg.direction is Direction.SOUTHBOUND
    assert d.quota_claims == {Direction.SOUTHBOUND: rkg.notional_cny}
    assert 559_000 * MICRO < rkg.notional_cny < 560_000 * MICRO     # 1 kg at CNH 559.94, CNH = CNY here
    # the caller accepts the order: quota consumed; the next order no longer fits southbound
    assert quota.consume_many(d.quota_claims) is None
    d2 = r.route(req(), 0)
    assert excluded(d2) == {"HKGX.RKG": Reason.QUOTA_EXHAUSTED}
    assert Direction.SOUTHBOUND not in d2.quota_claims
    # the first order is cancelled unfilled: quota comes back, HK is routable again
    quota.release(Direction.SOUTHBOUND, rkg.notional_cny)
    assert "HKGX.RKG" in ranked(r.route(req(), 0))


def test_quota_not_needed_on_own_side():
    quota = CrossBorderQuota(northbound=0, southbound=0)
    d = router(quota=quota).route(req("SGE.AU9999", qty=1, price=56000), 0)
    assert d.ok and d.quota_claims == {}
    d = router(account("OFF", "offshore"), quota=quota).route(req(account="OFF"), 0)
    # the International Board is funded offshore (quota_zone): no northbound quota for an offshore account
    assert sorted(ranked(d)) == ["HKGX.RKG", "SGEI.IAU9999"]
    assert excluded(d) == {"SGE.AU9999": Reason.QUOTA_EXHAUSTED}


def test_only_buys_claim_quota():
    quota = CrossBorderQuota(northbound=0, southbound=0)
    d = router(quota=quota).route(req(side=Side.SELL), 0)
    assert "HKGX.RKG" in ranked(d) and d.quota_claims == {}


def test_settlement_currency():
    d = router().route(req(settl_ccy="CNY"), 0)
    assert ranked(d) == ["SGE.AU9999"]
    assert excluded(d) == {"SGEI.IAU9999": Reason.SETTL_CCY_MISMATCH, "HKGX.RKG": Reason.SETTL_CCY_MISMATCH}


def test_currency_held():
    d = router(account(cash={"CNY": BIG})).route(req(), 0)
    assert excluded(d) == {"SGEI.IAU9999": Reason.CURRENCY_NOT_HELD, "HKGX.RKG": Reason.CURRENCY_NOT_HELD}


def test_vault():
    d = router().route(req(vault="SGEI_FTZ_SHANGHAI"), 0)
    assert ranked(d) == ["SGEI.IAU9999"]
    assert excluded(d) == {"SGE.AU9999": Reason.VAULT_MISMATCH, "HKGX.RKG": Reason.VAULT_MISMATCH}


def test_the_international_board_delivers_only_in_its_shanghai_vault():
    # HK delivery on the International Board exists only for iPAu99.99HK / iPAu99.5HK (not in the catalogue):
    # the kilobar product may not sweep SGEI.IAU9999 into a Hong Kong vault.
    assert CAT.instruments["SGEI.IAU9999"].vaults == ("SGEI_FTZ_SHANGHAI",)
    d = router().route(req(vault="HK"), 0)
    assert ranked(d) == ["HKGX.RKG"]
    assert excluded(d)["SGEI.IAU9999"] is Reason.VAULT_MISMATCH


def test_bar_form():
    d = router().route(req("SGE.AUTD", qty=1, price=56000, bar_form="ingot_1kg_9999"), 0)
    assert d.reason is Reason.BAR_FORM_MISMATCH
    assert router().route(req("SGE.AUTD", qty=1, price=56000, bar_form="ingot_3kg_9995"), 0).ok


def test_settlement_cycle():
    d = router().route(req(settl_cycle="T+2"), 0)
    assert d.reason is Reason.SETTL_CYCLE_MISMATCH and not d.candidates
    d = router().route(req("SGE.AUTD", qty=1, price=56000, settl_cycle="T+0"), 0)
    assert d.reason is Reason.SETTL_CYCLE_MISMATCH


def test_price_limits_on_an_instrument():
    r = router()
    assert r.route(req("SGE.AU9999", qty=1, price=72800), 0).ok              # +30 % exactly
    assert r.route(req("SGE.AU9999", qty=1, price=72801), 0).reason is Reason.PRICE_LIMIT
    assert r.route(req("SGE.AU9999", qty=1, price=39199, side=SELL), 0).reason is Reason.PRICE_LIMIT


def test_price_limits_on_a_product_clamp_or_exclude():
    r = router()
    # a buy limit far above every band trades at most at each band's upper edge
    d = r.route(req(price=80000), 0)
    by = {c.symbol: c.price for c in d.candidates}
    assert by == {"SGE.AU9999": 72800, "SGEI.IAU9999": 72800, "HKGX.RKG": 61600}
    # a buy limit below HK's ±10 % band (but inside SGE's ±30 %) cannot trade in HK
    d = r.route(req(price=48000), 0)
    assert excluded(d) == {"HKGX.RKG": Reason.PRICE_LIMIT}


def test_product_quantity_is_a_maximum_in_fine_grams():
    r = router()
    # 1,010 fine g: one 1 kg 9999 bar (999.9 g fine) fits on each kilobar book, 101 lots of 10 g (9.999 g fine)
    # on SGE.AU9999; no book is refused for a quantity that is not its multiple.
    d = r.route(req(qty=1010), 0)
    assert d.ok and not d.excluded
    assert {c.symbol: c.lots for c in d.candidates} == {"SGE.AU9999": 101, "SGEI.IAU9999": 1, "HKGX.RKG": 1}
    assert d.qty_ug == 1010 * 10**6
    # Below a kilobar's fine content only the 10 g book can take it; below 9.999 g fine, no book.
    d = r.route(req(qty=999), 0)
    assert ranked(d) == ["SGE.AU9999"] and d.candidates[0].lots == 99
    assert excluded(d) == {"SGEI.IAU9999": Reason.LOTS_OUT_OF_RANGE, "HKGX.RKG": Reason.LOTS_OUT_OF_RANGE}
    assert r.route(req(qty=9), 0).reason is Reason.LOTS_OUT_OF_RANGE
    # The tael book takes a non-multiple of its 3,705.471 g fine lot: 37,429 fine g is 10 lots.
    d = r.route(req("GOLD.HKSH", qty=37429), 0)
    assert {c.symbol: c.lots for c in d.candidates} == {"HKGX.AU99TAEL": 10, "SGE.AU9999": 3743}
    # A book's largest order (max_lots) caps its share.
    d = r.route(req("GOLD.HKSH", qty=10**9), 0)
    assert {c.symbol: c.lots for c in d.candidates} == {"HKGX.AU99TAEL": 1000, "SGE.AU9999": 50000}
    # An instrument order is still in whole lots of its own range.
    assert r.route(req("SGE.AUTD", qty=201, price=56000), 0).reason is Reason.LOTS_OUT_OF_RANGE
    assert r.route(req("SGE.AUTD", qty=200, price=56000), 0).ok


def test_full_payment_buy_needs_free_cash_in_settlement_currency():
    # 1 kg at 559.94 = CNY 559,940 + 3.5 bp fee 195.979 = 560,135.979
    a = account(cash={"CNY": "560135.979", "CNH": BIG})
    d = router(a).route(req("SGE.AU9999", qty=100, price=55994), 0)
    assert d.ok
    c = d.candidates[0]
    # what the order manager reserves on acceptance
    assert (c.settl_ccy, c.cash, c.metal_ug, c.vault) == ("CNY", 560_135_979_000, 0, "SGE_MAINLAND")
    a.reserve_cash("CNY", 1)
    d = router(a).route(req("SGE.AU9999", qty=100, price=55994), 0)
    assert d.reason is Reason.INSUFFICIENT_CASH


def test_full_payment_sell_needs_free_metal_in_one_of_the_venue_vaults():
    a = account(metal={"SGE_MAINLAND": {"ingot_1kg_9999": "999.99"}, "HK": {"ingot_1kg_9999": "5000"}})
    r = router(a)
    d = r.route(req(side=SELL, price=55000), 0)
    assert excluded(d) == {"SGE.AU9999": Reason.INSUFFICIENT_METAL, "SGEI.IAU9999": Reason.INSUFFICIENT_METAL}
    assert ranked(d) == ["HKGX.RKG"]
    c = d.candidates[0]
    assert (c.vault, c.metal_ug, c.cash) == ("HK", 1000 * MICRO, 0)
    # buys do not need metal
    assert r.route(req(price=56000), 0).ok


def test_margin_contract_needs_margin_not_full_value():
    # 1 lot Au(T+D) at 560.00 = CNY 560,000; 17 % margin = 95,200; fee 5 bp = 280
    a = account(cash={"CNY": "95480"})
    d = router(a).route(req("SGE.AUTD", qty=1, price=56000), 0)
    assert d.ok and d.candidates[0].cash == 95_480 * MICRO
    assert router(a).route(req("SGE.AUTD", qty=1, price=56000, side=SELL), 0).ok     # no metal needed
    a = account(cash={"CNY": "95479.99"})
    assert router(a).route(req("SGE.AUTD", qty=1, price=56000), 0).reason is Reason.INSUFFICIENT_MARGIN


def test_request_shape_rejections():
    r = router()
    assert r.route(req("NOPE"), 0).reason is Reason.UNKNOWN_SYMBOL
    assert r.route(req(account="NOPE"), 0).reason is Reason.UNKNOWN_ACCOUNT
    assert r.route(req(qty=0), 0).reason is Reason.BAD_QTY
    assert r.route(req(price=0), 0).reason is Reason.BAD_PRICE
    assert r.route(req("HKGX.AU99TAEL", qty=1, price=2230025), 0).reason is Reason.BAD_PRICE   # tick 0.50


def test_mixed_exclusions_reject_as_no_eligible_book():
    s = Sessions()
    s.closed = {"HKGX.RKG"}
    d = router(account(eligibility=["hkgx"]), sessions=s).route(req(), 0)
    assert d.reason is Reason.NO_ELIGIBLE_BOOK
    assert excluded(d) == {"HKGX.RKG": Reason.SESSION_CLOSED, "SGE.AU9999": Reason.NOT_ELIGIBLE,
                           "SGEI.IAU9999": Reason.NOT_ELIGIBLE}


# ------------------------------------------------------------------ the plan

def test_plan_fields_for_the_core():
    d = router().route(req(tif=Tif.GTC), 0)
    ids = {s: CAT.instruments[s].book_id for s in ("SGE.AU9999", "SGEI.IAU9999", "HKGX.RKG")}
    assert d.allowed_mask == sum(1 << i for i in ids.values())
    assert d.qty_ug == 1000 * MICRO
    assert d.rest_book == d.candidates[0].book_id
    # product limit CNY 560.00 per fine gram in USD/oz fine at 7.25
    assert d.comparable_limit == 56000 * r_num(d) // 10**6
    assert router().route(req(tif=Tif.IOC), 0).rest_book is None
    assert router().route(req(tif=Tif.FOK), 0).rest_book is None


def r_num(d):
    # 0.01 CNY per fine gram -> micro-USD per fine oz, times 10**6 (the comparable denominator)
    return round(Decimal("0.01") / Decimal("7.25") * Decimal("31.1034768") * 10**12)


def test_child_limits_round_conservatively():
    r = router()
    buy = {c.symbol: c.price for c in r.route(req(price=56000), 0).candidates}
    sell = {c.symbol: c.price for c in r.route(req(price=56000, side=SELL), 0).candidates}
    # 560.00 per fine gram = 559.944 per gross gram of 9999: buy pays at most 559.94, sell gets at least 559.95
    assert buy["SGE.AU9999"] == 55994 and sell["SGE.AU9999"] == 55995
    d = r.route(req("GOLD.HKSH", qty=374290, price=56500), 0)
    tael = next(c for c in d.candidates if c.symbol == "HKGX.AU99TAEL")
    assert tael.price % 50 == 0


ROUTER = router()


@settings(max_examples=150, deadline=None)
@given(limit=st.integers(min_value=45000, max_value=62000), sell=st.booleans())
def test_child_limit_never_crosses_the_comparable_limit_and_is_tight(limit, sell):
    r = ROUTER
    d = r.route(req("GOLD.HKSH", qty=374290, price=limit, side=SELL if sell else BUY), 0)
    for c in d.candidates:
        b = r.books()[c.symbol]
        if c.price in (b.lo, b.hi):
            continue            # clamped to the band edge
        exact = d.comparable_limit * b.den
        if sell:
            assert c.price * b.num >= exact and (c.price - b.tick) * b.num < exact
        else:
            assert c.price * b.num <= exact and (c.price + b.tick) * b.num > exact



def test_market_order_is_bounded_by_the_price_band():
    d = router().route(req("SGE.AU9999", qty=1, price=None), 0)
    assert d.ok and d.candidates[0].price == 72800
    b = router().books()["SGE.AU9999"]
    assert d.comparable_limit == 72800 * b.num // b.den
    d = router().route(req(price=None, side=SELL), 0)
    assert {c.price for c in d.candidates} == {39200, 50400}
    assert d.comparable_limit == min(c.price * ROUTER.books()[c.symbol].num // ROUTER.books()[c.symbol].den
                                     for c in d.candidates)


def test_static_filter_results_are_cached_per_account_symbol_constraints():
    r = router()
    r.route(req(), 0)
    r.route(req(), 1)
    r.route(req(vault="HK"), 2)
    assert len(r._static) == 2


# ------------------------------------------------------------------ risk inside the decision

def test_risk_checks_run_in_the_decision():
    a = account(limits={"max_order_grams": "500"})
    b = account("B")
    accts_risk = RiskEngine(RiskConfig(collar_bp=500), Accounts([a, b]))
    r = Router(CAT, Accounts([a, b]), CrossBorderQuota(10**18, 10**18), lambda s, t: True, FX, risk=accts_risk)
    assert r.route(req(), 0).reason is Reason.MAX_ORDER_QTY
    assert r.route(req(account="B"), 0).ok
    # 5 % collar around the best book's reference (560.00 gross = 560.056 per fine gram; +5 % = 588.06)
    assert r.route(req(account="B", price=58805), 0).ok
    assert r.route(req(account="B", price=58807), 0).reason is Reason.PRICE_COLLAR
    accts_risk.kill_account("B")
    d = r.route(req(account="B"), 0)
    assert d.reason is Reason.KILL_SWITCH_ACCOUNT and d.candidates == ()
    accts_risk.kill_all()
    assert r.route(req(account="ON"), 0).reason is Reason.KILL_SWITCH_GLOBAL


def test_max_order_grams_counts_fine_grams_on_instruments_as_on_products():
    """The limit is gold content: 100 lots of SGE.AU9999 are 1,000 g gross but 999.9 g fine, so a
    999.9 g limit takes them, as it takes a 999.9 fine g product order, and refuses one more lot or
    one more fine gram. (Counting gross grams refused the instrument order at 999.9.)"""
    a = account(limits={"max_order_grams": "999.9"})
    limits = RiskEngine(RiskConfig(collar_bp=None), Accounts([a]))
    r = Router(CAT, Accounts([a]), CrossBorderQuota(10**18, 10**18), lambda s, t: True, FX, risk=limits)
    ok = r.route(req("SGE.AU9999", qty=100, price=56000, tif=Tif.IOC), 0)
    assert ok.ok and ok.qty_ug == 999_900_000
    assert r.route(req("SGE.AU9999", qty=101, price=56000, tif=Tif.IOC), 0).reason is Reason.MAX_ORDER_QTY
    assert r.route(req(qty=999, price=56000, tif=Tif.IOC), 0).ok                  # GOLD.KG9999, fine grams
    assert r.route(req(qty=1000, price=56000, tif=Tif.IOC), 0).reason is Reason.MAX_ORDER_QTY
    text = limits.limit_text(Reason.MAX_ORDER_QTY, a, 1_009_899_000, 0)
    assert "1009.899 g fine above the account maximum of 999.9 g fine per order (max_order_grams, fine grams)" in text


def test_default_accounts_route_across_the_border():
    tree = embedded_defaults()
    cfg = build_config(tree, sections=False)
    accts = parse_accounts(tree["accounts"], vault_forms=vault_forms(cfg.catalogue.instruments.values()))
    r = Router(cfg.catalogue, accts, CrossBorderQuota(10**18, 10**18), lambda s, t: True, cfg.fx)
    sh = r.route(req(account="SHCLIENT1"), 0)
    hk = r.route(req(account="HKCLIENT1"), 0)
    assert sh.ok and hk.ok
    assert {c.direction for c in sh.candidates} == {None, Direction.SOUTHBOUND}
    assert {c.direction for c in hk.candidates} == {None, Direction.NORTHBOUND}


# ------------------------------------------------------------------ explanation

def test_explanation_names_books_reasons_and_prices():
    d = router(account(cross_border=False)).route(req(), 0)
    e = d.explain()
    assert set(e["considered"]) == {"SGE.AU9999", "SGEI.IAU9999", "HKGX.RKG"}
    assert e["excluded"] == [{"symbol": "HKGX.RKG", "book": CAT.instruments["HKGX.RKG"].book_id,
                              "reason": "cross_border_not_allowed",
                              "reason_text": "account may not trade across the border"}]
    assert [x["symbol"] for x in e["compared"]] == ranked(d)
    # The order as the client sent it (fine grams, CNY per fine gram), and each book in its own quote.
    assert (e["qty"], e["qty_unit"], e["price"]) == (1000, "g_fine", "560.00")
    first = e["compared"][0]
    assert (first["rank"], first["symbol"], first["child_price"], first["usd_oz_fine"]) == \
        (1, "SGE.AU9999", "559.94", "2402.72")
    assert first["from"] == "ref" and first["cross"] is None
    assert Decimal(first["usd_oz_fine"]) + Decimal(first["costs_usd_oz_fine"]) == Decimal(first["all_in_usd_oz_fine"])
    text = d.explain_text()
    assert e["explain"] == text
    assert text.startswith("B GOLD.KG9999 1000 @560.00; 1.SGE.AU9999 559.94=2402.72/")
    assert "xHKGX.RKG:cross_border_not_allowed" in text
    rej = router().route(req(qty=5), 0)
    assert rej.explain_text().startswith("B GOLD.KG9999 5 @560.00 REJ lots_out_of_range")
    assert router().route(req("HKGX.AU99TAEL", qty=1, price=2230000), 0).explain_text().startswith(
        "B HKGX.AU99TAEL 1 @22300.00; 1.HKGX.AU99TAEL 22300.00=2399.80/")
    assert rej.text == Reason.LOTS_OUT_OF_RANGE.text


def test_explain_text_fits_a_fix_tag():
    d = router(account(eligibility=[], cash={})).route(req(), 0)
    assert len(d.explain_text()) <= 400
    d = router().route(req(), 0)
    assert len(d.explain_text()) <= 400
    assert len(d.explain_text(limit=40)) == 40 and d.explain_text(limit=40).endswith("...")


def test_explain_text_is_the_same_from_the_fragment_cache_and_it_stays_bounded(monkeypatch):
    import router.orders.route_types as routing
    monkeypatch.setattr(routing, "FRAGMENT_CACHE_MAX", 2)
    quotes = {CAT.instruments["SGE.AU9999"].book_id: 55990}
    r = router(top=lambda book, side: quotes.get(book))
    texts = []
    for price in (56000, 56010, 56020):
        routing._FRAGMENTS.clear()
        d = r.route(req(price=price), 0)
        fresh = d.explain_text()
        assert d.explain_text() == fresh and len(routing._FRAGMENTS) <= 2
        texts.append(fresh)
    # Each line names three books with the quote-ranked one unmarked and the other two on reference.
    assert all(t.count("r;") + t.endswith("r") == 2 for t in texts)
    assert len(set(texts)) == 3


def test_explain_bytes_equal_the_fresh_line_for_every_decision_and_stay_bounded(monkeypatch):
    """The router's reused GoldRouteExplain lines: for orders that differ in each value the line shows
    (side, quantity, price, a moved quote, an exclusion, a rejection, a product with one book left), the
    bytes are always the line formatted afresh; the same product decision again gets the very same bytes,
    whatever number of books it names (an instrument decision's are made in one step,
    `route_types.explain_line`, and kept on the decision only); the cache stays bounded."""
    import router.orders.routing as routing
    monkeypatch.setattr(routing, "EXPLAIN_CACHE_MAX", 4)
    quotes = {CAT.instruments["SGE.AU9999"].book_id: 55990}
    r = router(top=lambda book, side: quotes.get(book))
    seen = set()
    for request in (req(price=56000), req(price=56010), req(side=SELL, price=56000), req(qty=2000, price=56000),
                    req("SGE.AU9999", qty=1, price=56000), req(vault="HK", price=56000),
                    req(bar_form="lgd_400oz"), req(price=56000), req("GOLD.HKSH", qty=20, price=56000)):
        for ask in (55990, 55980):
            quotes[CAT.instruments["SGE.AU9999"].book_id] = ask
            d = r.route(request, 0)
            line = r.explain_bytes(d)
            assert line == d.explain_text().encode("ascii", "replace")
            again = r.explain_bytes(r.route(request, 0))
            assert again is line if request.symbol in CAT.products else again == line
            assert len(r._explains) <= 4
            seen.add(line)
    # 8 distinct orders x 2 quotes, except where the quoted book is not a candidate (HK vault, bar form)
    assert len(seen) == 14
    # Snapshots pickle the router: the lines are left out of its state, everything else is kept.
    state = r.__getstate__()
    assert state["_explains"] == {} and r._explains and state["_static"] is r._static


def test_static_cache_is_bounded_and_can_be_invalidated(monkeypatch):
    import router.orders.routing as routing
    monkeypatch.setattr(routing, "STATIC_CACHE_MAX", 3)
    r = router()
    for v in ("A", "B", "C", "D"):
        r.route(req(vault=v), 0)
    assert len(r._static) <= 3
    r.invalidate()
    assert r._static == {}


def test_currency_line_added_later_is_seen_after_invalidate():
    a = account(cash={"CNY": BIG})
    r = router(a)
    assert excluded(r.route(req(), 0))["HKGX.RKG"] is Reason.CURRENCY_NOT_HELD
    a.cash["CNH"] = 10**18
    r.invalidate()
    assert "HKGX.RKG" in ranked(r.route(req(), 0))
