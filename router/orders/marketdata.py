"""Market and reference data over FIX: subscriptions, snapshots (W), incremental refreshes (X),
consolidated group views, SecurityList (y), and the rejects (Y) for bad requests.

A MarketDataRequest(V) names instruments (one book each: prices in the instrument's quote unit,
sizes in lots) or a group / routable product (the consolidated view: every member book's levels on
one comparable price, sizes in grams, GoldConsolidated(7013)=Y, each level naming the instrument it
comes from in GoldSourceInstrument(7014); a group is quoted in USD per fine troy ounce, a product
like its orders, e.g. CNY per fine gram). Snapshot requests get one W per symbol; subscriptions get
that W and then, after every core batch that touched one of their books, one X per symbol with the
level changes (New / Change / Delete keyed by price, and by 7014 on a consolidated view) of the top
`MarketDepth` levels and, if asked for (MDEntryType 2), the trades, with the same 7013/7009/7010 as
its W; or a fresh W per symbol when MDUpdateType(265)=0.
SecurityListRequest(x) returns every instrument and product (or one) with its trading parameters and,
per instrument, its trading status now (SecurityTradingStatus 326, TradingSessionID 336; see `status`).

It reads the books only through the engine's `depth` query and only for books
with subscribers. It does not match, route or send: it returns (msg_type, body) values.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable, Iterable

from router.domain.catalogue import Catalogue, Instrument
from router.orders.index import micro_text, units_text

MAX_DEPTH = 20
BAR_FORM_FIX = {"ingot_1kg_9999": "KG1", "bar_100g_9999": "G100", "ingot_3kg_9995": "KG3", "lgd_400oz": "LGD",
                "tael_bar_990": "TAEL5"}
BAR_FORM_FROM_FIX = {v: k for k, v in BAR_FORM_FIX.items()}
CYCLE_FIX = {"T+0": "T0", "T+1": "T1", "T+2": "T2", "deferred": "TD"}
CYCLE_FROM_FIX = {v: k for k, v in CYCLE_FIX.items()}
PRICE_UNIT_FIX = {"gram": "G", "hk_tael": "TAEL", "troy_oz_fine": "OZ"}
ENTRY_TYPES = (b"0", b"1", b"2")    # bid, offer, trade (trades only in incremental refreshes)


class _Target:
    """What one Symbol(55) of a request shows: one book, or a group's consolidated book."""

    __slots__ = ("symbol", "book", "group", "members", "decimals", "ccy", "product", "per_micro_usd")

    def __init__(self, symbol: str, ccy: str, book: int = -1, group: int = -1, members: tuple[int, ...] = (),
                 decimals: int = 2, product: Any = None) -> None:
        self.symbol = symbol
        self.ccy = ccy.encode()
        self.book = book
        self.group = group
        self.members = members
        self.decimals = decimals
        self.product = product
        self.per_micro_usd = Decimal(0)     # product view: product currency per fine gram per micro-USD/oz


class _Sub:
    __slots__ = ("session", "req_id", "targets", "depth", "types", "full", "last")

    def __init__(self, session: str, req_id: bytes, targets: list[_Target], depth: int, types: tuple[bytes, ...],
                 full: bool) -> None:
        self.session = session
        self.req_id = req_id
        self.targets = targets
        self.depth = depth
        self.types = types
        self.full = full
        self.last: dict[str, dict[tuple[bytes, int], tuple[int, int]]] = {}


