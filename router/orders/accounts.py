"""Trading accounts: owner session, side of the border, eligibility, holdings and limits.

Parses the `[accounts.NAME]` config tables into `Account` objects and keeps their free and
reserved cash (per currency) and vaulted metal (per vault and bar form: 990 tael bars and 9999
kilobars in one vault are different holdings, and a sale delivers its book's own form). Money is
held as integer micro-units of its currency, metal as integer micro-grams (gross weight in the vault).

This module does NOT decide routing or risk; it answers "who is this, what may it trade,
what does it hold" and applies reservations/settlements it is told about.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from router.domain.config_checks import Table, check_bool, check_str
from router.domain.errors import ConfigError
from router.orders.quota import MICRO, SIDES, amount_to_micro
from router.domain.reasons import Reason

CURRENCIES = ("CNY", "CNH", "HKD", "USD")
# Eligibility tags an instrument may require (reference §6.1 item 2).
ELIGIBILITY_TAGS = ("sge_mainboard", "sge_international", "hkgx")
LIMIT_KEYS = ("max_order_grams", "max_notional_cny", "credit_cny")
ACCOUNT_KEYS = ("session", "side", "eligibility", "cross_border", "cash", "metal", "limits",
                "cancel_on_disconnect", "self_trade", "funding_ccy")
# Self-trade prevention: what happens when an account's order would trade with its own resting order.
SELF_TRADE_MODES = ("cancel_resting", "cancel_incoming", "cancel_both")


@dataclass(frozen=True)
class AccountLimits:
    """Per-account risk limits; None means no limit. Fine grams (gold content) in micrograms, CNY in micro-CNY."""

    max_order_ug: int | None = None
    max_notional_cny: int | None = None
    credit_cny: int | None = None


@dataclass(eq=False)
class Account:
    name: str
    session: str
    side: str
    eligibility: frozenset[str]
    cross_border: bool
    cash: dict[str, int]
    metal: dict[tuple[str, str], int]          # (vault, bar form) -> gross micrograms
    limits: AccountLimits = AccountLimits()
    cancel_on_disconnect: bool = True
    self_trade: str = "cancel_resting"
    funding_ccy: str | None = None    # the currency the account funds from: routing adds the FX half-spread
    reserved_cash: dict[str, int] = field(default_factory=dict)
    reserved_metal: dict[tuple[str, str], int] = field(default_factory=dict)

    def holds(self, ccy: str) -> bool:
        """Whether the account has a cash line in `ccy` at all (the 'currency held' filter)."""
        return ccy in self.cash

    def free_cash(self, ccy: str) -> int:
        return self.cash.get(ccy, 0) - self.reserved_cash.get(ccy, 0)

    def free_metal(self, vault: str, form: str) -> int:
        key = (vault, form)
        return self.metal.get(key, 0) - self.reserved_metal.get(key, 0)

    def best_vault(self, vaults: Iterable[str], form: str) -> tuple[str | None, int]:
        """The vault among `vaults` with the most free metal of bar form `form`, and that amount."""
        best, amount = None, 0
        for v in vaults:
            free = self.free_metal(v, form)
            if best is None or free > amount:
                best, amount = v, free
        return best, amount

    def reserve_cash(self, ccy: str, amount: int) -> Reason | None:
        if amount < 0:
            raise ValueError("reservation must not be negative")
        if self.free_cash(ccy) < amount:
            return Reason.INSUFFICIENT_CASH
        self.reserved_cash[ccy] = self.reserved_cash.get(ccy, 0) + amount
        return None

    def release_cash(self, ccy: str, amount: int) -> None:
        held = self.reserved_cash.get(ccy, 0)
        self.reserved_cash[ccy] = held - min(amount, held)

    def reserve_metal(self, vault: str, form: str, ug: int) -> Reason | None:
        if ug < 0:
            raise ValueError("reservation must not be negative")
        if self.free_metal(vault, form) < ug:
            return Reason.INSUFFICIENT_METAL
        key = (vault, form)
        self.reserved_metal[key] = self.reserved_metal.get(key, 0) + ug
        return None

    def release_metal(self, vault: str, form: str, ug: int) -> None:
        key = (vault, form)
        held = self.reserved_metal.get(key, 0)
        self.reserved_metal[key] = held - min(ug, held)

    def settle_buy(self, ccy: str, paid: int, vault: str, form: str, ug: int, reserved: int) -> None:
        """A full-payment buy filled: `reserved` cash is un-reserved, `paid` leaves, metal of `form` arrives."""
        self.release_cash(ccy, reserved)
        self.cash[ccy] = self.cash.get(ccy, 0) - paid
        key = (vault, form)
        self.metal[key] = self.metal.get(key, 0) + ug

    def settle_sell(self, ccy: str, received: int, vault: str, form: str, ug: int, reserved: int) -> None:
        """A full-payment sell filled: `reserved` metal of `form` is un-reserved, `ug` leaves, cash arrives."""
        self.release_metal(vault, form, reserved)
        key = (vault, form)
        self.metal[key] = self.metal.get(key, 0) - ug
        self.cash[ccy] = self.cash.get(ccy, 0) + received


class Accounts:
    """All configured accounts, by name and by owning session."""

    def __init__(self, accounts: Iterable[Account]) -> None:
        self._by_name: dict[str, Account] = {}
        self._by_session: dict[str, list[Account]] = {}
        for a in accounts:
            self._by_name[a.name] = a
            self._by_session.setdefault(a.session, []).append(a)

    def __getitem__(self, name: str) -> Account:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Account]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> Account | None:
        return self._by_name.get(name)

    def for_session(self, session: str) -> tuple[Account, ...]:
        return tuple(self._by_session.get(session, ()))

    def resolve(self, session: str, name: str | None) -> Account | Reason:
        """The account an order names (Account(1)), or the session's only account when it names none."""
        if not name:
            owned = self._by_session.get(session, [])
            return owned[0] if len(owned) == 1 else Reason.UNKNOWN_ACCOUNT
        acct = self._by_name.get(name)
        if acct is None:
            return Reason.UNKNOWN_ACCOUNT
        if acct.session != session:
            return Reason.ACCOUNT_NOT_OWNED
        return acct


