"""The scraped text passes `promtool check metrics`, and a real Prometheus scrapes it and answers PromQL.

Both binaries come from Debian's `prometheus` package (CI installs it); locally the
tests skip with the reason when a binary is absent.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import urllib.parse

import aiohttp
import pytest

from router.admin import build_admin_app, start_http
from router.metrics import Metrics

pytestmark = pytest.mark.prometheus

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")


class IdleBackend:
    def ready(self) -> bool:
        return True

    def sessions(self) -> list[dict]:
        return [{"session_id": "SHCLIENT1", "state": "active", "next_sender_seq_num": 7,
                 "next_target_seq_num": 4}]

    def book(self, symbol, depth):
        return None

    def routes(self, limit):
        return []

    def set_kill_switch(self, scope, account, on):
        raise AssertionError("not used")

    def set_fx(self, rates):
        raise AssertionError("not used")


def busy_metrics() -> Metrics:
    """A registry with a sample in every family, so promtool sees every kind of line."""
    m = Metrics()
    backend = IdleBackend()
    m.session_source = backend.sessions
    for t in (b"A", b"D", b"D", b"F", b"0"):
        m.message_in("SHCLIENT1", t)
    for t in (b"A", b"8", b"8", b"3"):
        m.message_out("SHCLIENT1", t)
    m.resend_request("SHCLIENT1")
    m.session_reject("SHCLIENT1", "value_is_incorrect")
    m.session_state("SHCLIENT1", "active")
    m.order_received("SHCLIENT1")
    m.order_accepted("SGE.AU9999")
    m.order_rejected("price_collar")
    m.fill("SGE", 10)
    m.routed("HKGX", "southbound", 3743)
    m.set_quota("southbound", 5_000_000, 15_000_000)
    m.set_quota("northbound", 0, 20_000_000)
    m.set_open_orders("SGE.AU9999", 3)
    m.set_kill_switch(False, 0)
    m.set_fx("USDCNY", "7.25")
    m.set_ready(True)
    for us in (12, 18, 25, 33, 41, 60, 95, 130, 900):
        m.ack_latency_ns(us * 1000)
    m.matching_batch_ns(8_000)
    m.router_decision_ns(2_000)
    m.observe_loop_lag_ns(300_000)
    return m


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus')")
def test_promtool_check_metrics_passes():
    text = busy_metrics().exposition()
    proc = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    # promtool prints lint findings even when it exits 0 for some of them; we want none.
    assert proc.stdout.strip() == b"" and proc.stderr.strip() == b"", proc.stdout + proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _query(client: aiohttp.ClientSession, base: str, promql: str) -> list:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    async with client.get(url) as r:
        body = await r.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


@pytest.mark.slow
@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (Debian package 'prometheus')")
async def test_real_prometheus_scrapes_and_answers_histogram_quantile(tmp_path):
    metrics = busy_metrics()
    server = await start_http(build_admin_app(IdleBackend(), metrics.registry, ""), "127.0.0.1", 0)
    prom_port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is valid YAML, and needs no YAML library here
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "goldrouter",
                            "static_configs": [{"targets": [f"127.0.0.1:{server.port}"]}]}],
    }))
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{prom_port}"
    promql = "histogram_quantile(0.5, sum by (le) (goldrouter_order_ack_latency_seconds_bucket))"
    try:
        async with aiohttp.ClientSession() as client:
            result: list = []
            for _ in range(120):  # up to ~60 s on a loaded machine; usually 2-3 s
                if proc.poll() is not None:
                    break
                try:
                    result = await _query(client, base, promql)
                except aiohttp.ClientConnectionError:
                    result = []
                if result:
                    break
                await asyncio.sleep(0.5)
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
            assert result, "no sample after 60 s: " + (tmp_path / "prometheus.log").read_text()
            value = float(result[0]["value"][1])
            # 9 observations: rank 4.5 lies in the (30 us, 50 us] bucket, which holds the 4th and 5th.
            assert 30e-6 < value <= 50e-6, value
            up = await _query(client, base, 'up{job="goldrouter"}')
            assert up and up[0]["value"][1] == "1"
            seq = await _query(client, base, 'goldrouter_fix_next_sender_seq_num{session="SHCLIENT1"}')
            assert seq and seq[0]["value"][1] == "7"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        log.close()
        await server.close()
