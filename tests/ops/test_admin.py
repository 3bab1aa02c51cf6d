"""router.ops.admin over a real aiohttp server on 127.0.0.1, with a small in-memory backend."""
from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest

from router.ops.admin import AdminResult, build_admin_app, start_http
from router.ops.metrics import Metrics

TOKEN = "s3cret-token"
READ_TOKEN = "look-only"


class MemoryBackend:
    """A real, if small, implementation of AdminBackend over in-memory state."""

    def __init__(self) -> None:
        self.is_ready = False
        self.kill_global = False
        self.kill_accounts: set[str] = set()
        self.accounts = {"SHCLIENT1", "HKCLIENT1"}
        self.fx = {"USDCNY": Decimal("7.25"), "USDHKD": Decimal("7.80")}
        self.books = {
            "SGE.AU9999": {"bids": [[56000, 30], [55990, 10]], "asks": [[56010, 5]]},
        }
        self.decisions = [{"id": i, "explain": f"decision {i}"} for i in range(100, 0, -1)]

    def ready(self) -> bool:
        return self.is_ready

    def sessions(self) -> list[dict]:
        return [{"session_id": "SHCLIENT1", "state": "active", "next_sender_seq_num": 3,
                 "next_target_seq_num": 5}]

    def book(self, symbol: str, depth: int) -> dict | None:
        book = self.books.get(symbol)
        if book is None:
            return None
        return {"symbol": symbol, "bids": book["bids"][:depth], "asks": book["asks"][:depth]}

    def routes(self, limit: int) -> list[dict]:
        if limit == 13:
            raise RuntimeError("unlucky")  # a backend bug, to see the API stay JSON
        return self.decisions[:limit]

    def set_kill_switch(self, scope: str, account: str | None, on: bool) -> AdminResult:
        if scope == "global":
            self.kill_global = on
        elif account not in self.accounts:
            return AdminResult(False, "unknown_account", f"no account {account}")
        elif on:
            self.kill_accounts.add(account)
        else:
            self.kill_accounts.discard(account)
        return AdminResult(True, data={"accounts_killed": len(self.kill_accounts)})

    def set_fx(self, rates: dict[str, Decimal], force: bool = False) -> AdminResult:
        unknown = [p for p in rates if p not in self.fx]
        if unknown:
            return AdminResult(False, "unknown_pair", f"not configured: {unknown}")
        for pair, rate in rates.items():
            if not self.fx[pair] / 2 < rate < self.fx[pair] * 2:
                return AdminResult(False, "rate_jump", f"{pair} moves more than 2x")
        self.fx.update(rates)
        return AdminResult(True)


@pytest.fixture
async def admin():
    backend = MemoryBackend()
    metrics = Metrics()
    server = await start_http(build_admin_app(backend, metrics.registry, TOKEN, read_token=READ_TOKEN),
                              "127.0.0.1", 0)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as client:
        yield client, backend, metrics
    await server.close()


AUTH = {"Authorization": f"Bearer {TOKEN}"}
READ = {"Authorization": f"Bearer {READ_TOKEN}"}


async def test_health_and_ready_follow_backend(admin):
    client, backend, _ = admin
    async with client.get("/health") as r:
        assert r.status == 200 and await r.json() == {"status": "ok"}
    async with client.get("/ready") as r:
        assert r.status == 503 and await r.json() == {"ready": False}
    backend.is_ready = True
    async with client.get("/ready") as r:
        assert r.status == 200 and await r.json() == {"ready": True}


async def test_sessions_books_routes(admin):
    client, _, _ = admin
    async with client.get("/sessions", headers=READ) as r:
        assert (await r.json())["sessions"][0]["next_target_seq_num"] == 5
    async with client.get("/books/SGE.AU9999", headers=READ, params={"depth": "1"}) as r:
        assert r.status == 200
        assert await r.json() == {"symbol": "SGE.AU9999", "bids": [[56000, 30]], "asks": [[56010, 5]]}
    async with client.get("/books/NOPE", headers=READ) as r:
        assert r.status == 404 and (await r.json())["error"] == "unknown_symbol"
    async with client.get("/books/SGE.AU9999", headers=READ, params={"depth": "x"}) as r:
        assert r.status == 400 and (await r.json())["error"] == "bad_depth"
    async with client.get("/routes", headers=READ, params={"limit": "3"}) as r:
        assert [d["id"] for d in (await r.json())["routes"]] == [100, 99, 98]
    async with client.get("/routes", headers=READ) as r:
        assert len((await r.json())["routes"]) == 50
    async with client.get("/routes", headers=READ, params={"limit": "0"}) as r:
        assert r.status == 400 and (await r.json())["error"] == "bad_limit"


