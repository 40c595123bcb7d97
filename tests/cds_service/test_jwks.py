"""JWKS fetches against a real, misbehaving loopback server: ``[auth] jwks_timeout_s`` bounds the whole fetch.

Issue 15 finding 5: the body was read with ``iter_content(16384)``, which waits for a whole chunk, so a
``jwks_url`` dripping a byte every 0.2 s held the fetch (and the client's key-set lock, so every other
call of that client) for 30 s with ``jwks_timeout_s = 2``.
"""

from __future__ import annotations

import time

import pytest

from cds_service.jwks import KeyStore
from tests.support.faulty_fhir import faulty_fhir_server
from tests.support.jwt_tokens import jwks, new_key
from tests.support.recording_server import recording_server

TIMEOUT_S = 1.0
KEY = new_key("ES384", kid="drip-test")


@pytest.mark.parametrize("mode", ["slow-drip", "header-drip", "hang"])
def test_a_dripping_jwks_url_is_given_up_within_jwks_timeout_s(mode):
    with faulty_fhir_server(mode) as server:
        store = KeyStore(timeout_s=TIMEOUT_S)
        started = time.monotonic()
        assert store.url_key(server.base_url + "/jwks.json", KEY.kid) is None
        elapsed = time.monotonic() - started
    assert elapsed <= TIMEOUT_S + 0.3, f"{mode}: the JWKS fetch took {elapsed:.2f} s"
    assert store.fetches == 1


def test_a_healthy_jwks_url_still_gives_its_keys():
    with recording_server({"/jwks.json": jwks(KEY)}) as server:
        store = KeyStore(timeout_s=TIMEOUT_S)
        assert store.url_key(server.url("/jwks.json"), KEY.kid)["kid"] == KEY.kid
        assert [s.path for s in server.seen] == ["/jwks.json"]
        assert "json" in server.seen[0].headers["Accept"]
