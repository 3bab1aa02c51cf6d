"""The `gold-router` command line: serve, demo, check-config, convert, hash-password, journal.

Parses arguments, loads the configuration and hands over to the module that does the work;
configuration errors and bad arguments end with a one-line message and exit status 2, never a
traceback. It does not implement serving or routing itself.
"""
from __future__ import annotations

import argparse
import gc
import sys
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Sequence

from router.config import Config, calendar_warnings, load_config
from router.domain.convert import SCALES, convert, to_scale, to_usd_oz_fine_exact, round_to
from router.domain.errors import ConfigError

USAGE_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gold-router",
        description="FIX 4.4 order router for the Shanghai-Hong Kong gold interconnect.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    serve = sub.add_parser("serve", help="run the FIX gateway, router, metrics and admin API")
    _add_service_flags(serve)
    serve.add_argument("--app", choices=("router", "echo"), default="router",
                       help="the application behind the FIX sessions (default: router)")
    serve.add_argument("--sessions-always-open", action="store_true",
                       help="every instrument trades continuously whatever the calendar says")
    serve.add_argument("--dictionary", metavar="FILE",
                       help="QuickFIX-layout data dictionary for the --target-comp-id session "
                            "(e.g. QuickFIX's stock FIX44.xml; default fix_specs/FIX44-goldrouter.xml)")
    serve.add_argument("--insecure", action="store_true",
                       help="start even when a non-loopback listener lacks TLS, passwords or an admin token "
                            "(logged as WARNING and shown in /health)")
    serve.add_argument("--log-level", default="INFO", help="DEBUG, INFO (default), WARNING or ERROR")
    serve.add_argument("--log-format", default="text", help="text (default) or json: one object per line")
    _add_cluster_flags(serve)

    demo = sub.add_parser("demo", help="start the router in-process and run a scripted FIX client through it")
    _add_service_flags(demo)
    demo.add_argument("--calendar-hours", dest="sessions_always_open", action="store_false",
                      help="respect the trading calendars (default: every session open)")
    demo.set_defaults(sessions_always_open=True)

    check = sub.add_parser("check-config", help="validate a configuration and print the catalogue")
    check.add_argument("file", nargs="?", help="TOML file overlaid on the embedded defaults")

    conv = sub.add_parser("convert", help="convert a price between instruments or to a comparable scale")
    conv.add_argument("price", help="a price in SYMBOL's quote currency and unit, e.g. 560.00")
    conv.add_argument("symbol", help="instrument id, e.g. SGE.AU9999")
    conv.add_argument("--to", default="usd-oz-fine", help="SYMBOL, usd-oz-fine or cny-g-fine (default usd-oz-fine)")
    conv.add_argument("--fx", action="append", default=[], metavar="PAIR=RATE",
                      help="override an FX rate, e.g. USDCNY=7.25 (repeatable)")
    conv.add_argument("--config", help="TOML file overlaid on the embedded defaults")
    jr = sub.add_parser("journal", help="inspect the command journal: dump, verify, stats")
    jsub = jr.add_subparsers(dest="journal_command", metavar="ACTION")
    jsub.required = True
    for name, text in (("dump", "one line per command: seq, time, session, kind, key fields"),
                       ("verify", "check CRCs and sequence continuity, replay into a scratch core; exit 1 on a problem"),
                       ("stats", "files, command counts by kind, first and last times")):
        action = jsub.add_parser(name, help=text)
        action.add_argument("dir", nargs="?", default=None, help="journal directory (default: journal.dir)")
        action.add_argument("--config", help="TOML file overlaid on the embedded defaults")
        if name == "dump":
            action.add_argument("--from", dest="from_seq", type=int, default=1, help="first sequence number")
            action.add_argument("--limit", type=int, default=None, help="at most this many commands")
    hp = sub.add_parser("hash-password",
                        help="print the scrypt hash of a FIX session password for [[fix.sessions]] password")
    hp.add_argument("--stdin", action="store_true",
                    help="read the password from the first line of standard input instead of prompting")
    return p


