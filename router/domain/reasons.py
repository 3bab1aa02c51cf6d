"""The one enum of order-flow rejection reasons, with their FIX codes, metric labels and texts.

Every part of the order flow (risk, quota, accounts, routing, the order manager) rejects by
returning a `Reason`; the FIX layer maps it to OrdRejReason(103) on a rejected new order and
to CxlRejReason(102) on a rejected cancel/replace, the metrics layer uses `label` as the
label value, and `text` is the default FIX Text(58).

This module does NOT raise, log, or build FIX messages; it only holds the mapping.
FIX 4.4 code tables used here: OrdRejReason 0..15 and 99, CxlRejReason 0..6 and 99.
"""
from __future__ import annotations

import enum

# FIX 4.4 OrdRejReason(103): only the values this router uses.
ORD_BROKER_OPTION = 0
ORD_UNKNOWN_SYMBOL = 1
ORD_EXCHANGE_CLOSED = 2
ORD_EXCEEDS_LIMIT = 3
ORD_TOO_LATE = 4
ORD_UNKNOWN_ORDER = 5
ORD_DUPLICATE = 6
ORD_STALE = 8
ORD_UNSUPPORTED_CHARACTERISTIC = 11
ORD_SURVEILLANCE = 12
ORD_INCORRECT_QTY = 13
ORD_UNKNOWN_ACCOUNT = 15
ORD_OTHER = 99

# FIX 4.4 CxlRejReason(102).
CXL_TOO_LATE = 0
CXL_UNKNOWN_ORDER = 1
CXL_BROKER_OPTION = 2
CXL_PENDING = 3
CXL_DUPLICATE_CLORDID = 6
CXL_OTHER = 99


