"""The round trip's realistic order mix for the router service: two sessions, seeded, every order answered.

Job: build, per measured step, a deterministic (seeded by the step number) sequence of FIX messages
for the two default trading sessions SHCLIENT1 and HKCLIENT1, and run it open loop over two sockets
the way `benchmarks.roundtrip.Client` runs its single-session IOC stream (intended send times
t0 + i/rate, latency from the intended time, busy-polling). The mix, by message:

  ioc_instrument  ~29 %  IOC limit orders on the seven instruments, priced inside the collar but
                         away from anything resting: acknowledged (150=0), remainder cancelled (150=4).
  ioc_product     ~14 %  IOC limit orders on the two routable products (fine grams), same answers.
  rest            ~14 %  DAY limit orders on SGE.AU9999 and HKGX.RKG far from the touch: they rest.
  cancel          ~14 %  an OrderCancelRequest for one of those resting orders, 2-40 messages later
                         on the same session: answered 150=4 (its ack).
  cross           ~29 %  crossing pairs: one session's DAY sell and the other's DAY buy of one
                         SGE.AU9999 lot at 560.00, sent one after the other; whichever the service
                         handles second trades with the first (both see 150=0 and a fill).

Within a step one session sells and the other buys at the crossing price (no self-trade), and the
roles swap every step, so cash and metal flow back and forth and a long run does not drain either
account. Every order's first answer decides, as in the single-session client: 150=0 or a fill
is an ack (a cancel's ack is its 150=4), 150=8 or an OrderCancelReject (35=9) a reject. Fills are
counted as well.

Not its job: targets, steps across rates, summaries or ratios (`benchmarks.roundtrip`,
`benchmarks.rt_results`).
"""
from __future__ import annotations

import gc
import random
import re
import socket
import time

SESSIONS = (b"SHCLIENT1", b"HKCLIENT1")
KINDS = ("ioc_instrument", "ioc_product", "rest", "cancel", "cross")
# Draw weights per decision; rest and cross each add a second message (a cancel, the other leg).
DRAWS = (("ioc_instrument", 4), ("ioc_product", 2), ("rest", 2), ("cross", 2))
# IOC orders: (symbol, OrderQty, buy price, sell price) -- inside each book's 10 % collar, never
# through the crossing level (560.00 on SGE.AU9999) or the resting orders below.
IOC_INSTRUMENTS = (
    (b"SGE.AU9999", b"1", b"550.00", b"570.00"), (b"SGE.AUTD", b"1", b"555.00", b"565.00"),
    (b"SGE.MAUTD", b"1", b"555.00", b"565.00"), (b"SGEI.IAU9999", b"1", b"555.00", b"565.00"),
    (b"HKGX.AU99TAEL", b"1", b"22100.00", b"22500.00"), (b"HKGX.RKG", b"1", b"550.00", b"570.00"),
    (b"HKGX.LLG", b"1", b"2380.00", b"2420.00"),
)
IOC_PRODUCTS = ((b"GOLD.KG9999", b"1000", b"550.00", b"570.00"), (b"GOLD.HKSH", b"20", b"550.00", b"570.00"))
RESTING = ((b"SGE.AU9999", b"1", b"540.00", b"580.00"), (b"HKGX.RKG", b"1", b"540.00", b"580.00"))
CROSS = (b"SGE.AU9999", b"1", b"560.00")
ANSWER = re.compile(rb"\x0135=([89D])\x01.*?\x0111=(\d+)\x01", re.S)
ORDER_ACKS = frozenset((b"0", b"1", b"2", b"F"))
UNANSWERED, REJECTED, OTHER_ANSWER = -1, -2, -3


