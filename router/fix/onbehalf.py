"""FIX routing headers of a hub: OnBehalfOf*(115/116/144) in, DeliverTo*(128/129/145) out.

A broker connected to the router may act for its clients: its messages carry OnBehalfOfCompID(115)
(and optionally OnBehalfOfSubID(116), OnBehalfOfLocationID(144)) naming the client. As QuickFIX's
`Message::reverseRoute` does, every reply carries the route reversed: DeliverToCompID(128) = the 115
it answers, 129 = 116, 145 = 144 (and 115/116/144 from an inbound 128/129/145).

- `reply_route(msg)`: the reversed route of an inbound message as header fields (empty when it has none);
- `may_route(raw)`: a cheap pre-check on the raw frame, so messages without routing fields (nearly all)
  are not split into fields for nothing;
- `RouteMemory`: the route of each request id a session used (ClOrdID(11), MDReqID(262), ...), so a
  message sent later (a fill of a resting order, a market-data update) carries the route of the
  request it belongs to. Bounded: the oldest ids are forgotten past `capacity`;
- `on_behalf_problem(msg, allowed)`: why a message's 115 is not one the session may act for (the
  session answers it with a session Reject, see `router.fix.session`).

Not its job: which ids a session may act for (configuration: `fix.sessions[i].on_behalf_of`), sending,
or forwarding messages to a third party (the router is every message's final destination).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable

from router.fix.codec import FixMessage

__all__ = ["REVERSED", "KEY_TAGS", "RouteMemory", "may_route", "on_behalf_problem", "reply_route"]

ON_BEHALF_OF_COMP_ID = 115
# inbound tag -> tag of the reply that carries its value
REVERSED = ((115, 128), (116, 129), (144, 145), (128, 115), (129, 116), (145, 144))
# Ids that tie a later message to the request it answers.
KEY_TAGS = (11, 262, 790, 584, 320)
DEFAULT_CAPACITY = 100_000


def may_route(raw: bytes) -> bool:
    """False when the frame certainly has no OnBehalfOfCompID(115) or DeliverToCompID(128) (the Sub and
    Location IDs route nothing without them)."""
    return b"\x01115=" in raw or b"\x01128=" in raw


def reply_route(msg: FixMessage) -> tuple[tuple[int, bytes], ...]:
    """Header fields for a reply to `msg`: its routing fields reversed, in header order."""
    route = []
    for tag_in, tag_out in REVERSED:
        value = msg.get(tag_in)
        if value:
            route.append((tag_out, value))
    route.sort(key=lambda f: (f[0] not in (115, 128), f[0]))   # the CompIDs first
    return tuple(route)


def on_behalf_problem(msg: FixMessage, allowed: frozenset[bytes], session_id: str) -> str | None:
    """None when the message has no OnBehalfOfCompID(115) or one the session may act for."""
    value = msg.get(ON_BEHALF_OF_COMP_ID)
    if value is None or value in allowed:
        return None
    who = value.decode("ascii", "replace")
    if not allowed:
        return f"OnBehalfOfCompID(115) {who} not allowed: session {session_id} may not act on behalf of others"
    return f"OnBehalfOfCompID(115) {who} not allowed: session {session_id} may act for " + \
        ", ".join(sorted(a.decode("ascii", "replace") for a in allowed)) + " only"


class RouteMemory:
    """Request id -> reply route of the request, newest `capacity` ids kept."""

    __slots__ = ("capacity", "_routes")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._routes: OrderedDict[tuple[int, bytes], tuple] = OrderedDict()

    def __len__(self) -> int:
        return len(self._routes)

    def remember(self, msg: FixMessage, route: tuple) -> None:
        routes = self._routes
        for tag in KEY_TAGS:
            value = msg.get(tag)
            if value:
                key = (tag, value)
                routes[key] = route
                routes.move_to_end(key)
        while len(routes) > self.capacity:
            routes.popitem(last=False)

    def route_of(self, body: Iterable[tuple[int, object]]) -> tuple:
        """The route of the first request id found in an outbound body, or ()."""
        routes = self._routes
        if not routes:
            return ()
        for tag, value in body:
            if tag in KEY_TAGS:
                key = (tag, value if isinstance(value, bytes) else str(value).encode())
                route = routes.get(key)
                if route is not None:
                    return route
        return ()