def _table(value: Any, key: str) -> Mapping[str, Any]:
    return Table(value, key, None).raw


def parse_limits(table: Any, key: str, defaults: AccountLimits = AccountLimits()) -> AccountLimits:
    """A limits table (max_order_grams, max_notional_cny, credit_cny) over `defaults`.

    The string "none" lifts a limit the defaults set.
    """
    t = _table(table, key)
    vals: dict[str, int | None] = {"max_order_ug": defaults.max_order_ug,
                                   "max_notional_cny": defaults.max_notional_cny,
                                   "credit_cny": defaults.credit_cny}
    for k, v in t.items():
        if k not in LIMIT_KEYS:
            raise ConfigError(f"{key}.{k}", f"unknown limit (expected one of {', '.join(LIMIT_KEYS)})")
        field_name = "max_order_ug" if k == "max_order_grams" else k
        vals[field_name] = None if v == "none" else amount_to_micro(v, f"{key}.{k}")
    return AccountLimits(**vals)


def parse_account(name: str, table: Any, default_limits: AccountLimits = AccountLimits(),
                  default_cancel_on_disconnect: bool = True,
                  vault_forms: Mapping[str, Iterable[str]] | None = None) -> Account:
    key = f"accounts.{name}"
    t = _table(table, key)
    for k in t:
        if k not in ACCOUNT_KEYS:
            raise ConfigError(f"{key}.{k}", f"unknown key (expected one of {', '.join(ACCOUNT_KEYS)})")
    for k in ("session", "side"):
        if k not in t:
            raise ConfigError(f"{key}.{k}", "missing")
    side = check_str(t["side"], f"{key}.side")
    if side not in SIDES:
        raise ConfigError(f"{key}.side", f"expected one of {', '.join(SIDES)}, got {side!r}")
    elig = t.get("eligibility", [])
    if not isinstance(elig, list):
        raise ConfigError(f"{key}.eligibility", f"expected a list of tags, got {elig!r}")
    for i, tag in enumerate(elig):
        if tag not in ELIGIBILITY_TAGS:
            raise ConfigError(f"{key}.eligibility[{i}]",
                              f"unknown tag {tag!r} (expected one of {', '.join(ELIGIBILITY_TAGS)})")
    cash: dict[str, int] = {}
    for ccy, amount in _table(t.get("cash", {}), f"{key}.cash").items():
        if ccy not in CURRENCIES:
            raise ConfigError(f"{key}.cash.{ccy}", f"unknown currency (expected one of {', '.join(CURRENCIES)})")
        cash[ccy] = amount_to_micro(amount, f"{key}.cash.{ccy}")
    metal = parse_metal(t.get("metal", {}), f"{key}.metal", vault_forms)
    return Account(
        name=name,
        session=check_str(t["session"], f"{key}.session"),
        side=side,
        eligibility=frozenset(elig),
        cross_border=check_bool(t.get("cross_border", False), f"{key}.cross_border"),
        cash=cash,
        metal=metal,
        limits=parse_limits(t.get("limits", {}), f"{key}.limits", default_limits),
        cancel_on_disconnect=check_bool(t.get("cancel_on_disconnect", default_cancel_on_disconnect),
                                   f"{key}.cancel_on_disconnect"),
        self_trade=_self_trade(t.get("self_trade", "cancel_resting"), f"{key}.self_trade"),
        funding_ccy=_funding(t.get("funding_ccy"), f"{key}.funding_ccy"),
    )


