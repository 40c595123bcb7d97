"""The suite-wide log scan (tests/conftest.py ``pytest_sessionfinish``) finds what it must."""

from __future__ import annotations

from tests.support.log_hygiene import SUITE_SECRETS, register_secret, scan_suite_logs


def test_scan_finds_jwts_bearer_credentials_tokens_and_patient_ids():
    jwt_like = "eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJodHRwczovL2VociJ9.c2lnbmF0dXJl"
    register_secret("test access token", "access-token-xyz-123")
    try:
        logs = {
            "clean.log": '{"event": "cds_call", "service": "ig-order-select", "cards": ["order-anti-cd20-hbv"]}',
            "leaky.log": "\n".join([
                f'{{"msg": "got {jwt_like}"}}',
                '{"msg": "Authorization: Bearer abcdefghijklmnop"}',
                '{"msg": "token access-token-xyz-123"}',
                '{"msg": "patient higm-xl-adult"}',
            ]),
        }
        problems = scan_suite_logs(logs, ["higm-xl-adult", "anti-cd20-hbv"])
    finally:
        SUITE_SECRETS.pop("test access token")
    assert not [p for p in problems if p.startswith("clean.log")]
    text = "\n".join(problems)
    assert "leaky.log:1: something shaped like a JWT" in text
    assert "leaky.log:2: a bearer credential" in text
    assert "test access token (log line 3)" in text
    assert "patient id higm-xl-adult (log line 4)" in text
