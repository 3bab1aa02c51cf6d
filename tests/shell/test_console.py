"""The operator console in a real headless browser (Debian chromium + chromedriver through Selenium)
against the real `gold-router serve` process, with real FIX clients trading on loopback.

The page must show, within 2 s of the FIX acknowledgement: the new depth, the routing decision with
its reasons, the cross-border quota change, the new position and the netted obligation; the kill switch pressed in the page with the operate
token must cancel the client's resting order over FIX (ExecutionReport 150=4), and the read token
must not be able to press it. A screenshot of the console with the live cross-border trade is written
to the test's directory, and to docs/console.png when GOLDROUTER_SAVE_SCREENSHOT=1 (how the README's
image is made).
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
from pathlib import Path

import pytest

from tests.fixclient import FixClient, now_ts
from tests.shell.test_service import READY, http

pytest.importorskip("selenium", reason="selenium is in the test extra (pip install -e .[test])")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service as ChromeService  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
OPERATE, READ = "op-7d1c", "rd-40aa"
ROOT = Path(__file__).resolve().parents[2]
SEEN_WITHIN_S = 2.0

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
    reason="needs Debian chromium and chromium-driver (tools/setup.sh --test installs them)")]


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,1730"):
        options.add_argument(arg)
    # Selenium's own driver download cannot work offline: the Debian driver is named explicitly.
    return webdriver.Chrome(options=options, service=ChromeService(executable_path=CHROMEDRIVER))


def order(clordid: str, symbol: str, side: int, qty: int, price: str, extra: tuple = ()) -> list:
    return [(11, clordid), (55, symbol), (54, side), (60, now_ts()), (38, qty), (40, 2), (44, price), (59, 0),
            *extra]


# The texts of every match, read in one script call: the page replaces its elements on each update,
# so element handles held across calls go stale. Whitespace runs (tabs between cells) become one space.
TEXTS = "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText.replace(/\\s+/g, ' ').trim())"


def seen(driver, css: str, predicate, what: str, timeout: float = SEEN_WITHIN_S) -> str:
    """Wait until an element's text satisfies `predicate`; returns the text, fails naming `what`."""
    def check(d):
        return next((t for t in d.execute_script(TEXTS, css) if predicate(t)), False)
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(check)
    except TimeoutException:
        texts = driver.execute_script(TEXTS, css)
        raise AssertionError(f"page did not show {what} within {timeout} s; {css} shows {texts!r}") from None


@pytest.fixture
async def serve(tmp_path):
    env = dict(os.environ, GOLDROUTER_ADMIN_TOKEN=OPERATE, GOLDROUTER_READ_TOKEN=READ)
    log = open(tmp_path / "serve.log", "wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "serve", "--fix-port", "0", "--http-port", "0", "--memory-store",
        "--sessions-always-open", stdout=asyncio.subprocess.PIPE, stderr=log, env=env, cwd=tmp_path)
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        match = READY.search(line)
        assert match, line
        yield int(match.group(1)), int(match.group(2)), tmp_path / "serve.log"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.communicate(), 30)
        log.close()
    assert proc.returncode == 0


