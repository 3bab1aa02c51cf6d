"""Drop-copy sessions: which outbound ExecutionReports each one gets a copy of, and what it may not send.

A `[[fix.sessions]]` entry with `role = "drop_copy"` (and optionally `accounts = [...]`, every account
when absent) is a read-only observer of the trading: `DropCopy.expand(outs)` returns the outbound
messages with, right after each ExecutionReport of a watched account whose ExecType(150) is New,
Trade, Canceled, Replaced, Expired or Rejected, one copy per drop-copy session (CopyMsgIndicator(797)=Y).
Status answers (150=I) are not copied: they describe nothing new. The copies are ordinary outputs: the
caller sends them in the same batch as the originals, and each drop-copy session's own FIX store
numbers them and serves its resends, so a drop-copy client that was offline gets what it missed by a
ResendRequest (the service makes them after the originals' socket write: `RouterApp.after_write`). `refusal(session, msg)` is the BusinessMessageReject(j) a drop-copy session gets for an
order message (D, F, G, q): it names the role and changes no state.

`scopes(fix_config)` says whose trades each session may ask for with a TradeCaptureReportRequest
(a drop-copy session: its accounts; a trading session: its own account).

Not here: sending (router.app), trade capture reports (records.trade_capture), the journal: copies are
made when outputs are sent, never while replaying, so a replay is unaffected.
"""
from __future__ import annotations

from typing import Any, Iterable

from router.fix.encoding import WireBody
from router.orders.core_bridge import Out

__all__ = ["DropCopy", "COPIED_EXEC_TYPES", "ORDER_MESSAGES", "scopes"]

# ExecType(150): 0 New, F Trade, 4 Canceled, 5 Replaced, C Expired, 8 Rejected.
COPIED_EXEC_TYPES = frozenset({b"0", b"F", b"4", b"5", b"C", b"8"})
ORDER_MESSAGES = {b"D": "NewOrderSingle", b"F": "OrderCancelRequest", b"G": "OrderCancelReplaceRequest",
                  b"q": "OrderMassCancelRequest"}
_COPY = (797, b"Y")
_COPY_WIRE = b"\x01797=Y"
_new_out = tuple.__new__


def _text(value: Any) -> str:
    if value.__class__ is bytes:
        return value.decode("ascii", "replace")
    return str(value)


def scopes(sessions: Iterable[Any]) -> dict[str, frozenset[str] | None]:
    """Session id -> the accounts whose trades it may see (None: every account)."""
    out: dict[str, frozenset[str] | None] = {}
    for s in sessions:
        if getattr(s, "role", "trading") == "drop_copy":
            out[s.target_comp_id] = None if s.accounts is None else frozenset(s.accounts)
        else:
            out[s.target_comp_id] = frozenset({s.account})
    return out


class DropCopy:
    """The drop-copy sessions of one configuration; see the module docstring."""

    def __init__(self, sessions: Iterable[Any], metrics: Any = None) -> None:
        self.sessions: list[tuple[str, frozenset[str] | None]] = [
            (s.target_comp_id, None if s.accounts is None else frozenset(s.accounts))
            for s in sessions if getattr(s, "role", "trading") == "drop_copy"]
        self.names = frozenset(name for name, _ in self.sessions)
        # Every drop-copy session sees every account (the default DROPCOPY1): no Account to read.
        self._every_account = all(accounts is None for _, accounts in self.sessions)
        self.metrics = metrics

    def __bool__(self) -> bool:
        return bool(self.sessions)

    def is_drop_copy(self, session: str) -> bool:
        return session in self.names

    def accounts_text(self, session: str) -> str:
        for name, accounts in self.sessions:
            if name == session:
                return "every account" if accounts is None else ", ".join(sorted(accounts))
        return "no account"

    def expand(self, outs: list[Out], *, count: bool = True, originals: bool = True) -> list[Out]:
        """`outs` with the copies inserted right after each original (a new list; `outs` unchanged);
        `count` adds them to the metric (not for a re-delivery after recovery); `originals=False`:
        the copies alone, in the same order (the service sends them after the originals' socket write)."""
        if not self.sessions:
            return outs if originals else []
        result: list[Out] = []
        counted: dict[str, int] = {}
        names = self.names
        every_account = self._every_account
        for out in outs:
            if originals:
                result.append(out)
            if out.msg_type != b"8" or out.session in names:
                continue
            body = out.body
            exec_type = account = None
            if body.__class__ is WireBody:
                # The order flow's reports: both values read off the encoding (inline: this runs for
                # every report the router sends, and a call per value costs more than the finds).
                wire = body.wire
                i = wire.find(b"\x01150=")
                if i >= 0:
                    exec_type = wire[i + 5:wire.find(b"\x01", i + 5) % (len(wire) + 1)]
                if not every_account:
                    i = wire.find(b"\x011=")
                    if i >= 0:
                        account = wire[i + 3:wire.find(b"\x01", i + 3) % (len(wire) + 1)].decode("ascii", "replace")
            else:
                for tag, value in body:
                    if tag == 150:
                        exec_type = value if value.__class__ is bytes else _text(value).encode()
                    elif tag == 1:
                        account = _text(value)
            if exec_type not in COPIED_EXEC_TYPES:
                continue
            for name, accounts in self.sessions:
                if accounts is None or account in accounts:
                    # A WireBody keeps its encoding with the copy's one field more (see router.fix.encoding).
                    copy = WireBody(wire + _COPY_WIRE) if body.__class__ is WireBody else [*body, _COPY]
                    result.append(_new_out(Out, (name, b"8", copy)))    # Out(...) without its Python __new__
                    counted[name] = counted.get(name, 0) + 1
        if counted and count and self.metrics is not None:
            for name, n in counted.items():
                self.metrics.drop_copy_reports(name, n)
        return result

    def refusal(self, session: str, msg: Any) -> Out | None:
        """The BusinessMessageReject for an order message on a drop-copy session (None: allowed)."""
        if session not in self.names:
            return None
        what = ORDER_MESSAGES.get(msg.msg_type)
        if what is None:
            return None
        body: list[tuple[int, Any]] = [(45, msg.get(34) or b"0"), (372, msg.msg_type)]
        ref = msg.get(11)
        if ref:
            body.append((379, ref))
        body += [(380, 6), (58, f"session {session} has role drop_copy: it receives copies of execution "
                                f"reports and may not send orders ({what} refused); send orders on a "
                                f"trading session")]
        return Out(session, b"j", body)