def plan(n: int, step_no: int, seed: int = 15) -> list[tuple]:
    """n messages for one step: (session index, kind, symbol, side, qty, price, tif, orig index).

    Deterministic in (n, step_no, seed). A second message (a cancel, a crossing pair's other leg)
    goes in the first free slot at or after its intended place; a draw whose second message would
    not fit before the step's end becomes an instrument IOC instead."""
    rng = random.Random(seed * 1_000_003 + step_no)
    seller = step_no % 2          # the session selling at the crossing price this step
    slots: list = [None] * n
    kinds, weights = zip(*DRAWS)
    for k in range(n):
        if slots[k] is not None:
            continue
        kind = rng.choices(kinds, weights)[0]
        if kind in ("rest", "cross"):
            later = _free(slots, k + (rng.randint(2, 40) if kind == "rest" else 1))
            if later is None:
                kind = "ioc_instrument"
        if kind == "ioc_instrument" or kind == "ioc_product":
            sym, qty, buy, sell = rng.choice(IOC_INSTRUMENTS if kind == "ioc_instrument" else IOC_PRODUCTS)
            side = rng.choice((b"1", b"2"))
            slots[k] = (rng.randrange(2), kind, sym, side, qty, buy if side == b"1" else sell, b"3", None)
        elif kind == "rest":
            sym, qty, buy, sell = rng.choice(RESTING)
            side = rng.choice((b"1", b"2"))
            sess = rng.randrange(2)
            slots[k] = (sess, "rest", sym, side, qty, buy if side == b"1" else sell, b"0", None)
            slots[later] = (sess, "cancel", sym, side, qty, None, None, k)
        else:
            sym, qty, price = CROSS
            legs = [(seller, b"2"), (1 - seller, b"1")]
            rng.shuffle(legs)
            for slot, (sess, side) in zip((k, later), legs):
                slots[slot] = (sess, "cross", sym, side, qty, price, b"0", None)
    return slots


def _free(slots: list, start: int) -> int | None:
    for j in range(start, len(slots)):
        if slots[j] is None:
            return j
    return None


