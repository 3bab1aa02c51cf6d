"""Per-session data dictionaries and QuickFIX's stock FIX44.xml: the loader takes the header's NoHops(627)
group, each session validates with its own dictionary, and `serve --dictionary` runs the echo
application with the stock file (a real process, real TCP)."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from router.domain.errors import ConfigError
from router.fix.codec import encode, parse_frame
from router.fix.config import parse_fix_config, with_overrides
from router.fix.dictionary import load_dictionary
from router.fix.gateway import session_validators
from router.fix.validate import validate
from tests.fixclient import FixClient, now_ts

STOCK = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"
pytestmark = pytest.mark.skipif(not STOCK.is_file(), reason=f"QuickFIX's stock dictionary not at {STOCK}")
HOPS = [(627, b"2"), (628, b"HUB1"), (629, b"20261203-10:00:00.000"), (628, b"HUB2"), (630, b"7")]
ORDER = [(11, b"STOCK-1"), (21, b"1"), (100, b"XHKG"), (55, b"SGE.AU9999"), (54, b"1"), (60, b"20261203-10:00:00"),
         (38, b"5"), (40, b"2"), (44, b"560.00")]


def message(extra_header, body=ORDER):
    return parse_frame(encode(b"D", b"QFCLIENT", b"GOLDRTR", 2, now_ts(), body, extra_header=extra_header))


def test_the_stock_dictionary_loads_with_its_header_group():
    d = load_dictionary(STOCK)
    hops = d.header_groups[627]
    assert (hops.delimiter, hops.order) == (628, (628, 629, 630))
    assert validate(message(HOPS), d) is None
    wrong_count = validate(message([(627, b"3")] + HOPS[1:]), d)
    assert wrong_count is not None and wrong_count.ref_tag == 627 and int(wrong_count.reason) == 16
    out_of_order = validate(message([(627, b"1"), (629, b"20261203-10:00:00.000"), (628, b"HUB1")]), d)
    assert out_of_order is not None and int(out_of_order.reason) == 15


def test_each_session_has_its_dictionary(tmp_path):
    config = parse_fix_config({"sessions": [{"target_comp_id": "QFCLIENT", "dictionary": str(STOCK)},
                                            {"target_comp_id": "SHCLIENT1"}]})
    validators = session_validators(config)
    msg = message([])
    assert validators["QFCLIENT"](msg) is None                 # ExDestination(100) is in the stock FIX 4.4
    ours = validators["SHCLIENT1"](msg)
    assert ours is not None and ours.ref_tag == 100            # ... and not in fix_specs/FIX44-goldrouter.xml


def test_a_bad_dictionary_names_the_session_key(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<fix major='4' minor='4'><header/></fix>")
    config = parse_fix_config({"sessions": [{"target_comp_id": "A"}, {"target_comp_id": "B", "dictionary": str(bad)}]})
    with pytest.raises(ConfigError) as e:
        session_validators(config)
    assert e.value.key == "fix.sessions[1].dictionary" and str(bad) in str(e.value)
    with pytest.raises(ConfigError) as e:
        session_validators(with_overrides(parse_fix_config({}), target_comp_id="ADHOC",
                                          dictionary=str(tmp_path / "missing.xml")))
    assert e.value.key == "--dictionary" and "missing.xml" in str(e.value)


def test_dictionary_flag_needs_the_adhoc_session():
    with pytest.raises(ConfigError) as e:
        with_overrides(parse_fix_config({}), dictionary=str(STOCK))
    assert e.value.key == "--dictionary" and "--target-comp-id" in str(e.value)
    with pytest.raises(ConfigError) as e:
        with_overrides(parse_fix_config({"sessions": [{"target_comp_id": "A"}]}), target_comp_id="A",
                       dictionary=str(STOCK))
    assert e.value.key == "--dictionary"


async def test_serve_runs_the_echo_app_with_the_stock_dictionary(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDROUTER_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "serve", "--app", "echo", "--fix-port", "0", "--http-port", "0",
        "--memory-store", "--target-comp-id", "QFCLIENT", "--dictionary", str(STOCK),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path)
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        match = re.search(rb"FIX 127\.0\.0\.1:(\d+)", line)
        assert match, line
        port = int(match.group(1))
        qf = await FixClient.connect(port, "QFCLIENT")
        await qf.logon()
        await qf.send(b"D", ORDER, extra_header=HOPS)
        echo = await qf.expect(b"D")
        assert echo.get(11) == b"STOCK-1" and echo.get(100) == b"XHKG"
        # the configured sessions keep our dictionary: the same order is a session Reject there
        sh = await FixClient.connect(port, "SHCLIENT1")
        await sh.logon()
        await sh.send(b"D", ORDER)
        rej = await sh.expect(b"3")
        assert rej.get(371) == b"100"
        await qf.close()
        await sh.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    assert f"FIX data dictionary {STOCK} loaded for session QFCLIENT".encode() in err