async def test_unknown_path_and_method_are_json_errors(admin, caplog):
    client, _, _ = admin
    async with client.get("/routes", headers=READ, params={"limit": "13"}) as r:
        assert r.status == 500 and await r.json() == {"error": "internal_error", "detail": "see the service log"}
    assert "unlucky" in caplog.text
    async with client.get("/nope") as r:
        assert r.status == 404 and (await r.json())["error"] == "not_found"
    async with client.get("/kill-switch") as r:
        assert r.status == 405 and (await r.json())["error"] == "method_not_allowed"


async def test_mutations_need_the_bearer_token(admin):
    client, backend, _ = admin
    body = {"scope": "global", "on": True}
    async with client.post("/kill-switch", json=body) as r:
        assert r.status == 401 and (await r.json())["error"] == "missing_token"
        assert r.headers["WWW-Authenticate"] == "Bearer"
    async with client.post("/kill-switch", json=body, headers={"Authorization": "Bearer wrong"}) as r:
        assert r.status == 403 and (await r.json())["error"] == "bad_token"
    async with client.post("/fx", json={"rates": {"USDCNY": "7"}}, headers={"Authorization": TOKEN}) as r:
        assert r.status == 401
    assert backend.kill_global is False and backend.fx["USDCNY"] == Decimal("7.25")


async def test_kill_switch_global_and_account(admin):
    client, backend, _ = admin
    async with client.post("/kill-switch", json={"scope": "global", "on": True}, headers=AUTH) as r:
        assert r.status == 200 and (await r.json())["ok"] is True
    assert backend.kill_global is True
    async with client.post("/kill-switch", json={"scope": "account", "account": "HKCLIENT1", "on": True},
                           headers=AUTH) as r:
        assert (await r.json())["accounts_killed"] == 1
    assert backend.kill_accounts == {"HKCLIENT1"}
    async with client.post("/kill-switch", json={"scope": "account", "account": "NOBODY", "on": True},
                           headers=AUTH) as r:
        assert r.status == 404 and (await r.json())["error"] == "unknown_account"
    for body, reason in [({"scope": "planet", "on": True}, "bad_scope"),
                         ({"scope": "global", "on": "yes"}, "bad_on"),
                         ({"scope": "account", "on": True}, "missing_account"),
                         ({"scope": "global", "account": "X", "on": True}, "unexpected_account")]:
        async with client.post("/kill-switch", json=body, headers=AUTH) as r:
            assert r.status == 400 and (await r.json())["error"] == reason, body


async def test_fx_rates_are_exact_decimals(admin):
    client, backend, _ = admin
    raw = b'{"rates": {"USDCNY": 7.1234567890123456789, "USDHKD": "7.8123"}}'
    async with client.post("/fx", data=raw, headers={**AUTH, "Content-Type": "application/json"}) as r:
        assert r.status == 200
        assert (await r.json())["rates"] == {"USDCNY": "7.1234567890123456789", "USDHKD": "7.8123"}
    assert backend.fx["USDCNY"] == Decimal("7.1234567890123456789")
    async with client.post("/fx", json={"rates": {"EURCNY": "7.9"}}, headers=AUTH) as r:
        assert r.status == 400 and (await r.json())["error"] == "unknown_pair"
    async with client.post("/fx", json={"rates": {"USDCNY": "70"}}, headers=AUTH) as r:
        assert r.status == 409 and await r.json() == {"error": "rate_jump", "detail": "USDCNY moves more than 2x"}
    for body, reason in [({"rates": {}}, "bad_rates"),
                         ({"rates": {"usdcny": "7"}}, "bad_pair"),
                         ({"rates": {"USDCNY": "-1"}}, "bad_rate"),
                         ({"rates": {"USDCNY": "abc"}}, "bad_rate"),
                         ({"rates": {"USDCNY": "NaN"}}, "bad_rate"),
                         ({"rates": {"USDCNY": True}}, "bad_rate")]:
        async with client.post("/fx", json=body, headers=AUTH) as r:
            assert r.status == 400 and (await r.json())["error"] == reason, body
    async with client.post("/fx", data=b"{not json", headers=AUTH) as r:
        assert r.status == 400 and (await r.json())["error"] == "bad_json"
    async with client.post("/fx", data=b"[1]", headers=AUTH) as r:
        assert r.status == 400 and (await r.json())["error"] == "bad_body"
    assert backend.fx["USDHKD"] == Decimal("7.8123")


