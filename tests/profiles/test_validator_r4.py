"""The validator knows R4 (issue #18, item 2): each rule with a resource that passes and one that fails.

Resources without a VoorZorg profile are held to their R4 base definition; datatypes are unfolded from
their core definitions; extensions, slicing and Bundles follow the R4 rules. Where R4 core has no
definition that exercises a rule (minValue, maxLength, a `profile` discriminator), a small profile is
derived here from a core snapshot and registered for the test only.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.data import core_definitions
from adapter.fhir.definitions import compile_definition, structure_definitions
from adapter.fhir.invariants import (
    NATIVE,
    Env,
    _evaluate,
    _fhirpath_parse,
    _Leaf,
    _leaf_truth,
    _names_of,
    constraint,
)
from adapter.fhir.outcome import Issue
from adapter.fhir.validator import has_errors, validate
from tests.profiles.examples import CANONICAL, example

CORE = "http://hl7.org/fhir/StructureDefinition/"
TEST = "https://example.org/fhir/StructureDefinition/"


def errors(resource: dict[str, Any], profile: str | None = None) -> list[tuple[str, str]]:
    """(expression, diagnostics) of every error."""
    return [(i.expression[0], i.diagnostics) for i in validate(resource, profile) if has_errors([i])]


def fails_at(resource: dict[str, Any], expression: str, words: str, profile: str | None = None) -> None:
    found = errors(resource, profile)
    assert any(e == expression and words in d for e, d in found), found


def passes(resource: dict[str, Any], profile: str | None = None) -> None:
    assert errors(resource, profile) == []


def encounter(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
        **extra,
    }


def observation(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        **extra,
    }


# ---- a resource without a VoorZorg profile is held to its base definition ---------------------------


def test_a_resource_without_profile_is_checked_against_r4() -> None:
    passes(encounter())
    fails_at(encounter(status="done"), "Encounter.status", "required ValueSet")
    fails_at({"resourceType": "Encounter", "status": "finished"}, "Encounter.class", "minimum required = 1")
    fails_at(encounter(shoeSize=42), "Encounter.shoeSize", "Unknown element")
    fails_at({"resourceType": "Encounterr"}, "Encounterr.resourceType", "not a FHIR R4 resource type")


def test_a_profile_is_checked_together_with_the_base_rules_it_inherits() -> None:
    visit = example("voorzorg-home-visit")
    passes(visit)
    visit["period"] = {"start": "2025-06-02T10:00:00+02:00", "end": "2025-06-02T09:00:00+02:00"}
    fails_at(visit, "Encounter.period", "per-1")


# ---- base invariants: %context, %resource, %rootResource --------------------------------------------


def test_per_1_on_every_period_wherever_it_is() -> None:
    passes(encounter(period={"start": "2025-03-01", "end": "2025-03-02"}))
    passes(encounter(period={"start": "2025-03-01T10:00:00+01:00", "end": "2025-03-01T10:00:00Z"}))
    fails_at(encounter(period={"start": "2025-03-02", "end": "2025-03-01"}), "Encounter.period", "per-1")
    fails_at(  # a Period inside a datatype inside a backbone element
        encounter(participant=[{"period": {"start": "2025-03-02T10:00:00Z", "end": "2025-03-02T09:00:00Z"}}]),
        "Encounter.participant[0].period",
        "per-1",
    )
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "X", "period": {"start": "2021", "end": "2020"}}],
    }
    fails_at(patient, "Patient.name[0].period", "per-1")


def test_resource_means_the_entry_not_the_bundle() -> None:
    """obs-7 reads %resource.code: inside a Bundle it is the Observation of the entry."""
    code = {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}
    same = observation(valueQuantity={"value": 1}, component=[{"code": code, "valueQuantity": {"value": 2}}])
    other = copy.deepcopy(same)
    other["component"][0]["code"] = {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}
    passes(other)
    fails_at(same, "Observation", "obs-7")
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:8f4c07e5-1b54-4b7e-9d5a-1c0c1b2a3f01", "resource": other},
            {"fullUrl": "urn:uuid:8f4c07e5-1b54-4b7e-9d5a-1c0c1b2a3f02", "resource": same},
        ],
    }
    found = errors(bundle)
    assert [e for e, d in found] == ["Bundle.entry[1].resource"] and "obs-7" in found[0][1], found


def test_root_resource_of_a_contained_resource_is_its_container() -> None:
    """ref-1: a local reference inside a contained resource points into the container's contained."""
    org = {"resourceType": "Organization", "id": "org", "name": "De Wieg"}
    role = {"resourceType": "PractitionerRole", "id": "role", "organization": {"reference": "#org"}}
    task = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "contained": [org, role],
        "owner": {"reference": "#role"},
    }
    passes(task)
    task["contained"][1]["organization"] = {"reference": "#elsewhere"}
    fails_at(task, "Task.contained[1].organization", "ref-1")


