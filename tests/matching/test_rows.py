"""Order rows are recycled: the numba engine's order table follows the orders live at once, not the
number ever accepted, and the reference book (which forgets ended orders the same way) still agrees
event for event, through growth, the GTD heap's stale entries and an export/import with rows free."""
import numpy as np

from matching import BookSpec, Engine, EventKind, Op, OrdType, ReferenceBook, Side, Tif, commands
from matching.layout import M_CAPH, M_HDISP, M_NHT
from matching.state import export_state, import_state


def churn(n: int, *, live: int, seed: int, gtd: bool = False, first_oid: int = 1) -> np.ndarray:
    """n commands on one book keeping about `live` orders resting: new orders (some crossing, some
    GTD with expiry times that come due), cancels of older ids (some already ended) and expiries."""
    rng = np.random.default_rng(seed)
    c = commands(n)
    oid = first_oid
    sent: list[int] = []        # ids that may still rest (some have ended): never more than `live`
    for i in range(n):
        t = 1_000 + i
        c[i]["time"] = t
        kind = rng.random()
        if kind < 0.05 and gtd:
            c[i]["op"], c[i]["book"], c[i]["tif"] = Op.EXPIRE, -1, Tif.GTD
        elif sent and (len(sent) >= live or kind < 0.45):
            j = int(rng.integers(len(sent)))
            sent[j], sent[-1] = sent[-1], sent[j]
            c[i]["op"], c[i]["order_id"] = Op.CANCEL, sent.pop()
        else:
            sent.append(oid)
            tif = Tif.GTD if gtd and rng.random() < 0.6 else Tif.GTC
            c[i]["op"], c[i]["book"], c[i]["order_id"], c[i]["owner"] = Op.NEW, 0, oid, int(rng.integers(0, 9))
            c[i]["side"] = Side.BUY if rng.random() < 0.5 else Side.SELL
            c[i]["ord_type"], c[i]["tif"], c[i]["qty"] = OrdType.LIMIT, tif, int(rng.integers(1, 5))
            c[i]["price"] = 100 + int(rng.integers(-6, 7))
            if tif == Tif.GTD:
                c[i]["expire_time"] = t + int(rng.integers(1, 3 * live))
            oid += 1
    c["rest_book"] = -1
    return c


def test_rows_follow_live_orders_and_the_reference_agrees() -> None:
    books = [BookSpec(tick=1)]
    eng, ref = Engine(books, capacity=64), ReferenceBook(books)
    cmds = churn(60_000, live=40, seed=1)
    for part in np.array_split(cmds, 30):
        assert np.array_equal(eng.process(part), ref.process(part))
        used, free, cap = eng.order_rows()
        assert used == eng.resting_orders() == ref.resting_orders()
        assert used + free <= cap
    accepted = int((cmds["op"] == Op.NEW).sum())
    # tens of thousands of orders went through a table never grown past its initial 64 rows
    assert accepted > 30_000 and eng.order_rows()[2] == 64
    assert eng.state_hash() == ref.state_hash()


def test_gtd_orders_on_recycled_rows_expire_once() -> None:
    """Stale heap entries of cancelled GTD orders name rows that new GTD orders now hold: each due
    order still expires exactly once, in the reference's order, and the heap is cleaned as it fills."""
    books = [BookSpec(tick=1)]
    eng, ref = Engine(books, capacity=16), ReferenceBook(books)
    cmds = churn(40_000, live=25, seed=2, gtd=True)
    ev_e, ev_r = eng.process(cmds), ref.process(cmds)
    assert np.array_equal(ev_e, ev_r)
    expired = ev_e[ev_e["kind"] == EventKind.EXPIRED]
    assert len(expired) > 1_000 and len(np.unique(expired["order_id"])) == len(expired)
    assert eng.order_rows()[2] <= 128 and eng.state_hash() == ref.state_hash()


def test_export_import_carries_the_free_rows() -> None:
    books = [BookSpec(tick=1)]
    first, rest = churn(5_000, live=30, seed=3, gtd=True), churn(5_000, live=30, seed=4, gtd=True, first_oid=10**6)
    original, oracle = Engine(books, capacity=16), ReferenceBook(books)
    original.process(first)
    oracle.process(first)
    assert original.order_rows()[1] > 0, "some rows are on the free list at the export"
    restored = Engine(books, capacity=16)
    import_state(restored, export_state(original))
    assert restored.order_rows() == original.order_rows()
    a, b, c = original.process(rest), restored.process(rest), oracle.process(rest)
    assert np.array_equal(a, b) and np.array_equal(a, c)
    assert restored.state_hash() == original.state_hash() == oracle.state_hash()


def test_reserve_and_growth_keep_the_free_list() -> None:
    books = [BookSpec(tick=1)]
    eng, ref = Engine(books, capacity=16), ReferenceBook(books)
    cmds = churn(3_000, live=12, seed=5)
    eng.process(cmds[:1_500])
    ref.process(cmds[:1_500])
    eng.reserve(orders=5_000)          # a copy into a bigger arena, rows on the free list included
    assert eng.order_rows()[2] >= 5_000
    assert np.array_equal(eng.process(cmds[1_500:]), ref.process(cmds[1_500:]))
    assert eng.state_hash() == ref.state_hash()


def test_ended_ids_are_cleaned_from_the_id_table_in_place() -> None:
    """Ended ids leave tombstones; when they fill the id table it is cleaned where it is (no copy of
    the arena), and every lookup stays within the few slots ids ever sit from their home."""
    books = [BookSpec(tick=1)]
    eng, ref = Engine(books, capacity=64), ReferenceBook(books)
    first = churn(100, live=20, seed=6)
    eng.process(first)
    ref.process(first)
    arena = eng._A
    rest = churn(20_000, live=20, seed=7, first_oid=1_000)
    assert np.array_equal(eng.process(rest), ref.process(rest))
    assert eng._A is arena, "no table grew: the arena was never copied"
    assert int(arena[M_HDISP]) <= 4 and 2 * int(arena[M_NHT]) <= int(arena[M_CAPH])