def _add_service_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML file overlaid on the embedded defaults")
    p.add_argument("--fix-host", help="FIX listen address (default 127.0.0.1)")
    p.add_argument("--fix-port", type=int, help="FIX listen port (default 9878)")
    p.add_argument("--http-host", help="metrics/admin listen address (default 127.0.0.1)")
    p.add_argument("--http-port", type=int, help="metrics/admin port (default 9188; 0 picks a free one)")
    p.add_argument("--sender-comp-id", help="with --target-comp-id: also serve this one ad-hoc session")
    p.add_argument("--target-comp-id", help="the client's CompID for the ad-hoc session")
    p.add_argument("--reset-on-logon", action="store_true", help="reset sequence numbers at every logon")
    p.add_argument("--store-dir", help="directory of the persistent FIX message store")
    p.add_argument("--memory-store", action="store_true",
                   help="keep FIX sequence numbers and the command journal in memory only (tests)")
    p.add_argument("--journal-dir", help="directory of the command journal (default var/journal)")
    p.add_argument("--journal-truncate-at-corruption", action="store_true",
                   help="accept losing the journal from a damaged record on (named at start-up) onwards")
    p.add_argument("--event-loop", choices=("uvloop", "asyncio"), default=_default_loop(),
                   help="event loop implementation (default: uvloop where installed)")


def _add_cluster_flags(p: argparse.ArgumentParser) -> None:
    """Scale-out roles (router.cluster); without --role, serve is the one process it always was."""
    p.add_argument("--role", choices=("gateway", "core"), default=None,
                   help="run as a FIX gateway or a matching core of a NATS JetStream cluster (docs/scale-out.md)")
    p.add_argument("--nats", metavar="URL[,URL...]", help="with --role: the NATS servers (JetStream enabled)")
    p.add_argument("--name", help="with --role: this node's name in logs and leases (default ROLE-HOST-PID)")
    p.add_argument("--takeover", type=float, default=3.0,
                   help="with --role core: seconds after the leader's last renewal for a standby to lead (default 3)")
    p.add_argument("--replicas", type=int, default=3, help="with --role: replicas of the command stream (default 3)")


