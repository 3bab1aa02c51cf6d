"""Fixtures: every behavioural test runs against the numba Engine and the reference book."""
import numpy as np
import pytest

from matching import COMMAND_DTYPE, BookSpec, Engine, ReferenceBook, commands

IMPLS = {"numba": Engine, "reference": ReferenceBook}


@pytest.fixture(scope="session", autouse=True)
def _warm():
    # one compile/cache load per session, not per test
    Engine([BookSpec(tick=1)]).warm_up()


@pytest.fixture(params=sorted(IMPLS))
def make(request):
    """make(books, groups=None, capacity=16) -> a fresh book of the parametrised implementation."""
    cls = IMPLS[request.param]

    def factory(books, groups=None, capacity=16):
        return cls(books, groups, capacity=capacity)
    return factory


def batch(*rows: dict) -> np.ndarray:
    """Commands from dicts of field values (unset fields 0, rest_book -1, time 1)."""
    c = commands(len(rows))
    c["time"] = 1
    for i, row in enumerate(rows):
        for k, v in row.items():
            c[i][k] = int(v)
    assert c.dtype == COMMAND_DTYPE
    return c


def kinds(events) -> list[tuple[int, int]]:
    return [(int(e["kind"]), int(e["reason"])) for e in events]
