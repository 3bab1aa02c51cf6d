"""`python -m benchmarks`: run every benchmark, write JSON, a Markdown summary and PNG plots.

Each benchmark runs as its own process (`python -m benchmarks.NAME --json
results/NAME.json`) so one that crashes or hangs is recorded as failed while the
rest go on; the suite then exits non-zero.  A progress line shows which one runs
and its latest output.  `results/summary.md` gathers the figures, the same-run
ratios and the issue's targets; `results/suite.json` has the same in JSON.

Not here: the benchmarks themselves, or any timing of our own.

usage: python -m benchmarks [--only a,b] [--quick] [--results DIR] [--timeout S]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Order: cheap in-process ones first, the multi-process round trip last.
BENCHMARKS = ("codec", "matching", "router", "fix_session", "orderflow", "journal", "recovery",
              "metrics_overhead", "console", "cluster", "shard_sim", "roundtrip")
QUICK_ARGS = {
    "roundtrip": ["--quick"], "metrics_overhead": ["--repeat", "3"],
    "matching": ["--commands", "50000", "--repeat", "2"], "orderflow": ["--rounds", "500"],
    "fix_session": ["--repeat", "3"], "journal": ["--seconds", "0.3", "--replay", "100000"],
    "console": ["--repeat", "2", "--duration", "1.5"],
    "recovery": ["--orders", "300", "--commands", "20000", "--tail", "10000"],
    "cluster": ["--sync", "300", "--commands", "20000", "--failovers", "1"],
    "shard_sim": ["--orders", "20000"], "router": ["--calls", "2000", "--rounds", "2"],
}


def _flatten(data, prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k in ("machine", "steps", "targets"):
                continue
            out.extend(_flatten(v, f"{prefix}{k}."))
    elif isinstance(data, (int, float, bool)):
        out.append((prefix.rstrip("."), data))
    return out


class Runner:
    def __init__(self, results: Path, timeout: float, quick: bool, tty: bool) -> None:
        self.results, self.timeout, self.quick, self.tty = results, timeout, quick, tty

    def progress(self, text: str, final: bool = False) -> None:
        if self.tty:
            sys.stdout.write("\r\x1b[K" + text[:150] + ("\n" if final else ""))
        else:
            sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def run_one(self, index: int, total: int, name: str) -> dict:
        json_path = self.results / f"{name}.json"
        log_path = self.results / f"{name}.log"
        if json_path.exists():
            json_path.unlink()  # a stale file must not pass for this run's result
        if not (HERE / f"{name}.py").exists():
            self.progress(f"[{index}/{total}] {name}: missing (benchmarks/{name}.py)", final=True)
            return {"status": "failed", "reason": f"benchmarks/{name}.py does not exist", "seconds": 0.0}
        argv = [sys.executable, "-m", f"benchmarks.{name}", "--json", str(json_path)]
        if self.quick:
            argv += QUICK_ARGS.get(name, [])
        start = time.monotonic()
        last = [""]
        with open(log_path, "w") as log:
            proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, text=True, bufsize=1)

            def pump() -> None:
                for line in proc.stdout:
                    log.write(line)
                    line = line.rstrip()
                    if line:
                        last[0] = line
                        if not self.tty:
                            self.progress(f"  [{name}] {line}")

            reader = threading.Thread(target=pump, daemon=True)
            reader.start()
            timed_out = False
            while proc.poll() is None:
                elapsed = time.monotonic() - start
                if elapsed > self.timeout:
                    proc.kill()
                    timed_out = True
                    break
                if self.tty:
                    self.progress(f"[{index}/{total}] {name} {elapsed:5.0f}s  {last[0]}")
                time.sleep(0.5)
            proc.wait()
            reader.join(timeout=5)
            proc.stdout.close()
        seconds = round(time.monotonic() - start, 1)
        if timed_out:
            status = {"status": "failed", "reason": f"timed out after {self.timeout:.0f} s"}
        elif proc.returncode != 0:
            status = {"status": "failed", "reason": f"exit {proc.returncode}: {last[0]}"}
        elif not json_path.exists():
            status = {"status": "failed", "reason": "wrote no JSON"}
        else:
            status = {"status": "ok"}
        status["seconds"] = seconds
        self.progress(f"[{index}/{total}] {name}: {status['status']} in {seconds}s"
                      + (f" ({status['reason']})" if "reason" in status else ""), final=True)
        return status


def load(results: Path, name: str) -> dict | None:
    try:
        return json.loads((results / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


def _get(data: dict | None, *path, default=None):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def targets(results: Path) -> list[dict]:
    """The issue's stated targets, judged on this run: per row the figure measured, the anchor it is
    compared with (another target of the same run, or a fixed limit), the ratio and the limit."""
    codec, rt, mo = load(results, "codec"), load(results, "roundtrip"), load(results, "metrics_overhead")
    con = load(results, "console")
    mt, rtr, of = load(results, "matching"), load(results, "router"), load(results, "orderflow")
    rows = []

    def ratio(a, b):
        return round(a / b, 2) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None

    def row(name, value, op, limit, unit="", figure=None, anchor="fixed limit"):
        ok = None if value is None else (value <= limit if op == "<=" else value >= limit)
        rows.append({"target": name, "figure": figure if figure is not None else value, "anchor": anchor,
                     "value": value, "limit": f"{op} {limit}{unit}", "met": ok})

    def rt_target(name, *path):
        return _get(rt, "targets", name, *path)

    def best_p50(name):
        from benchmarks.roundtrip import best_p50 as unsaturated_best_p50

        return unsaturated_best_p50(rt_target(name) or {})

    def cap(name):
        return rt_target(name, "capacity_orders_per_s")

    pc, po = _get(codec, "parse_ns", "simplefix"), _get(codec, "parse_ns", "ours")
    row("codec parse: ours vs simplefix", ratio(pc, po), ">=", 15, "x", _u(po, "ns"),
        _u(pc, "ns", "simplefix "))
    ec, eo = _get(codec, "encode_ns", "simplefix"), _get(codec, "encode_ns", "ours")
    row("codec encode: ours vs simplefix", ratio(ec, eo), ">=", 10, "x", _u(eo, "ns"),
        _u(ec, "ns", "simplefix "))
    nb, nr = _get(mt, "ns_per_command", "numba_batch"), _get(mt, "ns_per_command", "reference")
    # Both batch calls are judged, each named: the events read in place (valid until the next call, as a
    # consumer that turns them into reports before its next batch reads them) and returned as a copy
    # (~25 ns more per command: the copy of ~1.4 events per command is memory-bound).
    row("matching batch ns/command, events read in place (process(copy=False))",
        _get(mt, "ns_per_command", "numba_batch_view"), "<=", 100, " ns")
    row("matching batch ns/command, events returned as a copy (process())", nb, "<=", 100, " ns")
    row("matching: numba batch vs reference book", ratio(nr, nb), ">=", 15, "x", _u(nb, "ns"),
        _u(nr, "ns", "reference "))
    row("matching one call per command ns", _get(mt, "ns_per_command", "numba_single"), "<=", 1000, " ns")
    quoted = _get(rtr, "cases", "product_kg_quoted", "median_ns")
    row("router decision median ns (1 kg product, 3 books, live quotes on every book)", quoted, "<=", 5000, " ns",
        _u(quoted, "ns"), "fixed limit; " + _u(_get(rtr, "cases", "product_kg", "median_ns"), "ns",
                                             "the same order ranked without quotes "))
    beyond = _get(of, "beyond_core_ns")
    row("order flow beyond the core, µs per NewOrderSingle -> ack (same core call as the service)",
        None if beyond is None else round(beyond / 1000, 2), "<=", 10, " µs",
        _u(None if beyond is None else round(beyond / 1000, 2), "µs"),
        _u(_get(of, "core_new_ns"), "ns", "core alone (engine.process_at_rows, as the service) "))
    gw, fl = best_p50("gateway"), best_p50("echo_floor")
    row("echo: gateway (echo app) best p50 vs C echo floor",
        _get(rt, "ratios", "gateway_best_p50_over_floor_best_p50"), "<=", 2, "x", _u(gw, "µs"),
        _u(fl, "µs", "echo_floor "))
    ra = best_p50("router_app")
    row("orders: router service best p50 vs C echo floor (best p50 of each, as the issue's 'today 4.8x')",
        _get(rt, "ratios", "router_app_best_p50_over_floor_best_p50"), "<=", 2.5, "x", _u(ra, "µs"),
        _u(fl, "µs", "echo_floor "))
    # The issue states this target at 10k orders/s: both p50s of that step, like with like (at that
    # rate each target pays the wake-ups the best p50s, found at other rates, may not).
    from benchmarks.rt_results import P50_TARGET_RATE as rate, p50_at
    row(f"orders: router service p50 vs C echo floor p50, both at {rate:,}/s offered (the issue's wording)",
        _get(rt, "ratios", f"router_app_p50_over_floor_p50_at_{rate}"), "<=", 2.5, "x",
        _u(p50_at(rt_target("router_app"), rate), "µs"),
        _u(p50_at(rt_target("echo_floor"), rate), "µs", "echo_floor "))
    # Informative, not the target: the same service given a core (fix.busy_poll_us), so it pays none of
    # the wake-ups the floor's sleeping server still pays; and the gain against itself without it.
    row(f"busy polling (informative, a core kept busy; the floor sleeps): router with fix.busy_poll_us p50 vs "
        f"C echo floor p50, both at {rate:,}/s",
        _get(rt, "ratios", f"router_busy_poll_p50_over_floor_p50_at_{rate}"), "<=", 2.5, "x",
        _u(p50_at(rt_target("router_busy_poll"), rate), "µs"),
        _u(p50_at(rt_target("echo_floor"), rate), "µs", "echo_floor "))
    row(f"busy polling (informative): router p50 with fix.busy_poll_us vs without, both at {rate:,}/s",
        _get(rt, "ratios", f"router_busy_poll_p50_over_router_app_p50_at_{rate}"), "<=", 1, "x",
        _u(p50_at(rt_target("router_busy_poll"), rate), "µs"),
        _u(p50_at(rt_target("router_app"), rate), "µs", "router_app "))
    row("orders: router service capacity vs gateway (echo) capacity",
        _get(rt, "ratios", "router_app_capacity_over_gateway"), ">=", 0.6, "x",
        _u(cap('router_app'), "orders/s"), _u(cap('gateway'), "orders/s", "gateway "))
    # Informative: the same answers with no order handling on the same layers, which splits the
    # capacity target into what the FIX layers allow and what the order handling takes.
    row("answers vs echo: the mix's answers with no order handling, capacity vs gateway (informative: the "
        "ceiling of the row above on these layers)",
        _get(rt, "ratios", "gateway_answers_capacity_over_gateway"), ">=", 0.6, "x",
        _u(cap('gateway_answers'), "orders/s"), _u(cap('gateway'), "orders/s", "gateway "))
    # What the order handling may take for 0.6 of the gateway, given this run's ceiling.
    ceiling = _get(rt, "ratios", "gateway_answers_capacity_over_gateway")
    row("orders vs answers: router service capacity vs the same answers with no order handling (informative; "
        "limit: 0.6 / the ceiling above)",
        _get(rt, "ratios", "router_app_capacity_over_gateway_answers"), ">=",
        round(0.6 / ceiling, 2) if ceiling else 0.6, "x",
        _u(cap('router_app'), "orders/s"), _u(cap('gateway_answers'), "orders/s", "gateway_answers "))
    row("orders vs orders: router service capacity vs QuickFIX order-acknowledging app (informative)",
        _get(rt, "ratios", "router_app_capacity_over_quickfix_orders"), ">=", 1, "x",
        _u(cap('router_app'), "orders/s"), _u(cap('quickfix_orders'), "orders/s", "quickfix_orders "))
    share = rt_target("router_app", "reject_share")
    row("orders: router service rejects, % of orders sent", None if share is None else round(100 * share, 2),
        "<=", 1, " %", f"{_fmt(rt_target('router_app', 'rejected'))} of {_fmt(rt_target('router_app', 'sent'))}")
    row("echo: gateway FIX messages/s (in+out, achieved)", _get(rt, "ratios", "gateway_messages_per_s"), ">=",
        60000)
    row("echo: gateway FIX messages per CPU-second (server CPU time at load)",
        _get(rt, "ratios", "gateway_messages_per_cpu_s"), ">=", 60000)
    row("echo vs ExecutionReport: gateway capacity vs QuickFIX (not like for like)",
        _get(rt, "ratios", "gateway_capacity_over_quickfix"), ">=", 3, "x", _u(cap('gateway'), "orders/s"),
        _u(cap('quickfix'), "orders/s", "quickfix "))
    row("console open vs closed: server CPU per order (same run, 1 console)",
        _get(con, "ratios", "cpu_per_order_open_over_closed"), "<=", 1.02, "x",
        _u(_get(con, "summary", "open", "server_cpu_us_per_order"), "µs"),
        _u(_get(con, "summary", "closed", "server_cpu_us_per_order"), "µs", "closed "))
    share = _get(mo, "metrics_share_of_codec_plus_metrics")
    row("metrics share of codec+metrics CPU (upper bound)", None if share is None else round(100 * share, 2),
        "<=", 5, " %")
    # Against what the gateway process really spends per order at load (from /proc, same machine).
    ns = _get(mo, "metrics_ns_per_order", "goldrouter")
    cpu_us = _get(rt, "targets", "gateway", "server_cpu_us_per_order_at_load")
    row("metrics share of gateway CPU per order", round(100 * ns / (cpu_us * 1000), 2) if ns and cpu_us else None,
        "<=", 5, " %", _u(ns, "ns"), f"gateway CPU {_fmt(cpu_us)} µs/order")
    rec = load(results, "recovery")
    row("journal cost: order->ack p50 journal on (fsync none) vs off", _get(rec, "ack", "ratio_p50_none_vs_off"),
        "<=", 1.1, "x", _u(_get(rec, "ack", "none", "p50_us"), "µs"), _u(_get(rec, "ack", "off", "p50_us"), "µs", "off "))
    tail = _get(rec, "startup", "tail")
    row(f"start to ready from a snapshot + {_fmt(tail)}-command tail, s (target set for a 100k tail)",
        _get(rec, "startup", "snapshot_plus_tail_s"), "<=", 5, " s",
        anchor=_u(_get(rec, "startup", "snapshot_plus_tail_cpu_s"), "s CPU", "fixed limit; "))
    row("warm restart to ready, empty journal (replay excluded), s", _get(rec, "startup", "empty_s"), "<=", 2, " s")
    return rows


def _u(value, unit: str, label: str = "") -> str:
    """A figure with its unit (and the anchor's name), or a dash when it was not measured."""
    return f"{label}{_fmt(value)} {unit}" if value is not None else f"{label}–"


def targets_table(rows: list[dict]) -> list[str]:
    lines = ["| target | figure | compared with | ratio / value | limit | met |", "|---|---|---|---|---|---|"]
    for r in rows:
        met = {True: "yes", False: "**no**", None: "not measured"}[r["met"]]
        lines.append(f"| {r['target']} | {_fmt(r['figure'])} | {r['anchor']} | {_fmt(r['value'])} | "
                     f"{r['limit']} | {met} |")
    return lines


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def summary_markdown(results: Path, statuses: dict, plots: list[Path], plots_skipped: str | None,
                     suite_load: tuple | None = None) -> str:
    lines = ["# gold-router benchmark run", ""]
    machine = next((d["machine"] for n in BENCHMARKS if (d := load(results, n)) and "machine" in d), None)
    from benchmarks._timing import machine_line
    lines.append(f"Run at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}. "
                 "Read the same-run ratios, not the absolute numbers: the machine may be shared.")
    lines += ["", "Machine (detected): " + machine_line(machine)]
    if suite_load:
        lines.append(f"Suite load average: {suite_load[0]} at start, {suite_load[1]} at end.")
    lines += ["", "| benchmark | status | seconds | note |", "|---|---|---|---|"]
    for name, st in statuses.items():
        lines.append(f"| {name} | {st['status']} | {st['seconds']} | {st.get('reason', '')} |")
    rt = load(results, "roundtrip")
    if rt:
        lines += ["", "## Round trip (open loop, latency from intended send time)", "",
                  "| target | offered/s | achieved/s | p50 µs | p90 µs | p99 µs | p99.9 µs | acks (echoes) | rejects | lost | server CPU µs/order |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, res in rt.get("targets", {}).items():
            if res.get("status") != "ok":
                lines.append(f"| {name} | {res.get('status')}: {res.get('reason', '')} |||||||||| ")
                continue
            for s in res["steps"]:
                lines.append(f"| {name} | {_fmt(s['offered_per_s'])} | {_fmt(s['achieved_per_s'])} | "
                             f"{_fmt(s['p50_us'])} | {_fmt(s['p90_us'])} | {_fmt(s['p99_us'])} | "
                             f"{_fmt(s['p999_us'])} | {_fmt(s['acked'])}{' (echoes)' if s.get('echoed') else ''} | "
                             f"{_fmt(s.get('rejected'))} | {s['lost']} | {_fmt(s.get('server_cpu_us_per_order'))} |")
        lines += ["", "| target | highest rate with p99 < 1 ms | capacity orders/s | p50 at lowest rate µs "
                      "| server CPU µs/order at load | load avg before, after |",
                  "|---|---|---|---|---|---|"]
        for name, res in rt.get("targets", {}).items():
            if res.get("status") == "ok":
                lines.append(f"| {name} | {_fmt(res['max_rate_p99_under_1ms'])} | "
                             f"{_fmt(res['capacity_orders_per_s'])} | {_fmt(res['p50_us_at_lowest_rate'])} | "
                             f"{_fmt(res.get('server_cpu_us_per_order_at_load'))} | "
                             f"{', '.join(map(str, res.get('load_avg_1min', [])))} |")
        if rt.get("ratios"):
            lines += ["", "Ratios: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in rt["ratios"].items())]
    for name in BENCHMARKS:
        if name == "roundtrip":
            continue
        data = load(results, name)
        if not data:
            continue
        lines += ["", f"## {name}", ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in _flatten(data)]
    lines += ["", "## Plots", ""]
    if plots_skipped:
        lines.append(f"Skipped: {plots_skipped}.")
    lines += [f"![{p.stem}]({p.name})" for p in plots]
    # Last, as the run's verdict: each target, its figure, what it is compared with, the ratio.
    lines += ["", "## Targets", ""] + targets_table(targets(results))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    p.add_argument("--quick", action="store_true", help="short runs (a smoke test of the harness)")
    p.add_argument("--results", default=str(HERE / "results"), help="output directory")
    p.add_argument("--timeout", type=float, default=1800, help="seconds allowed per benchmark")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    runner = Runner(results, args.timeout, args.quick, sys.stdout.isatty())
    from benchmarks._timing import load_average

    load_start = load_average()
    statuses = {}
    for i, name in enumerate(names, 1):
        statuses[name] = runner.run_one(i, len(names), name)

    from benchmarks.plots import make_plots

    plots, skipped = make_plots(results)
    suite_load = (load_start, load_average())
    (results / "summary.md").write_text(summary_markdown(results, statuses, plots, skipped, suite_load))
    rows = targets(results)
    (results / "suite.json").write_text(json.dumps(
        {"benchmarks": statuses, "targets": rows, "load_avg_start_end": suite_load,
         "plots": [p.name for p in plots], "plots_skipped": skipped}, indent=2) + "\n")
    failed = [n for n, s in statuses.items() if s["status"] != "ok"]
    print("\n".join(["", "Targets (this run)", *targets_table(rows)]))
    print(f"results in {results}/ (summary.md, suite.json{', plots' if plots else ''})"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")  # children inherit: progress lines arrive as printed
    sys.exit(main())
