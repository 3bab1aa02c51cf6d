"""Tiny runs of the benchmark harness: it runs, counts every ack, writes its files.

Never an assertion on speed: these machines are shared, and speed is the
benchmarks' business (`python -m benchmarks`), reported as same-run ratios.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import threading

import pytest

from benchmarks import __main__ as suite
from benchmarks import metrics_overhead, orderflow, plots, roundtrip
from router.fix.codec import FixMessage, FrameDecoder


def test_client_frames_are_valid_fix():
    framer = roundtrip.Framer()
    frames = [framer.logon(roundtrip.utc_now()), framer.order(7, roundtrip.utc_now()),
              framer.logout(roundtrip.utc_now())]
    msgs = FrameDecoder().feed(b"".join(frames))
    assert [m.__class__ for m in msgs] == [FixMessage] * 3
    assert [m.msg_type for m in msgs] == [b"A", b"D", b"5"]
    assert [m.seq_num for m in msgs] == [1, 2, 3]
    assert msgs[1].get(11) == b"7"
    assert roundtrip.ACK.search(frames[1]).group(1) == b"7"


def test_percentiles_and_saturation_rules():
    p = roundtrip.percentiles(list(range(1000, 1_001_000, 1000)))
    assert p["samples"] == 1000 and p["p50_us"] == 501.0 and p["p99_us"] == 991.0 and p["max_us"] == 1000.0
    assert roundtrip.percentiles([])["p50_us"] is None
    step = {"offered_per_s": 1000, "achieved_per_s": 1000.0, "lost": 0, "p99_us": 50.0}
    assert not roundtrip.saturated(step)
    assert roundtrip.saturated({**step, "lost": 1})
    assert roundtrip.saturated({**step, "achieved_per_s": 800.0})


def _tiny(name: str) -> dict:
    return roundtrip.run([300, 600], 0.2, 0.0, [name], progress=lambda line: None)


def _check_counts(result: dict, name: str) -> None:
    res = result["targets"][name]
    assert res["status"] == "ok", res
    for step in res["steps"]:
        assert step["acked"] == step["sent"] == int(step["offered_per_s"] * 0.2)
        assert step["rejected"] == 0 and step["lost"] == 0
        assert step["p50_us"] <= step["p99_us"] <= step["max_us"]
    assert res["rejected"] == 0 and res["reject_share"] == 0 and res["work"] == roundtrip.WORK[name]


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to build the echo floor")
def test_roundtrip_against_the_c_echo_floor():
    result = _tiny("echo_floor")
    _check_counts(result, "echo_floor")
    assert result["machine"]["cpus"] >= 1


def test_roundtrip_against_the_gateway():
    result = _tiny("gateway")
    _check_counts(result, "gateway")
    assert "gateway_messages_per_s" in result["ratios"]


def test_gateway_answers_sends_the_mix_the_routers_answers():
    # The ceiling target must answer like the router: every message acknowledged, each crossing pair
    # trading once (a fill to each session), and its ratios named as answers, not orders.
    result = _tiny("gateway_answers")
    _check_counts(result, "gateway_answers")
    res = result["targets"]["gateway_answers"]
    for step in res["steps"]:
        assert step["fills"] == step["mix"]["cross"] > 0 and step["other_answers"] == 0
    assert res["mix"]["cancel"] > 0 and res["mix"]["ioc_product"] > 0
    assert result["ratios"]["gateway_answers_best_p50_over_floor_best_p50"] is None  # no floor in this run
    fake = {"offered_per_s": 300, "achieved_per_s": 300.0, "lost": 0, "p50_us": 40.0, "p99_us": 90.0,
            "sent": 100, "acked": 100, "rejected": 0, "server_cpu_us_per_order": 50.0}

    def saturating_at(capacity: float) -> dict:   # the second rate saturates: the capacity is measured
        return roundtrip.summarize([fake, {**fake, "offered_per_s": 4000, "achieved_per_s": capacity}])

    ra, ga, gw = saturating_at(500.0), saturating_at(800.0), saturating_at(900.0)
    r = roundtrip.ratios({"gateway": gw, "gateway_answers": ga, "router_app": ra})
    assert r["gateway_answers_capacity_over_gateway"] == 0.89
    assert r["router_app_capacity_over_gateway_answers"] == 0.62
    assert roundtrip.RATIO_LABELS["router_app_capacity_over_gateway_answers"].startswith("orders vs answers")


@pytest.mark.quickfix
def test_roundtrip_against_quickfix():
    pytest.importorskip("quickfix")
    _check_counts(_tiny("quickfix"), "quickfix")


@pytest.mark.skipif(shutil.which("cc") is None or len(os.sched_getaffinity(0)) < 2,
                    reason="needs cc and two CPUs")
def test_pinned_run_restores_the_client_affinity():
    before = os.sched_getaffinity(0)
    result = roundtrip.run([300], 0.2, 0.0, ["echo_floor"], progress=lambda line: None, pin=True)
    _check_counts(result, "echo_floor")
    pinned = result["targets"]["echo_floor"]["pinned_cpus"]
    assert pinned and pinned["client"] != pinned["server"]
    assert os.sched_getaffinity(0) == before


def _answering_server(listener: socket.socket) -> None:
    """Answers Logon, then every 10th order with ExecType 8 (reject) and the others with 150=0
    followed by 150=4 (an IOC's cancelled remainder, which must not count twice)."""
    conn, _ = listener.accept()
    with conn:
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            out, frames = [], []
            while (cut := buf.find(b"\x0110=")) >= 0 and len(buf) >= cut + 8:
                frames.append(buf[:cut + 8])
                buf = buf[cut + 8:]
            for frame in frames:
                if b"\x0135=A\x01" in frame:
                    out.append(b"8=FIX.4.4\x019=5\x0135=A\x0110=000\x01")
                m = re.search(rb"\x0135=D\x01.*?\x0111=(\d+)\x01", frame, re.S)
                if m:
                    k = int(m.group(1))
                    head = b"8=FIX.4.4\x019=9\x0135=8\x0137=O%d\x0111=%d\x01" % (k, k)
                    if k % 10 == 0:
                        out.append(head + b"150=8\x0139=8\x0110=000\x01")
                    else:
                        out.append(head + b"150=0\x0139=0\x0110=000\x01")
                        out.append(head + b"150=4\x0139=4\x0110=000\x01")
            if out:
                conn.sendall(b"".join(out))


def test_client_counts_acks_and_rejects_apart():
    listener = socket.create_server(("127.0.0.1", 0))
    server = threading.Thread(target=_answering_server, args=(listener,), daemon=True)
    server.start()
    client = roundtrip.Client(listener.getsockname()[1])
    try:
        client.logon()
        step = client.run_step(500, 0.2, 0.0, drain_s=1.0)   # clordids 1..100
    finally:
        client.close()
        listener.close()
    assert step["sent"] == 100
    assert (step["acked"], step["rejected"], step["echoed"], step["lost"]) == (90, 10, 0, 0)
    assert step["reject_share"] == 0.1 and step["samples"] == 90   # latencies are acks only
    result = {"targets": {"router_app": {**roundtrip.summarize([step]), "work": roundtrip.WORK["router_app"]}},
              "ratios": {}, "machine": {"cpu_model": "x"}}
    failures = roundtrip.reject_failures(result)
    assert len(failures) == 1 and "router_app rejected 10 of 100 orders (10.00 %" in failures[0]
    assert "rejects 10 (10.00 %)" in roundtrip.report_text(result)
    result["targets"]["router_app"]["reject_share"] = 0.01
    assert roundtrip.reject_failures(result) == []


def test_orderflow_checks_each_answer():
    bench = orderflow._Bench(orderflow._config(), reference=True)
    msgs = bench.round_messages(1)
    for case in orderflow.CASES:
        bench.now += 1000
        assert orderflow.answer_problem(case, bench.flow.on_message("SHCLIENT1", msgs[case], bench.now)) is None
    # A price outside the collar is rejected: the benchmark must see that, not time it as an ack.
    outs = bench.on("SHCLIENT1", b"D", [(11, "far"), (55, "SGE.AU9999"), (54, 1), (60, "20260101-00:00:00"),
                                        (38, 1), (40, 2), (44, "100.00")])
    assert "150=8" in orderflow.answer_problem("new_instrument", outs)


def test_distinct_requests_stay_acknowledged_and_differ():
    from benchmarks.ab_probe import variant

    # Every request of a 5,000 cycle is inside the collar and the lot sizes the flow accepts...
    bench = orderflow._Bench(orderflow._config(), reference=False, distinct=5000)
    for n in (0, 1, 1999, 2000, 4999):
        msgs = bench.round_messages(n)
        for case in orderflow.CASES:
            bench.now += 1000
            assert orderflow.answer_problem(case, bench.flow.on_message("SHCLIENT1", msgs[case], bench.now)) is None
    # ... the requests are different ones, and the cycle comes back to the first.
    assert len({variant(n, 5000, 55000) for n in range(5000)}) == 5000
    assert variant(5000, 5000, 55000) == variant(0, 5000, 55000) == (1, "550.00")
    assert variant(2001, 5000, 55000) == (2, "549.99")


def test_machine_note_is_detected():
    from benchmarks._timing import PROCESS_START_LOAD, machine_description, machine_line

    m = machine_description(PROCESS_START_LOAD)
    assert m["cpus"] == os.cpu_count() and m["load_avg_start"] == PROCESS_START_LOAD
    assert m["python"] == ".".join(map(str, sys.version_info[:3]))
    line = machine_line(m)
    assert m["cpu_model"] in line and "at start" in line and "at end" in line


def test_unknown_target_is_skipped_not_failed():
    result = roundtrip.run([100], 0.1, 0.0, ["nonesuch"], progress=lambda line: None)
    assert result["targets"]["nonesuch"]["status"] == "skipped"


def test_metrics_overhead_measures_both_implementations():
    r = metrics_overhead.measure(repeat=1)
    assert set(r["metrics_ns_per_order"]) == {"goldrouter", "prometheus_client_bound"}
    assert r["codec_ns_per_order"] is not None
    assert 0 < r["metrics_share_of_codec_plus_metrics"] < 1


def test_suite_writes_json_summary_and_records_a_failure(tmp_path, capsys):
    assert suite.main(["--only", "metrics_overhead", "--quick", "--results", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "suite.json").read_text())
    assert data["benchmarks"]["metrics_overhead"]["status"] == "ok"
    assert json.loads((tmp_path / "metrics_overhead.json").read_text())["benchmark"] == "metrics_overhead"
    summary = (tmp_path / "summary.md").read_text()
    assert "| metrics_overhead | ok |" in summary and "## Targets" in summary
    # The summary ends with the one targets table: figure, anchor, ratio, limit.
    last = summary.rsplit("## Targets", 1)[1]
    assert "| target | figure | compared with | ratio / value | limit | met |" in last and "## " not in last
    assert "Machine (detected): machine: " in summary
    out = capsys.readouterr().out
    assert "[1/1] metrics_overhead: ok" in out and "Targets (this run)" in out
    # A module that exits 0 but writes no JSON is a failure, recorded and not fatal to the run.
    runner = suite.Runner(tmp_path, timeout=60, quick=True, tty=False)
    status = runner.run_one(1, 1, "plots")
    assert status["status"] == "failed" and status["reason"] == "wrote no JSON"


def test_plots_draw_or_say_why_not(tmp_path, monkeypatch):
    rt = _tiny("gateway")
    (tmp_path / "roundtrip.json").write_text(json.dumps(rt))
    (tmp_path / "matching.json").write_text(json.dumps(
        {"ns_per_command": {"numba_batch": 80, "numba_single": 700, "reference": 4000}}))
    try:
        import matplotlib  # noqa: F401
        have = True
    except ImportError:
        have = False
    written, skipped = plots.make_plots(tmp_path)
    if have:
        assert skipped is None
        assert sorted(p.name for p in written) == ["matching_ns_per_command.png", "roundtrip_latency.png"]
        assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now raises ImportError
    written, skipped = plots.make_plots(tmp_path)
    assert written == [] and "matplotlib" in skipped


@pytest.mark.slow
@pytest.mark.timeout(300)  # a fresh checkout compiles the numba kernels before the service is ready
def test_roundtrip_against_the_whole_service():
    result = _tiny("router_app")
    _check_counts(result, "router_app")


@pytest.mark.slow
def test_console_benchmark_measures_both_modes_against_the_real_service():
    from benchmarks import console

    lines: list[str] = []
    result = console.run(400, 0.5, 1, 1, progress=lines.append)
    closed, opened = result["steps"]["closed"][0], result["steps"]["open"][0]
    for step in (closed, opened):
        assert step["acked"] == step["sent"] == 200 and step["lost"] == 0 and step["rejected"] == 0
        assert step["server_cpu_us_per_order"] > 0
    assert opened["console_frames_per_s"] > 0 and closed["console_frames_per_s"] is None
    assert result["ratios"]["cpu_per_order_open_over_closed"] is not None and len(lines) == 2
    assert "console" in suite.BENCHMARKS and "console" in suite.QUICK_ARGS


@pytest.mark.quickfix
def test_roundtrip_against_the_quickfix_order_application():
    pytest.importorskip("quickfix")
    result = _tiny("quickfix_orders")
    _check_counts(result, "quickfix_orders")
    assert "orders" in result["targets"]["quickfix_orders"]["work"]


def test_router_benchmark_times_live_quotes_on_every_book():
    from benchmarks import router as router_bench

    router, req, forget_quotes = router_bench.build_quoted()
    forget_quotes()
    d = router.route(req, 0)
    assert d.ok and len(d.candidates) == 3
    assert {c.source for c in d.candidates} == {"quote"}
    assert {c.symbol for c in d.candidates} == {"SGE.AU9999", "SGEI.IAU9999", "HKGX.RKG"}
    samples = router_bench.measure({"q": lambda: router.route(req, 0)}, 50, 1)
    assert len(samples["q"]) == 50


def test_orders_ratios_compare_like_with_like_and_quickfix_orders_rejects_fail_the_run():
    step = {"offered_per_s": 1000, "achieved_per_s": 1000.0, "lost": 0, "p50_us": 40.0, "p99_us": 90.0,
            "sent": 100, "acked": 100, "rejected": 0, "server_cpu_us_per_order": 50.0}
    # Each target saturates at its last rate (achieved well under offered): capacities 1,000 and 2,000/s.
    ra = roundtrip.summarize([step, {**step, "offered_per_s": 4000, "achieved_per_s": 1000.0}])
    qo = roundtrip.summarize([{**step, "p50_us": 20.0, "offered_per_s": 2000, "achieved_per_s": 2000.0},
                              {**step, "offered_per_s": 8000, "achieved_per_s": 2000.0}])
    r = roundtrip.ratios({"router_app": ra, "quickfix_orders": qo})
    assert r["router_app_best_p50_over_quickfix_orders_best_p50"] == 2.0
    assert r["router_app_capacity_over_quickfix_orders"] == 0.5
    assert roundtrip.RATIO_LABELS["router_app_capacity_over_quickfix_orders"].startswith("orders vs orders")
    # A target no rate saturated has a capacity that is only a lower bound: the ratio becomes a bound.
    unsaturated = roundtrip.summarize([step])
    assert ra["capacity_reached"] and not unsaturated["capacity_reached"]
    r = roundtrip.ratios({"router_app": ra, "gateway": unsaturated})
    assert "router_app_capacity_over_gateway" not in r and r["router_app_capacity_over_gateway_upper_bound"] == 1.0
    r = roundtrip.ratios({"router_app": unsaturated, "gateway": ra})
    assert "router_app_capacity_over_gateway" not in r and r["router_app_capacity_over_gateway_lower_bound"] == 1.0
    r = roundtrip.ratios({"router_app": unsaturated, "gateway": unsaturated})
    assert not [k for k in r if k.startswith("router_app_capacity_over_gateway")]
    assert "capacity >= 1,000/s (no rate saturated it)" in roundtrip.report_text(
        {"targets": {"router_app": unsaturated}, "ratios": {}})
    bad = roundtrip.summarize([{**step, "acked": 90, "rejected": 10}])
    failures = roundtrip.reject_failures({"targets": {"quickfix_orders": bad}})
    assert len(failures) == 1 and failures[0].startswith("quickfix_orders rejected 10 of 100")


def test_p50_target_compares_both_p50s_at_ten_thousand_per_second(tmp_path):
    step = {"offered_per_s": 1000, "achieved_per_s": 1000.0, "lost": 0, "p50_us": 20.0, "p99_us": 90.0,
            "sent": 100, "acked": 100, "rejected": 0, "server_cpu_us_per_order": 50.0}
    at_10k = {**step, "offered_per_s": 10_000, "achieved_per_s": 10_000.0}
    floor = roundtrip.summarize([step, {**at_10k, "p50_us": 40.0}])
    ra = roundtrip.summarize([{**step, "p50_us": 60.0}, {**at_10k, "p50_us": 100.0}])
    r = roundtrip.ratios({"router_app": ra, "echo_floor": floor})
    # Like with like at the rate (100 / 40), not the best p50 of each (60 / 20).
    assert r["router_app_p50_over_floor_p50_at_10000"] == 2.5
    assert r["router_app_best_p50_over_floor_best_p50"] == 3.0
    # A router that saturated at 10k/s (or never ran it) has no such ratio, rather than a flattering one.
    swamped = roundtrip.summarize([{**step, "p50_us": 60.0}, {**at_10k, "achieved_per_s": 5_000.0}])
    assert roundtrip.ratios({"router_app": swamped, "echo_floor": floor})["router_app_p50_over_floor_p50_at_10000"] is None
    only_1k = roundtrip.summarize([step])
    assert roundtrip.ratios({"router_app": ra, "echo_floor": only_1k})["router_app_p50_over_floor_p50_at_10000"] is None
    # The busy-polling twin against itself without and against the floor, at the same step.
    bp = roundtrip.summarize([{**step, "p50_us": 30.0}, {**at_10k, "p50_us": 80.0}])
    r = roundtrip.ratios({"router_app": ra, "echo_floor": floor, "router_busy_poll": bp})
    assert r["router_busy_poll_p50_over_router_app_p50_at_10000"] == 0.8
    assert r["router_busy_poll_p50_over_floor_p50_at_10000"] == 2.0
    assert r["router_busy_poll_best_p50_over_floor_best_p50"] == 1.5
    # The suite's table judges it, with both p50s of that step shown.
    results = {"router_app": ra, "echo_floor": floor}
    (tmp_path / "roundtrip.json").write_text(json.dumps({"targets": results, "ratios": roundtrip.ratios(results)}))
    row = [r for r in suite.targets(tmp_path) if r["target"].startswith("orders: router service p50 vs C echo")]
    assert len(row) == 1 and row[0]["value"] == 2.5 and row[0]["met"] is True
    assert row[0]["figure"] == "100.00 µs" and row[0]["anchor"] == "echo_floor 40.00 µs"


def test_router_target_runs_the_file_journal_with_its_default_policy(tmp_path):
    target = roundtrip.make_target("router_app", tmp_path)
    assert "--memory-store" not in target.argv and "--journal-dir" in target.argv
    overlay = (tmp_path / "bench-overlay-router_app.toml").read_text()
    assert 'store = "file"' in overlay and 'fsync = "none"' in overlay and "busy_poll_us" not in overlay
    # Its busy-polling twin differs by that one setting.
    roundtrip.make_target("router_busy_poll", tmp_path)
    twin = (tmp_path / "bench-overlay-router_busy_poll.toml").read_text()
    assert twin == overlay + f"\n[fix]\nbusy_poll_us = {roundtrip.BUSY_POLL_US}\n"
    from router.records.journal_config import JournalConfig
    assert JournalConfig().fsync == "none"      # the shipped default is what the benchmark runs


def test_ab_probe_checks_every_answer_and_times_each_part():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "ab_probe", Path(roundtrip.__file__).with_name("ab_probe.py"))
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    result = probe.run(60)
    assert result["unexpected_answers"] == 0
    assert all(result[k] > 0 for k in ("new", "cancel", "ioc", "send_ioc", "total_ioc", "core"))
    from benchmarks import ab_orderflow
    assert set(ab_orderflow.FIGURES) <= set(result)


