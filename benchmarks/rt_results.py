"""Round-trip results: per-step percentiles, saturation, per-target summaries, same-run ratios and the report.

Job: turn the steps `benchmarks.roundtrip` measured into what it reports -- per target the work it
does, its answers (acks, echoes, rejects and their share), best p50 and capacity; the same-run
ratios, each labelled with what it compares (echo against echo, orders against echo, echo against
a full ExecutionReport); the detected machine; and why a run must fail (the router target
rejecting more than 1 % of its orders).

Not its job: sending, receiving or timing anything (that is `benchmarks.roundtrip`), or plots.
"""
from __future__ import annotations

P99_LIMIT_NS = 1_000_000
SATURATED_P99_NS = 100_000_000
P50_TARGET_RATE = 10_000      # issue 15: "order->ack p50 at 10k orders/s <= 2.5x the C echo floor's p50"
MAX_ROUTER_REJECT_SHARE = 0.01
# What each target does per order: the ratios compare these, so the output names them.
WORK = {
    "echo_floor": "echo: C server returns the order's bytes unchanged (35=D back, no FIX work)",
    "gateway": "echo: gateway session layer + validation + file store, app returns the body pre-encoded "
               "(35=D back, no ExecutionReport built)",
    "gateway_nometrics": "echo: as gateway, without the metrics observer",
    "gateway_answers": "answers: gateway answering the router's mix with the router's count of ExecutionReports "
                       "(and drop copies, inputs written ahead per batch), bodies from the request's own fields, "
                       "no risk, routing, funds or matching (benchmarks/peers/gateway_answers.py)",
    "router_app": "orders: whole service (risk, routing, funds, numba matching, file command journal "
                  "fsync none, file FIX store), realistic mix over two sessions (benchmarks.rt_mix): "
                  "instrument and product IOCs, resting DAY orders and their cancels, crossing trades; "
                  "ExecutionReports built per order",
    "router_busy_poll": "orders: as router_app, with fix.busy_poll_us = 500 (the event loop polls instead of "
                        "sleeping for 0.5 ms after each read: a core kept busy; the floor's server sleeps)",
    "quickfix": "ExecutionReport: QuickFIX C++ engine builds a full ExecutionReport 150=0 per order "
                "(Python application, keeps nothing)",
    "quickfix_orders": "orders: QuickFIX C++ engine + Python order-acknowledging application (keeps "
                       "orders, refuses duplicates and bad values), IOC NewOrderSingle -> ExecutionReports "
                       "150=0 then 150=4, file store (IOC only: no resting orders, cancels or trades)",
}


def percentiles(sorted_ns: list[int]) -> dict:
    if not sorted_ns:
        return {"p50_us": None, "p90_us": None, "p99_us": None, "p999_us": None, "max_us": None,
                "mean_us": None, "samples": 0}

    def q(p: float) -> float:
        return round(sorted_ns[min(len(sorted_ns) - 1, int(p * len(sorted_ns)))] / 1000, 1)

    return {"p50_us": q(0.5), "p90_us": q(0.9), "p99_us": q(0.99), "p999_us": q(0.999),
            "max_us": round(sorted_ns[-1] / 1000, 1),
            "mean_us": round(sum(sorted_ns) / len(sorted_ns) / 1000, 1), "samples": len(sorted_ns)}


def saturated(step: dict) -> bool:
    return (step["lost"] > 0 or step["achieved_per_s"] < 0.9 * step["offered_per_s"]
            or step["p99_us"] is None or step["p99_us"] * 1000 > SATURATED_P99_NS)


def summarize(steps: list[dict]) -> dict:
    ok = [s for s in steps if not saturated(s)]
    under_1ms = [s["offered_per_s"] for s in ok if s["p99_us"] is not None and s["p99_us"] * 1000 < P99_LIMIT_NS]
    # At the highest unsaturated rate the server batches most, which is the per-order CPU at load.
    cpu = [s["server_cpu_us_per_order"] for s in ok if s.get("server_cpu_us_per_order")][-1:]
    sent = sum(s["sent"] for s in steps)
    rejected = sum(s.get("rejected", 0) for s in steps)
    return {
        "status": "ok",
        "steps": steps,
        "sent": sent,
        "acked": sum(s["acked"] for s in steps),
        "fill_reports": sum(s.get("fills", 0) for s in steps),
        "mix": _mix_total(steps),
        "echoed": sum(s.get("echoed", 0) for s in steps),
        "rejected": rejected,
        "reject_share": round(rejected / sent, 4) if sent else None,
        "p50_us_at_lowest_rate": steps[0]["p50_us"] if steps else None,
        "max_rate_p99_under_1ms": max(under_1ms) if under_1ms else None,
        "capacity_orders_per_s": max((s["achieved_per_s"] for s in steps), default=0.0),
        # Capacity is a limit found only if some rate saturated; else the highest offered rate was met
        # and the figure is a lower bound (a --quick run, or rates that stop short).
        "capacity_reached": any(saturated(s) for s in steps),
        "server_cpu_us_per_order_at_load": cpu[0] if cpu else None,
    }


