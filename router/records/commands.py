"""Commands: what each journaled input means, and the one function that applies it to the order flow.

Every input that changes the router's state is a `Command` (see `journal_format`): an inbound FIX
application message (`FIX_IN`, payload = the raw frame), a session's logout (`LOGOUT`, which may
cancel its orders), a timer tick (`TIMER`: expiry, trading-day rolls), and admin actions (`ADMIN`,
payload = canonical JSON `{"op": ..., ...}`: the run id at first start, the kill switch, FX,
reference prices, cancelling everything at shutdown, a checkpoint of the state hashes). `CommandApplier.apply` is used both live and when replaying the journal, so a
replay takes exactly the path the original input took; the time it passes is the command's own.

Admin operations are registered by name (`register`), so a later capability adds its operation
without touching the replay code. An admin operation that refuses its input is still journaled:
replaying it refuses again, which changes nothing.

Not here: numbering, batching or storing commands (`sequencer`, `journal`), sockets, metrics.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Callable, NamedTuple

from router.domain.errors import ConfigError
from router.domain.fx_quotes import apply_update
from router.fix.codec import FixMessage, FrameDecoder
from router.orders.core_bridge import Out
from router.records.journal_format import Command, CommandKind
from router.records.state_hash import hash_version, state_hashes

__all__ = ["Applied", "CommandApplier", "admin_payload", "decode_admin", "UnknownCommand"]


class Applied(NamedTuple):
    """What applying a command did: messages to send, and for admin operations the outcome."""

    outs: list
    ok: bool = True
    reason: str | None = None
    detail: str = ""
    data: Any = None


class UnknownCommand(Exception):
    """A journaled command this build cannot apply (an unknown admin op, a frame that does not parse)."""


def admin_payload(op: str, **args: Any) -> bytes:
    """Canonical JSON for an admin command: sorted keys, Decimals as strings, no whitespace."""
    body = {"op": op, **args}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=_json_default).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"admin command argument of type {type(value).__name__} cannot be journaled")


def decode_admin(payload: bytes) -> dict[str, Any]:
    return json.loads(payload)


AdminOp = Callable[[Any, dict, int], Applied]


class CommandApplier:
    """Applies commands to one `OrderFlow`; `apply(cmd, msg)` takes the already parsed message live."""

    def __init__(self, flow: Any) -> None:
        self.flow = flow
        # One decoder for every journaled frame: its recent message shapes make parsing cheaper, as
        # on a live connection; the frames' checksums are not summed again (`parse_journaled`).
        self._decoder = FrameDecoder()
        # FIX message types answered outside the order flow: msg type -> fn(session, msg, now_ns) -> outs
        self.fix_handlers: dict[bytes, Callable[[str, FixMessage, int], list]] = {}
        self.ops: dict[str, AdminOp] = {
            "start": _start, "kill": _kill, "fx": _fx, "reference_prices": _reference_prices,
            "cancel_all": _cancel_all, "checkpoint": _checkpoint, "restart": _restart,
        }

    def register(self, op: str, fn: AdminOp) -> None:
        """Add an admin operation: `fn(flow, args, now_ns) -> Applied`, pure in its inputs."""
        if op in self.ops:
            raise ValueError(f"admin operation {op!r} is registered already")
        self.ops[op] = fn

    def apply(self, cmd: Command, msg: FixMessage | None = None) -> Applied:
        kind = cmd.kind
        flow = self.flow
        if kind == CommandKind.FIX_IN:
            if msg is None:
                msg = self._decoder.parse_journaled(cmd.payload)
                if not isinstance(msg, FixMessage):
                    raise UnknownCommand(f"command {cmd.seq}: the journaled frame does not parse: {msg.reason}")
            handler = self.fix_handlers.get(msg.msg_type) if self.fix_handlers else None
            if handler is not None:
                return Applied(handler(cmd.session, msg, cmd.time_ns))
            return Applied(flow.on_message(cmd.session, msg, cmd.time_ns))
        if kind == CommandKind.TIMER:
            return Applied(flow.on_timer(cmd.time_ns))
        if kind == CommandKind.LOGOUT:
            return Applied(flow.disconnected(cmd.session, cmd.time_ns))
        if kind == CommandKind.ADMIN:
            args = decode_admin(cmd.payload)
            op = self.ops.get(args.pop("op", None))
            if op is None:
                raise UnknownCommand(f"command {cmd.seq}: unknown admin operation in {cmd.payload[:80]!r}")
            return op(flow, args, cmd.time_ns)
        if kind == CommandKind.LOGON:
            return Applied([])
        raise UnknownCommand(f"command {cmd.seq}: unknown kind {kind!r}")

    def apply_fix_in(self, seq: int, session: str, frame: bytes, now_ns: int) -> list:
        """`apply(cmd).outs` for a FIX_IN command read back from the journal, given by its fields (the
        replay's loop, where nearly every command is one): the same parse and the same handler or flow
        call, without the kind tests, the `Applied` around the outputs and the `Command` itself
        (benchmarks/README.md, "Replay after a snapshot start" and "Start-up (session 9)")."""
        msg = self._decoder.parse_journaled(frame)
        if not isinstance(msg, FixMessage):
            raise UnknownCommand(f"command {seq}: the journaled frame does not parse: {msg.reason}")
        handler = self.fix_handlers.get(msg.msg_type) if self.fix_handlers else None
        if handler is not None:
            return handler(session, msg, now_ns)
        return self.flow.on_message(session, msg, now_ns)


# -- the admin operations the order flow has today ------------------------------------------------
def _start(flow: Any, args: dict, now_ns: int) -> Applied:
    # The run id prefixes OrderIDs and ExecIDs; it is fixed by the first start and kept across restarts.
    flow.ids.run = args["run_id"].encode()
    flow.config_sha256 = args.get("config_sha256")
    return Applied([], data={"run_id": args["run_id"]})


def _restart(flow: Any, args: dict, now_ns: int) -> Applied:
    # Journaled at every later start: the configuration the commands after it are applied under.
    flow.config_sha256 = args.get("config_sha256")
    return Applied([], data={"config_sha256": flow.config_sha256})


def _kill(flow: Any, args: dict, now_ns: int) -> Applied:
    scope, account, on = args["scope"], args.get("account"), bool(args["on"])
    if scope not in ("global", "account"):
        return Applied([], False, "bad_scope", f"scope must be global or account, got {scope!r}")
    if scope == "account" and (not account or account not in flow.accounts):
        return Applied([], False, "unknown_account", f"no account {account!r}")
    outs = flow.kill(scope, account, on, now_ns)
    cancelled = sum(1 for o in outs if o.msg_type == b"8")
    return Applied(outs, data={"scope": scope, "account": account, "on": on, "cancelled": cancelled})


def _fx(flow: Any, args: dict, now_ns: int) -> Applied:
    # Each pair is stamped with this command's time; unknown pairs and jumps beyond fx.max_jump_pct
    # (unless forced) are refused here, so a replay refuses them again.
    old = flow.fx
    r = apply_update(old, args["rates"], now_ns, flow.fx_settings, bool(args.get("force", False)))
    if not r.ok:
        return Applied([], False, r.reason, r.detail)
    try:
        flow.set_fx(r.fx)
    except ConfigError as err:
        flow.set_fx(old)        # a rate that breaks a conversion factor leaves the old rates in force
        return Applied([], False, "bad_fx", str(err))
    # Consolidated group views move with FX: republish every subscribed book.
    outs = [Out(s, mt, body) for s, mt, body in flow.md.publish(range(len(flow.books)))]
    return Applied(outs, data={"fx": {k: str(v) for k, v in r.fx.rates.items()},
                               "changes": [{"pair": p, "old": None if o is None else str(o), "new": str(n)}
                                           for p, o, n in r.changes]})


def _reference_prices(flow: Any, args: dict, now_ns: int) -> Applied:
    prices = {symbol: Decimal(p) for symbol, p in args["prices"].items()}
    r = flow.set_reference_prices(prices, now_ns, force=bool(args.get("force", False)))
    if not r.ok:
        return Applied([], False, r.reason, r.detail)
    changed = {s for s, _, _ in r.changes}
    return Applied([], data={"reference_prices": [v for v in flow.references_view() if v["symbol"] in changed]})


def _cancel_all(flow: Any, args: dict, now_ns: int) -> Applied:
    victims = [o for o in flow.index.live.values() if not o.done and o.book >= 0]
    outs = flow._cancel_batch(victims, now_ns, args.get("text", "cancelled by the router"))
    return Applied(outs, data={"cancelled": sum(1 for o in outs if o.msg_type == b"8")})


def _checkpoint(flow: Any, args: dict, now_ns: int) -> Applied:
    """The state hashes the live router had at this point (journaled at a clean stop): a replay that
    reaches it with other hashes did not rebuild the same state, and says so."""
    now = state_hashes(flow, hash_version(args))
    wrong = [k for k in ("core", "flow") if args.get(k) != now[k]]
    if wrong:
        return Applied([], False, "state_mismatch", "; ".join(
            f"{k} state {now[k][:16]} differs from the recorded {str(args.get(k))[:16]}" for k in wrong))
    return Applied([], data=now)
