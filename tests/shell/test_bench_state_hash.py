"""`python -m benchmarks.state_hash` runs on a small journal, checks the fast and general walks
agree (it exits otherwise) and writes its figures (no speed is asserted)."""
from __future__ import annotations

import json

from benchmarks import state_hash


def test_state_hash_benchmark_runs_and_records_both_cases(tmp_path) -> None:
    out = tmp_path / "r.json"
    assert state_hash.main(["--commands", "300", "--rounds", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["commands"] == 300 and result["orders_known"] > 0
    assert result["fast_s"] > 0 and result["general_s"] > 0
