"""router.ops.metrics: observer tallies, label folding, integer histograms, loop-lag sampler."""
from __future__ import annotations

import asyncio
import enum
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from router.ops import metric_defs
from router.ops import metrics as mx
from router.ops.metrics import IntHistogram, Metrics, sample_event_loop_lag


def scrape(m: Metrics) -> dict[str, dict[tuple, float]]:
    """Samples by name -> {sorted label items: value}, parsed from the real exposition text."""
    out: dict[str, dict[tuple, float]] = {}
    for fam in text_string_to_metric_families(m.exposition().decode()):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


class Reason(enum.Enum):
    QUOTA_EXHAUSTED = 1
    PRICE_COLLAR = 2

    @property
    def metric_label(self) -> str:
        return self.name.lower()


def test_observer_counts_by_session_and_named_msg_type():
    m = Metrics()
    for _ in range(3):
        m.message_in("SHCLIENT1", b"D")
    m.message_in("HKCLIENT1", b"A")
    m.message_out("SHCLIENT1", b"8")
    m.message_out("SHCLIENT1", b"8")
    s = scrape(m)
    rx = s["goldrouter_fix_messages_received_total"]
    assert rx[(("msg_type", "NewOrderSingle"), ("session", "SHCLIENT1"))] == 3
    assert rx[(("msg_type", "Logon"), ("session", "HKCLIENT1"))] == 1
    tx = s["goldrouter_fix_messages_sent_total"]
    assert tx == {(("msg_type", "ExecutionReport"), ("session", "SHCLIENT1")): 2}


def test_unknown_msg_types_fold_into_other():
    m = Metrics()
    for t in (b"ZZ", b"QQ", b"\xff", b"D"):
        m.message_in("S", t)
    rx = scrape(m)["goldrouter_fix_messages_received_total"]
    assert rx[(("msg_type", "other"), ("session", "S"))] == 3
    assert rx[(("msg_type", "NewOrderSingle"), ("session", "S"))] == 1


def test_str_msg_types_count_like_bytes():
    m = Metrics()
    m.message_in("S", "D")
    m.message_in("S", b"D")
    m.message_in("S", "nonsense")
    rx = scrape(m)["goldrouter_fix_messages_received_total"]
    assert rx == {(("msg_type", "NewOrderSingle"), ("session", "S")): 2,
                  (("msg_type", "other"), ("session", "S")): 1}


def test_session_cardinality_is_capped(monkeypatch):
    monkeypatch.setattr(metric_defs, "MAX_KEYS", 3)
    m = Metrics()
    for i in range(10):
        m.message_out(f"S{i}", b"8")
        m.message_out(f"S{i}", b"8")
    tx = scrape(m)["goldrouter_fix_messages_sent_total"]
    assert len(tx) == 4
    assert tx[(("msg_type", "ExecutionReport"), ("session", "other"))] == 14
    assert sum(tx.values()) == 20


def test_label_cardinality_is_capped(monkeypatch):
    monkeypatch.setattr(metric_defs, "MAX_KEYS", 5)
    m = Metrics()
    for i in range(20):
        m.order_rejected(f"reason{i}")
    rej = scrape(m)["goldrouter_orders_rejected_total"]
    assert len(rej) == 6
    assert rej[(("reason", "other"),)] == 15
    assert sum(rej.values()) == 20


def test_resends_session_rejects_and_states():
    m = Metrics()
    m.resend_request("S1")
    m.resend_request("S1")
    m.session_reject("S1", "required_tag_missing")
    m.session_reject("S1", "required_tag_missing")
    m.session_reject("S2", 5)
    m.session_state("S1", "ACTIVE")
    m.session_state("S2", "logon_wait")
    s = scrape(m)
    assert s["goldrouter_fix_resend_requests_total"] == {(("session", "S1"),): 2}
    rej = s["goldrouter_fix_session_rejects_total"]
    assert rej[(("reason", "required_tag_missing"), ("session", "S1"))] == 2
    assert rej[(("reason", "5"), ("session", "S2"))] == 1
    st = s["goldrouter_fix_session_state"]
    assert st[(("session", "S1"), ("state", "active"))] == 1
    assert st[(("session", "S1"), ("state", "logon_wait"))] == 0
    assert st[(("session", "S2"), ("state", "logon_wait"))] == 1
    assert s["goldrouter_fix_sessions_logged_on"] == {(): 1}


