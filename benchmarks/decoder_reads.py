"""The FIX decoder's CPU per frame by frames per socket read, warm and with the caches walked over.

`benchmarks.service_stages` shows `FrameDecoder.feed` at ~11.5 µs per message when each socket read
carries one frame and ~5.3 µs at seven per read. Is that a fixed cost per read in the decoder? This
feeds the same NewOrderSingle frames (the round trip's kind) to one long-lived decoder, grouped 1, 2
and 7 to a read, and times each read with the thread's CPU clock (as the stage counter does); then
one frame per read again with 16 MB written between reads (the caches hold something else when the
read comes, as after the service's idle wake-up). Reported: median over rounds of CPU µs per frame
in each mode. Every frame must come out as one FixMessage (else exit 1).

Not here: the session layer or anything after the decoder (`benchmarks.ab_layers`), old against new
(run it in each tree: it imports only `router.fix.codec` of the tree first on sys.path).

usage: python -m benchmarks.decoder_reads [--frames N] [--rounds K] [--json FILE]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

MODES = ("1 per read", "2 per read", "7 per read", "1 per read, caches walked")


def _frames(n: int) -> list[bytes]:
    from router.fix.codec import encode, utc_timestamp
    stamp = utc_timestamp(time.time_ns())
    return [encode(b"D", b"SHCLIENT1", b"GOLDRTR", i + 2, stamp,
                   [(11, b"%d" % i), (1, b"SHCLIENT1"), (55, b"SGE.AU9999"), (54, b"1"), (60, stamp),
                    (38, b"10"), (40, b"2"), (44, b"559.00"), (59, b"3")]) for i in range(n)]


def one_mode(frames: list[bytes], per_read: int, walk: bytearray | None) -> float:
    """CPU ns per frame of feeding `frames` in reads of `per_read` frames; each frame checked."""
    from router.fix.codec import FixMessage, FrameDecoder
    reads = [b"".join(frames[i:i + per_read]) for i in range(0, len(frames), per_read)]
    decoder = FrameDecoder()
    decoder.feed(frames[0] + frames[0])        # the shape compiled, as in a session's steady state
    clock = time.thread_time_ns
    spent = got = 0
    for data in reads:
        if walk is not None:
            walk[::64] = b"\x01" * (len(walk) // 64)
        t0 = clock()
        items = decoder.feed(data)
        spent += clock() - t0
        got += sum(1 for m in items if m.__class__ is FixMessage)
    if got != len(frames):
        raise SystemExit(f"{got} of {len(frames)} frames decoded")
    return spent / len(frames)


def run(frames_n: int, rounds: int) -> dict:
    frames = _frames(frames_n)
    walk = bytearray(16 << 20)
    samples: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(rounds):      # modes alternate within each round: a neighbour's load hits all alike
        for mode, per_read, w in zip(MODES, (1, 2, 7, 1), (None, None, None, walk)):
            samples[mode].append(one_mode(frames if w is None else frames[:frames_n // 10], per_read, w))
    return {m: statistics.median(v) / 1000 for m, v in samples.items()}


def main(argv: list[str] | None = None) -> int:
    from benchmarks._timing import PROCESS_START_LOAD, machine_description, write_json
    ap = argparse.ArgumentParser(prog="python -m benchmarks.decoder_reads", description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=21000, help="frames per mode and round (default 21000)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds, modes alternated (default 5)")
    ap.add_argument("--json", help="write the result here")
    a = ap.parse_args(argv)
    us = run(a.frames, a.rounds)
    for mode, v in us.items():
        print(f"  {mode:<26} {v:6.2f} us per frame")
    if a.json:
        write_json(a.json, {"benchmark": "decoder_reads", "us_per_frame": us,
                            "machine": machine_description(PROCESS_START_LOAD)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
