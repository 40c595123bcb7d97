"""Several igcds instances behind haproxy, sharing one PostgreSQL and one Redis, all on 127.0.0.1: the
topology of deploy/compose.yaml, run for real (tests/integration/test_cluster.py).

Every part is the real thing: ``igcds serve`` (gunicorn, sync workers) per instance, each with its
own data directory (audit spool, metrics files); Debian's PostgreSQL 15, Redis and haproxy, the
last with the shipped configuration (deploy/haproxy/haproxy.cfg). The instances are configured as
the compose file configures them: the same public URL (the load balancer's), the same replay store,
database and patient-hash salt, ``behind_proxy = true``. Any part can be stopped, killed or
restarted by a test.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.haproxy import RunningProxy, haproxy
from tests.support.igcds_server import (
    free_port,
    spawn_serve,
    stop_process_group,
    wait_until_healthy,
    write_toml,
)
from tests.support.jwt_tokens import SigningKey, bearer, jwks, mint, new_key
from tests.support.postgres import PostgresServer, start_postgres
from tests.support.redis import RedisServer, start_redis

ISSUER = "https://ehr-cluster.example.org"
TENANT = "hospital-north"
#: One salt for every instance (the compose file's IGCDS_PATIENT_HASH_SALT).
SALT = "cluster-test-salt-" + "0123456789abcdef" * 2


@dataclass
class Instance:
    name: str
    port: int
    root: Path
    config_path: Path
    log_path: Path
    workers: int
    process: subprocess.Popen[bytes] | None = None
    #: ``cds_call`` events in its log when it was last restarted (to see it take calls again).
    served_before_restart: int = 0

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self.process = spawn_serve(self.config_path, self.port, self.log_path, workers=self.workers, threads=1)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        assert self.process is not None
        wait_until_healthy(self.process, self.url("/healthz"), self.log_path, timeout, name=self.name)

    def kill(self) -> None:
        """SIGKILL to the whole instance (master and workers): no hook, no flush, no goodbye.
        Returns once its port refuses connections: every process that held the socket is gone."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            except OSError:
                return
            time.sleep(0.01)
        raise RuntimeError(f"{self.name} still accepts connections 10 s after SIGKILL")

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def events(self, event: str) -> list[dict[str, Any]]:
        found = []
        for line in self.log_text().splitlines():
            if line.startswith("{") and f'"{event}"' in line:
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if record.get("event") == event:
                        found.append(record)
        return found


@dataclass
class Cluster:
    instances: list[Instance]
    proxy: RunningProxy
    postgres: PostgresServer
    redis: RedisServer
    key: SigningKey
    public_base_url: str

    def url(self, path: str) -> str:
        """Through the load balancer."""
        return self.proxy.url(path)

    def token(self, path: str) -> str:
        """A fresh client JWT for ``path`` (aud: the public URL, whichever instance answers)."""
        return mint(self.key, iss=ISSUER, aud=self.public_base_url + path, tenant=TENANT)

    def headers(self, path: str) -> dict[str, str]:
        return bearer(self.token(path))


def instance_config(*, public_base_url: str, data_dir: Path, storage_url: str, redis_url: str,
                    jwks_file: Path, workers: int) -> dict[str, Any]:
    return {
        "server": {"public_base_url": public_base_url, "data_dir": str(data_dir), "behind_proxy": True,
                   "workers": workers, "threads": 1},
        "auth": {"replay_store": redis_url},
        "storage": {"url": storage_url, "patient_hash_salt": SALT, "audit_flush_ms": 200},
        "logging": {"level": "INFO", "json": True},
        "clients": [{"issuer": ISSUER, "jwks_file": str(jwks_file), "tenant": TENANT}],
    }


@contextlib.contextmanager
def cluster(*, instances: int = 2, workers: int = 2) -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="igcds-cluster-"))
    started: list[Any] = []
    try:
        with ThreadPoolExecutor(2) as pool:  # the two servers start at once
            postgres_future, redis_future = pool.submit(start_postgres), pool.submit(start_redis)
            postgres, redis_server = postgres_future.result(), redis_future.result()
        started += [postgres.stop, redis_server.remove]
        key = new_key("ES384", kid="cluster-es384")
        jwks_file = root / "client-jwks.json"
        jwks_file.write_text(json.dumps(jwks(key)))
        lb_port = free_port()
        public_base_url = f"http://127.0.0.1:{lb_port}"
        members: list[Instance] = []
        for i in range(1, instances + 1):
            home = root / f"igcds-{i}"
            (home / "data").mkdir(parents=True)
            config = instance_config(public_base_url=public_base_url, data_dir=home / "data",
                                     storage_url=postgres.url, redis_url=redis_server.url,
                                     jwks_file=jwks_file, workers=workers)
            members.append(Instance(f"igcds-{i}", free_port(), home, write_toml(config, home / "igcds.toml"),
                                    home / "server.log", workers))
        for member in members:  # all at once: they migrate the shared database under its lock
            member.start()
            started.append(member.stop)
        for member in members:
            member.wait_healthy()
        with haproxy([("127.0.0.1", m.port) for m in members], maxconn_per_server=workers, port=lb_port) as proxy:
            yield Cluster(members, proxy, postgres, redis_server, key, public_base_url)
    finally:
        def quietly(stop: Any) -> None:
            with contextlib.suppress(Exception):
                stop()

        with ThreadPoolExecutor(max(1, len(started))) as pool:  # every part at once: a faster teardown
            list(pool.map(quietly, started))
        shutil.rmtree(root, ignore_errors=True)


def metric_total(text: str, name: str) -> float:
    """The sum of every sample of ``name`` in a Prometheus text exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def scrape(cluster: Cluster, instance: Instance) -> str:
    response = requests.get(instance.url("/metrics"), headers=cluster.headers("/metrics"), timeout=10)
    response.raise_for_status()
    return response.text