def test_mix_probe_times_every_kind_of_the_round_trips_mix_and_checks_every_answer():
    """`benchmarks/mix_probe.py`: rt_mix's messages through the served flow, timed per kind (fills
    included), every answer checked; a wrong expectation is counted (the check can fail)."""
    import gc
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("mix_probe", Path(roundtrip.__file__).with_name("mix_probe.py"))
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    threshold = gc.get_threshold()
    try:
        runner = probe.Runner(200)
        table = probe.table(runner.run(1000))
        assert runner.bad == 0, runner.first_bad
        assert set(table["kinds"]) == set(probe.KINDS) and table["mix_mean_us"] > 0
        block = runner.block(600)
        from benchmarks import ab_orderflow
        assert set(ab_orderflow.MIX_FIGURES) <= set(block) and block["unexpected_answers"] == 0
        probe.EXPECT["cross_trade"] = [b"0", b"0"]        # a trade must give its sender 150=0 then F
        runner.run(300)
        assert runner.bad > 0 and runner.first_bad[0] == "cross_trade"
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_recovery_startup_run_replays_a_real_snapshot_and_tail(tmp_path):
    """`benchmarks.recovery --startup-only` (the 1,000,000-command run's mode) starts `serve` three
    times on a journal it wrote and reports wall and CPU seconds; the summary judges its targets."""
    from benchmarks import recovery
    out = tmp_path / "recovery.json"
    assert recovery.main(["--startup-only", "--commands", "700", "--tail", "300", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    start = data["startup"]
    assert (start["commands"], start["snapshot_seq"], start["tail"]) == (700, 400, 300)
    assert start["snapshot_plus_tail_cpu_s"] > 0 and start["whole_journal_cpu_s"] > 0
    assert data["replay"]["commands"] >= 700 and "ack" not in data
    rows = {r["target"]: r for r in suite.targets(tmp_path)}
    judged = [r for name, r in rows.items() if name.startswith("start to ready from a snapshot + 300")]
    assert judged and judged[0]["value"] == start["snapshot_plus_tail_s"]


def test_batch_study_answers_as_today_and_its_checks_can_fail():
    """`benchmarks/batch_study.py` (issue 15's design study): one compiled call per read answers every
    order with today's bytes, refuses the probe's order for today's reason, leaves the same core state;
    a wrong answer, a wrong verdict or reservations left behind are each counted, not timed."""
    from benchmarks import batch_study, batch_study_kernel as bk

    result = batch_study.run(4, (1, 3))
    assert result["unexpected"] == {} and result["answers_checked"] > 100
    assert result["refused_by_kernel"] == 1          # the probe's order outside the price band
    t = result["ns_per_message"]["ioc"][3]
    assert min(t["today"], t["pre"], t["core"], t["post"]) > 0
    # A kept explanation that is not today's: the ack differs from today's, byte for byte.
    r = batch_study.Runner()
    r.read("resting", 2)
    r.batch.tails = {k: b"=0/0r" for k in r.batch.tails}
    r.read("resting", 2)
    assert r.problems == {"study resting": 1}
    # A kernel that refuses what today accepts (a 0.01 % collar): the verdicts differ.
    r = batch_study.Runner()
    r.batch.state.st[bk.H_COLLAR_BP] = 1
    r.read("ioc", 3)
    assert r.problems == {"study ioc": 1} and r.batch.refused == 3
    # Reservations the cancels did not give back: the final check sees them.
    r = batch_study.Runner()
    r.read("resting", 2)
    r.final_checks()
    assert r.problems == {}
    r.batch.state.RES[:] += 1
    r.final_checks()
    assert list(r.problems) == ["state"]


@pytest.mark.parametrize("tail", [0, 10, 11])
def test_ab_replay_refuses_a_tail_that_leaves_no_snapshot(tail, capsys):
    from benchmarks import ab_replay
    with pytest.raises(SystemExit) as e:
        ab_replay.main(["--old", "HEAD", "--commands", "10", "--tail", str(tail)])
    assert e.value.code == 2
    assert f"--tail must be above 0 and below --commands (10), got {tail}" in capsys.readouterr().err


def test_ab_service_tells_a_backlogged_block_from_one_the_service_kept_up_with():
    """A block whose p50 is a queue's (the service fell behind a neighbour's load) or that the round trip
    calls saturated is counted as backlogged; a block at the offered rate with a sub-millisecond p50 is not."""
    from benchmarks.ab_service import backlogged
    kept_up = {"offered_per_s": 8000, "achieved_per_s": 8000.0, "lost": 0, "p50_us": 180.0, "p99_us": 4000.0}
    assert not backlogged(kept_up)
    assert backlogged({**kept_up, "p50_us": 16052.1, "p99_us": 39321.6})      # session 12's neighbour: behind
    assert backlogged({**kept_up, "p99_us": 126687.8})                        # the round trip's p99 rule
    assert backlogged({**kept_up, "achieved_per_s": 6000.0})
    assert backlogged({**kept_up, "lost": 3})
    assert backlogged({**kept_up, "p50_us": None, "p99_us": None})
