"""Exposure rules on the real `gold-router serve` process: a non-loopback listener without TLS,
passwords or an admin token is refused with one line per missing key, `--insecure` starts anyway with
a WARNING, a /health entry and a metric, and a fully configured exposed service starts (HTTPS, TLS
FIX, hashed passwords), with certificates made at test time by openssl."""
import asyncio
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.request

import pytest

from router.config import load_config
from router.ops.exposure import exposure_problems, is_loopback_host
from router.fix.config import parse_fix_config
from router.fix.credentials import hash_password
from router.ops.http_config import parse_http_config
from tests.fixclient import FixClient

DEFAULT_SESSIONS = len(load_config().sections["fix"].sessions)   # the embedded defaults' FIX sessions

READY = re.compile(rb"gold-router ready: FIX [^ ]*:(\d+) .*https?://[^ ]*:(\d+)")


def run_serve(tmp_path, *args, env=None, timeout=60):
    """A serve that must refuse to start: it exits by itself, before the matching core is compiled."""
    return subprocess.run(
        [sys.executable, "-m", "router", "serve", "--app", "echo", "--fix-port", "0", "--http-port", "0",
         "--memory-store", *args], capture_output=True, timeout=timeout, cwd=tmp_path,
        env=dict(os.environ, **(env or {})))


async def start_serve(tmp_path, *args, env=None):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GOLDROUTER_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "serve", "--app", "echo", "--fix-port", "0", "--http-port", "0",
        "--memory-store", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=dict(environ, **(env or {})), cwd=tmp_path)
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    match = READY.search(line)
    if not match:
        proc.kill()
        _, err = await proc.communicate()
        pytest.fail(f"no ready line: {line!r}; stderr: {err.decode()[-2000:]}")
    return proc, int(match.group(1)), int(match.group(2))


async def stop(proc):
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    return err.decode()


def get(url, ctx=None, token=None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
        return resp.status, resp.read()


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available to generate a test certificate")
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    return str(crt), str(key)


# ------------------------------------------------------------------ the rules themselves

@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("", False), ("::", False), ("10.1.2.3", False), ("gold.example", False),
    ("::ffff:127.0.0.1", True)])
def test_loopback_hosts(host, loopback):
    assert is_loopback_host(host) is loopback


def test_rules_name_every_missing_key():
    fix = parse_fix_config({"host": "0.0.0.0", "sessions": [
        {"target_comp_id": "A", "username": "a", "password": hash_password("pw")},
        {"target_comp_id": "B"}]})
    http = parse_http_config({"host": "0.0.0.0"})
    problems = exposure_problems(fix, http, {})
    assert len(problems) == 4, problems
    assert "fix.tls_cert" in problems[0]
    assert "session B" in problems[1] and "fix.sessions[1].password" in problems[1]
    assert "http.admin_token" in problems[2] and "GOLDROUTER_ADMIN_TOKEN" in problems[2]
    assert "http.tls_cert" in problems[3]
    # the token may come from the environment; loopback listeners have no rules at all
    assert len(exposure_problems(fix, http, {"GOLDROUTER_READ_TOKEN": "r"})) == 3
    assert exposure_problems(parse_fix_config({"sessions": [{"target_comp_id": "B"}]}),
                             parse_http_config({}), {}) == []
    # an HTTP site that is off exposes nothing
    assert exposure_problems(parse_fix_config({}), parse_http_config({"host": "0.0.0.0", "enabled": False}),
                             {}) == []


# ------------------------------------------------------------------ the real serve process

def test_serve_refuses_an_exposed_fix_listener(tmp_path):
    r = run_serve(tmp_path, "--fix-host", "0.0.0.0")
    err = r.stderr.decode()
    assert r.returncode == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("gold-router: error: refusing to start")]
    assert len(lines) == 1 + DEFAULT_SESSIONS, err        # no TLS, and each session without a password
    assert "fix.tls_cert" in lines[0] and "0.0.0.0" in lines[0]
    assert "SHCLIENT1" in lines[1] and "fix.sessions[0].password" in lines[1]
    assert "HKCLIENT1" in lines[2] and "fix.sessions[1].password" in lines[2]
    assert all(ln.endswith("(or pass --insecure)") for ln in lines)
    assert "Traceback" not in err and b"ready" not in r.stdout


