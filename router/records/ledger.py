"""The books of record: every fill by trading day, positions and margin of margined instruments, and
the end-of-day mark to settlement prices.

`Ledger` is the order flow's fill observer (`router.orders.fills.FillObserver`). For every fill it
keeps a `Trade` record (trading day and value date from the venue calendars, clearing house, vault,
bar form, gross and fine metal, fee, border direction), which statements and the settlement
obligations (`records.obligations`) are computed from. For a fill of a margined instrument (SGE T+D,
HKGX.LLG: any instrument with a `margin_rate`) it also moves the account's cash: an opening fill
moves initial margin (rate x value, rounded up to the micro-unit) from cash to margin held and charges
the fee; a closing fill releases the position's margin pro rata, realises P&L against the position's
basis (its open value, reset to the settlement price at each end of day) and charges the fee.
`settle(prices, ...)` is the end of day for the instruments priced: variation margin to the
settlement price, the deferred fee in the published direction, and the new margin requirement.

Amounts are integers: micro-units of the settlement currency, micrograms of metal; time is passed in.
Everything here is a pure function of the fills and commands it is given, so replaying them rebuilds
the same ledger. Full-payment fills have already moved cash and metal on the `Account` (orders.funds).

Memory stays bounded over weeks: `roll(now_ns)`, the trading-day roll of the books (a journaled admin
command, `records.books_commands`, so a replay drops the same trades), lets go of the oldest trades
once each one's trading day has ended and its value date has passed (a prefix of `trades`, so a trade's
number, `trades_dropped` + its index + 1, never changes), and of end-of-day records older than
`HISTORY_DAYS`. The application writes the trades let go to the trade archive (records.trade_archive).

Not here: HTTP (router.ops.admin), netting (records.obligations), the clock, FX, files.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from router.domain.catalogue import Catalogue
from router.orders.fills import Fill
from router.records.ledger_days import FillDays

log = logging.getLogger("gold_router.ledger")

MICRO = 1_000_000
PPM = 1_000_000
# Minor units of each settlement currency (ISO 4217): money is shown with this many decimals.
CCY_DECIMALS = {"CNY": 2, "CNH": 2, "HKD": 2, "USD": 2}
DIRECTIONS = ("longs_pay", "shorts_pay")
# End-of-day records (settlements, closing balances, days settled) kept this many calendar days back
# from the earliest current trading day; a settlement price for an older day is refused.
HISTORY_DAYS = 7


def money_text(micro: int, ccy: str) -> str:
    """Micro-units as a decimal string in the currency's precision (half-even), e.g. "-223713.81"."""
    d = Decimal(micro).scaleb(-6).quantize(Decimal(1).scaleb(-CCY_DECIMALS.get(ccy, 2)), ROUND_HALF_EVEN)
    return str(d)


def grams_text(ug: int) -> str:
    """Micrograms as grams with up to 6 decimals, no trailing zeros."""
    d = Decimal(ug).scaleb(-6).normalize()
    return f"{d:f}"


class Trade(NamedTuple):
    """One account's fill as the books of record keep it."""

    trading_day: date
    value_date: date
    account: str
    symbol: str
    venue: str               # the clearing house: SGE (Main Board), SGEI (International Board), HKGX
    side: int                # 1 buy, 2 sell
    lots: int
    px: int                  # instrument price units
    value: int               # micro settlement currency
    fee: int
    ccy: str
    vault: str
    bar_form: str
    gross_ug: int
    fine_ug: int
    margined: bool
    direction: str
    realised: int            # micro settlement currency, margined fills closing a position
    margin: int              # margin moved to (+) or released from (-) margin held
    order_id: str
    now_ns: int
    value_cny: int = 0       # micro-CNY at the router's FX (the cross-border quota's measure)


_new = tuple.__new__
if len(Trade._fields) != 22 or len(Fill._fields) != 15:
    raise ImportError("Trade or Fill changed: Ledger.on_fill unpacks a Fill's 15 fields and builds a Trade's 22")