class MixClient:
    """Two FIX sessions on two sockets, sending `plan`'s messages open loop; `run_step` as Client's."""

    def __init__(self, port: int, framer_cls, sessions: tuple[bytes, ...] = SESSIONS) -> None:
        self.socks = []
        self.framers = [framer_cls(sender=s) for s in sessions]
        for _ in sessions:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.socks.append(sock)
        self.next_id = 1
        self.steps = 0
        self.bufs = [b""] * len(sessions)

    def logon(self, timeout: float = 10.0) -> None:
        from benchmarks.roundtrip import LOGON_ACK, utc_now

        for sock, framer in zip(self.socks, self.framers):
            sock.sendall(framer.logon(utc_now()))
            deadline = time.monotonic() + timeout
            data = b""
            while not LOGON_ACK.search(data):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no Logon reply: {data[:200]!r}")
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError(f"connection closed during logon: {data[:200]!r}")
                data += chunk
            sock.setblocking(False)

    def close(self) -> None:
        from benchmarks.roundtrip import utc_now

        for sock, framer in zip(self.socks, self.framers):
            try:
                sock.setblocking(True)
                sock.settimeout(1.0)
                sock.sendall(framer.logout(utc_now()))
            except OSError:
                pass
        time.sleep(0.05)
        for sock in self.socks:
            sock.close()

    def frames(self, slots: list, first: int, stamp: bytes) -> list[tuple[int, bytes]]:
        out = []
        for k, (sess, kind, sym, side, qty, price, tif, orig) in enumerate(slots):
            if kind == "cancel":
                body = b"41=%d\x0111=%d\x0155=%s\x0154=%s\x0160=%s\x0138=%s\x01" % (
                    first + orig, first + k, sym, side, stamp, qty)
                out.append((sess, self.framers[sess].frame(b"F", body, stamp)))
            else:
                body = b"11=%d\x0155=%s\x0154=%s\x0160=%s\x0138=%s\x0140=2\x0144=%s\x0159=%s\x01" % (
                    first + k, sym, side, stamp, qty, price, tif)
                out.append((sess, self.framers[sess].frame(b"D", body, stamp)))
        return out

    def run_step(self, rate: int, duration_s: float, warmup_s: float, drain_s: float = 2.0) -> dict:
        from benchmarks.roundtrip import utc_now
        from benchmarks.rt_results import percentiles

        n = max(1, int(rate * duration_s))
        first = self.next_id
        self.next_id += n
        slots = plan(n, self.steps)
        self.steps += 1
        msgs = self.frames(slots, first, utc_now())
        # Each crossing pair trades once: one fill report to each session. The resting side's report
        # can still be on its way when every order has its first answer; waiting for it keeps it from
        # being counted in the next step.
        expect_fills = sum(1 for s in slots if s[1] == "cross")
        is_cancel = bytes(1 if s[1] == "cancel" else 0 for s in slots)
        lat = [UNANSWERED] * n
        t0 = time.perf_counter_ns() + 1_000_000
        give_up = t0 + (n - 1) * 1_000_000_000 // rate + int(drain_s * 1e9)
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            acked, sent, last_ack_ns, fills = self._pump(msgs, is_cancel, lat, first, n, rate, t0, give_up,
                                                          expect_fills)
        finally:
            if gc_was_enabled:
                gc.enable()
        warm = int(min(warmup_s * rate, n // 5))
        measured = sorted(x for x in lat[warm:] if x >= 0)
        rejected = lat.count(REJECTED)
        span_s = (last_ack_ns - t0) / 1e9
        return {
            "offered_per_s": rate, "sent": sent, "acked": acked, "echoed": 0, "rejected": rejected,
            "reject_share": round(rejected / n, 4), "fills": fills,
            "mix": {kind: sum(1 for s in slots if s[1] == kind) for kind in KINDS},
            "other_answers": lat.count(OTHER_ANSWER), "lost": lat.count(UNANSWERED),
            "achieved_per_s": round(acked / span_s, 1) if span_s > 0 else 0.0,
            **percentiles(measured),
        }

    def _pump(self, msgs, is_cancel, lat, first, n, rate, t0, give_up, expect_fills=0):
        clock, period = time.perf_counter_ns, 1_000_000_000
        socks = self.socks
        outs = [b""] * len(socks)
        acked = answered = i = fills = 0
        last_ack_ns = t0
        while answered < n or fills < expect_fills:
            now = clock()
            while i < n and t0 + i * period // rate <= now:
                sess, frame = msgs[i]
                outs[sess] += frame
                i += 1
            for s, sock in enumerate(socks):
                if outs[s]:
                    try:
                        outs[s] = outs[s][sock.send(outs[s]):]
                    except BlockingIOError:
                        pass
                try:
                    data = sock.recv(1 << 20)
                except BlockingIOError:
                    continue
                if not data:
                    return acked, i, last_ack_ns, fills
                t = clock()
                buf = self.bufs[s] + data
                cut = buf.rfind(b"\x0110=")
                if cut < 0 or len(buf) < cut + 8:
                    self.bufs[s] = buf
                    continue
                done, self.bufs[s] = buf[:cut + 8], buf[cut + 8:]
                for m in ANSWER.finditer(done):
                    start = m.start()
                    e = done.find(b"\x01150=", start, done.find(b"\x0110=", start))
                    et = done[e + 5:e + 6] if e >= 0 else b""
                    if et in (b"1", b"2", b"F"):
                        fills += 1
                    k = int(m.group(2)) - first
                    if not (0 <= k < n and lat[k] == UNANSWERED):
                        continue
                    answered += 1
                    if m.group(1) == b"9":
                        lat[k] = REJECTED
                    elif et in ORDER_ACKS or (et == b"4" and is_cancel[k]):
                        lat[k] = t - (t0 + k * period // rate)
                        acked += 1
                        last_ack_ns = t
                    else:
                        lat[k] = REJECTED if et == b"8" else OTHER_ANSWER
            if i >= n and clock() > give_up:
                break
        return acked, i, last_ack_ns, fills