def test_enum_state_uses_its_name():
    class State(enum.Enum):
        ACTIVE = 1
        AWAIT_LOGOUT = 2

    m = Metrics()
    m.session_state("S", State.AWAIT_LOGOUT)
    st = scrape(m)["goldrouter_fix_session_state"]
    assert st[(("session", "S"), ("state", "await_logout"))] == 1


def test_session_source_gives_sequence_numbers():
    m = Metrics()
    m.session_source = lambda: [
        {"session_id": "SHCLIENT1", "state": "active", "next_sender_seq_num": 12, "next_target_seq_num": 9},
        {"session_id": "HKCLIENT1", "state": "disconnected", "next_sender_seq_num": 1,
         "next_target_seq_num": 1},
    ]
    s = scrape(m)
    assert s["goldrouter_fix_next_sender_seq_num"][(("session", "SHCLIENT1"),)] == 12
    assert s["goldrouter_fix_next_target_seq_num"][(("session", "SHCLIENT1"),)] == 9
    assert s["goldrouter_fix_session_state"][(("session", "HKCLIENT1"), ("state", "disconnected"))] == 1
    assert s["goldrouter_fix_sessions_logged_on"] == {(): 1}


def test_order_flow_counters():
    m = Metrics()
    m.order_received("SHCLIENT1")
    m.order_received("SHCLIENT1")
    m.order_accepted("SGE.AU9999")
    m.order_rejected(Reason.QUOTA_EXHAUSTED)
    m.order_rejected(Reason.QUOTA_EXHAUSTED)
    m.order_rejected("quota_exhausted")  # the same label from text folds together
    m.fill("SGE", 1000)
    m.fill("SGE", 10)
    m.fill("HKGX", 3743)
    m.routed("HKGX", "southbound", 3743)
    m.routed("SGE", "domestic", 1010)
    s = scrape(m)
    assert s["goldrouter_orders_received_total"] == {(("session", "SHCLIENT1"),): 2}
    assert s["goldrouter_orders_accepted_total"] == {(("instrument", "SGE.AU9999"),): 1}
    assert s["goldrouter_orders_rejected_total"] == {(("reason", "quota_exhausted"),): 3}
    assert s["goldrouter_fills_total"] == {(("venue", "HKGX"),): 1, (("venue", "SGE"),): 2}
    assert s["goldrouter_filled_grams_total"] == {(("venue", "HKGX"),): 3743, (("venue", "SGE"),): 1010}
    routed = s["goldrouter_routed_grams_total"]
    assert routed[(("direction", "southbound"), ("venue", "HKGX"))] == 3743
    assert routed[(("direction", "domestic"), ("venue", "SGE"))] == 1010


def test_quota_gauges_read_the_watched_quota_at_scrape_time():
    # The order flow hands the quota over (watch_quota) instead of pushing six Decimals per change:
    # every scrape must show the quota as it stands then, changed since or not.
    from router.orders.quota import CrossBorderQuota, Direction

    m = Metrics()
    q = CrossBorderQuota(20_000_000 * 1_000_000, 15_000_000 * 1_000_000)
    m.watch_quota(q)
    q.consume(Direction.SOUTHBOUND, 5_000_000 * 1_000_000 + 250_000)
    s = scrape(m)
    assert s["goldrouter_cross_border_quota_used_cny"] == {(("direction", "northbound"),): 0.0,
                                                           (("direction", "southbound"),): 5_000_000.25}
    assert s["goldrouter_cross_border_quota_remaining_cny"][(("direction", "southbound"),)] == 9_999_999.75
    assert s["goldrouter_cross_border_quota_limit_cny"][(("direction", "northbound"),)] == 20_000_000.0
    q.release(Direction.SOUTHBOUND, 250_000)          # no metrics call after this change
    q.charge(Direction.NORTHBOUND, 1_000_000)
    s = scrape(m)
    assert s["goldrouter_cross_border_quota_used_cny"] == {(("direction", "northbound"),): 1.0,
                                                           (("direction", "southbound"),): 5_000_000.0}


