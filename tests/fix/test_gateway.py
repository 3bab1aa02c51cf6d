"""The acceptor over real TCP on loopback: admission, isolation, timers, TLS, durability, scale."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import ssl
import subprocess
import sys
import textwrap

import pytest

from router.fix import transport as fix_transport
from router.fix.echo import EchoApp
from router.fix.config import parse_fix_config
from router.fix.credentials import hash_password
from router.fix.gateway import LOGON_REFUSED, start_gateway
from tests.fixclient import FixClient, now_ts

SECRET_HASH = hash_password("s3cret")  # config holds hashes only
REFUSED = LOGON_REFUSED.encode()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORDER = [(11, b"ORD-1"), (1, b"SHCLIENT1"), (55, b"SGE.AU9999"), (54, b"1"), (60, b"20260101-00:00:00.000"),
         (38, b"10"), (40, b"2"), (44, b"56000")]


def order(clordid: str) -> list:
    return [(11, clordid.encode())] + ORDER[1:]


def config(tmp_path, sessions=None, **top):
    table = {"port": 0, "store_dir": str(tmp_path / "store"), "logon_timeout_s": 10}
    table.update(top)
    table["sessions"] = sessions if sessions is not None else [
        {"target_comp_id": "SHCLIENT1"},
        {"target_comp_id": "HKCLIENT1"},
        {"target_comp_id": "SECURE1", "username": "trader", "password": SECRET_HASH},
    ]
    return parse_fix_config(table)


class RecordingObserver:
    """A real observer implementation that keeps what it was told (the metrics one counts)."""

    def __init__(self):
        self.calls = []

    def message_in(self, sid, mt):
        self.calls.append(("in", sid, mt))

    def message_out(self, sid, mt):
        self.calls.append(("out", sid, mt))

    def session_state(self, sid, state):
        self.calls.append(("state", sid, state))

    def resend_request(self, sid):
        self.calls.append(("resend", sid))

    def session_reject(self, sid, reason):
        self.calls.append(("reject", sid, reason))


@pytest.fixture
async def gw(tmp_path):
    gateways = []

    async def make(cfg=None, app=None, **kw):
        g = await start_gateway(cfg or config(tmp_path), app or EchoApp(), **kw)
        gateways.append(g)
        return g

    yield make
    for g in gateways:
        await g.close(timeout=0.5)


@pytest.fixture
async def clients():
    made = []

    async def connect(port, sender="SHCLIENT1", **kw):
        c = await FixClient.connect(port, sender, **kw)
        made.append(c)
        return c

    yield connect
    for c in made:
        await c.close()


async def test_logon_echo_logout(gw, clients):
    obs = RecordingObserver()
    g = await gw(observer=obs)
    c = await clients(g.port)
    logon = await c.logon(30)
    assert logon.get(49) == b"GOLDRTR" and logon.get(56) == b"SHCLIENT1"
    await c.send(b"D", order("E1"))
    echo = await c.expect(b"D")
    assert echo.get(11) == b"E1" and echo.get(44) == b"56000" and echo.seq_num == 2
    await c.send(b"5")
    assert (await c.expect(b"5")).msg_type == b"5"
    assert await c.closed_by_peer()
    info = {s["session_id"]: s for s in g.sessions_info()}["SHCLIENT1"]
    assert info["next_sender_seq_num"] == 4 and info["next_target_seq_num"] == 4
    assert ("in", "SHCLIENT1", b"D") in obs.calls and ("out", "SHCLIENT1", b"D") in obs.calls
    assert ("state", "SHCLIENT1", "logged_on") in obs.calls


@pytest.mark.parametrize("sender,target,extra,why", [
    ("NOBODY", "GOLDRTR", [], "Unknown SenderCompID NOBODY"),
    ("NOBODY", "GOLDRTR", [(553, b"trader"), (554, b"s3cret")], "Unknown SenderCompID NOBODY"),
    ("SHCLIENT1", "NOTUS", [], "Unknown TargetCompID NOTUS"),
    ("SECURE1", "GOLDRTR", [(553, b"trader"), (554, b"wrong")], "Invalid username or password"),
    ("SECURE1", "GOLDRTR", [(553, b"nobody"), (554, b"s3cret")], "Invalid username or password"),
])
async def test_unknown_comp_ids_and_bad_passwords_get_the_same_refusal(gw, sender, target, extra, why, caplog):
    g = await gw()
    c = await FixClient.connect(g.port, sender, target)
    try:
        with caplog.at_level("INFO", logger="router.fix"):
            await c.logon(extra=extra, expect=False)
            lo = await c.expect(b"5")
            assert lo.get(58) == REFUSED and lo.seq_num == 1
            assert await c.closed_by_peer()
    finally:
        await c.close()
    # the real reason is in the server's log only
    assert any(why in r.getMessage() for r in caplog.records if r.levelname == "INFO")
    assert all(s["next_sender_seq_num"] == 1 and s["next_target_seq_num"] == 1 for s in g.sessions_info())


async def test_password_checked(gw, clients):
    g = await gw()
    bad = await clients(g.port, "SECURE1")
    await bad.logon(extra=[(553, b"trader"), (554, b"wrong")], expect=False)
    assert (await bad.expect(b"5")).get(58) == REFUSED
    assert await bad.closed_by_peer()
    missing = await clients(g.port, "SECURE1")
    await missing.logon(expect=False)
    assert (await missing.expect(b"5")).get(58) == REFUSED
    good = await clients(g.port, "SECURE1")
    assert (await good.logon(extra=[(553, b"trader"), (554, b"s3cret")])).msg_type == b"A"
    # the refused attempts did not consume the real session's numbers
    info = {s["session_id"]: s for s in g.sessions_info()}["SECURE1"]
    assert info["next_sender_seq_num"] == 2 and info["next_target_seq_num"] == 2


async def test_repeated_failures_from_one_address_are_locked_out(gw, clients, tmp_path, caplog):
    g = await gw(config(tmp_path, logon_failure_limit=2, logon_failure_window_s=60, logon_lockout_s=1))
    for _ in range(2):
        bad = await clients(g.port, "SECURE1")
        await bad.logon(extra=[(553, b"trader"), (554, b"guess")], expect=False)
        assert (await bad.expect(b"5")).get(58) == REFUSED
    # locked out now: even the right password is refused, with the same text
    with caplog.at_level("INFO", logger="router.fix"):
        locked = await clients(g.port, "SECURE1")
        await locked.logon(extra=[(553, b"trader"), (554, b"s3cret")], expect=False)
        assert (await locked.expect(b"5")).get(58) == REFUSED
        assert await locked.closed_by_peer()
    assert any("locked out" in r.getMessage() for r in caplog.records)
    # after the cool-down (the gateway's clock) the address may log on again
    await asyncio.sleep(1.1)
    good = await clients(g.port, "SECURE1")
    assert (await good.logon(extra=[(553, b"trader"), (554, b"s3cret")])).msg_type == b"A"


def test_hashed_password_config():
    from router.domain.errors import ConfigError

    cfg = parse_fix_config({"sessions": [{"target_comp_id": "S", "username": "u", "password": SECRET_HASH}]})
    assert cfg.session("S").password == SECRET_HASH and cfg.logon_failure_limit == 5
    with pytest.raises(ConfigError) as e:
        parse_fix_config({"sessions": [{"target_comp_id": "S", "username": "u", "password": "s3cret"}]})
    assert e.value.key == "fix.sessions[0].password" and "hash-password" in str(e.value)
    assert "s3cret" not in str(e.value)


async def test_second_logon_for_connected_session_refused_first_unaffected(gw, clients):
    g = await gw()
    first = await clients(g.port)
    await first.logon()
    second = await clients(g.port)
    await second.logon(seq=1, expect=False)
    probe = await first.expect(b"1")        # the first connection is alive: it answers the probe
    await first.send(b"0", [(112, probe.get(112))])
    lo = await second.expect(b"5")
    assert lo.get(58) == b"Session already logged on" and lo.seq_num == 1
    assert await second.closed_by_peer()
    await first.send(b"D", order("STILL-OK"))
    echo = await first.expect(b"D")
    assert echo.get(11) == b"STILL-OK" and echo.seq_num == 3


async def test_first_message_not_logon_closes(gw, clients):
    g = await gw()
    c = await clients(g.port)
    await c.send(b"0")
    assert await c.closed_by_peer()
    assert c.pending == []


async def test_logon_timeout(gw, clients, tmp_path):
    g = await gw(config(tmp_path, logon_timeout_s=1))
    c = await clients(g.port)
    assert await c.closed_by_peer(timeout=5)


async def test_garbled_before_logon_ignored(gw, clients):
    g = await gw()
    c = await clients(g.port)
    good = c.frame(b"A", [(98, 0), (108, 30)], seq=1)
    bad = good[:-4] + b"000\x01" if not good.endswith(b"000\x01") else good[:-4] + b"001\x01"
    await c.send_raw(b"garbage" + bad)
    await c.send_raw(good)
    c.seq = 2
    assert (await c.expect(b"A")).seq_num == 1


async def test_application_sends_from_outside_a_callback_and_while_offline(gw, clients):
    g = await gw()
    c = await clients(g.port)
    await c.logon()
    handle = g.handle("SHCLIENT1")
    assert g.handle("NOBODY") is None
    assert handle.account == "SHCLIENT1" and handle.logged_on
    assert handle.send(b"8", [(37, b"O1"), (17, b"F1"), (150, b"F"), (39, b"2")]) is True
    fill = await c.expect(b"8")
    assert fill.get(17) == b"F1" and fill.seq_num == 2
    await c.send(b"5")
    await c.expect(b"5")
    assert await c.closed_by_peer()
    # offline: stored, and delivered by resend after the next Logon
    assert handle.send(b"8", [(37, b"O1"), (17, b"F2"), (150, b"F"), (39, b"2")]) is False
    c2 = await clients(g.port)
    c2.seq = 3
    logon = await c2.logon()
    assert logon.seq_num == 5  # 4 was the offline fill
    await c2.send(b"2", [(7, 4), (16, 0)])
    resent = await c2.expect(b"8")
    assert resent.get(17) == b"F2" and resent.get(43) == b"Y" and resent.seq_num == 4


async def test_bad_input_isolated_to_its_session(gw, clients):
    g = await gw()
    a = await clients(g.port, "SHCLIENT1")
    b = await clients(g.port, "HKCLIENT1")
    await a.logon()
    await b.logon()
    await a.send_raw(b"8=FIX.4.4\x019=12\x0135=D\x01garbage\x0110=000\x01" * 50 + b"\x00\xff" * 1000)
    await a.send(b"D", order("A-after-garbage"))
    assert (await a.expect(b"D")).get(11) == b"A-after-garbage"
    await b.send(b"D", order("B-fine"))
    assert (await b.expect(b"D")).get(11) == b"B-fine"


def with_tag_text(frame: bytes, tag: int, text: bytes) -> bytes:
    """Re-spell one tag of an encoded frame (encode refuses bad tags) and refit 9 and 10."""
    body = frame[frame.index(b"35="):frame.rindex(b"10=")].replace(b"\x01%d=" % tag, b"\x01" + text + b"=")
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    return head + body + b"10=%03d\x01" % (sum(head + body) % 256)


@pytest.mark.parametrize("text,ref", [(b"0", None), (b"-5", None), (b"055", b"55")])
async def test_invalid_tag_number_gets_a_session_reject(gw, clients, text, ref):
    obs = RecordingObserver()
    g = await gw(observer=obs)
    c = await clients(g.port)
    await c.logon()
    await c.send_raw(with_tag_text(c.frame(b"D", order("BAD-TAG") + [(9876, b"x")]), 9876, text))
    rej = await c.expect(b"3")
    assert rej.get(373) == b"0" and rej.get(58) == b"Invalid tag number"
    assert rej.get(45) == b"2" and rej.get(372) == b"D" and rej.get(371) == ref
    # the number was used up and the session carries on
    await c.send(b"D", order("AFTER"))
    echo = await c.expect(b"D")
    assert echo.get(11) == b"AFTER"
    assert ("reject", "SHCLIENT1", 0) in obs.calls


async def test_read_limit_closes_a_connection_that_never_completes_a_frame(gw, clients, tmp_path):
    g = await gw(config(tmp_path, max_message_size=1024))
    c = await clients(g.port)
    await c.logon()
    # a frame header promising a body far larger than the limit, then endless body bytes
    await c.send_raw(b"8=FIX.4.4\x019=900000\x0135=D\x01" + b"58=" + b"x" * 20000)
    other = await clients(g.port, "HKCLIENT1")
    await other.logon()
    await other.send(b"D", order("unaffected"))
    assert (await other.expect(b"D")).get(11) == b"unaffected"
    for conn in g.connections:
        assert conn.decoder.pending <= 2 * 1024


async def test_schedule_closed_refuses_logon(gw, clients, tmp_path):
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    start = (now + datetime.timedelta(hours=2)).strftime("%H:%M")
    end = (now + datetime.timedelta(hours=3)).strftime("%H:%M")
    g = await gw(config(tmp_path, sessions=[
        {"target_comp_id": "SHCLIENT1", "schedule": {"start": start, "end": end, "tz": "UTC"}}]))
    c = await clients(g.port)
    await c.logon(expect=False)
    assert (await c.expect(b"5")).get(58) == b"Logon outside of session time"


async def test_restart_keeps_sequence_numbers_and_resend(gw, clients, tmp_path):
    cfg = config(tmp_path)
    g = await gw(cfg)
    c = await clients(g.port)
    await c.logon()
    await c.send(b"D", order("BEFORE-RESTART"))
    await c.expect(b"D")
    await g.close(timeout=0.5)  # logs the session out
    await c.expect(b"5")
    g2 = await gw(cfg)
    c2 = await clients(g2.port)
    c2.seq = 3  # client sent 1 logon and 2 the order; it never answered our Logout
    logon = await c2.logon()
    assert logon.seq_num == 4  # ours: 1 logon, 2 echo, 3 logout
    await c2.send(b"2", [(7, 2), (16, 2)])
    resent = await c2.expect(b"D")
    assert resent.get(11) == b"BEFORE-RESTART" and resent.get(43) == b"Y"


async def test_durable_across_sigkill(tmp_path, clients):
    store_dir = str(tmp_path / "store")
    child = textwrap.dedent(f"""
        import asyncio, sys
        from router.fix.echo import EchoApp
        from router.fix.config import parse_fix_config
        from router.fix.gateway import start_gateway
        async def main():
            cfg = parse_fix_config({{"port": 0, "store_dir": {store_dir!r},
                                     "sessions": [{{"target_comp_id": "SHCLIENT1"}}]}})
            g = await start_gateway(cfg, EchoApp(), validator=None)
            print(g.port, flush=True)
            await asyncio.sleep(120)
        asyncio.run(main())
    """)
    p = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, cwd=ROOT)
    try:
        line = await asyncio.get_running_loop().run_in_executor(None, p.stdout.readline)
        port = int(line)
        c = await clients(port)
        await c.logon()
        for i in range(20):
            await c.send(b"D", order(f"K{i}"))
        for i in range(20):
            assert (await c.expect(b"D")).get(11) == f"K{i}".encode()
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
    cfg = parse_fix_config({"port": 0, "store_dir": store_dir, "sessions": [{"target_comp_id": "SHCLIENT1"}]})
    g = await start_gateway(cfg, EchoApp(), validator=None)
    try:
        info = g.sessions_info()[0]
        assert (info["next_sender_seq_num"], info["next_target_seq_num"]) == (22, 22)
        c2 = await clients(g.port)
        c2.seq = 22
        await c2.logon()
        await c2.send(b"2", [(7, 21), (16, 21)])
        assert (await c2.expect(b"D")).get(11) == b"K19"
    finally:
        await g.close(timeout=0.5)


async def test_two_hundred_concurrent_sessions(gw, tmp_path):
    n = 200
    sessions = [{"target_comp_id": f"C{i:03d}"} for i in range(n)]
    g = await gw(config(tmp_path, sessions=sessions))
    cs = await asyncio.gather(*(FixClient.connect(g.port, f"C{i:03d}") for i in range(n)))
    try:
        await asyncio.gather(*(c.logon() for c in cs))
        for round_ in range(3):
            await asyncio.gather(*(c.send(b"D", order(f"{c.sender.decode()}-{round_}")) for c in cs))
            echoes = await asyncio.gather(*(c.expect(b"D", timeout=30) for c in cs))
            assert [e.get(11) for e in echoes] == [f"C{i:03d}-{round_}".encode() for i in range(n)]
        assert sum(1 for s in g.sessions_info() if s["state"] == "logged_on") == n
        await asyncio.gather(*(c.send(b"5") for c in cs))
        await asyncio.gather(*(c.expect(b"5", timeout=30) for c in cs))
    finally:
        await asyncio.gather(*(c.close() for c in cs))


async def test_flow_control_pauses_reading_from_a_peer_that_does_not_read(gw, monkeypatch):
    import socket

    from router.fix.codec import FrameDecoder

    monkeypatch.setattr(fix_transport, "WRITE_HIGH_WATER", 32 * 1024)
    monkeypatch.setattr(fix_transport, "WRITE_LOW_WATER", 8 * 1024)
    g = await gw()
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # a small receive window so that our not reading pushes back on the acceptor quickly
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", g.port))
        helper = FixClient(None, None, "SHCLIENT1", "GOLDRTR")  # used only to build frames
        await loop.sock_sendall(sock, helper.frame(b"A", [(98, 0), (108, 30)]))
        n = 20000
        payload = b"".join(helper.frame(b"D", order(f"F{i}")) for i in range(n))
        sender = asyncio.ensure_future(loop.sock_sendall(sock, payload))
        paused_seen = False
        for _ in range(400):
            await asyncio.sleep(0.05)
            if any(conn.paused for conn in g.connections):
                paused_seen = True
                break
        assert paused_seen
        # Paused, it buffers at most the output of the read it was processing, not the whole backlog.
        await asyncio.sleep(0.2)
        buffered = max(conn.transport.get_write_buffer_size() for conn in g.connections)
        assert buffered < 1024 * 1024 < len(payload)
        decoder, echoes = FrameDecoder(), 0
        while echoes < n:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65536), 30)
            assert data, "acceptor closed the connection"
            echoes += sum(1 for m in decoder.feed(data) if m.msg_type == b"D")
        await asyncio.wait_for(sender, 30)
        assert echoes == n
    finally:
        sock.close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available to generate a test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return str(cert), str(key)


async def test_tls(gw, clients, tmp_path, tls_files):
    cert, key = tls_files
    g = await gw(config(tmp_path, tls_cert=cert, tls_key=key))
    ctx = ssl.create_default_context(cafile=cert)
    c = await clients(g.port, ssl=ctx)
    await c.logon()
    await c.send(b"D", order("OVER-TLS"))
    assert (await c.expect(b"D")).get(11) == b"OVER-TLS"
    # a plaintext client gets nowhere with the TLS listener
    plain = await clients(g.port)
    await plain.logon(expect=False)
    assert await plain.closed_by_peer(timeout=10)
    assert plain.pending == []


def test_tls_bad_files_are_a_config_error(tmp_path):
    from router.domain.errors import ConfigError

    (tmp_path / "c.pem").write_text("not a cert")

    async def go():
        await start_gateway(config(tmp_path, tls_cert=str(tmp_path / "c.pem"), tls_key=str(tmp_path / "c.pem")),
                            EchoApp(), validator=None)

    with pytest.raises(ConfigError) as e:
        asyncio.run(go())
    assert e.value.key == "fix.tls_cert"


# ---------------------------------------------------------------- configuration (router/fix/config.py)

def test_config_defaults_and_sessions():
    from router.fix.config import ALWAYS

    cfg = parse_fix_config({"sessions": [{"target_comp_id": "SHCLIENT1", "account": "ACC1", "extra": {"desk": "sh"}}]})
    assert (cfg.host, cfg.port, cfg.sender_comp_id, cfg.store) == ("127.0.0.1", 9878, "GOLDRTR", "file")
    s = cfg.session("SHCLIENT1")
    assert s.account == "ACC1" and s.extra == {"desk": "sh"} and s.schedule == ALWAYS and s.heartbeat_s == 30
    assert parse_fix_config(None).sessions == ()


@pytest.mark.parametrize("table,key", [
    ({"sessions": [{"target_comp_id": "A"}, {"target_comp_id": "B"}, {"target_comp_id": "C", "heartbeat_s": 0}]},
     "fix.sessions[2].heartbeat_s"),
    ({"sessions": [{"target_comp_id": "A"}, {"target_comp_id": "A"}]}, "fix.sessions[1].target_comp_id"),
    ({"sessions": [{"account": "x"}]}, "fix.sessions[0].target_comp_id"),
    ({"sessions": [{"target_comp_id": "has space"}]}, "fix.sessions[0].target_comp_id"),
    ({"sessions": [{"target_comp_id": "A", "schedule": {"start": "25:00"}}]}, "fix.sessions[0].schedule.start"),
    ({"sessions": [{"target_comp_id": "A", "schedule": {"tz": "Mars/Olympus"}}]}, "fix.sessions[0].schedule.tz"),
    ({"sessions": [{"target_comp_id": "A", "colour": "red"}]}, "fix.sessions[0].colour"),
    ({"sessions": [{"target_comp_id": "A", "reset_on_logon": "yes"}]}, "fix.sessions[0].reset_on_logon"),
    ({"store": "sqlite"}, "fix.store"),
    ({"port": 70000}, "fix.port"),
    ({"tls_cert": "a.pem"}, "fix.tls_key"),
    ({"max_message_size": 10}, "fix.max_message_size"),
    ({"heartbeat_s": "30"}, "fix.heartbeat_s"),
    ({"bogus": 1}, "fix.bogus"),
    ({"sessions": [{"target_comp_id": "A", "password": "plain"}]}, "fix.sessions[0].password"),
    ({"sessions": [{"target_comp_id": "A", "password": "scrypt$3$8$1$AAAA$AAAA"}]}, "fix.sessions[0].password"),
    ({"sessions": [{"target_comp_id": "A", "username": "u"}]}, "fix.sessions[0].password"),
    ({"logon_failure_limit": 0}, "fix.logon_failure_limit"),
    ({"logon_failure_window_s": -1}, "fix.logon_failure_window_s"),
    ({"logon_lockout_s": "5"}, "fix.logon_lockout_s"),
])
def test_config_errors_name_the_key(table, key):
    from router.domain.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        parse_fix_config(table)
    assert e.value.key == key


def test_config_cli_overrides():
    from router.fix.config import with_overrides

    base = parse_fix_config({"sessions": [{"target_comp_id": "SHCLIENT1"}]})
    cfg = with_overrides(base, host="0.0.0.0", port=0, store_dir="/tmp/x", reset_on_logon=True,
                         sender_comp_id="GW2", target_comp_id="ADHOC")
    assert (cfg.host, cfg.port, cfg.store_dir, cfg.sender_comp_id) == ("0.0.0.0", 0, "/tmp/x", "GW2")
    assert [s.target_comp_id for s in cfg.sessions] == ["SHCLIENT1", "ADHOC"]
    assert all(s.reset_on_logon for s in cfg.sessions)
    adhoc = cfg.session("ADHOC")
    assert adhoc.account == "ADHOC" and adhoc.username == "" and adhoc.password == ""
    assert with_overrides(base, target_comp_id="SHCLIENT1").sessions == base.sessions
    assert with_overrides(base) == base


def test_schedule_windows():
    from datetime import datetime, timezone

    from router.fix.config import Schedule, _clock

    def ns(text):
        return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()) * 1_000_000_000

    day = Schedule(_clock("09:00", "s"), _clock("17:00", "e"), "UTC")
    assert day.is_open(ns("2026-03-02T09:00:00")) and not day.is_open(ns("2026-03-02T17:00:00"))
    assert day.period_start_ns(ns("2026-03-02T12:00:00")) == ns("2026-03-02T09:00:00")
    assert day.period_start_ns(ns("2026-03-02T18:00:00")) is None
    night = Schedule(_clock("20:00", "s"), _clock("02:30", "e"), "Asia/Shanghai")  # 12:00-18:30 UTC
    assert night.is_open(ns("2026-03-02T13:00:00")) and night.is_open(ns("2026-03-02T18:00:00"))
    assert not night.is_open(ns("2026-03-02T19:00:00"))
    assert night.period_start_ns(ns("2026-03-02T17:00:00")) == ns("2026-03-02T12:00:00")
    # Exact to the nanosecond at both edges (float seconds put the last ~120 ns before a boundary past it).
    opens, closes = ns("2026-03-02T09:00:00"), ns("2026-03-02T17:00:00")
    assert not day.is_open(opens - 1) and day.is_open(opens)
    assert day.is_open(closes - 1) and not day.is_open(closes)
    assert day.period_start_ns(closes - 1) == opens
    assert day.next_boundary_ns(opens - 1) == opens
    assert day.next_boundary_ns(opens) == opens + 86_400 * 10**9
    assert not night.is_open(ns("2026-03-02T12:00:00") - 1) and night.is_open(ns("2026-03-02T18:30:00") - 1)


async def test_new_schedule_period_resets_sequence_numbers(gw, clients, tmp_path):
    import datetime
    import time as _time

    from router.fix.store import FileStore

    now = datetime.datetime.now(datetime.timezone.utc)
    start = (now - datetime.timedelta(hours=1)).strftime("%H:%M")
    end = (now + datetime.timedelta(hours=1)).strftime("%H:%M")
    old = FileStore(str(tmp_path / "store"), "GOLDRTR-SHCLIENT1", _time.time_ns() - 3 * 3600 * 10**9)
    old.set_next_sender_seq(40)
    old.set_next_target_seq(50)
    old.close()
    g = await gw(config(tmp_path, sessions=[
        {"target_comp_id": "SHCLIENT1", "schedule": {"start": start, "end": end, "tz": "UTC"}}]))
    c = await clients(g.port)
    logon = await c.logon()  # MsgSeqNum 1 is accepted: the previous period's numbers are gone
    assert logon.seq_num == 1


async def test_application_errors_do_not_break_the_session(gw, clients):
    class Fragile(EchoApp):
        def on_message(self, handle, msg):
            if msg.get(11) == b"BOOM":
                raise RuntimeError("application bug")
            super().on_message(handle, msg)

    g = await gw(app=Fragile())
    c = await clients(g.port)
    await c.logon()
    await c.send(b"D", order("BOOM"))
    await c.send(b"D", order("FINE"))
    echo = await c.expect(b"D")
    assert echo.get(11) == b"FINE" and echo.seq_num == 2
    info = g.sessions_info()[0]
    assert info["state"] == "logged_on" and info["next_target_seq_num"] == 4


async def test_observer_sees_rejects_and_resend_requests(gw, clients):
    obs = RecordingObserver()
    g = await gw(observer=obs)
    c = await clients(g.port)
    await c.logon()
    await c.send(b"D", [(11, b"NO-SYMBOL")])  # required tags missing
    rej = await c.expect(b"3")
    assert rej.get(373) == b"1"
    c.seq += 3
    await c.send(b"0")  # gap
    rr = await c.expect(b"2")
    assert rr.get(7) == b"3"
    assert ("reject", "SHCLIENT1", 1) in obs.calls
    assert ("resend", "SHCLIENT1") in obs.calls


async def test_fsync_store(gw, clients, tmp_path):
    g = await gw(config(tmp_path, fsync=True))
    c = await clients(g.port)
    await c.logon()
    await c.send(b"D", order("SYNCED"))
    assert (await c.expect(b"D")).get(11) == b"SYNCED"
    from router.fix.store import FileStore

    with pytest.raises(OSError):  # the running gateway holds the store
        FileStore(str(tmp_path / "store"), "GOLDRTR-SHCLIENT1", 0)
    await g.close(timeout=0.2)
    again = FileStore(str(tmp_path / "store"), "GOLDRTR-SHCLIENT1", 0)
    try:
        assert again.next_sender_seq == 4  # Logon, echo, Logout at close
        assert again.get_range(2, 2)[0][1].find(b"11=SYNCED\x01") > 0
    finally:
        again.close()


# ---------------------------------------------------------------- the echo application (router/fix/echo.py)

@pytest.mark.parametrize("extra_header,body", [
    ([], ORDER),
    ([(43, b"Y"), (122, b"20260101-00:00:00.000"), (97, b"Y")], ORDER),
    ([(50, b"DESK")], ORDER + [(95, b"5"), (96, b"a\x01b=c"), (58, b"note")]),
    ([(90, b"3"), (91, b"x\x01y")], ORDER),   # header data field: the parsed path
    ([], []),
])
def test_echo_copies_the_body_exactly(extra_header, body):
    from router.fix.echo import HEADER_TRAILER_TAGS, EchoApp
    from router.fix.codec import FrameDecoder, encode

    frame = encode(b"D", b"SHCLIENT1", b"GOLDRTR", 7, now_ts(), body, extra_header=extra_header)
    [msg] = FrameDecoder().feed(frame)
    sent = []

    class Handle:
        session_id = "SHCLIENT1"
        sequence_epoch = 0

        def send(self, msg_type, fields):
            sent.append(encode(msg_type, b"GOLDRTR", b"SHCLIENT1", 1, b"20260101-00:00:00.000", fields))

    EchoApp().on_message(Handle(), msg)
    [echo_frame] = FrameDecoder().feed(sent[0])
    want = [f for f in msg.fields if f[0] not in HEADER_TRAILER_TAGS]
    assert [f for f in echo_frame.fields if f[0] not in HEADER_TRAILER_TAGS] == want


def test_echo_answers_other_types_and_drops_possresend_duplicates():
    from router.fix.echo import EchoApp
    from router.fix.codec import FrameDecoder, encode

    sent = []

    class Handle:
        session_id = "SHCLIENT1"
        sequence_epoch = 0

        def send(self, msg_type, fields):
            sent.append((msg_type, dict(fields)))

    app = EchoApp()

    def feed(mt, body, extra=()):
        [m] = FrameDecoder().feed(encode(mt, b"SHCLIENT1", b"GOLDRTR", 3, now_ts(), body, extra_header=list(extra)))
        app.on_message(Handle(), m)

    feed(b"D", order("A"))
    feed(b"D", order("A"), [(97, b"Y")])        # already seen: dropped
    feed(b"D", order("A"))                      # not a PossResend: echoed again
    feed(b"D", order("B"), [(97, b"Y")])        # PossResend of something new: echoed
    feed(b"F", [(41, b"A"), (11, b"C")])
    assert [s[0] for s in sent] == [b"D", b"D", b"D", b"j"]
    assert sent[3][1][380] == 3 and sent[3][1][372] == b"F" and sent[3][1][45] == b"3"
    assert app.dropped_possresend == 1


async def test_echo_forgets_clordids_when_sequence_numbers_reset(gw, clients):
    app = EchoApp()
    g = await gw(app=app)
    c = await clients(g.port)
    await c.logon()
    await c.send(b"D", order("R1"))
    assert (await c.expect(b"D")).get(11) == b"R1"
    await c.send(b"D", order("R1"), extra_header=[(97, b"Y")])   # a PossResend of it: dropped
    await c.send(b"1", [(112, b"SYNC1")])
    assert (await c.expect(b"0")).get(112) == b"SYNC1"
    assert app.dropped_possresend == 1
    # A ResetSeqNumFlag Logon inside the session starts a new run of sequence numbers.
    c.seq = 1
    assert (await c.logon(reset=True)).get(141) == b"Y"
    await c.send(b"D", order("R1"), extra_header=[(97, b"Y")])   # new run: not a duplicate
    echo = await c.expect(b"D")
    assert echo.get(11) == b"R1" and echo.seq_num == 2
    assert app.dropped_possresend == 1
    # and the new run remembers again
    await c.send(b"D", order("R1"), extra_header=[(97, b"Y")])
    await c.send(b"1", [(112, b"SYNC2")])
    assert (await c.expect(b"0")).get(112) == b"SYNC2"
    assert app.dropped_possresend == 2


async def test_session_logged_out_at_schedule_end(gw, clients, tmp_path):
    import datetime

    now = datetime.datetime.now(datetime.timezone.utc)
    start = (now - datetime.timedelta(hours=1)).strftime("%H:%M:%S")
    end = (now + datetime.timedelta(seconds=3)).strftime("%H:%M:%S")
    g = await gw(config(tmp_path, sessions=[
        {"target_comp_id": "SHCLIENT1", "schedule": {"start": start, "end": end, "tz": "UTC"}}]))
    c = await clients(g.port)
    await c.logon()
    lo = await c.expect(b"5", timeout=10)
    assert lo.get(58) == b"Session end"
    await c.send(b"5")
    assert await c.closed_by_peer()


async def test_a_disconnected_peer_that_never_reads_does_not_block_its_session(gw, clients, monkeypatch):
    import socket

    monkeypatch.setattr(fix_transport, "WRITE_HIGH_WATER", 16 * 1024)
    monkeypatch.setattr(fix_transport, "WRITE_LOW_WATER", 4 * 1024)
    monkeypatch.setattr(fix_transport, "CLOSE_DRAIN_S", 0.5)
    g = await gw()
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    sender = None
    try:
        await loop.sock_connect(sock, ("127.0.0.1", g.port))
        helper = FixClient(None, None, "SHCLIENT1", "GOLDRTR")
        await loop.sock_sendall(sock, helper.frame(b"A", [(98, 0), (108, 1)]))  # HeartBtInt 1
        payload = b"".join(helper.frame(b"D", order(f"U{i}")) for i in range(40000))
        sender = asyncio.ensure_future(loop.sock_sendall(sock, payload))
        # We read nothing: the acceptor stops reading from us, hears nothing for 2.4 s, and ends the
        # session with its output still unsent.  The bound connection must not outlive that for long.
        for _ in range(200):
            await asyncio.sleep(0.05)
            info = g.sessions_info()[0]
            if info["state"] == "disconnected" and not info["connected"]:
                break
        assert info["state"] == "disconnected" and not info["connected"]
        again = await clients(g.port)
        again.seq = info["next_target_seq_num"]
        assert (await again.logon()).msg_type == b"A"
    finally:
        if sender is not None:
            sender.cancel()
        sock.close()


async def test_a_second_gateway_on_the_same_store_refuses_to_start(gw, tmp_path):
    cfg = config(tmp_path)
    first = await gw(cfg)
    with pytest.raises(OSError):
        await start_gateway(cfg, EchoApp(), validator=None)
    # the first gateway is undisturbed and keeps its stores
    c = await FixClient.connect(first.port)
    try:
        assert (await c.logon()).msg_type == b"A"
        await c.send(b"D", order("STILL-MINE"))
        assert (await c.expect(b"D")).get(11) == b"STILL-MINE"
    finally:
        await c.close()


class CopyingApp(EchoApp):
    """Echoes each order and sends three messages to the HKCLIENT1 session, which is not connected
    (as the router's drop copies go to a drop-copy session nobody is logged on to)."""

    gateway = None

    def on_message(self, handle, msg):
        super().on_message(handle, msg)
        other = self.gateway.handle("HKCLIENT1")
        for n in range(3):
            assert other.send(b"8", [(37, b"O"), (17, b"%s-%d" % (msg.get(11), n)), (150, b"0"), (39, b"0")]) is False


async def test_messages_to_an_unconnected_session_reach_its_store_file_once_per_batch(gw, clients):
    app = CopyingApp()
    g = await gw(app=app)
    app.gateway = g
    store = g.slots[b"HKCLIENT1"].store
    flushes = []
    real_flush = store.flush
    store.flush = lambda: (flushes.append(1), real_flush())[1]
    c = await clients(g.port)
    await c.logon()
    await c.send_raw(c.frame(b"D", order("A1")) + c.frame(b"D", order("A2")))     # one write: one batch
    await c.expect(b"D")
    await c.expect(b"D")
    # On disk (flushed with the batch, in the same callback right after the answers' socket write),
    # not once per message.
    with open(store.path, "rb") as f:
        text = f.read()
    assert all(b"17=%s-%d\x01" % (cl, n) in text for cl in (b"A1", b"A2") for n in range(3))
    assert 1 <= len(flushes) < 6


class CommittingApp(EchoApp):
    """Holds each echo until the gateway's `before_write` calls `commit`, as the router's write-ahead
    journal does: the answers are sent from inside the connection's flush."""

    def __init__(self):
        super().__init__()
        self.held = []

    def on_message(self, handle, msg):
        self.held.append((handle, msg))

    def commit(self):
        held, self.held = self.held, []
        for handle, msg in held:
            super().on_message(handle, msg)


async def test_answers_sent_by_the_commit_leave_with_the_reads_own_write(gw, clients, monkeypatch):
    flushes = []
    real_flush = fix_transport.FixConnection.flush
    monkeypatch.setattr(fix_transport.FixConnection, "flush", lambda self: (flushes.append(self), real_flush(self))[1])
    g = await gw(app=CommittingApp())
    c = await clients(g.port)
    await c.logon()
    for n in range(3):
        flushes.clear()
        await c.send(b"D", order(f"W{n}"))
        assert (await c.expect(b"D")).get(11) == b"W%d" % n
        for _ in range(3):
            await asyncio.sleep(0)          # a flush scheduled for the next loop turn would run here
        # One flush per read: the commit's frames for the reading connection do not schedule another.
        assert len(flushes) == 1
