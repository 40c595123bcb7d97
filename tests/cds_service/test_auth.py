"""JWT verification (docs/conformance.md §6.1 J1-J13), the client registry and JWKS caching, in-process.

The same refusals are proven over real HTTP against gunicorn in
tests/integration/test_security_http.py; here each check is isolated and fast.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Any

import pytest

from cds_service import ConfigError, Prefetch, ServiceDefinition, create_app, load_config
from cds_service.auth import AuthContext, Authenticator, build_authenticator, validate_auth_config
from cds_service.bounded_http import Answer, ExchangeError
from cds_service.errors import Unauthorized
from cds_service.jwks import JwksError, KeyStore, key_for, parse_jwks
from cds_service.pipeline import fhir_server_allowed
from tests.support.jwt_tokens import bearer, hs256_with_public_key, jwks, mint, new_key, unsigned

ISS = "https://ehr.example.org"
OTHER_ISS = "https://other-ehr.example.org"
BASE = "https://cds.example.org"
AUD = BASE + "/cds-services/toy"

ES = new_key("ES384", kid="es-1")
RS = new_key("RS384", kid="rs-1")
ES_IMPOSTOR = new_key("ES384", kid="es-1")  # same kid, different key
ES256 = new_key("ES256", kid="es256-1")


def make_config(tmp_path, clients=None, **auth: Any):
    jwks_file = tmp_path / "jwks.json"
    if not jwks_file.exists():
        jwks_file.write_text(json.dumps(jwks(ES, RS, ES256)))
    if clients is None:
        clients = [{"issuer": ISS, "jwks_file": str(jwks_file), "fhir_servers": ["https://fhir.example.org/r4"],
                    "jku_allowlist": ["https://ehr.example.org/jwks.json"]}]
    overrides: dict[str, Any] = {"server": {"public_base_url": BASE, "data_dir": str(tmp_path / "data")},
                                 "clients": clients}
    if auth:
        overrides["auth"] = auth
    return load_config(None, environ={}, overrides=overrides)


@pytest.fixture
def authn(tmp_path):
    return build_authenticator(make_config(tmp_path))


def refused(authn: Authenticator, token: str, aud: str = AUD) -> str:
    with pytest.raises(Unauthorized) as info:
        authn.verify(token, aud)
    assert info.value.to_dict() == {"error": "unauthorized"}  # bare body (J12)
    return info.value.message


# Accepted ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", [ES, RS], ids=["ES384", "RS384"])
def test_valid_token_is_accepted_and_names_the_client(authn, key):
    context = authn.verify(mint(key, iss=ISS, aud=AUD), AUD)
    assert context == AuthContext(issuer=ISS, fhir_servers=("https://fhir.example.org/r4",), tenant=None)


def test_aud_may_be_an_array_containing_the_endpoint(authn):
    assert authn.verify(mint(ES, iss=ISS, aud=[AUD]), AUD).issuer == ISS
    assert authn.verify(mint(ES, iss=ISS, aud=["https://elsewhere.example", AUD]), AUD).issuer == ISS


def test_no_sub_claim_is_required_and_tenant_is_optional(authn):
    assert authn.verify(mint(ES, iss=ISS, aud=AUD, sub=None, tenant="t-1"), AUD).tenant == "t-1"


def test_clock_skew_within_leeway_is_tolerated(authn):
    now = int(time.time())
    assert authn.verify(mint(ES, iss=ISS, aud=AUD, iat=now + 20, exp=now + 200), AUD)
    assert authn.verify(mint(ES, iss=ISS, aud=AUD, iat=now - 300, exp=now - 20), AUD)


def test_lowercase_typ_and_bearer_scheme_are_accepted(tmp_path):
    app = toy_app(make_config(tmp_path))
    token = mint(ES, iss=ISS, aud=BASE + "/cds-services", typ="jwt")
    assert app.test_client().get("/cds-services", headers={"Authorization": f"bearer {token}"}).status_code == 200


# Refused -----------------------------------------------------------------------------------------

def test_alg_none_is_refused(authn):
    assert "alg 'none'" in refused(authn, unsigned(ES, iss=ISS, aud=AUD))


def test_hs256_signed_with_the_public_key_is_refused(authn):
    assert "alg 'HS256'" in refused(authn, hs256_with_public_key(ES, iss=ISS, aud=AUD))
    assert "alg 'HS256'" in refused(authn, hs256_with_public_key(RS, iss=ISS, aud=AUD))


def test_algorithm_outside_the_allowlist_is_refused_even_with_a_good_signature(authn):
    assert "alg 'ES256'" in refused(authn, mint(ES256, iss=ISS, aud=AUD))


def test_header_alg_must_fit_the_key_type(authn):
    # An RS384 header naming the EC key's kid: the EC key is never used as an RSA key.
    assert "declared for 'ES384'" in refused(authn, mint(RS, iss=ISS, aud=AUD, kid=ES.kid))
    bare_ec = {k: v for k, v in ES.public_jwk.items() if k != "alg"}
    with pytest.raises(JwksError, match="cannot verify RS384"):
        key_for(bare_ec, "RS384")


@pytest.mark.parametrize("change, reason", [
    ({"kid": None}, "kid header missing"),
    ({"kid": ""}, "kid header missing"),
    ({"typ": None}, "typ"),
    ({"typ": "at+jwt"}, "typ"),
    ({"header": {"crit": ["exp"]}}, "crit"),
])
def test_header_fields_are_required(authn, change, reason):
    assert reason in refused(authn, mint(ES, iss=ISS, aud=AUD, **change))


def test_unknown_kid_is_refused(authn):
    assert "unknown kid" in refused(authn, mint(new_key("ES384", kid="nobody"), iss=ISS, aud=AUD))


def test_right_kid_wrong_key_is_refused(authn):
    assert "InvalidSignatureError" in refused(authn, mint(ES_IMPOSTOR, iss=ISS, aud=AUD))


def test_tampered_payload_is_refused(authn):
    header, _, signature = mint(ES, iss=ISS, aud=AUD).split(".")
    other_payload = mint(ES, iss=ISS, aud=AUD).split(".")[1]
    assert "InvalidSignatureError" in refused(authn, f"{header}.{other_payload}.{signature}")


def test_unknown_issuer_is_refused(authn):
    assert "is not a configured client" in refused(authn, mint(ES, iss=OTHER_ISS, aud=AUD))
    assert "is not a configured client" in refused(authn, mint(ES, iss=None, aud=AUD))


@pytest.mark.parametrize("aud", [
    BASE + "/cds-services/other",  # another service
    BASE + "/cds-services",  # discovery
    AUD + "/feedback",
    AUD + "/",
    "http://cds.example.org/cds-services/toy",
    [BASE + "/cds-services/other"],
    [],
])
def test_wrong_audience_is_refused(authn, aud):
    refused(authn, mint(ES, iss=ISS, aud=aud))


@pytest.mark.parametrize("claim", ["aud", "exp", "iat", "jti", "iss"])
def test_required_claims(authn, claim):
    refused(authn, mint(ES, **{"iss": ISS, "aud": AUD, claim: None}))


def test_expired_token_is_refused(authn):
    now = int(time.time())
    assert "ExpiredSignatureError" in refused(authn, mint(ES, iss=ISS, aud=AUD, iat=now - 600, exp=now - 60))


def test_iat_in_the_future_is_refused(authn):
    now = int(time.time())
    assert "iat" in refused(authn, mint(ES, iss=ISS, aud=AUD, iat=now + 120, exp=now + 300))


def test_nbf_in_the_future_is_refused(authn):
    assert "nbf" in refused(authn, mint(ES, iss=ISS, aud=AUD, nbf=int(time.time()) + 120))


def test_lifetime_longer_than_the_maximum_is_refused(tmp_path):
    authn = build_authenticator(make_config(tmp_path, max_token_lifetime_s=600))
    assert authn.verify(mint(ES, iss=ISS, aud=AUD, lifetime=600), AUD)
    assert "lifetime" in refused(authn, mint(ES, iss=ISS, aud=AUD, lifetime=601))


@pytest.mark.parametrize("jti", ["", 42, ["a"], "x" * 257])
def test_jti_must_be_a_reasonable_string(authn, jti):
    refused(authn, mint(ES, iss=ISS, aud=AUD, jti=jti))


@pytest.mark.parametrize("exp", ["9999999999", True, 1.5e20])
def test_non_numeric_time_claims_are_refused(authn, exp):
    refused(authn, mint(ES, iss=ISS, aud=AUD, exp=exp))


def test_replayed_jti_is_refused_but_a_refused_token_does_not_use_it_up(authn):
    token = mint(ES, iss=ISS, aud=AUD, jti="once-only")
    refused(authn, mint(ES, iss=ISS, aud=AUD + "x", jti="once-only"))  # refused before the replay check
    assert authn.verify(token, AUD)
    message = refused(authn, token)
    assert "jti replayed" in message and "'once-only'" in message
    assert "jti replayed" in refused(authn, mint(ES, iss=ISS, aud=AUD, jti="once-only"))


def test_replay_store_is_shared_between_authenticators_of_one_data_dir(tmp_path):
    config = make_config(tmp_path)
    first, second = build_authenticator(config), build_authenticator(config)
    token = mint(ES, iss=ISS, aud=AUD)
    assert first.verify(token, AUD)
    assert "jti replayed" in refused(second, token)


def test_same_jti_from_two_issuers_is_not_a_replay(tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps(jwks(RS)))
    config = make_config(tmp_path, clients=[
        {"issuer": ISS, "jwks_file": str(other)}, {"issuer": OTHER_ISS, "jwks_file": str(other)}])
    authn = build_authenticator(config)
    assert authn.verify(mint(RS, iss=ISS, aud=AUD, jti="same"), AUD)
    assert authn.verify(mint(RS, iss=OTHER_ISS, aud=AUD, jti="same"), AUD)


def test_tenant_is_checked_when_configured(tmp_path):
    path = tmp_path / "k.json"
    path.write_text(json.dumps(jwks(ES)))
    authn = build_authenticator(make_config(tmp_path, clients=[
        {"issuer": ISS, "jwks_file": str(path), "tenant": "hospital-a"}]))
    assert authn.verify(mint(ES, iss=ISS, aud=AUD, tenant="hospital-a"), AUD).tenant == "hospital-a"
    assert "tenant" in refused(authn, mint(ES, iss=ISS, aud=AUD, tenant="hospital-b"))
    assert "tenant" in refused(authn, mint(ES, iss=ISS, aud=AUD))


def test_jku_not_on_the_allowlist_is_refused_without_fetching(tmp_path):
    fetched: list[str] = []
    keys = KeyStore(http_get=FakeHttp(fetched, {}))
    authn = Authenticator(make_config(tmp_path), keys=keys)
    validate_auth_config(authn.config)
    message = refused(authn, mint(ES, iss=ISS, aud=AUD, jku="https://attacker.example/jwks.json"))
    assert "jku_allowlist" in message
    refused(authn, mint(ES, iss=ISS, aud=AUD, jku="https://ehr.example.org/jwks.json/"))  # not exact
    refused(authn, mint(ES, iss=ISS, aud=AUD, header={"jku": ["https://ehr.example.org/jwks.json"]}))
    assert fetched == []


def test_allowlisted_jku_is_fetched_and_used(tmp_path):
    fetched: list[str] = []
    jku = "https://ehr.example.org/jwks.json"
    new = new_key("ES384", kid="jku-key")
    keys = KeyStore(http_get=FakeHttp(fetched, {jku: jwks(new)}))
    authn = Authenticator(make_config(tmp_path), keys=keys)
    assert authn.verify(mint(new, iss=ISS, aud=AUD, jku=jku), AUD).issuer == ISS
    assert fetched == [jku]
    # A kid of the configured set is found there first, without a fetch (the sandbox's jku host may
    # be unreachable while its key is registered out of band).
    assert authn.verify(mint(ES, iss=ISS, aud=AUD, jku=jku), AUD)
    assert fetched == [jku]
    assert "unknown kid in the client's jwks_file or jku" in refused(
        authn, mint(new_key("ES384", kid="nowhere"), iss=ISS, aud=AUD, jku=jku))


def test_malformed_tokens_are_refused(authn):
    for token in ["", "abc", "a.b", "a.b.c.d", "e30.e30.", "!!.!!.!!", "x" * 9000,
                  mint(ES, iss=ISS, aud=AUD) + " trailing"]:
        with pytest.raises(Unauthorized):
            authn.verify(token, AUD)


def test_refusal_reasons_never_contain_the_token(authn, caplog):
    tokens = [mint(ES_IMPOSTOR, iss=ISS, aud=AUD), mint(ES, iss=ISS, aud="https://x"), unsigned(ES, iss=ISS, aud=AUD),
              mint(ES, iss=ISS, aud=AUD, exp=1, iat=0)]
    for token in tokens:
        message = refused(authn, token)
        for part in token.split("."):
            if part:
                assert part not in message


# Over HTTP (Flask test client) -------------------------------------------------------------------

def toy_app(config, authenticator=None):
    service = ServiceDefinition(
        id="toy", hook="patient-view", title="Toy", description="Answers nothing.",
        handler=lambda request: [], prefetch={"patient": Prefetch("Patient/{{context.patientId}}", required=False)},
    )
    return create_app(config, [service], authenticator=authenticator)


@pytest.mark.parametrize("method, path", [
    ("get", "/cds-services"), ("post", "/cds-services/toy"), ("post", "/cds-services/toy/feedback"),
    ("get", "/rules"),
])
def test_every_cds_endpoint_needs_a_token_and_answers_a_bare_401(tmp_path, method, path, caplog):
    client = toy_app(make_config(tmp_path)).test_client()
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"},
                    bearer("not.a.jwt"), bearer(mint(ES, iss=ISS, aud=BASE + "/elsewhere"))):
        with caplog.at_level(logging.WARNING, logger="igcds"):
            response = getattr(client, method)(path, headers=headers, json={})
        assert response.status_code == 401
        assert response.get_json() == {"error": "unauthorized"}
    assert "authentication failed" in caplog.text


@pytest.mark.parametrize("method, path", [
    ("get", "/cds-services"), ("post", "/cds-services/toy"), ("post", "/cds-services/toy/feedback"),
    ("get", "/rules"),
])
def test_each_endpoint_checks_its_own_audience(tmp_path, method, path):
    client = toy_app(make_config(tmp_path)).test_client()
    body = {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"userId": "Practitioner/1", "patientId": "p-1"}, "prefetch": {"patient": None}}
    if path.endswith("feedback"):
        body = {"feedback": []}
    good = getattr(client, method)(path, headers=bearer(mint(ES, iss=ISS, aud=BASE + path)), json=body)
    assert good.status_code != 401, good.get_json()
    others = {"/cds-services", "/cds-services/toy", "/cds-services/toy/feedback", "/rules"} - {path}
    for other in others:
        response = getattr(client, method)(path, headers=bearer(mint(ES, iss=ISS, aud=BASE + other)), json=body)
        assert response.status_code == 401


def test_only_health_is_open_unless_the_operator_opens_metrics(tmp_path):
    client = toy_app(make_config(tmp_path)).test_client()
    for path in ("/healthz", "/readyz"):
        assert client.get(path).status_code == 200, path
    for path in ("/metrics", "/openapi.json"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=bearer(mint(ES, iss=ISS, aud=BASE + path))).status_code == 200, path
    config = make_config(tmp_path)
    opened = toy_app(config.with_changes(
        server=dataclasses.replace(config.server, open_endpoints=("/metrics",)))).test_client()
    assert opened.get("/metrics").status_code == 200
    assert opened.get("/openapi.json").status_code == 401


def test_readiness_reports_clients_without_secrets(tmp_path):
    authn = build_authenticator(make_config(tmp_path, replay_store="sqlite"))
    assert authn.readiness() == {"ok": True, "dev_mode": False, "clients": 1, "replay_store": "sqlite"}


def test_readiness_is_not_ok_without_clients_outside_dev_mode(tmp_path):
    status = build_authenticator(make_config(tmp_path, clients=[])).readiness()
    assert status["ok"] is False and status["clients"] == 0 and "no [[clients]]" in status["reason"]
    response = toy_app(make_config(tmp_path, clients=[])).test_client().get("/readyz")
    assert response.status_code == 503


def test_dev_mode_accepts_without_a_token_and_says_so(tmp_path):
    config = make_config(tmp_path, clients=[]).with_changes(dev=True)
    authn = build_authenticator(config)
    assert authn.readiness() == {"ok": True, "dev_mode": True, "clients": 0}
    client = toy_app(config).test_client()
    assert client.get("/cds-services").status_code == 200
    assert "DEV MODE" in client.get("/readyz").get_json()["warning"]


def test_authenticated_client_is_bound_to_its_fhir_servers(authn, tmp_path):
    context = authn.verify(mint(ES, iss=ISS, aud=AUD), AUD)
    config = make_config(tmp_path)
    assert fhir_server_allowed("https://fhir.example.org/r4", context, config)
    assert fhir_server_allowed("https://fhir.example.org/r4/", context, config)
    assert not fhir_server_allowed("https://fhir.example.org/r4-other", context, config)
    assert not fhir_server_allowed("http://127.0.0.1:9/fhir", context, config)


def test_client_without_fhir_servers_may_not_name_any(tmp_path):
    path = tmp_path / "k.json"
    path.write_text(json.dumps(jwks(ES)))
    config = make_config(tmp_path, clients=[{"issuer": ISS, "jwks_file": str(path)}])
    config = config.with_changes(fhir=type(config.fhir)(allowed_servers=("https://global.example/fhir",)))
    context = build_authenticator(config).verify(mint(ES, iss=ISS, aud=AUD), AUD)
    assert context.fhir_servers == ()
    assert not fhir_server_allowed("https://global.example/fhir", context, config)


# Start-up validation -----------------------------------------------------------------------------

@pytest.mark.parametrize("algorithms, fragment", [
    (["none"], "never accepted"), (["ES384", "HS256"], "never accepted"), (["hs512"], "never accepted"),
    (["ES385"], "unknown algorithm"), ([], "at least one"),
])
def test_unsafe_algorithms_are_refused_at_start_up(tmp_path, algorithms, fragment):
    with pytest.raises(ConfigError, match=fragment):
        build_authenticator(make_config(tmp_path, algorithms=algorithms))


@pytest.mark.parametrize("client, fragment", [
    ({"issuer": ISS}, "exactly one of jwks_url and jwks_file"),
    ({"issuer": ISS, "jwks_url": "https://a.example/jwks", "jwks_file": "x.json"}, "exactly one"),
    ({"issuer": ISS, "jwks_url": "http://ehr.example.org/jwks"}, "must use https"),
    ({"issuer": ISS, "jwks_url": "ftp://ehr.example.org/jwks"}, "https URL"),
    ({"issuer": ISS, "jwks_url": "https://u:p@ehr.example.org/jwks"}, "credentials"),
    ({"issuer": ISS, "jwks_url": "https://a.example/j", "jku_allowlist": ["http://a.example/j"]}, "jku_allowlist"),
    ({"issuer": ISS, "jwks_url": "https://a.example/j", "fhir_servers": ["http://fhir.example/r4"]}, "fhir_servers"),
    ({"issuer": "", "jwks_url": "https://a.example/j"}, "issuer"),
    ({"issuer": ISS, "jwks_url": "https://a.example/j", "tenant": " "}, "tenant"),
    ({"issuer": ISS, "jwks_file": "/nonexistent/jwks.json"}, "cannot read"),
])
def test_bad_clients_are_refused_at_start_up(tmp_path, client, fragment):
    with pytest.raises(ConfigError, match=fragment):
        build_authenticator(make_config(tmp_path, clients=[client]))


def test_loopback_http_urls_are_allowed_for_local_setups(tmp_path):
    build_authenticator(make_config(tmp_path, clients=[{
        "issuer": ISS, "jwks_url": "http://127.0.0.1:9/jwks", "jku_allowlist": ["http://localhost:9/j"],
        "fhir_servers": ["http://[::1]:8080/fhir"]}]))


def test_duplicate_issuers_are_refused(tmp_path):
    client = {"issuer": ISS, "jwks_url": "https://a.example/j"}
    with pytest.raises(ConfigError, match="unique"):
        build_authenticator(make_config(tmp_path, clients=[client, dict(client)]))


def test_jwks_file_without_usable_keys_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    for document in ({"keys": []}, {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}, [1, 2],
                     {"keys": [{**ES.public_jwk, "use": "enc"}]}, {"keys": [{**ES.public_jwk, "kid": None}]}):
        path.write_text(json.dumps(document))
        with pytest.raises(ConfigError, match="bad.json"):
            build_authenticator(make_config(tmp_path, clients=[{"issuer": ISS, "jwks_file": str(path)}]))


def test_bad_replay_store_setting_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="replay_store"):
        build_authenticator(make_config(tmp_path, replay_store="memory"))


def test_config_keys_load_from_toml(tmp_path):
    path = tmp_path / "igcds.toml"
    path.write_text(f"""