def _default_loop() -> str:
    import importlib.util
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def _fail(message: str) -> int:
    print(f"gold-router: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    cat, fx = config.catalogue, config.fx
    print(f"configuration OK ({config.source}); FX: " + ", ".join(f"{k}={v}" for k, v in fx.rates.items()))
    header = ("symbol", "venue", "quote", "lot", "tick", "tick USD/oz-fine", "fineness", "settle", "bar form")
    rows = [header]
    for i in cat.by_book():
        tick_usd = to_usd_oz_fine_exact(i, i.tick, fx, cat.constants)
        rows.append((i.symbol, i.venue, f"{i.quote_ccy}/{i.quote_unit}", f"{i.lot_size} {i.quote_unit}",
                     str(i.tick), str(round_to(tick_usd, 4)), str(i.fineness),
                     f"{i.settlement_cycle} {i.settlement_ccy}", i.bar_form))
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    for g in cat.groups.values():
        print(f"group {g.name}: {', '.join(g.members)}")
    for p in cat.products.values():
        print(f"product {p.id}: group {p.group}, qty in {p.qty_unit}, price in {p.price_ccy}/{p.price_unit}")
    for warning in calendar_warnings(config, datetime.now(timezone.utc).date()):
        print(f"warning: {warning}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    config = load_config(args.config, sections=False)
    cat = config.catalogue
    try:
        price = Decimal(args.price)
    except InvalidOperation:
        return _fail(f"PRICE {args.price!r} is not a number")
    if not price.is_finite() or price <= 0:
        return _fail(f"PRICE {args.price!r} must be a positive number")
    src = cat.instrument(args.symbol)
    if src is None:
        return _fail(f"unknown SYMBOL {args.symbol!r} (known: {', '.join(cat.instruments)})")
    changes: dict[str, str] = {}
    for item in args.fx:
        pair, sep, rate = item.partition("=")
        if not sep:
            return _fail(f"--fx {item!r} is not PAIR=RATE")
        changes[pair.strip().upper()] = rate.strip()
    fx = config.fx.updated(changes)   # ConfigError names the pair
    if args.to in SCALES:
        out = to_scale(src, price, args.to, fx, cat.constants)
        unit = "USD per fine troy oz" if args.to == "usd-oz-fine" else "CNY per fine gram"
        print(f"{price} {src.quote_ccy}/{src.quote_unit} on {src.symbol} = {out} {unit}")
        return 0
    dst = cat.instrument(args.to)
    if dst is None:
        return _fail(f"--to {args.to!r} is neither an instrument nor one of {', '.join(SCALES)}")
    out = convert(price, src, dst, fx, cat.constants)
    print(f"{price} {src.quote_ccy}/{src.quote_unit} on {src.symbol} = {out} {dst.quote_ccy}/{dst.quote_unit} "
          f"on {dst.symbol}")
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    from router.fix.credentials import hash_password
    if args.stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass
        password = getpass.getpass("FIX session password: ")
        if getpass.getpass("again: ") != password:
            return _fail("the two passwords differ")
    if not password:
        return _fail("the password is empty")
    print(hash_password(password))
    return 0


def cmd_journal(args: argparse.Namespace) -> int:
    """dump / verify / stats of a journal directory; exit 1 when verify (or stats) finds a problem."""
    import itertools
    import json
    from router.records import journal_tool
    config = load_config(args.config)
    directory = args.dir or config.sections["journal"].dir
    try:
        if args.journal_command == "dump":
            lines = journal_tool.commands(directory, max(args.from_seq, 1))
            for cmd in itertools.islice(lines, args.limit):
                print(journal_tool.describe(cmd))
            return 0
        if args.journal_command == "stats":
            report = journal_tool.stats(directory)
            print(json.dumps(report, indent=2))
            return 1 if report["problems"] else 0
        n, hashes, problems = journal_tool.verify(directory, lambda: _scratch_app(config, directory).applier)
    except FileNotFoundError as exc:
        return _fail(str(exc))
    for problem in problems:
        print(f"problem: {problem}")
    print(f"{n} commands replayed; core state {hashes['core']}; order flow state {hashes['flow']}")
    print("journal OK" if not problems else f"journal has {len(problems)} problem(s)")
    return 1 if problems else 0


def _scratch_app(config: Config, directory: str):
    """A fresh router app in the session-hours mode the journal was started with (its first command)."""
    from router.app import build_router_app
    from router.records import journal_tool
    from router.records.commands import decode_admin
    first = next(iter(journal_tool.commands(directory)), None)
    always_open = False
    if first is not None and first.kind.name == "ADMIN":
        always_open = bool(decode_admin(first.payload).get("sessions_always_open", False))
    return build_router_app(config, sessions_always_open=always_open)


def cmd_serve(args: argparse.Namespace, config: Config | None = None) -> int:
    # Imports, configuration and the core's kernels make only long-lived objects: the cyclic collector
    # ran ~300 times over them for nothing (~0.09 s of a start, benchmarks/README.md "Start-up").
    # `Service.start` enables it again once `warm_up` has collected and frozen them; so does any
    # other way out of here (a refused argument, a cluster role, the end of serving).
    gc.disable()
    try:
        return _serve(args, config)
    finally:
        gc.enable()


def _serve(args: argparse.Namespace, config: Config | None) -> int:
    from router.service import LOG_FORMATS, LOG_LEVELS, run_service
    level = str(getattr(args, "log_level", "INFO"))
    if level.upper() not in LOG_LEVELS:
        return _fail(f"--log-level {level!r} is not one of {', '.join(LOG_LEVELS)}")
    args.log_level = level.upper()
    if getattr(args, "log_format", "text") not in LOG_FORMATS:
        return _fail(f"--log-format {args.log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    if getattr(args, "role", None) is not None:
        if not args.nats:
            return _fail(f"--role {args.role} needs --nats URL[,URL...]")
        if args.takeover <= 0:
            return _fail(f"--takeover {args.takeover} must be a positive number of seconds")
        from router.cluster.serve import run_role
        gc.enable()                 # the role runs in here: with the collector, as always
        return run_role(args, config or load_config(args.config))
    return run_service(args, config or load_config(args.config))


def cmd_demo(args: argparse.Namespace) -> int:
    from router.demo import run_demo
    return run_demo(args, load_config(args.config))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "check-config":
            return cmd_check_config(args)
        if args.command == "convert":
            return cmd_convert(args)
        if args.command == "hash-password":
            return cmd_hash_password(args)
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "journal":
            return cmd_journal(args)
    except ConfigError as err:
        return _fail(f"invalid configuration: {err}")
    except KeyboardInterrupt:
        return 130
    return _fail(f"unknown command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
