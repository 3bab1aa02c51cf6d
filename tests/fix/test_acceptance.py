"""Runs every session acceptance script in fix_specs/acceptance/ against the live acceptor over TCP."""
from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from router.fix.echo import EchoApp
from router.fix.codec import parse_utc_timestamp, utc_timestamp
from router.fix.config import parse_fix_config
from router.fix.credentials import hash_password
from router.fix.gateway import start_gateway
from tests.fixclient import FixClient

SECRET_HASH = hash_password("s3cret")  # config holds hashes only
SCRIPTS = sorted((Path(__file__).resolve().parents[2] / "fix_specs" / "acceptance").glob("*.fixs"))
_TIME = re.compile(rb"<TIME([+-]\d+)?>")


def test_enough_scripts():
    assert len(SCRIPTS) >= 20


def _fill_times(text: bytes) -> bytes:
    def sub(m: re.Match) -> bytes:
        offset = int(m.group(1) or 0)
        return utc_timestamp(time.time_ns() + offset * 1_000_000_000)
    return _TIME.sub(sub, text)


def build_frame(spec: str) -> bytes:
    """A frame from `8=...|9=<LEN>|...|10=<CS>` with lengths, checksums and times filled in."""
    parts = [p.encode() for p in spec.split("|")]
    parts = [_fill_times(p) for p in parts]
    assert parts[0].startswith(b"8=") and parts[1].startswith(b"9=") and parts[-1].startswith(b"10="), spec
    body = b"".join(p + b"\x01" for p in parts[2:-1])
    length = b"%d" % len(body) if parts[1] == b"9=<LEN>" else (b"%d" % (len(body) + 3) if parts[1] == b"9=<BADLEN>" else parts[1][2:])
    head = parts[0] + b"\x01" + b"9=" + length + b"\x01"
    cs = sum(head + body) & 255
    if parts[-1] == b"10=<CS>":
        trailer = b"10=%03d\x01" % cs
    elif parts[-1] == b"10=<BADCS>":
        trailer = b"10=%03d\x01" % ((cs + 1) & 255)
    else:
        trailer = parts[-1] + b"\x01"
    return head + body + trailer


def parse_expected(spec: str) -> list[tuple[int, bytes]]:
    out = []
    for p in spec.split("|"):
        tag, _, value = p.partition("=")
        out.append((int(tag), value.encode()))
    return out


def check(expected: list[tuple[int, bytes]], msg, where: str) -> None:
    got = {}
    for tag, value in msg.fields:
        got.setdefault(tag, value)
    want_tags = {t for t, _ in expected}
    assert want_tags == set(got), (
        f"{where}: tags differ: missing {sorted(want_tags - set(got))}, unexpected {sorted(set(got) - want_tags)}"
        f" in {msg.raw!r}")
    for tag, value in expected:
        actual = got[tag]
        if value in (b"<ANY>", b"<LEN>", b"<CS>"):
            continue
        if value == b"<TIME>":
            assert parse_utc_timestamp(actual) is not None, f"{where}: tag {tag} {actual!r} is not a UTCTimestamp"
            continue
        assert actual == value, f"{where}: tag {tag} is {actual!r}, expected {value!r} in {msg.raw!r}"


async def run_script(path: Path, port: int) -> None:
    lines = path.read_text().splitlines()
    session = "SHCLIENT1"
    for line in lines:
        if line.startswith("#! session "):
            session = line.split()[2]
    client = await FixClient.connect(port, session)
    try:
        for n, raw_line in enumerate(lines, 1):
            line = raw_line.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{path.name}:{n}"
            if line.startswith("I"):
                await client.send_raw(build_frame(line[1:].strip()))
            elif line.startswith("R"):
                await client.send_raw(_fill_times(line[1:].strip().replace("|", "\x01").encode()))
            elif line.startswith("E~"):
                expected = parse_expected(line[2:].strip())
                want_type = dict(expected)[35]
                msg = await client.expect(want_type, timeout=8)
                check(expected, msg, where)
            elif line.startswith("E"):
                expected = parse_expected(line[1:].strip())
                try:
                    msg = await client.recv(timeout=5)
                except (TimeoutError, ConnectionError) as e:
                    raise AssertionError(f"{where}: expected a message: {e}") from None
                check(expected, msg, where)
            elif line.startswith("N"):
                seconds = float(line.split()[1])
                try:
                    msg = await client.recv(timeout=seconds)
                except TimeoutError:
                    continue
                except ConnectionError:
                    raise AssertionError(f"{where}: expected silence, the connection was closed") from None
                raise AssertionError(f"{where}: expected nothing, got {msg.raw!r}")
            elif line.startswith("D"):
                parts = line.split()
                seconds = float(parts[1]) if len(parts) > 1 else 5.0
                assert await client.closed_by_peer(seconds), f"{where}: connection still open after {seconds}s"
                if "logout-allowed" in parts[2:]:      # an optional Logout explaining the close
                    assert all(m.msg_type == b"5" for m in client.pending), client.pending[0].raw
                    client.pending.clear()
                assert client.pending == [], f"{where}: unexpected frames before close: {client.pending[0].raw!r}"
            elif line.startswith("C"):
                await client.close()
                client = await FixClient.connect(port, session)
            elif line.startswith("W"):
                await asyncio.sleep(float(line.split()[1]))
            else:
                raise AssertionError(f"{where}: unknown step {line!r}")
        assert client.pending == [], f"{path.name}: unconsumed frames at the end: {client.pending[0].raw!r}"
    finally:
        await client.close()


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
async def test_acceptance_script(script: Path, tmp_path):
    cfg = parse_fix_config({
        "port": 0, "store_dir": str(tmp_path / "store"), "logon_timeout_s": 3, "logout_timeout_s": 2,
        "sessions": [
            {"target_comp_id": "SHCLIENT1"},
            {"target_comp_id": "SECURE1", "username": "trader", "password": SECRET_HASH},
        ],
    })
    gateway = await start_gateway(cfg, EchoApp())
    try:
        await run_script(script, gateway.port)
    finally:
        await gateway.close(timeout=0.5)