def test_a_choice_element_is_visible_to_fhirpath_below_the_resource() -> None:
    """que-7 on Questionnaire.item.enableWhen reads `answer` (answer[x]) on a backbone element."""

    def questionnaire(answer: dict[str, Any]) -> dict[str, Any]:
        when = {"question": "q1", "operator": "exists", **answer}
        item = {"linkId": "q2", "type": "string", "enableWhen": [when]}
        return {
            "resourceType": "Questionnaire",
            "status": "active",
            "item": [{"linkId": "q1", "type": "string"}, item],
        }

    passes(questionnaire({"answerBoolean": True}))
    fails_at(questionnaire({"answerString": "yes"}), "Questionnaire.item[1].enableWhen[0]", "que-7")


@pytest.mark.parametrize(
    ("expression", "type_path", "value", "expected"),
    [
        ("value.exists()", "Observation", {"valueQuantity": {"value": 1}}, True),
        ("value.exists()", "Observation.component", {"valueString": "x"}, True),
        ("value.empty()", "Observation", {"dataAbsentReason": {"text": "x"}}, True),
        ("data.empty()", "Attachment", {"dataAbsentReason": "x"}, True),  # not `data`, though it starts so
        ("status = 'rejected'", "Task", {"status": "rejected"}, True),
        ("status = 'rejected'", "Task", {"statusReason": {"text": "x"}}, None),  # no status: empty
        ("value >= 0", "Observation", {"valueInteger": -1}, False),
    ],
)
def test_parts_answered_from_the_json_agree_with_fhirpathpy(
    expression: str, type_path: str, value: dict[str, Any], expected: bool | None
) -> None:

    leaf = constraint("t", "error", "", expression).plan().leaf
    assert leaf is not None and (leaf.presence or leaf.comparison)
    env = Env({}, {})
    assert _leaf_truth(leaf, value, type_path, env) is expected
    found = _evaluate(leaf, value, type_path, env)
    assert (None if not found else found != [False]) is expected


def test_an_invariant_fhirpathpy_cannot_evaluate_is_a_warning_not_an_error() -> None:
    team = {
        "resourceType": "CareTeam",
        "participant": [
            {"member": {"reference": "Practitioner/1"}, "onBehalfOf": {"reference": "Organization/1"}}
        ],
    }
    issues = validate(team)
    assert not has_errors(issues)
    assert [i.severity for i in issues if "ctm-1" in i.diagnostics] == ["warning"]


# ---- the native invariants agree with fhirpathpy ------------------------------------------------------

_PERIODS = st.sampled_from(
    [
        "2024",
        "2025",
        "2025-03",
        "2025-04",
        "2025-03-01",
        "2025-03-02",
        "2025-03-01T10:00:00Z",
        "2025-03-01T11:00:00Z",
    ]
)


def _fhirpathpy(key: str, expression: str, value: Any, type_path: str, env: Env) -> bool:
    leaf = _Leaf(_fhirpath_parse(expression)["children"][0], _names_of(_fhirpath_parse(expression)), None)
    return _evaluate(leaf, value, type_path, env) != [False]


@settings(max_examples=60, deadline=None)
@given(start=_PERIODS, end=_PERIODS)
def test_native_per_1_agrees_with_fhirpathpy(start: str, end: str) -> None:
    expression, native = NATIVE["per-1"]
    assert expression is not None
    period = {"start": start, "end": end}
    env = Env({}, {})
    if len(start) == len(end) or ("T" in start and "T" in end):  # the same precision
        assert native(period, env) == _fhirpathpy("per-1", expression, period, "Period", env), period
    else:  # differing precision: false only when start is after end at their common precision
        n = min(len(start), len(end), 10)
        assert native(period, env) == (start[:n] <= end[:n]), period


