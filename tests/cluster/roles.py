"""Real `gold-router serve --role gateway|core` processes for the cluster tests: start one (its
stderr to a log file under the test's directory), read its ready line, ask its HTTP /cluster, kill
it with SIGKILL. `Roles` keeps every process a test started and kills the rest at the end.

Start-up under a loaded machine (six developers' test runs on two cores) can take a minute or
more: `start` reads the process's output until its ready line, for up to START_DEADLINE_S, and
fails at once, with the log, if the process exits first; `until` polls /cluster the same way."""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import urllib.request
from pathlib import Path

GATEWAY_READY = re.compile(rb"gold-router ready: FIX 127\.0\.0\.1:(\d+) .*?https?://127\.0\.0\.1:(\d+)")
CORE_READY = re.compile(rb"gold-router core \S+ ready: .*?https?://127\.0\.0\.1:(\d+)")
START_DEADLINE_S = 300.0


class Role:
    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path, fix_port: int | None,
                 http_port: int, token: str | None = None) -> None:
        self.name, self.proc, self.log, self.fix_port, self.http_port = name, proc, log, fix_port, http_port
        self.token = token

    def get(self, path: str, timeout: float = 5.0, body: bytes | None = None) -> dict:
        """GET (or POST `body`) on the role's HTTP site, with the operate token when there is one."""
        url = f"http://127.0.0.1:{self.http_port}{path}"
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers),
                                        timeout=timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return {"http_status": err.code, **json.loads(err.read() or b"{}")}

    def get_text(self, path: str) -> str:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", headers=headers)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.read().decode()

    async def post(self, path: str, body: bytes) -> dict:
        return await asyncio.to_thread(self.get, path, 40.0, body)

    async def cluster(self, hashes: bool = False) -> dict:
        return await asyncio.to_thread(self.get, "/cluster" + ("?hashes=1" if hashes else ""))

    async def kill9(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Roles:
    def __init__(self, base: Path, nats_url: str, token: str | None = None) -> None:
        self.base, self.nats_url, self.token = base, nats_url, token
        self.started: list[Role] = []

    async def start(self, role: str, name: str, *extra: str) -> Role:
        log = self.base / f"{name}.log"
        args = ["serve", "--role", role, "--nats", self.nats_url, "--name", name, "--http-port", "0",
                "--sessions-always-open", "--log-level", "INFO", *extra]
        if role == "gateway":
            args += ["--fix-port", "0", "--store-dir", str(self.base / f"store-{name}")]
        env = dict(os.environ, **({"GOLDROUTER_ADMIN_TOKEN": self.token} if self.token else {}))
        with open(log, "ab") as err:
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "router", *args, env=env,
                                                        stdout=asyncio.subprocess.PIPE, stderr=err, cwd=self.base)
        m, lines = await _ready_line(proc, GATEWAY_READY if role == "gateway" else CORE_READY)
        if not m:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            raise AssertionError(f"{name} did not start within {START_DEADLINE_S:.0f} s (exit status "
                                 f"{proc.returncode}): {lines!r}\n{log.read_text(errors='replace')[-4000:]}")
        r = Role(name, proc, log, int(m.group(1)) if role == "gateway" else None, int(m.group(m.lastindex)),
                 self.token)
        self.started.append(r)
        return r

    async def until(self, role: Role, test, timeout: float = 60.0) -> dict:
        """Poll role's /cluster until test(status) holds; returns that status."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        status: dict = {}
        while True:
            try:
                status = await role.cluster()
            except OSError as exc:           # a slow answer under load: ask again until the deadline
                status = {"unanswered": repr(exc)}
            if "unanswered" not in status and test(status):
                return status
            if loop.time() > deadline:
                raise AssertionError(f"{role.name}: {status}\n{role.tail()}")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        for r in self.started:
            await r.kill9()

    def logs(self) -> str:
        return "\n".join(f"--- {r.name}\n{r.tail()}" for r in self.started)


async def _ready_line(proc: asyncio.subprocess.Process, ready: re.Pattern) -> tuple[re.Match | None, list]:
    """Read `proc`'s output lines until one matches `ready`, the process ends, or the deadline passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_DEADLINE_S
    lines: list[bytes] = []
    while True:
        left = deadline - loop.time()
        if left <= 0:
            return None, lines
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), left)
        except asyncio.TimeoutError:
            return None, lines
        if not line:                       # end of output: the process exited
            return None, lines
        m = ready.search(line)
        if m:
            return m, lines
        lines.append(line)


async def pump_until(test, *traders, deadline: float = 30.0) -> bool:
    """Let `traders` read what the router sends until `test()` holds or `deadline` seconds pass;
    returns test(). A fixed pause is not enough on a loaded machine; the caller asserts after."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not test() and loop.time() < end:
        for t in traders:
            await t.pump(0.1)
    return test()
