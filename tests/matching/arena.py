"""The arena invariants the kernels index by, checked from Python between commands.

With plain indexing (matching/indexing.py) a kernel that used a -1 "none" as an index would read or
write just before an array instead of at its end. The kernels rely on these invariants instead of
testing each such index (see the comments next to them in kernels_book / kernels_levels):
- a row holds a resting order (O_LIVE 1, O_LEVEL a level id whose queue holds it) or is on the free
  list (O_LEVEL ROW_FREE); the free list and the free-level list reach exactly the spare rows/levels;
- a resting order's id is in the id table, within M_HDISP slots of its home; no other key is live;
- a level on a side has at least one order (so its head is a row), the sides are sorted best last,
  a level's qty is its orders' leaves, and each ladder slot names the level at its price or 0.
`check(engine)` asserts all of them; it reads the arena only.
"""
from __future__ import annotations

from matching.layout import (
    ID_DELETED, K_NLEV, K_QB, K_TICK, L_COUNT, L_HEAD, L_NEXT, L_PRICE, L_QTY, L_TAIL, M_HDISP, M_LFREE,
    M_LHW, M_LIVE, M_LLIVE, M_NB, M_NHT, M_NORD, M_NROWS, M_OFREE, NQ, O_BOOK, O_ID, O_LEAVES, O_LEVEL,
    O_LIVE, O_NEXT, O_PREV, O_PRICE, O_SIDE, ROW_FREE, views,
)


def home(oid: int, mask: int) -> int:
    return (oid ^ (oid >> 32)) & mask


def _free_chain(head: int, table, link: int, limit: int) -> list[int]:
    seen: list[int] = []
    while head >= 0:
        assert 0 <= head < limit and len(seen) <= limit, "free list leaves the table or loops"
        seen.append(head)
        head = int(table[head, link])
    assert head == -1
    return seen


def _check_ids(a, o, ht, resting: list[int]) -> None:
    mask, hdisp = ht.shape[0] - 1, int(a[M_HDISP])
    for r in resting:
        oid = int(o[r, O_ID])
        i = home(oid, mask)
        for _ in range(hdisp + 1):
            if ht[i, 0] == oid:
                break
            assert ht[i, 0] != 0, f"id {oid} (row {r}) is not in the id table"
            i = (i + 1) & mask
        else:
            raise AssertionError(f"id {oid} (row {r}) sits more than M_HDISP={hdisp} from its home")
        assert ht[i, 1] == r
    live_keys = sorted(int(k) for k in ht[:, 0] if k > 0)
    assert live_keys == sorted(int(o[r, O_ID]) for r in resting), "the id table names an ended order"
    assert int(a[M_NHT]) == int((ht[:, 0] != 0).sum())
    assert all(k in (0, ID_DELETED) or k > 0 for k in ht[:, 0].tolist())


def _check_side(a, k, s_tab, lv, o, q, b: int, s: int) -> set[int]:
    n, row = int(k[b, K_NLEV + s]), s_tab[2 * b + s]
    sgn = 1 if s == 0 else -1
    prices = [int(lv[row[j], L_PRICE]) for j in range(n)]
    assert [p * sgn for p in prices] == sorted(p * sgn for p in prices) and len(set(prices)) == n
    rows: set[int] = set()
    for j in range(n):
        lid = int(row[j])
        assert 0 <= lid < int(a[M_LHW])
        assert lv[lid, L_COUNT] >= 1 and lv[lid, L_HEAD] >= 0, f"level {lid} on a side has no order"
        m, prev, count, qty = int(lv[lid, L_HEAD]), -1, 0, 0
        while m >= 0:
            assert o[m, O_LIVE] == 1 and o[m, O_LEVEL] == lid and o[m, O_PREV] == prev
            assert o[m, O_BOOK] == b and o[m, O_SIDE] == s + 1 and o[m, O_PRICE] == lv[lid, L_PRICE]
            rows.add(m)
            prev, count, qty = m, count + 1, qty + int(o[m, O_LEAVES])
            m = int(o[m, O_NEXT])
        assert lv[lid, L_TAIL] == prev and lv[lid, L_COUNT] == count and lv[lid, L_QTY] == qty
    base, tick, ladder = int(k[b, K_QB + s]), int(k[b, K_TICK]), q[2 * b + s]
    in_window = {(int(lv[lid, L_PRICE]) - base) // tick: int(lid) for lid in row[:n]
                 if 0 <= (int(lv[lid, L_PRICE]) - base) // tick < NQ}
    assert {i: int(v) - 1 for i, v in enumerate(ladder.tolist()) if v} == in_window
    return rows


def check(engine) -> None:
    """Assert every invariant above on `engine`'s arena (between commands)."""
    a = engine._A
    k, _, s_tab, lv, o, ht, _, _, q = views(a)
    nord = int(a[M_NORD])
    free = _free_chain(int(a[M_OFREE]), o, O_NEXT, nord)
    assert all(o[r, O_LEVEL] == ROW_FREE for r in free)
    resting = [r for r in range(nord) if o[r, O_LEVEL] != ROW_FREE]
    assert len(resting) + len(free) == nord and int(a[M_NROWS]) == len(resting) == int(a[M_LIVE])
    free_levels = _free_chain(int(a[M_LFREE]), lv, L_NEXT, int(a[M_LHW]))
    assert len(free_levels) + int(a[M_LLIVE]) == int(a[M_LHW])
    on_sides: set[int] = set()
    for b in range(int(a[M_NB])):
        for s in range(2):
            on_sides |= _check_side(a, k, s_tab, lv, o, q, b, s)
    assert on_sides == set(resting), "a row is live but on no level, or on a level but not live"
    _check_ids(a, o, ht, resting)