def test_state_gauges():
    m = Metrics()
    m.set_quota("southbound", 1_000_000, 9_000_000)
    m.set_open_orders("SGE.AU9999", 4)
    m.set_kill_switch(True, 2)
    m.set_fx("USDCNY", "7.25")
    m.set_ready(True)
    s = scrape(m)
    assert s["goldrouter_cross_border_quota_used_cny"] == {(("direction", "southbound"),): 1e6}
    assert s["goldrouter_cross_border_quota_remaining_cny"] == {(("direction", "southbound"),): 9e6}
    assert s["goldrouter_open_orders"] == {(("instrument", "SGE.AU9999"),): 4}
    assert s["goldrouter_kill_switch_global"] == {(): 1}
    assert s["goldrouter_kill_switch_accounts"] == {(): 2}
    assert s["goldrouter_fx_rate"] == {(("pair", "USDCNY"),): 7.25}
    assert s["goldrouter_ready"] == {(): 1}


def test_int_histogram_bucket_edges_follow_le():
    h = IntHistogram([10, 20, 30])
    for v in (1, 10, 11, 20, 30, 31, 10**9):
        h.observe_ns(v)
    assert h.counts == [2, 2, 1, 2]
    assert h.sum_ns == 1 + 10 + 11 + 20 + 30 + 31 + 10**9
    assert [c for _, c in h.buckets()] == [2, 4, 5, 7]
    assert h.buckets()[-1][0] == "+Inf"
    assert h.quantile_ns(0.5) == 20
    assert IntHistogram([1]).quantile_ns(0.5) is None


def test_latency_histogram_exposed_in_seconds():
    m = Metrics()
    m.ack_latency_ns(7_000)      # 7 us -> le 1e-05
    m.ack_latency_ns(40_000)     # 40 us -> le 5e-05
    m.ack_latency_ns(3_000_000)  # 3 ms -> le 0.005
    m.router_decision_ns(2_500)
    m.matching_batch_ns(15_000)
    s = scrape(m)
    b = s["goldrouter_order_ack_latency_seconds_bucket"]
    assert b[(("le", "5e-06"),)] == 0
    assert b[(("le", "1e-05"),)] == 1
    assert b[(("le", "5e-05"),)] == 2
    assert b[(("le", "0.002"),)] == 2
    assert b[(("le", "0.005"),)] == 3
    assert b[(("le", "+Inf"),)] == 3
    assert s["goldrouter_order_ack_latency_seconds_count"] == {(): 3}
    assert s["goldrouter_order_ack_latency_seconds_sum"][()] == pytest.approx(0.003047)
    assert s["goldrouter_router_decision_seconds_count"] == {(): 1}
    assert s["goldrouter_matching_batch_seconds_count"] == {(): 1}


def test_registries_are_private():
    a, b = Metrics(), Metrics()
    a.message_in("S", b"D")
    assert "goldrouter_fix_messages_received_total" in scrape(a)
    assert scrape(b).get("goldrouter_fix_messages_received_total", {}) == {}


async def test_loop_lag_sampler_sees_a_blocked_loop():
    m = Metrics()
    task = asyncio.create_task(sample_event_loop_lag(m, interval_s=0.01))
    try:
        await asyncio.sleep(0.03)
        time.sleep(0.08)  # hog the loop on purpose: the next wake-up must be late by about this much
        await asyncio.sleep(0.03)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert m.loop_lag.count >= 2
    assert max(m.loop_lag.bounds_ns[i] for i, n in enumerate(m.loop_lag.counts[:-1]) if n) >= 50_000_000
    assert scrape(m)["goldrouter_event_loop_lag_seconds_count"][()] == m.loop_lag.count


