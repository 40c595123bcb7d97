"""The fast schema path (fastjsonschema) must agree with jsonschema, the authority, on every body.

``cds_service.schemas`` answers "valid" from a fastjsonschema validator compiled from a draft-07
translation of each schema and asks jsonschema only when that validator refuses. If the two ever
disagreed, a body jsonschema refuses could be let through (fast says valid) or a valid body would
pay for jsonschema (fast says invalid). These tests compare both verdicts, for the request envelope
and for every hook's context schema, over:

* every request under ``fixtures/requests/`` and the benchmark request (``bench/data.py``);
* every schema-relevant location of a small request set to each of a list of boundary values
  (lengths at and past each limit, trailing newlines against the ``$`` anchors, ``1.0`` and ``True``
  against ``integer``, ...) or dropped;
* the hypothesis strategies of ``tests/cds_service/test_fuzz.py``: valid envelopes with odd FHIR,
  and mutated envelopes (keys dropped, retyped, added, nested, huge and exotic strings).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import assume, given, reject
from hypothesis import strategies as st

from bench.data import request_body as bench_request_body
from cds_service import schemas
from cds_service.schemas import CONTEXT_SCHEMAS, context_errors, request_errors
from tests.cds_service.test_fuzz import fhir_requests, fuzz_settings, json_values, mutated_requests

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "requests"
HOOKS = sorted(CONTEXT_SCHEMAS)


def verdicts(body: Any) -> Iterator[tuple[str, bool, bool]]:
    """(schema, fast verdict, jsonschema verdict) for the envelope and, given a context, every hook."""
    yield "request", schemas._fast_valid(schemas._FAST_REQUEST, body), schemas._REQUEST_VALIDATOR.is_valid(body)
    context = body.get("context") if isinstance(body, dict) else None
    if context is None:
        return
    for hook in HOOKS:
        yield (hook, schemas._fast_valid(schemas._FAST_CONTEXTS[hook], context),
               schemas._CONTEXT_VALIDATORS[hook].is_valid(context))


def assert_agree(body: Any) -> None:
    for schema, fast, authority in verdicts(body):
        assert fast == authority, f"{schema}: fastjsonschema says {fast}, jsonschema says {authority}: {body!r:.600}"
    # The public functions answer exactly what jsonschema alone would.
    assert (request_errors(body) is None) == schemas._REQUEST_VALIDATOR.is_valid(body)
    if isinstance(body, dict) and isinstance(body.get("context"), dict):
        for hook in HOOKS:
            assert (context_errors(hook, body["context"]) is None) == \
                schemas._CONTEXT_VALIDATORS[hook].is_valid(body["context"])


# ----------------------------------------------------------------------------------------------
# Real requests
# ----------------------------------------------------------------------------------------------

FIXTURE_FILES = sorted(FIXTURES.rglob("*.json"))


def test_there_are_fixture_requests() -> None:
    assert len(FIXTURE_FILES) >= 10


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_requests(path: Path) -> None:
    body = orjson.loads(path.read_bytes())
    assert_agree(body)
    assert request_errors(body) is None
    assert context_errors(body["hook"], body["context"]) is None


def test_the_benchmark_request() -> None:
    body = bench_request_body()
    assert_agree(body)
    assert request_errors(body) is None and context_errors("order-select", body["context"]) is None


# ----------------------------------------------------------------------------------------------
# Every keyword at its boundaries
# ----------------------------------------------------------------------------------------------

def small_request() -> dict[str, Any]:
    """A valid request holding every field the schemas constrain (so that each can be mutated)."""
    return {
        "hook": "order-select",
        "hookInstance": "d1f0a1d2-0000-4000-8000-00000000f022",
        "fhirServer": "https://fhir.example.org/r4",
        "fhirAuthorization": {"access_token": "t", "token_type": "Bearer", "expires_in": 300,
                              "scope": "user/*.read", "subject": "igcds", "patient": "p1"},
        "context": {
            "userId": "Practitioner/dr-1", "patientId": "p1", "encounterId": "e1",
            "selections": ["MedicationRequest/mr-1"],
            "draftOrders": {"resourceType": "Bundle", "type": "collection",
                            "entry": [{"resource": {"resourceType": "MedicationRequest", "id": "mr-1"}}]},
        },
        "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"}, "labs": None},
        "extension": {"x": 1},
    }


#: Every location a schema constrains, as a path of keys and indexes.
LOCATIONS: list[tuple[Any, ...]] = [
    ("hook",), ("hookInstance",), ("fhirServer",), ("fhirAuthorization",),
    *[("fhirAuthorization", k) for k in ("access_token", "token_type", "expires_in", "scope", "subject", "patient")],
    ("context",), ("prefetch",), ("prefetch", "patient"), ("prefetch", "labs"), ("prefetch", "new-key"), ("extension",),
    *[("context", k) for k in ("userId", "patientId", "encounterId", "selections", "draftOrders")],
    ("context", "selections", 0), ("context", "draftOrders", "resourceType"), ("context", "draftOrders", "entry"),
]

_STRINGS = [
    "", "a", " ", "\n", "a\n", "a\n\n", "\na", "a\r", "a b", "é", "😀", "a\u0000",
    "x" * 64, "x" * 65, "x" * 199, "x" * 200, "x" * 201, "x" * 2000, "x" * 2001,
    "Bundle", "bundle", "Bearer", "bearer", "BEARER", "Bearer\n",
    "Practitioner/dr-1", "Practitioner/dr-1\n", "Practitioner/dr-1\n\n", "PractitionerRole/r.1", "Patient/p1",
    "RelatedPerson/rp", "Practitioner/", "Practitioner/" + "x" * 64, "Practitioner/" + "x" * 65, "practitioner/x",
    "MedicationRequest/mr-1", "MedicationRequest/mr-1\n", "Medication/x", "M/x", "Mx/a b", "Observation/" + "y" * 64,
    "https://fhir.example.org", "http://x", "https://x\n", "https://", "ftp://x", "https://a b", "https://" + "h" * 1992,
    "https://" + "h" * 1993,
]
BOUNDARY_VALUES: list[Any] = [
    *_STRINGS, None, True, False, 0, 1, -1, 0.0, -0.0, 1.0, 1.5, -1.0, 2**63, 10**30, 1e300,
    [], ["MedicationRequest/mr-1"], ["MedicationRequest/mr-1\n"], ["x"], [1], [None], [[]],
    {}, {"resourceType": "Bundle"}, {"resourceType": "Bundle", "entry": None}, {"resourceType": "Bundle", "entry": {}},
    {"resourceType": "OperationOutcome"}, {"resourceType": 1},
]
_DROP = object()


def _set(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> bool:
    target: Any = body
    for part in path[:-1]:
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and isinstance(part, int) and part < len(target):
            target = target[part]
        else:
            return False
    last = path[-1]
    if value is _DROP:
        if isinstance(target, dict) and last in target:
            del target[last]
            return True
        if isinstance(target, list) and isinstance(last, int) and last < len(target):
            del target[last]
            return True
        return False
    if isinstance(target, dict) or (isinstance(target, list) and isinstance(last, int) and last < len(target)):
        target[last] = value
        return True
    return False


@pytest.mark.parametrize("path", LOCATIONS, ids=lambda p: ".".join(map(str, p)))
def test_every_constrained_location_at_its_boundaries(path: tuple[Any, ...]) -> None:
    for variant in ("full", "minimal"):
        for value in [_DROP, *BOUNDARY_VALUES]:
            body = small_request()
            if variant == "minimal":  # without the optional members (dependentRequired, patterns on absent keys)
                for optional in ("fhirServer", "fhirAuthorization", "extension"):
                    del body[optional]
                del body["context"]["encounterId"]
            if _set(body, path, value if value is _DROP else copy.deepcopy(value)):
                assert_agree(body)


def test_top_level_and_context_of_other_types() -> None:
    for value in [None, [], "x", 1, 1.0, True, {}, {"hook": "order-select"}]:
        assert_agree(value)
        assert_agree({"hook": "h", "hookInstance": "i", "context": value})


def test_a_trailing_newline_is_judged_as_jsonschema_judges_it() -> None:
    """Both validators read ``$`` as ECMA-262 does, the end of the string (issue 15, finding 12):
    ``re.search`` alone would let ``$`` match before one final newline."""
    context = small_request()["context"]
    for patient_id, valid in (("p1", True), ("p1\n", False), ("p1\n\n", False), ("\np1", False)):
        candidate = {**context, "patientId": patient_id}
        assert (context_errors("order-select", candidate) is None) is valid, repr(patient_id)
        assert schemas._fast_valid(schemas._FAST_CONTEXTS["order-select"], candidate) is valid, repr(patient_id)


def test_a_keyword_without_translation_is_refused_at_import() -> None:
    with pytest.raises(ValueError, match="unevaluatedProperties"):
        schemas._draft07({"type": "object", "unevaluatedProperties": False})
    with pytest.raises(ValueError, match="trailing"):
        schemas._draft07({"type": "string", "pattern": "^a$|^b$"})
    with pytest.raises(ValueError, match="schema object"):
        schemas._draft07({"type": "array", "items": [{"type": "string"}]})


def test_refused_bodies_still_get_the_jsonschema_message() -> None:
    body = small_request()
    del body["fhirServer"]
    assert request_errors(body) == "request: 'fhirServer' is a dependency of 'fhirAuthorization'"
    body = small_request()
    body["context"]["selections"] = ["Medication Request/x"]
    assert context_errors("order-select", body["context"]) == \
        "context.selections[0]: 'Medication Request/x' does not match '^[A-Z][A-Za-z]+/[A-Za-z0-9\\\\-\\\\.]{1,64}$'"


# ----------------------------------------------------------------------------------------------
# Generated corpora (the strategies of the fuzz suite)
# ----------------------------------------------------------------------------------------------

@st.composite
def valid_envelopes(draw: Any) -> tuple[str, dict[str, Any]]:
    """``fhir_requests()``, minus its draws that fail: it reads ``resourceType`` of a generated
    draft that may carry an ``id`` without one (a KeyError while generating, not a finding)."""
    try:
        return draw(fhir_requests())
    except KeyError:
        reject()


@fuzz_settings(max_examples=150)
@given(case=valid_envelopes())
def test_generated_valid_envelopes(case: tuple[str, dict[str, Any]]) -> None:
    _, body = case
    assert_agree(body)


@fuzz_settings(max_examples=250)
@given(case=mutated_requests())
def test_generated_mutated_envelopes(case: tuple[str, bytes]) -> None:
    _, raw = case
    try:
        body = orjson.loads(raw)  # what the view hands to the runner; NaN and lone surrogates are 400s before
    except orjson.JSONDecodeError:
        assume(False)
    assert_agree(body)


@fuzz_settings(max_examples=800)
@given(path=st.sampled_from(LOCATIONS), value=st.one_of(json_values, st.sampled_from([_DROP, *BOUNDARY_VALUES])),
       minimal=st.booleans())
def test_generated_values_at_constrained_locations(path: tuple[Any, ...], value: Any, minimal: bool) -> None:
    body = small_request()
    if minimal:
        del body["fhirAuthorization"]
    _set(body, path, value)
    try:
        body = orjson.loads(orjson.dumps(body))  # only what a JSON body can carry (no NaN, no surrogates)
    except (orjson.JSONEncodeError, orjson.JSONDecodeError):
        assume(False)
    assert_agree(body)
