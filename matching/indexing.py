"""Plain array indexing in the matching kernels: an index is taken as is, never counted from the end.

numba gives an array index of a signed type Python's meaning, a negative index counting from the
end: for every `O[r, f]` it emits the sign, a mask by the dimension and an add before the stride's
multiply, and the kernels do hundreds of such reads per command (about 11 % of their instructions,
benchmarks/README.md "Plain indexing"). No kernel indexes from the end: every index is a row, field,
level or slot, >= 0, and a "none" (-1: no level, no order, no slot) is tested before it is used.
`install()` makes numba lower a signed index of an array as the index itself in functions of this
package (their mangled names start with `_ZN8matching`); numba code elsewhere keeps the wraparound.

It must run before any kernel is compiled (matching/__init__ calls it before importing the engine);
this file is one of the kernel sources `jitcache` fingerprints, so a change to it drops the cache.
A kernel that indexed with a negative number would now read outside the array instead of from its
end: tests/matching/test_indexing.py shows both behaviours, the differential tests the rules.

Not here: the layout (`layout`), any kernel.
"""
from __future__ import annotations

import logging

import numba

log = logging.getLogger(__name__)
_PREFIX = "_ZN8matching"   # numba's mangled name of a function of this package (Itanium: length, name)


def install() -> None:
    """Make numba lower signed indexes of the package's functions without wraparound (idempotent).
    On a numba without the internal this replaces, the kernels keep numba's own indexing (correct,
    ~15 % slower) and a warning says so: a numba upgrade must never stop the router from starting."""
    from numba.core import types
    from numba.np import arrayobj
    wrapping = getattr(arrayobj, "fix_integer_index", None)
    if wrapping is None:
        log.warning("numba %s has no numba.np.arrayobj.fix_integer_index: the matching kernels keep "
                    "numba's negative-index wraparound (correct, slower)", numba.__version__)
        return
    if getattr(wrapping, "plain_in_matching", False):
        return

    def fix_integer_index(context, builder, idxty, idx, size):
        if idxty.signed and builder.function.name.startswith(_PREFIX):
            return context.cast(builder, idx, idxty, types.intp)
        return wrapping(context, builder, idxty, idx, size)

    fix_integer_index.plain_in_matching = True
    arrayobj.fix_integer_index = fix_integer_index
