"""The round trip's realistic order mix: its plan is seeded and consistent, and the real service acks all of it.

Never an assertion on speed (that is `python -m benchmarks`' business).
"""
from __future__ import annotations

from collections import Counter

import pytest

from benchmarks import roundtrip, rt_mix


def test_plan_is_seeded_and_every_second_message_fits():
    slots = rt_mix.plan(2000, 3)
    assert slots == rt_mix.plan(2000, 3) and slots != rt_mix.plan(2000, 4)
    kinds = Counter(s[1] for s in slots)
    assert set(kinds) == set(rt_mix.KINDS) and sum(kinds.values()) == 2000
    assert kinds["rest"] == kinds["cancel"] and kinds["cross"] % 2 == 0
    for k, (sess, kind, sym, side, qty, price, tif, orig) in enumerate(slots):
        if kind == "cancel":
            # the order it cancels came earlier, on the same session, and rests
            assert orig < k and slots[orig][:5] == (sess, "rest", sym, side, qty) and slots[orig][6] == b"0"
        elif kind.startswith("ioc"):
            assert tif == b"3"
    # step 3: HKCLIENT1 (index 1) sells at the crossing price, SHCLIENT1 buys; the next step swaps
    crosses = [(s[0], s[3]) for s in slots if s[1] == "cross"]
    assert set(crosses) == {(1, b"2"), (0, b"1")} and Counter(crosses)[(1, b"2")] == len(crosses) // 2
    assert {(s[0], s[3]) for s in rt_mix.plan(2000, 4) if s[1] == "cross"} == {(0, b"2"), (1, b"1")}


@pytest.mark.slow
@pytest.mark.timeout(400)  # a fresh checkout compiles the numba kernels before the service is ready
def test_the_service_acks_every_message_of_the_mix():
    result = roundtrip.run([200, 400], 0.5, 0.0, ["router_app"], progress=lambda line: None)
    res = result["targets"]["router_app"]
    assert res["status"] == "ok", res
    for step in res["steps"]:
        assert step["acked"] == step["sent"] == int(step["offered_per_s"] * 0.5)
        assert step["rejected"] == 0 and step["lost"] == 0 and step["other_answers"] == 0
        # each crossing pair trades once: one fill report to each of the two sessions
        assert step["fills"] == step["mix"]["cross"] > 0
    assert res["mix"]["cancel"] > 0 and res["mix"]["ioc_product"] > 0 and res["reject_share"] == 0
    assert "mix sent: ioc_instrument" in roundtrip.report_text(result)
    assert roundtrip.reject_failures(result) == []


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_service_stages_counts_every_stage_of_the_serving_process(tmp_path):
    from benchmarks import service_stages

    result = service_stages.run(300, 0.5, 1, tmp_path, progress=lambda line: None)
    assert result["rejected_or_lost"] == 0 and result["messages"] == 150
    stages = result["stages"]
    assert set(stages) == {label for label, *_ in service_stages.STAGES}
    assert stages["session"]["calls"] == 150 and stages["flow"]["calls"] == 150
    # nested stages are inside their parents
    assert stages["input"]["us_per_message"] >= stages["flow"]["us_per_message"] > 0
    assert stages["output"]["us_per_message"] >= stages["send"]["us_per_message"] > 0


def test_service_syscalls_reads_the_strace_summary():
    from benchmarks.service_syscalls import parse_strace_summary

    text = """% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 62.90    0.022751           7      2917           write
 18.90    0.006837           3      2044           getpid
  9.63    0.003483           5       650        12 read
------ ----------- ----------- --------- --------- ----------------
100.00    0.036168           5      5611        12 total
"""
    assert parse_strace_summary(text) == {"write": 2917, "getpid": 2044, "read": 650}
