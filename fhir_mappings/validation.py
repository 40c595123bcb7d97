"""Tolerant reading of the FHIR R4 resources the rules read: normalise what is read, leave the rest alone.

Real EHRs deviate from R4 in small ways: a single object where R4 has a list (the CDS Hooks sandbox
sends ``MedicationRequest.category`` so), a draft order without ``intent``, an unknown extension. A
resource is therefore judged on the elements the mappers read (``READ_ELEMENTS``), never validated
as a whole (docs/clinical-rules.md Terms, "Reading EHR data"):

- an element no mapper reads is never looked at, so it never drops the resource;
- a single object where R4 declares a list (0..*) becomes a one-item list, and a one-item list where
  R4 declares one object becomes that object; JSON ``null`` and ``[]`` are read as absent;
- a read element whose value has the wrong JSON type (a number for a code, a string for a Quantity, a
  code outside its required value set) is removed and reported as a problem
  (``malformed-element:<path>``, ``invalid-status``): the fact it carried becomes unknown, and the
  record builder says whether that cost the resource (skipped) or only that fact (degraded).

The element shapes (list or not, object, string, number, boolean, the code values of a required
binding) come from the same R4B models of ``fhir.resources`` (imported once, ~0.3 s: ``prepare()``),
reduced to one lookup table per type. The walk follows only the read elements, so its depth is bounded
by the tables (a contained resource is read one level deep), whatever a client nests below them.
Unchanged objects are returned as they are (copy on write): the normalised resource shares everything
it did not have to change. Most resources need nothing: a straight-line acceptor generated per resource
type from the same tables says so in one pass (``_acceptor``), and only the others take the walk; for
the 63-resource benchmark request reading costs about what the former R4B shape check did (0.11 ms).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

#: The elements each mapper reads, per R4B type (resources, datatypes and backbone elements). Only
#: these are checked and normalised; a type without a row here is not descended into.
READ_ELEMENTS: Mapping[str, tuple[str, ...]] = {
    # resources (fhir_mappings/<family>.py)
    "Patient": ("id", "gender", "birthDate"),
    "Observation": ("id", "status", "code", "effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued",
                    "valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean", "dataAbsentReason",
                    "interpretation", "referenceRange"),
    "Condition": ("id", "clinicalStatus", "verificationStatus", "code", "onsetDateTime", "onsetPeriod",
                  "recordedDate"),
    "AllergyIntolerance": ("id", "clinicalStatus", "verificationStatus", "code", "criticality", "reaction"),
    "MedicationRequest": ("id", "status", "authoredOn", "medicationCodeableConcept", "medicationReference",
                          "contained", "dosageInstruction", "reasonCode", "reasonReference"),
    "MedicationStatement": ("id", "status", "effectiveDateTime", "effectivePeriod", "dateAsserted",
                            "medicationCodeableConcept", "medicationReference", "contained", "dosage", "reasonCode",
                            "reasonReference"),
    "MedicationAdministration": ("id", "status", "effectiveDateTime", "effectivePeriod", "medicationCodeableConcept",
                                 "medicationReference", "contained", "dosage", "reasonCode", "reasonReference"),
    "Immunization": ("id", "status", "vaccineCode", "occurrenceDateTime", "doseQuantity", "route", "reasonCode",
                     "reasonReference"),
    "Procedure": ("id", "status", "code", "performedDateTime", "performedPeriod"),
    "ServiceRequest": ("id", "status", "code", "occurrenceDateTime", "occurrencePeriod", "authoredOn"),
    "Medication": ("id", "code", "ingredient"),
    # backbone elements
    "ObservationReferenceRange": ("low", "high"),
    "AllergyIntoleranceReaction": ("substance", "manifestation", "description", "severity"),
    "MedicationAdministrationDosage": ("route", "dose"),
    "MedicationIngredient": ("itemCodeableConcept", "strength"),
    "DosageDoseAndRate": ("doseQuantity",),
    "TimingRepeat": ("boundsDuration", "boundsPeriod", "count", "frequency", "period", "periodUnit"),
    # datatypes
    "Dosage": ("route", "timing", "doseAndRate"),
    "Timing": ("repeat",),
    "CodeableConcept": ("coding", "text"),
    "Coding": ("system", "code", "display"),
    "Reference": ("reference", "display"),
    "Quantity": ("value", "comparator", "unit", "system", "code"),
    "Duration": ("value", "comparator", "unit", "system", "code"),
    "Ratio": ("numerator", "denominator"),
    "Period": ("start", "end"),
}

#: The resource types the record builder maps (a resource of another type is not read at all).
READ_TYPES = frozenset({
    "Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement", "MedicationAdministration",
    "Immunization", "AllergyIntolerance", "Procedure", "ServiceRequest", "Medication",
})

#: Kinds of element values (what the JSON value must be).
_COMPLEX, _RESOURCE, _STRING, _NUMBER, _BOOLEAN = range(5)


@dataclass(frozen=True, slots=True)
class _Spec:
    """One read element: a list (0..*) or not, its kind, the table of its type, its required codes."""

    many: bool
    kind: int
    child: _Table | None = None
    codes: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class _Table:
    """One type, arranged for one cheap pass over an object of it."""

    read: dict[str, _Spec]
    #: R4 requires ``status`` on this type.
    status_required: bool
    #: Read elements whose value is one string (no required codes), number or boolean: (name, the
    #: Python types its JSON value may have), checked in a tight loop.
    scalars: tuple[tuple[str, frozenset[type]], ...]
    #: Every other read element: objects, lists, coded strings.
    others: tuple[tuple[str, _Spec], ...]
    #: The 0..* elements no mapper reads: at the top of a resource, one sent as an object becomes a list.
    unread_lists: frozenset[str]

    @property
    def simple(self) -> bool:
        """Only scalars are read (Coding, Quantity, Reference, Period): the caller checks them inline."""
        return not self.others


class Reading(NamedTuple):
    """A resource as the mappers should read it, and what was wrong with the elements they read."""

    resource: Mapping[str, object]
    #: Reason codes without values: ``malformed-element:<element path>``, ``invalid-status``.
    problems: tuple[str, ...]


def _model(name: str) -> type:
    from fhir.resources.R4B import get_fhir_model_class  # imported lazily: ~0.3 s, once per process

    return get_fhir_model_class(name)


def _members(annotation: object) -> tuple[bool, object]:
    """(is a list, the element type) of a field annotation such as ``Optional[List[abc.CodingType]]``."""
    many = False
    current = annotation
    for _ in range(6):
        origin = typing.get_origin(current)
        args = [a for a in typing.get_args(current) if a is not type(None)]
        if origin in (list, typing.List):  # noqa: UP006 - the R4B models write typing.List
            many = True
            current = args[0]
        elif origin is typing.Annotated:
            return many, args[0]
        elif args and origin is not None:  # Optional[...] / X | None
            current = args[0]
        else:
            break
    return many, current


def _kind(member: object) -> tuple[int, type | None]:
    klass = getattr(member, "get_model_klass", None)
    if klass is not None:
        if getattr(member, "__name__", "") == "ResourceType":
            return _RESOURCE, None
        return _COMPLEX, klass()
    if member is bool:
        return _BOOLEAN, None
    if isinstance(member, type) and issubclass(member, int | float) or getattr(member, "__name__", "") == "Decimal":
        return _NUMBER, None
    return _STRING, None  # str, and date/dateTime/instant/time (JSON strings)


@lru_cache(maxsize=128)
def _table(model: type) -> _Table:
    wanted = set(READ_ELEMENTS.get(model.__name__, ()))
    read: dict[str, _Spec] = {}
    lists: set[str] = set()
    status_required = False
    for field in model.model_fields.values():  # type: ignore[attr-defined]
        alias = field.alias
        if alias is None or alias == "fhir_comments" or alias.startswith("_"):
            continue
        many, member = _members(field.annotation)
        if many:
            lists.add(alias)
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if alias == "status" and extra.get("element_required"):
            status_required = True
        if alias not in wanted:
            continue
        kind, child = _kind(member)
        values = extra.get("enum_values")
        codes = frozenset(values) if isinstance(values, list) and "+" not in values else None  # "+": list is partial
        read[alias] = _Spec(many, kind, _table(child) if child is not None else None, codes)
    allowed = {_STRING: frozenset({str}), _NUMBER: frozenset({int, float}), _BOOLEAN: frozenset({bool})}
    scalars = tuple((name, allowed[spec.kind]) for name, spec in read.items()
                    if spec.kind in allowed and not spec.many and spec.codes is None)
    others = tuple((name, spec) for name, spec in read.items() if name not in dict(scalars))
    return _Table(read, status_required, scalars, others, frozenset(lists) - set(read))


def _accept_item(
    spec: _Spec, var: str, depth: int, lines: list[str], constants: dict[str, object], indent: str
) -> None:
    if spec.kind == _COMPLEX:
        assert spec.child is not None
        lines.append(f"{indent}if type({var}) is not dict: return False")
        _accept_elements(spec.child, var, depth, lines, constants, indent)
    elif spec.kind == _STRING and spec.codes is not None:
        name = f"codes{len(constants)}"
        constants[name] = spec.codes
        lines.append(f"{indent}if type({var}) is not str or {var} not in {name}: return False")
    elif spec.kind == _STRING:
        lines.append(f"{indent}if type({var}) is not str: return False")
    elif spec.kind == _NUMBER:
        lines.append(f"{indent}if type({var}) is not int and type({var}) is not float: return False")
    elif spec.kind == _BOOLEAN:
        lines.append(f"{indent}if type({var}) is not bool: return False")
    else:  # a contained resource: the full walk reads it
        lines.append(f"{indent}return False")


def _accept_elements(
    table: _Table, var: str, depth: int, lines: list[str], constants: dict[str, object], indent: str
) -> None:
    value = f"v{depth}"
    for name, spec in table.read.items():
        lines.append(f"{indent}{value} = {var}.get({name!r})")
        lines.append(f"{indent}if {value} is not None:")
        inner = indent + "    "
        if spec.many:
            item = f"i{depth}"
            lines.append(f"{inner}if type({value}) is not list: return False")
            lines.append(f"{inner}for {item} in {value}:")
            _accept_item(spec, item, depth + 1, lines, constants, inner + "    ")
        else:
            _accept_item(spec, value, depth + 1, lines, constants, inner)


def _acceptor(resource_type: str, table: _Table) -> Callable[[Mapping[str, Any]], bool]:
    """A function telling, in one straight pass, that a resource has nothing to normalise: every read
    element, at every level, already has its R4 JSON shape, and no unread 0..* element is an object.
    Generated from the table (static metadata, never client input) because the general walk costs about
    twice as much in function calls and dispatch; whatever it does not accept takes the general walk,
    which gives the same result for what it accepts (tests/cds_service/test_fuzz.py checks that)."""
    constants: dict[str, object] = {"UNREAD_LISTS": table.unread_lists}
    lines = ["def accept(resource):"]
    _accept_elements(table, "resource", 0, lines, constants, "    ")
    lines += ["    for name in UNREAD_LISTS.intersection(resource):",
              "        if type(resource[name]) is dict: return False",
              "    return True"]
    namespace = dict(constants)
    exec(compile("\n".join(lines), f"<accept {resource_type}>", "exec"), namespace)
    accept: Callable[[Mapping[str, Any]], bool] = namespace["accept"]  # type: ignore[assignment]
    return accept


@lru_cache(maxsize=32)
def _resource_table(resource_type: str) -> _Table:
    return _table(_model(resource_type))


#: The acceptors by resource type, once built (a plain dict: read on every resource of every call).
_ACCEPTORS: dict[str, Callable[[Mapping[str, Any]], bool]] = {}


def _resource_acceptor(resource_type: str) -> Callable[[Mapping[str, Any]], bool]:
    accept = _ACCEPTORS.get(resource_type)
    if accept is None:
        accept = _ACCEPTORS[resource_type] = _acceptor(resource_type, _resource_table(resource_type))
    return accept


def prepare() -> None:
    """Build every table now (imports the R4B models): call once at start-up, off the request path."""
    for resource_type in READ_TYPES:
        _resource_acceptor(resource_type)


def status_required(resource_type: str) -> bool:
    """True when R4 requires ``status`` on this type (a draft order may still omit it: the caller decides)."""
    return resource_type in READ_TYPES and _resource_table(resource_type).status_required


_DROP = object()


def _problem(problems: list[str], path: str, name: str) -> object:
    code = "invalid-status" if not path and name == "status" else f"malformed-element:{path}{name}"
    if code not in problems:
        problems.append(code)
    return _DROP


def _one(item: object, spec: _Spec, name: str, path: str, problems: list[str], depth: int) -> object:
    kind = spec.kind
    if kind == _COMPLEX:
        if type(item) is dict or isinstance(item, Mapping):
            assert spec.child is not None
            return _normalise(item, spec.child, f"{path}{name}.", problems, depth)
    elif kind == _STRING:
        if type(item) is str or isinstance(item, str):
            if spec.codes is None or item.strip() in spec.codes:
                return item
    elif kind == _NUMBER:
        if (type(item) is int or type(item) is float) or (isinstance(item, int | float) and not isinstance(item, bool)):
            return item
    elif kind == _BOOLEAN:
        if item is True or item is False:
            return item
    else:  # _RESOURCE: a contained resource, read one level deep
        if type(item) is dict or isinstance(item, Mapping):
            inner = item.get("resourceType")
            if depth == 0 and isinstance(inner, str) and inner in READ_TYPES:
                return _normalise(item, _resource_table(inner), f"{path}{name}.", problems, depth + 1, top=True)
            return item
    return _problem(problems, path, name)


def _value(value: object, spec: _Spec, name: str, path: str, problems: list[str], depth: int) -> object:
    """The general case of one element's value (the common shapes are handled inline in ``_normalise``)."""
    if spec.many:
        wrapped = not (type(value) is list or isinstance(value, list))
        items: list[object] = [value] if wrapped else value  # type: ignore[assignment]
        kept: list[object] | None = [] if wrapped else None
        for index, item in enumerate(items):
            new = _one(item, spec, name, path, problems, depth)
            if new is not item and kept is None:
                kept = list(items[:index])
            if kept is not None and new is not _DROP:
                kept.append(new)
        if kept is None:
            return value if items else _DROP
        return kept if kept else _DROP
    if type(value) is list or isinstance(value, list):
        if len(value) != 1:
            return _problem(problems, path, name) if value else _DROP
        return _one(value[0], spec, name, path, problems, depth)
    return _one(value, spec, name, path, problems, depth)