class Position:
    """An open position in one margined instrument: signed lots, basis value, margin held, P&L."""

    __slots__ = ("symbol", "ccy", "lots", "basis", "margin", "realised", "fees", "deferred")

    def __init__(self, symbol: str, ccy: str) -> None:
        self.symbol = symbol
        self.ccy = ccy
        self.lots = 0            # + long, - short
        self.basis = 0           # value of the open lots at their basis prices (micro, >= 0)
        self.margin = 0          # micro held for this position
        self.realised = 0        # micro, cumulative (closing trades and variation margin)
        self.fees = 0            # micro, cumulative
        self.deferred = 0        # micro, cumulative deferred fee received (+) / paid (-)


class Ledger(FillDays):
    """Trades, positions and margin for one catalogue; see the module docstring."""

    # Defaults for a ledger unpickled from a snapshot written before the roll existed.
    trades_dropped = 0
    history_from: date | None = None

    def __init__(self, catalogue: Catalogue, calendars: Any = None, metrics: Any = None) -> None:
        self.catalogue = catalogue
        self.calendars = calendars
        self.metrics = metrics
        self.trades: list[Trade] = []                              # held: the open days (see `roll`)
        self.trades_dropped = 0                                     # trades let go at the rolls (numbers 1..this)
        self.history_from: date | None = None                       # end-of-day records kept from this day
        self.positions: dict[tuple[str, str], Position] = {}      # (account, symbol)
        self.margin_held: dict[tuple[str, str], int] = {}         # (account, ccy) -> micro
        self.marks: dict[str, tuple[int, str]] = {}               # symbol -> (price units, "trade"|"settlement")
        self.settlements: list[dict] = []                          # the end-of-day commands applied
        self.deferred: dict[str, tuple[str | None, int]] = {}     # symbol -> (who pays, ppm per day)
        self.margin_calls: dict[tuple[str, str], int] = {}        # (account, ccy) -> micro short
        self._settled: set[tuple[date, str]] = set()
        self.closing: dict[tuple[date, str], dict[str, tuple[int, int]]] = {}   # (day, account) -> ccy -> (cash, margin)
        self._margin_ppm = {s: _ceil(i.margin_rate * PPM) for s, i in catalogue.instruments.items()
                            if i.margin_rate is not None}
        # micro settlement currency per (price unit x lot): exact for margined instruments, which are
        # settled in their quote currency.
        self._unit_value = {s: int(i.lot_size.scaleb(-i.price_decimals) * MICRO)
                            for s, i in catalogue.instruments.items() if i.quote_ccy == i.settlement_ccy}
        self._tz = {v: ZoneInfo(x.tz) for v, x in catalogue.venues.items()}
        for s, i in catalogue.instruments.items():
            if i.margin_rate is not None:
                # The configured rate; who pays is published daily (POST /deferred-fee): none until then.
                self.deferred[s] = (None, _ceil(i.carry_bp_per_day * 100))

    # -- fills -------------------------------------------------------------------------------------
    def on_fill(self, fill: Fill, account: Any) -> None:
        # The fill's fields unpacked once: one step instead of a NamedTuple attribute read per field
        # (some twenty per fill; benchmarks/README.md, "The crossing trade, session 11").
        (acct_name, symbol, side, lots, px, value, fee, ccy, vault, gross_ug, margined, direction, order_id,
         now_ns, value_cny) = fill
        instr = self.catalogue.instruments[symbol]
        realised = margin_moved = 0
        if margined:
            realised, margin_moved = self._margined(fill, account)
        self.marks[symbol] = (px, "trade")
        day, value_date = self.fill_days(instr, now_ns)
        fine = gross_ug if not instr.fineness_adjust else int(gross_ug * instr.fineness)
        trades = self.trades
        # tuple.__new__ skips the NamedTuple's generated __new__ (every field given, in order).
        trades.append(_new(Trade, (day, value_date, acct_name, symbol, instr.venue, side, lots, px, value, fee,
                                   ccy, vault, instr.bar_form, gross_ug, fine, margined, direction, realised,
                                   margin_moved, order_id, now_ns, value_cny)))
        if self.metrics is not None:
            self.metrics.ledger_trade(instr.venue, len(trades))
            if margin_moved:
                self._margin_metric(ccy)

    def _margin_metric(self, ccy: str) -> None:
        total = sum(v for (_, c), v in self.margin_held.items() if c == ccy)
        self.metrics.set_margin_held(ccy, Decimal(total).scaleb(-6))

    def _margined(self, fill: Fill, account: Any) -> tuple[int, int]:
        """Open or close (or both, when a fill crosses through flat) the account's position."""
        key = (fill.account, fill.symbol)
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position(fill.symbol, fill.ccy)
        rate = self._margin_ppm[fill.symbol]
        signed = fill.lots if fill.side == 1 else -fill.lots
        realised = released = 0
        lots_left, value_left = fill.lots, fill.value
        if pos.lots and (pos.lots > 0) != (signed > 0):
            # Closing: release margin and basis pro rata, realise P&L against the basis.
            held = abs(pos.lots)
            close = min(held, fill.lots)
            close_value = fill.value * close // fill.lots
            basis = pos.basis * close // held
            released = pos.margin * close // held
            realised = close_value - basis if pos.lots > 0 else basis - close_value
            pos.basis -= basis
            pos.margin -= released
            pos.lots += close if pos.lots < 0 else -close
            pos.realised += realised
            lots_left -= close
            value_left -= close_value
        opened = 0
        if lots_left:
            opened = -(-value_left * rate // PPM)
            pos.lots += lots_left if signed > 0 else -lots_left
            pos.basis += value_left
            pos.margin += opened
        pos.fees += fill.fee
        moved = opened - released
        mk = (fill.account, fill.ccy)
        self.margin_held[mk] = self.margin_held.get(mk, 0) + moved
        account.cash[fill.ccy] = account.cash.get(fill.ccy, 0) - moved - fill.fee + realised
        if self.margin_calls:
            self._check_calls(account, fill.now_ns)
        return realised, moved

    # -- end of day -----------------------------------------------------------------------------------
    def set_deferred_fee(self, symbol: str, direction: str | None, ppm_per_day: int) -> None:
        """The deferred fee the exchange published for `symbol`: who pays ("longs_pay", "shorts_pay",
        None: no transfer) and the rate in parts per million of the settled value per calendar day."""
        self.deferred[symbol] = (direction, ppm_per_day)
        log.info("deferred fee %s: %s at %s bp/day", symbol, direction or "none", Decimal(ppm_per_day) / 100)

    def settled(self, trading_day: date, symbol: str) -> bool:
        return (trading_day, symbol) in self._settled

    def _days_to_next(self, symbol: str, day: date) -> int:
        """Calendar days the deferred fee covers: to the next trading day (3 over a weekend)."""
        if self.calendars is None:
            return 1
        try:
            return (self.calendars.next_trading_day(self.catalogue.instruments[symbol].schedule, day) - day).days
        except ValueError:
            return 1

    def settle(self, trading_day: date, prices: dict[str, int], accounts: Any, now_ns: int) -> list[dict]:
        """The end of `trading_day` for the margined instruments in `prices` (settlement price units):
        every open position pays or receives variation margin to the settlement price (its basis
        becomes that value), pays or receives the deferred fee in the published direction for the days
        to the next trading day, and its margin becomes the requirement at the settlement price. An
        account whose available cash is then negative gets a margin call (`margin_calls`). Returns one
        movement record per position changed (integers)."""
        moves = []
        for (name, symbol), pos in sorted(self.positions.items()):
            if symbol not in prices:
                continue
            px = prices[symbol]
            if not pos.lots:
                continue
            acct = accounts.get(name)
            value = px * abs(pos.lots) * self._unit_value[symbol]
            vm = value - pos.basis if pos.lots > 0 else pos.basis - value
            fee = 0
            direction, ppm = self.deferred.get(symbol, (None, 0))
            if direction is not None and ppm:
                amount = value * ppm * self._days_to_next(symbol, trading_day) // PPM
                pays = (direction == "longs_pay") == (pos.lots > 0)
                fee = -amount if pays else amount
            required = -(-value * self._margin_ppm[symbol] // PPM)
            moved = required - pos.margin
            pos.basis = value
            pos.margin = required
            pos.realised += vm
            pos.deferred += fee
            mk = (name, pos.ccy)
            self.margin_held[mk] = self.margin_held.get(mk, 0) + moved
            acct.cash[pos.ccy] = acct.cash.get(pos.ccy, 0) + vm + fee - moved
            moves.append({"account": name, "symbol": symbol, "trading_day": trading_day, "settlement_price": px,
                          "variation_margin": vm, "deferred_fee": fee, "margin_required": required,
                          "margin_moved": moved, "ccy": pos.ccy, "now_ns": now_ns})
            log.info("end of day %s %s %s: variation margin %s, deferred fee %s, margin %s %s", trading_day,
                     name, symbol, money_text(vm, pos.ccy), money_text(fee, pos.ccy),
                     money_text(required, pos.ccy), pos.ccy)
        for symbol, px in prices.items():
            self.marks[symbol] = (px, "settlement")
            self._settled.add((trading_day, symbol))
        for name in sorted({m["account"] for m in moves}):
            self._check_calls(accounts.get(name), now_ns)
        if self.metrics is not None:
            for ccy in {p.ccy for p in self.positions.values()}:
                self._margin_metric(ccy)
        for acct in accounts:
            self.closing[trading_day, acct.name] = {
                c: (acct.cash.get(c, 0), self.margin_held.get((acct.name, c), 0)) for c in acct.cash}
        self.settlements.append({"trading_day": trading_day, "prices": dict(prices), "moves": moves,
                                 "now_ns": now_ns})
        return moves

    # -- the trading-day roll of the books -------------------------------------------------------------
    def _today(self, now_ns: int) -> dict[str, date]:
        """Each instrument's current trading day at `now_ns` (its venue's local date when closed)."""
        by_schedule: dict[str, date] = {}
        out = {}
        for s, i in self.catalogue.instruments.items():
            day = by_schedule.get(i.schedule)
            if day is None:
                day = by_schedule[i.schedule] = self.trading_day(i, now_ns)
            out[s] = day
        return out

    def _droppable(self, today: dict[str, date]) -> int:
        """How many of the oldest trades no current trading day or open obligation needs: the trade's
        trading day has ended and its value date has passed (a prefix: the first one still needed stops it)."""
        n = 0
        for t in self.trades:
            day = today[t.symbol]
            if t.trading_day >= day or t.value_date >= day:
                break
            n += 1
        return n

    def roll_due(self, now_ns: int) -> bool:
        """Whether `roll(now_ns)` would let anything go (read-only; cheap enough for every timer tick:
        one calendar look-up while nothing is due)."""
        if self.trades:
            t = self.trades[0]
            day = self.trading_day(self.catalogue.instruments[t.symbol], now_ns)
            if t.trading_day < day and t.value_date < day:
                return True
        if not self.settlements:
            return False
        oldest = self.settlements[0]["trading_day"]
        utc_day = datetime.fromtimestamp(now_ns // 1_000_000_000, timezone.utc).date()
        if oldest >= utc_day - timedelta(days=HISTORY_DAYS + 2):     # no trading day is 2 days off UTC
            return False
        return oldest < min(self._today(now_ns).values()) - timedelta(days=HISTORY_DAYS)

    def roll(self, now_ns: int) -> tuple[int, list[Trade]]:
        """Let go of the trades no current trading day or open settlement obligation needs, and of
        end-of-day records older than HISTORY_DAYS before the earliest current trading day. Returns the
        number of the first trade let go and the trades (in order) for the archive."""
        today = self._today(now_ns)
        n = self._droppable(today)
        first = self.trades_dropped + 1
        dropped = self.trades[:n]
        if n:
            del self.trades[:n]
            self.trades_dropped += n
        floor = min(today.values()) - timedelta(days=HISTORY_DAYS)
        self.history_from = floor
        self.settlements = [s for s in self.settlements if s["trading_day"] >= floor]
        self.closing = {k: v for k, v in self.closing.items() if k[0] >= floor}
        self._settled = {k for k in self._settled if k[0] >= floor}
        if self.metrics is not None:
            self.metrics.set_ledger_held(len(self.trades))
        return first, dropped

    def day_archived(self, day: date) -> bool:
        """Whether the end-of-day records of `day` are gone (older than the history the roll keeps)."""
        return self.history_from is not None and day < self.history_from

    # -- margin calls ---------------------------------------------------------------------------------
    def _check_calls(self, account: Any, now_ns: int) -> None:
        """Open a call where the account's available cash is negative; lift one where it no longer is."""
        for ccy in sorted({c for a, c in self.margin_held if a == account.name}):
            key = (account.name, ccy)
            short = -account.free_cash(ccy)
            if short > 0:
                if self.margin_calls.get(key) != short:
                    log.info("margin call %s: %s %s short of margin; opening orders refused until covered",
                             account.name, money_text(short, ccy), ccy)
                self.margin_calls[key] = short
            elif self.margin_calls.pop(key, None) is not None:
                log.info("margin call %s %s covered", account.name, ccy)
        if self.metrics is not None:
            self.metrics.set_margin_calls(len(self.margin_calls))

    def last_price(self, symbol: str, day: date) -> int | None:
        """The day's last trade price of `symbol`, else its last mark when that is a settlement price."""
        for t in reversed(self.trades):
            if t.symbol == symbol and t.trading_day == day:
                return t.px
        mark = self.marks.get(symbol)
        return mark[0] if mark is not None and mark[1] == "settlement" else None

    def position_lots(self, account: str, symbol: str) -> int:
        """Signed lots of the account's open position in a margined instrument (0 when none)."""
        pos = self.positions.get((account, symbol))
        return 0 if pos is None else pos.lots

    def opening_blocked(self, account: str, symbol: str, side: int, lots: int) -> str | None:
        """Why an order may not open (or add to) a margined position: the account's margin call in the
        instrument's currency. Orders that only reduce a position pass."""
        instr = self.catalogue.instruments.get(symbol)
        if instr is None or symbol not in self._margin_ppm:
            return None
        short = self.margin_calls.get((account, instr.settlement_ccy))
        if short is None:
            return None
        pos = self.positions.get((account, symbol))
        held = 0 if pos is None else pos.lots
        reduces = held and (held > 0) != (side == 1) and lots <= abs(held)
        if reduces:
            return None
        return (f"margin call: {account} is {money_text(short, instr.settlement_ccy)} {instr.settlement_ccy} "
                f"short of margin; only orders that reduce a position are accepted until it is covered")

    # -- views ------------------------------------------------------------------------------------------
    def positions_view(self, account: Any) -> dict:
        """The account's books as JSON-able data, decimals as strings in their own precision."""
        name = account.name
        ccys = sorted(set(account.cash) | {c for a, c in self.margin_held if a == name})
        cash = {c: {"balance": money_text(account.cash.get(c, 0), c),
                    "available": money_text(account.free_cash(c), c),
                    "reserved": money_text(account.reserved_cash.get(c, 0), c),
                    "margin_held": money_text(self.margin_held.get((name, c), 0), c)} for c in ccys}
        metal: dict[str, dict] = {}     # per vault, per bar form: one form's bars do not deliver another's
        for (v, form), ug in sorted(account.metal.items()):
            metal.setdefault(v, {})[form] = {
                "grams": grams_text(ug), "available_grams": grams_text(account.free_metal(v, form)),
                "reserved_grams": grams_text(account.reserved_metal.get((v, form), 0))}
        positions = []
        for (a, symbol), pos in sorted(self.positions.items()):
            if a != name or (not pos.lots and not pos.realised and not pos.fees):
                continue
            instr = self.catalogue.instruments[symbol]
            d = instr.price_decimals
            avg = (Decimal(pos.basis) / (abs(pos.lots) * self._unit_value[symbol])).scaleb(-d).quantize(
                Decimal(1).scaleb(-d), ROUND_HALF_EVEN) if pos.lots else None
            mark = self.marks.get(symbol)
            unreal = 0
            if pos.lots and mark is not None:
                value = mark[0] * abs(pos.lots) * self._unit_value[symbol]
                unreal = value - pos.basis if pos.lots > 0 else pos.basis - value
            positions.append({
                "symbol": symbol, "lots": pos.lots,
                "grams": grams_text(int(pos.lots * instr.lot_grams * MICRO)),
                "avg_price": None if avg is None else str(avg),
                "currency": pos.ccy, "margin_held": money_text(pos.margin, pos.ccy),
                "realised_pnl": money_text(pos.realised, pos.ccy),
                "unrealised_pnl": money_text(unreal, pos.ccy),
                "mark_price": None if mark is None else str(instr.units_to_price(mark[0])),
                "mark_source": None if mark is None else mark[1],
                "fees": money_text(pos.fees, pos.ccy), "deferred_fee": money_text(pos.deferred, pos.ccy)})
        return {"account": name, "cash": cash, "metal": metal, "positions": positions}


def _ceil(d: Decimal) -> int:
    return int(d.to_integral_value(ROUND_CEILING))


__all__ = ["Ledger", "Trade", "Position", "money_text", "grams_text", "CCY_DECIMALS", "DIRECTIONS", "HISTORY_DAYS"]
