"""The shipped deployment files: their structure, and that every configuration key they set exists.

There is no Docker engine or Kubernetes cluster here, so the files are checked as files: parsed with
PyYAML (pinned in pyproject.toml), every ``IGCDS_<SECTION>__<KEY>`` variable and every TOML file they
carry loaded through the real configuration loader (an unknown key stops it, as it would stop
igcds), and the haproxy configuration checked by Debian's haproxy itself (``haproxy -c``). The same
topology runs for real in tests/integration/test_cluster.py.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds_service.config import ServerConfig, StorageConfig, load_config
from cds_service.storage import configured_salt
from hooks.app import APP_SECTIONS
from tests.support.haproxy import HAPROXY

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE_VARIABLES = {
    "POSTGRES_PASSWORD": "pw",
    "IGCDS_PUBLIC_BASE_URL": "https://cds.example.org",
    "IGCDS_PATIENT_HASH_SALT": "x" * 64,
    "IGCDS_REPLICAS": "2",
}


def substitute(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${NAME:?message}`` and ``${NAME:-default}`` interpolation."""
    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3)
        return variables.get(name, default if default is not None else "")

    return re.sub(r"\$\{([A-Z_]+)(:\?[^}]*|:-([^}]*))?\}", one, value)


def load_with(toml_text: str, environ: dict[str, str], tmp_path: Path) -> Any:
    path = tmp_path / "igcds.toml"
    path.write_text(toml_text)
    return load_config(path, app_sections=APP_SECTIONS, environ=environ)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def kubernetes() -> dict[str, dict[str, Any]]:
    documents: dict[str, dict[str, Any]] = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                documents[doc["kind"]] = doc
    return documents


# Compose ------------------------------------------------------------------------------------------

def test_the_root_compose_file_is_the_deploy_one(compose: dict[str, Any]) -> None:
    root = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert root == {"include": ["deploy/compose.yaml"]}, "one source of truth"


def test_compose_runs_replicas_behind_haproxy_with_postgres_and_redis(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"igcds", "haproxy", "postgres", "redis"}
    igcds, lb = services["igcds"], services["haproxy"]
    assert int(substitute(str(igcds["deploy"]["replicas"]), {})) >= 2
    assert "ports" not in igcds, "only the load balancer is published"
    assert lb["ports"] == ["127.0.0.1:8080:8080"]
    assert igcds["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                   "redis": {"condition": "service_healthy"}}
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]
    assert "--appendonly" in services["redis"]["command"], "a restarted Redis still knows the jti it saw"
    assert igcds["read_only"] is True and igcds["cap_drop"] == ["ALL"]
    assert "volumes" not in igcds, "each replica its own data directory (the image's anonymous volume)"
    mounted = {v.split(":")[0] for v in lb["volumes"]}
    assert mounted == {"./haproxy/haproxy.cfg", "./haproxy/backend-compose.cfg"}
    assert all((DEPLOY / m).is_file() for m in mounted)
    haproxy_image = (DEPLOY / lb["build"]["context"] / "Dockerfile").read_text()
    assert "FROM debian:bookworm" in haproxy_image and "apt-get install -y --no-install-recommends haproxy" in haproxy_image


def test_compose_sets_only_real_configuration_keys(compose: dict[str, Any], tmp_path: Path) -> None:
    igcds = compose["services"]["igcds"]
    environ = {name: substitute(value, COMPOSE_VARIABLES) for name, value in igcds["environment"].items()}
    config = load_with(compose["configs"]["igcds_toml"]["content"], environ, tmp_path)
    assert config.storage.url == "postgresql+psycopg://igcds:pw@postgres:5432/igcds"
    assert config.storage.patient_hash_salt == "x" * 64 and configured_salt(config) == b"x" * 64
    assert config.auth.replay_store == "redis://redis:6379/0"
    assert config.server.behind_proxy is True and config.server.public_base_url == "https://cds.example.org"
    assert config.clients
    lb_env = compose["services"]["haproxy"]["environment"]
    assert int(lb_env["IGCDS_LB_SERVER_MAXCONN"]) == config.server.workers * config.server.threads
    for name in ("IGCDS_STORAGE__PATIENT_HASH_SALT", "IGCDS_PUBLIC_BASE_URL", "POSTGRES_PASSWORD"):
        assert name in str(igcds["environment"]) or name in str(compose), name
    assert ":?" in igcds["environment"]["IGCDS_STORAGE__PATIENT_HASH_SALT"], "no start without a salt"


