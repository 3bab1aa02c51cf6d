"""Seeded synthetic command streams for the matching core (benchmarks and differential tests).

An exchange-like mix over the four default gold books (SGE.AU9999, SGEI.IAU9999, HKGX.RKG,
HKGX.AU99TAEL) and the two default interoperable groups (KG9999, TAEL): a prefill of passive orders,
then passive adds, cancels and replaces of orders the generator believes live, marketable IOC and
market orders, FOK, group sweeps, and the occasional reference-price move, STP setting and GTD expiry.
The generator does not match, so some cancels hit orders that have already traded (the core rejects
them as ORDER_NOT_LIVE, as a real venue would). It does NOT run any engine or measure anything.
"""
from __future__ import annotations

import numpy as np

from matching.types import BookSpec, Op, OrdType, Side, Stp, Tif, commands

# book ids in the default catalogue below
AU9999, IAU9999, RKG, TAEL99 = 0, 1, 2, 3
KG9999, TAEL = 0, 1
_MID = (95_000, 95_000, 95_100, 3_826_300)   # price units: 1/100 CNY/g, 1/100 CNH/g, 1/100 HKD/tael
_TICK = (1, 1, 1, 50)


def exchange_books() -> tuple[list[BookSpec], list[list[int]]]:
    """Default books (lots as quantity units) and groups; conversions onto 1/100 CNY per gram fine."""
    books = [
        # SGE Au99.99: 10 g lots, +-30 % limit; group unit = micrograms gross
        BookSpec(tick=1, lot=1, min_qty=1, max_qty=50_000, price_limit_bp=3000, ref_price=_MID[0],
                 num=1, den=1, qty_scale=10_000_000),
        # SGEI iAu99.99: 1 kg lots
        BookSpec(tick=1, lot=1, min_qty=1, max_qty=50_000, price_limit_bp=3000, ref_price=_MID[1],
                 num=1, den=1, qty_scale=1_000_000_000),
        # HKGX RMB kilobar, CNH per gram: CNH/CNY 0.9990 as fixed point
        BookSpec(tick=1, lot=1, min_qty=1, max_qty=5_000, price_limit_bp=0, ref_price=_MID[2],
                 num=9_990, den=10_000, qty_scale=1_000_000_000),
        # HKGX 99 tael gold, HKD per tael, 100-tael lots: CNY/g fine = HKD * 0.92 / (37.429 * 0.99)
        BookSpec(tick=50, lot=1, min_qty=1, max_qty=1_000, price_limit_bp=0, ref_price=_MID[3],
                 num=92_000, den=3_705_471, qty_scale=3_742_900_000),
    ]
    return books, [[AU9999, IAU9999, RKG], [AU9999, TAEL99]]


class _Live:
    """Orders the generator placed and believes are resting (swap-remove set)."""

    def __init__(self):
        self.ids: list[int] = []
        self.info: list[tuple[int, int, int, int]] = []
        self.pos: dict[int, int] = {}

    def add(self, oid, book, side, price, qty):
        self.pos[oid] = len(self.ids)
        self.ids.append(oid)
        self.info.append((book, side, price, qty))

    def pop(self, k):
        oid, info = self.ids[k], self.info[k]
        last = len(self.ids) - 1
        self.ids[k], self.info[k] = self.ids[last], self.info[last]
        self.pos[self.ids[k]] = k
        self.ids.pop()
        self.info.pop()
        del self.pos[oid]
        return oid, info


