"""Renders the kustomize overlays under k8s/ in Python, for tests on machines without a kustomize binary.

It implements only what k8s/ uses (resources, namespace, images, JSON 6902 patches with a kind/name target) and
refuses anything else, so that a new kustomize feature in k8s/ fails the tests instead of being silently ignored.
`kubectl kustomize k8s/overlays/<name>` renders the same objects. Depends on PyYAML only.
"""

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

SUPPORTED_KEYS = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
                  "CustomResourceDefinition", "PriorityClass"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class KustomizeError(ValueError):
    """The kustomization uses something this renderer does not implement, or is inconsistent."""


def render(directory: Path) -> list[Resource]:
    """Every object the kustomization at ``directory`` produces, in kustomize's resource order."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - SUPPORTED_KEYS
    if unknown:
        raise KustomizeError(f"{directory}: unsupported kustomization fields {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in spec.get("resources", []):
        path = (directory / entry).resolve()
        resources.extend(render(path) if path.is_dir() else _load(path))
    for patch in spec.get("patches", []):
        _apply_patch(directory, resources, patch)
    if "namespace" in spec:
        _set_namespace(resources, spec["namespace"])
    for image in spec.get("images", []):
        _set_image(resources, image)
    _check_unique(resources, directory)
    return resources


def _load(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _apply_patch(directory: Path, resources: list[Resource], patch: dict[str, Any]) -> None:
    target = patch.get("target") or {}
    if set(target) - {"kind", "name"}:
        raise KustomizeError(f"patch target {target}: only kind and name are supported")
    text = patch["patch"] if "patch" in patch else (directory / patch["path"]).read_text()
    operations = yaml.safe_load(text)
    if not isinstance(operations, list):
        raise KustomizeError("only JSON 6902 patches (a list of operations) are supported")
    matched = [r for r in resources if _matches(r, target)]
    if not matched:
        raise KustomizeError(f"patch target {target} matches nothing")
    for resource in matched:
        for operation in operations:
            _json_patch(resource, operation)


def _matches(resource: Resource, target: dict[str, str]) -> bool:
    return all(
        (resource.get("kind") if key == "kind" else resource["metadata"].get("name")) == value
        for key, value in target.items()
    )


def _json_patch(document: Resource, operation: dict[str, Any]) -> None:
    op, pointer = operation["op"], operation["path"]
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    parent: Any = document
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    if op in ("add", "replace"):
        value = copy.deepcopy(operation["value"])
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op == "add":
                parent.insert(index, value)
            else:
                parent[index] = value
        else:
            if op == "replace" and last not in parent:
                raise KustomizeError(f"replace of missing {pointer}")
            parent[last] = value
    elif op == "remove":
        del parent[int(last) if isinstance(parent, list) else last]
    else:
        raise KustomizeError(f"unsupported JSON patch operation {op}")


def _set_namespace(resources: list[Resource], namespace: str) -> None:
    for resource in resources:
        if resource["kind"] not in CLUSTER_SCOPED:
            resource["metadata"]["namespace"] = namespace
        for subject in resource.get("subjects", []) if resource["kind"].endswith("RoleBinding") else []:
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace


def containers(resource: Resource) -> Iterator[dict[str, Any]]:
    """The containers and init containers of a workload's pod template."""
    if resource.get("kind") not in POD_TEMPLATE_KINDS:
        return
    spec = resource["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def _set_image(resources: list[Resource], image: dict[str, str]) -> None:
    for resource in resources:
        for container in containers(resource):
            name, _, tag = container["image"].partition(":")
            if name != image["name"]:
                continue
            container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"


def _check_unique(resources: list[Resource], directory: Path) -> None:
    seen: set[tuple[str, str]] = set()
    for resource in resources:
        key = (resource["kind"], resource["metadata"]["name"])
        if key in seen:
            raise KustomizeError(f"{directory}: {key} is defined twice")
        seen.add(key)