async def test_console_shows_books_routes_quota_live_and_its_kill_switch_cancels_over_fix(serve, tmp_path):
    fix_port, http_port, log_path = serve
    sh = await FixClient.connect(fix_port, "SHCLIENT1")
    await sh.logon()
    hk = await FixClient.connect(fix_port, "HKCLIENT1")
    await hk.logon()
    driver = await asyncio.to_thread(browser)
    try:
        # The read token from the fragment: never sent to the server, and gone from the address bar.
        driver.get(f"http://127.0.0.1:{http_port}/#token={READ}")
        WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.ID, "conn"), "live"))
        assert "token" not in driver.current_url
        seen(driver, '#sessions tr[data-session="SHCLIENT1"] .state', lambda t: t == "logged_on", "SHCLIENT1 logged on")

        # 1. New depth: Hong Kong offers 2 kg on the CNH kilobar book.
        await hk.send(b"D", order("HK-S1", "HKGX.RKG", 2, 2, "560.00"))
        assert (await hk.expect(b"8")).get(150) == b"0"
        seen(driver, '.book[data-symbol="HKGX.RKG"] td.ask.price', lambda t: t == "560.00", "the HKGX.RKG offer")
        seen(driver, '.book[data-symbol="HKGX.RKG"] tbody tr', lambda t: "560.00 2 1" in t, "2 lots from 1 order")
        seen(driver, '.group[data-group="KG9999"] tr[data-member="HKGX.RKG"]', lambda t: "560.00" in t,
             "HKGX.RKG's best offer in the KG9999 group")

        quota_before = json.loads((await asyncio.to_thread(http, http_port, "/console/state", None, READ))[1])
        south_before = next(q for q in quota_before["quota"] if q["direction"] == "southbound")["used_cny"]

        # 2. A cross-border trade: the Shanghai client buys 1 kg through the routed product.
        await sh.send(b"D", order("SH-B1", "GOLD.KG9999", 1, 1000, "561.00"))
        reports = [await sh.expect(b"8") for _ in range(3)]
        # One 1 kg bar (999.9 g fine) fills; the 0.1 g fine no book takes is cancelled.
        assert reports[1].get(150) == b"F" and reports[1].get(30) == b"HKGX" and reports[2].get(150) == b"4"
        passive = await hk.expect(b"8")
        assert (passive.get(11), passive.get(150)) == (b"HK-S1", b"F")
        status, body = await asyncio.to_thread(http, http_port, "/routes?limit=1", None, READ)
        decision = json.loads(body)["routes"][0]
        assert decision["clordid"] == "SH-B1" and decision["compared"][0]["symbol"] == "HKGX.RKG"
        row = '#routes tr[data-clordid="SH-B1"]'
        seen(driver, row + " td.ranked", lambda t: t.startswith("1. HKGX.RKG") and "southbound" in t,
             "the ranked books of SH-B1")
        seen(driver, row, lambda t: "buy 1000 GOLD.KG9999 @ 561.00" in t, "the order of SH-B1")
        seen(driver, row + " td.filled", lambda t: t == "1 HKGX.RKG @ 560.00", "where SH-B1 filled")

        # A Hong Kong bid on the same product, Hong Kong venue only (GoldAllowedVenues 7005): the
        # Shanghai books are excluded, each with its reason.
        await hk.send(b"D", order("HK-B2", "GOLD.KG9999", 1, 1000, "550.00", ((7005, "HKGX"),)))
        assert (await hk.expect(b"8")).get(150) == b"0"
        assert (await hk.expect(b"8")).get(150) == b"D"      # a 1 kg bar rests; 0.1 g fine is not filled
        status, body = await asyncio.to_thread(http, http_port, "/routes?limit=1", None, READ)
        decision = json.loads(body)["routes"][0]
        assert decision["clordid"] == "HK-B2" and decision["excluded"], decision
        for excluded in decision["excluded"]:
            seen(driver, '#routes tr[data-clordid="HK-B2"] td.excluded',
                 lambda t: f"{excluded['symbol']}: {excluded['reason']}" in t, f"the exclusion of {excluded['symbol']}")
        seen(driver, '#routes tr[data-clordid="HK-B2"] td.rests', lambda t: t.startswith("HKGX."), "where HK-B2 rests")
        state = json.loads((await asyncio.to_thread(http, http_port, "/console/state", None, READ))[1])
        south = next(q for q in state["quota"] if q["direction"] == "southbound")
        assert south["used_cny"] != south_before
        seen(driver, '.gauge[data-direction="southbound"] .used', lambda t: t == south["used_cny"],
             f"southbound quota used {south['used_cny']}")
        seen(driver, '.gauge[data-direction="southbound"] .balance', lambda t: t == south["balance_cny"],
             "the southbound balance")
        # Nothing on the page broke its Content-Security-Policy (the console's own files only).
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        # The books of record: a margined Au(T+D) trade opens a position with margin held, and the
        # kilobar trade above nets into an HKGX obligation, southbound.
        await hk.send(b"D", order("HK-S3", "SGE.AUTD", 2, 2, "560.00"))
        assert (await hk.expect(b"8")).get(150) == b"0"
        await sh.send(b"D", order("SH-B3", "SGE.AUTD", 1, 2, "560.00"))
        assert [(await sh.expect(b"8")).get(39) for _ in range(2)] == [b"0", b"2"]
        assert (await hk.expect(b"8")).get(39) == b"2"
        status, body = await asyncio.to_thread(http, http_port, "/positions?account=SHCLIENT1", None, READ)
        (pos,) = [p for p in json.loads(body)["positions"] if p["symbol"] == "SGE.AUTD"]
        seen(driver, '#positions tr[data-account="SHCLIENT1"][data-symbol="SGE.AUTD"]',
             lambda t: t.split()[2:4] == ["2", pos["grams"]] and pos["margin_held"] in t,
             f"SHCLIENT1's SGE.AUTD position with {pos['margin_held']} margin held")
        status, body = await asyncio.to_thread(http, http_port, "/obligations?account=SHCLIENT1", None, READ)
        (hkgx,) = [o for o in json.loads(body)["obligations"] if o["clearing_house"] == "HKGX"]
        assert hkgx["metal_grams"] == "1000" and hkgx["cross_border"] == ["southbound"]
        seen(driver, '#obligations tr[data-account="SHCLIENT1"][data-house="HKGX"][data-currency="CNH"]',
             lambda t: hkgx["cash"] in t and hkgx["metal_grams"] in t and "southbound" in t,
             f"the HKGX CNH obligation {hkgx['cash']}")
        shot = tmp_path / "console.png"
        assert driver.save_screenshot(str(shot)) and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get("GOLDROUTER_SAVE_SCREENSHOT") == "1":
            shutil.copyfile(shot, ROOT / "docs" / "console.png")

        # 3. A resting Shanghai bid, then the kill switch from the page.
        await sh.send(b"D", order("SH-REST", "SGE.AU9999", 1, 3, "555.00"))
        assert (await sh.expect(b"8")).get(150) == b"0"
        seen(driver, '#sessions tr[data-session="SHCLIENT1"] .working', lambda t: t == "1", "1 working order")

        driver.find_element(By.ID, "kill-global-on").click()        # the read token may not operate
        driver.switch_to.alert.accept()
        seen(driver, "#op-result", lambda t: "operate_token_required" in t, "the refusal of the read token")

        driver.get(f"http://127.0.0.1:{http_port}/#token={OPERATE}")
        WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.ID, "conn"), "live"))
        Select(driver.find_element(By.ID, "kill-account")).select_by_value("SHCLIENT1")
        driver.find_element(By.ID, "kill-account-on").click()
        alert = driver.switch_to.alert
        assert "SHCLIENT1" in alert.text and "ON" in alert.text       # it asks before acting
        alert.accept()
        cancel = await sh.expect(b"8")
        assert (cancel.get(11), cancel.get(150), cancel.get(39)) == (b"SH-REST", b"4", b"4")
        assert b"kill switch" in cancel.get(58)
        seen(driver, "#kill-accounts", lambda t: "SHCLIENT1" in t, "the account kill switch on")
        seen(driver, '#sessions tr[data-session="SHCLIENT1"] .working', lambda t: t == "0", "no working order")

        # A confirmation declined changes nothing.
        driver.find_element(By.ID, "kill-global-on").click()
        driver.switch_to.alert.dismiss()
        seen(driver, "#op-result", lambda t: t == "cancelled", "the declined confirmation")
        seen(driver, "#kill-global", lambda t: t.endswith("off"), "the global switch still off")

        # The stream the first page load opened is gone once the server next writes to it.
        for _ in range(70):
            status, body = await asyncio.to_thread(http, http_port, "/metrics")
            if re.search(r"^goldrouter_console_subscribers 1\.0$", body.decode(), re.M):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(re.findall(r"^goldrouter_console.*$", body.decode(), re.M))
    finally:
        await asyncio.to_thread(driver.quit)
        sh.writer.close()
        hk.writer.close()
    text = log_path.read_text()
    assert re.search(r"INFO gold_router.admin: kill switch account SHCLIENT1 ON by 127\.0\.0\.1 \(console\): "
                     r"1 working orders cancelled", text), text[-3000:]
    assert "console stream opened" in text


