"""PNG plots of a benchmark run: round-trip latency against offered load, matching ns/command.

Reads the JSON files `python -m benchmarks` wrote and draws with matplotlib, which
is optional (the `bench` extra): without it the plots are skipped with the reason
and nothing else changes.  Not here: running benchmarks, judging targets.

usage: python -m benchmarks.plots [RESULTS_DIR]
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
# p99.9 is in the tables; on the plot it only hides the other lines (on a shared VM it is mostly noise).
PERCENTILES = (("p50_us", "p50", "-"), ("p99_us", "p99", "--"))


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a CI machine
    import matplotlib.pyplot as plt

    return plt


def plot_roundtrip(data: dict, out: Path) -> Path | None:
    targets = {k: v for k, v in data.get("targets", {}).items() if v.get("status") == "ok" and v.get("steps")}
    if not targets:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    colours = {}
    for i, (name, res) in enumerate(sorted(targets.items())):
        colour = colours.setdefault(name, f"C{i}")
        rates = [s["offered_per_s"] for s in res["steps"]]
        for key, label, style in PERCENTILES:
            values = [s[key] for s in res["steps"]]
            pts = [(r, v) for r, v in zip(rates, values) if v is not None]
            if pts:
                ax.plot(*zip(*pts), style, marker="o", ms=3, color=colour, label=f"{name} {label}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(1000, color="grey", lw=0.8)
    # x in axes fraction, y in data: the label stays at the left edge whatever the rates.
    ax.text(0.01, 1000, "1 ms", va="bottom", color="grey", fontsize=8, transform=ax.get_yaxis_transform())
    ax.set_xlabel("offered load, orders/s (open loop)")
    ax.set_ylabel("order→ack latency from intended send time, µs")
    ax.set_title("FIX round trip over loopback: latency percentiles vs offered load")
    ax.grid(True, which="both", alpha=0.3)
    # Below the axes: inside them, seven targets' fourteen entries covered the curves and ran off the
    # figure's right edge (one column per target).
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    fig.tight_layout()
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def plot_bars(title: str, ylabel: str, values: dict[str, float], out: Path) -> Path | None:
    values = {k: v for k, v in values.items() if isinstance(v, (int, float)) and v > 0}
    if not values:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = list(values)
    bars = ax.bar(names, [values[n] for n in names], color=[f"C{i}" for i in range(len(names))])
    ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_yscale("log")
    # Log bars must start at a round power of ten, or their heights mislead.
    ax.set_ylim(bottom=10 ** math.floor(math.log10(min(values.values()))), top=max(values.values()) * 2)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def make_plots(results: Path = RESULTS) -> tuple[list[Path], str | None]:
    """Draw what the results allow; returns (files written, reason plots were skipped or None)."""
    try:
        _pyplot()
    except ImportError:
        return [], "matplotlib not installed (pip install matplotlib, or the project's 'bench' extra)"
    written: list[Path] = []
    rt = _load(results / "roundtrip.json")
    if rt and (p := plot_roundtrip(rt, results / "roundtrip_latency.png")):
        written.append(p)
    mt = _load(results / "matching.json")
    if mt and isinstance(mt.get("ns_per_command"), dict):
        if p := plot_bars("Matching core: ns per command (same stream, same run)", "ns / command",
                          mt["ns_per_command"], results / "matching_ns_per_command.png"):
            written.append(p)
    return written, None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    written, skipped = make_plots(Path(argv[0]) if argv else RESULTS)
    if skipped:
        print(f"plots skipped: {skipped}")
    for p in written:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
