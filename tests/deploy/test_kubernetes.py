"""deploy/kubernetes: every manifest validates against the Kubernetes API schemas (the
``kubernetes-validate`` package, offline, strict: unknown fields fail), and the deployment
keeps the rules EduStream depends on (one scheduler, migrations before rollout, probes on the
real health endpoints, graceful drain, the ingress routes, the settings the code reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from server.jobs import CONSUMER_GROUP
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
KUBERNETES = "1.30.0"  # the oldest minor still supported upstream when this was written


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests() -> dict[str, list[dict[str, Any]]]:
    return {str(p.relative_to(DEPLOY)): documents(p) for p in sorted(DEPLOY.rglob("*.yaml"))
            if p.name != "kustomization.yaml"}


def by_kind(kind: str, name: str) -> dict[str, Any]:
    found = [d for docs in manifests().values() for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    [only] = workload["spec"]["template"]["spec"]["containers"]
    return dict(only)


@pytest.mark.parametrize("path", sorted(manifests()))
def test_every_manifest_validates_against_the_kubernetes_schemas(path: str) -> None:
    for doc in manifests()[path]:
        if doc["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD's kind: checked below against what the code uses
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_kustomization_lists_every_manifest_but_the_examples_and_options() -> None:
    kustomization = documents(DEPLOY / "kustomization.yaml")[0]
    expected = {p for p in manifests() if "/" not in p and not p.endswith(".example.yaml")}
    assert set(kustomization["resources"]) == expected
    images = {i["name"] for i in kustomization["images"]}
    used = {container(d)["image"] for docs in manifests().values() for d in docs
            if d["kind"] in ("Deployment", "Job")}
    assert used == images


def test_exactly_one_scheduler_and_migrations_as_a_job() -> None:
    scheduler = by_kind("Deployment", "edustream-scheduler")
    assert scheduler["spec"]["replicas"] == 1 and scheduler["spec"]["strategy"]["type"] == "Recreate"
    assert not [d for docs in manifests().values() for d in docs
                if d["kind"] == "HorizontalPodAutoscaler" and d["spec"]["scaleTargetRef"]["name"] == "edustream-scheduler"]
    migrate = by_kind("Job", "edustream-migrate")
    assert container(migrate)["args"] == ["migrate"]
    assert "--no-migrate" in container(by_kind("Deployment", "edustream-api"))["args"]


def test_the_api_probes_the_health_endpoints_and_drains_before_it_stops() -> None:
    api = by_kind("Deployment", "edustream-api")
    c = container(api)
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    # uvicorn's graceful shutdown (10 s, edustream/cli.py) + the preStop delay fit in the grace period.
    assert api["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 10 + 5 + 5
    assert c["args"][:1] == ["api"] and "--workers" in c["args"]
    for name in ("edustream-api", "edustream-worker", "edustream-frontend"):
        assert by_kind("PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"] == {
            "app.kubernetes.io/name": name}


def test_the_ingress_sends_rest_and_socketio_to_the_api_and_the_rest_to_the_frontend() -> None:
    [rule] = by_kind("Ingress", "edustream")["spec"]["rules"]
    routes = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    assert routes == {"/api": "edustream-api", "/socket.io": "edustream-api", "/": "edustream-frontend"}
    annotations = by_kind("Ingress", "edustream")["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600


def test_the_configuration_names_settings_the_code_reads() -> None:
    config = by_kind("ConfigMap", "edustream-config")["data"]
    secret = by_kind("Secret", "edustream-secrets")["stringData"]
    known = {name.upper() for name in Settings.model_fields} | {"FORWARDED_ALLOW_IPS"}  # read by uvicorn
    assert set(config) <= known and set(secret) <= known, (set(config) | set(secret)) - known
    assert config["DATABASE_PGBOUNCER"] == "true" and "DATABASE_DIRECT_URL" in secret
    assert config["LIVE_ALLOW_POLLING"] == "false"  # no sticky sessions in the ingress


def test_the_keda_scaler_watches_the_task_streams_consumer_group() -> None:
    [trigger] = by_kind("ScaledObject", "edustream-worker")["spec"]["triggers"]
    assert trigger["type"] == "redis-streams"
    assert trigger["metadata"]["stream"] == Settings.model_fields["task_queue_name"].default
    assert trigger["metadata"]["consumerGroup"] == CONSUMER_GROUP
