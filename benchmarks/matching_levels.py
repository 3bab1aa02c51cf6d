"""How much level search the matching core still does on the benchmark stream (sizing a full price ladder).

The core finds the level of a price through its per-side price ladder (layout: an NQ-tick window
around the touch); what still searches is the sorted side array: bisection (`_position`) when a
price gets a new level and when a level that is not the best one empties. A full dense ladder
(levels only in per-book arrays, no sorted side) would remove those searches and nothing else, so
their cost bounds its gain. This script measures both factors on the seeded stream of
`benchmarks.matching` (`benchmarks.streams.generate`):

1. per command after the prefill: levels created, best levels emptied and other levels emptied
   (from each side's level prices before and after the command, one command at a time; a level
   emptied and made again within one command counts as neither), and the side depth at the time.
   "Other" means behind the touch when the command began, so a trade that empties two levels counts
   one; it bounds the removals that search from above;
2. CPU ns per `_position` call on the books the stream leaves, for prices of random levels and of
   levels near the touch (where new levels mostly appear), in a compiled loop of 1M calls.

Their product is the estimate (ns of search per command). Not here: any change to the core, or the
kernel's total time (that is `benchmarks.matching` / `benchmarks.ab_matching`).

usage: python -m benchmarks.matching_levels [--commands N] [--resting R] [--seed S] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

from benchmarks._timing import PROCESS_START_LOAD, machine_description, machine_line
from benchmarks.streams import exchange_books, generate
from matching import Engine
from matching.kernels_levels import _position
from matching.layout import K_NLEV, L_PRICE, views


@njit(cache=False)
def _search_loop(K, S, L, books, sides, prices):
    acc = 0
    for i in range(books.shape[0]):
        acc += _position(K, S, L, books[i], sides[i], prices[i])
    return acc


def _sides(eng: Engine, nb: int) -> list[list[int]]:
    """Level prices of every side, best first (bids then asks per book)."""
    out = []
    for b in range(nb):
        bids, asks = eng.depth(b, 1 << 30)
        out += [bids["price"].tolist(), asks["price"].tolist()]
    return out


def count_levels(cmds: np.ndarray, prefill: int) -> dict:
    books, groups = exchange_books()
    eng = Engine(books, groups)
    eng.reserve(orders=len(cmds), events=3 * len(cmds))
    eng.process(cmds[:prefill])
    created = emptied_best = emptied_other = depth_sum = 0
    before = _sides(eng, len(books))
    for i in range(prefill, len(cmds)):
        eng.process_at(cmds, i, copy=False)
        after = _sides(eng, len(books))
        for old, new in zip(before, after):
            if old == new:
                continue
            gone, came = set(old) - set(new), set(new) - set(old)
            created += len(came)
            depth_sum += len(old) * len(came)
            emptied_best += sum(1 for p in gone if p == old[0])
            emptied_other += sum(1 for p in gone if p != old[0])
        before = after
    n = len(cmds) - prefill
    return {"commands": n, "new_levels_per_cmd": created / n, "best_emptied_per_cmd": emptied_best / n,
            "other_emptied_per_cmd": emptied_other / n, "mean_depth_at_new_level": depth_sum / max(created, 1),
            "engine": eng}


def search_ns(eng: Engine, seed: int, n: int = 1_000_000, repeat: int = 5) -> dict:
    K, _, S, L = views(eng._A)[:4]
    nb = K.shape[0]
    rng = np.random.default_rng(seed)
    books = rng.integers(0, nb, n).astype(np.int64)
    sides = rng.integers(0, 2, n).astype(np.int64)
    counts = K[books, K_NLEV + sides]
    rows = 2 * books + sides
    out = {}
    for name, idx in (("random_level", (rng.random(n) * counts).astype(np.int64)),
                      ("near_touch", np.maximum(0, counts - rng.geometric(0.3, n)))):
        prices = L[S[rows, idx], L_PRICE].astype(np.int64)
        _search_loop(K, S, L, books[:8], sides[:8], prices[:8])    # compile
        runs = []
        for _ in range(repeat):
            c0 = time.thread_time_ns()
            _search_loop(K, S, L, books, sides, prices)
            runs.append((time.thread_time_ns() - c0) / n)
        out[name] = statistics.median(runs)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.matching_levels", description=__doc__.splitlines()[0])
    ap.add_argument("--commands", type=int, default=200_000)
    ap.add_argument("--resting", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    cmds = generate(a.commands, seed=a.seed, resting=a.resting)
    counts = count_levels(cmds, min(a.resting, a.commands // 2))
    ns = search_ns(counts.pop("engine"), a.seed)
    searches = counts["new_levels_per_cmd"] + counts["other_emptied_per_cmd"]
    est = (searches * ns["random_level"], searches * ns["near_touch"])
    result = {"benchmark": "matching_levels", **counts, "position_cpu_ns": ns,
              "searches_per_cmd": searches, "search_ns_per_cmd": est,
              "machine": machine_description(PROCESS_START_LOAD)}
    print(f"{counts['commands']} commands after the prefill: per command {counts['new_levels_per_cmd']:.4f} "
          f"new levels (side depth {counts['mean_depth_at_new_level']:.0f}), {counts['best_emptied_per_cmd']:.4f} "
          f"best levels emptied (no search), {counts['other_emptied_per_cmd']:.4f} other levels emptied "
          f"(at most that many searched)")
    print(f"_position: {ns['random_level']:.1f} ns CPU per call (random level), "
          f"{ns['near_touch']:.1f} ns (near the touch)")
    print(f"level search left: at most {searches:.4f} searches, {est[1]:.1f}-{est[0]:.1f} ns CPU per command")
    print(machine_line(result["machine"]))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
