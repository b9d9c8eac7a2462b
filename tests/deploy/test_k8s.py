"""deploy/k8s: every rendered object is valid for Kubernetes and wired together correctly.

Rendering uses tests/deploy/kustomize.py (a subset of kustomize); validation uses the
OpenAPI-derived JSON schemas that ``kubernetes-validate`` ships (strict: unknown fields fail).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from service.config import Settings
from tests.deploy.kustomize import (
    Resource,
    build,
    containers,
    find,
    load_documents,
    merge,
    pod_specs,
)

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
#: The oldest Kubernetes we claim (autoscaling/v2 and policy/v1 are GA since 1.23) and the newest.
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
APP_LABELS = {"app.kubernetes.io/name": "linkfleet", "app.kubernetes.io/component": "app"}
KUSTOMIZATIONS = {"base": K8S / "base", "dev": K8S / "overlays" / "dev"}


def gunicorn_graceful_timeout() -> int:
    spec = importlib.util.spec_from_file_location(
        "gunicorn_conf", ROOT / "deploy" / "gunicorn.conf.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return int(module.graceful_timeout)


@pytest.fixture(scope="module", params=sorted(KUSTOMIZATIONS))
def rendered(request: pytest.FixtureRequest) -> list[Resource]:
    return build(KUSTOMIZATIONS[request.param])


@pytest.fixture(scope="module")
def base() -> list[Resource]:
    return build(KUSTOMIZATIONS["base"])


@pytest.fixture(scope="module")
def dev() -> list[Resource]:
    return build(KUSTOMIZATIONS["dev"])


@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_object_matches_the_kubernetes_schema(
    rendered: list[Resource], version: str
) -> None:
    for resource in rendered:
        kubernetes_validate.validate(resource, version, strict=True)


@pytest.mark.parametrize("path", sorted(K8S.rglob("*.yaml")), ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_file_parses(path: Path) -> None:
    documents = load_documents(path)
    assert documents, f"{path} is empty"
    for document in documents:
        assert "kind" in document
        assert "apiVersion" in document


def test_a_broken_manifest_is_refused_by_the_validation() -> None:
    """The validation is not a rubber stamp: a typo'd field and a wrong type both fail."""
    deployment = find(build(KUSTOMIZATIONS["base"]), "Deployment", "linkfleet-app")
    typo = merge(deployment, {"spec": {"replicaz": 2}})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, VERSIONS[-1], strict=True)
    wrong_type = merge(deployment, {"spec": {"revisionHistoryLimit": "five"}})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, VERSIONS[-1], strict=True)


def test_app_probes_drain_and_resources(rendered: list[Resource]) -> None:
    deployment = find(rendered, "Deployment", "linkfleet-app")
    spec = deployment["spec"]["template"]["spec"]
    (app,) = spec["containers"]
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    drain = app["lifecycle"]["preStop"]["exec"]["command"]
    assert drain[0] == "sleep"
    # preStop runs inside the grace period, then gunicorn needs graceful_timeout to drain.
    assert spec["terminationGracePeriodSeconds"] > int(drain[1]) + gunicorn_graceful_timeout()
    assert app["resources"]["requests"]["cpu"]
    assert app["resources"]["limits"]["memory"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


def test_worker_runs_the_analytics_worker_with_metrics(rendered: list[Resource]) -> None:
    worker = find(rendered, "Deployment", "linkfleet-worker")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    assert container["command"][:2] == ["linkfleet", "worker"]
    port = container["command"][container["command"].index("--metrics-port") + 1]
    assert container["ports"][0]["containerPort"] == int(port)
    assert container["livenessProbe"]["httpGet"]["port"] == "metrics"
    assert container["resources"]["limits"]


def test_services_hpa_pdb_and_ingress_point_at_the_app(rendered: list[Resource]) -> None:
    deployment = find(rendered, "Deployment", "linkfleet-app")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = find(rendered, "Service", "linkfleet-app")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["selector"] == APP_LABELS
    pdb = find(rendered, "PodDisruptionBudget", "linkfleet-app")
    assert pdb["spec"]["selector"]["matchLabels"] == APP_LABELS
    hpa = find(rendered, "HorizontalPodAutoscaler", "linkfleet-app")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "linkfleet-app",
    }
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    ingress = find(rendered, "Ingress", "linkfleet")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "linkfleet-app"
    assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}


