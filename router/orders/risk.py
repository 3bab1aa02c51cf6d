"""Pre-trade risk: limits, price collar, credit on open notional, throttle, kill switch, cancel-on-disconnect.

Every check returns `None` (pass) or a `Reason` value. Time is passed in as UTC nanoseconds;
amounts are integers (micro-CNY for notionals, fine micrograms (gold content) for quantities, any one price unit
for the collar as long as price and reference share it).

The engine keeps the working orders it was told about (id -> account, session, open
notional) so that credit, the kill switch and cancel-on-disconnect can name what to cancel.
It does NOT cancel anything itself, does NOT convert currencies and does NOT read a clock.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Hashable, Mapping

from router.orders.accounts import Account, AccountLimits, Accounts, parse_accounts, parse_limits
from router.domain.errors import ConfigError
from router.orders.quota import CrossBorderQuota, Direction, parse_quota, parse_quota_schedules
from router.domain.reasons import Reason

NS_PER_S = 1_000_000_000
_THROTTLED = Reason.THROTTLED
RISK_KEYS = ("collar_pct", "msg_rate", "msg_burst", "cancel_on_disconnect", "limits")


@dataclass(frozen=True)
class RiskConfig:
    collar_bp: int | None = 1000          # None: no collar
    msg_rate: int = 50                    # messages per second per session
    msg_burst: int = 100                  # bucket depth
    cancel_on_disconnect: bool = True
    default_limits: AccountLimits = AccountLimits()


def parse_risk(table: Mapping[str, Any] | None) -> RiskConfig:
    """The `[risk]` table: collar_pct (decimal, or "none"), msg_rate, msg_burst, cancel_on_disconnect,
    limits (the account defaults: max_order_grams, max_notional_cny, credit_cny)."""
    t = dict(table or {})
    for k in t:
        if k not in RISK_KEYS:
            raise ConfigError(f"risk.{k}", f"unknown key (expected one of {', '.join(RISK_KEYS)})")
    base = RiskConfig()
    collar_bp = base.collar_bp
    if "collar_pct" in t:
        raw = t["collar_pct"]
        if raw == "none":
            collar_bp = None
        else:
            if isinstance(raw, (bool, float)):
                raise ConfigError("risk.collar_pct", f"expected a decimal string or integer, got {raw!r}")
            try:
                pct = Decimal(str(raw))
            except (InvalidOperation, ValueError):
                raise ConfigError("risk.collar_pct", f"not a decimal number: {raw!r}") from None
            bp = pct * 100
            if not pct.is_finite() or pct <= 0 or bp != bp.to_integral_value():
                raise ConfigError("risk.collar_pct", f"must be positive with at most 2 decimals, got {raw!r}")
            collar_bp = int(bp)
    ints = {}
    for k, default in (("msg_rate", base.msg_rate), ("msg_burst", None)):
        v = t.get(k, default)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ConfigError(f"risk.{k}", f"expected a positive integer, got {v!r}")
        ints[k] = v
    rate = ints["msg_rate"]
    # Twice the rate lets a client send a short burst (e.g. a cancel wave) without a reject.
    burst = ints.get("msg_burst", 2 * rate)
    cod = t.get("cancel_on_disconnect", True)
    if not isinstance(cod, bool):
        raise ConfigError("risk.cancel_on_disconnect", f"expected true or false, got {cod!r}")
    limits = parse_limits(t.get("limits", {}), "risk.limits")
    return RiskConfig(collar_bp, rate, burst, cod, limits)


def _grams(micro: int) -> str:
    return format(Decimal(micro).scaleb(-6).normalize(), "f")


def _cny(micro: int) -> str:
    return f"{Decimal(micro).scaleb(-6).quantize(Decimal('0.01')):,}"


def collar_band(reference: int, collar_bp: int) -> tuple[int, int]:
    """The prices (reference units) `collar_ok` accepts: the lowest and the highest."""
    return -(-reference * (10_000 - collar_bp) // 10_000), reference * (10_000 + collar_bp) // 10_000


def collar_ok(price: int, reference: int, collar_bp: int) -> bool:
    """|price - reference| <= collar_bp/10000 * reference, in exact integers."""
    return abs(price - reference) * 10_000 <= collar_bp * reference


@dataclass
class _Working:
    account: str
    session: str
    open_notional: int


class RiskEngine:
    """Pre-trade checks and the state they need. One instance per gateway."""

    def __init__(self, config: RiskConfig, accounts: Accounts) -> None:
        self.config = config        # sets the throttle's bucket cap and refill rate too
        self.accounts = accounts
        self.halted_all = False
        self.halted: set[str] = set()
        self._orders: dict[Hashable, _Working] = {}
        self._open: dict[str, int] = {}
        # per session: [tokens scaled by NS_PER_S, last refill ns]
        self._buckets: dict[str, list[int]] = {}
        self._cod: dict[str, bool] = {}
        for a in accounts:
            # A session sharing accounts with mixed settings cancels if any of them asks to.
            self._cod[a.session] = self._cod.get(a.session, False) or a.cancel_on_disconnect

    @property
    def config(self) -> RiskConfig:
        return self._config

    @config.setter
    def config(self, config: RiskConfig) -> None:
        self._config = config
        # Read on every inbound message: kept as plain ints rather than derived from the config each time.
        self._cap = config.msg_burst * NS_PER_S
        self._rate = config.msg_rate

    # -- throttle -------------------------------------------------------------------------
    def check_message(self, session: str, now_ns: int) -> Reason | None:
        """Count one inbound application message (orders, cancels, replaces) against the session's rate."""
        b = self._buckets.get(session)
        if b is None:
            b = self._buckets[session] = [self._cap, now_ns]
        else:
            last = b[1]
            if now_ns > last:
                tokens = b[0] + (now_ns - last) * self._rate
                b[0] = tokens if tokens < self._cap else self._cap
                b[1] = now_ns
        if b[0] < NS_PER_S:
            return _THROTTLED
        b[0] -= NS_PER_S
        return None

    # -- kill switch ----------------------------------------------------------------------
    def kill_all(self) -> list[Hashable]:
        """Refuse all new orders; returns every working order id, which the caller cancels."""
        self.halted_all = True
        return list(self._orders)

    def resume_all(self) -> None:
        self.halted_all = False

    def kill_account(self, name: str) -> list[Hashable]:
        """Refuse the account's new orders; returns its working order ids to cancel."""
        if name not in self.accounts:
            raise KeyError(name)
        self.halted.add(name)
        return [oid for oid, w in self._orders.items() if w.account == name]

    def resume_account(self, name: str) -> None:
        self.halted.discard(name)

    def killed(self, account: str) -> Reason | None:
        """The kill switch reason for `account`, None when it may trade. (The router reads
        `halted_all` / `halted` first and calls this only when one is set.)"""
        if self.halted_all:
            return Reason.KILL_SWITCH_GLOBAL
        if account in self.halted:
            return Reason.KILL_SWITCH_ACCOUNT
        return None

    # -- cancel-on-disconnect -------------------------------------------------------------
    def set_cancel_on_disconnect(self, session: str, on: bool) -> None:
        self._cod[session] = on

    def on_disconnect(self, session: str) -> list[Hashable]:
        """The session's working order ids to cancel now (empty when it opted out)."""
        if not self._cod.get(session, self.config.cancel_on_disconnect):
            return []
        return [oid for oid, w in self._orders.items() if w.session == session]

    # -- order checks ---------------------------------------------------------------------
    def check_new(self, account: Account, qty_ug: int, notional_cny: int,
                  price: int | None = None, reference: int | None = None) -> Reason | None:
        """A new order: kill switch, max quantity, max notional, collar, credit. First failure wins.

        `price`/`reference` share a unit (None price = market order, no collar); `notional_cny`
        is the order's value at its limit (or worst-case) price in micro-CNY.
        """
        if self.halted_all or self.halted:
            r = self.killed(account.name)
            if r is not None:
                return r
        lim = account.limits
        if lim.max_order_ug is not None and qty_ug > lim.max_order_ug:
            return Reason.MAX_ORDER_QTY
        if lim.max_notional_cny is not None and notional_cny > lim.max_notional_cny:
            return Reason.MAX_NOTIONAL
        # The config read as its attribute, not through the property (a call per read, per new order).
        collar_bp = self._config.collar_bp
        if price is not None and collar_bp is not None:
            if reference is None or reference <= 0:
                return Reason.NO_REFERENCE_PRICE
            if not collar_ok(price, reference, collar_bp):
                return Reason.PRICE_COLLAR
        if lim.credit_cny is not None and self._open.get(account.name, 0) + notional_cny > lim.credit_cny:
            return Reason.CREDIT_LIMIT
        return None

    def limit_text(self, reason: Reason, account: Account, qty_ug: int, notional_cny: int) -> str | None:
        """What a MAX_ORDER_QTY / MAX_NOTIONAL / CREDIT_LIMIT refusal hit, with the account's limit and
        its config key (None for other reasons)."""
        lim = account.limits
        if reason is Reason.MAX_ORDER_QTY and lim.max_order_ug is not None:
            return (f"{reason.text}: {_grams(qty_ug)} g fine above the account maximum of {_grams(lim.max_order_ug)} "
                    f"g fine per order (max_order_grams, fine grams)")
        if reason is Reason.MAX_NOTIONAL and lim.max_notional_cny is not None:
            return (f"{reason.text}: CNY {_cny(notional_cny)} at the limit price, above the account maximum of "
                    f"CNY {_cny(lim.max_notional_cny)} per order (max_notional_cny)")
        if reason is Reason.CREDIT_LIMIT and lim.credit_cny is not None:
            return (f"{reason.text}: working orders CNY {_cny(self._open.get(account.name, 0))} plus this order "
                    f"CNY {_cny(notional_cny)} exceed the account credit of CNY {_cny(lim.credit_cny)} (credit_cny)")
        return None

    def check_replace(self, account: Account, order_id: Hashable, qty_ug: int, notional_cny: int,
                      price: int | None = None, reference: int | None = None) -> Reason | None:
        """A replace is a new order whose credit use is net of the order it replaces."""
        w = self._orders.get(order_id)
        if w is None:
            return Reason.UNKNOWN_ORDER
        self._open[account.name] = self._open.get(account.name, 0) - w.open_notional
        try:
            return self.check_new(account, qty_ug, notional_cny, price, reference)
        finally:
            self._open[account.name] += w.open_notional

    # -- working-order bookkeeping --------------------------------------------------------
    def on_accepted(self, order_id: Hashable, account: str, session: str, notional_cny: int) -> None:
        if order_id in self._orders:
            raise KeyError(f"order {order_id!r} already working")
        self._orders[order_id] = _Working(account, session, notional_cny)
        self._open[account] = self._open.get(account, 0) + notional_cny

    def on_open_notional(self, order_id: Hashable, open_notional: int) -> None:
        """The order's remaining open notional changed (partial fill, replace)."""
        w = self._orders[order_id]
        self._open[w.account] += open_notional - w.open_notional
        w.open_notional = open_notional

    def on_done(self, order_id: Hashable) -> None:
        """Filled, cancelled or expired: its open notional no longer uses credit."""
        w = self._orders.pop(order_id, None)
        if w is not None:
            self._open[w.account] -= w.open_notional

    def open_notional(self, account: str) -> int:
        return self._open.get(account, 0)

    def working(self, account: str | None = None) -> list[Hashable]:
        return [oid for oid, w in self._orders.items() if account is None or w.account == account]

    def snapshot(self) -> dict[str, Any]:
        return {"halted_all": self.halted_all, "halted": sorted(self.halted),
                "open_notional_cny_micro": dict(self._open), "working": len(self._orders)}



@dataclass(frozen=True)
class Participants:
    risk: RiskConfig
    accounts: Accounts
    quota: CrossBorderQuota
    quota_schedules: Mapping[Direction, str] = field(default_factory=dict)   # `[quota] *_schedule`, when set


def parse_participants(cfg: Mapping[str, Any], vault_forms: Any = None, day: Any = None) -> Participants:
    """`[risk]`, `[accounts.*]` and `[quota]` together: account limits default to `[risk.limits]`."""
    risk = parse_risk(cfg.get("risk"))
    accounts = parse_accounts(cfg.get("accounts", {}), risk.default_limits, risk.cancel_on_disconnect,
                              vault_forms)
    return Participants(risk, accounts, parse_quota(cfg.get("quota"), day), parse_quota_schedules(cfg.get("quota")))
