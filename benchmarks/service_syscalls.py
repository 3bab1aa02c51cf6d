"""System calls per message of the whole service under the round trip's mix, old code against new.

`benchmarks.ab_service` cannot see a change of a microsecond or two per message (two `serve`
processes differ by about ±5 % on this shared machine); a change that removes system calls can be
checked exactly instead: this runs each tree's `python -m router serve --app router` as the round
trip's `router_app` target (file journal fsync none, file FIX stores, throttle lifted), sends a
warm-up block of the mix (`benchmarks.rt_mix`) at `--rate`, then attaches `strace -c -f` to the
server for one more block of `--duration` seconds and counts its system calls by name. Reported per
message sent (the counts cover the block and the strace detach, about 0.3 s more, so read them as
close, not exact), and the socket reads per message: fewer messages per read means more batch ends,
each with its own writes, so compare trees at the same messages per read.

strace slows every system call, so latency and CPU figures of these blocks mean nothing; only
the counts do. Needs `strace` and ptrace rights over a child process (skipped otherwise).

usage: python -m benchmarks.service_syscalls [--old REV] [--new REV] [--rate N] [--duration S] [--json FILE]
  (without --old: the working tree only)
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def parse_strace_summary(text: str) -> dict[str, int]:
    """syscall name -> calls, from `strace -c` output."""
    calls: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            try:
                calls[parts[-1]] = int(parts[3])
            except ValueError:
                continue
    return calls


def count(tree: Path | None, rate: int, duration: float, workdir: Path) -> dict:
    from benchmarks.console import block
    from benchmarks.roundtrip import ServiceTarget, _start

    target = ServiceTarget("router_app", workdir)
    if tree is not None:
        target.code = tree
    live = _start(target, min(rate, 2000), None)
    out = workdir / "strace.txt"
    try:
        block(live, rate, 1.0)
        tracer = subprocess.Popen(["strace", "-c", "-f", "-p", str(live.target.proc.pid), "-o", str(out)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)         # attached to every thread before the block starts
        step = block(live, rate, duration)
        time.sleep(0.3)
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=30)
    finally:
        live.close()
    calls = parse_strace_summary(out.read_text())
    sent = step["sent"]
    return {"messages": sent, "rejected_or_lost": step["rejected"] + step["lost"], "calls": calls,
            "per_message": {k: round(v / sent, 2) for k, v in sorted(calls.items(), key=lambda kv: -kv[1])},
            "total_per_message": round(sum(calls.values()) / sent, 2),
            "messages_per_read": round(sent / calls["read"], 2) if calls.get("read") else None}


def main(argv: list[str] | None = None) -> int:
    from benchmarks._timing import PROCESS_START_LOAD, machine_description, machine_line

    ap = argparse.ArgumentParser(prog="python -m benchmarks.service_syscalls", description=__doc__.splitlines()[0])
    ap.add_argument("--old", help="git revision of the old code (absent: only the working tree)")
    ap.add_argument("--new", default="HEAD", help="git revision of the new code with --old (default HEAD)")
    ap.add_argument("--rate", type=int, default=500, help="offered messages/s of the mix (default 500)")
    ap.add_argument("--duration", type=float, default=4.0, help="seconds of the traced block (default 4)")
    ap.add_argument("--json", help="write the result here")
    a = ap.parse_args(argv)
    if shutil.which("strace") is None:
        print("skipped: strace is not installed")
        return 0
    result: dict = {"benchmark": "service_syscalls", "rate": a.rate, "sides": {}}
    with tempfile.TemporaryDirectory(prefix="goldrouter-sysc-") as tmp:
        base = Path(tmp)
        sides: list[tuple[str, Path | None]] = [("tree", None)]
        if a.old:
            from benchmarks._ab import extract
            (base / "old-code").mkdir()
            (base / "new-code").mkdir()
            sides = [("old", extract(a.old, base / "old-code")), ("new", extract(a.new, base / "new-code"))]
        for side, tree in sides:
            (base / side).mkdir()
            result["sides"][side] = r = count(tree, a.rate, a.duration, base / side)
            top = ", ".join(f"{k} {v}" for k, v in list(r["per_message"].items())[:6])
            print(f"{side}: {r['total_per_message']} system calls per message ({top}); "
                  f"{r['messages_per_read']} messages per read; {r['messages']} messages")
    result["machine"] = machine_description(PROCESS_START_LOAD)
    print(machine_line(result["machine"]))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2) + "\n")
    bad = sum(r["rejected_or_lost"] for r in result["sides"].values())
    if bad:
        print(f"FAILED: {bad} messages rejected or lost")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