async def test_console_fx_jump_shows_the_409_reason_and_a_confirmed_force_applies_it(serve):
    """A rate beyond fx.max_jump_pct from the page: the 409's reason is shown and a second question
    offers to force it; declining leaves the rate, confirming resends with "force": true."""
    _fix_port, http_port, log_path = serve
    driver = await asyncio.to_thread(browser)
    try:
        driver.get(f"http://127.0.0.1:{http_port}/#token={OPERATE}")
        WebDriverWait(driver, 10).until(EC.text_to_be_present_in_element((By.ID, "conn"), "live"))
        WebDriverWait(driver, 10).until(lambda d: "USDCNY" in d.execute_script(
            "return [...document.querySelectorAll('#fx-pair option')].map(o => o.value)"))
        Select(driver.find_element(By.ID, "fx-pair")).select_by_value("USDCNY")
        driver.find_element(By.ID, "fx-rate").send_keys("7.5000")            # +5.6 %, the limit is 2 %
        for accept in (False, True):
            driver.find_element(By.ID, "fx-set").click()
            first = driver.switch_to.alert
            assert "USDCNY" in first.text and "7.5000" in first.text
            first.accept()
            second = WebDriverWait(driver, 5).until(EC.alert_is_present())
            assert "fx.max_jump_pct" in second.text and "force" in second.text, second.text
            if not accept:
                second.dismiss()
                seen(driver, "#op-result", lambda t: "refused (409): max_jump_pct" in t and "not forced" in t,
                     "the refusal's reason")
                view = json.loads((await asyncio.to_thread(http, http_port, "/fx", None, READ))[1])
                assert view["pairs"]["USDCNY"]["mid"] == "7.1000", view
            else:
                second.accept()
                seen(driver, "#op-result", lambda t: t.startswith("done: /fx") and '"force":true' in t,
                     "the forced update")
        view = json.loads((await asyncio.to_thread(http, http_port, "/fx", None, READ))[1])
        assert view["pairs"]["USDCNY"]["mid"] == "7.5000", view
    finally:
        await asyncio.to_thread(driver.quit)
    assert "FX update by 127.0.0.1 (console) (forced): USDCNY=7.5000" in log_path.read_text()