def _scalars_ok(obj: Mapping[str, Any], scalars: tuple[tuple[str, frozenset[type]], ...]) -> bool:
    """True when every scalar read element of ``obj`` is absent or of an allowed type."""
    for name, allowed in scalars:
        value = obj.get(name)
        if value is not None and type(value) not in allowed:
            return False
    return True


def _complex_list(value: list[object], spec: _Spec, name: str, path: str, problems: list[str], depth: int) -> object:
    """A list of objects (``coding``, ``dosageInstruction``...): each object walked, the list kept when
    nothing changed."""
    child = spec.child
    assert child is not None
    scalars = child.scalars if child.simple else None
    kept: list[object] | None = None
    for index, item in enumerate(value):
        if type(item) is dict:
            if scalars is not None:
                for key, allowed in scalars:  # inline _scalars_ok: the hot loop (every coding)
                    element = item.get(key)
                    if element is not None and type(element) not in allowed:
                        new: object = _normalise(item, child, f"{path}{name}.", problems, depth)
                        break
                else:
                    new = item
            else:
                new = _normalise(item, child, f"{path}{name}.", problems, depth)
        else:
            new = _one(item, spec, name, path, problems, depth)
        if new is item:
            if kept is not None:
                kept.append(item)
            continue
        if kept is None:
            kept = value[:index]
        if new is not _DROP:
            kept.append(new)
    if kept is None:
        return value
    return kept if kept else _DROP


