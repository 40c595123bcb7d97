"""Service declarations are validated at start-up; discovery is derived from them."""

from __future__ import annotations

import pytest

from cds_service import Prefetch, Registry, RegistryError, ServiceDefinition
from cds_service.prefetch import TemplateError, render_template
from tests.support.conformance import assert_conformant_discovery


def noop(request):
    return []


def service(id="svc", hook="patient-view", prefetch=None, **kw):
    return ServiceDefinition(id, hook, kw.get("title", "Title"), kw.get("description", "Description"), noop,
                             prefetch or {})


def test_discovery_is_derived_and_sorted():
    registry = Registry([service("b-svc"), service("a-svc", prefetch={"p": Prefetch("Patient/{{context.patientId}}")})])
    document = registry.discovery()
    assert [s["id"] for s in document["services"]] == ["a-svc", "b-svc"]
    assert document["services"][0]["prefetch"] == {"p": "Patient/{{context.patientId}}"}
    assert "prefetch" not in document["services"][1]
    assert_conformant_discovery(document)


def test_duplicate_id_and_hook_is_refused_but_same_id_other_hook_is_allowed():
    registry = Registry([service("x", "order-select")])
    registry.add(service("x", "order-sign"))  # D8: one id may serve several hooks
    with pytest.raises(RegistryError, match="twice"):
        registry.add(service("x", "order-sign"))
    assert registry.hooks_for("x") == ["order-select", "order-sign"]


def test_unknown_hook_and_bad_ids_are_refused():
    with pytest.raises(RegistryError, match="unknown hook"):
        Registry([service(hook="order-review-typo")])
    with pytest.raises(RegistryError, match="invalid service id"):
        Registry([service(id="has space")])
    with pytest.raises(RegistryError, match="title"):
        Registry([service(title=" ")])


@pytest.mark.parametrize("template", [
    "Patient/{{context.patientId}}",
    "Observation?patient={{context.patientId}}&code=http://loinc.org|2465-3&_sort=-date&_count=5",
    "Practitioner/{{userPractitionerId}}",
    "Encounter/{{ context.encounterId }}",
])
def test_valid_prefetch_tokens(template):
    Registry([service(prefetch={"k": Prefetch(template)})])


@pytest.mark.parametrize("template, message", [
    ("MedicationRequest/{{context.draftOrders.entry.resource.id}}", "not a prefetch token"),
    ("MedicationRequest/{{context.selections}}", "not a prefetch token"),
    ("Patient/{{Patient.id}}", "not a CDS Hooks 2.0 token"),
    ("Observation?date=ge{{today() - 90 days}}", "not a CDS Hooks 2.0 token"),
    ("https://ehr.example.org/Patient/{{context.patientId}}", "relative"),
    ("Patient/{{context.patientId}", "unbalanced"),
])
def test_invalid_prefetch_tokens_are_refused(template, message):
    with pytest.raises(RegistryError, match=message):
        Registry([service(hook="order-select", prefetch={"k": Prefetch(template)})])


def test_render_template_fills_context_and_user_tokens():
    context = {"patientId": "p1", "userId": "Practitioner/dr-7", "encounterId": "e9"}
    assert render_template("Patient/{{context.patientId}}", context) == "Patient/p1"
    assert render_template("Practitioner/{{userPractitionerId}}", context) == "Practitioner/dr-7"
    assert render_template("Encounter/{{ context.encounterId }}", context) == "Encounter/e9"
    with pytest.raises(TemplateError):
        render_template("PractitionerRole/{{userPractitionerRoleId}}", context)
    with pytest.raises(TemplateError):
        render_template("Encounter/{{context.encounterId}}", {"patientId": "p1"})


def test_decorator_registers_a_service():
    registry = Registry()

    @registry.service("greeter", hook="patient-view", title="Greeter", description="Says hello",
                      prefetch={"patient": "Patient/{{context.patientId}}"})
    def greeter(request):
        return []

    found = registry.find("greeter", "patient-view")
    assert found is not None and found.prefetch["patient"] == Prefetch("Patient/{{context.patientId}}")


def test_a_service_may_describe_itself_further_in_a_discovery_extension():
    extended = ServiceDefinition("x", "patient-view", "T", "D", noop,
                                 extension={"org.example.app": {"launchUrl": "https://a.example/launch"}})
    document = Registry([extended, service("y")]).discovery()
    assert document["services"][0]["extension"] == {"org.example.app": {"launchUrl": "https://a.example/launch"}}
    assert "extension" not in document["services"][1]  # no empty extension (CDS Hooks: no {} values)
    assert_conformant_discovery(document)
