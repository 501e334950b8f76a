"""The Kubernetes manifests and the images, checked the way an operator's CI would: every overlay
renders (kubectl's built-in kustomize), every object validates against the Kubernetes schemas,
every setting the manifests pass is one the services read, and the Dockerfiles lint clean."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.core.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
KUBERNETES_VERSION = "1.30.0"
CUSTOM_KINDS = {"ScaledObject"}  # KEDA's CRD: not in the core schemas, checked by hand below
SETTINGS_READ = {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def render(target: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed to render k8s/"
    done = subprocess.run([kubectl, "kustomize", str(target)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module", params=["overlays/dev", "overlays/prod", "base", "external-redis",
                                        "s3-storage", "live-host-network"])
def objects(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    if request.param in ("external-redis", "s3-storage", "live-host-network"):
        # The component on top of the base, as an operator would use it.
        folder = tmp_path_factory.mktemp("with-component")
        base = os.path.relpath(K8S / "base", folder)  # kustomize wants relative paths
        component = os.path.relpath(K8S / "components" / request.param, folder)
        (folder / "kustomization.yaml").write_text(f"resources: [{base}]\ncomponents: [{component}]\n")
        return render(folder)
    return render(K8S / request.param)


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers", [])) + list(spec.get("initContainers", []))


def test_every_object_validates(objects: list[dict[str, Any]]) -> None:
    assert objects
    for obj in objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_keda_scaler_targets_the_workers_queue(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["kind"] == "ScaledObject":
            assert obj["spec"]["scaleTargetRef"]["name"] == "inference"
            (trigger,) = obj["spec"]["triggers"]
            assert trigger["type"] == "redis-streams"
            assert trigger["metadata"]["stream"] == "lipsync:queue"
            assert trigger["metadata"]["consumerGroup"] == "workers"


def test_settings_in_manifests_are_read_by_the_services(objects: list[dict[str, Any]]) -> None:
    names: set[str] = set()
    for obj in objects:
        if obj["kind"] in ("ConfigMap", "Secret"):
            names |= set(obj.get("data", {})) | set(obj.get("stringData", {}))
        for container in containers(obj):
            names |= {e["name"] for e in container.get("env", [])}
    lipsync = {n for n in names if n.startswith("LIPSYNC_")}
    assert lipsync, "the manifests configure the services"
    assert lipsync <= SETTINGS_READ, f"not read by services/core/settings.py: {lipsync - SETTINGS_READ}"


def test_containers_are_locked_down_and_sized(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        for container in containers(obj):
            where = f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}"
            resources = container.get("resources", {})
            assert resources.get("requests") and resources.get("limits"), where
            context = container.get("securityContext", {})
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            pod = obj["spec"]["template"]["spec"]["securityContext"]
            assert pod.get("runAsNonRoot") is True, where


def test_grpc_services_use_native_grpc_probes(objects: list[dict[str, Any]]) -> None:
    by_name = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    for name, service in (("jobs", "lipsync.v1.JobService"), ("inference", "lipsync.v1.InferenceService"),
                          ("live", "lipsync.v1.LiveService")):
        (container,) = containers(by_name[name])
        assert container["readinessProbe"]["grpc"]["service"] == service
        assert "grpc" in container["livenessProbe"]


def _settings_of(container: dict[str, Any], objects: list[dict[str, Any]]) -> set[str]:
    """Every variable a container is given: its `env` and the keys of what `envFrom` names."""
    sources = {(o["kind"], o["metadata"]["name"]): set(o.get("data", {})) | set(o.get("stringData", {}))
               for o in objects if o["kind"] in ("ConfigMap", "Secret")}
    names = {e["name"] for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if ref in source:
                names |= sources[(kind, source[ref]["name"])]
    return names


def test_only_the_roles_that_need_it_get_redis(objects: list[dict[str, Any]]) -> None:
    """The proxy (the public edge) gets no Redis setting; webhooks are their own role, with it."""
    roles = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    (proxy,) = containers(roles["proxy"])
    assert proxy["args"] == ["serve", "proxy"]
    assert not {n for n in _settings_of(proxy, objects) if "REDIS" in n}
    (webhooks,) = containers(roles["webhooks"])
    assert webhooks["args"] == ["serve", "webhooks"]
    for role in ("jobs", "inference", "webhooks", "live"):
        (container,) = containers(roles[role])
        assert "LIPSYNC_REDIS_URL" in _settings_of(container, objects), role


def _selects(peer: dict[str, Any], name: str) -> bool:
    return peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") == name


def test_network_policies_keep_the_proxy_from_redis() -> None:
    policies = {o["metadata"]["name"]: o["spec"] for o in render(K8S / "overlays" / "prod")
                if o["kind"] == "NetworkPolicy"}
    proxy_egress = policies["proxy"]["egress"]
    assert not [rule for rule in proxy_egress if any(_selects(p, "redis") for p in rule["to"])]
    assert not [rule for rule in proxy_egress
                if any(port.get("port") == 6379 for port in rule.get("ports", []))]
    # Redis's own door: only the job service, the workers and the webhook role.
    (redis_in,) = policies["redis"]["ingress"]
    allowed = {p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in redis_in["from"]}
    assert allowed == {"jobs", "inference", "webhooks", "live"}
    assert any(_selects(p, "redis") for rule in policies["webhooks"]["egress"] for p in rule["to"])
    assert policies["webhooks"]["ingress"] == []


def test_overlays_differ_as_documented() -> None:
    dev, prod = render(K8S / "overlays" / "dev"), render(K8S / "overlays" / "prod")
    dev_kinds = {(o["kind"], o["metadata"]["name"]) for o in dev}
    prod_kinds = {(o["kind"], o["metadata"]["name"]) for o in prod}
    assert ("Deployment", "triton") not in dev_kinds and ("Deployment", "triton") in prod_kinds
    assert all(o["spec"]["replicas"] == 1 for o in dev if o["kind"] == "Deployment")
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "ScaledObject"):
        assert any(k == kind for k, _ in prod_kinds) and not any(k == kind for k, _ in dev_kinds)
    triton = next(o for o in prod if o["kind"] == "Deployment" and o["metadata"]["name"] == "triton")
    (container,) = containers(triton)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"


@pytest.mark.parametrize("dockerfile", sorted((ROOT / "docker").glob("*.Dockerfile")))
def test_dockerfiles_lint_clean(dockerfile: Path) -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    done = subprocess.run([str(hadolint), str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    text = dockerfile.read_text()
    assert re.search(r"^USER \d+", text, re.MULTILINE), "images run as a non-root numeric user"


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    undocumented = {name for name in SETTINGS_READ if f"`{name}`" not in readme}
    assert not undocumented, f"settings missing from the README's table: {undocumented}"