def test_native_per_1_compares_instants_across_time_zones() -> None:
    """11:00 at +02:00 is 09:00Z, before 10:00Z (fhirpathpy compares the texts and would say fine)."""
    fails_at(
        encounter(period={"start": "2025-03-01T10:00:00Z", "end": "2025-03-01T11:00:00+02:00"}),
        "Encounter.period",
        "per-1",
    )
    passes(encounter(period={"start": "2025-03-01T10:00:00+02:00", "end": "2025-03-01T09:00:00Z"}))


@pytest.mark.parametrize(
    ("key", "type_path", "value"),
    [
        ("ref-1", "Reference", {"reference": "#a"}),
        ("ref-1", "Reference", {"reference": "#b"}),
        ("ref-1", "Reference", {"reference": "Patient/1"}),
        ("qty-3", "Quantity", {"value": 1, "code": "kg"}),
        ("qty-3", "Quantity", {"value": 1, "code": "kg", "system": "http://unitsofmeasure.org"}),
        ("cpt-2", "ContactPoint", {"value": "06"}),
        ("cpt-2", "ContactPoint", {"value": "06", "system": "phone"}),
        ("att-1", "Attachment", {"data": "AAAA"}),
        ("att-1", "Attachment", {"data": "AAAA", "contentType": "text/plain"}),
    ],
)
def test_native_invariants_agree_with_fhirpathpy(key: str, type_path: str, value: dict[str, Any]) -> None:
    expression, native = NATIVE[key]
    assert expression is not None
    root = {"resourceType": "Task", "contained": [{"resourceType": "Patient", "id": "a"}]}
    env = Env(root, root)
    assert native(value, env) == _fhirpathpy(key, expression, value, type_path, env)


def test_native_bsn_elfproef_is_the_fhirpath_of_the_package() -> None:
    sd = structure_definitions()[CANONICAL + "voorzorg-client"]
    expression = next(
        c["expression"]
        for el in sd["snapshot"]["element"]
        for c in el.get("constraint", [])
        if c["key"] == "bsn-elfproef"
    )
    native = NATIVE["bsn-elfproef"][1]
    for bsn in ("999911120", "999911121", "99991112", "000000000", "12345678", "1234567890", "abcdefghi"):
        identifier = {"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": bsn}
        env = Env({}, {})
        assert native(identifier, env) == _fhirpathpy(
            "bsn", expression, identifier, "Patient.identifier", env
        ), bsn


def test_narrative_checks() -> None:
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Sanne</p></div>'
    passes({"resourceType": "Patient", "text": {"status": "generated", "div": div}})
    empty = '<div xmlns="http://www.w3.org/1999/xhtml">  </div>'
    fails_at(
        {"resourceType": "Patient", "text": {"status": "generated", "div": empty}},
        "Patient.text.div",
        "txt-2",
    )
    script = '<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script>x</div>'
    fails_at(
        {"resourceType": "Patient", "text": {"status": "generated", "div": script}},
        "Patient.text.div",
        "txt-1",
    )


# ---- ids, primitive formats, min/max values ----------------------------------------------------------


def test_resource_id_format() -> None:
    passes({"resourceType": "Patient", "id": "a-B.1"})
    fails_at({"resourceType": "Patient", "id": "a_b"}, "Patient.id", "Not a valid id")
    fails_at({"resourceType": "Patient", "id": "x" * 65}, "Patient.id", "Not a valid id")


@pytest.mark.parametrize(
    ("element", "good", "bad"),
    [
        ("birthDate", "2004-05-14", "2004-02-30"),
        ("deceasedDateTime", "2024-05-14T10:00:00+02:00", "2024-05-14T10:00:00"),
        ("active", True, "true"),
        ("multipleBirthInteger", 2, 2**31),
        ("gender", "female", "female "),
    ],
)
def test_primitive_formats(element: str, good: Any, bad: Any) -> None:
    passes({"resourceType": "Patient", element: good})
    fails_at({"resourceType": "Patient", element: bad}, f"Patient.{element}", "Not a valid")


def test_integer_types_have_their_ranges() -> None:
    timing = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}
    passes(observation(effectiveTiming=timing))
    timing["repeat"]["frequency"] = 0  # positiveInt
    fails_at(
        observation(effectiveTiming=timing), "Observation.effectiveTiming.repeat.frequency", "positiveInt"
    )