def test_fast_rendering_is_byte_identical_to_prometheus_client():
    from prometheus_client import generate_latest

    m = Metrics()
    for i in range(30):
        sid = f"CLIENT{i:02d}"
        for t in (b"A", b"D", b"8", b"0", b"ZZ"):
            m.message_in(sid, t)
            m.message_out(sid, t)
        m.message_in(sid, "D")  # str and bytes of one type merge into one series
        m.session_state(sid, "logged_on" if i % 2 else "disconnected")
        m.session_reject(sid, 'odd "reason"\\with\nnewline')
        m.order_received(sid)
    m.session_source = lambda: [{"session_id": "CLIENT00", "next_sender_seq_num": 12, "next_target_seq_num": 3}]
    m.order_rejected(Reason.PRICE_COLLAR)
    m.fill("SGE", 2_000_000)          # past 1e6: Go-style exponent formatting
    m.routed("HKGX", "southbound", 3743)
    m.set_quota("southbound", 123456789.5, 0.25)
    m.set_fx("USDCNY", "7.2512")
    m.set_open_orders("SGE.AU9999", -1)
    m.ack_latency_ns(12_345)
    m.observe_loop_lag_ns(2 * 10**9)  # beyond the last bucket: +Inf only
    assert m.exposition() == generate_latest(m.registry)


def test_registry_renders_other_collectors_too():
    from prometheus_client import Counter, generate_latest

    m = Metrics()
    extra = Counter("goldrouter_extra", "An extra counter registered by someone else.", registry=m.registry)
    extra.inc(3)
    text = m.exposition()
    assert text == generate_latest(m.registry)
    assert b"goldrouter_extra_total 3.0" in text
    m.registry.unregister(extra)
    assert b"goldrouter_extra" not in m.exposition()


def test_memory_source_gives_order_rows_and_index_entries():
    m = Metrics()
    m.memory_source = lambda: {"rows_live": 7, "rows_free": 3, "rows_capacity": 4096, "index_live": 7,
                               "index_done": 20, "index_clordids_used": 31}
    s = scrape(m)
    assert s["goldrouter_matching_order_rows"] == {(("state", "live"),): 7, (("state", "free"),): 3}
    assert s["goldrouter_matching_order_rows_capacity"] == {(): 4096}
    assert s["goldrouter_order_index_entries"][(("kind", "clordids_used"),)] == 31
    assert "goldrouter_matching_arena_growths_total" not in s or not s["goldrouter_matching_arena_growths_total"]
    m.memory_source = lambda: {"index_live": 0, "index_done": 0, "index_clordids_used": 0}   # reference book
    assert "goldrouter_matching_order_rows_capacity" not in scrape(m) or not scrape(m)[
        "goldrouter_matching_order_rows_capacity"]


def test_arena_growths_of_a_real_engine_are_counted_by_path():
    """The flow's memory_stats carries the engine's arena growths; a core filled past its first
    capacity shows them as goldrouter_matching_arena_growths_total{path}."""
    from router.app import build_router_app
    from router.config import load_config
    m = Metrics()
    app = build_router_app(load_config(), sessions_always_open=True, metrics=m)
    app.warm_up()
    m.memory_source = app.flow.memory_stats
    growths = scrape(m)["goldrouter_matching_arena_growths_total"]
    assert set(growths) == {(("path", p),) for p in ("ready", "waited", "in_place", "events_prepared")}
    assert all(v == 0 for v in growths.values())
    counts = app.flow.engine.arena_growths()
    counts_after = {k: v for k, v in counts.items()}
    assert {k[0][1]: v for k, v in growths.items()} == counts_after
