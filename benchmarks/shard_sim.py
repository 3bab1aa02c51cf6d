"""Sharding by interoperable group: how often account-level checks refuse what one process would accept.

A discrete-event simulation of the choice in docs/scale-out.md section 3. This is not the router:
it is a model of one account-level limit (cash per account) under three deployments:

- `single`: one process. An order is accepted if the account's reserved amount plus the order's
  stays within its limit. The reservation is released the moment the order is done (filled and
  settled, or cancelled);
- `split` (option 2, an account stage in front of group shards): the same check, but the order
  reaches its shard one stream hop after acceptance, and its release reaches the account stage
  one more hop after it is done (`hop` each way). Releases are seen later, so the account stage
  refuses more;
- `budgets` (option 1): each of the G shards holds 1/G of every account's limit and checks only
  its own slice.

Every deployment sees the same arrival stream: Poisson arrivals, a random account and group per
order, a random size, and an exponential lifetime (time until done). Reported per case: each
deployment's refusal rate, and the orders `split`/`budgets` refused that `single` accepted (and
the reverse: once states diverge, either can refuse what the other accepted). The simulation
checks that no deployment ever reserves beyond a limit.

The utilisation is the offered reservation load over the total limits (λ × mean size × mean
lifetime / (accounts × limit)). The hop defaults to 0.5 ms, the R3 acknowledgement p50 measured
by `benchmarks.cluster`.

usage: python -m benchmarks.shard_sim [--json FILE] [--orders N] [--seed S]
"""
from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from benchmarks._timing import argument_parser, say, write_json


@dataclass(frozen=True)
class Case:
    utilisation: float  # offered reservation load / total limits
    lifetime_s: float  # mean time from acceptance until the order is done
    hop_s: float = 0.0005  # one stream hop (command to shard, or fill back to the account stage)
    groups: int = 4
    accounts: int = 50
    limit: int = 1000  # per account
    max_size: int = 100  # order sizes uniform in 1..max_size


def arrivals(case: Case, orders: int, seed: int) -> list[tuple[float, int, int, int, float]]:
    """(time, account, group, size, lifetime) for each order, the same for every deployment."""
    rng = random.Random(seed)
    mean_size = (1 + case.max_size) / 2
    rate = case.utilisation * case.accounts * case.limit / (mean_size * case.lifetime_s)
    t = 0.0
    out = []
    for _ in range(orders):
        t += rng.expovariate(rate)
        out.append((t, rng.randrange(case.accounts), rng.randrange(case.groups), rng.randint(1, case.max_size),
                    rng.expovariate(1 / case.lifetime_s)))
    return out


def run(case: Case, stream, mode: str) -> tuple[list[bool], int]:
    """Accept/refuse per order under `mode` ('single', 'split', 'budgets'); and the most ever reserved
    against one limit (account limit, or a shard's slice under 'budgets')."""
    slices = case.groups if mode == "budgets" else 1
    limit = case.limit // slices
    used = [0] * (case.accounts * slices)
    releases: list[tuple[float, int, int]] = []  # (time the checker sees it, slot, size)
    delay = 2 * case.hop_s if mode == "split" else 0.0  # to the shard, and the release back
    decisions = []
    peak = 0
    for t, account, group, size, lifetime in stream:
        while releases and releases[0][0] <= t:
            _, slot, amount = heapq.heappop(releases)
            used[slot] -= amount
        slot = account * slices + (group if slices > 1 else 0)
        ok = used[slot] + size <= limit
        decisions.append(ok)
        if ok:
            used[slot] += size
            peak = max(peak, used[slot])
            heapq.heappush(releases, (t + lifetime + delay, slot, size))
    if peak > limit:
        raise AssertionError(f"{mode}: reserved {peak} against a limit of {limit}")
    return decisions, peak


def compare(case: Case, orders: int, seed: int) -> dict:
    stream = arrivals(case, orders, seed)
    single, _ = run(case, stream, "single")
    row = {"utilisation": case.utilisation, "lifetime_s": case.lifetime_s, "hop_ms": case.hop_s * 1e3,
           "groups": case.groups, "orders": orders, "single_refused": round(single.count(False) / orders, 5)}
    for mode in ("split", "budgets"):
        other, _ = run(case, stream, mode)
        row[f"{mode}_refused"] = round(other.count(False) / orders, 5)
        row[f"{mode}_refused_single_accepted"] = round(sum(s and not o for s, o in zip(single, other)) / orders, 5)
        row[f"{mode}_accepted_single_refused"] = round(sum(o and not s for s, o in zip(single, other)) / orders, 5)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argument_parser(__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=100_000, help="orders per case")
    p.add_argument("--seed", type=int, default=16)
    args = p.parse_args(argv)
    cases = [Case(u, life, hop) for u in (0.5, 0.8, 0.95) for life in (0.01, 1.0) for hop in (0.0005, 0.005)]
    say(f"{'util':>5} {'life s':>7} {'hop ms':>7} | {'refused: single':>15} {'split':>8} {'budgets':>8} | "
        f"{'split refused, single accepted':>30} {'budgets refused, single accepted':>32}")
    rows = []
    for case in cases:
        row = compare(case, args.orders, args.seed)
        rows.append(row)
        say(f"{case.utilisation:>5.2f} {case.lifetime_s:>7g} {case.hop_s * 1e3:>7g} | "
            f"{row['single_refused']:>15.2%} {row['split_refused']:>8.2%} {row['budgets_refused']:>8.2%} | "
            f"{row['split_refused_single_accepted']:>30.3%} {row['budgets_refused_single_accepted']:>32.3%}")
    write_json(args.json, {"cases": rows, "seed": args.seed})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
