"""The numba matching engine: Python face of the kernels in `kernels.py`.

It owns the arena and the event buffer, grows them when a kernel stops for room, and answers
queries (order state, depth, group depth, snapshot, state hash) by reading the arena directly.
Same constructor, commands, events and queries as `ReferenceBook`. It does NOT do I/O, read clocks
or map anything to FIX; the router does that with the events it returns.
"""
from __future__ import annotations

import mmap
from sys import getrefcount

import numpy as np
from numba.core import types as nbtypes

from . import kernels
from .growth import SpareArena, zeroed
from .layout import (
    K_BP, K_DEN, K_LOT, K_MAX, K_MIN, K_NLEV, K_NUM, K_REF, K_SCALE, K_TICK, L_COUNT, L_PRICE, L_QTY,
    M_APPEND, M_CAPH, M_CAPL, M_CAPO, M_CAPS, M_CAPW, M_LIVE, M_LLIVE, M_MAXSIDE, M_NE, M_NEXT, M_CPTR,
    M_CROWS, M_EPTR, M_EROWS, M_NHEAP, M_NHT, M_NORD, M_NOWN, M_NROWS, M_OFREE, M_OFFK, M_OFFL, M_OFFS, M_RESUME, M_TOPS, NKF, NLF, O_BOOK,
    O_CUM, O_ID, O_LEAVES, O_LIVE, O_OWNER, O_PRICE, O_QTY, O_SIDE, allocate, grow, rehash_ids, views,
)
from .types import (
    COMMAND_DTYPE, EVENT_DTYPE, LEVEL_DTYPE, NCF, NEF, SNAPSHOT_DTYPE, OrderState, Top, as_groups,
    as_specs, commands, hash_state, merge_group_depth, Op, Side, OrdType, Tif, Stp,
)


_new_top = tuple.__new__  # Top(...) without NamedTuple's argument handling
WATCH_EVERY = 256         # single-command calls between looks at the tables' high-water marks
HEADS = 16                # event counts whose buffer views are made once per buffer (one-command calls)
OUT_BUFFERS = 2           # buffers that copying batches write into (a loop `ev = eng.process(b)` holds one)


def _kernel():
    """The compiled one-command kernel `run_at(arena, i)`, called without numba's per-call type
    dispatch (about 200 ns of a single-command call); compiled or loaded from cache on first use."""
    sig = (nbtypes.Array(nbtypes.int64, 1, "C"), nbtypes.int64)
    if sig not in kernels.run_at.overloads:
        kernels.run_at.compile(sig)
    return kernels.run_at.overloads[sig].entry_point


def _out_alloc(size: int, populate: bool = False) -> np.ndarray:
    """`size` int64s for a copying batch's events, on 4 KB pages touched only where events are
    written (`populate`: all faulted in now). Not np.empty: numpy asks for huge pages from 4 MB up,
    and this VM takes up to ~20 ms to fault in a fresh one (benchmarks/README.md "The copying
    batch call")."""
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | (mmap.MAP_POPULATE if populate else 0)
    return np.frombuffer(mmap.mmap(-1, 8 * size, flags=flags), np.int64)