def test_serve_refuses_an_exposed_http_listener_without_token(tmp_path):
    r = run_serve(tmp_path, "--http-host", "0.0.0.0", env={"GOLDROUTER_ADMIN_TOKEN": "", "GOLDROUTER_READ_TOKEN": ""})
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert re.search(r"refusing to start: HTTP listener 0\.0\.0\.0:0 is not loopback and has no admin token: "
                     r"set http\.admin_token", err), err
    assert "http.tls_cert" in err
    assert "FIX listener" not in err


def test_the_adhoc_session_needs_a_configured_password(tmp_path, cert):
    crt, key = cert
    conf = tmp_path / "exposed.toml"
    conf.write_text(f'[fix]\nhost = "0.0.0.0"\ntls_cert = "{crt}"\ntls_key = "{key}"\nsessions = []\n')
    r = run_serve(tmp_path, "--config", str(conf), "--target-comp-id", "ADHOC")
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert "ad-hoc session ADHOC (--target-comp-id) has no password" in err
    assert "fix.tls_cert" not in err


async def test_insecure_starts_with_warnings_in_log_health_and_metrics(tmp_path):
    proc, fix_port, http_port = await start_serve(tmp_path, "--fix-host", "0.0.0.0", "--insecure")
    try:
        status, body = await asyncio.to_thread(get, f"http://127.0.0.1:{http_port}/health")
        health = json.loads(body)
        assert status == 200 and health["status"] == "ok"
        assert len(health["insecure"]) == 1 + DEFAULT_SESSIONS and "fix.tls_cert" in health["insecure"][0]
        _, text = await asyncio.to_thread(get, f"http://127.0.0.1:{http_port}/metrics")
        assert re.search(rb"^goldrouter_insecure_exposures %d\.0$" % (1 + DEFAULT_SESSIONS), text, re.M), text[:2000]
        client = await FixClient.connect(fix_port, "SHCLIENT1")      # it does serve
        await client.logon()
        await client.close()
    finally:
        err = await stop(proc)
    warnings = [ln for ln in err.splitlines() if "WARNING" in ln and "INSECURE (--insecure)" in ln]
    assert len(warnings) == 1 + DEFAULT_SESSIONS, err


async def test_fully_configured_exposed_service_starts_clean(tmp_path, cert):
    crt, key = cert
    conf = tmp_path / "exposed.toml"
    hashed = hash_password("open sesame")
    conf.write_text(
        f'[fix]\nhost = "0.0.0.0"\ntls_cert = "{crt}"\ntls_key = "{key}"\n'
        f'[[fix.sessions]]\ntarget_comp_id = "SHCLIENT1"\nusername = "sh"\npassword = "{hashed}"\n'
        f'[http]\nhost = "0.0.0.0"\ntls_cert = "{crt}"\ntls_key = "{key}"\nadmin_token = "operate-me"\n')
    proc, fix_port, http_port = await start_serve(tmp_path, "--config", str(conf))
    try:
        ctx = ssl.create_default_context(cafile=crt)
        status, body = await asyncio.to_thread(get, f"https://localhost:{http_port}/health", ctx)
        assert status == 200 and json.loads(body) == {"status": "ok"}
        _, text = await asyncio.to_thread(get, f"https://localhost:{http_port}/metrics", ctx)
        assert re.search(rb"^goldrouter_insecure_exposures 0\.0$", text, re.M)
        client = await FixClient.connect(fix_port, "SHCLIENT1", ssl=ctx)
        ack = await client.logon(extra=[(553, b"sh"), (554, b"open sesame")])
        assert ack.msg_type == b"A"
        await client.close()
    finally:
        err = await stop(proc)
    assert "INSECURE" not in err
