"""Memory the books of record hold over simulated trading days, with and without the trading-day roll.

The real application (numba core, file journal in a temporary directory) is driven in process with
time passed in: each simulated trading day two sessions cross `--pairs` order pairs on each of three
books (SGE.AU9999 and HKGX.RKG settle T+0, HKGX.LLG T+2), then a timer tick. After each day the run
prints the trades the ledger holds, the trades let go to the archive, and the ledger's size as a
snapshot stores it (pickled bytes, without what configuration rebuilds: catalogue, calendars,
metrics). `--no-roll` turns the roll off (the behaviour before it): every trade of every day stays in
memory.

usage: python -m benchmarks.ledger_days [--days N] [--pairs N] [--no-roll]
"""
from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from datetime import date, timedelta

from router.app import build_router_app
from router.config import load_config
from router.fix.codec import encode, parse_frame, utc_timestamp
from router.records.journal import FileJournal
from router.records.snapshot import EXTERNAL

T0 = 1_764_900_000_000_000_000          # Friday 2025-12-05 10:00 in Shanghai and Hong Kong
DAY_NS = 86_400 * 10**9
BOOKS = (("SGE.AU9999", "560.00"), ("HKGX.RKG", "560.00"), ("HKGX.LLG", "2400.00"))


class _Handle:
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id

    def send(self, msg_type: bytes, body: list) -> bool:
        return True


def trading_days(n: int) -> list[int]:
    """Offsets from T0 of the first n weekdays that are trading days in both cities (calendar checked)."""
    cal = load_config().sections["calendars"]
    out, k = [], 0
    while len(out) < n:
        day = date(2025, 12, 5) + timedelta(days=k)
        if all(cal.is_trading_day(s, day) for s in ("SGE_SPOT", "HKGX_EPLATFORM", "HKGX_LLG")):
            out.append(k)
        k += 1
    return out


def fills_today(ledger) -> int:
    last = max((t.trading_day for t in ledger.trades), default=None)
    return sum(1 for t in ledger.trades if t.trading_day == last)


def run(days: int, pairs: int, roll: bool) -> list[tuple[int, int, int, int]]:
    now = [T0]

    def clock() -> int:
        now[0] += 1_000_000
        return now[0]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        app = build_router_app(load_config(), sessions_always_open=True, clock=clock, journal=FileJournal(tmp))
        if not roll:
            app.roll_ledger = lambda now_ns: None            # type: ignore[method-assign]
        app.recover()
        handles = {s: _Handle(s) for s in ("SHCLIENT1", "HKCLIENT1")}
        seq = dict.fromkeys(handles, 1)
        for h in handles.values():
            app.on_logon(h)
        for day, offset in enumerate(trading_days(days)):
            now[0] = T0 + offset * DAY_NS
            app.on_timer(clock())
            for n in range(pairs):
                for symbol, price in BOOKS:
                    # Alternate who sells, so cash, metal and positions go back and forth.
                    sides = (("HKCLIENT1", 2), ("SHCLIENT1", 1)) if n % 2 == 0 else (("SHCLIENT1", 2), ("HKCLIENT1", 1))
                    for session, side in sides:
                        now[0] += 25_000_000            # 40 orders/s per session: under risk.msg_rate
                        body = [(11, f"{session[0]}{day}-{symbol}-{n}"), (55, symbol), (54, side),
                                (60, utc_timestamp(now[0])), (38, 1), (40, 2), (44, price), (59, 1)]
                        frame = encode(b"D", session.encode(), b"GOLDRTR", seq[session], utc_timestamp(now[0]), body)
                        seq[session] += 1
                        app.on_message(handles[session], parse_frame(frame))
            app.on_timer(clock())
            app.commit()
            ledger = app.ledger
            state = {k: v for k, v in ledger.__dict__.items() if k not in EXTERNAL}   # as a snapshot keeps it
            rows.append((len(ledger.trades), ledger.trades_dropped, len(pickle.dumps(state)), fills_today(ledger)))
        app.journal.close()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=20)
    p.add_argument("--pairs", type=int, default=200, help="crossing order pairs per book and day")
    p.add_argument("--no-roll", action="store_true", help="without the trading-day roll (as before it)")
    args = p.parse_args()
    t0 = time.perf_counter()
    rows = run(args.days, args.pairs, not args.no_roll)
    print(f"ledger over {args.days} trading days, {args.pairs} pairs x 3 books a day "
          f"(up to {6 * args.pairs} trades a day), roll {'off' if args.no_roll else 'on'}:")
    print(f"{'day':>4} {'traded':>7} {'held':>8} {'archived':>9} {'ledger pickled bytes':>21}")
    for day, (held, dropped, size, today) in enumerate(rows, 1):
        print(f"{day:>4} {today:>7} {held:>8} {dropped:>9} {size:>21,}")
    print(f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
