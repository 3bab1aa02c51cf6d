"""The gold-router FIX gateway with the echo application, as a benchmark target process.

Starts `router.fix.gateway.start_gateway` with one session (GOLDRTR <- BENCH,
reset on logon) and the echo app, the metrics observer attached unless
`--no-metrics`, prints "READY <port>" once it listens and stops on SIGTERM.
It is the same acceptor `gold-router serve --app echo` runs, without the rest of
the service (numba warm-up, config files), so it starts in a fraction of a second.

usage: python -m benchmarks.peers.gateway_echo --dir DIR [--port 0] [--store file|memory] [--no-metrics]
       [--event-loop uvloop|asyncio] [--profile FILE]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys


async def ready_until_stopped(port: int) -> None:
    """Tell the benchmark the target listens ("READY <port>"), then wait for SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {port}", flush=True)
    await stop.wait()


async def serve(args: argparse.Namespace) -> int:
    from router.fix.echo import EchoApp
    from router.fix.config import parse_fix_config
    from router.fix.gateway import start_gateway

    config = parse_fix_config({
        "host": "127.0.0.1", "port": args.port, "sender_comp_id": args.sender_comp_id,
        "store": args.store, "store_dir": os.path.join(args.dir, "store"),
        "sessions": [{"target_comp_id": args.target_comp_id, "account": args.target_comp_id,
                      "reset_on_logon": True}],
    })
    observer, lag_task = None, None
    if not args.no_metrics:
        from router.ops.metrics import Metrics, sample_event_loop_lag

        observer = Metrics()
        lag_task = asyncio.create_task(sample_event_loop_lag(observer, 0.5))
    kwargs = {"observer": observer} if observer is not None else {}
    gateway = await start_gateway(config, EchoApp(), **kwargs)
    await ready_until_stopped(gateway.port)
    if lag_task is not None:
        lag_task.cancel()
    await gateway.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", required=True, help="scratch directory (file store lives under it)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--store", choices=("file", "memory"), default="file")
    p.add_argument("--sender-comp-id", default="GOLDRTR")
    p.add_argument("--target-comp-id", default="BENCH")
    p.add_argument("--no-metrics", action="store_true", help="run without the Prometheus observer")
    p.add_argument("--event-loop", choices=("uvloop", "asyncio"), default="uvloop",
                   help="the loop `gold-router serve` runs on by default (uvloop)")
    p.add_argument("--profile", metavar="FILE", help="write cProfile stats here at exit (where the CPU goes)")
    args = p.parse_args(argv)
    if not args.profile:
        from router.service import run_loop
        return run_loop(serve(args), args.event_loop)
    import cProfile

    profiler = cProfile.Profile()
    try:
        return profiler.runcall(asyncio.run, serve(args))
    finally:
        profiler.dump_stats(args.profile)


if __name__ == "__main__":
    sys.exit(main())
