"""An order's use of the cross-border quota, Stock Connect style: what it claims at acceptance, gives
back and is charged as it fills, is replaced, rests or ends.

Rules (amounts in micro-CNY, the quota in `orders.quota`):
- only a buy claims, at acceptance, its limit-price notional in each direction it may reach
  (`RouteDecision.quota_claims`); a sell never consumes;
- a buy's fill of part of the order gives back that part's share of every claim and charges the fill's
  own notional at the trade price in the fill book's direction: a better price releases the difference;
- a cross-border sell's fill adds its notional back (the balance may exceed the limit);
- a product order keeps, once its sweep is over, a claim only in the direction of the book its
  remainder rests on (for that remainder); what it did not send to a cross-border book is given back;
- when the order ends (filled, cancelled, expired, rejected, IOC remainder) what it still holds is given back;
- a claim taken on an earlier trading day of its direction is dropped, never given back to today.

`QuotaUse` is a mixin of `OrderFlow` (uses its quota, router books and metrics). Not here: which books
an order may reach (routing), the quota's own bookkeeping and day roll (`orders.quota`), any clock.
"""
from __future__ import annotations

from typing import Any

from router.domain.reasons import Reason
from router.orders.index import NO_ENTRIES, Order
from router.orders.quota import Direction


class QuotaUse:
    """Mixin of `OrderFlow`: per-order quota claims, fills and releases."""

    def _quota_accept(self, o: Order, claims: dict[Direction, int]) -> Reason | None:
        """A new buy's claims (the router computed none for a sell): consume all or none."""
        if not claims:
            return None
        quota = self.quota
        r = quota.consume_many(claims)
        if r is not None:
            return r
        o.quota_claims = dict(claims)
        o.quota_days = {d: quota.day(d) for d in claims}
        if self.metrics is not None:
            self._quota_metrics()
        return None

    def _quota_give_back(self, o: Order, d: Direction, amount: int) -> None:
        # A claim taken before the direction's first day (no timer tick yet) counts as that first day's.
        day = o.quota_days.get(d)
        if amount and (day is None or day == self.quota.day(d)):
            self.quota.release(d, amount)

    def _quota_fill(self, o: Order, book: int, value_cny: int, base: int, leaves_before: int) -> None:
        """One fill of `base` order units (lots or micrograms) out of `leaves_before` on `book`, worth `value_cny`
        micro-CNY at the router's FX (`funds.trade_terms`)."""
        d = o.direction if not o.is_product else direction_of(o, book)
        claims = o.quota_claims
        if not claims and (d is None or o.side == 1):
            return
        if claims and leaves_before > 0:
            for cd, amount in claims.items():
                part = amount * base // leaves_before if base < leaves_before else amount
                claims[cd] = amount - part
                self._quota_give_back(o, cd, part)
        if d is not None:
            if o.side == 1:
                self.quota.charge(d, value_cny)
            else:
                self.quota.release(d, value_cny)
        if self.metrics is not None:
            self._quota_metrics()

    def _quota_swept(self, o: Order, rest_book: int) -> None:
        """A product order's sweep is over and its remainder rests on `rest_book`: keep a claim only in that
        book's direction, for the remainder at its child limit; give back the rest."""
        if not o.quota_claims:
            return
        d = direction_of(o, rest_book)
        keep = 0
        if d is not None and o.decision is not None:
            fine = self.books[rest_book].lot_fine_micrograms
            for c in o.decision.candidates:
                if c.book_id == rest_book and c.lots:
                    # The claim was for the whole lots the book could take; keep the share of the lots resting.
                    keep = c.notional_cny * min(o.leaves // fine, c.lots) // c.lots
        for cd, amount in list(o.quota_claims.items()):
            target = min(keep, amount) if cd is d else 0
            self._quota_give_back(o, cd, amount - target)
            if target:
                o.quota_claims[cd] = target
            else:
                del o.quota_claims[cd]
        if self.metrics is not None:
            self._quota_metrics()

    def _quota_done(self, o: Order) -> None:
        """The order ended: give back what it still holds (its unfilled part)."""
        if not o.quota_claims:
            return
        for d, amount in o.quota_claims.items():
            self._quota_give_back(o, d, amount)
        o.quota_claims = NO_ENTRIES
        if self.metrics is not None:
            self._quota_metrics()

    def _replace_quota(self, o: Order, open_notional: int) -> tuple | Reason:
        """A replace: a buy claims the new open notional in its resting book's direction. The increase
        over what it holds today is consumed now (a replace cannot get round an exhausted quota); the
        decrease is given back once the replace is done (`_quota_replaced`).
        Returns (new claims, consumed, to give back) or the quota rejection."""
        d = o.direction
        if o.side != 1 or d is None:
            return ({}, {}, {})
        today = self.quota.day(d)
        held = o.quota_claims.get(d, 0) if o.quota_days.get(d) in (None, today) else 0
        grow = {d: open_notional - held} if open_notional > held else {}
        shrink = {d: held - open_notional} if open_notional < held else {}
        if grow:
            r = self.quota.consume_many(grow)
            if r is not None:
                return r
        return ({d: open_notional}, grow, shrink)

    def _quota_replaced(self, o: Order, claims: dict[Direction, int], shrink: dict[Direction, int]) -> None:
        for d, amount in shrink.items():
            self.quota.release(d, amount)
        o.quota_claims = dict(claims)
        o.quota_days = {d: self.quota.day(d) for d in claims}
        if self.metrics is not None:
            self._quota_metrics()

    def _quota_replace_refused(self, grow: dict[Direction, int]) -> None:
        for d, amount in grow.items():
            self.quota.release(d, amount)

    def _quota_metrics(self) -> None:
        # The gauges are read off the quota at scrape time (router.ops.metrics.Metrics.watch_quota).
        self.metrics.watch_quota(self.quota)

    def quota_view(self) -> dict[str, Any]:
        """`GET /quota`: per direction limit, used and balance in CNY, and its trading day."""
        return self.quota.view()


def direction_of(o: Order, book: int) -> Any:
    """The quota direction of the order's flow to `book` (None: within the account's zone), from its
    routing decision."""
    if o.decision is not None:
        for c in o.decision.candidates:
            if c.book_id == book:
                return c.direction
    return None
