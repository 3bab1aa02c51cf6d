"""Prometheus metrics for gold-router: one registry per service, cheap hooks for the hot path.

Job: define every `goldrouter_*` metric, give the FIX gateway its observer
(`message_in`, `message_out`, `session_state`, `resend_request`, `session_reject`),
give the order flow cheap recorders (orders, fills, routed grams, latencies) and
sample event-loop lag.  The exposition is prometheus-client's, from a private
`CollectorRegistry` so tests and benchmarks can build as many as they like.

Not here: HTTP serving (`router.ops.admin` mounts `/metrics`), any business
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
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry

from router.orders.quota import MICRO, Direction
from router.ops.exposition import MetricsRegistry, _Collector
from router.ops.metric_defs import (  # noqa: F401  (FIX_MSG_TYPES: re-exported)
    ACK_LATENCY_BUCKETS_NS, FIX_MSG_TYPES, JOURNAL_WRITE_BUCKETS_NS, LOOP_LAG_BUCKETS_NS, MATCHING_BATCH_BUCKETS_NS, OTHER,
    ROUTER_DECISION_BUCKETS_NS, SECOND, IntHistogram, _bump, _bump_nested, label_text,
)


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
        self._quota: dict[str, tuple[float, float, float | None]] = {}
        self._quota_watched: Any = None       # the live quota the gauges are read from (watch_quota)
        self._open_orders: dict[Any, int] = {}
        self._kill_global = False
        self._kill_accounts = 0
        self._fx: dict[str, float] = {}
        self._fx_set_ns: dict[str, int] = {}                 # pair -> wall time of the update that set it
        self._fx_updates: dict[tuple[str, str], int] = {}    # (pair, outcome) -> updates
        self._ref_updates: dict[tuple[str, str], int] = {}
        self._self_trade: dict[tuple[str], int] = {}
        self._product_unfilled: dict[tuple[str, str], int] = {}     # (product, reason) -> fine micrograms
        self._margin_held: dict[str, float] = {}
        self._ledger_trades: dict[str, int] = {}
        self.ledger_trades_held = 0                        # trades the books of record hold in memory
        self.ledger_trades_archived = 0                    # let go at the trading-day rolls
        self._drop_copy_reports: dict[str, int] = {}       # drop-copy session -> copies sent
        self._trade_capture: dict[str, int] = {}           # "accepted" / "rejected" -> AD requests
        self.margin_calls_open = 0
        self._trading_status: dict[str, int] = {}
        self._ready = False
        # Scale-out roles (router.cluster): fn() -> ClusterStats of this gateway or core; None in `serve`
        self.cluster_source: Any = None
        self.console_subscribers = 0
        self.insecure_exposures = 0
        self.session_takeovers: dict[Any, int] = {}
        self.logout_release_timeouts: dict[Any, int] = {}
        self.busy_poll_windows = 0      # router.fix.busy_poll: windows ended, time spent in them
        self.busy_poll_ns = 0
        self.console_updates = 0
        # Command journal: batches written, commands in them, write time, errors, recovery at start-up
        self.journal_write = IntHistogram(JOURNAL_WRITE_BUCKETS_NS)
        self.journal_commands = 0
        self.journal_last_seq = 0
        self.journal_errors = 0
        self.journal_replayed = 0
        self.journal_recovery_ns = 0
        self.snapshots = 0
        self.snapshot_last_ns = 0
        self.snapshot_last_seq = 0
        self.snapshot_fork_pause_ns = 0
        # Pulled at scrape time: callable -> iterable of session dicts (see admin.AdminBackend.sessions)
        self.session_source: Callable[[], Iterable[Mapping[str, Any]]] | None = None
        # Pulled at scrape time: callable -> {name: count} (OrderFlow.memory_stats)
        self.memory_source: Callable[[], Mapping[str, int]] | None = None
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
    def set_quota(self, direction: str, used_cny: Any, remaining_cny: Any, limit_cny: Any = None) -> None:
        """Used (may be negative: sells add back), balance and limit of one direction, CNY."""
        self._quota[direction] = (float(used_cny), float(remaining_cny),
                                  None if limit_cny is None else float(limit_cny))

    def watch_quota(self, quota: Any) -> None:
        """The cross-border quota (`orders.quota.CrossBorderQuota`) the quota gauges show, read off it at
        scrape time (`quota_rows`): the order flow calls this on every quota change, and an assignment
        is all it costs there (six Decimal divisions and three floats per direction were ~5 % of the
        service's CPU per order: benchmarks/README.md, "The service around the flow, session 9")."""
        self._quota_watched = quota

    def quota_rows(self) -> list[tuple[str, tuple[float, float, float | None]]]:
        """(direction, (used, remaining, limit CNY)), sorted: `set_quota`'s values, and the watched
        quota's now (the same Decimal arithmetic `set_quota`'s callers did)."""
        rows = dict(self._quota)
        q = self._quota_watched
        if q is not None:
            for d in Direction:
                rows[d.value] = (float(Decimal(q.used(d)) / MICRO), float(Decimal(q.remaining(d)) / MICRO),
                                 float(Decimal(q.limit(d)) / MICRO))
        return sorted(rows.items())

    def set_open_orders(self, instrument: str, count: int) -> None:
        self._open_orders[instrument] = count

    def set_kill_switch(self, global_on: bool, accounts_on: int) -> None:
        self._kill_global = bool(global_on)
        self._kill_accounts = int(accounts_on)

    def set_fx(self, pair: str, rate: Any, set_ns: int | None = None) -> None:
        """The mid in force and (when an update set it) the time it was set, for the age gauge."""
        self._fx[pair] = float(rate)
        if set_ns is not None:
            self._fx_set_ns[pair] = set_ns

    def fx_update(self, pair: str, outcome: str) -> None:
        """An FX update of one pair: "applied" or the refusal reason (max_jump_pct, unknown_pair, ...)."""
        _bump(self._fx_updates, (pair, outcome))

    def reference_price_update(self, instrument: str, source: str) -> None:
        _bump(self._ref_updates, (instrument, source))

    def product_unfilled(self, product: str, reason: str, fine_ug: int) -> None:
        """Fine micrograms of a product order no book took (below one lot, or nothing to trade with)."""
        _bump(self._product_unfilled, (product, reason), fine_ug)

    def self_trade_cancel(self, mode: str) -> None:
        """An order cancelled by self-trade prevention, by the account's mode."""
        _bump(self._self_trade, (mode,))

    def set_margin_held(self, currency: str, amount: Any) -> None:
        """Margin held over all accounts in `currency` (decimal units), set when it changes."""
        self._margin_held[currency] = float(amount)

    def set_margin_calls(self, count: int) -> None:
        self.margin_calls_open = int(count)

    def ledger_trade(self, clearing_house: str, held: int) -> None:
        """A fill recorded; `held`: the trades the ledger now holds in memory."""
        tally = self._ledger_trades
        try:
            tally[clearing_house] += 1
        except KeyError:
            _bump(tally, clearing_house)
        self.ledger_trades_held = held

    def set_ledger_held(self, held: int) -> None:
        self.ledger_trades_held = held

    def ledger_archived(self, n: int) -> None:
        """`n` trades let go at a trading-day roll (written to the trade archive)."""
        self.ledger_trades_archived += n

    def drop_copy_reports(self, session: str, n: int) -> None:
        """`n` copies of execution reports sent (or stored for resend) to a drop-copy session."""
        self._drop_copy_reports[session] = self._drop_copy_reports.get(session, 0) + n

    def trade_capture_request(self, accepted: bool) -> None:
        _bump(self._trade_capture, "accepted" if accepted else "rejected")

    def journal_batch(self, commands: int, ns: int, last_seq: int) -> None:
        self.journal_commands += commands
        self.journal_last_seq = last_seq
        self.journal_write.observe_ns(ns)

    def snapshot_forked(self, ns: int) -> None:
        """The event loop's pause to fork the process that writes a background snapshot."""
        self.snapshot_fork_pause_ns = ns

    def snapshot_taken(self, ns: int, seq: int) -> None:
        self.snapshots += 1
        self.snapshot_last_ns = ns
        self.snapshot_last_seq = seq

    def journal_error(self) -> None:
        self.journal_errors += 1

    def journal_recovered(self, commands: int, ns: int, last_seq: int) -> None:
        self.journal_replayed = commands
        self.journal_recovery_ns = ns
        self.journal_last_seq = last_seq

    def set_trading_status(self, instrument: str, code: int) -> None:
        """SecurityTradingStatus(326) of an instrument now: 17 ready, 21 pre-open, 18 not available, 20 unknown."""
        self._trading_status[instrument] = code

    def set_ready(self, ready: bool) -> None:
        self._ready = bool(ready)

    def set_insecure_exposures(self, n: int) -> None:
        """Exposure rules the service runs past because of --insecure (router.ops.exposure)."""
        self.insecure_exposures = n

    def busy_poll_window(self, ns: int) -> None:
        """A busy-polling window of the FIX event loop ended after `ns` (router.fix.busy_poll)."""
        self.busy_poll_windows += 1
        self.busy_poll_ns += ns

    def session_takeover(self, session_id: str) -> None:
        """A new logon replaced a silent connection of the session (router.fix.gateway)."""
        _bump(self.session_takeovers, session_id)

    def logout_release_timeout(self, session_id: str) -> None:
        """A Logout was answered without the application's release of the session (router.fix.logout_release)."""
        _bump(self.logout_release_timeouts, session_id)

    def set_console_subscribers(self, n: int) -> None:
        """Browser consoles streaming (router.ops.console), set when one opens or closes."""
        self.console_subscribers = n

    def console_update(self, subscribers: int) -> None:
        """One console snapshot was handed to `subscribers` streams."""
        self.console_updates += subscribers

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
