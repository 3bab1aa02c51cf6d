"""Reading a few fields of a message by their positions in its compiled shape, without its tag index.

A peer repeats the same tag sequence message after message (the codec's `_Shape`), so where a tag first
occurs in it is known once per shape. `picker(first, tags)` makes the function that reads `tags`' values
from such a message's values in one C call (`operator.itemgetter`), None for a tag the shape lacks;
`FixMessage.pick` keeps one per (shape, tags). Building the message's tag index instead (`FixMessage.index`,
a dict of every field) cost ~1.2 µs per message, and the session layer and the order flow read only a
few fields of each (benchmarks/README.md, "The acknowledgement and the cancel, session 11").

Not here: the header's framing fields 8, 9 and 10 (not in a shape: `FixMessage.index` has them), parsing.
"""
from __future__ import annotations

from operator import itemgetter
from typing import Any, Callable

__all__ = ["picker", "ENVELOPE"]

ENVELOPE = frozenset({b"8", b"9", b"10"})       # framing fields: never in a shape's tags


def picker(first: dict[bytes, int], tags: tuple[bytes, ...]) -> Callable[[Any], tuple]:
    """A function of a message's values giving the values of `tags` (canonical texts, none of them
    8, 9 or 10) at their first occurrences in the shape `first` describes (tag -> first position),
    None for a tag it lacks."""
    if ENVELOPE.intersection(tags):
        raise ValueError(f"{sorted(ENVELOPE.intersection(tags))} are framing fields, not in a shape")
    pos = [first.get(t) for t in tags]
    present = [p for p in pos if p is not None]
    if len(present) > 1 and None not in pos[:len(present)]:
        # The usual case: every tag present, or the absent ones last (a flag the peer rarely sends).
        get = itemgetter(*present)
        pad = (None,) * (len(pos) - len(present))
        return (lambda values: get(values) + pad) if pad else get

    def pick(values: Any) -> tuple:
        return tuple([None if p is None else values[p] for p in pos])
    return pick
