"""The router's one-book path for instrument orders (`Router._route_instrument`, and `_route_planned` from a
kept plan when `plan_cache` is on) against its general path (`_route_books`, taken when `one_book_path` is
off): a seeded stream of random requests, with
the state the decision reads changed in between (FX rates and their ages, reference prices, the kill
switch, quota use, sessions and calendar gaps, cash, reservations, metal, closable positions, a quote
reader, an account's eligibility), must give decisions equal in every field the order flow uses and
the same GoldRouteExplain bytes."""
from __future__ import annotations

import random
from decimal import Decimal

from router.config import build_config, embedded_defaults
from router.domain.calendar import SessionState
from router.domain.convert import Fx
from router.domain.fx_quotes import FxSettings
from router.domain.reasons import Reason
from router.orders.accounts import Accounts, parse_account, vault_forms
from router.orders.quota import CrossBorderQuota, Direction
from router.orders.risk import RiskConfig, RiskEngine
from router.orders.route_types import RouteDecision
from router.orders.routing import Constraints, RouteRequest, Router, Side, Tif

CFG = build_config(embedded_defaults(), sections=False)
CAT = CFG.catalogue
TAGS = ["sge_mainboard", "sge_international", "hkgx"]
FORMS = vault_forms(CAT.instruments.values())     # vault -> the bar forms its instruments deliver
VAULTS = ["SGE_MAINLAND", "SGEI_FTZ_SHANGHAI", "HK", "LONDON"]
INSTRUMENTS = sorted(CAT.instruments)
SYMBOLS = INSTRUMENTS + sorted(CAT.products) + ["NOPE.X"]
FIELDS = ("reason", "candidates", "excluded", "allowed_mask", "comparable_limit", "qty_ug", "rest_book",
          "notional_cny", "quota_claims", "decimals")
S = 1_000_000_000


def _account(name: str, side: str, rng: random.Random, **patch) -> object:
    t = {"session": name, "side": side, "eligibility": TAGS, "cross_border": True,
         "cash": {c: str(rng.choice([10**5, 10**7, 10**11])) for c in ("CNY", "CNH", "HKD", "USD")},
         # one draw per vault, every form of it that amount (the seeded stream the tests were tuned on)
         "metal": {v: dict.fromkeys(FORMS[v], str(rng.choice([0, 2000, 10**6]))) for v in VAULTS},
         "limits": {"max_order_grams": "200000", "max_notional_cny": "500000000", "credit_cny": "900000000"}}
    t.update(patch)
    return parse_account(name, t, vault_forms=FORMS)