def vault_forms(instruments: Iterable[Any]) -> dict[str, tuple[str, ...]]:
    """The bar forms each vault's configured instruments deliver, by vault (what holdings may be in)."""
    forms: dict[str, set[str]] = {}
    for i in instruments:
        for v in i.vaults:
            forms.setdefault(v, set()).add(i.bar_form)
    return {v: tuple(sorted(f)) for v, f in forms.items()}


def parse_metal(table: Any, key: str, forms: Mapping[str, Iterable[str]] | None) -> dict[tuple[str, str], int]:
    """`[accounts.NAME.metal]`: per vault, a table of gross grams per bar form (`HK = {tael_bar_990 = "..",
    ingot_1kg_9999 = ".."}`), or a plain amount where the vault's instruments deliver exactly one form.
    `forms` (`vault_forms` of the catalogue) names the vaults and their forms; without it only tables parse."""
    metal: dict[tuple[str, str], int] = {}
    for vault, value in _table(table, key).items():
        vkey = f"{key}.{vault}"
        known = None if forms is None else tuple(forms.get(vault, ()))
        if known is not None and not known:
            raise ConfigError(vkey, f"unknown vault (expected one of {', '.join(sorted(forms or ()))})")
        if isinstance(value, Mapping):
            for form, grams in value.items():
                if known is not None and form not in known:
                    raise ConfigError(f"{vkey}.{form}", f"no instrument delivers bar form {form!r} in {vault} "
                                                        f"(expected one of {', '.join(known)})")
                metal[(vault, form)] = amount_to_micro(grams, f"{vkey}.{form}")
        elif known is None:
            raise ConfigError(vkey, "a plain amount needs the catalogue to know its bar form: give grams per "
                                    "bar form")
        elif len(known) != 1:
            raise ConfigError(vkey, f"ambiguous: {vault} holds bar forms {', '.join(known)}; give grams per bar "
                                    f"form ([{vkey}] with {known[0]} = \"...\")")
        else:
            metal[(vault, known[0])] = amount_to_micro(value, vkey)
    return metal


def _funding(value: Any, key: str) -> str | None:
    if value is not None and value not in CURRENCIES:
        raise ConfigError(key, f"expected one of {', '.join(CURRENCIES)}, got {value!r}")
    return value


def _self_trade(value: Any, key: str) -> str:
    if value not in SELF_TRADE_MODES:
        raise ConfigError(key, f"expected one of {', '.join(SELF_TRADE_MODES)}, got {value!r}")
    return value


def parse_accounts(table: Any, default_limits: AccountLimits = AccountLimits(),
                   default_cancel_on_disconnect: bool = True,
                   vault_forms: Mapping[str, Iterable[str]] | None = None) -> Accounts:
    """All `[accounts.NAME]` tables. `vault_forms` (from the catalogue) catches vault and bar form typos
    and gives a plain metal amount its form."""
    t = _table(table if table is not None else {}, "accounts")
    return Accounts(parse_account(name, sub, default_limits, default_cancel_on_disconnect, vault_forms)
                    for name, sub in t.items())


def micro_to_text(amount: int) -> str:
    """An exact decimal rendering of a micro-unit amount (admin API, explanations)."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), MICRO)
    return f"{sign}{whole}.{frac:06d}".rstrip("0").rstrip(".")
