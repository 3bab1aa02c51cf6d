"""The sharding simulation (benchmarks.shard_sim): its deployments agree where they must, and respect the limits."""
from __future__ import annotations

from dataclasses import replace

from benchmarks import shard_sim as sim


def test_with_no_hop_the_account_stage_decides_exactly_as_one_process():
    case = sim.Case(utilisation=0.9, lifetime_s=0.01, hop_s=0.0)
    stream = sim.arrivals(case, 5000, seed=3)
    single, peak_single = sim.run(case, stream, "single")
    split, peak_split = sim.run(case, stream, "split")
    assert split == single and peak_split == peak_single
    assert 0 < single.count(False) < len(single)  # the case is loaded enough to refuse some
    assert peak_single <= case.limit


def test_one_shard_of_budgets_is_one_process_and_more_shards_never_overspend():
    case = sim.Case(utilisation=0.9, lifetime_s=1.0, groups=1)
    stream = sim.arrivals(case, 5000, seed=4)
    assert sim.run(case, stream, "budgets")[0] == sim.run(case, stream, "single")[0]
    four = replace(case, groups=4)
    stream = sim.arrivals(four, 5000, seed=4)
    decisions, peak = sim.run(four, stream, "budgets")
    assert peak <= four.limit // 4 and decisions.count(False) > 0


def test_a_later_release_can_only_refuse_more_on_the_same_stream_in_total():
    case = sim.Case(utilisation=0.8, lifetime_s=0.01, hop_s=0.005)
    row = sim.compare(case, 20000, seed=5)
    assert row["orders"] == 20000
    assert row["split_refused"] > row["single_refused"]
    assert row["split_refused_single_accepted"] > 0
    for key in ("single_refused", "split_refused", "budgets_refused"):
        assert 0 <= row[key] <= 1


def test_arrivals_are_reproducible_and_follow_the_case():
    case = sim.Case(utilisation=0.5, lifetime_s=1.0)
    a, b = sim.arrivals(case, 1000, seed=7), sim.arrivals(case, 1000, seed=7)
    assert a == b and a != sim.arrivals(case, 1000, seed=8)
    assert all(0 <= acc < case.accounts and 0 <= grp < case.groups and 1 <= size <= case.max_size
               for _, acc, grp, size, _ in a)
    assert [t for t, *_ in a] == sorted(t for t, *_ in a)