def test_settings_are_real_linkfleet_settings(rendered: list[Resource]) -> None:
    """Every LINKFLEET_* key in the ConfigMap and Secret is one that service/config.py reads
    (plus the fleet-only gunicorn knobs), and the config validates as the app would."""
    known = {f"LINKFLEET_{field.name.upper()}" for field in dataclasses.fields(Settings)}
    known |= {"LINKFLEET_WORKERS", "LINKFLEET_GRACEFUL_TIMEOUT"}  # deploy/gunicorn.conf.py
    config = find(rendered, "ConfigMap", "linkfleet-config")["data"]
    secret = find(rendered, "Secret", "linkfleet-secrets")["stringData"]
    environment = {**config, **secret}
    for key in environment:
        if key.startswith("LINKFLEET_"):
            assert key in known, f"{key} is not a LinkFleet setting"
    Settings.from_env(environment)  # raises ConfigError on a bad value
    for container in containers(rendered):
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef") or source.get("secretRef")
            kind = "ConfigMap" if "configMapRef" in source else "Secret"
            find(rendered, kind, ref["name"])


def test_every_pod_sets_resources_and_probes_where_it_serves(rendered: list[Resource]) -> None:
    for spec in pod_specs(rendered):
        for container in spec["containers"]:
            assert container.get("resources", {}).get("limits"), container["name"]
            if container.get("ports"):
                assert "readinessProbe" in container
                assert "livenessProbe" in container


def test_base_reaches_redis_and_postgres_outside_the_cluster(base: list[Resource]) -> None:
    for name in ("redis", "postgres"):
        service = find(base, "Service", name)
        assert service["spec"]["type"] == "ExternalName"
        assert service["spec"]["externalName"]
    kinds = {(r["kind"], r["metadata"]["name"]) for r in base}
    assert ("StatefulSet", "postgres") not in kinds
    assert ("Deployment", "redis") not in kinds


def test_dev_overlay_runs_redis_and_postgres_in_the_cluster(dev: list[Resource]) -> None:
    for name, kind in (("redis", "Deployment"), ("postgres", "StatefulSet")):
        service = find(dev, "Service", name)
        assert service["spec"]["type"] == "ClusterIP"
        assert "externalName" not in service["spec"]
        workload = find(dev, kind, name)
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        port_names = {
            p["name"]
            for c in workload["spec"]["template"]["spec"]["containers"]
            for p in c["ports"]
        }
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    namespaced = [r for r in dev if r["kind"] != "Namespace"]
    assert {r["metadata"]["namespace"] for r in namespaced} == {"linkfleet-dev"}
    secret = find(dev, "Secret", "linkfleet-secrets")["stringData"]
    assert secret["POSTGRES_PASSWORD"] in secret["LINKFLEET_DATABASE_URL"]
    assert f":{secret['REDIS_PASSWORD']}@" in secret["LINKFLEET_REDIS_URL"]
    redis_container = find(dev, "Deployment", "redis")["spec"]["template"]["spec"]["containers"][0]
    args = redis_container["args"]
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    assert "--protected-mode" not in args
    from_secret = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in redis_container["env"]
        if "valueFrom" in e
    }
    assert from_secret["REDIS_PASSWORD"] == {"name": "linkfleet-secrets", "key": "REDIS_PASSWORD"}
    assert from_secret["REDISCLI_AUTH"] == from_secret["REDIS_PASSWORD"]
    images = {c["image"] for c in containers(dev) if "linkfleet" in c["image"]}
    assert images == {"localhost/linkfleet/app:dev"}


