"""matching.indexing: numba functions of the package index arrays as is; numba code elsewhere still
counts a negative index from the end. The kernels' rules under it are the differential tests' job."""
from __future__ import annotations

import numpy as np
from numba import njit

import matching  # noqa: F401  (installs the plain indexing, as any use of the package does)
from matching import indexing


def _read_at(module: str):
    """A fresh numba function `f(a, i) -> a[i]` that numba names as part of `module`."""
    scope = {"__name__": module}
    exec("def read_at(a, i):\n    return a[i]\n", scope)
    return njit(cache=False)(scope["read_at"])


def test_a_function_of_the_package_reads_a_negative_index_as_is():
    whole = np.arange(10, dtype=np.int64)
    tail = whole[1:]          # a[-1] as is is the element just before the view: whole[0]
    assert _read_at("matching.probe_plain")(tail, -1) == whole[0] == 0
    assert _read_at("matching.probe_plain")(tail, 3) == 4


def test_numba_code_outside_the_package_keeps_the_wraparound():
    whole = np.arange(10, dtype=np.int64)
    tail = whole[1:]
    assert _read_at("elsewhere.probe_wrap")(tail, -1) == 9


def test_install_is_idempotent():
    from numba.np import arrayobj
    before = arrayobj.fix_integer_index
    indexing.install()
    assert arrayobj.fix_integer_index is before
    assert before.plain_in_matching


def test_a_numba_without_the_internal_keeps_its_own_indexing_and_says_so(monkeypatch, caplog):
    from numba.np import arrayobj
    monkeypatch.delattr(arrayobj, "fix_integer_index")
    with caplog.at_level("WARNING", logger="matching.indexing"):
        indexing.install()          # must not raise: the router still starts, only slower
    assert not hasattr(arrayobj, "fix_integer_index")
    assert "fix_integer_index" in caplog.text and "wraparound" in caplog.text
