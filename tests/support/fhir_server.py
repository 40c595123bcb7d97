"""A real FHIR R4 server for integration tests: sekmet-fhir 0.1.1 on 127.0.0.1.

sekmet lives in its own venv, ``.venv-fhir`` at the repository root (``scripts/venv-fhir.sh``,
``make venv-fhir``; ``make test`` creates it). Each server gets a temporary directory holding its
settings file, SQLite database and log, and is started with::

    .venv-fhir/bin/sekmet serve --config DIR/settings.yaml --host 127.0.0.1 --port N

Settings that matter (checked in sekmet's ``config.py``, ``fhir/service.py``, ``auth/server.py``):

* ``simulator.enabled: false`` — otherwise sekmet's order simulator rewrites stored
  MedicationRequests/ServiceRequests about 2 s after they are written;
* ``validation.inbound: warn`` — store what the fixture says; structural problems do not reject
  the write. They are not in the transaction response either, unless the request says
  ``Prefer: return=OperationOutcome`` (then each entry carries an OperationOutcome of its
  issues), which :meth:`FhirServer.load` uses to fail on any error;
* ``server_auth`` — ``types: [none]`` by default; ``[bearer]`` with static ``tokens`` protects
  every call except ``GET /metadata``;
* ``log_inbound: false`` — no traffic log in the database;
* the environment variables ``SEKMET_DB``, ``SEKMET_BASE_URL``, ``SEKMET_PUBLIC_URL`` and
  ``SEKMET_PORT`` override the file, so they are removed from the server's environment.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from .fixtures import REPO_ROOT, load_patient_bundle

VENV_FHIR = REPO_ROOT / ".venv-fhir"
SEKMET = VENV_FHIR / "bin" / "sekmet"
START_TIMEOUT_S = 30.0
_OVERRIDING_ENV = ("SEKMET_DB", "SEKMET_BASE_URL", "SEKMET_PUBLIC_URL", "SEKMET_PORT", "SEKMET_CONFIG")


class FhirServerError(RuntimeError):
    """The FHIR server could not be started or refused a fixture."""


def sekmet_executable() -> Path:
    """Path of the ``sekmet`` command; fails (never skips) when the venv is missing."""
    if not os.access(SEKMET, os.X_OK):
        raise FhirServerError(
            f"sekmet-fhir is not installed at {SEKMET.relative_to(REPO_ROOT)}: "
            "run make test (it creates .venv-fhir), or make venv-fhir / bash scripts/venv-fhir.sh"
        )
    return SEKMET


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _yaml(settings: dict[str, Any]) -> str:
    # JSON is valid YAML 1.2 and sekmet reads the file with yaml.safe_load; no PyYAML needed here.
    return json.dumps(settings, indent=2) + "\n"


def settings_for(workdir: Path, port: int, token: str | None = None) -> dict[str, Any]:
    """The sekmet settings of a test server (see the module docstring)."""
    return {
        "base_url": f"http://127.0.0.1:{port}/fhir",
        "host": "127.0.0.1",
        "port": port,
        "data_dir": str(workdir / "data"),
        "db_path": str(workdir / "data" / "sekmet.db"),
        "own_private_key_path": str(workdir / "keys" / "sekmet_private.pem"),
        "log_inbound": False,
        "simulator": {"enabled": False},
        "validation": {"inbound": "warn"},
        "server_auth": {"types": ["bearer"], "tokens": [token]} if token else {"types": ["none"]},
    }


@dataclass
class FhirServer:
    """A running sekmet server. ``base_url`` is ``http://127.0.0.1:N/fhir``."""

    base_url: str
    workdir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    #: Static bearer token the server requires, or ``None`` when it is open.
    token: str | None = None
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def __post_init__(self) -> None:
        self.session.headers["Accept"] = "application/fhir+json"
        if self.token:
            self.session.headers["Authorization"] = f"Bearer {self.token}"

    # -- HTTP -------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        """Absolute URL of ``path`` (``Patient/x``, ``Observation?code=...``) or ``path`` itself."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.get(self.url(path), **kwargs)

    def get_json(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """GET and decode; raises :class:`FhirServerError` on a non-200 answer."""
        response = self.get(path, **kwargs)
        if response.status_code != 200:
            raise FhirServerError(f"GET {path} -> {response.status_code}: {response.text[:500]}")
        return response.json()

    # -- data -------------------------------------------------------------------------------
    def load(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """POST a transaction Bundle; assert 200 and no error in any entry. Returns the response."""
        response = self.session.post(
            self.base_url,
            data=json.dumps(bundle),
            headers={"Content-Type": "application/fhir+json", "Prefer": "return=OperationOutcome"},
            timeout=30,
        )
        if response.status_code != 200:
            raise FhirServerError(f"transaction -> {response.status_code}: {response.text[:2000]}")
        body = response.json()
        if body.get("type") != "transaction-response":
            raise FhirServerError(f"transaction answered with a {body.get('type')!r} Bundle")
        problems = []
        for request_entry, entry in zip(bundle.get("entry") or [], body.get("entry") or [], strict=True):
            where = f"{request_entry['request']['method']} {request_entry['request']['url']}"
            status = entry.get("response", {}).get("status", "")
            if not status.startswith(("200", "201")):
                problems.append(f"{where}: {status}")
            outcome = entry.get("resource") or entry.get("response", {}).get("outcome") or {}
            for issue in outcome.get("issue") or []:
                if issue.get("severity") in ("error", "fatal"):
                    problems.append(f"{where}: {issue.get('diagnostics')}")
        if problems:
            raise FhirServerError("transaction reported problems:\n  " + "\n  ".join(problems))
        return body

    def load_fixture(self, slug: str, now: datetime) -> dict[str, Any]:
        """Expand ``fixtures/patients/<slug>.json`` with ``now`` and load it; returns the expanded Bundle."""
        bundle = load_patient_bundle(slug, now)
        self.load(bundle)
        return bundle

    # -- lifecycle --------------------------------------------------------------------------
    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 5 s). Idempotent."""
        self.session.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_fhir_server(workdir: Path, *, token: str | None = None, timeout: float = START_TIMEOUT_S,
                      attempts: int = 3) -> FhirServer:
    """Start sekmet in ``workdir`` on a free loopback port and wait until ``/fhir/metadata`` answers.

    Retries on another port when the chosen one was taken in between; raises
    :class:`FhirServerError` with the log tail when the server does not come up.
    """
    executable = sekmet_executable()
    last_error = ""
    for attempt in range(1, attempts + 1):
        run_dir = workdir / f"run{attempt}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        (run_dir / "data").mkdir(parents=True)
        port = free_port()
        config = run_dir / "settings.yaml"
        config.write_text(_yaml(settings_for(run_dir, port, token)))
        log_path = run_dir / "sekmet.log"
        env = {k: v for k, v in os.environ.items() if k not in _OVERRIDING_ENV}
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(executable), "serve", "--config", str(config),
                 "--host", "127.0.0.1", "--port", str(port)],
                cwd=run_dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = FhirServer(f"http://127.0.0.1:{port}/fhir", run_dir, process, log_path, token)
        atexit.register(server.stop)
        if _wait_ready(server, timeout):
            return server
        server.stop()
        last_error = server.log_tail()
        if "address already in use" not in last_error.lower():
            break
    raise FhirServerError(
        f"sekmet did not answer /fhir/metadata within {timeout:.0f} s; log tail:\n{last_error}")


def _wait_ready(server: FhirServer, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    probe = requests.Session()
    try:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                return False
            try:
                if probe.get(f"{server.base_url}/metadata", timeout=1).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.1)
        return False
    finally:
        probe.close()