def test_the_shipped_haproxy_configuration_is_valid_for_haproxy(tmp_path: Path) -> None:
    env = {**os.environ, "IGCDS_LB_BIND": "127.0.0.1:18080"}
    check = subprocess.run([str(HAPROXY), "-c", "-f", str(DEPLOY / "haproxy" / "haproxy.cfg"), "-f",
                            str(DEPLOY / "haproxy" / "backend-compose.cfg")],
                           env=env, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "WARNING" not in check.stdout + check.stderr
    text = (DEPLOY / "haproxy" / "haproxy.cfg").read_text()
    for directive in ("timeout http-request", "option http-buffer-request", "retry-on conn-failure",
                      "uri /healthz", "uri /readyz", "option redispatch"):
        assert directive in text, directive


def test_the_image(compose: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert "\nUSER igcds" in dockerfile and "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    assert 'CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]' in dockerfile
    assert 'VOLUME ["/srv/igcds/data"]' in dockerfile
    assert (ROOT / ".dockerignore").is_file()


# Kubernetes ---------------------------------------------------------------------------------------

def test_kubernetes_has_every_part() -> None:
    documents = kubernetes()
    assert set(documents) == {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
                              "PodDisruptionBudget", "Ingress"}
    listed = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in (DEPLOY / "kubernetes").glob("*.yaml")
                                    if p.name != "kustomization.yaml")


def test_the_deployment_probes_resources_and_secrets() -> None:
    documents = kubernetes()
    deployment = documents["Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] >= 2 and spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["serve", "--host", "0.0.0.0", "--port", "8080"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    secret_refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert secret_refs == {"igcds-secrets"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == documents["ConfigMap"]["metadata"]["name"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["config"] == "/etc/igcds" and mounts["data"] == "/srv/igcds/data"
    assert {"name": "IGCDS_CONFIG", "value": "/etc/igcds/igcds.toml"} in container["env"]
    assert pod["terminationGracePeriodSeconds"] >= 10, "time for the workers to write their audit"


def test_kubernetes_sets_only_real_configuration_keys(tmp_path: Path) -> None:
    documents = kubernetes()
    (container,) = documents["Deployment"]["spec"]["template"]["spec"]["containers"]
    placeholders = {"storage-url": '"postgresql+psycopg://igcds:pw@postgres:5432/igcds"',
                    "patient-hash-salt": '"' + "s" * 64 + '"', "replay-store": '"redis://redis:6379/0"'}
    environ = {}
    for entry in container["env"]:
        if entry["name"] == "IGCDS_CONFIG":
            continue
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        environ[entry["name"]] = placeholders[ref["key"]] if ref else entry["value"]
    config = load_with(documents["ConfigMap"]["data"]["igcds.toml"], environ, tmp_path)
    assert config.server.behind_proxy is True and config.auth.replay_store.startswith("redis://")
    assert configured_salt(config) == b"s" * 64
    assert config.server.workers == 2 * int(container["resources"]["limits"]["cpu"]), "two sync workers per core"


def test_service_hpa_pdb_and_ingress_point_at_the_deployment() -> None:
    documents = kubernetes()
    labels = documents["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert documents["Service"]["spec"]["selector"].items() <= labels.items()
    assert documents["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert documents["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    hpa = documents["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": documents["Deployment"]["metadata"]["name"]}
    assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] > hpa["minReplicas"]
    backend = documents["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == documents["Service"]["metadata"]["name"]
    assert backend["port"]["name"] == documents["Service"]["spec"]["ports"][0]["name"]
    annotations = documents["Ingress"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "on"


# Documentation ------------------------------------------------------------------------------------

@pytest.mark.parametrize("section, kind", [("server", ServerConfig), ("storage", StorageConfig)])
def test_every_server_and_storage_key_is_documented(section: str, kind: type) -> None:
    docs = (ROOT / "docs" / "operations.md").read_text() + (ROOT / "docs" / "security.md").read_text()
    for field in dataclasses.fields(kind):
        assert f"[{section}] {field.name}" in docs, field.name  # with or without backticks


def test_the_kubernetes_configuration_file_is_toml() -> None:
    text = kubernetes()["ConfigMap"]["data"]["igcds.toml"]
    assert tomllib.loads(text)["server"]["behind_proxy"] is True
