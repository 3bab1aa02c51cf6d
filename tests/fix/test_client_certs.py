"""TLS client certificates per FIX session over real TLS on loopback, with a CA, a server certificate and
client certificates made at test time by the openssl command."""
from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest

from router.domain.errors import ConfigError
from router.fix.client_certs import parse_subject, peer_subject
from router.fix.config import parse_fix_config
from router.fix.credentials import hash_password
from router.fix.echo import EchoApp
from router.fix.gateway import LOGON_REFUSED, start_gateway
from router.ops.exposure import fix_exposure
from tests.fix.test_gateway import order
from tests.fixclient import FixClient

EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=cwd)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available to make test certificates")
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", *EC, "-keyout", "server.key", "-out", "server.pem", "-days", "1",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", cwd=d)
    for ca in ("ca", "rogue"):
        _openssl("req", "-x509", *EC, "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "1",
                 "-subj", f"/CN=Test {ca} CA", cwd=d)

    def client(name, subject, ca="ca"):
        _openssl("req", *EC, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                 "-set_serial", "7", "-out", f"{name}.pem", "-days", "1", cwd=d)
        return str(d / f"{name}.pem"), str(d / f"{name}.key")

    return {"dir": d, "server": (str(d / "server.pem"), str(d / "server.key")), "ca": str(d / "ca.pem"),
            "broker": client("broker", "/CN=BROKER1/O=Gold Broker"),
            "other": client("other", "/CN=SOMEONE/O=Gold Broker"),
            "rogue": client("roguebroker", "/CN=BROKER1/O=Gold Broker", ca="rogue")}


def fix_config(pki, **top):
    cert, key = pki["server"]
    table = {"port": 0, "store": "memory", "tls_cert": cert, "tls_key": key, "tls_ca": pki["ca"],
             "sessions": [{"target_comp_id": "BROKER1", "tls_client_subject": "O=Gold Broker, CN=BROKER1"},
                          {"target_comp_id": "SECURE1", "username": "u", "password": hash_password("pw")}]}
    table.update(top)
    return parse_fix_config(table)


def client_ctx(pki, cert=None):
    ctx = ssl.create_default_context(cafile=pki["server"][0])
    if cert is not None:
        ctx.load_cert_chain(*pki[cert])
    return ctx


@pytest.fixture
async def gateway(pki):
    g = await start_gateway(fix_config(pki), EchoApp(), validator=None)
    made = []

    async def connect(sender, cert=None):
        c = await FixClient.connect(g.port, sender, ssl=client_ctx(pki, cert))
        made.append(c)
        return c

    yield connect
    for c in made:
        await c.close()
    await g.close(timeout=0.5)


async def test_the_configured_subject_logs_on(gateway):
    c = await gateway("BROKER1", cert="broker")
    assert (await c.logon()).msg_type == b"A"
    await c.send(b"D", order("CERT-1"))
    assert (await c.expect(b"D")).get(11) == b"CERT-1"


@pytest.mark.parametrize("cert", [None, "other"])
async def test_no_certificate_or_another_subject_is_refused_like_bad_credentials(gateway, cert, caplog):
    caplog.set_level("INFO", logger="router.fix")
    c = await gateway("BROKER1", cert=cert)
    await c.logon(expect=False)
    refusal = await c.expect(b"5")
    assert refusal.get(58) == LOGON_REFUSED.encode()
    assert await c.closed_by_peer()
    assert "does not match 'O=Gold Broker, CN=BROKER1'" in caplog.text
    assert ("no certificate" if cert is None else "CN=SOMEONE") in caplog.text


async def test_a_certificate_from_another_ca_fails_the_handshake(gateway):
    with pytest.raises((ssl.SSLError, ConnectionError)):
        c = await gateway("BROKER1", cert="rogue")
        await c.logon()


async def test_password_sessions_share_the_listener_without_a_certificate(gateway):
    c = await gateway("SECURE1")
    assert (await c.logon(extra=[(553, b"u"), (554, b"pw")])).msg_type == b"A"


def test_subjects_parse_and_match(pki):
    assert parse_subject("CN=A\\,B, o=X") == {("CN", "A,B"), ("O", "X")}
    peer = {"subject": ((("commonName", "BROKER1"),), (("organizationName", "Gold Broker"),))}
    assert peer_subject(peer) == parse_subject("O=Gold Broker,CN=BROKER1")
    assert peer_subject(None) is None and peer_subject({}) is None
    for bad, why in (("CN", "not ATTRIBUTE=value"), ("XX=1", "unknown attribute"), ("", "not ATTRIBUTE=value")):
        with pytest.raises(ValueError, match=why):
            parse_subject(bad)


def test_config_errors_name_the_key(pki):
    with pytest.raises(ConfigError) as e:
        fix_config(pki, tls_ca="")
    assert e.value.key == "fix.sessions[0].tls_client_subject" and "fix.tls_ca" in str(e.value)
    with pytest.raises(ConfigError) as e:
        parse_fix_config({"tls_ca": pki["ca"]})
    assert e.value.key == "fix.tls_ca"
    with pytest.raises(ConfigError) as e:
        fix_config(pki, sessions=[{"target_comp_id": "B", "tls_client_subject": "CN=B,BOGUS=1"}])
    assert e.value.key == "fix.sessions[0].tls_client_subject" and "BOGUS" in str(e.value)


def test_a_client_certificate_counts_as_authentication_for_exposure(pki):
    exposed = fix_config(pki, host="0.0.0.0")
    assert fix_exposure(exposed) == []
