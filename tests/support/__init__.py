"""Test helpers shared by the suites. Among them:

* :mod:`tests.support.fhir_server` — start/stop a sekmet-fhir server on 127.0.0.1 and load fixtures.
* :mod:`tests.support.postgres` — start/stop a throw-away PostgreSQL 15 cluster on 127.0.0.1.
* :mod:`tests.support.fixtures` — fixture paths, relative-date expansion, prefetch built like the
  FHIR server answers the service's templates.

The pytest fixtures built on them live in ``tests/conftest.py``.
"""