class Engine:
    """Price-time-priority books for every instrument plus interoperable group sweeps, in numba.

    `books`: list of `BookSpec` (or dicts / tuples of its fields), book id = index.
    `groups`: list (or dict 0..G-1) of member-book lists.
    `capacity`: initial orders/levels to preallocate; everything grows on demand without losing state.
    Only live orders are known: an ended order's id and row are forgotten (`order_state` -> None,
    CANCEL -> UNKNOWN_ORDER, its id may be used again), so memory follows the orders live at once.
    """

    def __init__(self, books, groups=None, capacity: int = 4096):
        specs = as_specs(books)
        self.groups = as_groups(groups, len(specs))
        cap = max(int(capacity), 16)
        self._A = allocate(len(specs), len(self.groups), cap, cap, 64, 2 * cap, 64)
        # best price per side and book, kept current by the kernels (see top_prices); outside the
        # arena so the array Python holds stays valid when the arena is replaced by a bigger one
        self._T = np.zeros((2, len(specs)), np.int64)
        self._A[M_TOPS] = self._T.ctypes.data
        self._tops = (None, self._T[0], self._T[1])
        for v in self._tops[1:]:
            v.flags.writeable = False
        self._nb = len(specs)
        k, g = self._views()[:2]
        for b, s in enumerate(specs):
            k[b, [K_TICK, K_LOT, K_MIN, K_MAX, K_BP, K_REF, K_NUM, K_DEN, K_SCALE]] = (
                s.tick, s.lot, s.min_qty, s.max_qty, s.price_limit_bp, s.ref_price, s.num, s.den,
                s.qty_scale)
        for gi, members in enumerate(self.groups):
            g[gi] = sum(1 << b for b in members)
        # the next, bigger arena and event buffer, prepared on a worker thread once a table passes
        # its high-water mark (see growth); looked at after every batch and every WATCH_EVERY
        # single commands
        self._spare = SpareArena()
        self._calls = 0
        self._set_events(max(256, cap))
        self._last_batch = None
        self._last_flat = None
        self._outs = []    # buffers process(copy=True) has the kernel write into (_out_buffer)
        self._pending = 0
        self._kern = _kernel()
        self._top_arena = None
        self._top_offs = None

    def __reduce__(self):
        # the arena header holds raw addresses of this engine's own buffers (best prices, current
        # batch, events): a copy would write into the original's memory
        raise TypeError("an Engine cannot be copied or pickled; rebuild one from snapshot()")

    # ------------------------------------------------------------------ commands
    def _views(self):
        return views(self._A)

    def _set_events(self, rows: int, keep: int = 0):
        e = self._spare.take_events(rows * NEF)   # prepared in the background (see _watch)
        if e is None:
            e = zeroed(rows * NEF)  # pages faulted in here, not inside a timed batch
        rows = e.size // NEF
        if keep:
            e[:keep * NEF] = self._E[:keep * NEF]
        self._E = e
        self._Ev = e.view(EVENT_DTYPE)
        # views of the first n events for the one-command calls, made once per buffer: slicing
        # anew costs a view construction per call (see process_at_rows)
        self._ev_heads = tuple(self._Ev[:n] for n in range(HEADS))
        rows2d = e.reshape(-1, NEF)
        self._row_heads = tuple(rows2d[:n] for n in range(HEADS))
        self._A[M_EPTR] = e.ctypes.data   # for run_at; self._E keeps the buffer alive
        self._A[M_EROWS] = rows

    def _flat(self, cmds: np.ndarray) -> np.ndarray:
        """Flat int64 view of a command batch (COMMAND_DTYPE, or int64 rows of NCF fields)."""
        if cmds.dtype == COMMAND_DTYPE:
            if cmds.ndim != 1 or not cmds.flags.c_contiguous:
                cmds = np.ascontiguousarray(cmds.reshape(-1))
            if not cmds.flags.writeable:  # keep one compiled signature (mutable arrays)
                cmds = cmds.copy()
            # ndarray-over-buffer is several times cheaper than .view(int64) on a structured dtype
            return np.ndarray((cmds.shape[0] * NCF,), np.int64, cmds)
        if cmds.dtype == np.int64 and cmds.size % NCF == 0:
            flat = np.ascontiguousarray(cmds.reshape(-1))
            return flat if flat.flags.writeable else flat.copy()
        raise TypeError("commands must use matching.COMMAND_DTYPE (or int64 rows of its fields)")

    def _run(self, c1: np.ndarray, start: int, stop: int, out: np.ndarray | None = None):
        """Commands [start, stop) into the engine's event buffer, or from row 0 into `out` (the
        buffer of a copying batch, as many rows as the engine's, replaced by a bigger one when the
        engine's grows). Returns (the kernel's answer, the buffer holding the events)."""
        e = self._E if out is None else out
        ret = kernels.run(self._A, c1, start, stop, e)
        while ret & 1:
            self._make_room(stop - int(self._A[M_NEXT]))
            e = self._E if out is None else self._out_grown(e)
            ret = kernels.run(self._A, c1, int(self._A[M_NEXT]), stop, e)
        return ret, e

    def process(self, cmds: np.ndarray, copy: bool = True) -> np.ndarray:
        """Run a batch of commands in order; returns its events (an EVENT_DTYPE array of its own).

        `cmds` is a COMMAND_DTYPE array, or int64 rows holding its fields in order (cheapest).
        The kernel writes the events straight into the returned array's buffer, which the engine
        uses again only once every array made from it is gone (see _out_buffer).
        `copy=False` returns a view of the engine's event buffer instead, valid only until the next
        call that runs commands: for a caller that turns the events into messages at once."""
        if self._pending:
            raise RuntimeError("drain() the events of submit_at() before calling process()")
        c1 = self._flat(cmds)
        out = self._out_buffer() if copy else None
        ret, e = self._run(c1, 0, c1.shape[0] // NCF, out)
        self._watch()
        if out is not None:
            return np.ndarray((ret >> 1,), EVENT_DTYPE, e)
        if copy:   # the caller holds arrays of every out buffer: a copy of the engine's buffer
            return np.frombuffer(self._E[:(ret >> 1) * NEF].copy(), EVENT_DTYPE)
        return self._Ev[:ret >> 1]

    def _out_buffer(self) -> np.ndarray | None:
        """A buffer for a copying batch to have the kernel write its events into, sparing a copy of
        every event (benchmarks/README.md "The copying batch call"), or None when the caller still
        holds arrays made from each of the OUT_BUFFERS buffers.

        A buffer is used again only when nothing refers to it but this list: the array returned
        from it and every view of it are gone (each holds a reference to it, as does a buffer export
        of them). One is made (`_out_alloc`: pages are touched only where events are written) when
        fewer than OUT_BUFFERS exist; a new one per call instead would fault in fresh pages every
        batch, dearer than the copy on this machine. Each has as many rows as the engine's event
        buffer, so the kernel stops for room exactly where it would writing there and the engine's
        buffer grows as before; once it has grown, the old ones are let go (_out_grown)."""
        outs = self._outs
        if outs and outs[0].size != self._E.size:
            outs.clear()   # left to whoever still holds them; never written again
        for b in outs:
            if getrefcount(b) == 3:   # this list, b and getrefcount's own argument
                return b
        if len(outs) == OUT_BUFFERS:
            return None
        b = _out_alloc(self._E.size)
        outs.append(b)
        return b

    def _out_grown(self, e: np.ndarray) -> np.ndarray:
        """After the kernel stopped for room while writing a copying batch into `e`: `e`, or, when
        the engine's event buffer has grown, a buffer of its new size holding the events so far
        (which replaces the buffers of the old size)."""
        if e.size >= self._E.size:
            return e
        ne = int(self._A[M_NE])
        b = _out_alloc(self._E.size)
        b[:ne * NEF] = e[:ne * NEF]
        self._outs = [b]
        return b

    def _remember(self, cmds: np.ndarray) -> None:
        flat = self._flat(cmds)
        # reuse the flat view for the next call with the same batch only if it is a view (so later
        # edits of the batch are seen); a converted copy is used for this call only. A batch that is
        # itself a view (an unpickled array: the order flow's command row after a start from a
        # snapshot) gives a flat view based on the same owner: that is a view of the batch too, and
        # remembering it spares the flat view per call (~10 % of a replay, benchmarks/README.md "Restart")
        base = flat.base
        self._last_batch = cmds if base is not None and (base is cmds or base is cmds.base) else None
        self._last_flat = flat
        self._A[M_CPTR] = flat.ctypes.data   # for run_at; self._last_flat keeps it alive
        self._A[M_CROWS] = flat.shape[0] // NCF

    def submit_at(self, cmds: np.ndarray, i: int) -> int:
        """Run only command `i` of a batch and keep its events in the engine; returns how many it
        produced. One Python->numba crossing per command with no per-call allocation: for a loop
        that acts on each command as it arrives and collects events with drain() once per turn."""
        if cmds is not self._last_batch:
            self._remember(cmds)
        if not self._pending:  # start of an append session: events from row 0
            self._A[M_APPEND] = 1
            self._A[M_NE] = 0
        ret = self._kern(self._A, i)
        if ret & 1:
            ret = self._run(self._last_flat, i, i + 1)[0]
        self._calls += 1
        if not self._calls & (WATCH_EVERY - 1):
            self._watch()
        made = (ret >> 1) - self._pending
        self._pending = ret >> 1
        return made

    def drain(self) -> np.ndarray:
        """Events accumulated by submit_at() since the last drain, in order (a new array)."""
        n = self._pending
        self._pending = 0
        self._A[M_APPEND] = 0
        self._A[M_NE] = 0
        return np.frombuffer(self._E[:n * NEF].copy(), EVENT_DTYPE)

    def process_at(self, cmds: np.ndarray, i: int, copy: bool = True) -> np.ndarray:
        """Run only command `i` of a batch; events report cmd_index = i. For callers that keep a
        batch array but must act after every command; the flat view of the batch is reused.
        `copy=False`: a view of the engine's event buffer, valid until the next call that runs
        commands (saves the copy, ~a third of a one-command call)."""
        n = self._one(cmds, i)
        if not copy:
            return self._ev_heads[n] if n < HEADS else self._Ev[:n]
        return np.frombuffer(self._E[:n * NEF].copy(), EVENT_DTYPE)

    def process_at_rows(self, cmds: np.ndarray, i: int) -> list[list[int]]:
        """`process_at` for a caller that reads every field of every event at once (the order flow,
        once per message): the events of command `i` as lists of ints in EVENT_DTYPE field order.

        Shaped for speed (`benchmarks/README.md`, Matching, "The one-command call"): the int64 rows'
        `tolist()` is ~3x cheaper than a structured view's, whose rows become tuples field by field;
        the views of the first few rows are made once per event buffer, not once per call."""
        n = self._one(cmds, i)
        return (self._row_heads[n] if n < HEADS else self._E[:n * NEF].reshape(n, NEF)).tolist()

    def _one(self, cmds: np.ndarray, i: int) -> int:
        """Run command `i` of `cmds` alone (events from row 0); returns how many events it wrote."""
        if cmds is not self._last_batch or self._pending:
            if self._pending:
                raise RuntimeError("drain() the events of submit_at() before calling process_at()")
            self._remember(cmds)
        ret = self._kern(self._A, i)
        if ret & 1:
            ret = self._run(self._last_flat, i, i + 1)[0]
        self._calls = calls = self._calls + 1
        if not calls & (WATCH_EVERY - 1):
            self._watch()
        return ret >> 1

    def process_one(self, cmd) -> np.ndarray:
        """Convenience for a single command (a COMMAND_DTYPE record or 1-element array)."""
        if not isinstance(cmd, np.ndarray) or cmd.ndim == 0:
            one = np.empty(1, COMMAND_DTYPE)
            one[0] = cmd
            cmd = one
        return self.process(cmd)

    def _watch(self) -> None:
        """Have the spare arena / event buffer prepared when a table or the event buffer passes its
        high-water mark (see growth)."""
        a = self._A
        self._spare.watch(a)
        self._spare.watch_events(self._E.size // NEF, 2 * int(a[M_LIVE]) + 8)

    def _make_room(self, pending: int):
        a = self._A
        if 2 * (a[M_NHT] + 1) > a[M_CAPH]:
            rehash_ids(a)      # tombstones of ended orders filled it: cleaned in place when that is enough
        need_table = ((a[M_OFREE] < 0 and a[M_NORD] + 1 > a[M_CAPO]) or 2 * (a[M_NHT] + 1) > a[M_CAPH]
                      or a[M_NHEAP] + 1 > a[M_CAPO] or a[M_LLIVE] + 1 > a[M_CAPL] or a[M_MAXSIDE] + 1 > a[M_CAPS]
                      or 2 * (a[M_NOWN] + 1) > a[M_CAPW])
        if need_table:
            b = self._spare.take(a)
            self._A = b if b is not None else grow(a, need_orders=1, need_levels=1, need_side=1, need_owners=1)
        self._A[M_RESUME] = 1
        live, ne = int(self._A[M_LIVE]), int(self._A[M_NE])
        rows = self._E.size // NEF
        if ne + 2 * live + 8 > rows:
            self._set_events(max(2 * rows, ne + 2 * live + 8 + min(pending, 1 << 16)), keep=ne)

    def reserve(self, orders: int = 0, events: int = 0) -> None:
        """Preallocate room for `orders` more orders (and levels) and an `events`-row buffer, so a
        start-up reservation keeps allocation and page faults off the matching path. With `events`,
        the OUT_BUFFERS buffers for copying batches (process(copy=True)), of the same size, are faulted
        in too."""
        if orders > 0:
            self._spare.drop()
            self._A = grow(self._A, need_orders=orders, need_levels=orders, need_side=min(orders, 4096),
                           need_owners=1)
        if events > self._E.size // NEF:
            self._set_events(events, keep=0)
        if events > 0:
            self._outs = [_out_alloc(self._E.size, populate=True) for _ in range(OUT_BUFFERS)]

    def warm_up(self) -> None:
        """Compile (or load from the on-disk cache) every kernel signature, growth paths included."""
        from .types import BookSpec
        scratch = Engine([BookSpec(tick=1), BookSpec(tick=1, qty_scale=2)], [[0, 1]], capacity=16)
        c = commands(48)
        c["time"] = 1
        for i in range(20):  # more orders than the scratch capacity, so every table grows
            c[i] = (Op.NEW, 1, i % 2, i + 1, i % 3, Side.BUY if i % 2 else Side.SELL, OrdType.LIMIT,
                    Tif.GTD if i % 5 == 0 else Tif.GTC, 100 + i, 3, 9, 0, -1, 0, 0, 0, 0, 0)
        ops = [(Op.SET_STP, dict(owner=1, stp=Stp.CANCEL_RESTING)),
               (Op.SET_REF_PRICE, dict(book=0, price=110)),
               (Op.SET_CONVERSION, dict(book=1, num=1, den=1, qty_scale=2)),
               (Op.REPLACE, dict(order_id=2, price=130, qty=3)),
               (Op.CANCEL, dict(order_id=3)),
               (Op.NEW, dict(book=0, order_id=100, owner=5, side=Side.BUY, ord_type=OrdType.MARKET,
                             tif=Tif.FOK, qty=4)),
               (Op.SWEEP, dict(book=0, order_id=101, owner=1, side=Side.BUY, ord_type=OrdType.LIMIT,
                               tif=Tif.GTC, price=200, qty=50, allowed=3, rest_book=0, rest_price=101)),
               (Op.EXPIRE, dict(book=-1, tif=Tif.DAY)),
               (Op.MASS_CANCEL, dict(book=-1, owner=-1)),
               (0, {})]
        for j, (op, kw) in enumerate(ops):
            c[20 + j]["op"] = op
            c[20 + j]["time"] = 10
            for key, v in kw.items():
                c[20 + j][key] = v
        scratch.process(c[:20 + len(ops)])
        scratch.process_one(c[0])
        scratch.snapshot()
        scratch.order_state(1)

    # ------------------------------------------------------------------ queries
    def order_state(self, order_id: int) -> OrderState | None:
        r = kernels.lookup(self._A, int(order_id))
        if r < 0:
            return None
        o = self._views()[4][r]
        return OrderState(int(o[O_ID]), int(o[O_BOOK]), int(o[O_SIDE]), int(o[O_OWNER]),
                          int(o[O_PRICE]), int(o[O_QTY]), int(o[O_LEAVES]), int(o[O_CUM]),
                          bool(o[O_LIVE]))

    def depth(self, book: int, n: int):
        k, _, s, lv = self._views()[:4]
        out = []
        for side in (0, 1):
            cnt = int(k[book, K_NLEV + side])
            ids = s[2 * book + side, :cnt][::-1][:n]
            d = np.zeros(len(ids), LEVEL_DTYPE)
            d["price"], d["qty"], d["count"] = lv[ids, L_PRICE], lv[ids, L_QTY], lv[ids, L_COUNT]
            out.append(d)
        return out[0], out[1]

    def top_of_book(self, book: int) -> Top:
        # scalar reads of the arena (building the views and depth arrays cost ~14 us); the table
        # offsets are cached per arena, which is only replaced when it grows
        if not 0 <= book < self._nb:
            raise IndexError(f"book {book} out of range")
        a = self._A
        item = a.item
        if a is not self._top_arena:
            caps = item(M_CAPS)
            self._top_offs = (item(M_OFFK) + K_NLEV, NKF, item(M_OFFS), 2 * caps, caps, item(M_OFFL))
            self._top_arena = a
        k, nkf, srow, sstride, caps, lv0 = self._top_offs
        k += book * nkf
        srow += book * sstride
        bp = bq = bc = ap = aq = ac = 0
        n = item(k)
        if n:
            lv = lv0 + item(srow + n - 1) * NLF
            bp, bq, bc = item(lv + L_PRICE), item(lv + L_QTY), item(lv + L_COUNT)
        n = item(k + 1)
        if n:
            lv = lv0 + item(srow + caps + n - 1) * NLF
            ap, aq, ac = item(lv + L_PRICE), item(lv + L_QTY), item(lv + L_COUNT)
        return _new_top(Top, (bp, bq, bc, ap, aq, ac))

    def top_prices(self, side: int) -> np.ndarray:
        """Best price of every book on `side` (Side.BUY: best bids, Side.SELL: best asks), indexed
        by book id, 0 where that side is empty. A live read-only view the kernels keep current:
        hold it and index it from Python with no numba call (it stays valid when tables grow)."""
        return self._tops[side]

    def group_depth(self, group: int, n: int):
        members = self.groups[group]
        k = self._views()[0]
        return merge_group_depth([self.depth(b, n) for b in members],
                                 [tuple(int(x) for x in k[b, [K_NUM, K_DEN, K_SCALE]]) for b in members], n)

    def resting_orders(self) -> int:
        return int(self._A[M_LIVE])

    def arena_growths(self) -> dict[str, int]:
        """How the arena grew so far: `ready` (into a spare prepared in the background in time),
        `waited` (the loop waited for the spare to be allocated), `in_place` (allocated on the
        loop); `events_prepared`: event buffer growths into a buffer prepared in the background."""
        return dict(self._spare.counts)

    def order_rows(self) -> tuple[int, int, int]:
        """(rows holding a live order, rows on the free list, row capacity) of the order table:
        rows of ended orders are reused, so the first stays at the orders live at once."""
        a = self._A
        used, hwm, cap = int(a[M_NROWS]), int(a[M_NORD]), int(a[M_CAPO])
        return used, hwm - used, cap

    def snapshot(self) -> np.ndarray:
        out = np.zeros((self.resting_orders(), len(SNAPSHOT_DTYPE.names)), np.int64)
        kernels.snapshot_rows(self._A, out)
        return out.reshape(-1).view(SNAPSHOT_DTYPE)

    def book_params(self) -> np.ndarray:
        return self._views()[0][:, [K_REF, K_NUM, K_DEN, K_SCALE]].copy()

    def stp_pairs(self) -> np.ndarray:
        w = self._views()[6]
        used = w[(w[:, 0] != 0) & (w[:, 1] != 0)]
        pairs = np.stack([used[:, 0] - 1, used[:, 1]], axis=1)
        return pairs[np.argsort(pairs[:, 0], kind="stable")]

    def state_hash(self) -> str:
        return hash_state(self.snapshot(), self.book_params(), self.stp_pairs())