class MarketData:
    def __init__(self, catalogue: Catalogue, engine: Any) -> None:
        self.catalogue = catalogue
        self.engine = engine
        self.targets: dict[str, _Target] = {}
        for i in catalogue.instruments.values():
            self.targets[i.symbol] = _Target(i.symbol, i.quote_ccy, book=i.book_id, decimals=i.price_decimals)
        for g in catalogue.groups.values():
            members = tuple(catalogue.instruments[m].book_id for m in g.members)
            self.targets[g.name] = _Target(g.name, "USD", group=g.group_id, members=members, decimals=6)
        for p in catalogue.products.values():
            g = catalogue.groups[p.group]
            # A product's consolidated view is quoted like its orders: product currency per fine gram.
            self.targets[p.id] = _Target(p.id, p.price_ccy, group=g.group_id, members=self.targets[g.name].members,
                                         decimals=p.price_decimals + 2, product=p)
        # Consolidated sizes are fine grams, like a product order's quantity.
        self.lot_ug = [i.lot_fine_micrograms for i in catalogue.by_book()]
        self.symbols = [i.symbol.encode() for i in catalogue.by_book()]
        self.factors: list[tuple[int, int]] = []
        self.subs: dict[tuple[str, bytes], _Sub] = {}
        self.by_book: dict[int, set[tuple[str, bytes]]] = {}
        self._list_id = 0

    def set_factors(self, factors: list[tuple[int, int]]) -> None:
        """The core's comparable factors (num, den) per book, to put a trade on a group's scale."""
        self.factors = factors

    def set_fx(self, fx: Any) -> None:
        """New FX: product views convert the comparable scale (micro-USD per fine oz) to their currency."""
        grams_per_oz = self.catalogue.constants.grams_per_troy_oz
        for t in self.targets.values():
            if t.product is not None:
                t.per_micro_usd = fx.per_usd(t.product.price_ccy) / grams_per_oz / 10**6

    # -- requests ---------------------------------------------------------------------------
    def request(self, session: str, msg: Any) -> list[tuple[bytes, list]]:
        req_id = msg.get(262) or b""
        kind = msg.get(263)

        def reject(code: bytes, text: str) -> list[tuple[bytes, list]]:
            return [(b"Y", [(262, req_id), (281, code), (58, text)])]

        key = (session, req_id)
        if kind == b"2":
            sub = self.subs.pop(key, None)
            if sub is None:
                return reject(b"0", f"no active subscription with MDReqID {req_id.decode(errors='replace')}")
            self._unindex(key, sub)
            return []
        if kind not in (b"0", b"1"):
            return reject(b"4", "SubscriptionRequestType must be 0 (snapshot), 1 (subscribe) or 2 (unsubscribe)")
        if kind == b"1" and key in self.subs:
            return reject(b"1", "MDReqID already names an active subscription in this session")
        depth = msg.get_int(264)
        if depth is None or depth < 0 or depth > MAX_DEPTH:
            return reject(b"5", f"MarketDepth must be 0 (full, {MAX_DEPTH} levels) to {MAX_DEPTH}")
        depth = depth or MAX_DEPTH
        update = msg.get(265)
        if update not in (None, b"0", b"1"):
            return reject(b"6", "MDUpdateType must be 0 (full refresh) or 1 (incremental)")
        fields = msg.fields
        types = tuple(v for t, v in fields if t == 269)
        bad = [t for t in types if t not in ENTRY_TYPES]
        if not types or bad:
            return reject(b"8", "only MDEntryType 0 (bid), 1 (offer) and 2 (trade) are published")
        symbols = [v.decode("ascii", "replace") for t, v in fields if t == 55]
        targets = []
        for s in symbols:
            t = self.targets.get(s)
            if t is None:
                return reject(b"0", f"unknown instrument, group or product {s!r}")
            targets.append(t)
        if not targets:
            return reject(b"0", "no Symbol(55) in NoRelatedSym")
        sub = _Sub(session, req_id, targets, depth, tuple(dict.fromkeys(types)), update == b"0")
        out = [(b"W", self._snapshot(sub, t)) for t in targets]
        if kind == b"1":
            self.subs[key] = sub
            for t in targets:
                for b in (t.members or (t.book,)):
                    self.by_book.setdefault(b, set()).add(key)
        return out

    def _unindex(self, key: tuple[str, bytes], sub: _Sub) -> None:
        for t in sub.targets:
            for b in (t.members or (t.book,)):
                keys = self.by_book.get(b)
                if keys is not None:
                    keys.discard(key)

    def drop_session(self, session: str) -> None:
        for key in [k for k in self.subs if k[0] == session]:
            self._unindex(key, self.subs.pop(key))

    # -- book reading -------------------------------------------------------------------------
    def _levels(self, sub: _Sub, t: _Target, cache: dict | None = None) -> dict[tuple[bytes, int, int], tuple[int, int]]:
        """The top `sub.depth` levels per side, keyed (entry, price, source book). A consolidated view
        puts each member book's levels on the comparable scale (micro-USD per fine oz, sizes in fine
        micrograms) and keeps them apart per source book, so every level can name its instrument
        (GoldSourceInstrument 7014); at one price the books follow in catalogue order."""
        out: dict[tuple[bytes, int, int], tuple[int, int]] = {}
        n = sub.depth
        for entry, side in ((b"0", 0), (b"1", 1)):
            if entry not in sub.types:
                continue
            if t.group < 0:
                for px, qty, count in self._book_depth(t.book, n, cache)[side].tolist():
                    out[(entry, px, t.book)] = (qty, count)
                continue
            rows = []
            for b in t.members:
                num, den = self.factors[b]
                scale = self.lot_ug[b]
                for px, qty, count in self._book_depth(b, n, cache)[side].tolist():
                    rows.append((px * num // den, b, qty * scale, count))
            rows.sort(key=(lambda r: (-r[0], r[1])) if side == 0 else (lambda r: (r[0], r[1])))
            for cp, b, qty, count in rows[:n]:
                out[(entry, cp, b)] = (qty, count)
        return out

    def _book_depth(self, book: int, n: int, cache: dict | None) -> Any:
        # Each book is read once per publish, however many subscriptions watch it.
        key = (book, n)
        depth = cache.get(key) if cache is not None else None
        if depth is None:
            depth = self.engine.depth(book, n)
            if cache is not None:
                cache[key] = depth
        return depth

    def _px(self, t: _Target, px: int) -> bytes:
        if t.product is not None:
            return str((px * t.per_micro_usd).quantize(Decimal(1).scaleb(-t.decimals))).encode()
        return units_text(px, t.decimals)

    def _size(self, t: _Target, qty: int) -> bytes:
        return micro_text(qty) if t.group >= 0 else b"%d" % qty

    def _source(self, t: _Target, book: int) -> list[tuple[int, Any]]:
        return [(7014, self.symbols[book])] if t.group >= 0 else []

    def _tail(self, t: _Target) -> list[tuple[int, Any]]:
        if t.group >= 0:
            return [(7013, b"Y"), (7009, b"GF"), (7010, b"G" if t.product is not None else b"OZ")]
        return [(7013, b"N"), (7009, b"LOT")]

    def _snapshot(self, sub: _Sub, t: _Target, cache: dict | None = None) -> list:
        levels = self._levels(sub, t, cache)
        sub.last[t.symbol] = levels
        ccy = t.ccy
        body: list[tuple[int, Any]] = [(262, sub.req_id), (55, t.symbol), (268, len(levels))]
        pos: dict[bytes, int] = {}
        for (entry, px, book), (qty, count) in _ordered(levels):
            pos[entry] = pos.get(entry, 0) + 1
            body += [(269, entry), (270, self._px(t, px)), (15, ccy), (271, self._size(t, qty)), (346, count),
                     (290, pos[entry])] + self._source(t, book)
        return body + self._tail(t)

    def publish(self, books: Iterable[int], trades: list[tuple[int, int, int]] = ()) -> list[tuple[str, bytes, list]]:
        """Refreshes for every subscription watching one of `books` (after a core batch); `trades`
        (book, price, lots) become MDEntryType 2 entries for subscriptions that asked for trades."""
        keys: set[tuple[str, bytes]] = set()
        by_book = self.by_book
        for b in books:
            ks = by_book.get(b)
            if ks:
                keys |= ks
        if not keys:
            return []
        out: list[tuple[str, bytes, list]] = []
        cache: dict = {}
        for key in sorted(keys):
            sub = self.subs[key]
            touched = [t for t in sub.targets if any(b in books for b in (t.members or (t.book,)))]
            if sub.full:
                out.extend((sub.session, b"W", self._snapshot(sub, t, cache)) for t in touched)
                continue
            for t in touched:
                # One X per symbol, so that its GoldConsolidated(7013) and units hold for every entry.
                entries: list[tuple[int, Any]] = []
                n = 0
                old = sub.last.get(t.symbol, {})
                new = self._levels(sub, t, cache)
                sub.last[t.symbol] = new
                ccy = t.ccy
                for (entry, px, book) in sorted(old.keys() - new.keys()):
                    entries += [(279, b"2"), (269, entry), (55, t.symbol), (270, self._px(t, px)), (15, ccy)]
                    entries += self._source(t, book)
                    n += 1
                for (entry, px, book), (qty, count) in _ordered(new):
                    prev = old.get((entry, px, book))
                    if prev == (qty, count):
                        continue
                    entries += [(279, b"0" if prev is None else b"1"), (269, entry), (55, t.symbol),
                                (270, self._px(t, px)), (15, ccy), (271, self._size(t, qty)), (346, count)]
                    entries += self._source(t, book)
                    n += 1
                if trades and b"2" in sub.types:
                    for book, px, lots in trades:
                        if book == t.book or book in t.members:
                            entries += self._trade_entry(t, book, px, lots)
                            n += 1
                if n:
                    out.append((sub.session, b"X", [(262, sub.req_id), (268, n)] + entries + self._tail(t)))
        return out

    def _trade_entry(self, t: _Target, book: int, px: int, lots: int) -> list[tuple[int, Any]]:
        if t.group >= 0:
            num, den = self.factors[book]
            price, size = self._px(t, px * num // den), micro_text(lots * self.lot_ug[book])
        else:
            price, size = self._px(t, px), b"%d" % lots
        return [(279, b"0"), (269, b"2"), (55, t.symbol), (270, price), (15, t.ccy), (271, size)] + self._source(t, book)

    def product_book(self, pid: str, depth: int) -> dict:
        """A routable product's consolidated book for `GET /books/{product}`, in the same quote as its
        FIX market data (product currency per fine gram, sizes in fine grams, each level's instrument)."""
        t = self.targets[pid]
        sub = _Sub("", b"", [t], max(1, min(depth, MAX_DEPTH)), (b"0", b"1"), False)
        sides: dict[bytes, list[dict]] = {b"0": [], b"1": []}
        for (entry, px, book), (qty, count) in _ordered(self._levels(sub, t)):
            sides[entry].append({"price": self._px(t, px).decode(), "grams": micro_text(qty).decode(),
                                 "orders": count, "instrument": self.symbols[book].decode()})
        p = t.product
        return {"symbol": pid, "group": p.group, "members": list(self.catalogue.groups[p.group].members),
                "quote": f"{p.price_ccy} per fine gram (consolidated; the same quote as FIX market data for {pid}: "
                         f"Currency(15)={p.price_ccy}, GoldPriceUnit(7010)=G)",
                "bids": sides[b"0"], "asks": sides[b"1"]}

    # -- reference data -----------------------------------------------------------------------
    def security_list(self, msg: Any, status: Callable[[str], list] | None = None) -> list[tuple[bytes, list]]:
        """`status(symbol)`: the trading-status fields (326, 336) of an instrument's entry, now."""
        req_id = msg.get(320) or b""
        kind = msg.get(559)
        self._list_id += 1
        head: list[tuple[int, Any]] = [(320, req_id), (322, b"SL%d" % self._list_id)]
        cat = self.catalogue
        if kind == b"0":
            symbol = (msg.get(55) or b"").decode("ascii", "replace")
            if symbol in cat.instruments:
                rows = [_instrument_row(cat.instruments[symbol], status)]
            elif symbol in cat.products:
                rows = [self._product_row(symbol)]
            else:
                return [(b"y", head + [(560, 2)])]
        elif kind == b"4":
            rows = [_instrument_row(i, status) for i in cat.by_book()] + [self._product_row(p) for p in cat.products]
        else:
            return [(b"y", head + [(560, 1)])]
        body = head + [(560, 0), (393, len(rows)), (893, b"Y"), (146, len(rows))]
        for r in rows:
            body += r
        return [(b"y", body)]

    def _product_row(self, pid: str) -> list[tuple[int, Any]]:
        p = self.catalogue.products[pid]
        members = self.catalogue.groups[p.group].members
        return [(55, pid), (7007, b"Y"),
                (107, f"routable product over group {p.group}: {' '.join(members)}; OrderQty in fine grams, a "
                      f"maximum: each book takes the whole lots of its fine content that fit"),
                (15, p.price_ccy), (969, units_text(1, p.price_decimals)), (561, 1), (562, 1),
                (7009, b"GF"), (7010, b"G")]


def _ordered(levels: dict[tuple[bytes, int, int], tuple[int, int]]) -> list:
    """Bids best (highest) first, then offers best (lowest) first; at one price, by source book."""
    bids = sorted(((k, v) for k, v in levels.items() if k[0] == b"0"), key=lambda kv: (-kv[0][1], kv[0][2]))
    asks = sorted(((k, v) for k, v in levels.items() if k[0] == b"1"), key=lambda kv: (kv[0][1], kv[0][2]))
    return bids + asks


def _instrument_row(i: Instrument, status: Callable[[str], list] | None = None) -> list[tuple[int, Any]]:
    row: list[tuple[int, Any]] = [
        (55, i.symbol), (207, i.venue), (7007, b"N"),
        (107, f"{i.exchange_code}; {i.kind}; vaults {' '.join(i.vaults)}; schedule {i.schedule}"),
        (15, i.quote_ccy), (231, str(i.lot_size)), (969, str(i.tick)), (561, 1), (562, i.min_lots),
        (7009, b"LOT"), (7010, PRICE_UNIT_FIX[i.quote_unit]), (7011, micro_text(i.lot_fine_micrograms)),
        (7012, str(i.fineness)), (7001, i.settlement_ccy), (7002, i.vaults[0]),
    ]
    bar = BAR_FORM_FIX.get(i.bar_form)
    if bar is not None:
        row.append((7003, bar))
    cycle = CYCLE_FIX.get(i.settlement_cycle)
    if cycle is not None:
        row.append((7004, cycle))
    if status is not None:
        row += status(i.symbol)
    return row


__all__ = ["MarketData", "BAR_FORM_FIX", "BAR_FORM_FROM_FIX", "CYCLE_FIX", "CYCLE_FROM_FIX", "MAX_DEPTH"]
