"""Prometheus metrics for gold-router: one registry per service, cheap hooks for the hot path.

Job: define every `goldrouter_*` metric, give the FIX gateway its observer
(`message_in`, `message_out`, `session_state`, `resend_request`, `session_reject`),
give the order flow cheap recorders (orders, fills, routed grams, latencies) and
sample event-loop lag.  The exposition is prometheus-client's, from a private
`CollectorRegistry` so tests and benchmarks can build as many as they like.

Not here: HTTP serving (`router/admin.py` mounts `/metrics`), any business
decision, any clock read on the hot path (callers pass durations in ns).

Hot-path design: per-message counters are plain ints in dicts keyed by the raw
label objects (bytes msg type, session id str, reason enum...), and latencies go
to integer-nanosecond bucket arrays.  Label text is produced only at scrape time
by a custom collector.  A bound prometheus child `.inc()` takes a lock and
converts to float on every call; a dict increment does neither, which is what
keeps the observer inside the per-message budget (see
`benchmarks/metrics_overhead.py`).  Everything runs on the one event-loop thread
that also serves `/metrics`, so no lock is needed.
"""
from __future__ import annotations

import asyncio
import enum
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
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
    b"x": "SecurityListRequest", b"y": "SecurityList",
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


class Metrics:
    """Every gold-router metric in one private registry, plus the gateway observer methods.

    Pass the instance itself as the gateway's `observer`.  Durations are int ns,
    quantities are int grams, quota amounts are CNY (int or Decimal).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else MetricsRegistry()
        # FIX session layer: keys (session_id, msg_type bytes) / session_id / (session_id, reason)
        self._msgs_in: dict[Any, dict[Any, int]] = {}
        self._msgs_out: dict[Any, dict[Any, int]] = {}
        self._resends: dict[Any, int] = {}
        self._session_rejects: dict[tuple, int] = {}
        self._session_states: dict[str, str] = {}
        self._known_states: set[str] = {"disconnected", "logged_on"}
        # Order flow
        self._orders_received: dict[Any, int] = {}
        self._orders_accepted: dict[Any, int] = {}
        self._orders_rejected: dict[Any, int] = {}
        self._fills: dict[Any, int] = {}
        self._filled_grams: dict[Any, int] = {}
        self._routed_grams: dict[tuple, int] = {}
        self.ack_latency = IntHistogram(ACK_LATENCY_BUCKETS_NS)
        self.matching_batch = IntHistogram(MATCHING_BATCH_BUCKETS_NS)
        self.router_decision = IntHistogram(ROUTER_DECISION_BUCKETS_NS)
        self.loop_lag = IntHistogram(LOOP_LAG_BUCKETS_NS)
        self.last_loop_lag_ns = 0
        # Instance attributes shadow the methods below: callers reach observe_ns in one call.
        self.ack_latency_ns = self.ack_latency.observe_ns
        self.matching_batch_ns = self.matching_batch.observe_ns
        self.router_decision_ns = self.router_decision.observe_ns
        # State gauges, set when the state changes (never per message)
        self._quota: dict[str, tuple[float, float]] = {}
        self._open_orders: dict[Any, int] = {}
        self._kill_global = False
        self._kill_accounts = 0
        self._fx: dict[str, float] = {}
        self._ready = False
        # Pulled at scrape time: callable -> iterable of session dicts (see admin.AdminBackend.sessions)
        self.session_source: Callable[[], Iterable[Mapping[str, Any]]] | None = None
        self._collector = _Collector(self)
        self.registry.register(self._collector)

    # ---- gateway observer (hot path) -------------------------------------------------
    def message_in(self, session_id: str, msg_type: bytes) -> None:
        # Nested dicts: two cached-hash lookups beat building and hashing a tuple key.
        try:
            self._msgs_in[session_id][msg_type] += 1
        except KeyError:
            _bump_nested(self._msgs_in, session_id, msg_type)

    def message_out(self, session_id: str, msg_type: bytes) -> None:
        try:
            self._msgs_out[session_id][msg_type] += 1
        except KeyError:
            _bump_nested(self._msgs_out, session_id, msg_type)

    def resend_request(self, session_id: str) -> None:
        tally = self._resends
        try:
            tally[session_id] += 1
        except KeyError:
            _bump(tally, session_id)

    def session_reject(self, session_id: str, reason: Any) -> None:
        key = (session_id, reason)
        tally = self._session_rejects
        try:
            tally[key] += 1
        except KeyError:
            _bump(tally, key)

    def session_state(self, session_id: str, state: Any) -> None:
        text = label_text(state).lower()
        if text not in self._known_states:
            if len(self._known_states) >= 32:
                text = OTHER
            self._known_states.add(text)
        self._session_states[session_id] = text

    # ---- order flow (hot path) -------------------------------------------------------
    def order_received(self, session_id: str) -> None:
        tally = self._orders_received
        try:
            tally[session_id] += 1
        except KeyError:
            _bump(tally, session_id)

    def order_accepted(self, instrument: str) -> None:
        tally = self._orders_accepted
        try:
            tally[instrument] += 1
        except KeyError:
            _bump(tally, instrument)

    def order_rejected(self, reason: Any) -> None:
        """`reason`: the order-flow reason enum member (its `metric_label` names it) or a str."""
        tally = self._orders_rejected
        try:
            tally[reason] += 1
        except KeyError:
            _bump(tally, reason)

    def fill(self, venue: str, grams: int) -> None:
        fills, grams_by_venue = self._fills, self._filled_grams
        try:
            fills[venue] += 1
        except KeyError:
            _bump(fills, venue)
        try:
            grams_by_venue[venue] += grams
        except KeyError:
            _bump(grams_by_venue, venue, grams)

    def routed(self, venue: str, direction: str, grams: int) -> None:
        """Quantity sent to a venue; direction is "northbound", "southbound" or "domestic"."""
        key = (venue, direction)
        tally = self._routed_grams
        try:
            tally[key] += grams
        except KeyError:
            _bump(tally, key, grams)

    def ack_latency_ns(self, ns: int) -> None:
        self.ack_latency.observe_ns(ns)

    def matching_batch_ns(self, ns: int) -> None:
        self.matching_batch.observe_ns(ns)

    def router_decision_ns(self, ns: int) -> None:
        self.router_decision.observe_ns(ns)

    # ---- state (set on change) -------------------------------------------------------
    def set_quota(self, direction: str, used_cny: Any, remaining_cny: Any) -> None:
        self._quota[direction] = (float(used_cny), float(remaining_cny))

    def set_open_orders(self, instrument: str, count: int) -> None:
        self._open_orders[instrument] = count

    def set_kill_switch(self, global_on: bool, accounts_on: int) -> None:
        self._kill_global = bool(global_on)
        self._kill_accounts = int(accounts_on)

    def set_fx(self, pair: str, rate: Any) -> None:
        self._fx[pair] = float(rate)

    def set_ready(self, ready: bool) -> None:
        self._ready = bool(ready)

    def observe_loop_lag_ns(self, ns: int) -> None:
        self.last_loop_lag_ns = ns
        self.loop_lag.observe_ns(ns)

    # ---- exposition ------------------------------------------------------------------
    def exposition(self) -> bytes:
        """The registry in the Prometheus text format, as `/metrics` serves it."""
        render = getattr(self.registry, "render_text", None)
        if render is not None:
            return render()
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class MetricsRegistry(CollectorRegistry):
    """A CollectorRegistry whose `render_text()` prints gold-router's own collector directly
    (a scrape runs on the event loop: with 200 sessions generate_latest blocks it for ~30 ms)
    and any other collector registered later through prometheus-client as usual."""

    def __init__(self) -> None:
        super().__init__(auto_describe=True)
        self._fast: _Collector | None = None
        self._others: list = []

    def register(self, collector) -> None:
        super().register(collector)
        if isinstance(collector, _Collector) and self._fast is None:
            self._fast = collector
        else:
            self._others.append(collector)

    def unregister(self, collector) -> None:
        super().unregister(collector)
        if collector is self._fast:
            self._fast = None
        elif collector in self._others:
            self._others.remove(collector)

    def render_text(self) -> bytes:
        from prometheus_client import generate_latest

        text = self._fast.render_text() if self._fast is not None else b""
        if self._others:
            text += generate_latest(_Several(self._others))
        return text


class _Several:
    """Just enough of a registry for generate_latest: the collectors' families in order."""

    def __init__(self, collectors: list) -> None:
        self.collectors = collectors

    def collect(self):
        for c in self.collectors:
            yield from c.collect()


