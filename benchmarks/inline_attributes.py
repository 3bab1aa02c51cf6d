"""Why unpickled objects get their attributes one by one: attribute reads on CPython 3.11 by how the
object was made.

One method reading five attributes, 1,000,000 calls, best of 5, `time.process_time_ns()`, on an
object made by `__init__`, unpickled by pickle's default (state written into `__dict__`), made by
`__init__` and then its `__dict__` touched, unpickled through a `__setstate__` that sets the attributes
one by one (`router.records.snapshot._set_state`), and made by `__init__` then `__dict__.update`d.
Each case runs in its own process (the interpreter specialises the method for the objects it sees).

Not here: anything of the router (benchmarks.ab_replay measures the replay).

usage: python -m benchmarks.inline_attributes
"""
from __future__ import annotations

import pickle
import subprocess
import sys
import time

CASES = ("init", "unpickled", "dict_touched", "set_one_by_one", "dict_update")


class A:
    def __init__(self) -> None:
        self.a = 1
        self.b = 2
        self.c = 3
        self.d = 4
        self.e = 5

    def f(self) -> int:
        return self.a + self.b + self.c + self.d + self.e


class B(A):
    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)


def one(case: str) -> float:
    if case == "init":
        o = A()
    elif case == "unpickled":
        o = pickle.loads(pickle.dumps(A()))
    elif case == "dict_touched":
        o = A()
        o.__dict__
    elif case == "set_one_by_one":
        o = pickle.loads(pickle.dumps(B()))
    else:
        o = A()
        o.__dict__.update({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    f = o.f
    best = float("inf")
    for _ in range(5):
        t = time.process_time_ns()
        for _ in range(1_000_000):
            f()
        best = min(best, (time.process_time_ns() - t) / 1e6)
    return best


def main() -> int:
    if len(sys.argv) > 1:
        print(one(sys.argv[1]))
        return 0
    for case in CASES:
        out = subprocess.run([sys.executable, "-P", __file__, case], capture_output=True, text=True, check=True)
        print(f"{case:<15} {float(out.stdout):6.1f} ns per call ({sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