def test_the_loader_merges_like_a_strategic_merge_patch() -> None:
    base: dict[str, Any] = {
        "spec": {
            "type": "ExternalName",
            "externalName": "x",
            "ports": [{"name": "a", "port": 1}],
            "containers": [{"name": "c", "image": "i", "env": [{"name": "A", "value": "1"}]}],
        }
    }
    patch = {
        "spec": {
            "type": "ClusterIP",
            "externalName": None,
            "ports": [{"name": "a", "targetPort": 2}],
            "containers": [{"name": "c", "env": [{"name": "B", "value": "2"}]}],
        }
    }
    assert merge(base, patch) == {
        "spec": {
            "type": "ClusterIP",
            "ports": [{"name": "a", "port": 1, "targetPort": 2}],
            "containers": [
                {
                    "name": "c",
                    "image": "i",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                }
            ],
        }
    }


def test_metrics_have_a_port_no_ingress_reaches(rendered: list[Resource]) -> None:
    """Prometheus scrapes the pods' own metrics port; the Service (so the Ingress) offers only
    ``http``, and the app there hides /metrics even from private addresses."""
    deployment = find(rendered, "Deployment", "linkfleet-app")
    template = deployment["spec"]["template"]
    (app,) = template["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in app["ports"]}
    env = {item["name"]: item.get("value") for item in app.get("env", [])}
    assert int(env["LINKFLEET_METRICS_PORT"]) == ports["metrics"] != ports["http"]
    assert template["metadata"]["annotations"]["prometheus.io/port"] == str(ports["metrics"])
    for resource in rendered:
        if resource["kind"] == "Service" and resource["spec"].get("selector") == APP_LABELS:
            for port in resource["spec"]["ports"]:
                assert port.get("targetPort") not in {"metrics", ports["metrics"]}
    service = find(rendered, "Service", "linkfleet-app")
    targets = {port["name"]: port["targetPort"] for port in service["spec"]["ports"]}
    ingress = find(rendered, "Ingress", "linkfleet")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert targets[path["backend"]["service"]["port"]["name"]] == "http"


def test_the_app_port_hides_metrics_when_they_have_their_own(tmp_path: Path) -> None:
    from service import create_app

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "k8s",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "METRICS_PORT": 9100,
        }
    )
    ingress_controller = {"REMOTE_ADDR": "10.42.0.7"}  # SNATed into the pod network
    assert app.test_client().get("/metrics", environ_base=ingress_controller).status_code == 404
    app.config["METRICS_PORT"] = 0
    assert app.test_client().get("/metrics", environ_base=ingress_controller).status_code == 200


def test_gunicorn_serves_metrics_on_their_own_port(tmp_path: Path, redis_server: Any) -> None:
    import os
    import shutil
    import subprocess
    import sys
    import time

    import requests

    from tests.fixtures.services import free_port, wait_until

    app_port, metrics_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LINKFLEET_")},
        "LINKFLEET_SECRET_KEY": "k8s",
        "LINKFLEET_REDIS_URL": redis_server.url,
        "LINKFLEET_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "LINKFLEET_METRICS_PORT": str(metrics_port),
        "LINKFLEET_RUN_DIR": str(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    assert gunicorn is not None
    server = subprocess.Popen(
        [
            gunicorn,
            *("--config", str(ROOT / "deploy" / "gunicorn.conf.py")),
            *("--bind", f"127.0.0.1:{app_port}", "--chdir", str(ROOT)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def answers() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{app_port}/healthz", timeout=1).ok
            except requests.RequestException:
                return False

        wait_until(answers, 30, "gunicorn answered")
        assert requests.get(f"http://127.0.0.1:{app_port}/metrics", timeout=5).status_code == 404
        time.sleep(0.2)
        scraped = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert scraped.status_code == 200
        assert 'linkfleet_http_requests_total{endpoint="ops.healthz"' in scraped.text
    finally:
        server.terminate()
        server.wait(30)
