"""The seam between the FIX session layer and whatever handles application messages.

`Application` is what the gateway calls (synchronously: the core is synchronous); `SessionHandle` is
what the application gets back to send on a session, from inside a callback or from anywhere else
on the event loop (fills for a resting order, via `gateway.handle(session_id)`).  `Observer` is the
metrics hook; `NullObserver` is the free default.

Not its job: sessions, sockets or sequence numbers (the gateway and `router.fix.session` own those).
"""
from __future__ import annotations

from typing import Any, Mapping, Protocol

from router.fix.codec import FixMessage

__all__ = ["Application", "SessionHandle", "Observer", "NullObserver"]


class SessionHandle:
    """One configured FIX session as the application sees it.

    `session_id` is the counterparty's SenderCompID; `account` and `extra` come from its
    `[[fix.sessions]]` entry.  `send` stamps the header (CompIDs, MsgSeqNum, SendingTime), stores
    the message for resend and writes it; when the session is not logged on the message is only
    stored, and the counterparty receives it through the resend after its next Logon.
    """

    __slots__ = ("session_id", "account", "extra", "_slot")

    def __init__(self, session_id: str, account: str, extra: Mapping[str, Any], slot: Any) -> None:
        self.session_id = session_id
        self.account = account
        self.extra = extra
        self._slot = slot

    def send(self, msg_type: bytes, body: list[tuple[int, Any]]) -> bool:
        """Send an application message; True if it went out now, False if only stored."""
        return self._slot.send(msg_type, body)

    def stored_messages(self) -> list[tuple[int, bytes]]:
        """(MsgSeqNum, frame) of every application message stored for resend in the current run."""
        store = self._slot.store
        return store.get_range(1, store.next_sender_seq)

    @property
    def logged_on(self) -> bool:
        return self._slot.session.logged_on

    @property
    def sequence_epoch(self) -> int:
        """When the session's current run of sequence numbers began (ns); it changes on every
        reset (ResetSeqNumFlag Logon, reset_on_logon, a new schedule period), so an application
        can tell that what it remembered by sequence belongs to an earlier run."""
        return self._slot.store.creation_ns

    def __repr__(self) -> str:
        return f"SessionHandle({self.session_id!r}, account={self.account!r})"


class Application(Protocol):
    """What the gateway calls. An application may also define `commit()`: the gateway calls it before
    it writes any batch to a message store or socket, so outputs an application holds back until its
    own journal has the inputs (write-ahead) go out in the same write. And `after_write()`: called
    after a connection's socket write, for work the answers need not wait for (its messages to
    sessions without a connection are stored and flushed in the same callback; a connected
    session's go out on its next write). And two coroutines for sessions that may be served
    elsewhere too: `claim_session(session_id)` (None, or why a Logon is refused) before a Logon is
    bound, and `release_session(session_id)` before a Logout is answered (`router.fix.logout_release`)."""

    def on_logon(self, handle: SessionHandle) -> None: ...
    def on_logout(self, handle: SessionHandle) -> None: ...
    def on_message(self, handle: SessionHandle, msg: FixMessage) -> None: ...


class Observer(Protocol):
    """Cheap counters, called on the hot path; the ops metrics object implements it."""

    def message_in(self, session_id: str, msg_type: bytes) -> None: ...
    def message_out(self, session_id: str, msg_type: bytes) -> None: ...
    def session_state(self, session_id: str, state: Any) -> None: ...
    def resend_request(self, session_id: str) -> None: ...
    def session_reject(self, session_id: str, reason: Any) -> None: ...


class NullObserver:
    __slots__ = ()

    def message_in(self, session_id: str, msg_type: bytes) -> None:
        pass

    def message_out(self, session_id: str, msg_type: bytes) -> None:
        pass

    def session_state(self, session_id: str, state: Any) -> None:
        pass

    def resend_request(self, session_id: str) -> None:
        pass

    def session_reject(self, session_id: str, reason: Any) -> None:
        pass
