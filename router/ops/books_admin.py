"""The admin side of the books of record, as a mixin of `RouterApp`: positions, obligations, statements
and margin calls to read; the end of day (settlement prices) and the published deferred fee to set.

Every change is one journaled admin command (`router.records.books_commands`, registered on the
application's command applier) with every input, the time included (`self.clock()` read once), so the
journal records it and a replay applies it again. The end of day also writes each active account's statement as CSV under the reports
directory (`records.reports_dir/statements/DAY/ACCOUNT.csv`, default `var/reports` relative to the
working directory). Obligations name the rails of `records.rails` and flag metal withdrawable by
`records.withdrawal` (per vault, the account sides that may take metal out). Every applied change is logged at INFO.

The books' trading-day roll (`roll_ledger`, asked at every timer tick; the answer depends only on the
books and the tick's time, so cluster cores applying the same ticks roll at the same one): when the
ledger holds trades no open day needs, one journaled `ledger_roll` command lets them go and they are
written to the trade archive (`<journal dir>/trades`, records.trade_archive), with one INFO line. Views
of a given past day (obligations, cross-border flows, statements) read its trades from the archive.

Not here: HTTP parsing (router.ops.books_api), the ledger's arithmetic (router.records).
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from router.ops.admin import AdminResult
from router.records.books_commands import deferred_fee_view
from router.records.ledger import Ledger, money_text
from router.records.obligations import cross_border_flows, obligations_view
from router.records.statements import statement, statement_csv
from router.records.trade_archive import TradeArchive, trades_of_days

log = logging.getLogger("gold_router.books")
DEFAULT_REPORTS_DIR = Path("var/reports")


def _day(raw: Any) -> date | AdminResult:
    try:
        return date.fromisoformat(raw) if isinstance(raw, str) else _bad_day(raw)
    except ValueError:
        return _bad_day(raw)


def _bad_day(raw: Any) -> AdminResult:
    return AdminResult(False, "bad_trading_day", f"trading_day must be YYYY-MM-DD, got {raw!r}")


class BooksAdmin:
    """Mixin of `RouterApp` (uses `flow`, `clock` and `ledger`)."""

    flow: Any
    clock: Any
    config: Any
    admin: Any                              # RouterApp.admin: one journaled admin command
    ledger: Ledger | None
    reports_dir: Path | None = None         # None: `records.reports_dir` of the configuration
    journal: Any = None
    trade_archive_dir: str | None = None    # where the archive goes without a file journal (a cluster core's)

    @property
    def trade_archive(self) -> TradeArchive | None:
        """The trade archive: `trade_archive_dir`, else beside the file journal (None without either)."""
        if self.trade_archive_dir is not None:
            return TradeArchive(self.trade_archive_dir)
        directory = getattr(self.journal, "directory", None)
        return None if directory is None else TradeArchive(Path(directory) / "trades")

    def _day_trades(self, day: date | None) -> list:
        """The trades of `day` (archived and held), or every trade held when None."""
        ledger = self.ledger
        if day is None:
            return list(ledger.trades)
        return [t for _, t in trades_of_days(ledger.trades, ledger.trades_dropped, day, day, self.trade_archive)]

    def roll_ledger(self, now_ns: int) -> AdminResult | None:
        """The books' trading-day roll when due (see the module docstring); None when not due."""
        ledger = self.ledger
        if ledger is None or not ledger.roll_due(now_ns):
            return None
        r = self.admin("ledger_roll", now_ns)
        if not r.ok:
            return AdminResult(False, r.reason, r.detail)
        data = dict(r.data)
        trades = data.pop("trades")
        where = "not archived (no file journal)"
        archive = self.trade_archive
        if archive is not None and trades:
            try:
                where = f"archived to {archive.write(data['first'], trades)}"
            except OSError:
                log.exception("trade archive write failed for trades T%d..T%d (the journal still has them)",
                              data["first"], data["first"] + len(trades) - 1)
                where = "NOT archived (write failed)"
        if self.metrics is not None:
            self.metrics.ledger_archived(len(trades))
        days = sorted({t.trading_day.isoformat() for t in trades})
        log.info("books of record rolled: %d trades of %s let go from memory, %s; %d trades held (%s); "
                 "end-of-day records kept from %s", len(trades), ", ".join(days) or "no day", where, data["held"],
                 ", ".join(data["held_days"]) or "none", data["history_from"])
        return AdminResult(True, data={**data, "archived": len(trades)})

    def positions_view(self, account: str) -> dict | None:
        """The account's cash, metal and positions (None: no such account)."""
        if self.ledger is None or account not in self.flow.accounts:
            return None
        return self.ledger.positions_view(self.flow.accounts.get(account))

    def obligations_view(self, trading_day: str | None, account: str | None) -> AdminResult:
        """The netted settlement obligations of `trading_day` (YYYY-MM-DD; every day when None)."""
        if self.ledger is None:
            return AdminResult(False, "not_supported", "this application keeps no books")
        day = None
        if trading_day is not None:
            day = _day(trading_day)
            if isinstance(day, AdminResult):
                return day
        if account is not None and account not in self.flow.accounts:
            return AdminResult(False, "unknown_account", f"no account {account!r}")
        records = self.config.sections.get("records")
        sides = {a.name: a.side for a in self.flow.accounts}
        return AdminResult(True, data=obligations_view(self._day_trades(day), day, account,
                                                       getattr(records, "rails", None),
                                                       getattr(records, "withdrawal", None), sides))

    def cross_border_view(self, trading_day: str | None) -> AdminResult:
        """Metal bought and sold across the border per day and direction, by account and in total."""
        if self.ledger is None:
            return AdminResult(False, "not_supported", "this application keeps no books")
        day = None if trading_day is None else _day(trading_day)
        if isinstance(day, AdminResult):
            return day
        return AdminResult(True, data=cross_border_flows(self._day_trades(day), day))

    def statement_view(self, account: str, trading_day: str) -> AdminResult:
        if self.ledger is None:
            return AdminResult(False, "not_supported", "this application keeps no books")
        day = _day(trading_day)
        if isinstance(day, AdminResult):
            return day
        if account not in self.flow.accounts:
            return AdminResult(False, "unknown_account", f"no account {account!r}")
        return AdminResult(True, data=statement(self.ledger, self.flow.accounts.get(account), day,
                                                self._day_trades(day)))

    def margin_calls_view(self) -> list[dict]:
        if self.ledger is None:
            return []
        return [{"account": a, "currency": c, "short": money_text(v, c)}
                for (a, c), v in sorted(self.ledger.margin_calls.items())]

    def settle_due(self, now_ns: int) -> list[AdminResult]:
        """The timer's end of day: each instrument with a `records.settlement_deadline` that has passed
        (venue-local time, on a trading day) without a posted settlement price settles at the day's last
        trade (or its last settlement price when it did not trade), if any account holds a position."""
        records = self.config.sections.get("records")
        deadlines = getattr(records, "settlement_deadline", None)
        if self.ledger is None or not deadlines:
            return []
        cat, ledger, done = self.flow.catalogue, self.ledger, []
        for symbol, minutes in sorted(deadlines.items()):
            instr = cat.instruments[symbol]
            local = datetime.fromtimestamp(now_ns / 1e9, timezone.utc).astimezone(
                ZoneInfo(cat.venues[instr.venue].tz))
            day = local.date()
            if local.hour * 60 + local.minute < minutes or ledger.settled(day, symbol):
                continue
            if ledger.calendars is not None and not ledger.calendars.is_trading_day(instr.schedule, day):
                continue
            if not any(p.lots for (_, s), p in ledger.positions.items() if s == symbol):
                continue
            px = ledger.last_price(symbol, day)
            if px is None:
                continue
            log.info("no settlement price for %s on %s by the deadline: settling at the day's last price %s",
                     symbol, day, instr.units_to_price(px))
            done.append(self.set_settlement_prices(day.isoformat(), {symbol: instr.units_to_price(px)},
                                                   now_ns=now_ns))
        return done

    def set_settlement_prices(self, trading_day: Any, prices: dict[str, Decimal], *,
                              now_ns: int | None = None) -> AdminResult:
        """The end of `trading_day` for the margined instruments priced, as a journaled command
        (`records.books_commands`); then each active account's statement as CSV."""
        if self.ledger is None:
            return AdminResult(False, "not_supported", "this application keeps no books")
        r = self.admin("settlement_prices", self.clock() if now_ns is None else now_ns,
                       trading_day=trading_day, prices={s: str(p) for s, p in prices.items()})
        if not r.ok:
            return AdminResult(False, r.reason, r.detail)
        data = dict(r.data)
        log.info("end of day %s settled at %s: %d positions marked, %d margin calls open", trading_day,
                 ", ".join(f"{s} {p}" for s, p in sorted(prices.items())), len(data["moves"]),
                 len(data["margin_calls"]))
        data["statements"] = self._write_statements(date.fromisoformat(trading_day))
        return AdminResult(True, data=data)

    def set_deferred_fee(self, fees: dict[str, tuple[str, Decimal]]) -> AdminResult:
        """The published deferred fee per instrument (direction, basis points per calendar day), journaled."""
        if self.ledger is None:
            return AdminResult(False, "not_supported", "this application keeps no books")
        r = self.admin("deferred_fee", self.clock(), fees={s: {"direction": d, "rate_bp_per_day": str(bp)}
                                                           for s, (d, bp) in fees.items()})
        return AdminResult(True, data=r.data) if r.ok else AdminResult(False, r.reason, r.detail)

    def deferred_fee_view(self) -> dict:
        return {} if self.ledger is None else deferred_fee_view(self.ledger)

    def _write_statements(self, day: date) -> list[str]:
        """Each account active on `day` gets its statement as CSV under the reports directory."""
        if self.ledger is None:
            return []
        records = self.config.sections.get("records")
        base = self.reports_dir or Path(getattr(records, "reports_dir", DEFAULT_REPORTS_DIR))
        day_trades = self._day_trades(day)
        active = {t.account for t in day_trades}
        for s in self.ledger.settlements:
            if s["trading_day"] == day:
                active |= {m["account"] for m in s["moves"]}
        folder = base / "statements" / day.isoformat()
        files = []
        for name in sorted(active):
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{name}.csv"
            path.write_text(statement_csv(statement(self.ledger, self.flow.accounts.get(name), day, day_trades)),
                            encoding="utf-8")
            files.append(str(path))
        if files:
            log.info("statements for %s written under %s", day, folder)
        return files


__all__ = ["BooksAdmin", "DEFAULT_REPORTS_DIR"]