[auth]
algorithms = ["ES384"]
jwks_timeout_s = 1.5
jwks_max_bytes = 4096
[[clients]]
issuer = "{ISS}"
jwks_url = "https://ehr.example.org/jwks.json"
jku_allowlist = ["https://ehr.example.org/jwks.json"]
fhir_servers = ["https://fhir.example.org/r4"]
tenant = "t1"
""")
    config = load_config(path, environ={})
    validate_auth_config(config)
    assert config.clients[0].fhir_servers == ("https://fhir.example.org/r4",)
    assert config.auth.jwks_timeout_s == 1.5 and config.auth.jwks_max_bytes == 4096


# JWKS: files, URLs, caching, rotation ------------------------------------------------------------

def test_private_key_members_are_stripped_from_a_key_pair_file(tmp_path, caplog):
    from jwt.algorithms import ECAlgorithm

    pair = json.loads(ECAlgorithm.to_jwk(ES.private_key))
    pair.update(kid=ES.kid, alg="ES384", use="sig")
    path = tmp_path / "pair.json"
    path.write_text(json.dumps({"keys": [pair]}))
    with caplog.at_level(logging.WARNING, logger="igcds"):
        authn = build_authenticator(make_config(tmp_path, clients=[{"issuer": ISS, "jwks_file": str(path)}]))
    assert "private key material" in caplog.text
    jwk = authn.keys.file_key(str(path), ES.kid)
    assert "d" not in jwk
    assert authn.verify(mint(ES, iss=ISS, aud=AUD), AUD)


def test_jwks_file_rotation_is_picked_up_on_an_unknown_kid(tmp_path):
    path = tmp_path / "rot.json"
    path.write_text(json.dumps(jwks(ES)))
    authn = build_authenticator(make_config(tmp_path, clients=[{"issuer": ISS, "jwks_file": str(path)}]))
    rotated = new_key("ES384", kid="es-2")
    refused(authn, mint(rotated, iss=ISS, aud=AUD))
    path.write_text(json.dumps(jwks(ES, rotated)))
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert authn.verify(mint(rotated, iss=ISS, aud=AUD), AUD)


class FakeHttp:
    """Serves documents by URL and records every GET (no network): stands in for ``bounded_get``, whose
    deadline handling tests/cds_service/test_jwks.py proves against a real server."""

    def __init__(self, log: list[str], documents: dict[str, Any], *, fail: bool = False) -> None:
        self.log, self.documents, self.fail = log, documents, fail

    def __call__(self, url: str, **kwargs: Any) -> Answer:
        assert kwargs["deadline"].remaining() > 0 and kwargs["timeout_s"] and kwargs["max_bytes"]
        self.log.append(url)
        if self.fail:
            raise ExchangeError("connection failed (NewConnectionError)")
        document = self.documents.get(url)
        if document is None:
            return Answer(404, {}, b"")
        if isinstance(document, int):
            return Answer(document, {}, b"")
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        if len(body) > kwargs["max_bytes"]:
            raise ExchangeError(f"response larger than {kwargs['max_bytes']} bytes")
        return Answer(200, {}, body)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


URL = "https://ehr.example.org/.well-known/jwks.json"


def keystore(documents, clock, fetched, **kwargs):
    http = FakeHttp(fetched, documents)
    return KeyStore(clock=clock, http_get=http, **kwargs), http


def test_jwks_url_is_cached_and_refreshed_on_unknown_kid_at_most_every_min_refresh():
    clock, fetched = Clock(), []
    documents = {URL: jwks(ES)}
    store, _ = keystore(documents, clock, fetched, cache_s=3600, min_refresh_s=30)
    assert store.url_key(URL, ES.kid)["kid"] == ES.kid
    assert store.url_key(URL, ES.kid) and len(fetched) == 1  # cached
    rotated = new_key("ES384", kid="es-new")
    documents[URL] = jwks(ES, rotated)
    clock.now += 10
    assert store.url_key(URL, rotated.kid) is None and len(fetched) == 1  # too soon to refetch
    assert store.url_key(URL, "made-up") is None and len(fetched) == 1
    clock.now += 21
    assert store.url_key(URL, rotated.kid)["kid"] == rotated.kid and len(fetched) == 2
    for i in range(50):  # a flood of unknown kids costs one fetch per min_refresh window
        store.url_key(URL, f"junk-{i}")
    assert len(fetched) == 2


def test_jwks_cache_expires_after_cache_s_and_removed_keys_stop_working():
    clock, fetched = Clock(), []
    documents = {URL: jwks(ES, RS)}
    store, _ = keystore(documents, clock, fetched, cache_s=100, min_refresh_s=10)
    assert store.url_key(URL, RS.kid)
    documents[URL] = jwks(ES)  # the client revoked RS
    clock.now += 99
    assert store.url_key(URL, RS.kid)
    clock.now += 2
    assert store.url_key(URL, RS.kid) is None and len(fetched) == 2


def test_failed_refresh_keeps_known_keys_and_is_throttled():
    clock, fetched = Clock(), []
    store, session = keystore({URL: jwks(ES)}, clock, fetched, cache_s=100, min_refresh_s=10)
    assert store.url_key(URL, ES.kid)
    session.fail = True
    clock.now += 200
    assert store.url_key(URL, ES.kid)  # stale but usable
    assert store.url_key(URL, ES.kid) and len(fetched) == 2  # no retry before min_refresh


def test_first_fetch_failure_is_throttled_too():
    clock, fetched = Clock(), []
    store, _ = keystore({}, clock, fetched, min_refresh_s=30)
    for _ in range(5):
        assert store.url_key(URL, ES.kid) is None
    assert len(fetched) == 1


@pytest.mark.parametrize("document", [302, 500, b"not json", b"{\"keys\": 1}", b"x" * 70_000])
def test_unusable_jwks_responses_give_no_keys(document):
    clock, fetched = Clock(), []
    store, _ = keystore({URL: document}, clock, fetched, max_bytes=65_536)
    assert store.url_key(URL, ES.kid) is None


def test_key_for_refuses_mismatched_algorithms():
    with pytest.raises(JwksError):
        key_for(ES.public_jwk, "RS384")
    with pytest.raises(JwksError):
        key_for({**ES256.public_jwk, "alg": None}, "ES384")  # P-256 key, ES384 token
    with pytest.raises(JwksError):
        key_for({k: v for k, v in RS.public_jwk.items() if k != "alg"}, "ES384")
    assert key_for({k: v for k, v in RS.public_jwk.items() if k != "alg"}, "RS384").algorithm_name == "RS384"
    keys, stripped = parse_jwks(jwks(ES, RS), where="t")
    assert set(keys) == {ES.kid, RS.kid} and stripped == 0


def test_unreachable_replay_store_fails_closed_and_makes_the_service_not_ready(tmp_path):
    from cds_service.errors import ReplayStoreUnavailable
    from cds_service.replay import RedisReplayStore

    authn = Authenticator(make_config(tmp_path), replay=RedisReplayStore("redis://127.0.0.1:1/0"))
    with pytest.raises(ReplayStoreUnavailable) as info:  # 503 + Retry-After: refused, never accepted
        authn.verify(mint(ES, iss=ISS, aud=AUD), AUD)
    assert info.value.status_code == 503 and info.value.retry_after_s > 0
    assert "127.0.0.1" not in info.value.message
    status = authn.readiness()
    assert status["ok"] is False and status["replay_store"] == "redis" and "127.0.0.1" not in str(status)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_rsa_keys_below_2048_bits_are_refused(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.support.jwt_tokens import SigningKey

    weak = SigningKey("RS384", "weak-rsa", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    path = tmp_path / "weak.json"
    path.write_text(json.dumps(jwks(weak)))
    authn = build_authenticator(make_config(tmp_path, clients=[{"issuer": ISS, "jwks_file": str(path)}]))
    assert "InvalidKeyError" in refused(authn, mint(weak, iss=ISS, aud=AUD))


@pytest.mark.parametrize("changes", [
    {"exp": float("inf")}, {"exp": float("nan")}, {"iat": float("-inf")}, {"aud": {"x": 1}}, {"aud": [1, 2]},
    {"sub": 5}, {"jti": None, "tenant": {"a": 1}}, {"nbf": "soon"}, {"iat": "0"}, {"exp": 10**30},
])
def test_odd_claim_values_in_a_validly_signed_token_are_a_401_never_a_crash(authn, changes):
    changes = {"iss": ISS, "aud": AUD, **changes}
    refused(authn, mint(ES, **changes))


@pytest.mark.parametrize("header", [{"kid": 5}, {"kid": ["es-1"]}, {"alg": ["ES384"]}, {"jku": 7}, {"typ": 1},
                                    {"crit": "x"}, {"x5u": "https://attacker.example/cert"}])
def test_odd_header_values_are_a_401(authn, header):
    import base64

    token = mint(ES, iss=ISS, aud=AUD)
    head, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    decoded.update(header)
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    refused(authn, f"{forged}.{payload}.{signature}")
