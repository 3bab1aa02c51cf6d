"""Snapshots written by a forked child, so the event loop pauses for a fork instead of for pickling.

Pickling and hashing the order flow takes seconds once tens of thousands of orders are known; done
on the event loop, every session would stall that long. `fork()` gives a copy-on-write image of
the process at one instant: the state after exactly the last journaled command. The child writes
the snapshot from that image and exits; the parent goes on trading at once, and the machine's
second core does the pickling. Redis' background save works the same way.

`BackgroundSnapshot.start(seq, write, done)` forks. The child closes its inherited sockets first
(so a client connection the parent closes meanwhile is closed for real, not held open by the
child), runs `write()` and leaves with `os._exit` (status 0, or 1 after printing
its traceback): it never returns into the parent's code, runs no atexit handler and flushes no
inherited buffer. A thread in the parent waits for the child and hands
`done(seq, ok, seconds_in_child)` to the event loop. One child at a time (`busy`).

`ForkedCheck(compute)` runs `compute()` in a forked child the same way and hands its bytes back
through a pipe: the start-up check of a loaded snapshot's state hashes runs beside the replay. While
the child lives the two are kept on different CPUs (`_apart`): the parent on the one it runs on, the
child on the others, so a neighbour busy on one core of two shares it with the check, not with the
replay (left to the scheduler, the check and the replay shared a core about as often, and the start
took the check's CPU time longer: benchmarks/README.md, "Start-up (session 9)").

Not here: what a snapshot holds (`snapshot.py`) or when to take one (`sequencer.py`). Where
`os.fork` does not exist, `supported()` is False and the caller writes synchronously.
"""
from __future__ import annotations

import asyncio
import gc
import os
import stat
import sys
import threading
import time
import traceback
from typing import Callable

__all__ = ["BackgroundSnapshot", "ForkedCheck", "supported"]


def supported() -> bool:
    return hasattr(os, "fork")


class BackgroundSnapshot:
    def __init__(self) -> None:
        self.pid = 0            # the child writing now, 0 when none

    @property
    def busy(self) -> bool:
        return self.pid != 0

    def start(self, seq: int, write: Callable[[], object], done: Callable[[int, bool, float], None]) -> int:
        """Fork a child that runs `write()`; returns the nanoseconds the parent spent forking."""
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter_ns()
        pid = os.fork()
        if pid == 0:                                    # the child: never returns
            _child(write)
        pause = time.perf_counter_ns() - t0
        self.pid = pid
        threading.Thread(target=self._wait, args=(loop, pid, seq, t0, done), daemon=True,
                         name=f"snapshot-{seq}").start()
        return pause

    def _wait(self, loop: asyncio.AbstractEventLoop, pid: int, seq: int, t0: int,
              done: Callable[[int, bool, float], None]) -> None:
        _, status = os.waitpid(pid, 0)
        ok = os.waitstatus_to_exitcode(status) == 0
        seconds = (time.perf_counter_ns() - t0) / 1e9

        def finish() -> None:
            self.pid = 0
            done(seq, ok, seconds)
        try:
            loop.call_soon_threadsafe(finish)
        except RuntimeError:        # the loop is closed: the router stopped meanwhile
            self.pid = 0


def _child(write: Callable[[], object]) -> None:
    status = 1
    try:
        # No collection in the child: a finaliser of some inherited object could close a descriptor
        # number the snapshot file has reused.
        gc.disable()
        _close_sockets()
        write()
        status = 0
    except BaseException:
        try:
            sys.stderr.write("background snapshot failed:\n" + traceback.format_exc())
            sys.stderr.flush()
        except BaseException:
            pass
    finally:
        os._exit(status)


def _close_sockets() -> None:
    """Close the inherited sockets (client connections, listeners): the peer of a connection the
    parent closes while the child runs sees the close at once. Files stay open (logging may use one)."""
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:                 # no /proc: leave them; they close when the child exits
        return
    for fd in fds:
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.close(fd)
        except OSError:
            pass


class ForkedCheck:
    """A computation run by a forked child on a copy-on-write image of the process, while the parent
    goes on: start-up checks a loaded snapshot's state hashes on the second core while the first one
    replays the journal tail. `result()` waits for the child and returns the bytes it computed
    (raises RuntimeError naming the child's failure). A thread collects the child's bytes and exit
    status, and gives the calling thread back its CPUs as soon as the child has exited (a thread the
    caller started meanwhile would keep its one CPU: the start's replay starts none)."""

    def __init__(self, compute: Callable[[], bytes]) -> None:
        read_fd, write_fd = os.pipe()
        apart = _apart()
        pid = os.fork()
        if pid == 0:                                    # the child: never returns
            os.close(read_fd)
            if apart is not None:
                _set_cpus(0, apart[2])
            _child(lambda: _write_all(write_fd, compute()))
        os.close(write_fd)
        if apart is not None:
            _set_cpus(0, {apart[1]})
        self.pid = pid
        self.cpus = apart                               # (the caller's CPUs, its CPU now, the child's CPUs)
        self._out: tuple[bytes, int] | None = None
        self._thread = threading.Thread(target=self._collect, args=(read_fd, threading.get_native_id()),
                                        daemon=True, name=f"check-{pid}")
        self._thread.start()

    def _collect(self, fd: int, caller: int) -> None:
        chunks = []
        try:
            with os.fdopen(fd, "rb") as pipe:           # EOF once the child has exited
                while chunk := pipe.read(65536):
                    chunks.append(chunk)
            _, status = os.waitpid(self.pid, 0)
            self._out = (b"".join(chunks), os.waitstatus_to_exitcode(status))
        finally:
            if self.cpus is not None:
                _set_cpus(caller, self.cpus[0])

    def result(self) -> bytes:
        self._thread.join()
        if self._out is None:
            raise RuntimeError(f"the forked check (pid {self.pid}) could not be collected")
        data, code = self._out
        if code != 0:
            raise RuntimeError(f"the forked check (pid {self.pid}) failed with exit status {code}")
        return data


def _apart() -> tuple[set[int], int, set[int]] | None:
    """(the calling thread's CPUs, the CPU it runs on, the others) where it may run on more than one
    and the platform lets a process choose; else None (the scheduler decides, as before)."""
    try:
        cpus = os.sched_getaffinity(0)
        with open("/proc/thread-self/stat", "rb") as f:     # field 39: the CPU it last ran on
            now = int(f.read().rpartition(b")")[2].split()[36])
    except (AttributeError, OSError, ValueError, IndexError):
        return None
    if len(cpus) < 2 or now not in cpus:
        return None
    return cpus, now, cpus - {now}


def _set_cpus(tid: int, cpus: set[int]) -> None:
    try:
        os.sched_setaffinity(tid, cpus)
    except OSError:         # a CPU set the system refuses (a cgroup changed meanwhile): left as it is
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.close(fd)
