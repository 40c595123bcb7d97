"""The companion app in a real browser: a clinician opens igcds's cards' SMART links in the EHR.

Mr Hale (fixture ``higm-xl-adult``: X-linked hyper-IgM, Privigen 30 g every 4 weeks, troughs reported in
g/L, weight in pounds) has a 70 g Privigen draft. The EHR (``tests/support/smart_ehr.py``: an Authlib
authorization server and a FHIR gateway in front of sekmet-fhir) shows igcds's order-select cards; headless
Chromium, with JavaScript off, follows their SMART links through the EHR launch (PKCE S256) and lands on
the IgG trend and on the dose plan. The dose plan of the 70 g draft says, on top, what the dose card
said (above the label's limit) and shows the plan of the card's suggested dose beside the ordered one; the
35 g renewal draft's plan says no dose card objects. The figures on the pages are compared with what the
FHIR fixture, the cards and the knowledge tables give, computed here; each view is photographed into
``.test-run/``.
"""

from __future__ import annotations

import itertools
import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from fhir_mappings import Measure, build_record
from hooks.companion.links import DOSE_PLAN_RULES
from hooks.knowledge.infusion import VIAL_TOLERANCE, LabelUse, iv_rate
from hooks.knowledge.products import PRODUCTS_BY_KEY
from hooks.policy import Policy
from tests.support.browser import chromium
from tests.support.companion import companion_stack
from tests.support.fixtures import bundle_resources, load_request

pytestmark = pytest.mark.integration

PATIENT = "higm-xl-adult"
SCENARIO = "higm-xl-adult-ivig-dose-high"
#: The same patient's 35 g renewal draft: 500 mg/kg, within the limits and the usual range.
RENEWAL = "higm-xl-adult-ivig-renewal"
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".test-run"


@pytest.fixture(scope="module")
def stack(loaded_fixtures):
    with companion_stack(loaded_fixtures.server.base_url) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def cards(stack, loaded_fixtures):
    body = load_request("ig-order-select", SCENARIO, loaded_fixtures.now)
    return {card["source"]["topic"]["code"]: card for card in stack.call("ig-order-select", body)["cards"]}


@pytest.fixture(scope="module")
def record(loaded_fixtures):
    """The fixture patient as fhir_mappings reads it (mg/dL, kg): what the chart must show."""
    resources = bundle_resources(loaded_fixtures.bundles[PATIENT])
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    return build_record(patient=patient, resources=resources)


def open_card_link(browser, stack, cards, rule):
    """The EHR shows the cards; the clinician clicks ``rule``'s card link (JavaScript off throughout)."""
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.goto(stack.ehr.show_cards(PATIENT, list(cards.values())))
    page.click(f'article[data-rule="{rule}"] a.card-link[data-type="smart"]')
    page.wait_for_load_state()
    return context, page


def given_doses(bundle):
    """Ig MedicationAdministrations given (completed), as (day, grams), from the FHIR fixture itself."""
    out = []
    for r in bundle_resources(bundle):
        if r["resourceType"] == "MedicationAdministration" and r["status"] == "completed":
            dose = r["dosage"]["dose"]
            assert dose["unit"] == "g"
            out.append((datetime.fromisoformat(r["effectiveDateTime"]), float(dose["value"])))
    return sorted(out)


def weight_on(record, when):
    return next(m.value for m in record.measured(Measure.WEIGHT) if m.when.date() <= when.date())


def test_the_trough_card_opens_the_igg_trend_with_every_value_the_target_and_every_dose(
        browser, stack, cards, record, loaded_fixtures):
    card = cards["order-trough-below-target"]
    (link,) = card["links"]
    assert link["type"] == "smart" and link["url"] == stack.igcds.url("/app/launch")
    assert json.loads(link["appContext"])["view"] == "trend"

    context, page = open_card_link(browser, stack, cards, "order-trough-below-target")
    try:
        assert page.url == stack.igcds.url("/app/trend")
        assert "Hale" in page.text_content("#patient")

        iggs = [m for m in record.measured(Measure.IGG) if m.value is not None]
        doses = given_doses(loaded_fixtures.bundles[PATIENT])
        charted = page.locator("#trend-chart circle.igg-point")
        assert charted.count() == len(iggs) >= 3
        shown = sorted((c.get_attribute("data-date"), float(c.get_attribute("data-mg-dl")))
                       for c in charted.all())
        expected = sorted((m.when.date().isoformat(), m.value) for m in iggs)  # g/L -> mg/dL as mapped
        assert [d for d, _ in shown] == [d for d, _ in expected]
        assert [v for _, v in shown] == pytest.approx([v for _, v in expected], abs=0.01)
        # a trough is an IgG drawn with a dose in the 56 days before it
        troughs = {m.when.date().isoformat() for m in iggs
                   if any(timedelta(0) <= m.when - when <= timedelta(days=56) for when, _ in doses)}
        assert {c.get_attribute("data-date") for c in page.locator("circle.igg-point.trough").all()} == troughs
        assert troughs and len(troughs) < len(iggs)

        target = Policy().trough_target_mg_dl.higm
        line = page.locator("#target-line")
        assert line.count() == 1 and float(line.get_attribute("data-mg-dl")) == target
        assert f"target {target:g} mg/dL" in page.text_content("#trend-chart")

        markers = page.locator("#trend-chart g.dose-marker").all()
        assert len(markers) == len(doses) >= 7
        for marker, (when, grams) in zip(markers, doses, strict=True):
            assert marker.get_attribute("data-date") == when.date().isoformat()
            assert float(marker.get_attribute("data-grams")) == grams
            expected = grams * 1000 / weight_on(record, when)
            assert float(marker.get_attribute("data-mg-per-kg")) == pytest.approx(expected, abs=0.05)
            assert marker.locator("text").text_content() == f"{expected:,.0f}"
        assert page.locator("#igg-table tr.igg-row").count() == len(iggs)
        assert page.locator("#trend-chart circle.weight-point").count() == len(
            [m for m in record.measured(Measure.WEIGHT) if m.when >= loaded_fixtures.now - timedelta(days=730)])
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "companion-trend.png"), full_page=True)
    finally:
        context.close()


