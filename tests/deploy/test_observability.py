"""deploy/prometheus*.yml and the Grafana dashboard: valid, and about metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

import service.analytics.worker
import service.extensions.metrics  # noqa: F401  (registers the metrics this checks)
from tests.deploy.kustomize import build, find

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "linkfleet-dashboard.json"


def registered_samples() -> set[str]:
    """Every sample name the app and the worker can export (``_total``, ``_bucket``...)."""
    names: set[str] = set()
    for metric in REGISTRY.collect():
        names.add(metric.name)
        names.update(sample.name for sample in metric.samples)
        if metric.type == "histogram":
            names.update(f"{metric.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        if metric.type == "counter":
            names.add(f"{metric.name}_total")
    return names


def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def metric_names(expr: Any) -> set[str]:
    found: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.add(node.name)
        for attr in ("expr", "lhs", "rhs", "vector_selector", "param"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, (str, int, float)):
                visit(child)
        for arg in getattr(node, "args", None) or []:
            visit(arg)

    visit(expr)
    return found


def test_the_dashboard_covers_requests_latency_cache_lag_and_throughput() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"]
    assert dashboard["schemaVersion"] >= 30
    titles = " | ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("request rate", "latency", "hit ratio", "stream lag", "worker throughput"):
        assert topic in titles
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("expr", expressions())
def test_every_dashboard_query_parses_and_uses_real_metrics(expr: str) -> None:
    parsed = promql_parser.parse(expr.replace("$__rate_interval", "1m"))
    names = metric_names(parsed)
    assert names, f"no metric in {expr}"
    unknown = names - registered_samples()
    assert not unknown, f"{expr} uses metrics nothing exports: {unknown}"


def test_the_link_cache_counter_exists_with_its_tiers() -> None:
    from service.extensions.metrics import LINK_CACHE_LOOKUPS

    assert LINK_CACHE_LOOKUPS._labelnames == ("tier",)
    tiers = set()
    for expr in expressions():
        tiers.update(re.findall(r'tier=~?"([^"]+)"', expr))
    assert {t for group in tiers for t in group.split("|")} <= {"l1", "l2", "db", "negative"}


def test_prometheus_finds_every_replica_and_the_worker_in_compose() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    app = jobs["linkfleet-app"]["dns_sd_configs"][0]
    assert app["names"] == ["app"]
    assert str(app["port"]) in compose["services"]["app"]["expose"]
    worker = jobs["linkfleet-worker"]["dns_sd_configs"][0]
    assert worker["names"] == ["worker"]
    command = compose["services"]["worker"]["command"]
    assert command[command.index("--metrics-port") + 1] == str(worker["port"])
    dashboard_jobs = set(re.findall(r'job="([^"]+)"', " ".join(expressions())))
    assert dashboard_jobs <= set(jobs)


def test_prometheus_keeps_the_annotated_pods_in_kubernetes() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus-k8s.yml").read_text())
    (job,) = config["scrape_configs"]
    relabel = {tuple(rule["source_labels"]): rule for rule in job["relabel_configs"]}
    resources = build(ROOT / "deploy" / "k8s" / "base")
    for name, port in (("linkfleet-app", "9100"), ("linkfleet-worker", "9100")):
        template = find(resources, "Deployment", name)["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == port
        component = template["metadata"]["labels"]["app.kubernetes.io/component"]
        job_rule = relabel[("__meta_kubernetes_pod_label_app_kubernetes_io_component",)]
        assert job_rule["replacement"].replace("$1", component) == name
    port_rule = relabel[("__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port")]
    match = re.fullmatch(port_rule["regex"], "10.1.2.3:8000;9100")
    assert match is not None
    assert port_rule["replacement"].replace("$1", match[1]).replace("$2", match[2]) == (
        "10.1.2.3:9100"
    )
