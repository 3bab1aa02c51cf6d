"""Growing the engine's arena and event buffer ahead of need, off the event loop.

Growing used to be one synchronous step when a kernel stopped for room: allocate an arena twice
the size, fault its pages in (`allocate` touches every page so the matching path never does),
copy the state over. Allocation and faulting were most of that pause. Here, once any table
crosses a high-water mark (HIGH_WATER of its capacity), the bigger arena is allocated and faulted
on a worker thread (numpy fills without the GIL) while the loop goes on matching; when a kernel
then stops for room, the loop only copies the state into it (`move`). If the kernel stops before
the spare is ready, the loop waits for it (never longer than growing in place would take); if the
state no longer fits the spare (a table grew past what was planned), it grows in place as before.
The event buffer, which must hold two events per resting order, is prepared the same way; it has
no state to copy beyond the current batch's events.

What is left on the loop at 500k resting orders is the copy of the order rows (about 60 MB) and
the re-insertion of their ids into the doubled id table: tens of ms, not a few. Taking those off
too needs tables that grow without moving (chunked order rows, an id table rehashed a slice at a
time), a change to the kernels' addressing.

A spare holds no state, so it changes no event and no state hash: capacities never do. It is
dropped when an engine's state is replaced (`matching.state.import_state`).

`capacities` (here) and `layout.move` are `layout.grow` in two steps (plan, then copy into a given
arena): `grow` itself copies with `move`, so there is one copy of the state to keep right.
tests/matching/test_growth.py checks that both give the same arena for the same state.

Not here: the arena layout (`layout`), when the engine asks (`engine`).
"""
from __future__ import annotations

import threading

import numpy as np

from .types import NEF
from .layout import (
    M_CAPO, M_CAPW, M_LLIVE, M_MAXSIDE, M_NB, M_NG, M_NHEAP, M_NORD, M_NOWN, M_NROWS, _pow2, allocate, move,
)

HIGH_WATER = 0.75   # a table this full has its bigger successor prepared in the background


