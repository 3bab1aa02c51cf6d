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

from router.ops.admin import build_admin_app, start_http
from router.ops.metrics import Metrics

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

    def set_fx(self, rates, force=False):
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


class PrometheusServer:
    """A real Prometheus on loopback scraping one target every second, from a temporary config."""

    def __init__(self, tmp_path, scrape_port: int) -> None:
        self.tmp_path = tmp_path
        self.port = _free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(json.dumps({  # JSON is valid YAML, and needs no YAML library here
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "goldrouter",
                                "static_configs": [{"targets": [f"127.0.0.1:{scrape_port}"]}]}],
        }))
        self.log = open(tmp_path / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return (self.tmp_path / "prometheus.log").read_text()

    async def first_result(self, client: aiohttp.ClientSession, promql: str, seconds: float = 60) -> list:
        """Poll until the query has a sample (Prometheus up, target scraped); [] after `seconds`."""
        for _ in range(int(seconds * 2)):
            assert self.proc.poll() is None, self.log_text()
            try:
                result = await _query(client, self.base, promql)
            except aiohttp.ClientConnectionError:
                result = []
            if result:
                return result
            await asyncio.sleep(0.5)
        return []

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)
        self.log.close()


@pytest.mark.slow
@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (Debian package 'prometheus')")
async def test_real_prometheus_scrapes_and_answers_histogram_quantile(tmp_path):
    metrics = busy_metrics()
    server = await start_http(build_admin_app(IdleBackend(), metrics.registry, ""), "127.0.0.1", 0)
    prom = PrometheusServer(tmp_path, server.port)
    promql = "histogram_quantile(0.5, sum by (le) (goldrouter_order_ack_latency_seconds_bucket))"
    try:
        async with aiohttp.ClientSession() as client:
            result = await prom.first_result(client, promql)
            assert result, "no sample after 60 s: " + prom.log_text()
            value = float(result[0]["value"][1])
            # 9 observations: rank 4.5 lies in the (30 us, 50 us] bucket, which holds the 4th and 5th.
            assert 30e-6 < value <= 50e-6, value
            up = await _query(client, prom.base, 'up{job="goldrouter"}')
            assert up and up[0]["value"][1] == "1"
            seq = await _query(client, prom.base, 'goldrouter_fix_next_sender_seq_num{session="SHCLIENT1"}')
            assert seq and seq[0]["value"][1] == "7"
    finally:
        prom.stop()
        await server.close()


@pytest.mark.slow
@pytest.mark.timeout(300)  # a fresh checkout compiles the numba kernels before the service is ready
@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (Debian package 'prometheus')")
async def test_real_prometheus_scrapes_the_running_service(tmp_path):
    """The whole service (`python -m router serve --app router`), real FIX orders, a real scrape."""
    from benchmarks.roundtrip import Client, ServiceTarget

    service = ServiceTarget("service", tmp_path)
    service.start()
    prom = None
    try:
        fix_client = Client(service.port, service.sender, service.tif, service.price)
        try:
            fix_client.logon()
            step = fix_client.run_step(100, 0.2, 0.0)  # 20 IOC orders, each acknowledged
        finally:
            fix_client.close()
        assert step["acked"] == 20
        prom = PrometheusServer(tmp_path, service.http_port)
        async with aiohttp.ClientSession() as client:
            count = await prom.first_result(client, "goldrouter_order_ack_latency_seconds_count")
            assert count, "no sample after 60 s: " + prom.log_text()
            assert float(count[0]["value"][1]) == 20
            q = await _query(client, prom.base,
                             "histogram_quantile(0.99, sum by (le) (goldrouter_order_ack_latency_seconds_bucket))")
            assert q and 0 < float(q[0]["value"][1]) <= 1.0
            rx = await _query(client, prom.base, 'goldrouter_fix_messages_received_total'
                                                 '{session="SHCLIENT1",msg_type="NewOrderSingle"}')
            assert rx and rx[0]["value"][1] == "20"
            ready = await _query(client, prom.base, "goldrouter_ready")
            assert ready and ready[0]["value"][1] == "1"
    finally:
        if prom is not None:
            prom.stop()
        service.stop()
