"""Outputs lost between the leading core and a gateway, asked for again and delivered in order.

Outputs travel on plain NATS subjects: a gateway whose NATS connection drops (its server killed, a
network cut) misses whatever the core published meanwhile. Each output carries its session's
output number, so a gateway knows what it lacks. It asks the leading core again:

- when an output arrives whose number is not the next one for its session (a gap): the output is
  held, and so is anything else arriving for that session, until the answer comes;
- after each NATS reconnection, for every session it serves, from the last number delivered (the
  lost outputs may be the last ones, with nothing after them to show a gap).

The request (`goldrouter.cluster.repair`, JSON `{session, after}`) is answered by the leading core
only, from its ring of recent outputs (`core.ClusterCore.ring`, the one a new leader re-publishes),
at most `MAX_REPLY` outputs per answer; the gateway asks again after the last one it got until the
answer is complete. No answer within `REQUEST_TIMEOUT_S` (no leader during a failover) is retried
for up to `ATTEMPTS` rounds. The gateway then delivers the answer and what it held, in number order,
through the same duplicate and stale-epoch filter as every output. Outputs older than the ring
cannot be had again: the gateway logs the missing numbers at ERROR, counts them (`lost`), and
delivers what follows.

Not here: publishing outputs (`core`), FIX sessions (`gateway`).
"""
from __future__ import annotations

import asyncio
import json
import logging
import struct
from typing import Any, Callable, Iterable

import nats

from router.cluster.wire import Output, decode_output, encode_output

__all__ = ["REPAIR_SUBJECT", "ring_reply", "decode_reply", "OutputRepair"]

log = logging.getLogger("gold_router.cluster")
REPAIR_SUBJECT = "goldrouter.cluster.repair"
MAX_REPLY = 1000
REQUEST_TIMEOUT_S = 1.5
ATTEMPTS = 12
_HEAD = struct.Struct("<BBI")      # complete (the first number asked for was there, or nothing is missing), more, count
_LEN = struct.Struct("<I")


def encode_request(session: str, after: int) -> bytes:
    return json.dumps({"session": session, "after": after}).encode()


def ring_reply(ring: Iterable[tuple], count: int, request: bytes, epoch: int) -> bytes:
    """The leader's answer to `request` from its ring of (session, seq, number, msg_type, body);
    `count(session)` is the number of outputs that session has had in all."""
    ask = json.loads(request)
    session, after = str(ask["session"]), int(ask["after"])
    found = [e for e in ring if e[0] == session and e[2] > after]
    found.sort(key=lambda e: e[2])
    complete = (found[0][2] == after + 1) if found else count(session) <= after
    more = len(found) > MAX_REPLY
    found = found[:MAX_REPLY]
    parts = [_HEAD.pack(complete, more, len(found))]
    for s, seq, number, msg_type, body in found:
        rec = encode_output(epoch, seq, number, msg_type, body)
        parts.append(_LEN.pack(len(rec)))
        parts.append(rec)
    return b"".join(parts)


def decode_reply(data: bytes) -> tuple[bool, bool, list[Output]]:
    complete, more, n = _HEAD.unpack_from(data, 0)
    at, outs = _HEAD.size, []
    for _ in range(n):
        (length,) = _LEN.unpack_from(data, at)
        at += _LEN.size
        outs.append(decode_output(data[at:at + length]))
        at += length
    return bool(complete), bool(more), outs


class OutputRepair:
    """A gateway's requests for outputs it missed (see the module docstring). `deliver(session, out)`
    is the gateway's normal path (filter, then the session); True when it delivered."""

    def __init__(self, nc: Any, name: str, deliver: Callable[[str, Output], bool]) -> None:
        self.nc = nc
        self.name = name
        self.deliver = deliver
        self.held: dict[str, list[Output]] = {}
        self.stats = {"requests": 0, "repaired": 0, "lost": 0}
        self._tasks: set[asyncio.Task] = set()

    def holding(self, session: str) -> bool:
        return session in self.held

    def hold(self, session: str, out: Output) -> None:
        self.held[session].append(out)

    def start(self, session: str, after: int, out: Output | None = None) -> None:
        """Ask for `session`'s outputs after number `after` (`out`: the one that showed the gap)."""
        if session in self.held:
            if out is not None:
                self.held[session].append(out)
            return
        self.held[session] = [out] if out is not None else []
        task = asyncio.get_running_loop().create_task(self._run(session, after))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, session: str, after: int) -> None:
        got: dict[int, Output] = {}
        complete, asked_after = False, after
        try:
            while True:
                answer = await self._ask(session, asked_after)
                if answer is None:
                    break
                first_complete, more, outs = answer
                if asked_after == after:
                    complete = first_complete
                for o in outs:
                    got[o.number] = o
                if not more or not outs:
                    break
                asked_after = outs[-1].number
        finally:
            held = self.held.pop(session, [])
        self._deliver_all(session, after, complete, got, held)

    async def _ask(self, session: str, after: int) -> tuple[bool, bool, list[Output]] | None:
        for attempt in range(ATTEMPTS):
            self.stats["requests"] += 1
            try:
                msg = await self.nc.request(REPAIR_SUBJECT, encode_request(session, after), timeout=REQUEST_TIMEOUT_S)
            except (nats.errors.Error, asyncio.TimeoutError, OSError):
                continue                      # no leader right now (a failover), or NATS away: again
            try:
                return decode_reply(msg.data)
            except (struct.error, ValueError, IndexError):
                log.error("gateway %s: unreadable answer to the repair request for %s", self.name, session)
                return None
        log.error("gateway %s: no core answered %d requests for %s's outputs after %d", self.name, ATTEMPTS,
                  session, after)
        return None

    def _deliver_all(self, session: str, after: int, complete: bool, got: dict[int, Output],
                     held: list[Output]) -> None:
        answered = set(got)
        for o in held:
            got.setdefault(o.number, o)
        ordered = [got[k] for k in sorted(got)]
        if ordered and ordered[0].number > after + 1 and not complete:
            missing = ordered[0].number - after - 1
            self.stats["lost"] += missing
            log.error("gateway %s: %s's outputs %d..%d are lost (older than the leading core's ring of recent "
                      "outputs); the client should ask for its orders' status", self.name, session, after + 1,
                      ordered[0].number - 1)
        repaired = sum(1 for o in ordered if self.deliver(session, o) and o.number in answered)
        self.stats["repaired"] += repaired
        if repaired:
            log.info("gateway %s: %d of %s's outputs after %d were missing and are delivered now (%d held "
                     "meanwhile)", self.name, repaired, session, after, len(held))

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
