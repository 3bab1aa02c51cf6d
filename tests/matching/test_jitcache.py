"""matching.jitcache fingerprints every module whose numba code a cached kernel may inline, and the
benchmarks' extraction (benchmarks/_ab.py) copies a cache only when that same list is unchanged: a
module missing from either list would let a kernel run a stale copy of its helpers."""
from __future__ import annotations

import re
from pathlib import Path

from benchmarks import _ab
from matching import jitcache

MATCHING = Path(jitcache.__file__).resolve().parent


def test_every_module_with_numba_code_is_fingerprinted():
    compiled = {p.name for p in MATCHING.glob("*.py")
                if re.search(r"^@(njit|intrinsic)\b", p.read_text(), re.MULTILINE)}
    assert compiled <= set(jitcache._SOURCES), compiled - set(jitcache._SOURCES)
    assert "indexing.py" in jitcache._SOURCES       # changes how every kernel is lowered
    assert all((MATCHING / name).is_file() for name in jitcache._SOURCES)


def test_the_benchmarks_extract_by_the_same_list():
    assert tuple(_ab._KERNEL_SOURCES) == tuple(jitcache._SOURCES)
