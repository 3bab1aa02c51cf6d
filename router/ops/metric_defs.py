"""Names, label values, buckets and the integer-nanosecond histogram shared by the metrics hooks and
their exposition: what every `goldrouter_` series is measured in, with no registry and no I/O.
"""
from __future__ import annotations

import enum
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from prometheus_client.utils import floatToGoString


PREFIX = "goldrouter_"

# A hostile or buggy peer can send any MsgType; only these get their own label value.
FIX_MSG_TYPES: dict[bytes, str] = {
    b"0": "Heartbeat", b"1": "TestRequest", b"2": "ResendRequest", b"3": "Reject",
    b"4": "SequenceReset", b"5": "Logout", b"A": "Logon",
    b"8": "ExecutionReport", b"9": "OrderCancelReject", b"D": "NewOrderSingle",
    b"F": "OrderCancelRequest", b"G": "OrderCancelReplaceRequest", b"H": "OrderStatusRequest",
    b"j": "BusinessMessageReject", b"q": "OrderMassCancelRequest", b"r": "OrderMassCancelReport",
    b"AF": "OrderMassStatusRequest", b"V": "MarketDataRequest", b"W": "MarketDataSnapshotFullRefresh",
    b"X": "MarketDataIncrementalRefresh", b"Y": "MarketDataRequestReject",
    b"x": "SecurityListRequest", b"y": "SecurityList", b"e": "SecurityStatusRequest", b"f": "SecurityStatus",
    b"c": "SecurityDefinitionRequest", b"d": "SecurityDefinition",
}
OTHER = "other"
# Cap on distinct label keys per tally: past it new keys fold into "other".
MAX_KEYS = 2000

MICROSECOND = 1_000
MILLISECOND = 1_000_000
SECOND = 1_000_000_000
# Order->ack on loopback lives in tens of microseconds; a stall is milliseconds.
ACK_LATENCY_BUCKETS_NS = (
    5 * MICROSECOND, 10 * MICROSECOND, 20 * MICROSECOND, 30 * MICROSECOND, 50 * MICROSECOND,
    75 * MICROSECOND, 100 * MICROSECOND, 150 * MICROSECOND, 200 * MICROSECOND,
    300 * MICROSECOND, 500 * MICROSECOND, 750 * MICROSECOND, MILLISECOND, 2 * MILLISECOND,
    5 * MILLISECOND, 10 * MILLISECOND, 25 * MILLISECOND, 50 * MILLISECOND,
    100 * MILLISECOND, 250 * MILLISECOND, SECOND,
)
MATCHING_BATCH_BUCKETS_NS = (
    MICROSECOND, 2 * MICROSECOND, 5 * MICROSECOND, 10 * MICROSECOND, 20 * MICROSECOND,
    50 * MICROSECOND, 100 * MICROSECOND, 200 * MICROSECOND, 500 * MICROSECOND,
    MILLISECOND, 2 * MILLISECOND, 5 * MILLISECOND, 10 * MILLISECOND,
)
ROUTER_DECISION_BUCKETS_NS = (
    500, MICROSECOND, 2 * MICROSECOND, 3 * MICROSECOND, 5 * MICROSECOND, 10 * MICROSECOND,
    20 * MICROSECOND, 50 * MICROSECOND, 100 * MICROSECOND, 500 * MICROSECOND, MILLISECOND,
)
JOURNAL_WRITE_BUCKETS_NS = (
    2 * MICROSECOND, 5 * MICROSECOND, 10 * MICROSECOND, 20 * MICROSECOND, 50 * MICROSECOND,
    100 * MICROSECOND, 200 * MICROSECOND, 500 * MICROSECOND, MILLISECOND, 2 * MILLISECOND,
    5 * MILLISECOND, 10 * MILLISECOND, 50 * MILLISECOND,
)
LOOP_LAG_BUCKETS_NS = (
    100 * MICROSECOND, 250 * MICROSECOND, 500 * MICROSECOND, MILLISECOND, 2 * MILLISECOND,
    5 * MILLISECOND, 10 * MILLISECOND, 25 * MILLISECOND, 50 * MILLISECOND,
    100 * MILLISECOND, 250 * MILLISECOND, 500 * MILLISECOND, SECOND,
)

QUOTA_DIRECTIONS = ("northbound", "southbound")
# State names the gateway reports for a session that is logged on ("active" for older callers).
LOGGED_ON_STATES = frozenset({"logged_on", "active"})


def label_text(value: Any) -> str:
    """Label text for a raw label object: str as is, enums by their metric label or name."""
    if isinstance(value, str):
        return value
    for attr in ("metric_label", "label"):
        text = getattr(value, attr, None)
        if isinstance(text, str):
            return text
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return str(value)


def msg_type_label(msg_type: Any) -> str:
    if isinstance(msg_type, str):
        msg_type = msg_type.encode("ascii", "replace")
    elif not isinstance(msg_type, bytes):
        return OTHER
    return FIX_MSG_TYPES.get(msg_type, OTHER)


class IntHistogram:
    """A histogram over integer nanoseconds: one bisect and two integer adds per observation."""

    __slots__ = ("bounds_ns", "counts", "sum_ns")

    def __init__(self, bounds_ns: Iterable[int]) -> None:
        self.bounds_ns = tuple(sorted(int(b) for b in bounds_ns))
        self.counts = [0] * (len(self.bounds_ns) + 1)
        self.sum_ns = 0

    def observe_ns(self, ns: int) -> None:
        # Prometheus buckets are "<= le", which is exactly bisect_left's slot.
        self.counts[bisect_left(self.bounds_ns, ns)] += 1
        self.sum_ns += ns

    @property
    def count(self) -> int:
        return sum(self.counts)

    def buckets(self) -> list[tuple[str, int]]:
        out, running = [], 0
        for bound, n in zip(self.bounds_ns, self.counts):
            running += n
            out.append((floatToGoString(bound / SECOND), running))
        out.append(("+Inf", running + self.counts[-1]))
        return out

    def quantile_ns(self, q: float) -> int | None:
        """Upper bucket bound holding quantile q (for logs and tests, not for alerting)."""
        total = self.count
        if total == 0:
            return None
        rank, running = q * total, 0
        for bound, n in zip(self.bounds_ns, self.counts):
            running += n
            if running >= rank:
                return bound
        return None


def _bump(tally: dict, key: Any, amount: int = 1) -> None:
    """Slow path of a tally increment: first sight of a key, with the cardinality cap."""
    if len(tally) >= MAX_KEYS:
        key = OTHER
    tally[key] = tally.get(key, 0) + amount


def _bump_nested(tally: dict, session_id: Any, msg_type: Any) -> None:
    """Slow path of a per-session msg-type count: new session, new or unknown type."""
    inner = tally.get(session_id)
    if inner is None:
        key = session_id if len(tally) < MAX_KEYS else OTHER
        inner = tally.get(key)
        if inner is None:
            inner = tally[key] = {}
    if msg_type_label(msg_type) == OTHER:
        msg_type = OTHER
    inner[msg_type] = inner.get(msg_type, 0) + 1
