"""The trade archive: the books of record's trades of past days, on disk, once the ledger lets them go.

At each trading-day roll (`Ledger.roll`, a journaled command) the ledger drops from memory the trades
no current trading day or open settlement obligation needs; the application then writes them here, one
file per roll: `<dir>/T<first>-T<last>_<first day>_<last day>.jsonl` (trade numbers as TradeReportID
counts them, from 1; trading days as YYYY-MM-DD), one JSON object per trade with its number. A file is
written to a temporary name, fsynced and renamed, so a crash leaves no half file; writing the same roll
again (a restart that replays it) rewrites the same name with the same content. Reading picks the files
whose day range meets the days asked for, from their names alone, and returns the trades of those days
by number, each number once (after a crash two files may overlap; a number is always the same trade).

The directory is `<journal dir>/trades` for a service with a file journal. Without one there is no
archive: past days are then answered from memory only, which holds the days still open.

Not here: deciding what to drop (records.ledger), FIX (records.trade_capture), the clock.
"""
from __future__ import annotations

import json
import logging
import os
import re
from datetime import date
from pathlib import Path
from typing import Iterable, Iterator

from router.records.ledger import Trade

log = logging.getLogger("gold_router.ledger")

_NAME = re.compile(r"^T(\d+)-T(\d+)_(\d{4}-\d\d-\d\d)_(\d{4}-\d\d-\d\d)\.jsonl$")
_DATES = ("trading_day", "value_date")


def _row(no: int, t: Trade) -> str:
    d = t._asdict()
    for k in _DATES:
        d[k] = d[k].isoformat()
    return json.dumps({"no": no, **d}, separators=(",", ":"), sort_keys=True)


def _trade(row: dict) -> tuple[int, Trade]:
    no = row.pop("no")
    for k in _DATES:
        row[k] = date.fromisoformat(row[k])
    return no, Trade(**row)


class TradeArchive:
    """The archive directory: `write` one roll's trades, `read` the trades of a range of days."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    def write(self, first_no: int, trades: list[Trade]) -> Path | None:
        """Trades numbered first_no, first_no + 1, ... as one file; None when there are none."""
        if not trades:
            return None
        last_no = first_no + len(trades) - 1
        days = [t.trading_day for t in trades]
        path = self.directory / f"T{first_no}-T{last_no}_{min(days).isoformat()}_{max(days).isoformat()}.jsonl"
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for n, t in enumerate(trades):
                f.write(_row(first_no + n, t))
                f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        return path

    def files(self, first: date, last: date) -> list[Path]:
        """The archive files holding trades of a day in first..last, in trade-number order."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        picked = []
        for name in names:
            m = _NAME.match(name)
            if m and date.fromisoformat(m.group(3)) <= last and date.fromisoformat(m.group(4)) >= first:
                picked.append((int(m.group(1)), name))
        return [self.directory / name for _, name in sorted(picked)]

    def read(self, first: date, last: date, below: int | None = None) -> list[tuple[int, Trade]]:
        """(number, trade) of every archived trade of a day in first..last (numbered below `below`,
        when given), in number order."""
        seen: dict[int, Trade] = {}
        for path in self.files(first, last):
            for no, t in self._rows(path):
                if first <= t.trading_day <= last and (below is None or no < below):
                    seen.setdefault(no, t)
        return sorted(seen.items())

    @staticmethod
    def _rows(path: Path) -> Iterator[tuple[int, Trade]]:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield _trade(json.loads(line))


def trades_of_days(held: Iterable[Trade], base: int, first: date, last: date,
                   archive: TradeArchive | None) -> list[tuple[int, Trade]]:
    """(number, trade) of every trade of a day in first..last: the archived ones (numbered below `base`,
    the number of the first trade still held) and those held in memory, in number order."""
    out = archive.read(first, last, below=base + 1) if archive is not None else []
    out += [(base + n, t) for n, t in enumerate(held, 1) if first <= t.trading_day <= last]
    return out


__all__ = ["TradeArchive", "trades_of_days"]
