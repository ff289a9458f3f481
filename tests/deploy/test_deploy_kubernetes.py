"""The Kubernetes manifests, checked offline: each overlay rendered (tests/deploy/kustomize.py, the same objects as
`kubectl kustomize`), every object validated strictly against the Kubernetes schemas of a fixed version
(kubernetes-validate), then what the schemas cannot see: probes, resources, security contexts, references
between objects, secrets kept out of production, and RabbitMQ's quorum queues."""

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from tests.deploy.inventory import all_env_names, env_names
from tests.deploy.kustomize import KustomizeError, Resource, containers, render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
KUBERNETES_VERSION = "1.31.0"
OVERLAYS = ("dev", "production")
SERVICES = {"catalog": 8001, "gateway": 8000, "submitter": 8002, "monitor": 8003}
WORKLOADS = {"Deployment", "StatefulSet", "Job"}


def _render(overlay: str) -> list[Resource]:
    return render(K8S / "overlays" / overlay)


def _by_kind(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def _pod_labels(resources: list[Resource]) -> list[dict[str, str]]:
    return [r["spec"]["template"]["metadata"]["labels"] for r in resources if r["kind"] in WORKLOADS]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        if expression["operator"] == "In" and value not in expression["values"]:
            return False
    return True


def _secret_refs(resources: list[Resource]) -> set[str]:
    names = set()
    for resource in resources:
        for container in containers(resource):
            names |= {e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env", [])
                      if "secretKeyRef" in e.get("valueFrom", {})}
        if resource["kind"] in WORKLOADS:
            names |= {v["secret"]["secretName"] for v in resource["spec"]["template"]["spec"].get("volumes", [])
                      if "secret" in v}
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_for_kubernetes(overlay: str) -> None:
    errors = []
    for resource in _render(overlay):
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{resource['kind']}/{resource['metadata']['name']}: {exc.message}")

    assert errors == []


def test_the_validation_catches_a_misspelt_field() -> None:
    deployment = _by_kind(_render("dev"), "Deployment")["gateway"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {}

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")

    with pytest.raises(KustomizeError, match="commonLabels"):
        render(tmp_path)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_has_the_whole_system(overlay: str) -> None:
    resources = _render(overlay)
    kinds = {r["kind"] for r in resources}

    assert set(SERVICES) <= set(_by_kind(resources, "Deployment"))
    assert set(SERVICES) <= set(_by_kind(resources, "Service"))
    assert {"Job", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "ConfigMap",
            "StatefulSet", "Namespace"} <= kinds
    namespace = next(r["metadata"]["name"] for r in resources if r["kind"] == "Namespace")
    assert all(r["metadata"].get("namespace") == namespace for r in resources if r["kind"] != "Namespace")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_probes_resources_and_runs_as_non_root(overlay: str) -> None:
    for resource in _render(overlay):
        if resource["kind"] not in WORKLOADS:
            continue
        pod = resource["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, resource["metadata"]["name"]
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in containers(resource):
            where = f"{resource['metadata']['name']}/{container['name']}"
            assert {"requests", "limits"} <= set(container["resources"]), where
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"], where
            if resource["kind"] != "Job" and container in pod["containers"]:
                assert "readinessProbe" in container and "livenessProbe" in container, where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_services_probe_their_own_endpoints_and_are_scraped(overlay: str) -> None:
    deployments = _by_kind(_render(overlay), "Deployment")
    for name, port in SERVICES.items():
        template = deployments[name]["spec"]["template"]
        container = template["spec"]["containers"][0]
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
        # Liveness must not depend on PostgreSQL or RabbitMQ: /metrics answers while the process serves.
        assert container["livenessProbe"]["httpGet"]["path"] == "/metrics"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert template["metadata"]["annotations"]["prometheus.io/port"] == str(port)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_references_between_objects_resolve(overlay: str) -> None:
    resources = _render(overlay)
    pods = _pod_labels(resources)
    deployments = _by_kind(resources, "Deployment")
    config_maps = _by_kind(resources, "ConfigMap")
    claims = _by_kind(resources, "PersistentVolumeClaim")

    for service in _by_kind(resources, "Service").values():
        assert any(_selects({"matchLabels": service["spec"]["selector"]}, p) for p in pods), service["metadata"]
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for policy in _by_kind(resources, kind).values():
            selector = policy["spec"].get("selector") or policy["spec"]["podSelector"]
            assert any(_selects(selector, p) for p in pods), policy["metadata"]["name"]
    for autoscaler in _by_kind(resources, "HorizontalPodAutoscaler").values():
        assert autoscaler["spec"]["scaleTargetRef"]["name"] in deployments
    for resource in resources:
        for container in containers(resource):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
        if resource["kind"] in WORKLOADS:
            for volume in resource["spec"]["template"]["spec"].get("volumes", []):
                if "persistentVolumeClaim" in volume:
                    assert volume["persistentVolumeClaim"]["claimName"] in claims
                if "configMap" in volume:
                    assert volume["configMap"]["name"] in config_maps


def test_production_references_its_secrets_and_carries_none() -> None:
    resources = _render("production")

    assert _by_kind(resources, "Secret") == {}
    assert _secret_refs(resources) == {"esap-secrets", "esap-rabbitmq"}


def test_dev_defines_every_secret_it_references() -> None:
    resources = _render("dev")

    assert _secret_refs(resources) <= set(_by_kind(resources, "Secret"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_given_to_a_service_is_one_it_reads(overlay: str) -> None:
    resources = _render(overlay)
    shared = _by_kind(resources, "ConfigMap")["esap-config"]["data"]

    assert set(shared) <= all_env_names()
    for name in SERVICES:
        for container in containers(_by_kind(resources, "Deployment")[name]):
            for variable in container.get("env", []):
                assert variable["name"] in env_names(name), f"{name} does not read {variable['name']}"


def test_the_migration_job_migrates_then_seeds_with_the_catalog_image() -> None:
    job = _by_kind(_render("production"), "Job")["catalog-migrate"]
    pod = job["spec"]["template"]["spec"]
    catalog = _by_kind(_render("production"), "Deployment")["catalog"]["spec"]["template"]["spec"]["containers"][0]

    assert [c["args"] for c in pod["initContainers"]] == [["migrate"]]
    assert [c["args"] for c in pod["containers"]] == [["seed"]]
    assert {c["image"] for c in [*pod["initContainers"], *pod["containers"]]} == {catalog["image"]}


def test_production_images_come_from_a_registry_at_one_release() -> None:
    images = {c["image"] for r in _render("production") for c in containers(r) if "esap-batch/" in c["image"]}

    assert {re.sub(r"^.*/(\w+):.*$", r"\1", i) for i in images} == set(SERVICES)
    assert len({i.rsplit(":", 1)[1] for i in images}) == 1
    assert all(i.startswith("registry.") for i in images)


def test_single_replica_services_never_run_twice_and_the_rest_scale() -> None:
    resources = _render("production")
    deployments = _by_kind(resources, "Deployment")

    for name in ("submitter", "monitor"):
        assert deployments[name]["spec"]["replicas"] == 1
        assert deployments[name]["spec"]["strategy"]["type"] == "Recreate"
    assert set(_by_kind(resources, "HorizontalPodAutoscaler")) == {"gateway", "catalog"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rabbitmq_makes_quorum_queues_and_tolerates_losing_a_node(overlay: str) -> None:
    resources = _render(overlay)
    config = _by_kind(resources, "ConfigMap")["rabbitmq-config"]["data"]
    settings = dict(line.split(" = ", 1) for line in config["rabbitmq.conf"].splitlines()
                    if line and not line.startswith("#"))

    assert settings["default_queue_type"] == "quorum"
    assert "rabbitmq_prometheus" in config["enabled_plugins"]
    assert _by_kind(resources, "PodDisruptionBudget")["rabbitmq"]["spec"]["maxUnavailable"] == 1
    if overlay == "production":
        assert _by_kind(resources, "StatefulSet")["rabbitmq"]["spec"]["replicas"] == 3
