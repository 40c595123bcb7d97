"""The ``[app]`` section: safe when off, complete when on, strict about where it may sign in."""

from __future__ import annotations

import pytest

from cds_service.errors import ConfigError
from hooks.app import load
from hooks.companion.settings import READ_TYPES, AppSettings


def test_the_app_is_off_by_default_and_needs_nothing_then():
    settings = load().section("app")
    assert settings == AppSettings() and not settings.enabled


@pytest.mark.parametrize("values, problem", [
    ({"enabled": True, "fhir_servers": ["https://ehr.example.org/fhir"]}, "app.client_id"),
    ({"enabled": True, "client_id": "igcds"}, "app.fhir_servers"),
    ({"fhir_servers": ["http://ehr.example.org/fhir"]}, "must use https"),
    ({"fhir_servers": ["ehr.example.org/fhir"]}, "absolute"),
    ({"session_lifetime_s": 10}, "app.session_lifetime_s"),
    ({"cookie_samesite": "Sometimes"}, "app.cookie_samesite"),
    ({"unknown_key": 1}, "unknown key 'unknown_key'"),
])
def test_a_bad_app_section_stops_start_up_naming_the_key(values, problem):
    with pytest.raises(ConfigError, match=problem):
        load(overrides={"app": values})


def test_iss_is_compared_without_a_trailing_slash():
    settings = AppSettings(fhir_servers=("https://ehr.example.org/fhir/",))
    assert settings.allows("https://ehr.example.org/fhir") and settings.allows("https://ehr.example.org/fhir/")
    assert not settings.allows("https://ehr.example.org/fhir2") and not settings.allows("https://evil.example/fhir")


def test_scopes_are_patient_level_reads_of_exactly_what_the_app_reads():
    ehr = AppSettings().scopes(standalone=False).split()
    assert ehr[0] == "launch" and ehr[1:] == [f"patient/{t}.rs" for t in READ_TYPES]
    assert AppSettings().scopes(standalone=True).split()[0] == "launch/patient"
    assert AppSettings(smart_v1_scopes=True).scopes(False).split()[1] == "patient/Patient.read"


def test_the_launch_and_redirect_urls_follow_the_public_base_url_unless_set():
    settings = AppSettings().with_base_url("https://cds.example.org/")
    assert settings.launch_url == "https://cds.example.org/app/launch"
    assert settings.redirect_uri == "https://cds.example.org/app/callback"
    proxied = AppSettings(launch_url="https://apps.example.org/igcds/app/launch").with_base_url("https://x")
    assert proxied.redirect_uri == "https://apps.example.org/igcds/app/callback"
