"""Command journal storage cost: append throughput and per-batch cost, open (recovery scan) and replay rate.

Cases: `FileJournal.append` of batches of 1, 16 and 256 commands of about 150 bytes (a FIX
NewOrderSingle's size), with fsync "none" (write only, page cache) and "batch" (one fsync per
append); each case appends for about `--seconds` (at most `--max-commands`) into a fresh
directory on the disk under `var/bench-journal/`, timing only the `append` calls
(perf_counter_ns), so building the Command values is not counted. Then the replay: `--replay`
commands (default 1,000,000) written in batches of 256, the journal reopened (the recovery scan,
which checks every CRC) and `read()` iterated to the end.

Figures from a shared 2-core machine; fsync cost depends on the disk and whatever else writes to
it. Not here: the journal's cost inside the service (it is not wired into `serve` yet).

usage: python -m benchmarks.journal [--json FILE] [--seconds S] [--replay N]
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from benchmarks._timing import argument_parser, say, write_json
from router.records.journal import Command, CommandKind, FileJournal

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_767_225_600_000_000_000
PAYLOAD = (b"8=FIX.4.4|9=140|35=D|49=SHCLIENT1|56=GOLDROUTER|34=1234|52=20261203-10:00:00.000|11=ORD1234567|"
           b"55=SGE.AU9999|54=1|38=1|40=2|44=560.25|59=0|10=123|").ljust(150, b"|")[:150]
BATCHES = (1, 16, 256)
POLICIES = ("none", "batch")


def _batch(first: int, size: int) -> list[Command]:
    return [Command(s, T0 + s, CommandKind.FIX_IN, "SHCLIENT1", PAYLOAD) for s in range(first, first + size)]


def _fresh(base: Path, name: str) -> Path:
    path = base / name
    shutil.rmtree(path, ignore_errors=True)
    return path


def append_case(base: Path, policy: str, size: int, seconds: float, max_commands: int) -> dict:
    directory = _fresh(base, f"append-{policy}-{size}")
    journal = FileJournal(directory, fsync=policy, trading_day="2026-12-03")
    spent = 0
    batches = 0
    seq = 1
    stop = time.monotonic() + seconds
    while time.monotonic() < stop and seq <= max_commands:
        batch = _batch(seq, size)
        start = time.perf_counter_ns()
        journal.append(batch)
        spent += time.perf_counter_ns() - start
        batches += 1
        seq += size
    journal.close()
    shutil.rmtree(directory, ignore_errors=True)
    commands = batches * size
    return {"fsync": policy, "batch": size, "commands": commands,
            "commands_per_s": round(commands / (spent / 1e9)), "us_per_batch": round(spent / batches / 1e3, 2),
            "ns_per_command": round(spent / commands, 1)}


def replay_case(base: Path, count: int) -> dict:
    directory = _fresh(base, "replay")
    journal = FileJournal(directory, fsync="none", trading_day="2026-12-03")
    start = time.perf_counter()
    seq = 1
    while seq <= count:
        size = min(256, count - seq + 1)
        journal.append(_batch(seq, size))
        seq += size
    journal.close()
    write_s = time.perf_counter() - start
    size_bytes = sum(p.stat().st_size for p in directory.iterdir())
    start = time.perf_counter()
    journal = FileJournal(directory)
    open_s = time.perf_counter() - start
    start = time.perf_counter()
    n = 0
    for _ in journal.read():
        n += 1
    read_s = time.perf_counter() - start
    journal.close()
    shutil.rmtree(directory, ignore_errors=True)
    assert n == count, f"read back {n} of {count} commands"
    return {"commands": count, "file_mb": round(size_bytes / 1e6, 1), "write_s_incl_building": round(write_s, 2),
            "open_scan_s": round(open_s, 2), "read_s": round(read_s, 2),
            "read_commands_per_s": round(count / read_s), "open_plus_read_commands_per_s":
                round(count / (open_s + read_s))}


def main(argv: list[str] | None = None) -> int:
    p = argument_parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=1.0, help="time per append case")
    p.add_argument("--max-commands", type=int, default=500_000, help="cap per append case")
    p.add_argument("--replay", type=int, default=1_000_000, help="commands written then replayed")
    p.add_argument("--dir", default=str(ROOT / "var" / "bench-journal"), help="scratch directory (on disk)")
    args = p.parse_args(argv)
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    say(f"journal benchmark in {base}, record payload {len(PAYLOAD)} bytes")
    say(f"{'fsync':>6} {'batch':>6} {'commands':>9} {'commands/s':>11} {'us/batch':>9} {'ns/command':>11}")
    append = []
    for policy in POLICIES:
        for size in BATCHES:
            row = append_case(base, policy, size, args.seconds, args.max_commands)
            append.append(row)
            say(f"{policy:>6} {size:>6} {row['commands']:>9,} {row['commands_per_s']:>11,} "
                f"{row['us_per_batch']:>9,.2f} {row['ns_per_command']:>11,.1f}")
    replay = replay_case(base, args.replay)
    say(f"replay: {replay['commands']:,} commands ({replay['file_mb']} MB): open/scan {replay['open_scan_s']} s, "
        f"read {replay['read_s']} s = {replay['read_commands_per_s']:,} commands/s "
        f"({replay['open_plus_read_commands_per_s']:,}/s with the open scan)")
    write_json(args.json, {"append": {f"{r['fsync']}_{r['batch']}": r for r in append}, "replay": replay})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
