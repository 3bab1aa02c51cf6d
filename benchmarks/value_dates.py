"""A fresh Loco London value date, counted two ways in one run, alternating: on the trading schedule
(the rule before settlement calendars: `settlement_calendar` and `payment_calendar` unset) and on
the LONDON / US_FED settlement calendars (today's default). Also what a fill pays when the ledger's
memo (`Ledger.fill_days`) already holds the day, which is nearly every fill.

Not a test and asserts nothing; figures only (benchmarks/README.md, "Value dates on settlement calendars").

usage: python -m benchmarks.value_dates [--rounds N]
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from datetime import date, timedelta

from router.config import load_config
from router.records.ledger import Ledger

DAYS = [date(2026, 1, 2) + timedelta(days=d) for d in range(360)]      # every day asked, weekends too
SWEEPS = 20


def ns_per_value_date(ledger: Ledger, instr) -> float:
    t = time.perf_counter_ns()
    for _ in range(SWEEPS):
        for d in DAYS:
            ledger.value_date(instr, d)
    return (time.perf_counter_ns() - t) / (SWEEPS * len(DAYS))


def ns_per_memo_hit(ledger: Ledger, instr, n: int = 200_000) -> float:
    now = 1_780_000_000 * 10**9          # 2026-05-28, inside an LLG session: one interval, all hits
    t = time.perf_counter_ns()
    for i in range(n):
        ledger.fill_days(instr, now + i * 1000)
    return (time.perf_counter_ns() - t) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    cfg = load_config()
    ledger = Ledger(cfg.catalogue, cfg.sections["calendars"])
    new = cfg.catalogue.instruments["HKGX.LLG"]
    old = dataclasses.replace(new, settlement_calendar=None, payment_calendar=None)
    res: dict[str, list[float]] = {"schedule (old)": [], "settlement calendars (new)": []}
    for r in range(args.rounds):
        pairs = [("schedule (old)", old), ("settlement calendars (new)", new)]
        for name, instr in (pairs if r % 2 else pairs[::-1]):       # alternate which goes first
            res[name].append(ns_per_value_date(ledger, instr))
    for name, v in res.items():
        print(f"{name:28s} median {sorted(v)[len(v) // 2]:7.0f} ns per fresh value date  {[round(x) for x in v]}")
    print(f"{'fill_days, memo hit':28s} {ns_per_memo_hit(ledger, new):7.0f} ns")


if __name__ == "__main__":
    main()
