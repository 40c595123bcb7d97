"""Session-wide fixtures: the real FHIR server, PostgreSQL, fixture files with relative dates.

Real components are started once per session, on 127.0.0.1 only, and stopped at its end. They are
never skipped: when one cannot start, the tests that need it fail with the reason and the log tail.

=========================  ==================================================================
fixture (session scope)    what it gives
=========================  ==================================================================
``fixture_now``            the UTC instant (seconds) every fixture's ``@now``/``@today`` expand to
``fhir_server``            :class:`tests.support.fhir_server.FhirServer`: ``base_url``,
                           ``get``/``get_json``, ``load(bundle)``, ``load_fixture(slug, now)``
``loaded_fixtures``        :class:`LoadedFixtures`: every ``fixtures/patients`` bundle loaded
                           into ``fhir_server`` (expanded with ``fixture_now``)
``fhir_server_bearer``     a second server requiring ``Authorization: Bearer <.token>`` (started
                           only when a test asks for it; empty)
``postgres_server``        :class:`tests.support.postgres.PostgresServer` (``url``,
                           ``admin_url``, ``conninfo()``)
``postgres_url``           ``postgresql+psycopg://postgres@127.0.0.1:PORT/igcds_test``
``redis_server``           :class:`tests.support.redis.RedisServer` (``url``, ``stop()``,
                           ``start()``): Debian's redis-server, the replay store of several
                           instances
``cds_request``            ``cds_request(service_id, scenario)``: a committed request from
                           ``fixtures/requests``, expanded with ``fixture_now`` (function scope)
=========================  ==================================================================
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # make ``tests.support`` importable however pytest is started
    sys.path.insert(0, str(_ROOT))

from tests.support.fhir_server import FhirServer, start_fhir_server  # noqa: E402
from tests.support.fixtures import load_request, patient_slugs, utc_now  # noqa: E402
from tests.support.postgres import PostgresServer, start_postgres  # noqa: E402
from tests.support.redis import RedisServer, start_redis  # noqa: E402


@dataclass(frozen=True)
class LoadedFixtures:
    """The patient fixtures as loaded into the session's FHIR server."""

    server: FhirServer
    now: datetime
    #: slug -> the expanded transaction Bundle that was loaded
    bundles: dict[str, dict[str, Any]]
    #: ``time.monotonic()`` when loading finished (sekmet's simulator would act ~2 s later)
    loaded_at: float

    @property
    def slugs(self) -> list[str]:
        return sorted(self.bundles)


@pytest.fixture(scope="session")
def fixture_now() -> datetime:
    return utc_now()


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirServer]:
    server = start_fhir_server(tmp_path_factory.mktemp("sekmet"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def loaded_fixtures(fhir_server: FhirServer, fixture_now: datetime) -> LoadedFixtures:
    bundles = {slug: fhir_server.load_fixture(slug, fixture_now) for slug in patient_slugs()}
    return LoadedFixtures(fhir_server, fixture_now, bundles, time.monotonic())


@pytest.fixture(scope="session")
def fhir_server_bearer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirServer]:
    from tests.support.log_hygiene import register_secret

    token = register_secret("sekmet bearer token", secrets.token_urlsafe(32))
    server = start_fhir_server(tmp_path_factory.mktemp("sekmet-bearer"), token=token)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = start_redis()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def cds_request(fixture_now: datetime) -> Callable[[str, str], dict[str, Any]]:
    def make(service_id: str, scenario: str) -> dict[str, Any]:
        return load_request(service_id, scenario, fixture_now)

    return make


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Log hygiene over the whole suite: no JWT, bearer credential, registered token or fixture
    patient id in the log of any igcds server the tests started. A leak fails the session."""
    from tests.support.fixtures import load_patient_bundle
    from tests.support.igcds_server import SERVER_LOGS
    from tests.support.log_hygiene import scan_suite_logs

    logs = {f"{path.parent.name}/{path.name}": path.read_text(encoding="utf-8", errors="replace")
            for path in SERVER_LOGS if path.exists()}
    if not logs:
        return
    patient_ids = {
        entry["resource"]["id"]
        for slug in patient_slugs()
        for entry in load_patient_bundle(slug).get("entry", [])
        if entry.get("resource", {}).get("resourceType") == "Patient"
    }
    problems = scan_suite_logs(logs, patient_ids)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if problems:
        if reporter is not None:
            reporter.write_line(f"LOG HYGIENE: {len(problems)} leak(s) in igcds server logs:", red=True)
            for problem in problems[:50]:
                reporter.write_line(f"  {problem}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None:
        reporter.write_line(f"log hygiene: {len(logs)} igcds server logs scanned, no token and no patient id")
