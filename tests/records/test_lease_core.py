"""The lease's decision logic with time passed in: who creates, renews, waits and takes over."""
from __future__ import annotations

import pytest

from router.records.lease import Action, LeaseCore, Observed


def test_first_contender_creates_and_a_second_waits_while_the_holder_renews():
    a, b = LeaseCore("a", ttl=2.4), LeaseCore("b", ttl=2.4)
    assert a.decide(0.0, None) is Action.CREATE
    assert a.wrote(0.0, revision=1, epoch=1) is True
    assert a.is_valid(1.0) and not a.is_valid(2.4)
    assert not a.renew_due(0.5) and a.renew_due(0.8)
    assert b.decide(0.1, Observed(1, "a", 1)) is Action.WAIT
    assert b.decide(2.0, Observed(1, "a", 1)) is Action.WAIT
    assert a.wrote(0.8, revision=2, epoch=1) is False  # a renewal, not a new acquisition
    # A new revision restarts b's count of silence.
    assert b.decide(2.5, Observed(2, "a", 1)) is Action.WAIT
    assert b.decide(4.8, Observed(2, "a", 1)) is Action.WAIT
    assert b.decide(4.9, Observed(2, "a", 1)) is Action.TAKE


def test_a_released_lease_is_taken_at_once_and_the_epoch_only_grows():
    b = LeaseCore("b", ttl=2.4)
    assert b.decide(10.0, Observed(7, "", 3)) is Action.TAKE
    assert b.wrote(10.0, revision=8, epoch=4) is True
    assert b.epoch == 4 and b.holding
    assert b.lost() is True and b.lost() is False
    assert not b.is_valid(10.1)


def test_a_write_whose_ack_was_missed_is_recognised_as_ours():
    a = LeaseCore("a", ttl=2.4)
    a.wrote(0.0, revision=1, epoch=1)
    a.lost()  # e.g. expired locally while the renewal's ack was in flight
    assert a.decide(3.0, Observed(2, "a", 1)) is Action.RENEW
    assert a.revision == 2


def test_a_holder_gives_up_no_later_than_a_contender_can_take_over():
    a, b = LeaseCore("a", ttl=2.4), LeaseCore("b", ttl=2.4)
    a.wrote(5.0, revision=3, epoch=2)  # renewal sent at 5.0 (stored a moment later)
    b.decide(5.01, Observed(3, "a", 2))  # b sees it after it was sent
    for t in (5.5, 6.0, 7.0, 7.39):
        assert a.is_valid(t) and b.decide(t, Observed(3, "a", 2)) is Action.WAIT
    assert not a.is_valid(7.4)
    assert b.decide(7.41, Observed(3, "a", 2)) is Action.TAKE


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="owner"):
        LeaseCore("", ttl=1)
    with pytest.raises(ValueError, match="ttl"):
        LeaseCore("a", ttl=0)
    with pytest.raises(ValueError, match="renew_every"):
        LeaseCore("a", ttl=1, renew_every=1)
