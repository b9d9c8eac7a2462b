"""Just enough of kustomize to render deploy/k8s without the kustomize binary.

Supports what deploy/k8s uses: ``resources`` (files and directories), ``namespace``,
``labels`` (``pairs`` added to metadata.labels only), ``images`` (``newName``/``newTag``) and
``patches`` given by ``path`` as strategic merge patches, with the merge keys Kubernetes
declares for the lists we patch (containers, env, ports, volumes, volumeMounts by name) and
``null`` deleting a field. The real tool (``kubectl kustomize``) renders the same output; this
exists so the tests can validate every rendered object against the Kubernetes schemas offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

#: Lists merged item by item, by this key (Kubernetes' patchMergeKey for the lists we use).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "ports": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
}
#: Cluster-scoped kinds never get a namespace.
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}


class KustomizeError(ValueError):
    """The kustomization uses something this loader does not support, or is inconsistent."""


def load_documents(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def key_of(resource: Resource) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def merge(base: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge of ``patch`` into ``base`` (both plain YAML data)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for name, value in patch.items():
            if value is None:
                merged.pop(name, None)
            elif name in merged:
                merged[name] = merge(merged[name], value, name)
            else:
                merged[name] = value
        return merged
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        merged_list = list(base)
        for item in patch:
            for index, existing in enumerate(merged_list):
                if isinstance(existing, dict) and existing.get(key) == item.get(key):
                    merged_list[index] = merge(existing, item)
                    break
            else:
                merged_list.append(item)
        return merged_list
    return patch


def build(directory: Path) -> list[Resource]:
    """The resources of the kustomization in ``directory``, as kustomize would emit them."""
    config = yaml.safe_load((directory / "kustomization.yaml").read_text())
    known = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
    unknown = set(config) - known
    if unknown:
        raise KustomizeError(f"{directory}: unsupported kustomization fields {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in config.get("resources", []):
        path = (directory / entry).resolve()
        resources.extend(build(path) if path.is_dir() else load_documents(path))
    seen: set[tuple[str, str]] = set()
    for resource in resources:
        if key_of(resource) in seen:
            raise KustomizeError(f"{directory}: {key_of(resource)} defined twice")
        seen.add(key_of(resource))
    for patch_entry in config.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise KustomizeError(f"{directory}: only `path` patches are supported")
        for patch in load_documents(directory / patch_entry["path"]):
            index = next(
                (i for i, res in enumerate(resources) if key_of(res) == key_of(patch)), None
            )
            if index is None:
                raise KustomizeError(f"{directory}: patch target {key_of(patch)} not found")
            resources[index] = merge(resources[index], patch)
    for label_set in config.get("labels", []):
        for resource in resources:
            resource["metadata"].setdefault("labels", {}).update(label_set["pairs"])
    for image in config.get("images", []):
        for container in containers(resources):
            name, _, _tag = container["image"].partition(":")
            if name == image["name"]:
                new_name = image.get("newName", name)
                new_tag = image.get("newTag", _tag or "latest")
                container["image"] = f"{new_name}:{new_tag}"
    namespace = config.get("namespace")
    if namespace:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = namespace
    return resources


def pod_specs(resources: list[Resource]) -> list[dict[str, Any]]:
    """The pod templates' specs of every workload."""
    specs = []
    for resource in resources:
        if resource["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            specs.append(resource["spec"]["template"]["spec"])
    return specs


def containers(resources: list[Resource]) -> list[dict[str, Any]]:
    return [c for spec in pod_specs(resources) for c in spec.get("containers", [])]


def find(resources: list[Resource], kind: str, name: str) -> Resource:
    for resource in resources:
        if key_of(resource) == (kind, name):
            return resource
    raise KeyError(f"{kind}/{name} not rendered")
