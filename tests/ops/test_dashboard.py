"""The Grafana dashboard shipped in the package queries only metrics that exist, in valid PromQL."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import resources

import pytest

from router.ops.metrics import Metrics

METRIC_NAME = re.compile(r"\bgoldrouter_[a-z0-9_]+\b")
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}


def load_dashboard() -> dict:
    return json.loads(resources.files("router.ops").joinpath("dashboard.json").read_text("utf-8"))


def all_panels(dash: dict) -> list[dict]:
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def exprs(dash: dict) -> list[str]:
    return [t["expr"] for p in all_panels(dash) for t in p.get("targets", [])]


def exposed_names() -> set[str]:
    """Every series name the registry can expose, derived from the family types."""
    names = set()
    for fam in Metrics().registry.collect():
        if fam.type == "counter":
            names.add(fam.name + "_total")
        elif fam.type == "histogram":
            names.update(fam.name + s for s in ("_bucket", "_sum", "_count"))
        else:
            names.add(fam.name)
    return names


def test_dashboard_is_grafana_shaped():
    dash = load_dashboard()
    assert dash["uid"] and dash["title"]
    panels = all_panels(dash)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels:
        assert set(p["gridPos"]) == {"h", "w", "x", "y"}
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p["targets"], p["title"]
            assert all(t["expr"].strip() for t in p["targets"]), p["title"]


def test_dashboard_covers_the_required_sections():
    rows = {p["title"].lower() for p in load_dashboard()["panels"] if p["type"] == "row"}
    for needed in ("order flow", "latency", "rejects", "routing by venue", "quota", "sessions"):
        assert any(needed in r for r in rows), needed
    text = " ".join(exprs(load_dashboard()))
    for q in ("0.5", "0.9", "0.99", "0.999"):
        assert f"histogram_quantile({q}, sum by (le) (rate(goldrouter_order_ack_latency_seconds_bucket" in text


def test_every_queried_metric_exists():
    exposed = exposed_names()
    queried = {name for e in exprs(load_dashboard()) for name in METRIC_NAME.findall(e)}
    assert queried, "the dashboard queries no goldrouter metric"
    missing = sorted(queried - exposed)
    assert not missing, f"dashboard queries metrics the router does not expose: {missing}"
    # And the other way round: a metric nobody can see on the dashboard is probably forgotten.
    families = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in exposed}
    shown = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in queried}
    assert families - shown == set(), sorted(families - shown)


@pytest.mark.prometheus
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package 'prometheus')")
def test_every_expression_is_valid_promql(tmp_path):
    rules = []
    for i, e in enumerate(exprs(load_dashboard())):
        for var, value in GRAFANA_VARS.items():
            e = e.replace(var, value)
        rules.append({"record": f"dashboard:expr_{i}", "expr": e})
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = subprocess.run([shutil.which("promtool"), "check", "rules", str(path)],
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    assert f"SUCCESS: {len(rules)} rules found" in proc.stdout.decode()


def test_legends_name_only_labels_the_query_keeps():
    """A legend like {{venue}} on a query that aggregates venue away would show blank series."""
    specs = {}
    for sp in Metrics()._collector.specs():
        name = "goldrouter_" + sp.name
        specs[name + ("_total" if sp.kind == "counter" else "")] = set(sp.labels)
        if sp.kind == "histogram":
            specs[name + "_bucket"] = {"le"}
    checked = 0
    for panel in all_panels(load_dashboard()):
        for t in panel.get("targets", []):
            wanted = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", "")))
            if not wanted:
                continue
            by = re.search(r"\bby\s*\(([^)]*)\)", t["expr"])
            if by:
                have = {x.strip() for x in by.group(1).split(",")}
            else:
                have = set().union(*(specs[n] for n in METRIC_NAME.findall(t["expr"])))
            assert wanted <= have, (panel["title"], t["expr"], wanted - have)
            checked += 1
    assert checked >= 10
