"""Configuration: defaults, TOML, environment overrides, and errors that name the key."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cds_service import ConfigError, load_config


@dataclass(frozen=True)
class Targets:
    higm: float = 500.0


@dataclass(frozen=True)
class AppPolicy:
    mode: str = "normal"
    targets: Targets = field(default_factory=Targets)
    rules: tuple[str, ...] = ()


SECTIONS = {"policy": AppPolicy}


def write(tmp_path, text):
    path = tmp_path / "igcds.toml"
    path.write_text(text)
    return path


def test_embedded_defaults_are_safe():
    config = load_config(None, app_sections=SECTIONS, environ={})
    assert config.fhir.timeout_s == 2.0 and config.fhir.deadline_s == 4.0
    assert config.server.max_body_bytes == 1_048_576
    assert config.auth.algorithms == ("ES384", "RS384")
    assert config.dev is False and config.clients == ()
    assert (config.storage.audit_flush_ms, config.storage.audit_queue_max) == (200, 100_000)
    assert config.storage.audit_spool_dir == "" and config.server.behind_proxy is False
    assert config.section("policy") == AppPolicy()


def test_file_values_and_clients(tmp_path):
    path = write(tmp_path, '''
[server]
public_base_url = "https://cds.example.org"
[[clients]]
issuer = "https://ehr.example.org"
jwks_url = "https://ehr.example.org/.well-known/jwks.json"
fhir_servers = ["https://fhir.example.org/r4"]
[fhir]
timeout_s = 1
[policy]
mode = "silent"
targets = { higm = 700 }
rules = ["a", "b"]
''')
    config = load_config(path, app_sections=SECTIONS, environ={})
    assert config.server.public_base_url == "https://cds.example.org"
    assert config.clients[0].fhir_servers == ("https://fhir.example.org/r4",)
    assert config.fhir.timeout_s == 1.0
    assert config.section("policy").targets.higm == 700
    assert config.section("policy").rules == ("a", "b")


def test_environment_overrides_file(tmp_path):
    path = write(tmp_path, '[fhir]\ndeadline_s = 4.0\n')
    config = load_config(path, app_sections=SECTIONS, environ={
        "IGCDS_FHIR__DEADLINE_S": "2.5", "IGCDS_STORAGE__URL": "postgresql+psycopg://db/igcds",
        "IGCDS_STORAGE__AUDIT_FLUSH_MS": "0"})
    assert config.fhir.deadline_s == 2.5
    assert config.storage.url == "postgresql+psycopg://db/igcds"
    assert config.storage.audit_flush_ms == 0


@pytest.mark.parametrize("text, message", [
    ("[fhir]\ntimeout_s = \"fast\"\n", "fhir.timeout_s: expected a number"),
    ("[fhir]\ntimeuot_s = 2\n", "fhir: unknown key 'timeuot_s'"),
    ("[sever]\nx = 1\n", "unknown configuration section 'sever'"),
    ("[[clients]]\njwks_url = \"https://x\"\n", "clients[0]: missing required key 'issuer'"),
    ("[policy]\ntargets = { higm = \"high\" }\n", "policy.targets.higm: expected a number"),
    ("[server]\nworkers = true\n", "server.workers: expected an integer"),
    ("[logging]\nlevel = \"LOUD\"\n", "logging.level: expected one of"),
    ("[storage]\naudit_flush_ms = -1\n", "storage.audit_flush_ms: expected 0 or more milliseconds, got -1"),
    ("[storage]\naudit_flush_ms = 0.5\n", "storage.audit_flush_ms: expected an integer"),
    ("[storage]\naudit_queue_max = 0\n", "storage.audit_queue_max: expected 1 or more, got 0"),
    ("not toml at all = = =", "not valid TOML"),
])
def test_errors_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(write(tmp_path, text), app_sections=SECTIONS, environ={})


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", environ={})