async def test_metrics_endpoint_serves_the_registry(admin):
    client, _, metrics = admin
    metrics.message_in("SHCLIENT1", b"D")
    async with client.get("/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    assert 'goldrouter_fix_messages_received_total{msg_type="NewOrderSingle",session="SHCLIENT1"} 1.0' in text


async def test_no_token_configured_disables_mutations():
    backend = MemoryBackend()
    server = await start_http(build_admin_app(backend, None, ""), "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as client:
            url = f"http://127.0.0.1:{server.port}"
            async with client.post(url + "/kill-switch", json={"on": True},
                                   headers={"Authorization": "Bearer "}) as r:
                assert r.status == 403 and (await r.json())["error"] == "mutations_disabled"
            async with client.get(url + "/metrics") as r:
                assert r.status == 404
    finally:
        await server.close()
    assert backend.kill_global is False


async def test_reads_need_the_read_or_operate_token_and_health_ready_metrics_stay_open(admin):
    client, backend, _ = admin
    for path in ("/sessions", "/books/SGE.AU9999", "/routes", "/reference-prices"):
        async with client.get(path) as r:
            assert r.status == 401 and (await r.json())["error"] == "missing_token", path
        async with client.get(path, headers={"Authorization": "Bearer nope"}) as r:
            assert r.status == 403 and (await r.json())["error"] == "bad_token", path
    async with client.get("/sessions", headers=READ) as r:
        assert r.status == 200
    async with client.get("/sessions", headers=AUTH) as r:      # the operate token also reads
        assert r.status == 200
    for path in ("/health", "/ready", "/metrics"):
        async with client.get(path) as r:
            assert r.status in (200, 503) and r.status != 401, path


async def test_the_read_token_cannot_operate(admin, caplog):
    client, backend, _ = admin
    async with client.post("/kill-switch", json={"scope": "global", "on": True}, headers=READ) as r:
        assert r.status == 403 and (await r.json())["error"] == "operate_token_required"
    assert backend.kill_global is False
    caplog.set_level("INFO", logger="gold_router.admin")
    async with client.post("/kill-switch", json={"scope": "global", "on": True},
                           headers={**AUTH, "X-GoldRouter-Client": "console"}) as r:
        assert r.status == 200
    assert backend.kill_global is True
    assert "kill switch global ON by 127.0.0.1 (console)" in caplog.text
    async with client.post("/fx", json={"rates": {"USDCNY": "7.3"}}, headers=AUTH) as r:
        assert r.status == 200
    assert "FX update by 127.0.0.1: USDCNY=7.3" in caplog.text


async def test_no_token_configured_keeps_reads_open_on_loopback_only():
    from router.ops.auth import is_loopback

    backend = MemoryBackend()
    server = await start_http(build_admin_app(backend, None, ""), "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as client:
            async with client.get(f"http://127.0.0.1:{server.port}/sessions") as r:
                assert r.status == 200 and (await r.json())["sessions"][0]["session_id"] == "SHCLIENT1"
    finally:
        await server.close()
    # A peer off the machine gets no data without a token (checked on the address rule itself:
    # this machine has no second interface to connect from).
    assert [is_loopback(a) for a in ("127.0.0.1", "127.8.0.1", "::1", "::ffff:127.0.0.1")] == [True] * 4
    assert [is_loopback(a) for a in ("10.0.0.7", "192.168.1.2", "fe80::1%eth0", "", None, "x")] == [False] * 6