def closest_vials(grams, sizes, tolerance):
    """Every whole-vial combination within the tolerance, brute force; the closest total, then fewest vials."""
    best = None
    for counts in itertools.product(*(range(math.ceil(grams * (1 + tolerance) / s) + 1) for s in sizes)):
        total = sum(c * s for c, s in zip(counts, sizes, strict=True))
        if abs(total - grams) <= tolerance * grams + 1e-9:
            key = (abs(total - grams), sum(counts), total)
            if best is None or key < best[0]:
                best = (key, {s: c for s, c in zip(sizes, counts, strict=True) if c})
    return best[1] if best else None


def first_dose_g(medication_request):
    return medication_request["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"]


def current_weight_kg(record, now):
    return next(m.value for m in record.measured(Measure.WEIGHT)
                if (now - m.when).days <= Policy().weight_max_age_days_adult)


def check_plan(page, plan, grams, kg):
    """The plan column ``plan`` of the page: grams, mg/kg, Privigen vials within 10% and the PI label's rates,
    each computed here from the dose, the weight and the knowledge tables."""
    within = f'[data-plan="{plan}"]'
    assert float(page.get_attribute(f'{within} [data-figure="grams"]', "data-value")) == grams
    assert float(page.get_attribute(f'{within} [data-figure="mg-per-kg"]', "data-value")) == pytest.approx(
        grams * 1000 / kg, abs=0.05)

    privigen = PRODUCTS_BY_KEY["privigen"]
    expected_vials = closest_vials(grams, privigen.vial_sizes_g, VIAL_TOLERANCE.value)
    shown_vials = {float(row.get_attribute("data-size-g")): int(row.get_attribute("data-count"))
                   for row in page.locator(f"{within} tr.vial-row").all()}
    assert shown_vials == expected_vials
    assert float(page.get_attribute(f'{within} [data-figure="vial-total"]', "data-value")) == sum(
        s * c for s, c in expected_vials.items())

    row = iv_rate("privigen", LabelUse.PI)  # HIGM is a primary immunodeficiency (replacement)
    steps = page.locator(f"{within} tr.rate-step").all()
    assert [float(s.get_attribute("data-mg-kg-min")) for s in steps] == [row.initial_mg_kg_min, row.max_mg_kg_min]
    for step in steps:
        rate = float(step.get_attribute("data-mg-kg-min"))
        ml_per_h = rate * kg * 60 / (privigen.concentration_g_per_ml * 1000)
        assert float(step.get_attribute("data-ml-per-h")) == pytest.approx(ml_per_h, abs=0.05)


