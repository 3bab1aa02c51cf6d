"""Replaying the command journal rebuilds the router exactly: same core and order-flow state hashes,
nothing re-sent, ids continuing; admin actions, timer ticks and logouts are commands too.

The application is driven the way the gateway drives it (on_message with parsed frames, on_logout,
on_timer, the admin calls) with a stepping clock, against a real file journal in a temp directory.
"""
from __future__ import annotations

import random
import re
from decimal import Decimal

import pytest

from router.app import build_router_app
from router.config import load_config
from router.fix.codec import encode, parse_frame, utc_timestamp
from router.records.journal import CommandKind, FileJournal
from router.records.state_hash import flow_state_hash, state_hashes

CONFIG = load_config()
T0 = 1_764_900_000_000_000_000          # 2025-12-05 02:00 UTC: a weekday, both cities trading


class Clock:
    def __init__(self, start: int = T0) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1_000_000
        return self.now


class Handle:
    """The application's view of a session; records what the app sends on it."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.sent: list[tuple[bytes, list]] = []

    def send(self, msg_type: bytes, body: list) -> bool:
        self.sent.append((msg_type, body))
        return True


class Driver:
    def __init__(self, journal, clock: Clock | None = None, **app_args) -> None:
        self.clock = clock or Clock()
        self.app = build_router_app(CONFIG, sessions_always_open=True, clock=self.clock, journal=journal, **app_args)
        self.handles = {s: Handle(s) for s in ("SHCLIENT1", "HKCLIENT1")}
        self.seq = {s: 1 for s in self.handles}
        self.app.recover()

    def send(self, session: str, msg_type: bytes, body: list) -> None:
        frame = encode(msg_type, session.encode(), b"GOLDRTR", self.seq[session],
                       utc_timestamp(self.clock.now), body)
        self.seq[session] += 1
        self.app.on_logon(self.handles[session])
        self.app.on_message(self.handles[session], parse_frame(frame))

    def order(self, session: str, clordid: str, symbol: str, side: int, qty: int, price: str, tif: str = "1") -> None:
        self.send(session, b"D", [(11, clordid), (55, symbol), (54, side), (60, utc_timestamp(self.clock.now)),
                                  (38, qty), (40, 2), (44, price), (59, tif)])

    def reports(self, session: str) -> list[dict]:
        return [dict(body) for mt, body in self.handles[session].sent if mt == b"8"]


def trade_a_while(d: Driver, rng: random.Random, n: int) -> None:
    symbols = {"HKGX.RKG": 560, "SGE.AU9999": 560, "HKGX.LLG": 2400}
    for i in range(n):
        session = rng.choice(("SHCLIENT1", "HKCLIENT1"))
        r = rng.random()
        if r < 0.8:
            symbol = rng.choice(list(symbols))
            side = rng.choice((1, 2))
            price = symbols[symbol] + rng.choice((-1, 0, 1))
            d.order(session, f"{session[:2]}{i}", symbol, side, rng.randint(1, 3), f"{price}.00")
        elif r < 0.9:
            d.send(session, b"F", [(41, f"{session[:2]}{rng.randrange(max(i, 1))}"), (11, f"X{i}"),
                                   (55, "HKGX.RKG"), (54, 1), (60, utc_timestamp(d.clock.now))])
        elif r < 0.95:
            d.app.on_timer(d.clock())
        elif r < 0.97:
            d.app.set_fx({"USDCNH": Decimal("7.11") + Decimal(rng.randint(-5, 5)) / 1000})
        elif r < 0.98:
            d.app.set_kill_switch("account", "HKCLIENT1", True)
            d.app.set_kill_switch("account", "HKCLIENT1", False)
        else:
            d.app.on_logout(d.handles[session])


def test_replay_rebuilds_the_same_state_and_sends_nothing(tmp_path) -> None:
    live = Driver(FileJournal(tmp_path))
    trade_a_while(live, random.Random(7), 400)
    live.app.commit()
    assert live.reports("SHCLIENT1") and live.reports("HKCLIENT1")
    assert len(live.app.flow.index.live) > 0, "the run should leave working orders to recover"
    live.app.journal.close()

    again = Driver(FileJournal(tmp_path))
    assert again.app.seq == live.app.seq
    assert state_hashes(again.app.flow) == state_hashes(live.app.flow)
    assert all(not h.sent for h in again.handles.values()), "a replay must not send anything"
    # the books of record are rebuilt too (the ledger hears fills inside the command path)
    for account in ("SHCLIENT1", "HKCLIENT1"):
        assert again.app.positions_view(account) == live.app.positions_view(account)
    assert again.app.obligations_view(None, None).data == live.app.obligations_view(None, None).data
    assert live.app.ledger.trades, "the run should have traded"
    # Ids continue after the replay: the next order gets the same OrderID in both.
    live.app.journal = None                 # closed above; the live app now just sends
    for d in (live, again):
        d.clock.now = T0 + 10**12
        d.order("SHCLIENT1", "AFTER", "HKGX.RKG", 1, 1, "550.00")
        d.app.commit()
    assert live.reports("SHCLIENT1")[-1][37] == again.reports("SHCLIENT1")[-1][37]


def test_first_start_journals_the_run_id_and_a_restart_keeps_it(tmp_path) -> None:
    first = Driver(FileJournal(tmp_path))
    (start,) = list(first.app.journal.read(1))
    assert start.kind == CommandKind.ADMIN and b'"op":"start"' in start.payload
    first.order("SHCLIENT1", "A1", "HKGX.RKG", 1, 1, "550.00")
    first.app.commit()
    order_id = first.reports("SHCLIENT1")[-1][37]
    first.app.journal.close()
    second = Driver(FileJournal(tmp_path), Clock(T0 + 10**12))     # a later start: another clock
    assert second.app.flow.ids.run == first.app.flow.ids.run
    second.order("SHCLIENT1", "A2", "HKGX.RKG", 1, 1, "550.00")
    second.app.commit()
    assert second.reports("SHCLIENT1")[-1][37] != order_id
    # the duplicate ClOrdID from before the restart is still refused
    second.order("SHCLIENT1", "A1", "HKGX.RKG", 1, 1, "550.00")
    second.app.commit()
    last = second.reports("SHCLIENT1")[-1]
    assert last[150] == b"8" and last[11] == b"A1"


def test_every_start_journals_its_configuration_and_a_changed_one_under_a_replayed_tail_warns(
        tmp_path, caplog) -> None:
    from router.config import build_config, embedded_defaults
    from router.records.commands import decode_admin
    from router.records.sequencer import config_digest
    first = Driver(FileJournal(tmp_path))
    first.order("SHCLIENT1", "C1", "HKGX.RKG", 1, 1, "550.00")
    first.app.commit()
    first.app.journal.close()                  # a kill: no clean stop, so no snapshot at the end
    tree = embedded_defaults()
    tree["risk"]["msg_rate"] = tree["risk"].get("msg_rate", 50) + 1
    other = build_config(tree)
    assert config_digest(other) != config_digest(CONFIG)
    second = Driver.__new__(Driver)
    second.clock = Clock(T0 + 10**12)
    second.app = build_router_app(other, sessions_always_open=True, clock=second.clock,
                                  journal=FileJournal(tmp_path))
    with caplog.at_level("INFO", logger="gold_router.app"):
        second.app.recover()
        second.app.record_restart()
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("2 commands replayed" in m and config_digest(CONFIG)[:12] in m and config_digest(other)[:12] in m
               for m in warned), warned
    assert any("changed since the last run" in r.getMessage() for r in caplog.records if r.levelname == "INFO")
    last = list(second.app.journal.read(second.app.seq))[-1]
    args = decode_admin(last.payload)
    assert args == {"op": "restart", "config_sha256": config_digest(other)}
    assert second.app.flow.config_sha256 == config_digest(other)
    second.app.journal.close()
    # replaying the whole journal again ends under the restart's configuration and warns about nothing
    caplog.clear()
    third = Driver.__new__(Driver)
    third.clock = Clock(T0 + 2 * 10**12)
    third.app = build_router_app(other, sessions_always_open=True, clock=third.clock, journal=FileJournal(tmp_path))
    with caplog.at_level("WARNING", logger="gold_router.app"):
        third.app.recover()
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert flow_state_hash(third.app.flow) == flow_state_hash(second.app.flow)


def test_the_quota_roll_log_line_names_the_day_left_and_its_use_in_cny(tmp_path, caplog) -> None:
    d = Driver(FileJournal(tmp_path))
    with caplog.at_level("INFO", logger="gold_router.app"):
        d.app.on_timer(d.clock())                       # the first roll: no earlier day to report
        d.clock.now += 3 * 86_400 * 10**9               # Friday to Monday
        d.app.on_timer(d.clock())
    rolls = [r.getMessage() for r in caplog.records if "quota rolled" in r.getMessage()]
    assert rolls and not any("None" in m for m in rolls), rolls
    assert any(re.search(r"\(CNY \d+\.\d\d used on \d{4}-\d\d-\d\d\)$", m) for m in rolls), rolls


def test_outputs_wait_for_the_journal(tmp_path) -> None:
    journal = FileJournal(tmp_path)
    d = Driver(journal)
    sent_before = len(d.handles["SHCLIENT1"].sent)
    # Inside an event loop the commit is deferred: simulate the gateway's batch by holding it.
    d.app._commit_scheduled = True
    d.order("SHCLIENT1", "W1", "HKGX.RKG", 1, 1, "550.00")
    assert len(d.handles["SHCLIENT1"].sent) == sent_before, "an ack went out before its command was journaled"
    last = journal.last_seq
    d.app.commit()
    assert journal.last_seq == last + 1
    assert d.reports("SHCLIENT1")[-1][11] == b"W1"


def test_admin_refusals_are_journaled_and_replay_to_the_same_refusal(tmp_path) -> None:
    d = Driver(FileJournal(tmp_path))
    r = d.app.set_kill_switch("account", "NOBODY", True)
    assert not r.ok and r.reason == "unknown_account"
    r = d.app.set_reference_prices({"SGE.AU9999": Decimal("1141.24")}, force=False)
    assert not r.ok and r.reason == "max_jump_pct"
    r = d.app.set_reference_prices({"SGE.AU9999": Decimal("1141.24")}, force=True)
    assert r.ok
    d.app.journal.close()
    again = Driver(FileJournal(tmp_path))
    assert flow_state_hash(again.app.flow) == flow_state_hash(d.app.flow)
    assert {v["symbol"]: v for v in again.app.reference_prices_view()}["SGE.AU9999"]["reference"] == "1141.24"


@pytest.mark.slow
def test_a_random_100k_command_journal_replays_to_identical_hashes_twice(tmp_path) -> None:
    live = Driver(FileJournal(tmp_path))
    trade_a_while(live, random.Random(11), 100_000)
    live.app.commit()
    live.app.journal.close()
    hashes = []
    for _ in range(2):
        d = Driver(FileJournal(tmp_path))
        hashes.append(state_hashes(d.app.flow))
        d.app.journal.close()
    assert hashes[0] == hashes[1] == state_hashes(live.app.flow)


def test_the_state_hash_sees_a_one_unit_difference(tmp_path) -> None:
    d = Driver(FileJournal(tmp_path))
    trade_a_while(d, random.Random(3), 60)
    d.app.commit()
    before = flow_state_hash(d.app.flow)
    order = next(iter(d.app.flow.index.live.values()))
    order.leaves += 1
    assert flow_state_hash(d.app.flow) != before
    order.leaves -= 1
    assert flow_state_hash(d.app.flow) == before


def test_a_command_the_flow_fails_on_is_journaled_and_replays_the_same_way(tmp_path, monkeypatch) -> None:
    from router.orders.flow import OrderFlow
    real = OrderFlow.new_order

    def new_order(self, session, msg, now_ns):
        if msg.get(11) == b"BOOM":
            raise RuntimeError("a bug in the order flow")
        return real(self, session, msg, now_ns)
    monkeypatch.setattr(OrderFlow, "new_order", new_order)
    live = Driver(FileJournal(tmp_path))
    live.order("SHCLIENT1", "A1", "HKGX.RKG", 1, 1, "550.00")
    live.order("SHCLIENT1", "BOOM", "HKGX.RKG", 1, 1, "550.00")
    live.order("SHCLIENT1", "A2", "HKGX.RKG", 1, 1, "551.00")
    live.app.commit()
    sent = [mt for mt, _ in live.handles["SHCLIENT1"].sent]
    assert sent.count(b"j") == 1 and live.reports("SHCLIENT1")[-1][11] == b"A2"
    assert live.app.journal.last_seq == live.app.seq, "the failed command keeps the journal continuous"
    live.app.journal.close()
    again = Driver(FileJournal(tmp_path))
    assert state_hashes(again.app.flow) == state_hashes(live.app.flow)


def test_after_a_recovery_the_gauges_show_the_rebuilt_state_and_counters_only_this_process(tmp_path) -> None:
    """The replay counts nothing into the metrics (it is history, not this process's work) and a
    snapshot restores no metric: the state gauges are set from the rebuilt state at the end."""
    from router.ops.metrics import Metrics
    from router.records.snapshot import SnapshotStore
    from tests.ops.test_metrics import scrape
    live = Driver(FileJournal(tmp_path), metrics=Metrics(), snapshots=SnapshotStore(tmp_path / "snapshots"),
                  snapshot_every=150)
    trade_a_while(live, random.Random(11), 400)
    live.app.set_kill_switch("account", "SHCLIENT1", True)
    live.app.commit()
    live.app.journal.close()
    assert live.app.flow.index.live and live.app.ledger.trades
    again = Driver(FileJournal(tmp_path), metrics=Metrics(), snapshots=SnapshotStore(tmp_path / "snapshots"))
    assert again.app.recovered_from is not None and again.app.recovered_from.seq < live.app.seq
    before, after = scrape(live.app.metrics), scrape(again.app.metrics)
    gauges = ("goldrouter_open_orders", "goldrouter_instrument_trading_status",
              "goldrouter_cross_border_quota_used_cny", "goldrouter_kill_switch_accounts",
              "goldrouter_margin_calls")
    for name in gauges:
        assert name in after and after[name] == before[name], name
    assert sum(before["goldrouter_open_orders"].values()) == len(live.app.flow.index.live)
    assert sum(before["goldrouter_orders_received_total"].values()) > 0
    assert sum(after.get("goldrouter_orders_received_total", {}).values()) == 0
    assert again.app.flow.metrics is again.app.metrics and again.app.flow.perf is not None


def test_outputs_before_the_tail_are_not_built_and_the_state_is_the_same(tmp_path) -> None:
    """Replay builds no ExecutionReport body before its re-delivery tail (reports.quiet_report): the
    state hashes still equal the live ones, a checkpoint inside the quiet part is met, and the tail's
    outputs are real reports."""
    from router.records.replay import replay
    from router.orders.reports import UNREAD
    live = Driver(FileJournal(tmp_path))
    trade_a_while(live, random.Random(3), 300)
    live.app.shutdown(cancel_working=False)         # journals a checkpoint of the live state hashes
    trade_a_while(live, random.Random(4), 200)
    live.app.commit()
    live.app.journal.close()
    fresh = build_router_app(CONFIG, sessions_always_open=True, journal=FileJournal(tmp_path))
    done = replay(fresh.journal, fresh.applier, tail=60)
    assert done.commands == live.app.seq
    assert state_hashes(fresh.flow) == state_hashes(live.app.flow)
    assert "exec_report" not in vars(fresh.flow)
    reports = [o for _, o in done.tail_outs if o.msg_type == b"8"]
    assert reports and all(o.body is not UNREAD and dict(o.body)[17] for o in reports)
    last = reports[-1]
    assert dict(last.body) == live.reports(last.session)[-1]


def _wire(body) -> bytes:
    """A report body as the bytes it is sent as (a WireBody's encoding, or its pairs spelled out)."""
    wire = getattr(body, "wire", None)
    return wire if wire is not None else repr(list(body)).encode()


def test_what_the_quiet_replay_skips_changes_neither_state_nor_any_report_after_it(tmp_path) -> None:
    """Before its re-delivery tail the replay formats no TransactTime, ExecID, GoldRouteExplain or
    self-trade Text (nobody reads those reports). Guard: the state hashes equal the live ones, every
    re-delivered output of the tail is byte for byte what the live router sent, and the orders made
    in the quiet part answer cancels, replaces, status requests and crossing orders afterwards
    exactly as the live router's do (ExecIDs, TransactTimes, Texts, GoldRouteExplain included)."""
    from router.orders.index import units_text
    from router.records.replay import replay
    live = Driver(FileJournal(tmp_path))
    made: list = []         # every output of the live flow, logged-out sessions' included
    send = live.app.send
    live.app.send = lambda outs: (made.extend(outs), send(outs))
    trade_a_while(live, random.Random(5), 600)
    live.app.commit()
    live.app.journal.close()
    fresh = build_router_app(CONFIG, sessions_always_open=True, journal=FileJournal(tmp_path))
    done = replay(fresh.journal, fresh.applier, tail=80)
    assert state_hashes(fresh.flow) == state_hashes(live.app.flow)
    assert live.app.flow.index.by_clordid, "the run should have made orders"
    # every output of the tail is one the live router sent (reports found by their ExecID)
    sent = [(out.session, out.msg_type, _wire(out.body)) for out in made]
    by_exec_id = {dict(out.body)[17]: (out.session, out.msg_type, _wire(out.body)) for out in made
                  if out.msg_type == b"8"}
    reports = [out for _, out in done.tail_outs if out.msg_type == b"8"]
    assert len(reports) > 20
    for _, out in done.tail_outs:
        got = (out.session, out.msg_type, _wire(out.body))
        assert (by_exec_id[dict(out.body)[17]] if out.msg_type == b"8" else got) == got
        assert got in sent
    # what comes after: the same messages to both flows give the same bytes
    flows = (live.app.flow, fresh.flow)
    index = live.app.flow.index
    live_orders = [o for o in index.live.values() if not o.is_product]
    assert live_orders, "the run should leave working orders made before the tail"
    now = T0 + 10**12
    msgs = []
    for o in live_orders + list(index.done)[:5]:
        msgs.append((o.session, b"H", [(37, o.order_id), (11, o.clordid), (55, o.symbol), (54, o.side)]))
    for n, o in enumerate(live_orders):
        msgs.append((o.session, b"G", [(11, f"R{n}"), (41, o.clordid), (55, o.symbol), (54, o.side),
                                      (60, utc_timestamp(now)), (38, o.qty + 1), (40, 2),
                                      (44, units_text(o.price, o.price_decimals))]))
    for n, (session, symbol, side) in enumerate((s, y, d) for s in ("HKCLIENT1", "SHCLIENT1")
                                                for y in ("HKGX.RKG", "SGE.AU9999", "HKGX.LLG") for d in (1, 2)):
        msgs.append((session, b"D", [(11, f"N{n}"), (55, symbol), (54, side), (60, utc_timestamp(now)),
                                     (38, 3), (40, 1), (59, 3)]))
    seq, kinds = 1000, set()
    for session, mt, body in msgs:
        now += 200_000_000          # well inside the message throttle
        seq += 1
        frame = encode(mt, session.encode(), b"GOLDRTR", seq, utc_timestamp(now), body)
        outs = [[(o.session, o.msg_type, _wire(o.body)) for o in f.on_message(session, parse_frame(frame), now)]
                for f in flows]
        assert outs[0] and outs[0] == outs[1], (mt, body)
        kinds.update(re.findall(rb"\x01150=(.)", b"".join(w for _, _, w in outs[0])))
    assert {b"I", b"5", b"F"} <= kinds, "status, replace and trade reports should have been compared"
    assert state_hashes(fresh.flow) == state_hashes(live.app.flow)


class _Session:
    """A gateway session handle for `_redeliver`: its run's start, the frames its store keeps, what it got."""

    def __init__(self, session_id: str, epoch: int, stored: list[bytes]) -> None:
        self.session_id, self.sequence_epoch, self.stored, self.sent = session_id, epoch, stored, []

    def stored_messages(self) -> list[tuple[int, bytes]]:
        return list(enumerate(self.stored, 1))

    def send(self, msg_type: bytes, body) -> bool:
        self.sent.append((msg_type, _wire(body)))
        return True


def test_redelivery_sends_each_session_the_reports_of_its_run_its_store_lacks_drop_copies_included(tmp_path) -> None:
    """Re-delivery after a replay: per session (the drop-copy session's copies included) the reports made
    since its store's run of sequence numbers began whose ExecID the store does not hold; the reports
    older than every session's run are dropped before their copies are made, which changes nothing sent."""
    from router.records.replay import replay
    live = Driver(FileJournal(tmp_path))
    trade_a_while(live, random.Random(5), 400)
    live.app.commit()
    live.app.journal.close()
    app = build_router_app(CONFIG, sessions_always_open=True, journal=FileJournal(tmp_path))
    tail = replay(app.journal, app.applier, tail=100).tail_outs
    assert app.drop_copy.names == {"DROPCOPY1"}
    times = sorted({when for when, out in tail if out.msg_type == b"8"})
    assert len(times) > 10
    # every report and copy the rule allows, by the rule itself: copies made of every report first
    made = [(when, o) for when, out in tail for o in app.drop_copy.expand([out], count=False) if o.msg_type == b"8"]
    assert any(o.session == "DROPCOPY1" for _, o in made)

    def expected(sessions: dict) -> dict:
        out = {}
        for name, s in sessions.items():
            stored = {re.search(rb"\x0117=([^\x01]*)", f).group(1) for f in s.stored}
            out[name] = [(o.msg_type, _wire(o.body)) for when, o in made
                         if o.session == name and when >= s.sequence_epoch and dict(o.body)[17] not in stored]
        return out

    class Gateway:
        def __init__(self, sessions: dict) -> None:
            self.sessions = sessions

        def handle(self, name: str):
            return self.sessions.get(name)

    mid, late = times[len(times) // 2], times[-3]
    sh_after = [o for when, o in made if o.session == "SHCLIENT1" and when >= mid]
    cases = [
        {"SHCLIENT1": _Session("SHCLIENT1", mid, [b"8=FIX.4.4\x0135=8\x0117=" + dict(sh_after[0].body)[17] + b"\x01"]),
         "HKCLIENT1": _Session("HKCLIENT1", 0, []), "DROPCOPY1": _Session("DROPCOPY1", late, [])},
        {"SHCLIENT1": _Session("SHCLIENT1", late, []), "DROPCOPY1": _Session("DROPCOPY1", mid, [])},
        {"SHCLIENT1": _Session("SHCLIENT1", times[-1] + 1, []), "HKCLIENT1": _Session("HKCLIENT1", times[-1] + 1, []),
         "DROPCOPY1": _Session("DROPCOPY1", times[-1] + 1, [])},
    ]
    for sessions in cases:
        app.gateway = Gateway(sessions)
        app._redeliver(tail)
        want = expected(sessions)
        assert {name: s.sent for name, s in sessions.items()} == want
    assert cases[0]["SHCLIENT1"].sent and cases[0]["DROPCOPY1"].sent and cases[1]["DROPCOPY1"].sent
    assert len(cases[0]["SHCLIENT1"].sent) == len(sh_after) - 1
    assert not any(s.sent for s in cases[2].values())
