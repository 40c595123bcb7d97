"""A clinician's browser opens ``GET /rules`` on the real server (gunicorn, JWT required) and reads the
catalog: every rule of the registry, and the site's policy highlighted with its default.

Debian's Chromium under Playwright (tests/support/browser.py), one server and one page load.
"""

from __future__ import annotations

import json

import requests

from hooks.catalog import RULES_BY_ID
from tests.support.browser import chromium
from tests.support.igcds_server import igcds_server
from tests.support.jwt_tokens import bearer, jwks, mint, new_key

ISS = "https://ehr.example.org"
KEY = new_key("ES384", kid="catalog-browser")


def test_the_catalog_page_lists_every_rule_and_highlights_the_sites_policy(tmp_path):
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(jwks(KEY)))
    config = {"clients": [{"issuer": ISS, "jwks_file": str(jwks_file)}],
              "policy": {"trough_max_age_days": 120}}
    with igcds_server(config, dev=False, workers=1, threads=1) as server:
        url = server.url("/rules")
        assert requests.get(url, headers={"Accept": "text/html"}, timeout=10).status_code == 401
        with chromium() as browser:
            context = browser.new_context(extra_http_headers=bearer(mint(KEY, iss=ISS, aud=url)))
            page = context.new_page()
            fetched: list[str] = []
            page.on("request", lambda request: fetched.append(request.url))
            response = page.goto(url)
            assert response is not None and response.status == 200
            assert response.headers["content-type"].startswith("text/html")
            assert page.title() == "Immunoglobulin therapy rules: the clinical catalog"

            rows = page.eval_on_selector_all("tr[id^='rule-']", "rows => rows.map(r => r.id)")
            assert sorted(r.removeprefix("rule-") for r in rows) == sorted(RULES_BY_ID)
            for rule_id in RULES_BY_ID:
                assert page.locator(f"#rule-{rule_id}").is_visible()
                assert rule_id in page.inner_text(f"#rule-{rule_id} td:first-child")

            changed = page.locator("#policy-in-effect mark.policy.changed").first
            assert changed.inner_text() == "120"
            assert "default 90" in page.inner_text("#policy-in-effect")
            trough_due = page.inner_text("#rule-order-trough-due")
            assert "120" in trough_due and "default 90" in trough_due
            highlight = page.eval_on_selector(
                "#rule-order-trough-due mark.policy.changed", "m => getComputedStyle(m).backgroundColor")
            assert highlight not in ("rgba(0, 0, 0, 0)", "transparent"), "the site's value must stand out"
            assert page.locator("main mark.policy").count() > 20
            assert fetched == [url], f"the page must load nothing else: {fetched}"
            context.close()