def _mix_total(steps: list[dict]) -> dict | None:
    """Messages sent per kind over all steps (the mixed-order client's steps only)."""
    if not any("mix" in s for s in steps):
        return None
    out: dict = {}
    for s in steps:
        for kind, count in s.get("mix", {}).items():
            out[kind] = out.get(kind, 0) + count
    return out


def step_ratio(a: dict, b: dict, key: str = "p50_us") -> float | None:
    """Median, over the rates where neither target saturated, of a[key] / b[key] at the same rate
    (measured a few seconds apart, since targets are interleaved rate by rate)."""
    if a.get("status") != "ok" or b.get("status") != "ok":
        return None
    b_by_rate = {s["offered_per_s"]: s for s in b["steps"] if not saturated(s)}
    rs = sorted(s[key] / b_by_rate[s["offered_per_s"]][key] for s in a["steps"]
                if not saturated(s) and s["offered_per_s"] in b_by_rate
                and s.get(key) and b_by_rate[s["offered_per_s"]].get(key))
    return round(rs[len(rs) // 2], 3) if rs else None


def best_p50_ratio(a: dict, b: dict) -> float | None:
    """a's lowest unsaturated p50 / b's: noise only ever adds latency, so each target's best p50
    in the run is its closest approach to its unloaded service time."""
    if a.get("status") != "ok" or b.get("status") != "ok":
        return None
    x, y = best_p50(a), best_p50(b)
    return round(x / y, 2) if x and y else None


def p50_at(res: dict | None, rate: int) -> float | None:
    """A target's p50 (µs) at the offered `rate`, None unless it ran that step unsaturated."""
    steps = [s for s in (res or {}).get("steps", []) if s["offered_per_s"] == rate and not saturated(s)]
    return steps[0].get("p50_us") if steps else None


def p50_ratio_at(a: dict, b: dict, rate: int) -> float | None:
    """a's p50 / b's p50 at the offered `rate` (the same step of the run), None unless both ran it
    unsaturated: issue 15 states its p50 target at 10,000 orders/s."""
    if a.get("status") != "ok" or b.get("status") != "ok":
        return None
    x, y = p50_at(a, rate), p50_at(b, rate)
    return round(x / y, 2) if x and y else None


def ratios(results: dict) -> dict:
    """The same-run comparisons the issue's targets are stated in."""
    out: dict = {}
    gw, floor, qf = (results.get(k, {}) for k in ("gateway", "echo_floor", "quickfix"))
    if gw.get("status") == "ok" and floor.get("status") == "ok":
        out["gateway_best_p50_over_floor_best_p50"] = best_p50_ratio(gw, floor)
        if gw["p50_us_at_lowest_rate"] and floor["p50_us_at_lowest_rate"]:
            out["gateway_p50_over_floor_p50"] = round(gw["p50_us_at_lowest_rate"] / floor["p50_us_at_lowest_rate"], 2)
        out["gateway_p50_over_floor_p50_median_over_rates"] = step_ratio(gw, floor)
    if gw.get("status") == "ok" and qf.get("status") == "ok":
        _capacity_ratio(out, "gateway_capacity_over_quickfix", gw, qf)
        if gw["max_rate_p99_under_1ms"] and qf["max_rate_p99_under_1ms"]:
            out["gateway_p99_1ms_rate_over_quickfix"] = round(
                gw["max_rate_p99_under_1ms"] / qf["max_rate_p99_under_1ms"], 2)
    ra = results.get("router_app", {})
    qo = results.get("quickfix_orders", {})
    if ra.get("status") == "ok" and qo.get("status") == "ok":
        out["router_app_best_p50_over_quickfix_orders_best_p50"] = best_p50_ratio(ra, qo)
        _capacity_ratio(out, "router_app_capacity_over_quickfix_orders", ra, qo)
    if ra.get("status") == "ok":
        out["router_app_messages_per_s"] = round(2 * ra["capacity_orders_per_s"])
        out["router_app_best_p50_over_floor_best_p50"] = best_p50_ratio(ra, floor)
        out["router_app_p50_over_floor_p50_at_10000"] = p50_ratio_at(ra, floor, P50_TARGET_RATE)
        if gw.get("status") == "ok":
            _capacity_ratio(out, "router_app_capacity_over_gateway", ra, gw)
    bp = results.get("router_busy_poll", {})
    if bp.get("status") == "ok":
        # A core for latency: the same service polling instead of sleeping, against itself and the floor.
        out["router_busy_poll_p50_over_router_app_p50_at_10000"] = p50_ratio_at(bp, ra, P50_TARGET_RATE)
        out["router_busy_poll_p50_over_floor_p50_at_10000"] = p50_ratio_at(bp, floor, P50_TARGET_RATE)
        out["router_busy_poll_best_p50_over_floor_best_p50"] = best_p50_ratio(bp, floor)
    ga = results.get("gateway_answers", {})
    if ga.get("status") == "ok":
        # What answering the mix costs on these FIX layers against echoing one frame: router_app can
        # reach at most this share of the gateway's capacity, however little its order handling costs.
        out["gateway_answers_best_p50_over_floor_best_p50"] = best_p50_ratio(ga, floor)
        if gw.get("status") == "ok":
            _capacity_ratio(out, "gateway_answers_capacity_over_gateway", ga, gw)
        if ra.get("status") == "ok":
            _capacity_ratio(out, "router_app_capacity_over_gateway_answers", ra, ga)
    nm = results.get("gateway_nometrics", {})
    if gw.get("status") == "ok" and nm.get("status") == "ok":
        out["gateway_cpu_with_metrics_over_without"] = step_ratio(gw, nm, "server_cpu_us_per_order")
    if gw.get("status") == "ok":
        # One order in, one ack out: two FIX messages through the session layer per round trip.
        out["gateway_messages_per_s"] = round(2 * gw["capacity_orders_per_s"])
        if gw.get("server_cpu_us_per_order_at_load"):
            out["gateway_messages_per_cpu_s"] = round(2e6 / gw["server_cpu_us_per_order_at_load"])
    return out


def machine(load_at_start: list[float] | None = None) -> dict:
    """Detected now (CPU model, cores, versions, load average), with the load at the run's start."""
    from benchmarks._timing import machine_description

    return machine_description(load_at_start)


def reject_failures(result: dict) -> list[str]:
    """Why the run must fail: an order-handling target (the router, or its QuickFIX peer) rejected more
    than 1 % of the orders it was sent (its figures would then time rejections, not order handling)."""
    out = []
    for name in ("router_app", "router_busy_poll", "quickfix_orders"):
        res = result["targets"].get(name, {})
        share = res.get("reject_share")
        if res.get("status") == "ok" and share is not None and share > MAX_ROUTER_REJECT_SHARE:
            out.append(f"{name} rejected {res['rejected']:,} of {res['sent']:,} orders ({100 * share:.2f} %, "
                       f"limit {100 * MAX_ROUTER_REJECT_SHARE:.0f} %): its latencies are not order acks; "
                       f"see the server log for the reject reasons")
    return out


def _capacity_ratio(out: dict, key: str, a: dict, b: dict) -> None:
    """a's capacity / b's under `key` when both saturated at some rate. When only one did, the other's
    figure is its highest offered rate, a lower bound, so the ratio is a bound and goes under
    `key_upper_bound` or `key_lower_bound`; when neither did, there is no ratio."""
    if not b["capacity_orders_per_s"]:
        return
    a_cap, b_cap = a.get("capacity_reached", True), b.get("capacity_reached", True)
    if not (a_cap or b_cap):
        return
    suffix = "" if a_cap and b_cap else "_upper_bound" if a_cap else "_lower_bound"
    out[key + suffix] = round(a["capacity_orders_per_s"] / b["capacity_orders_per_s"], 2)


# What each same-run ratio compares, so an echo-against-echo figure is not read as order handling.
RATIO_LABELS = {
    "gateway_best_p50_over_floor_best_p50": "echo vs echo: gateway (echo app) best p50 / C echo floor best p50",
    "gateway_p50_over_floor_p50": "echo vs echo: gateway / C echo floor, p50 at the lowest rate",
    "gateway_p50_over_floor_p50_median_over_rates": "echo vs echo: gateway / C echo floor, median of per-rate p50s",
    "gateway_capacity_over_quickfix": "echo vs ExecutionReport: gateway (echo) capacity / QuickFIX (builds "
                                      "an ExecutionReport) capacity -- not like for like",
    "gateway_p99_1ms_rate_over_quickfix": "echo vs ExecutionReport: highest rate with p99 < 1 ms, gateway / "
                                          "QuickFIX -- not like for like",
    "router_app_messages_per_s": "orders: router service capacity x 2 (order in, ack out)",
    "router_app_best_p50_over_quickfix_orders_best_p50": "orders vs orders: router service (mix) best p50 / "
                                                         "QuickFIX order-acknowledging application (IOC "
                                                         "only) best p50",
    "router_app_capacity_over_quickfix_orders": "orders vs orders: router service (mix) capacity / QuickFIX "
                                                "order-acknowledging application (IOC only) capacity",
    "router_app_best_p50_over_floor_best_p50": "orders vs echo: router service best p50 / C echo floor best p50",
    "router_app_p50_over_floor_p50_at_10000": "orders vs echo: router service p50 / C echo floor p50, both at "
                                              "10,000/s offered (issue 15's wording)",
    "router_busy_poll_p50_over_router_app_p50_at_10000": "busy polling: router with fix.busy_poll_us / without, "
                                                         "p50 at 10,000/s",
    "router_busy_poll_p50_over_floor_p50_at_10000": "busy polling: router with fix.busy_poll_us / C echo floor "
                                                    "(which sleeps), p50 at 10,000/s",
    "router_busy_poll_best_p50_over_floor_best_p50": "busy polling: router with fix.busy_poll_us best p50 / C echo "
                                                     "floor best p50",
    "router_app_capacity_over_gateway": "orders vs echo: router service capacity / gateway (echo) capacity",
    "router_app_capacity_over_gateway_upper_bound": "orders vs echo: router service capacity / the gateway's "
                                                    "highest offered rate (the gateway never saturated: at most this)",
    "router_app_capacity_over_gateway_lower_bound": "orders vs echo: the router service's highest offered rate "
                                                    "(it never saturated) / gateway capacity: at least this",
    "gateway_answers_best_p50_over_floor_best_p50": "answers vs echo: the mix answered with no order handling, "
                                                    "best p50 / C echo floor best p50",
    "gateway_answers_capacity_over_gateway": "answers vs echo: the mix answered with no order handling / gateway "
                                             "(echo): the most router_app / gateway can reach on these layers",
    "gateway_answers_capacity_over_gateway_upper_bound": "answers vs echo: as above, the gateway never saturated: "
                                                         "at most this",
    "gateway_answers_capacity_over_gateway_lower_bound": "answers vs echo: as above, gateway_answers never "
                                                         "saturated: at least this",
    "router_app_capacity_over_gateway_answers": "orders vs answers: router service capacity / the same answers "
                                                "with no order handling (the order handling's share)",
    "router_app_capacity_over_gateway_answers_upper_bound": "orders vs answers: as above, gateway_answers never "
                                                            "saturated: at most this",
    "router_app_capacity_over_gateway_answers_lower_bound": "orders vs answers: as above, router_app never "
                                                            "saturated: at least this",
    "gateway_cpu_with_metrics_over_without": "echo vs echo: server CPU per order, gateway / gateway_nometrics",
    "gateway_messages_per_s": "echo: gateway capacity x 2 (order in, echo out)",
    "gateway_messages_per_cpu_s": "echo: 2 / gateway server CPU seconds per order at load",
}


def best_p50(res: dict) -> float | None:
    ps = [s["p50_us"] for s in res.get("steps", []) if not saturated(s) and s["p50_us"]]
    return min(ps) if ps else None


def report_text(result: dict) -> str:
    """The run in words: per target what it does, its answers (acks, echoes, rejects), best p50 and
    capacity; then the labelled ratios and the machine."""
    lines = []
    for name, res in result["targets"].items():
        lines.append(f"{name}: {res.get('work') or ''}")
        if res.get("status") != "ok":
            lines.append(f"    {res.get('status')}: {res.get('reason', '')}")
            continue
        answers = (f"echoes {res['echoed']:,}" if res["echoed"] else f"acks {res['acked']:,}")
        share = res["reject_share"]
        lines.append(f"    sent {res['sent']:,}, {answers}, rejects {res['rejected']:,}"
                     f" ({'-' if share is None else f'{100 * share:.2f} %'}), best p50 {best_p50(res)} us, "
                     f"capacity {'' if res.get('capacity_reached', True) else '>= '}"
                     f"{res['capacity_orders_per_s']:,.0f}/s"
                     f"{'' if res.get('capacity_reached', True) else ' (no rate saturated it)'}")
        if res.get("mix"):
            lines.append(f"    mix sent: {', '.join(f'{k} {v:,}' for k, v in res['mix'].items())}; "
                         f"fill reports {res['fill_reports']:,}")
    for k, v in result["ratios"].items():
        lines.append(f"{k}: {v}    [{RATIO_LABELS.get(k, '')}]")
    m = result.get("machine") or {}
    lines.append(f"machine: {m.get('cpu_model')}, {m.get('cpus_usable')}/{m.get('cpus')} cores usable, "
                 f"load avg {m.get('load_avg_start')} at start, {m.get('load_avg')} at end, "
                 f"Python {m.get('python')}, numba {m.get('numba')}")
    return "\n".join(lines)
