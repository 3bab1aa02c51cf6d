"""The matching core as the order flow sees it from outside: one book per instrument with its
comparable factor, the command row layout, and the best-price reader the router ranks books by.

`make_engine` builds the numba engine (or the pure-Python reference book) with one book per
instrument and one group per interoperable group; `core_factor` gives each book its comparable factor
(micro-USD per fine troy ounce per price unit, den = 1000 to stay inside the core's int32 bound).
Commands are flat int64 rows packed by `pack_row` in `COMMAND_DTYPE` field order (checked at import).

Not here: running commands and turning the core's events into reports (orders.core_bridge).
"""
from __future__ import annotations

import struct
from typing import Any

import numpy as np

from matching import COMMAND_DTYPE, BookSpec, Op, Side as CoreSide, Stp, Tif as CoreTif
from router.domain.catalogue import Catalogue, Instrument
from router.domain.convert import Fx, comparable_factor
from router.orders.routing import Tif

CORE_DEN = 1000
PRODUCT_DEN = 10**9          # product price units per instrument price unit, as num / PRODUCT_DEN
TIFS = {b"0": (CoreTif.DAY, Tif.DAY), b"1": (CoreTif.GTC, Tif.GTC), b"3": (CoreTif.IOC, Tif.IOC),
         b"4": (CoreTif.FOK, Tif.FOK), b"6": (CoreTif.GTD, Tif.GTC)}
OP_NEW, OP_SWEEP, OP_CANCEL, OP_REPLACE = int(Op.NEW), int(Op.SWEEP), int(Op.CANCEL), int(Op.REPLACE)
# Account self_trade modes -> the core's per-owner STP mode.
STP_MODES = {"cancel_resting": Stp.CANCEL_RESTING, "cancel_incoming": Stp.CANCEL_INCOMING,
             "cancel_both": Stp.CANCEL_BOTH}
# Commands are built as flat int64 rows in this field order; fail at import if the core's layout moves.
ROW_FIELDS = ("op", "time", "book", "order_id", "owner", "side", "ord_type", "tif", "price", "qty", "expire_time",
              "allowed", "rest_book", "rest_price", "stp", "num", "den", "qty_scale")
if COMMAND_DTYPE.names != ROW_FIELDS:
    raise ImportError(f"matching.COMMAND_DTYPE fields changed: {COMMAND_DTYPE.names}")
# Native-order int64 fields, exactly the command record (checked above and by its itemsize here).
pack_row = struct.Struct(f"={len(ROW_FIELDS)}q").pack_into
if COMMAND_DTYPE.itemsize != 8 * len(ROW_FIELDS) or any(
        COMMAND_DTYPE.fields[f][0] != np.dtype(np.int64) for f in ROW_FIELDS):
    raise ImportError("matching.COMMAND_DTYPE is no longer all int64 fields")


def core_factor(instr: Instrument, fx: Fx, catalogue: Catalogue) -> tuple[int, int]:
    """The core's (num, den): micro-USD per fine oz for one price unit, den = 1000 to fit int32."""
    num, den = comparable_factor(instr, fx, catalogue.constants)
    return max(1, (num * CORE_DEN + den // 2) // den), CORE_DEN


def book_specs(catalogue: Catalogue, fx: Fx) -> list[BookSpec]:
    specs = []
    for i in catalogue.by_book():
        num, den = core_factor(i, fx, catalogue)
        specs.append(BookSpec(tick=i.tick_units, lot=1, min_qty=i.min_lots, max_qty=i.max_lots,
                              price_limit_bp=int(i.price_limit_pct * 100), ref_price=i.reference_units,
                              num=num, den=den, qty_scale=i.lot_fine_micrograms))
    return specs


def make_engine(catalogue: Catalogue, fx: Fx, *, reference: bool = False) -> Any:
    """The numba engine (or the pure-Python reference book) for every instrument and group."""
    from matching import Engine, ReferenceBook
    groups = [[catalogue.instruments[m].book_id for m in g.members]
              for g in sorted(catalogue.groups.values(), key=lambda g: g.group_id)]
    cls = ReferenceBook if reference else Engine
    return cls(book_specs(catalogue, fx), groups)


class TopReader:
    """Best bid and ask prices of one book as `(None, ask, bid)`, so `top[side]` (1 buy, 2 sell) is the
    price an order on that side would meet; None where that side is empty.

    On the numba engine it indexes the live best-price arrays the kernels keep (`top_prices`),
    a few hundred ns; `engine.top_of_book` used to rebuild every arena view and two depth arrays per
    call (~13 us, several times the matching itself). Any other engine (the reference book, whose
    `top_prices` is a fresh array) is asked through `top_of_book`.
    """

    __slots__ = ("engine", "fast", "_asks", "_bids", "_by_side")

    def __init__(self, engine: Any) -> None:
        from matching import Engine
        self.engine = engine
        self.fast = type(engine) is Engine
        if self.fast:
            self._asks = engine.top_prices(CoreSide.SELL)
            self._bids = engine.top_prices(CoreSide.BUY)
            self._by_side = (None, self._asks, self._bids)

    def price(self, book: int, side: int) -> int | None:
        """The best opposite price an order on `side` (1 buy, 2 sell) would meet on `book`, None when
        that side is empty: what the router ranks a book on. Read live every call (one array item on
        the numba engine), so nothing has to be forgotten when a command changes a book."""
        if self.fast:
            return self._by_side[side].item(book) or None
        return self(book)[side]

    def __call__(self, book: int) -> tuple[None, int | None, int | None]:
        if not self.fast:
            t = self.engine.top_of_book(book)
            return (None, t.ask_price if t.ask_qty else None, t.bid_price if t.bid_qty else None)
        # 0 marks an empty side (prices are positive).
        return (None, self._asks.item(book) or None, self._bids.item(book) or None)