def _merge(pairs: Iterable[tuple[tuple[str, ...], int | float]]) -> dict[tuple[str, ...], float]:
    # Different raw keys can share label text (b"D" and "D", or several unknown types -> "other").
    merged: dict[tuple[str, ...], float] = {}
    for labels, value in pairs:
        merged[labels] = merged.get(labels, 0) + value
    return merged


def _msg_pairs(tally: dict) -> Iterable[tuple[tuple[str, str], int]]:
    names = FIX_MSG_TYPES
    for session_id, inner in list(tally.items()):
        sid = label_text(session_id)
        for msg_type, n in list(inner.items()):
            name = names.get(msg_type) if msg_type.__class__ is bytes else None
            yield (sid, name or (OTHER if msg_type == OTHER else msg_type_label(msg_type))), n


def _pair_pairs(tally: dict) -> Iterable[tuple[tuple[str, str], int]]:
    for key, n in list(tally.items()):
        if key == OTHER:
            yield (OTHER, OTHER), n
        else:
            yield (label_text(key[0]), label_text(key[1])), n


def _one_pairs(tally: dict) -> Iterable[tuple[tuple[str], int]]:
    for key, n in list(tally.items()):
        yield (label_text(key),), n


class _Spec(NamedTuple):
    """One family as plain data: rows are (label values, value), sorted; histograms carry `hist`."""

    kind: str
    name: str
    doc: str
    labels: tuple[str, ...] = ()
    rows: list = []
    hist: IntHistogram | None = None


