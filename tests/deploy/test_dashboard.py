"""The Grafana dashboard queries exactly the metrics the SBC declares and counts."""

import ast
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((REPO / "grafana" / "sbc-dashboard.json").read_text())
PREFIX = "kamailio_"  # xhttp_prom's default xhttp_prom_beginning


def declared() -> set[str]:
    cfg = (REPO / "kamailio" / "kamailio.cfg").read_text()
    return set(re.findall(r'modparam\("xhttp_prom", "prom_(?:counter|gauge|histogram)", "name=(\w+);', cfg))


def counted_by_the_routes() -> set[str]:
    tree = ast.parse((REPO / "kemi" / "telemetry" / "metrics.py").read_text())
    return {node.value.value for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str) and node.value.value.startswith("sbc_")}


def dashboard_metrics() -> set[str]:
    exprs = [t["expr"] for p in DASHBOARD["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in DASHBOARD["templating"]["list"] if v["type"] == "query"]
    return set(re.findall(rf"\b{PREFIX}\w+", " ".join(exprs)))


def test_every_panel_queries_something():
    assert DASHBOARD["panels"] and all(p["targets"] and all(t["expr"] for t in p["targets"])
                                       for p in DASHBOARD["panels"])


def test_the_routes_count_exactly_the_declared_metrics():
    assert counted_by_the_routes() == declared() != set()


def test_every_sbc_metric_is_on_the_dashboard_and_nothing_undeclared_is():
    # A histogram is queried by its series (_bucket, _sum, _count).
    sbc = {re.sub(r"_(bucket|sum|count)$", "", name) for name in dashboard_metrics()
           if name.startswith(PREFIX + "sbc_")}
    assert sbc == {PREFIX + name for name in declared()}
