"""The answer to a Logout held until the application has released the session (an optional hook).

An application whose sessions may be served elsewhere too (the cluster gateway: one lease per
session, `router.cluster.sessions`) may define `async release_session(session_id)`. When a
session then ends by a Logout exchange, the acceptor does not write the Logout's answer and close
as usual: it unbinds the connection and calls the application's `on_logout` at once, awaits
`release_session`, and only then writes the answer and closes. A client holding the answer may
take it that the session is over and log on at another gateway at once; it must then get in.

The wait is bounded by `RELEASE_WAIT_S`, shorter than the 2 s a FIX engine commonly waits for a
Logout's answer: past it (a NATS that does not answer) the answer goes out anyway, logged at
WARNING and counted (`goldrouter_fix_logout_release_timeouts_total`), and the release goes on
behind it. Input after the Logout is ignored, as when the connection closes at once.

Not here: connections that drop without a Logout (the application's `on_logout` when they close,
as without the hook), which session is whose (the application), and the Logout exchange itself
(`router.fix.session_logon`). Without the hook the acceptor never comes here.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from router.fix.session import SEND

log = logging.getLogger("router.fix")

__all__ = ["RELEASE_WAIT_S", "hold_logout_answer"]

RELEASE_WAIT_S = 1.0


def hold_logout_answer(gateway: Any, slot: Any, conn: Any, actions: list) -> None:
    """The session of `slot` just ended by a Logout exchange on `conn` (its DISCONNECT is being carried
    out): take our answer, if we sent one, off the connection's write buffer, end the session for the
    application now, and write the answer once `gateway.release_session` is done. The caller closes
    `conn` next; `answer_pending` keeps the socket open until the answer is written."""
    answer = _answer(conn, actions)
    conn.answer_pending = True
    gateway._detach(slot, conn, "logout")       # the application's on_logout: its release starts now
    asyncio.get_running_loop().create_task(_answer_when_released(gateway, slot.session_id, conn, answer))


def _answer(conn: Any, actions: list) -> bytes | None:
    """Our Logout in answer to theirs: the last frame queued on `conn`, sent by this batch's actions.
    None when the Logout ended one we had sent (nothing of ours left to hold)."""
    sent = [act for act in actions if act[0] == SEND]
    if not sent or sent[-1][2] != b"5" or not conn.wbuf or conn.wbuf[-1] is not sent[-1][1]:
        return None
    return conn.wbuf.pop()


async def _answer_when_released(gateway: Any, session_id: str, conn: Any, answer: bytes | None) -> None:
    wait = gateway.logout_release_wait_s
    try:
        release = asyncio.ensure_future(gateway.release_session(session_id))
    except Exception as exc:        # not even started: the answer must still go out
        release = asyncio.get_running_loop().create_future()
        release.set_exception(exc)
    done, _ = await asyncio.wait({release}, timeout=wait)
    if not done:
        log.warning("FIX session %s: the session's release was not confirmed within %.1f s of its Logout; "
                    "answering the Logout anyway (the release goes on)", session_id, wait)
        _count(gateway, session_id)
    elif release.exception() is not None:
        log.warning("FIX session %s: the session's release failed (%r); answering the Logout anyway",
                    session_id, release.exception())
        _count(gateway, session_id)
    conn.answer_pending = False
    transport = conn.transport
    if transport is None or transport.is_closing():
        return                        # the client went meanwhile, or the acceptor is shutting down
    if answer is not None:
        conn.wbuf.append(answer)      # past `write`, which drops frames once the connection is closing
    conn.flush()                      # writes the answer, then closes (the connection is closing)


def _count(gateway: Any, session_id: str) -> None:
    late = getattr(gateway.observer, "logout_release_timeout", None)
    if late is not None:
        late(session_id)