def _rows(values: dict) -> list:
    return sorted(values.items())


class _Collector:
    """Turns the Metrics tallies into metric families at scrape time.

    `specs()` is the one data path; `collect()` wraps it in prometheus-client
    families (for any registry consumer) and `render_text()` prints it straight
    to the text format, several times faster than building families first,
    which matters because a scrape runs on the FIX event loop.
    """

    def __init__(self, m: Metrics) -> None:
        self.m = m

    def describe(self):
        # Describing by collecting lets the registry detect name clashes at registration.
        return self.collect()

    def specs(self) -> Iterable[_Spec]:
        m = self.m
        yield _Spec("counter", "fix_messages_received", "FIX messages received, by session and MsgType.",
                    ("session", "msg_type"), _rows(_merge(_msg_pairs(m._msgs_in))))
        yield _Spec("counter", "fix_messages_sent", "FIX messages sent, by session and MsgType.",
                    ("session", "msg_type"), _rows(_merge(_msg_pairs(m._msgs_out))))
        yield _Spec("counter", "fix_resend_requests", "ResendRequests the router issued on a sequence gap, by session.",
                    ("session",), _rows(_merge(_one_pairs(m._resends))))
        yield _Spec("counter", "fix_session_rejects", "Session-level rejects, by session and reason.",
                    ("session", "reason"), _rows(_merge(_pair_pairs(m._session_rejects))))
        session_states = dict(m._session_states)
        next_out: list = []
        next_in: list = []
        if m.session_source is not None:
            for row in m.session_source():
                sid = label_text(row.get("session_id", OTHER))
                if row.get("next_sender_seq_num") is not None:
                    next_out.append(((sid,), row["next_sender_seq_num"]))
                if row.get("next_target_seq_num") is not None:
                    next_in.append(((sid,), row["next_target_seq_num"]))
                if sid not in session_states and row.get("state") is not None:
                    session_states[sid] = label_text(row["state"]).lower()
        state_rows = []
        for sid, current in sorted(session_states.items()):
            for state in sorted(m._known_states | {current}):
                state_rows.append(((label_text(sid), state), 1 if state == current else 0))
        yield _Spec("gauge", "fix_session_state", "1 for the session's current state, 0 for the others.",
                    ("session", "state"), state_rows)
        yield _Spec("gauge", "fix_sessions_logged_on", "Sessions currently logged on.", (),
                    [((), sum(1 for st in session_states.values() if st in LOGGED_ON_STATES))])
        yield _Spec("gauge", "fix_next_sender_seq_num", "Next MsgSeqNum the router will send, by session.",
                    ("session",), next_out)
        yield _Spec("gauge", "fix_next_target_seq_num", "Next MsgSeqNum the router expects, by session.",
                    ("session",), next_in)

        yield _Spec("counter", "orders_received", "Orders (NewOrderSingle) received, by session.",
                    ("session",), _rows(_merge(_one_pairs(m._orders_received))))
        yield _Spec("counter", "orders_accepted", "Orders accepted, by instrument.",
                    ("instrument",), _rows(_merge(_one_pairs(m._orders_accepted))))
        yield _Spec("counter", "orders_rejected", "Orders rejected, by reason.",
                    ("reason",), _rows(_merge(_one_pairs(m._orders_rejected))))
        yield _Spec("counter", "fills", "Fills, by venue.", ("venue",), _rows(_merge(_one_pairs(m._fills))))
        yield _Spec("counter", "filled_grams", "Filled quantity in grams of gross metal, by venue.",
                    ("venue",), _rows(_merge(_one_pairs(m._filled_grams))))
        yield _Spec("counter", "routed_grams", "Quantity routed in grams, by venue and border direction.",
                    ("venue", "direction"), _rows(_merge(_pair_pairs(m._routed_grams))))

        quota = sorted(m._quota.items())
        yield _Spec("gauge", "cross_border_quota_used_cny", "Daily cross-border quota used, CNY.",
                    ("direction",), [((d,), u) for d, (u, _) in quota])
        yield _Spec("gauge", "cross_border_quota_remaining_cny", "Daily cross-border quota remaining, CNY.",
                    ("direction",), [((d,), r) for d, (_, r) in quota])
        yield _Spec("gauge", "open_orders", "Working orders, by instrument.", ("instrument",),
                    _rows({(label_text(k),): v for k, v in m._open_orders.items()}))
        yield _Spec("gauge", "kill_switch_global", "1 while the global kill switch is on.", (),
                    [((), 1 if m._kill_global else 0)])
        yield _Spec("gauge", "kill_switch_accounts", "Accounts whose kill switch is on.", (),
                    [((), m._kill_accounts)])
        yield _Spec("gauge", "fx_rate", "FX rate in force (quote currency per base), by pair.", ("pair",),
                    _rows({(k,): v for k, v in m._fx.items()}))
        yield _Spec("gauge", "ready", "1 once numba is warm and the FIX acceptor listens.", (),
                    [((), 1 if m._ready else 0)])
        yield _Spec("gauge", "event_loop_lag_last_seconds", "Most recent event-loop lag sample.", (),
                    [((), m.last_loop_lag_ns / SECOND)])

        yield _Spec("histogram", "order_ack_latency_seconds",
                    "Order received to acknowledgement written, in seconds.", hist=m.ack_latency)
        yield _Spec("histogram", "matching_batch_seconds", "Matching core time per batch call.",
                    hist=m.matching_batch)
        yield _Spec("histogram", "router_decision_seconds", "Smart-router decision time per order.",
                    hist=m.router_decision)
        yield _Spec("histogram", "event_loop_lag_seconds", "Event-loop scheduling lag.", hist=m.loop_lag)

    def collect(self):
        for sp in self.specs():
            if sp.kind == "histogram":
                fam = HistogramMetricFamily(PREFIX + sp.name, sp.doc)
                fam.add_metric((), sp.hist.buckets(), sum_value=sp.hist.sum_ns / SECOND)
            else:
                cls = CounterMetricFamily if sp.kind == "counter" else GaugeMetricFamily
                fam = cls(PREFIX + sp.name, sp.doc, labels=sp.labels)
                for key, value in sp.rows:
                    fam.add_metric(key, value)
            yield fam

    def render_text(self) -> bytes:
        """The Prometheus text format (0.0.4), byte for byte what generate_latest prints for collect()."""
        out: list[str] = []
        esc_cache: dict[str, str] = {}

        def esc(value: str) -> str:
            e = esc_cache.get(value)
            if e is None:
                e = esc_cache[value] = (value.replace("\\", "\\\\").replace("\n", "\\n")
                                        .replace('"', '\\"'))
            return e

        for sp in self.specs():
            base = PREFIX + sp.name
            mname = base + "_total" if sp.kind == "counter" else base
            doc = sp.doc.replace("\\", "\\\\").replace("\n", "\\n")
            out.append(f"# HELP {mname} {doc}\n# TYPE {mname} {sp.kind}\n")
            if sp.kind == "histogram":
                hist = sp.hist
                buckets = hist.buckets()
                for le, n in buckets:
                    out.append(f'{base}_bucket{{le="{le}"}} {_num(n)}\n')
                out.append(f"{base}_count {_num(buckets[-1][1])}\n{base}_sum {_num(hist.sum_ns / SECOND)}\n")
                continue
            labels = sp.labels
            if not labels:
                for _, value in sp.rows:
                    out.append(f"{mname} {_num(value)}\n")
            elif len(labels) == 1:
                l0 = labels[0]
                for key, value in sp.rows:
                    out.append(f'{mname}{{{l0}="{esc(key[0])}"}} {_num(value)}\n')
            elif len(labels) == 2:
                ia, ib = (0, 1) if labels[0] <= labels[1] else (1, 0)
                la, lb = labels[ia], labels[ib]
                for key, value in sp.rows:
                    out.append(f'{mname}{{{la}="{esc(key[ia])}",{lb}="{esc(key[ib])}"}} {_num(value)}\n')
            else:
                order = sorted(range(len(labels)), key=labels.__getitem__)
                for key, value in sp.rows:
                    inner = ",".join(f'{labels[i]}="{esc(key[i])}"' for i in order)
                    out.append(f"{mname}{{{inner}}} {_num(value)}\n")
        return "".join(out).encode()


def _num(value: Any) -> str:
    # floatToGoString costs a microsecond a call; small ints (most samples) print the same directly.
    if value.__class__ is int and -1_000_000 < value < 1_000_000:
        return f"{value}.0"
    return floatToGoString(value)


async def sample_event_loop_lag(metrics: Metrics, interval_s: float = 0.1) -> None:
    """Record how late the loop wakes a sleeper, every `interval_s`, until cancelled.

    Lag is the gap between the wake-up asked for and the one obtained: a handler
    that hogs the loop shows up here before it shows up as order latency.
    """
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + interval_s
        await asyncio.sleep(interval_s)
        lag_ns = max(0, int((loop.time() - asked) * SECOND))
        metrics.observe_loop_lag_ns(lag_ns)
