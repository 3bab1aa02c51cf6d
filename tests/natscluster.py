"""Real nats-server processes on loopback: a JetStream cluster for tests and benchmarks.

`NatsCluster(base_dir, size=3)` writes one config file per node at run time (free client, cluster
and monitoring ports on 127.0.0.1, a JetStream store directory per node under `base_dir`), starts
`nats-server` for each, and waits until the cluster has a JetStream meta leader. `kill(i)` sends
SIGKILL to one node (no clean shutdown: the crash a test wants), `pause(i)` SIGSTOP (a server that
hangs: its sockets stay open, nothing is answered) and `resume(i)` SIGCONT; `restart(i)` starts it again on
the same ports and store directory; `stop()` kills every node and reaps it. `size=1` is a lone
JetStream server (no cluster block), the R1 baseline of `benchmarks.cluster`.

`python -m tests.natscluster [DIR]` starts a 3-node cluster in the foreground and prints its URLs,
for trying the primitives by hand; Ctrl-C stops it.

Not here: any JetStream stream or bucket (the code under test makes those), or a client library:
readiness is read from each node's HTTP monitoring endpoint (`/jsz`) with the standard library.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CLUSTER_NAME = "goldrouter-test"


def nats_server_binary() -> str | None:
    """The nats-server executable (Debian installs it in /usr/sbin, which a user's PATH may lack)."""
    return shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin:/usr/local/sbin")


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago (bound together, then released)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Node:
    name: str
    client_port: int
    cluster_port: int
    http_port: int
    store_dir: Path
    config_path: Path
    log_path: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class NatsCluster:
    """`size` nats-server processes with JetStream, clustered on loopback; see the module docstring."""

    def __init__(self, base_dir: str | os.PathLike, size: int = 3, *, name: str = CLUSTER_NAME) -> None:
        binary = nats_server_binary()
        if binary is None:
            raise FileNotFoundError("nats-server not found (Debian package 'nats-server')")
        self.binary = binary
        self.base_dir = Path(base_dir)
        self.size = size
        self.name = name
        ports = free_ports(3 * size)
        self.nodes = []
        for i in range(size):
            node_dir = self.base_dir / f"n{i + 1}"
            self.nodes.append(Node(f"n{i + 1}", ports[3 * i], ports[3 * i + 1], ports[3 * i + 2],
                                   node_dir / "store", node_dir / "nats.conf", node_dir / "nats.log"))
        for node in self.nodes:
            node.store_dir.mkdir(parents=True, exist_ok=True)
            node.config_path.write_text(self._config(node), encoding="utf-8")

    def _config(self, node: Node) -> str:
        lines = [f"server_name: {node.name}", f"listen: 127.0.0.1:{node.client_port}",
                 f"http: 127.0.0.1:{node.http_port}",
                 f'jetstream {{ store_dir: "{node.store_dir}", max_memory_store: 64MB, max_file_store: 1GB }}']
        if self.size > 1:
            routes = ", ".join(f"nats-route://127.0.0.1:{n.cluster_port}" for n in self.nodes if n is not node)
            lines.append(f"cluster {{ name: {self.name}, listen: 127.0.0.1:{node.cluster_port}, "
                         f"routes: [{routes}] }}")
        return "\n".join(lines) + "\n"

    # -- lifecycle --------------------------------------------------------------------------------------

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    @property
    def url(self) -> str:
        """Every node's URL, comma-separated (what nats-py's `servers=` and `--nats` take)."""
        return ",".join(self.urls)

    def start(self, timeout: float = 20.0) -> "NatsCluster":
        for i in range(self.size):
            self._spawn(i)
        self.wait_ready(timeout)
        return self

    def _spawn(self, i: int) -> None:
        node = self.nodes[i]
        if node.running:
            raise RuntimeError(f"{node.name} is already running")
        log = open(node.log_path, "ab")
        try:
            node.proc = subprocess.Popen([self.binary, "-c", str(node.config_path)], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()

    def kill(self, i: int) -> None:
        """SIGKILL node i and reap it."""
        node = self.nodes[i]
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(10)

    def pause(self, i: int) -> None:
        """SIGSTOP node i: it keeps its sockets open and answers nothing (a hung server, not a dead one)."""
        node = self.nodes[i]
        if node.running:
            node.proc.send_signal(signal.SIGSTOP)

    def resume(self, i: int) -> None:
        """SIGCONT node i after `pause`."""
        node = self.nodes[i]
        if node.running:
            node.proc.send_signal(signal.SIGCONT)

    def restart(self, i: int, timeout: float = 20.0) -> None:
        """Start node i again (same ports and store) and wait until it serves and sees a meta leader."""
        self.kill(i)
        self._spawn(i)
        self._wait_node(i, time.monotonic() + timeout)

    def stop(self) -> None:
        for i in range(self.size):
            self.kill(i)

    def __enter__(self) -> "NatsCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- readiness --------------------------------------------------------------------------------------

    def jsz(self, i: int, query: str = "") -> dict:
        """Node i's JetStream monitoring report (`/jsz`), or OSError if it does not answer."""
        url = f"http://127.0.0.1:{self.nodes[i].http_port}/jsz{query}"
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            return json.loads(resp.read())

    def meta_leader(self, i: int | None = None) -> str | None:
        """The meta leader's server name as node i (default: any running node) sees it, or None."""
        for j in ([i] if i is not None else range(self.size)):
            if not self.nodes[j].running:
                continue
            try:
                report = self.jsz(j)
            except (OSError, ValueError):
                continue
            if self.size == 1:
                return self.nodes[j].name if not report.get("disabled") else None
            leader = (report.get("meta_cluster") or {}).get("leader")
            if leader:
                return leader
        return None

    def node_index(self, server_name: str) -> int:
        return [n.name for n in self.nodes].index(server_name)

    def _wait_node(self, i: int, deadline: float) -> None:
        node = self.nodes[i]
        while time.monotonic() < deadline:
            if not node.running:
                raise RuntimeError(f"nats-server {node.name} exited with {node.proc.returncode}; "
                                   f"log {node.log_path}:\n{self._tail(node)}")
            if self.meta_leader(i):
                return
            time.sleep(0.05)
        raise TimeoutError(f"nats-server {node.name} saw no JetStream meta leader in time; "
                           f"log {node.log_path}:\n{self._tail(node)}")

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Every running node answers and agrees there is a meta leader."""
        deadline = time.monotonic() + timeout
        try:
            for i, node in enumerate(self.nodes):
                if node.running:
                    self._wait_node(i, deadline)
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _tail(node: Node, lines: int = 20) -> str:
        try:
            return "\n".join(node.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def main(argv: list[str]) -> int:
    import tempfile
    base = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="goldrouter-nats-"))
    with NatsCluster(base) as cluster:
        print(f"3-node JetStream cluster up, meta leader {cluster.meta_leader()}; store under {base}")
        print(f"  --nats {cluster.url}")
        try:
            while all(n.running for n in cluster.nodes):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