def test_the_dose_card_opens_the_dose_plan_with_its_warning_and_the_plan_of_its_suggested_dose(
        browser, stack, cards, record, loaded_fixtures):
    card = cards["order-dose-out-of-range"]
    (link,) = card["links"]
    app_context = json.loads(link["appContext"])
    assert app_context["view"] == "dose-plan" and app_context["order"] == "MedicationRequest/higm-xl-adult-draft-1"
    ordered_g = first_dose_g(app_context["draft"])
    (suggestion,) = card["suggestions"]
    (action,) = suggestion["actions"]
    assert action["type"] == "update" and action["resource"]["id"] == app_context["draft"]["id"]
    suggested_g = first_dose_g(action["resource"])
    assert suggested_g < ordered_g

    context, page = open_card_link(browser, stack, cards, "order-dose-out-of-range")
    try:
        assert page.url == stack.igcds.url("/app/dose-plan")
        kg = current_weight_kg(record, loaded_fixtures.now)
        assert page.text_content('[data-figure="dosing-kg"]') == f"{kg:.1f} kg".replace(".0 kg", " kg")

        # On top, before the figures: the warning the card gave, as the EHR showed it, and its suggestion.
        verdict = page.locator("#dose-verdict")
        assert verdict.get_attribute("data-indicator") == card["indicator"] == "warning"
        (shown,) = verdict.locator("div.verdict").all()
        assert shown.get_attribute("data-rule") == "order-dose-out-of-range"
        assert shown.get_attribute("data-indicator") == card["indicator"]
        assert shown.locator(".card-summary").text_content() == card["summary"]
        assert page.locator("#dose-quiet").count() == 0
        offered = verdict.locator('[data-suggestion="suggested-1"]')
        assert float(offered.locator('[data-figure="suggested-grams"]').get_attribute("data-value")) == suggested_g
        assert suggestion["label"] in offered.text_content()
        assert offered.locator(".suggested-quiet").count() == 1  # the card's dose passes every dose check
        boxes = {s: page.locator(s).bounding_box()["y"] for s in ("#dose-verdict", "#weight", "#dose")}
        assert boxes["#dose-verdict"] < boxes["#weight"] < boxes["#dose"]

        # The plan of the ordered dose, and beside it the plan of the suggested dose.
        check_plan(page, "ordered", ordered_g, kg)
        check_plan(page, "suggested-1", suggested_g, kg)
        ordered_box = page.locator('#vials [data-plan="ordered"]').bounding_box()
        suggested_box = page.locator('#vials [data-plan="suggested-1"]').bounding_box()
        assert suggested_box["x"] > ordered_box["x"] + ordered_box["width"] - 1
        assert abs(suggested_box["y"] - ordered_box["y"]) < 1
        assert page.locator("#risk").count() == 0  # no renal or thrombosis risk factor for this patient
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "companion-dose-plan.png"), full_page=True)
    finally:
        context.close()


def test_a_dose_within_range_has_a_quiet_plan_without_warning_or_suggestion(browser, stack, record, loaded_fixtures):
    """The 35 g renewal draft (500 mg/kg, inside the usual range): no dose card in the EHR, none on the plan.
    The clinician opens the trough card's link, then the dose plan of the same draft."""
    body = load_request("ig-order-select", RENEWAL, loaded_fixtures.now)
    renewal_cards = {card["source"]["topic"]["code"]: card for card in stack.call("ig-order-select", body)["cards"]}
    assert not set(renewal_cards) & DOSE_PLAN_RULES
    (draft,) = (e["resource"] for e in body["context"]["draftOrders"]["entry"])
    context, page = open_card_link(browser, stack, renewal_cards, "order-trough-below-target")
    try:
        page.click("nav a:has-text('Dose plan')")
        page.wait_for_load_state()
        assert page.url == stack.igcds.url("/app/dose-plan")
        assert page.locator("#dose-verdict").get_attribute("data-indicator") == "none"
        assert page.locator("#dose-verdict div.verdict").count() == 0
        assert page.locator("#dose-quiet").count() == 1
        assert page.locator("[data-suggestion]").count() == page.locator('[data-plan^="suggested"]').count() == 0
        check_plan(page, "ordered", first_dose_g(draft), current_weight_kg(record, loaded_fixtures.now))
    finally:
        context.close()


def test_the_access_token_stays_on_the_server_and_the_cookie_is_opaque_httponly_samesite(browser, stack, cards):
    seen: list[str] = []
    context, page = None, None
    context = browser.new_context(java_script_enabled=False)
    context.on("request", lambda r: seen.append(r.url + json.dumps(r.headers) + (r.post_data or "")))
    context.on("response", lambda r: seen.append(r.url + json.dumps(r.headers) + (
        r.text() if r.request.resource_type == "document" and not 300 <= r.status < 400 else "")))
    try:
        page = context.new_page()
        page.goto(stack.ehr.show_cards(PATIENT, list(cards.values())))
        page.click('article[data-rule="order-dose-out-of-range"] a.card-link')
        page.wait_for_load_state()
        page.click("nav a:has-text('IgG trend')")
        page.wait_for_load_state()
        assert page.url == stack.igcds.url("/app/trend")
        cookies = {c["name"]: c for c in context.cookies()}
        cookie = cookies["igcds_app"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/app"
        tokens = stack.ehr.issued_tokens()
        assert tokens, "the EHR issued no token: the launch did not happen"
        everything = "\n".join(seen) + json.dumps(context.cookies())
        leaked = [i for i, token in enumerate(tokens) if token in everything]
        assert not leaked, f"access token(s) #{leaked} reached the browser"
        # the FHIR gateway saw the tokens only from igcds (the browser never called it)
        assert not [s for s in seen if "/fhir/" in s.split("{", 1)[0] and "smart/Launch" not in s]
    finally:
        context.close()