class Reason(enum.Enum):
    """A rejection reason: (OrdRejReason, CxlRejReason, metric label, default Text).

    Labels are unique, lower_snake and stable: dashboards and alerts key on them.
    """

    # -- identity / request shape
    UNKNOWN_SYMBOL = (ORD_UNKNOWN_SYMBOL, CXL_OTHER, "unknown_symbol", "unknown instrument or product")
    UNKNOWN_ACCOUNT = (ORD_UNKNOWN_ACCOUNT, CXL_OTHER, "unknown_account", "unknown account")
    ACCOUNT_NOT_OWNED = (ORD_UNKNOWN_ACCOUNT, CXL_OTHER, "account_not_owned",
                         "account is not owned by this session")
    UNKNOWN_ORDER = (ORD_UNKNOWN_ORDER, CXL_UNKNOWN_ORDER, "unknown_order", "unknown order")
    DUPLICATE_CLORDID = (ORD_DUPLICATE, CXL_DUPLICATE_CLORDID, "duplicate_clordid", "duplicate ClOrdID")
    TOO_LATE = (ORD_TOO_LATE, CXL_TOO_LATE, "too_late", "order already done")
    PENDING = (ORD_OTHER, CXL_PENDING, "pending", "order already pending cancel or replace")
    STALE = (ORD_STALE, CXL_OTHER, "stale", "stale order")
    UNSUPPORTED = (ORD_UNSUPPORTED_CHARACTERISTIC, CXL_OTHER, "unsupported",
                   "unsupported order type, side or time in force")
    BAD_PRICE = (ORD_OTHER, CXL_OTHER, "bad_price", "price missing, not positive or off tick")
    BAD_QTY = (ORD_INCORRECT_QTY, CXL_OTHER, "bad_qty", "quantity not positive")

    # -- routing hard filters
    VENUE_NOT_ALLOWED = (ORD_UNSUPPORTED_CHARACTERISTIC, CXL_OTHER, "venue_not_allowed",
                         "venue excluded by the order's allowed venues")
    SESSION_CLOSED = (ORD_EXCHANGE_CLOSED, CXL_OTHER, "session_closed", "trading session closed")
    CALENDAR_UNKNOWN = (ORD_EXCHANGE_CLOSED, CXL_OTHER, "calendar_unknown",
                        "date past the end of the venue's holiday calendar")
    NOT_ELIGIBLE = (ORD_BROKER_OPTION, CXL_OTHER, "not_eligible", "account not eligible for this board")
    CROSS_BORDER_NOT_ALLOWED = (ORD_BROKER_OPTION, CXL_OTHER, "cross_border_not_allowed",
                                "account may not trade across the border")
    SELF_TRADE = (ORD_OTHER, CXL_OTHER, "self_trade", "cancelled by self-trade prevention")
    QUOTA_EXHAUSTED = (ORD_EXCEEDS_LIMIT, CXL_OTHER, "quota_exhausted",
                       "daily cross-border quota exhausted")
    SETTL_CCY_MISMATCH = (ORD_UNSUPPORTED_CHARACTERISTIC, CXL_OTHER, "settl_ccy_mismatch",
                          "settlement currency not as requested")
    CURRENCY_NOT_HELD = (ORD_BROKER_OPTION, CXL_OTHER, "currency_not_held",
                         "account holds no cash in the settlement currency")
    VAULT_MISMATCH = (ORD_UNSUPPORTED_CHARACTERISTIC, CXL_OTHER, "vault_mismatch",
                      "delivery vault not as requested")
    BAR_FORM_MISMATCH = (ORD_UNSUPPORTED_CHARACTERISTIC, CXL_OTHER, "bar_form_mismatch",
                         "bar form not as requested")
    SETTL_CYCLE_MISMATCH = (ORD_UNSUPPORTED_CHARACTERISTIC, CXL_OTHER, "settl_cycle_mismatch",
                            "settlement cycle not as requested")
    PRICE_LIMIT = (ORD_OTHER, CXL_OTHER, "price_limit", "price outside the venue's daily limit")
    LOT_ROUNDING = (ORD_INCORRECT_QTY, CXL_OTHER, "lot_rounding",
                    "quantity not a whole number of lots")
    LOTS_OUT_OF_RANGE = (ORD_INCORRECT_QTY, CXL_OTHER, "lots_out_of_range",
                         "lots below the venue minimum or above its maximum")
    INSUFFICIENT_CASH = (ORD_EXCEEDS_LIMIT, CXL_OTHER, "insufficient_cash",
                         "insufficient free cash for a full-payment buy")
    INSUFFICIENT_METAL = (ORD_EXCEEDS_LIMIT, CXL_OTHER, "insufficient_metal",
                          "insufficient free metal of the book's bar form in its vaults")
    INSUFFICIENT_MARGIN = (ORD_EXCEEDS_LIMIT, CXL_OTHER, "insufficient_margin",
                           "insufficient free cash for margin")
    MARGIN_CALL = (ORD_EXCEEDS_LIMIT, CXL_OTHER, "margin_call",
                   "account under a margin call: only orders that reduce a position are accepted")
    NO_FX_RATE = (ORD_OTHER, CXL_OTHER, "no_fx_rate", "no FX rate to compare this venue")
    FX_STALE = (ORD_OTHER, CXL_OTHER, "fx_stale", "FX rate older than fx.max_age_s")
    NO_ELIGIBLE_BOOK = (ORD_BROKER_OPTION, CXL_OTHER, "no_eligible_book",
                        "no book passes the routing filters")

    # -- pre-trade risk
    KILL_SWITCH_GLOBAL = (ORD_SURVEILLANCE, CXL_OTHER, "kill_switch_global", "trading halted (kill switch)")
    KILL_SWITCH_ACCOUNT = (ORD_SURVEILLANCE, CXL_OTHER, "kill_switch_account",
                           "account halted (kill switch)")
    MAX_ORDER_QTY = (ORD_EXCEEDS_LIMIT, CXL_OTHER, "max_order_qty", "order quantity above account maximum")
    MAX_NOTIONAL = (ORD_EXCEEDS_LIMIT, CXL_OTHER, "max_notional", "order notional above account maximum")
    CREDIT_LIMIT = (ORD_EXCEEDS_LIMIT, CXL_OTHER, "credit_limit", "open notional would exceed credit limit")
    PRICE_COLLAR = (ORD_OTHER, CXL_OTHER, "price_collar", "price outside the collar around the reference")
    NO_REFERENCE_PRICE = (ORD_OTHER, CXL_OTHER, "no_reference_price", "no reference price for the collar")
    THROTTLED = (ORD_OTHER, CXL_OTHER, "throttled", "message rate limit exceeded")

    # -- gateway state
    SHUTTING_DOWN = (ORD_BROKER_OPTION, CXL_BROKER_OPTION, "shutting_down", "gateway shutting down")

    def __init__(self, ord_rej: int, cxl_rej: int, label: str, text: str) -> None:
        self.ord_rej_reason = ord_rej
        self.cxl_rej_reason = cxl_rej
        self.label = label
        self.text = text

    def __str__(self) -> str:
        return self.label

    # Identity hash: members are singletons, and sets/dicts of reasons sit on hot paths.
    __hash__ = object.__hash__


BY_LABEL: dict[str, Reason] = {r.label: r for r in Reason}