def generate(n: int, seed: int = 1, resting: int = 30_000, owners: int = 200) -> np.ndarray:
    """`n` commands; the first min(resting, n/2) are passive prefill so the books hold ~`resting` orders."""
    rng = np.random.default_rng(seed)
    books, _ = exchange_books()
    nb = len(books)
    c = commands(n)
    u = rng.random((n, 4))
    dist = 1 + rng.geometric(0.08, n)          # passive distance from mid, in ticks
    bookpick = rng.choice(nb, n, p=[0.5, 0.2, 0.2, 0.1])
    ownerpick = rng.integers(0, owners, n)
    qtypick = 1 + rng.geometric(0.3, n)
    mid = list(_MID)
    live = _Live()
    next_id = 1
    prefill = min(resting, n // 2)
    t = 1_000_000_000
    i = 0
    # a handful of owners use self-trade prevention
    for owner, mode in ((1, Stp.CANCEL_RESTING), (2, Stp.CANCEL_INCOMING), (3, Stp.CANCEL_RESTING)):
        if i < n:
            c[i]["op"], c[i]["time"], c[i]["owner"], c[i]["stp"] = Op.SET_STP, t, owner, mode
            i += 1
    while i < n:
        t += 1_000
        r = c[i]
        r["time"] = t
        b = int(bookpick[i])
        tick = _TICK[b]
        x, y, z, w = u[i]
        if rng.random() < 0.02:
            mid[b] += tick if w < 0.5 else -tick
        if i < prefill or (x < 0.42 and len(live.ids) < 1.2 * resting) or not live.ids:
            kind = "passive"
        elif x < 0.70:
            kind = "cancel"
        elif x < 0.80:
            kind = "replace"
        elif x < 0.95:
            kind = "aggressive"
        elif x < 0.985:
            kind = "sweep"
        elif x < 0.995:
            kind = "fok"
        elif x < 0.999:
            kind = "ref"
        else:
            kind = "expire"
        side = Side.BUY if y < 0.5 else Side.SELL
        sgn = -1 if side == Side.BUY else 1
        if kind == "passive":
            price = mid[b] + sgn * int(dist[i]) * tick
            tif = Tif.GTC if z < 0.6 else (Tif.DAY if z < 0.9 else Tif.GTD)
            qty = int(qtypick[i])
            r["op"], r["book"], r["order_id"], r["owner"], r["side"] = Op.NEW, b, next_id, ownerpick[i], side
            r["ord_type"], r["tif"], r["price"], r["qty"] = OrdType.LIMIT, tif, price, qty
            r["expire_time"] = t + 5_000_000 if tif == Tif.GTD else 0
            live.add(next_id, b, side, price, qty)
            next_id += 1
        elif kind == "cancel":
            oid, _ = live.pop(int(z * len(live.ids)))
            r["op"], r["order_id"] = Op.CANCEL, oid
        elif kind == "replace":
            k = int(z * len(live.ids))
            oid, (ob, oside, oprice, oqty) = live.ids[k], live.info[k]
            if w < 0.5 and oqty > 1:
                price, qty = oprice, oqty - 1          # keeps priority
            else:
                price, qty = oprice + (-1 if oside == Side.BUY else 1) * _TICK[ob], oqty + (w > 0.8)
            live.info[k] = (ob, oside, price, qty)
            r["op"], r["order_id"], r["price"], r["qty"] = Op.REPLACE, oid, price, qty
        elif kind in ("aggressive", "fok"):
            market = kind == "aggressive" and z < 0.2
            r["op"], r["book"], r["order_id"], r["owner"], r["side"] = Op.NEW, b, next_id, ownerpick[i], side
            r["ord_type"] = OrdType.MARKET if market else OrdType.LIMIT
            r["tif"] = Tif.FOK if kind == "fok" else Tif.IOC
            r["price"] = 0 if market else mid[b] - sgn * (1 + int(w * 3)) * tick
            r["qty"] = int(qtypick[i])
            next_id += 1
        elif kind == "sweep":
            g_tael = z < 0.25
            r["op"], r["order_id"], r["owner"], r["side"] = Op.SWEEP, next_id, ownerpick[i], side
            r["book"] = 1 if g_tael else 0
            r["ord_type"], r["tif"] = OrdType.LIMIT, Tif.IOC
            r["price"] = mid[AU9999] - sgn * (2 + int(w * 4))
            r["qty"] = int(qtypick[i]) * (3_742_900_000 if g_tael else 1_000_000_000) + int(w * 20) * 10_000_000
            r["allowed"] = (1 << nb) - 1 if w < 0.7 else (1 << AU9999) | (1 << RKG) | (1 << TAEL99)
            if w > 0.85 and not g_tael:
                r["rest_book"], r["tif"] = IAU9999, Tif.DAY
                r["rest_price"] = mid[IAU9999] + sgn * 5
            next_id += 1
        elif kind == "ref":
            r["op"], r["book"], r["price"] = Op.SET_REF_PRICE, b, mid[b]
        else:
            r["op"], r["book"], r["tif"] = Op.EXPIRE, -1, Tif.GTD
        i += 1
    return c
