"""An engine's exported state, imported into a fresh engine for the same books, continues exactly:
same state hash, then the same events for the same later commands (and the reference book agrees)."""
import numpy as np
import pytest

from benchmarks.streams import exchange_books, generate
from matching import BookSpec, Engine, ReferenceBook
from matching.layout import M_LAYOUT
from matching.state import export_state, import_state


def test_export_import_continues_event_for_event() -> None:
    books, groups = exchange_books()
    cmds = generate(20_000, seed=5, resting=3_000)
    first, rest = cmds[:12_000], cmds[12_000:]
    original = Engine(books, groups)
    oracle = ReferenceBook(books, groups)
    original.process(first)
    oracle.process(first)
    restored = Engine(books, groups, capacity=16)          # smaller tables: the import brings its own
    tops = restored.top_prices(1)
    import_state(restored, export_state(original))
    assert restored.state_hash() == original.state_hash() == oracle.state_hash()
    assert np.array_equal(tops, original.top_prices(1)), "views handed out before the import follow it"
    a, b, c = original.process(rest), restored.process(rest), oracle.process(rest)
    assert np.array_equal(a, b) and np.array_equal(a, c)
    assert restored.state_hash() == original.state_hash() == oracle.state_hash()
    assert restored.top_of_book(0) == original.top_of_book(0)


def test_import_refuses_a_state_for_other_books() -> None:
    books, groups = exchange_books()
    state = export_state(Engine(books, groups))
    with pytest.raises(ValueError, match="does not fit"):
        import_state(Engine([BookSpec(tick=1)]), state)


def test_import_refuses_an_arena_of_another_layout() -> None:
    # an exported arena from before the price ladders (layout 2) has no layout mark where this one has
    books, groups = exchange_books()
    state = export_state(Engine(books, groups))
    state["arena"] = state["arena"].copy()
    state["arena"][M_LAYOUT] = 7
    with pytest.raises(ValueError, match="another arena layout"):
        import_state(Engine(books, groups), state)
