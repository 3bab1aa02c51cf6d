"""An engine's state out and back in: what a snapshot of the matching core holds.

`export_state(engine)` copies the arena (books, orders, levels, STP owners, counters: one int64
array whose tables are found by offsets, never by address) and the best-price table;
`import_state(engine, state)` puts such a copy into an engine built for the same books and
groups, in place, so views handed out before (`top_prices`) stay valid. The reference book is
plain Python and is copied with `copy.deepcopy` or pickle instead.

Not here: files, formats or when to take a snapshot (the router's records stage does that).
"""
from __future__ import annotations

import numpy as np

from .engine import Engine
from .layout import HDR, LAYOUT, M_CPTR, M_CROWS, M_LAYOUT, M_NB, M_TOPS
from .types import NEF

__all__ = ["export_state", "import_state"]

def export_state(engine: Engine) -> dict:
    if engine._pending:
        raise RuntimeError("drain() the events of submit_at() before exporting the state")
    return {"arena": engine._A.copy(), "tops": engine._T.copy(), "groups": [list(g) for g in engine.groups],
            "event_rows": engine._E.size // NEF}

def import_state(engine: Engine, state: dict) -> None:
    arena = np.array(state["arena"], np.int64)
    if arena.size < HDR or int(arena[M_LAYOUT]) != LAYOUT:
        raise ValueError("engine state of another arena layout (an older version of the core): "
                         "rebuild it by replaying the commands")
    if int(arena[M_NB]) != engine._nb or state["groups"] != [list(g) for g in engine.groups]:
        raise ValueError(f"engine state for {int(arena[M_NB])} books and groups {state['groups']} does not fit "
                         f"an engine of {engine._nb} books and groups {engine.groups}")
    engine._spare.drop()                        # planned for the state being replaced
    engine._T[:] = state["tops"]
    arena[M_TOPS] = engine._T.ctypes.data       # the address of this engine's own table, not the exporter's
    arena[M_CPTR] = arena[M_CROWS] = 0
    engine._A = arena
    engine._set_events(max(int(state["event_rows"]), 256))
    engine._last_batch = engine._last_flat = None
    engine._pending = 0
    engine._top_arena = engine._top_offs = None
