"""The holiday lists' end, as the real processes say it: `gold-router check-config` and `gold-router serve`
warn when a calendar's `covers_until` is within 60 days (the default lists end 2026-12-31; no official
2027 notice is on file), still succeed (a first run is not broken), and stop warning once an operator's
overlay extends the lists. Whether today is within 60 days is computed from the wall clock the
processes read, so the test says which of the two it expects."""
from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timezone

import pytest

from tests.shell.test_exposure import start_serve, stop

UNTIL = date(2026, 12, 31)
CALENDARS = ("CN_SGE", "HK_HKGX", "LLG")


def _expect_warning() -> bool:
    return (UNTIL - datetime.now(timezone.utc).date()).days < 60


def _extend(tmp_path):
    path = tmp_path / "extend.toml"
    path.write_text("".join(f'[calendars.{c}]\ncovers_until = "2099-12-31"\n\n' for c in CALENDARS), encoding="utf-8")
    return path


def _check_config(tmp_path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "router", "check-config", *args], capture_output=True,
                          timeout=120, cwd=tmp_path, text=True)


def test_check_config_warns_60_days_before_a_calendar_ends_and_still_succeeds(tmp_path) -> None:
    run = _check_config(tmp_path)
    assert run.returncode == 0, run.stderr
    assert "configuration OK" in run.stdout
    warned = [line for line in run.stdout.splitlines() if line.startswith("warning: ")]
    if _expect_warning():
        assert len(warned) == 5, warned            # every schedule names its calendar and the keys to move
        assert all("covers only until 2026-12-31" in w and "calendar_unknown" in w for w in warned)
        assert any("calendars.CN_SGE.covers_until" in w for w in warned)
        assert any("calendars.HK_HKGX.holidays" in w for w in warned)
    else:
        assert warned == []
    extended = _check_config(tmp_path, str(_extend(tmp_path)))
    assert extended.returncode == 0 and "warning: " not in extended.stdout, extended.stdout


@pytest.mark.slow
async def test_serve_logs_the_warning_and_serves(tmp_path) -> None:
    proc, _, _ = await start_serve(tmp_path, "--insecure")
    err = await stop(proc)
    lines = [line for line in err.splitlines() if "covers only until 2026-12-31" in line]
    if _expect_warning():
        assert lines and all(" WARNING " in line for line in lines), err[-2000:]
    else:
        assert lines == []
    proc, _, _ = await start_serve(tmp_path, "--insecure", "--config", str(_extend(tmp_path)))
    assert "covers only until" not in await stop(proc)