def _normalise(
    obj: Mapping[str, Any], table: _Table, path: str, problems: list[str], depth: int, top: bool = False
) -> Mapping[str, Any]:
    """``obj`` with its read elements normalised (the same object when nothing changed). At the top of a
    resource, a 0..* element sent as one object also becomes a list when no mapper reads it (the
    resource is echoed back in ``update`` suggestions). JSON ``null`` is left as it is: the mappers read
    it as absent."""
    changes: dict[str, object] | None = None
    for key, allowed in table.scalars:
        value = obj.get(key)
        if value is not None and type(value) not in allowed:
            new: object = _value(value, table.read[key], key, path, problems, depth)
            if new is not value:
                if changes is None:
                    changes = {}
                changes[key] = new
    for key, spec in table.others:
        value = obj.get(key)
        if value is None:
            continue
        if spec.kind == _COMPLEX:
            if type(value) is list and spec.many:
                new = _complex_list(value, spec, key, path, problems, depth)
            elif type(value) is dict and not spec.many:
                child = spec.child
                assert child is not None
                if child.simple and _scalars_ok(value, child.scalars):
                    continue
                new = _normalise(value, child, f"{path}{key}.", problems, depth)
            else:
                new = _value(value, spec, key, path, problems, depth)
        elif spec.kind == _STRING and type(value) is str and not spec.many and spec.codes is not None \
                and value.strip() in spec.codes:
            continue
        else:
            new = _value(value, spec, key, path, problems, depth)
        if new is not value:
            if changes is None:
                changes = {}
            changes[key] = new
    if top and table.unread_lists:
        for key in table.unread_lists.intersection(obj):
            value = obj[key]
            if type(value) is dict or isinstance(value, Mapping):
                if changes is None:
                    changes = {}
                changes[key] = [value]  # one object where R4 has a list: not read, kept R4-shaped
    if not changes:
        return obj
    out = dict(obj)
    for key, new in changes.items():
        if new is _DROP:
            del out[key]
        else:
            out[key] = new
    return out


def read_resource(resource: Mapping[str, Any]) -> Reading:
    """``resource`` normalised for the mappers, with the problems of the elements they read.

    Never raises for JSON input; a type outside ``READ_TYPES`` is returned unchanged.
    """
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or resource_type not in READ_TYPES:
        return Reading(resource, ())
    accept = _ACCEPTORS.get(resource_type) or _resource_acceptor(resource_type)
    if accept(resource):
        return Reading(resource, ())
    problems: list[str] = []
    normalised = _normalise(resource, _resource_table(resource_type), "", problems, 0, top=True)
    return Reading(normalised, tuple(problems))