class World:
    """Everything a decision reads, changed at random between requests."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.accounts = Accounts([_account("ON", "onshore", rng), _account("OFF", "offshore", rng),
                                  _account("FUND", "offshore", rng, funding_ccy="CNY",
                                           limits={"max_order_grams": "5000"}),
                                  _account("NARROW", "onshore", rng, cross_border=False)])
        self.quota = CrossBorderQuota(10**16, 10**16)
        self.risk = RiskEngine(RiskConfig(), self.accounts)
        self.closed: dict[str, object] = {}
        self.quotes: dict[tuple[int, Side], int] = {}
        self.closable_lots: dict[tuple[str, str, bool], int] = {}
        self.fx = self._fx(0)
        self.router = Router(CAT, self.accounts, self.quota, self._session, self.fx, risk=self.risk)
        self.router.closable = lambda a, s, buy: self.closable_lots.get((a, s, buy), 0)

    def _session(self, symbol: str, now_ns: int) -> object:
        return self.closed.get(symbol, SessionState.CONTINUOUS)

    def _top(self, book: int, side: Side) -> int | None:
        return self.quotes.get((book, side))

    def _fx(self, stamp: int) -> Fx:
        jig = Decimal(self.rng.randint(-300, 300)) / 10000
        rates = {"USDCNY": Decimal("7.25") + jig, "USDCNH": Decimal("7.26") + jig, "USDHKD": Decimal("7.80")}
        quotes = {p: (m - Decimal("0.01"), m + Decimal("0.01")) for p, m in rates.items()}
        return Fx(rates, quotes, {p: stamp for p in rates if self.rng.random() < 0.9})

    def change(self, now_ns: int) -> str:
        """One random change of state; returns its name."""
        rng, r = self.rng, self.router
        what = rng.choice(["fx", "fx_age", "reference", "kill", "quota", "session", "cash", "reserve",
                           "metal", "closable", "quotes", "eligibility"])
        if what == "fx":
            self.fx = self._fx(now_ns)
            r.set_fx(self.fx)
        elif what == "fx_age":
            r.fx_settings = FxSettings(max_age_s=rng.choice([0, 0, 5, 60]))
        elif what == "reference":
            sym = rng.choice(INSTRUMENTS)
            i = CAT.instruments[sym]
            r.set_reference(sym, i.reference_units + rng.randint(-60, 60) * i.tick_units)
        elif what == "kill":
            self.risk.halted_all = rng.random() < 0.2
            self.risk.halted = {a for a in ("ON", "OFF") if rng.random() < 0.2}
        elif what == "quota":
            d = rng.choice(list(Direction))
            self.quota._used[d] = rng.choice([0, self.quota._limit[d] - rng.randint(0, 10**13), self.quota._limit[d]])
        elif what == "session":
            sym = rng.choice(INSTRUMENTS)
            self.closed[sym] = rng.choice([SessionState.CONTINUOUS, SessionState.CLOSED, True,
                                           Reason.CALENDAR_UNKNOWN])
        elif what == "cash":
            a = rng.choice(list(self.accounts))
            a.cash[rng.choice(["CNY", "CNH", "HKD", "USD"])] = rng.choice([0, 10**6, 10**9, 10**12])
        elif what == "reserve":
            a = rng.choice(list(self.accounts))
            a.reserved_cash[rng.choice(["CNY", "CNH", "HKD", "USD"])] = rng.choice([0, 10**8, 10**11])
        elif what == "metal":
            a = rng.choice(list(self.accounts))
            ug = rng.choice([0, 10**9, 10**12])        # drawn before the vault, as the seeded stream was
            v = rng.choice(VAULTS)
            a.metal.update(dict.fromkeys(((v, form) for form in FORMS[v]), ug))
        elif what == "closable":
            self.closable_lots[(rng.choice(["ON", "OFF"]), rng.choice(INSTRUMENTS), rng.random() < 0.5)] = \
                rng.randint(0, 5)
        elif what == "quotes":
            r.top_of_book = rng.choice([None, self._top])
            b = CAT.instruments[rng.choice(INSTRUMENTS)]
            self.quotes[(b.book_id, rng.choice([Side.BUY, Side.SELL]))] = \
                b.reference_units + rng.randint(-20, 20) * b.tick_units
        else:
            a = self.accounts["NARROW"]
            a.cross_border = not a.cross_border
            a.eligibility = frozenset(rng.sample(TAGS, rng.randint(1, 3)))
            r.invalidate()
        return what

    def request(self) -> RouteRequest:
        rng = self.rng
        sym = rng.choice(SYMBOLS + INSTRUMENTS * 3)
        i = CAT.instruments.get(sym)
        tick = i.tick_units if i is not None else 1
        ref = i.reference_units if i is not None else 56000
        price = rng.choice([None, ref, ref + rng.randint(-40, 40) * tick, ref * 2, ref + 1, -tick, 0,
                            ref * 112 // 100 // tick * tick])
        qty = rng.choice([1, 2, rng.randint(1, 60), 0, -1, 10**6])
        c = rng.choice([Constraints(), Constraints(), Constraints(settl_ccy=rng.choice(["CNY", "HKD", "USD"])),
                        Constraints(vault=rng.choice(VAULTS)), Constraints(bar_form="ingot_1kg_9999"),
                        Constraints(allowed_venues=frozenset({rng.choice(["SGE", "SGEI", "HKGX"])}))])
        return RouteRequest(rng.choice(["ON", "OFF", "FUND", "NARROW", "GHOST"]), rng.choice([Side.BUY, Side.SELL]),
                            sym, qty, price, rng.choice(list(Tif)), c)


def _fields(d: RouteDecision) -> dict:
    return {f: getattr(d, f) for f in FIELDS}


def test_one_book_path_decides_exactly_as_the_general_path() -> None:
    rng = random.Random(20261203)
    w = World(rng)
    r = w.router
    seen: set = set()
    changes: set[str] = set()
    now = 1_000 * S
    for n in range(6000):
        now += rng.randint(0, 3 * S)
        if rng.random() < 0.3:
            changes.add(w.change(now))
        q = w.request()
        r.one_book_path = False
        general = r.route(q, now)
        general_bytes = r.explain_bytes(general)
        r.one_book_path = True
        # The one-book path twice: its plan made afresh (plan_cache off) and kept (`route_plan.one_plan`).
        for kept in (False, True):
            r.plan_cache = kept
            fast = r.route(q, now)
            assert _fields(fast) == _fields(general), (n, q, kept)
            assert fast.request == q
            assert fast.explain_text() == general.explain_text()
            assert r.explain_bytes(fast) == general_bytes == general.explain_text().encode("ascii", "replace")
        if q.symbol in CAT.instruments:
            seen.add(general.reason)
    # The stream reached every branch worth comparing: acceptance and each refusal an instrument can get.
    assert changes == {"fx", "fx_age", "reference", "kill", "quota", "session", "cash", "reserve", "metal",
                       "closable", "quotes", "eligibility"}
    assert {None, Reason.UNKNOWN_ACCOUNT, Reason.KILL_SWITCH_GLOBAL, Reason.KILL_SWITCH_ACCOUNT, Reason.BAD_QTY,
            Reason.BAD_PRICE, Reason.SESSION_CLOSED, Reason.CALENDAR_UNKNOWN, Reason.FX_STALE,
            Reason.VENUE_NOT_ALLOWED, Reason.NOT_ELIGIBLE, Reason.CROSS_BORDER_NOT_ALLOWED,
            Reason.QUOTA_EXHAUSTED, Reason.SETTL_CCY_MISMATCH, Reason.VAULT_MISMATCH, Reason.BAR_FORM_MISMATCH,
            Reason.PRICE_LIMIT, Reason.LOTS_OUT_OF_RANGE, Reason.INSUFFICIENT_CASH, Reason.INSUFFICIENT_METAL,
            Reason.INSUFFICIENT_MARGIN, Reason.MAX_ORDER_QTY, Reason.PRICE_COLLAR} <= seen, seen


def test_an_instrument_takes_the_one_book_path_and_a_product_does_not() -> None:
    w = World(random.Random(1))
    r = w.router
    calls = []
    one, planned, books = r._route_instrument, r._route_planned, r._route_books
    r._route_instrument = lambda *a: calls.append("one") or one(*a)
    r._route_planned = lambda *a: calls.append("planned") or planned(*a)
    r._route_books = lambda *a: calls.append("books") or books(*a)
    for _ in range(3):      # seen once: no plan yet; again: its plan made and used; then the kept plan
        r.route(RouteRequest("ON", Side.BUY, "SGE.AU9999", 1, 55000), 0)
    r.route(RouteRequest("ON", Side.BUY, "GOLD.KG9999", 1000, 56000), 0)
    r.plan_cache = False
    r.route(RouteRequest("ON", Side.BUY, "SGE.AU9999", 1, 55000), 0)
    r.one_book_path = False
    r.route(RouteRequest("ON", Side.BUY, "SGE.AU9999", 1, 55000), 0)
    assert calls == ["one", "planned", "planned", "books", "one", "books"]
