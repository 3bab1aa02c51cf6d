"""Real `gold-router serve --role gateway|core` processes for the cluster tests: start one (its
stderr to a log file under the test's directory), read its ready line, ask its HTTP /cluster, kill
it with SIGKILL. `Roles` keeps every process a test started and kills the rest at the end."""
from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import urllib.request
from pathlib import Path

GATEWAY_READY = re.compile(rb"gold-router ready: FIX 127\.0\.0\.1:(\d+) .*?https?://127\.0\.0\.1:(\d+)")
CORE_READY = re.compile(rb"gold-router core \S+ ready: .*?https?://127\.0\.0\.1:(\d+)")


class Role:
    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path, fix_port: int | None,
                 http_port: int) -> None:
        self.name, self.proc, self.log, self.fix_port, self.http_port = name, proc, log, fix_port, http_port

    def get(self, path: str, timeout: float = 5.0) -> dict:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return {"http_status": err.code, **json.loads(err.read() or b"{}")}

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
    def __init__(self, base: Path, nats_url: str) -> None:
        self.base, self.nats_url = base, nats_url
        self.started: list[Role] = []

    async def start(self, role: str, name: str, *extra: str) -> Role:
        log = self.base / f"{name}.log"
        args = ["serve", "--role", role, "--nats", self.nats_url, "--name", name, "--http-port", "0",
                "--sessions-always-open", "--log-level", "INFO", *extra]
        if role == "gateway":
            args += ["--fix-port", "0", "--store-dir", str(self.base / f"store-{name}")]
        with open(log, "ab") as err:
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "router", *args,
                                                        stdout=asyncio.subprocess.PIPE, stderr=err, cwd=self.base)
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
        except asyncio.TimeoutError:
            line = b""
        m = (GATEWAY_READY if role == "gateway" else CORE_READY).search(line)
        if not m:
            proc.kill()
            await proc.wait()
            raise AssertionError(f"{name} did not start: {line!r}\n{log.read_text(errors='replace')[-4000:]}")
        r = Role(name, proc, log, int(m.group(1)) if role == "gateway" else None, int(m.group(m.lastindex)))
        self.started.append(r)
        return r

    async def until(self, role: Role, test, timeout: float = 20.0) -> dict:
        """Poll role's /cluster until test(status) holds; returns that status."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            status = await role.cluster()
            if test(status):
                return status
            if loop.time() > deadline:
                raise AssertionError(f"{role.name}: {status}\n{role.tail()}")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        for r in self.started:
            await r.kill9()

    def logs(self) -> str:
        return "\n".join(f"--- {r.name}\n{r.tail()}" for r in self.started)
