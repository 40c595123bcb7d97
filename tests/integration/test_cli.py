"""The ``igcds`` command as an operator uses it (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.conformance import assert_conformant_response
from tests.support.igcds_server import free_port, spawn_serve, stop_process_group, wait_until_healthy, write_toml

REPO = Path(__file__).resolve().parents[2]
IGCDS = str(Path(sys.executable).with_name("igcds"))
REQUESTS = sorted((REPO / "fixtures" / "requests").glob("*/*.json"))


def igcds(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([IGCDS, *args], capture_output=True, text=True, timeout=60, cwd=REPO, input=input)


def test_there_are_fixture_requests_for_every_service():
    services = {p.parent.name for p in REQUESTS}
    assert {"ig-order-select", "ig-order-sign", "ig-patient-view"} <= services


SAMPLES = [p for p in REQUESTS if p.stem in ("higm-xl-adult-ivig-dose-high", "higm-xl-adult", "minimal")]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_evaluate_prints_a_valid_response(path):
    result = igcds("evaluate", str(path))
    document = json.loads(result.stdout)
    if path.stem == "minimal":  # no prefetch and no fhirServer: a 412 naming the keys
        assert result.returncode == 1 and document["status"] == 412, result.stdout
    else:
        assert result.returncode == 0, result.stderr
        assert_conformant_response(document)
        assert document["cards"]


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_evaluate_in_process_gives_a_valid_response_for_every_fixture_request(path, capsys):
    from hooks.app import main

    code = main(["evaluate", str(path)])
    document = json.loads(capsys.readouterr().out)
    if code == 0:
        assert_conformant_response(document)
    else:  # only the deliberately incomplete request may fail, and then with a 412
        assert path.stem == "minimal" and document["status"] == 412


def test_evaluate_reads_stdin_and_names_the_service():
    body = json.loads((REPO / "fixtures" / "requests" / "ig-patient-view").glob("*.json").__next__().read_text())
    result = igcds("evaluate", "-", "--service", "ig-patient-view", input=json.dumps(body))
    assert result.returncode == 0, result.stderr
    assert "cards" in json.loads(result.stdout)


def test_rules_lists_the_catalog_as_text_and_json():
    text = igcds("rules")
    assert text.returncode == 0 and "order-dose-out-of-range" in text.stdout
    rows = json.loads(igcds("rules", "--json").stdout)["rules"]
    assert {"id", "services", "indicator", "source"} <= set(rows[0])


def test_serve_dev_mode_is_refused_off_loopback():
    result = igcds("serve", "--dev", "--host", "0.0.0.0", "--port", "1")
    assert result.returncode == 2
    assert "loopback" in result.stderr


def test_serve_dev_mode_on_the_ipv6_loopback_is_served(tmp_path):
    """``--dev --host ::1`` is this machine: it was refused (the check read the bare host as a URL, where
    ``::1`` has no host), though the proxy warning and the app's dev guard both count ::1 as loopback."""
    config = write_toml({"server": {"data_dir": str(tmp_path / "data")}}, tmp_path / "igcds.toml")
    port, log = free_port(), tmp_path / "server.log"
    process = spawn_serve(config, port, log, workers=1, threads=1, dev=True, host="::1")
    try:
        wait_until_healthy(process, f"http://[::1]:{port}/healthz", log, timeout=30)
        discovery = requests.get(f"http://[::1]:{port}/cds-services", timeout=5)
        assert discovery.status_code == 200 and discovery.json()["services"]  # dev mode: no JWT asked
    finally:
        stop_process_group(process)
    assert "only allowed on a loopback address" not in log.read_text()


def test_a_bad_configuration_stops_start_up_naming_the_key(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[fhir]\ntimeout_s = "soon"\n')
    result = igcds("serve", "--config", str(config), "--port", "1")
    assert result.returncode == 2
    assert "fhir.timeout_s" in result.stderr and "expected a number" in result.stderr


def test_rules_writes_the_catalog_under_the_sites_policy(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text("[policy]\ntrough_max_age_days = 120\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IGCDS_")}
    run = [IGCDS, "rules", "--format", "markdown"]
    default = subprocess.run(run, capture_output=True, text=True, timeout=60, cwd=REPO, env=clean)
    assert default.returncode == 0, default.stderr
    assert default.stdout == (REPO / "docs" / "clinical-rules.md").read_text(encoding="utf-8")
    ours = subprocess.run([*run, "--config", str(site), "--output", str(tmp_path / "site.md")],
                          capture_output=True, text=True, timeout=60, cwd=REPO, env=clean)
    assert ours.returncode == 0 and ours.stdout == "", ours.stderr
    text = (tmp_path / "site.md").read_text(encoding="utf-8")
    assert "1 value(s) changed by this site's configuration: `trough_max_age_days` = 120 (default 90)" in text
    assert "no trough IgG in the last **120** *(policy; default 90)* days" in text
    page = igcds("rules", "--format", "html", "--config", str(site))
    assert page.returncode == 0 and page.stdout.startswith("<!doctype html>")
    assert '<mark class="policy changed">120</mark>' in page.stdout
