"""``/cds-services/`` and ``/cds-services/{id}/`` are served like the paths without the slash (integrators
add one), and the JWT ``aud`` must equal the URL as called, still under ``public_base_url``."""

from __future__ import annotations

import pytest

from tests.cds_service.test_auth import BASE, ES, ISS, make_config, toy_app
from tests.support.jwt_tokens import bearer, mint

BODY = {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/1", "patientId": "p-1"}, "prefetch": {"patient": None}}


@pytest.mark.parametrize(("method", "path"), [("get", "/cds-services/"), ("post", "/cds-services/toy/")])
def test_a_trailing_slash_is_served_with_the_audience_as_called(tmp_path, method: str, path: str) -> None:
    client = toy_app(make_config(tmp_path)).test_client()
    response = getattr(client, method)(path, headers=bearer(mint(ES, iss=ISS, aud=BASE + path)), json=BODY)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == ({"cards": []} if method == "post" else client.get(
        path.rstrip("/"), headers=bearer(mint(ES, iss=ISS, aud=BASE + path.rstrip("/")))).get_json())


@pytest.mark.parametrize(("method", "path"), [("get", "/cds-services/"), ("post", "/cds-services/toy/")])
def test_the_audience_must_be_the_url_as_called(tmp_path, method: str, path: str) -> None:
    client = toy_app(make_config(tmp_path)).test_client()
    for aud in (BASE + path.rstrip("/"), "https://elsewhere.example" + path, BASE + path + "/"):
        response = getattr(client, method)(path, headers=bearer(mint(ES, iss=ISS, aud=aud)), json=BODY)
        assert response.status_code == 401, aud
    without = path.rstrip("/")
    response = getattr(client, method)(without, headers=bearer(mint(ES, iss=ISS, aud=BASE + path)), json=BODY)
    assert response.status_code == 401, "the slashed audience does not open the path without it"


def test_a_trailing_slash_is_not_redirected_and_feedback_keeps_its_path(tmp_path) -> None:
    client = toy_app(make_config(tmp_path)).test_client()
    path = "/cds-services/toy/"
    response = client.post(path, headers=bearer(mint(ES, iss=ISS, aud=BASE + path)), json=BODY)
    assert response.status_code == 200 and "Location" not in response.headers
    feedback = "/cds-services/toy/feedback"
    assert client.post(feedback, headers=bearer(mint(ES, iss=ISS, aud=BASE + feedback)),
                       json={"feedback": []}).status_code != 404