def pressure_needs(a: np.ndarray) -> tuple[int, int, int, int] | None:
    """Needs (orders, levels, side, owners) that make `capacities` double every table above the
    high-water mark, or None when none is."""
    cap_o, cap_l, cap_s, cap_h, cap_w = (int(x) for x in a[M_CAPO:M_CAPW + 1])
    nrows, heap = int(a[M_NROWS]), int(a[M_NHEAP])
    llive, maxside, nown = int(a[M_LLIVE]), int(a[M_MAXSIDE]), int(a[M_NOWN])
    need_o = need_l = need_s = need_w = 1
    if nrows > HIGH_WATER * cap_o or heap > HIGH_WATER * cap_o:
        need_o = cap_o - nrows + 1
    if 4 * nrows > HIGH_WATER * cap_h:          # ids are re-inserted a quarter full at most
        need_o = max(need_o, cap_h // 4 - nrows + 1)
    if llive > HIGH_WATER * cap_l:
        need_l = cap_l - llive + 1
    if maxside > HIGH_WATER * cap_s:
        need_s = cap_s - maxside + 1
    if 2 * nown > HIGH_WATER * cap_w:
        need_w = cap_w // 2 - nown + 1
    if need_o == need_l == need_s == need_w == 1:
        return None
    return need_o, need_l, need_s, need_w


def capacities(a: np.ndarray, need_orders: int = 1, need_levels: int = 1, need_side: int = 1,
               need_owners: int = 1, heap: int = -1) -> tuple[int, int, int, int, int]:
    """(orders, levels, side, ids, owners) capacities of an arena with room for the needs: each at
    least doubles when short, none shrinks. `heap`: live GTD heap entries (default: all entries,
    stale ones included, an upper bound)."""
    cap_o, cap_l, cap_s, cap_h, cap_w = (int(x) for x in a[M_CAPO:M_CAPW + 1])
    llive, maxside, nown, nrows = int(a[M_LLIVE]), int(a[M_MAXSIDE]), int(a[M_NOWN]), int(a[M_NROWS])
    heap = int(a[M_NHEAP]) if heap < 0 else heap
    # rows: room for the live orders, and the heap (one row per entry) at most half full after
    new_o = cap_o
    if nrows + need_orders > cap_o or 2 * (heap + 1) > cap_o:
        new_o = max(2 * cap_o, nrows + need_orders, 2 * (heap + 1))
    new_l = cap_l if llive + need_levels <= cap_l else max(2 * cap_l, llive + need_levels)
    new_s = cap_s if maxside + need_side <= cap_s else max(2 * cap_s, maxside + need_side)
    # ids: at most a quarter full right after the rebuild, so a cleaning is followed by many inserts
    new_h = cap_h if 4 * (nrows + need_orders) <= cap_h else _pow2(4 * (nrows + need_orders))
    new_w = cap_w if 2 * (nown + need_owners) <= cap_w else _pow2(4 * (nown + need_owners))
    return new_o, new_l, new_s, new_h, new_w


def fits(a: np.ndarray, caps) -> bool:
    """Whether an arena of capacities `caps` (orders, levels, side, ids, owners) can take `a`'s
    state with room for at least one more of everything (what `grow` is asked for when a kernel
    stops for room), none smaller than `a`'s."""
    cap_o, cap_l, cap_s, cap_h, cap_w = caps
    if any(c < int(x) for c, x in zip(caps, a[M_CAPO:M_CAPW + 1])):
        return False
    nrows, nord, heap = int(a[M_NROWS]), int(a[M_NORD]), int(a[M_NHEAP])
    return (nord + 1 <= cap_o and heap + 1 <= cap_o and int(a[M_LLIVE]) + 1 <= cap_l
            and int(a[M_MAXSIDE]) + 1 <= cap_s and 4 * (nrows + 1) <= cap_h and 2 * (int(a[M_NOWN]) + 1) <= cap_w)


def zeroed(n: int) -> np.ndarray:
    """n int64 zeros with every page faulted in (np.zeros would leave the faults to the first
    writes, on the matching path)."""
    e = np.empty(n, np.int64)
    e.fill(0)
    return e


class SpareArena:
    """At most one bigger arena, and one bigger event buffer, in preparation (or ready) for one
    engine. The event buffer must hold two events per resting order (a mass cancel's worst case),
    so it grows with the live orders too: at 500k resting orders it is 160 MB."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._box: list[np.ndarray] = []
        self._caps: tuple[int, ...] = ()
        self._ethread: threading.Thread | None = None
        self._ebox: list[np.ndarray] = []
        # how the arena grew: into a spare ready in time, into one the loop waited for, in place;
        # and how often the event buffer grew into a prepared one
        self.counts = {"ready": 0, "waited": 0, "in_place": 0, "events_prepared": 0}

    def watch(self, a: np.ndarray) -> None:
        """Start preparing a bigger arena if a table of `a` is above the high-water mark and the
        spare in preparation (if any) would not cover it; a spare that would not is left to its
        thread and replaced by one covering both (no wait on the loop)."""
        needs = pressure_needs(a)
        if needs is None:
            return
        caps = capacities(a, *needs, heap=int(a[M_NHEAP]))
        if caps == tuple(int(x) for x in a[M_CAPO:M_CAPW + 1]):
            return
        if self._caps:
            if all(s >= c for s, c in zip(self._caps, caps)):
                return
            caps = tuple(max(s, c) for s, c in zip(self._caps, caps))
        nb, ng, box = int(a[M_NB]), int(a[M_NG]), []
        self._box, self._caps = box, caps
        self._thread = threading.Thread(target=lambda: box.append(allocate(nb, ng, *caps)),
                                        name="matching-arena-grow", daemon=True)
        self._thread.start()

    def watch_events(self, rows: int, need: int) -> None:
        """Start preparing an event buffer of twice `rows` rows when `need` rows (two per resting
        order and a margin) pass the high-water mark of the current `rows`."""
        if self._ethread is not None or need <= HIGH_WATER * rows:
            return
        box: list[np.ndarray] = []
        self._ebox = box
        self._ethread = threading.Thread(target=lambda: box.append(zeroed(2 * rows * NEF)),
                                         name="matching-events-grow", daemon=True)
        self._ethread.start()

    def take_events(self, size: int) -> np.ndarray | None:
        """The prepared event buffer (waiting for it if still in preparation) when it has at least
        `size` int64s, else None; either way it is used up."""
        if self._ethread is None:
            return None
        self._ethread.join()
        box, self._ethread, self._ebox = self._ebox, None, []
        if not box or box[0].size < size:
            return None
        self.counts["events_prepared"] += 1
        return box[0]

    def wait(self) -> bool:
        """Block until the spare arena and event buffer in preparation are allocated; False when
        there is neither. For benchmarks and tests, standing in for the loop matching meanwhile."""
        threads = [t for t in (self._thread, self._ethread) if t is not None]
        for t in threads:
            t.join()
        return bool(threads)

    def take(self, a: np.ndarray) -> np.ndarray | None:
        """`a`'s state moved into the spare when it fits (waiting for it if still in preparation),
        else None (the caller grows in place). Either way the spare is used up."""
        if self._thread is None:
            self.counts["in_place"] += 1
            return None
        waited = self._thread.is_alive()
        self._thread.join()
        box, caps = self._box, self._caps
        self.drop()
        if not box or not fits(a, caps):
            self.counts["in_place"] += 1
            return None
        self.counts["waited" if waited else "ready"] += 1
        return move(a, box[0])

    def drop(self) -> None:
        for t in (self._thread, self._ethread):
            if t is not None:
                t.join()
        self._thread, self._box, self._caps = None, [], ()
        self._ethread, self._ebox = None, []
