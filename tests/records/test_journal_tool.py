"""`gold-router journal dump | verify | stats` on real journal files, and what `serve` does with a damaged
journal: a torn tail starts (truncated with a warning), a flipped byte in the middle refuses with file
and offset, a checkpoint whose state hashes the replay does not reach refuses to serve."""
from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

from router.records.journal import FileJournal, JournalError
from tests.records.test_replay import Driver, trade_a_while


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    return subprocess.run([sys.executable, "-m", "router", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env=env)


@pytest.fixture
def journal_dir(tmp_path):
    d = Driver(FileJournal(tmp_path / "var" / "journal"))
    trade_a_while(d, random.Random(5), 300)
    d.app.shutdown(cancel_working=False)        # journals a checkpoint with the live state hashes
    d.app.journal.close()
    return tmp_path / "var" / "journal"


def journal_file(directory) -> str:
    (name,) = [n for n in os.listdir(directory) if n.endswith(".journal")]
    return os.path.join(directory, name)


def test_dump_stats_and_verify_a_sound_journal(journal_dir) -> None:
    out = run("journal", "dump", str(journal_dir), "--limit", "3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3 and "ADMIN" in lines[0] and "start" in lines[0] and "ClOrdID=" in lines[1]
    out = run("journal", "dump", str(journal_dir), "--from", "300")
    assert out.stdout.split()[0] == "300"
    out = run("journal", "stats", str(journal_dir))
    assert out.returncode == 0 and '"problems": []' in out.stdout and '"FIX_IN"' in out.stdout
    out = run("journal", "verify", str(journal_dir))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "journal OK" in out.stdout and "commands replayed" in out.stdout


def test_verify_finds_a_flipped_byte_with_file_and_offset(journal_dir) -> None:
    path = journal_file(journal_dir)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[len(data) // 2] ^= 0xFF
    with open(path, "wb") as f:
        f.write(bytes(data))
    out = run("journal", "verify", str(journal_dir))
    assert out.returncode == 1
    assert path in out.stdout and "offset" in out.stdout


def test_verify_and_recovery_catch_a_checkpoint_the_replay_does_not_reach(tmp_path) -> None:
    d = Driver(FileJournal(tmp_path))
    trade_a_while(d, random.Random(9), 50)
    d.app.admin("checkpoint", d.clock(), core="0" * 64, flow="1" * 64)     # not this state
    d.app.commit()
    d.app.journal.close()
    out = run("journal", "verify", str(tmp_path))
    assert out.returncode == 1 and "checkpoint" in out.stdout and "differs" in out.stdout
    with pytest.raises(JournalError, match="refusing to serve"):
        Driver(FileJournal(tmp_path))


def test_serve_starts_on_a_torn_tail_and_refuses_a_damaged_middle(journal_dir) -> None:
    cwd = journal_dir.parent.parent
    path = journal_file(journal_dir)
    with open(path, "ab") as f:
        f.write(b"\x40\x00\x00\x00\xbf\xff")        # a record cut short by a crash
    serve = [sys.executable, "-m", "router", "serve", "--fix-port", "0", "--http-port", "0",
             "--sessions-always-open", "--store-dir", str(cwd / "store")]
    proc = subprocess.Popen(serve, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=os.getcwd()))
    try:
        line = proc.stdout.readline()
        assert "gold-router ready" in line
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert "torn last record" in err
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[len(data) // 3] ^= 0xFF
    with open(path, "wb") as f:
        f.write(bytes(data))
    out = subprocess.run(serve, cwd=cwd, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert out.returncode == 1
    assert os.path.join("var", "journal", os.path.basename(path)) + ": offset" in out.stderr
    assert "--journal-truncate-at-corruption" in out.stderr and "Traceback" not in out.stderr