@contextmanager
def registered(*definitions: dict[str, Any]) -> Iterator[None]:
    """Definitions the validator knows for the duration of a test only."""
    known = structure_definitions()
    for sd in definitions:
        known[sd["url"]] = sd
    compile_definition.cache_clear()
    try:
        yield
    finally:
        for sd in definitions:
            known.pop(sd["url"], None)
        compile_definition.cache_clear()


def derived(base: str, name: str, changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A profile of a core resource: its snapshot with `changes` per element id."""
    core = next(sd for sd in core_definitions()["structureDefinitions"] if sd["url"] == CORE + base)
    elements = [{**el, **changes.get(el["id"], {})} for el in copy.deepcopy(core["snapshot"]["element"])]
    return {
        "resourceType": "StructureDefinition",
        "url": TEST + name,
        "type": base,
        "kind": "resource",
        "derivation": "constraint",
        "baseDefinition": CORE + base,
        "snapshot": {"element": elements},
    }


def test_min_and_max_values_and_max_length() -> None:
    profile = derived(
        "Patient",
        "limits",
        {
            "Patient.multipleBirth[x]": {"minValueInteger": 1, "maxValueInteger": 5},
            "Patient.birthDate": {"minValueDate": "1900-01-01", "maxValueDate": "2030-12-31"},
            "Patient.id": {"maxLength": 8},
        },
    )
    with registered(profile):
        url = profile["url"]
        passes(
            {"resourceType": "Patient", "id": "p1", "multipleBirthInteger": 2, "birthDate": "2004-05-14"}, url
        )
        fails_at(
            {"resourceType": "Patient", "multipleBirthInteger": 0},
            "Patient.multipleBirthInteger",
            "minimum",
            url,
        )
        fails_at(
            {"resourceType": "Patient", "multipleBirthInteger": 6},
            "Patient.multipleBirthInteger",
            "maximum",
            url,
        )
        fails_at({"resourceType": "Patient", "birthDate": "1899-12-31"}, "Patient.birthDate", "minimum", url)
        fails_at({"resourceType": "Patient", "birthDate": "2031"}, "Patient.birthDate", "maximum", url)
        fails_at({"resourceType": "Patient", "id": "p123456789"}, "Patient.id", "at most 8 characters", url)


# ---- required bindings of core ValueSets ------------------------------------------------------------


def test_required_bindings_of_core_value_sets() -> None:
    passes(observation())
    fails_at(
        observation(status="done"), "Observation.status", "http://hl7.org/fhir/ValueSet/observation-status"
    )
    narrative = {"status": "made-up", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}
    fails_at(observation(text=narrative), "Observation.text.status", "narrative-status")  # inside a datatype
    passes(observation(valueQuantity={"value": 1, "comparator": "<"}))
    fails_at(
        observation(valueQuantity={"value": 1, "comparator": "~"}),
        "Observation.valueQuantity.comparator",
        "quantity-comparator",
    )


# ---- extensions: context, modifiers, primitives -------------------------------------------------------

BIRTH_TIME = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
DO_NOT_PERFORM = "http://hl7.org/fhir/StructureDefinition/request-doNotPerform"


def test_extension_context() -> None:
    on_birth_date = {"extension": [{"url": BIRTH_TIME, "valueDateTime": "2004-05-14T10:00:00+02:00"}]}
    passes({"resourceType": "Patient", "birthDate": "2004-05-14", "_birthDate": on_birth_date})
    on_patient = {"resourceType": "Patient", "extension": on_birth_date["extension"]}
    fails_at(on_patient, "Patient.extension[0]", "not allowed on Patient")
    wrong_type = {"extension": [{"url": BIRTH_TIME, "valueString": "ten o'clock"}]}
    fails_at(
        {"resourceType": "Patient", "birthDate": "2004-05-14", "_birthDate": wrong_type},
        "Patient.birthDate.extension[0].valueString",
        "not allowed",
    )


def test_extension_context_inside_a_datatype() -> None:
    """iso21090-EN-use is for HumanName (and Address): on Patient.name it is fine, on Patient not."""
    ext = {"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-use", "valueCode": "I"}
    passes({"resourceType": "Patient", "name": [{"family": "Jansen", "extension": [ext]}]})
    fails_at(
        {"resourceType": "Patient", "extension": [ext]}, "Patient.extension[0]", "not allowed on Patient"
    )


def test_extension_context_on_a_recursive_element() -> None:
    """minLength is for Questionnaire.item: a nested item (item.item, a contentReference) is one too."""
    ext = [{"url": "http://hl7.org/fhir/StructureDefinition/minLength", "valueInteger": 2}]
    nested = {"linkId": "1.1", "type": "string", "extension": ext}
    questionnaire = {"resourceType": "Questionnaire", "status": "active"}
    passes({**questionnaire, "item": [{"linkId": "1", "type": "group", "item": [nested]}]})
    fails_at(
        {**questionnaire, "extension": ext}, "Questionnaire.extension[0]", "not allowed on Questionnaire"
    )


def test_modifier_extensions() -> None:
    order = {
        "resourceType": "NutritionOrder",
        "status": "active",
        "intent": "order",
        "patient": {"reference": "Patient/1"},
        "dateTime": "2025-01-01",
    }
    dnp = {"url": DO_NOT_PERFORM, "valueBoolean": True}
    passes({**order, "modifierExtension": [dnp]})
    fails_at({**order, "extension": [dnp]}, "NutritionOrder.extension[0]", "is a modifier extension")
    unknown = {"url": "https://example.org/fhir/StructureDefinition/only-if-raining", "valueBoolean": True}
    fails_at(
        {**order, "modifierExtension": [unknown]},
        "NutritionOrder.modifierExtension[0]",
        "Unknown modifier extension",
    )
    passes({**order, "extension": [unknown]})  # an unknown (plain) extension may be ignored
    birth = {"url": BIRTH_TIME, "valueDateTime": "2004-05-14T10:00:00+02:00"}
    fails_at(
        {"resourceType": "Patient", "birthDate": "2004-05-14", "_birthDate": {"modifierExtension": [birth]}},
        "Patient.birthDate.modifierExtension",
        "Unknown element",
    )
    fails_at(
        {**order, "modifierExtension": [{**birth}]},
        "NutritionOrder.modifierExtension[0]",
        "not a modifier extension",
    )


def test_our_extensions_keep_their_rules() -> None:
    decision = example("voorzorg-eligibility-decision")
    passes(decision)
    track = next(e for e in decision["extension"] if e["url"].endswith("voorzorg-track"))
    track["valueCoding"] = {"system": "urn:example:other", "code": "x"}
    assert any("voorzorg-track" in d or "ValueSet" in d for _, d in errors(decision))


# ---- slicing by type and by profile -----------------------------------------------------------------


def test_type_discriminator_core_bodyweight() -> None:
    """R4's bodyweight slices Observation.value[x] by type ($this): the Quantity slice binds kg/g/lb."""
    weight = observation(
        meta={"profile": [CORE + "bodyweight"]},
        category=[
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        subject={"reference": "Patient/1"},
        effectiveDateTime="2025-01-01",
        valueQuantity={"value": 70, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    )
    passes(weight)
    weight["valueQuantity"]["code"] = "m"  # only the slice says so: the item matched the Quantity slice
    fails_at(weight, "Observation.valueQuantity.code", "ucum-bodyweight")


def _slice_of(base_id: str, slice_name: str, changes: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The elements of a new slice of `base_id`: its own element and copies of its children."""
    core = next(
        sd for sd in core_definitions()["structureDefinitions"] if sd["url"] == CORE + base_id.split(".")[0]
    )
    out = []
    for el in core["snapshot"]["element"]:
        if el["id"] == base_id or el["id"].startswith(base_id + "."):
            new_id = base_id + ":" + slice_name + el["id"][len(base_id) :]
            out.append({**copy.deepcopy(el), "id": new_id, **changes.get(el["id"], {})})
    out[0]["sliceName"] = slice_name
    return out


def test_type_discriminator_on_a_choice() -> None:
    slicing = {"slicing": {"discriminator": [{"type": "type", "path": "$this"}], "rules": "open"}}
    quantity = _slice_of(
        "Observation.value[x]",
        "valueQuantity",
        {"Observation.value[x]": {"type": [{"code": "Quantity"}], "min": 1}},
    )
    profile = derived("Observation", "quantity-value", {"Observation.value[x]": slicing})
    profile["snapshot"]["element"] += quantity
    with registered(profile):
        url = profile["url"]
        passes(observation(valueQuantity={"value": 3}), url)
        fails_at(
            observation(valueString="3"),
            "Observation.valueString",
            "value[x]:valueQuantity: minimum required = 1",
            url,
        )


def test_profile_and_type_discriminators_on_bundle_entries() -> None:
    by_profile = {"slicing": {"discriminator": [{"type": "profile", "path": "resource"}], "rules": "open"}}
    client = _slice_of(
        "Bundle.entry",
        "client",
        {
            "Bundle.entry": {"min": 1, "max": "1"},
            "Bundle.entry.resource": {
                "type": [{"code": "Resource", "profile": [CANONICAL + "voorzorg-client"]}]
            },
        },
    )
    profile = derived("Bundle", "with-client", {"Bundle.entry": by_profile})
    profile["snapshot"]["element"] += client
    by_type = derived(
        "Bundle",
        "with-organization",
        {
            "Bundle.entry": {
                "slicing": {"discriminator": [{"type": "type", "path": "resource"}], "rules": "closed"}
            }
        },
    )
    by_type["snapshot"]["element"] += _slice_of(
        "Bundle.entry",
        "organization",
        {"Bundle.entry.resource": {"type": [{"code": "Resource", "profile": [CORE + "Organization"]}]}},
    )
    patient = example("voorzorg-client")
    no_bsn = copy.deepcopy(patient)
    no_bsn["identifier"][0]["system"] = "urn:oid:2.16.528.1.1007.3.3"  # not a BSN: not a voorzorg-client

    def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
        entries = [
            {"fullUrl": f"urn:uuid:0b6f8a6c-2b1e-4d7a-9a51-{n:012d}", "resource": r}
            for n, r in enumerate(resources)
        ]
        return {"resourceType": "Bundle", "type": "collection", "entry": entries}

    organization = {"resourceType": "Organization", "name": "De Wieg"}
    with registered(profile, by_type):
        passes(bundle(patient, organization), profile["url"])
        fails_at(
            bundle(no_bsn, organization),
            "Bundle.entry",
            "entry:client: minimum required = 1, found 0",
            profile["url"],
        )
        passes(bundle(organization), by_type["url"])
        fails_at(bundle(organization, patient), "Bundle.entry[1]", "closed slicing", by_type["url"])


# ---- Bundle rules ---------------------------------------------------------------------------------------


def _collection(*entries: dict[str, Any], kind: str = "collection") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def test_bundle_full_urls() -> None:
    org = {"resourceType": "Organization", "id": "o1", "name": "De Wieg"}
    passes(_collection({"fullUrl": "https://fhir.example/Organization/o1", "resource": org}))
    fails_at(_collection({"resource": org}), "Bundle.entry[0]", "fullUrl is required")
    fails_at(
        _collection({"fullUrl": "https://fhir.example/Organization/o2", "resource": org}),
        "Bundle.entry[0].fullUrl",
        "does not match",
    )
    fails_at(
        _collection({"fullUrl": "https://fhir.example/Organization/o1/_history/1", "resource": org}),
        "Bundle.entry[0].fullUrl",
        "bdl-8",
    )
    fails_at(
        _collection({"fullUrl": "urn:uuid:NOT-A-UUID", "resource": org}),
        "Bundle.entry[0].fullUrl",
        "urn:uuid",
    )
    create = {
        "resource": {"resourceType": "Organization", "name": "x"},
        "request": {"method": "POST", "url": "Organization"},
    }
    passes(_collection(create, kind="transaction"))  # a create needs no fullUrl


def test_bundle_unique_full_urls_and_ids() -> None:
    org = {"resourceType": "Organization", "id": "o1", "name": "De Wieg"}
    one = {"fullUrl": "https://fhir.example/Organization/o1", "resource": org}
    fails_at(_collection(one, copy.deepcopy(one)), "Bundle.entry[1].fullUrl", "bdl-7")
    fails_at(
        _collection(one, {"fullUrl": "https://other.example/Organization/o1", "resource": org}),
        "Bundle.entry[1].resource.id",
        "ids are unique",
    )
    v1 = {
        **one,
        "resource": {**org, "meta": {"versionId": "1"}},
        "request": {"method": "POST", "url": "Organization"},
        "response": {"status": "201"},
    }
    v2 = {
        **one,
        "resource": {**org, "meta": {"versionId": "2"}},
        "request": {"method": "PUT", "url": "Organization/o1"},
        "response": {"status": "200"},
    }
    passes(_collection(v2, v1, kind="history"))  # versions of one resource


def test_bundle_request_response_search_total() -> None:
    org = {"resourceType": "Organization", "id": "o1", "name": "De Wieg"}
    entry = {"fullUrl": "https://fhir.example/Organization/o1", "resource": org}
    fails_at(
        _collection({**entry, "request": {"method": "GET", "url": "Organization/o1"}}),
        "Bundle.entry[0].request",
        "bdl-3",
    )
    fails_at(_collection(entry, kind="history"), "Bundle.entry[0].request", "bdl-3")
    fails_at(_collection({**entry, "search": {"mode": "match"}}), "Bundle.entry[0].search", "bdl-2")
    passes({**_collection({**entry, "search": {"mode": "match"}}, kind="searchset"), "total": 1})
    fails_at({**_collection(entry), "total": 1}, "Bundle.total", "bdl-1")
    fails_at(
        _collection({"fullUrl": "urn:uuid:0b6f8a6c-2b1e-4d7a-9a51-000000000001"}), "Bundle.entry[0]", "bdl-5"
    )
    fails_at(_collection(entry, kind="document"), "Bundle", "bdl-11")


def test_bundle_references_resolve_inside_it() -> None:
    patient = {"resourceType": "Patient", "name": [{"family": "Jansen"}]}
    obs = observation(subject={"reference": "urn:uuid:0b6f8a6c-2b1e-4d7a-9a51-000000000001"})
    good = _collection(
        {"fullUrl": "urn:uuid:0b6f8a6c-2b1e-4d7a-9a51-000000000001", "resource": patient},
        {"fullUrl": "urn:uuid:0b6f8a6c-2b1e-4d7a-9a51-000000000002", "resource": obs},
    )
    passes(good)
    bad = copy.deepcopy(good)
    bad["entry"][1]["resource"]["subject"]["reference"] = "urn:uuid:0b6f8a6c-2b1e-4d7a-9a51-000000000009"
    fails_at(bad, "Bundle.entry[1].resource.subject.reference", "does not resolve")


# ---- robustness ----------------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["Encounter", "Observation", "Bundle", "Patient", "Consent", "Task"]), st.data())
def test_any_json_in_any_base_element_gives_issues_never_an_exception(
    rtype: str, data: st.DataObject
) -> None:
    sd = structure_definitions()[CORE + rtype]
    names = sorted(
        {
            el["path"].split(".")[1].replace("[x]", "String")
            for el in sd["snapshot"]["element"]
            if el["path"].count(".") == 1
        }
    )
    resource: dict[str, Any] = {"resourceType": rtype}
    for name in data.draw(st.lists(st.sampled_from(names), max_size=3)):
        resource[name] = data.draw(_json)
    issues = validate(resource)
    assert all(isinstance(i, Issue) and i.expression for i in issues)


def test_a_contained_resource_may_be_referred_to_by_a_canonical() -> None:
    """dom-3 counts `#id` in references, canonicals and uris: answerValueSet "#length" refers."""
    vs = {"resourceType": "ValueSet", "id": "length", "status": "active"}
    item = {"linkId": "1", "type": "choice", "answerValueSet": "#length"}
    questionnaire = {"resourceType": "Questionnaire", "status": "active", "contained": [vs], "item": [item]}
    passes(questionnaire)
    item["answerValueSet"] = "http://example.org/fhir/ValueSet/length"
    fails_at(questionnaire, "Questionnaire.contained[0]", "dom-3")


def test_a_primitive_with_only_extensions_may_have_a_null_value() -> None:
    """FHIR JSON: `"given": ["Noor", null]` with `"_given": [null, {"extension": [...]}]` is a given name that
    carries an extension and no value (ele-1 holds: it has children); a null without them is empty."""
    extended = {"extension": [{"url": "urn:x", "valueString": "x"}]}
    patient = {
        "resourceType": "Patient",
        "id": "p",
        "name": [{"given": ["Noor", None], "_given": [None, extended]}],
    }
    assert validate(patient) == []
    patient["name"][0]["_given"] = [None, None]
    assert [i.expression for i in validate(patient)] == [("Patient.name[0].given[1]",)]
