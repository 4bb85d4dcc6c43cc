"""Broken variants of each profile's example fail with the right expression, code and severity."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.domain.identifiers import is_valid_bsn
from adapter.fhir.outcome import Issue
from adapter.fhir.validator import has_errors, validate
from tests.profiles.examples import example, example_files

VZ = "https://fhir.voorzorg.nl/CodeSystem/"
Mut = Callable[[dict[str, Any]], object]


def cc(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def dup(key: str) -> Mut:
    return lambda r: r[key].append(copy.deepcopy(r[key][0]))


def drop(*path: str | int) -> Mut:  # removes the element (if present)
    def f(r: dict[str, Any]) -> None:
        for p in path[:-1]:
            r = r[p]  # type: ignore[index]
        r.pop(path[-1], None)  # type: ignore[call-overload]

    return f


def put(value: Any, *path: str | int) -> Mut:
    def f(r: dict[str, Any]) -> None:
        for p in path[:-1]:
            r = r[p]  # type: ignore[index]
        r[path[-1]] = copy.deepcopy(value)  # type: ignore[index]

    return f


def seq(*fs: Mut) -> Mut:
    def f(r: dict[str, Any]) -> None:
        for g in fs:
            g(r)

    return f


# (profile id, what, mutation, expected expression, expected code[, severity])
CASES: list[tuple[Any, ...]] = [
    # ---- voorzorg-client
    ("voorzorg-client", "birthDate removed", drop("birthDate"), "Patient.birthDate", "required"),
    ("voorzorg-client", "identifier removed", drop("identifier"), "Patient.identifier", "required"),
    (
        "voorzorg-client",
        "BSN elfproef",
        put("999911121", "identifier", 0, "value"),
        "Patient.identifier[0]",
        "invariant",
    ),
    (
        "voorzorg-client",
        "BSN 8 digits",
        put("99991112", "identifier", 0, "value"),
        "Patient.identifier[0]",
        "invariant",
    ),
    (
        "voorzorg-client",
        "BSN value removed",
        drop("identifier", 0, "value"),
        "Patient.identifier[0].value",
        "required",
    ),
    (
        "voorzorg-client",
        "no BSN slice",
        put("urn:oid:1.2.3", "identifier", 0, "system"),
        "Patient.identifier",
        "required",
    ),
    ("voorzorg-client", "two BSNs", dup("identifier"), "Patient.identifier", "structure"),
    ("voorzorg-client", "gender not in VS", put("f", "gender"), "Patient.gender", "code-invalid"),
    ("voorzorg-client", "birthDate format", put("14-05-2004", "birthDate"), "Patient.birthDate", "value"),
    ("voorzorg-client", "birthDate Feb 30", put("2004-02-30", "birthDate"), "Patient.birthDate", "value"),
    ("voorzorg-client", "unknown element", put(1, "shoeSize"), "Patient.shoeSize", "structure"),
    (
        "voorzorg-client",
        "birthDate as array",
        put(["2004-05-14"], "birthDate"),
        "Patient.birthDate",
        "structure",
    ),
    ("voorzorg-client", "empty name", put([{}], "name"), "Patient.name[0]", "structure"),
    # ---- voorzorg-referral
    ("voorzorg-referral", "authoredOn removed", drop("authoredOn"), "ServiceRequest.authoredOn", "required"),
    (
        "voorzorg-referral",
        "identifier duplicated",
        dup("identifier"),
        "ServiceRequest.identifier",
        "structure",
    ),
    ("voorzorg-referral", "status draft", put("draft", "status"), "ServiceRequest.status", "code-invalid"),
    ("voorzorg-referral", "intent plan", put("plan", "intent"), "ServiceRequest.intent", "value"),
    (
        "voorzorg-referral",
        "code changed",
        put(cc(VZ + "voorzorg-referral-item", "home-visit"), "code"),
        "ServiceRequest.code",
        "value",
    ),
    (
        "voorzorg-referral",
        "subject Practitioner",
        put({"reference": "Practitioner/x"}, "subject"),
        "ServiceRequest.subject",
        "invalid",
    ),
    (
        "voorzorg-referral",
        "requester Patient",
        put({"reference": "Patient/x"}, "requester"),
        "ServiceRequest.requester",
        "invalid",
    ),
    (
        "voorzorg-referral",
        "requester absolute URL Patient",
        put({"reference": "https://example.org/fhir/Patient/x"}, "requester"),
        "ServiceRequest.requester",
        "invalid",
    ),
    (
        "voorzorg-referral",
        "supportingInfo Patient",
        put([{"reference": "Patient/x"}], "supportingInfo"),
        "ServiceRequest.supportingInfo[0]",
        "invalid",
    ),
    (
        "voorzorg-referral",
        "identifier.value removed",
        drop("identifier", 0, "value"),
        "ServiceRequest.identifier[0].value",
        "required",
    ),
    (
        "voorzorg-referral",
        "authoredOn format",
        put("10-03-2025", "authoredOn"),
        "ServiceRequest.authoredOn",
        "value",
    ),
    # ---- voorzorg-referral-task
    ("voorzorg-referral-task", "focus removed", drop("focus"), "Task.focus", "required"),
    (
        "voorzorg-referral-task",
        "focus Patient",
        put({"reference": "Patient/x"}, "focus"),
        "Task.focus",
        "invalid",
    ),
    (
        "voorzorg-referral-task",
        "for Practitioner",
        put({"reference": "Practitioner/x"}, "for"),
        "Task.for",
        "invalid",
    ),
    ("voorzorg-referral-task", "rejected without reason", put("rejected", "status"), "Task", "invariant"),
    ("voorzorg-referral-task", "status bogus", put("bogus", "status"), "Task.status", "code-invalid"),
    (
        "voorzorg-referral-task",
        "status ready (core, not ours)",
        put("ready", "status"),
        "Task.status",
        "code-invalid",
    ),
    ("voorzorg-referral-task", "intent plan", put("plan", "intent"), "Task.intent", "value"),
    ("voorzorg-referral-task", "requester removed", drop("requester"), "Task.requester", "required"),
    (
        "voorzorg-referral-task",
        "code changed",
        put(cc(VZ + "voorzorg-referral-item", "home-visit"), "code"),
        "Task.code",
        "value",
    ),
    # ---- voorzorg-consult-request
    (
        "voorzorg-consult-request",
        "reasonCode removed",
        drop("reasonCode"),
        "ServiceRequest.reasonCode",
        "required",
    ),
    (
        "voorzorg-consult-request",
        "reasonCode outside (extensible)",
        put([cc("http://example.org", "x")], "reasonCode"),
        "ServiceRequest.reasonCode[0]",
        "code-invalid",
        "warning",
    ),
    (
        "voorzorg-consult-request",
        "basedOn Task",
        put([{"reference": "Task/x"}], "basedOn"),
        "ServiceRequest.basedOn[0]",
        "invalid",
    ),
    (
        "voorzorg-consult-request",
        "code changed",
        put(cc(VZ + "voorzorg-referral-item", "voorzorg-referral"), "code"),
        "ServiceRequest.code",
        "value",
    ),
    (
        "voorzorg-consult-request",
        "requester removed",
        drop("requester"),
        "ServiceRequest.requester",
        "required",
    ),
    # ---- voorzorg-consult-task
    (
        "voorzorg-consult-task",
        "focus Observation",
        put({"reference": "Observation/x"}, "focus"),
        "Task.focus",
        "invalid",
    ),
    ("voorzorg-consult-task", "for removed", drop("for"), "Task.for", "required"),
    (
        "voorzorg-consult-task",
        "on-hold without reason",
        seq(put("on-hold", "status"), drop("statusReason")),
        "Task",
        "invariant",
    ),
    ("voorzorg-consult-task", "code removed", drop("code"), "Task.code", "required"),
    # ---- voorzorg-pregnancy
    (
        "voorzorg-pregnancy",
        "value on the panel (0..0)",
        put("x", "valueString"),
        "Observation.valueString",
        "structure",
    ),
    ("voorzorg-pregnancy", "hasMember removed", drop("hasMember"), "Observation.hasMember", "required"),
    (
        "voorzorg-pregnancy",
        "hasMember Patient",
        put([{"reference": "Patient/x"}], "hasMember"),
        "Observation.hasMember[0]",
        "invalid",
    ),
    (
        "voorzorg-pregnancy",
        "code changed",
        put(cc("http://snomed.info/sct", "77386006"), "code"),
        "Observation.code",
        "value",
    ),
    ("voorzorg-pregnancy", "status bogus", put("done", "status"), "Observation.status", "code-invalid"),
    # ---- voorzorg-estimated-delivery-date
    (
        "voorzorg-estimated-delivery-date",
        "value as string",
        seq(drop("valueDateTime"), put("2025-08-20", "valueString")),
        "Observation.valueString",
        "structure",
    ),
    (
        "voorzorg-estimated-delivery-date",
        "value removed",
        drop("valueDateTime"),
        "Observation.value",
        "required",
    ),
    (
        "voorzorg-estimated-delivery-date",
        "code not in VS",
        put(cc("http://loinc.org", "11779-6"), "code"),
        "Observation.code",
        "code-invalid",
    ),
    (
        "voorzorg-estimated-delivery-date",
        "subject removed",
        drop("subject"),
        "Observation.subject",
        "required",
    ),
    (
        "voorzorg-estimated-delivery-date",
        "a second value, of a type not allowed",
        put(1, "valueInteger"),
        "Observation.valueInteger",
        "structure",
    ),
    # ---- voorzorg-pregnancy-duration
    (
        "voorzorg-pregnancy-duration",
        "unit months",
        put("mo", "valueQuantity", "code"),
        "Observation.valueQuantity.code",
        "code-invalid",
    ),
    (
        "voorzorg-pregnancy-duration",
        "unit system",
        put("http://example.org/units", "valueQuantity", "system"),
        "Observation.valueQuantity.system",
        "value",
    ),
    (
        "voorzorg-pregnancy-duration",
        "value removed",
        drop("valueQuantity", "value"),
        "Observation.valueQuantity.value",
        "required",
    ),
    (
        "voorzorg-pregnancy-duration",
        "value as string",
        put("16", "valueQuantity", "value"),
        "Observation.valueQuantity.value",
        "value",
    ),
    (
        "voorzorg-pregnancy-duration",
        "effectivePeriod not allowed",
        seq(drop("effectiveDateTime"), put({"start": "2025-03-03"}, "effectivePeriod")),
        "Observation.effectivePeriod",
        "structure",
    ),
    # ---- voorzorg-parity
    ("voorzorg-parity", "negative", put(-1, "valueInteger"), "Observation", "invariant"),
    ("voorzorg-parity", "not an integer", put(1.5, "valueInteger"), "Observation.valueInteger", "value"),
    ("voorzorg-parity", "integer as string", put("2", "valueInteger"), "Observation.valueInteger", "value"),
    (
        "voorzorg-parity",
        "code not in VS",
        put(cc("http://loinc.org", "11996-6"), "code"),
        "Observation.code",
        "code-invalid",
    ),
    # ---- voorzorg-gravidity
    ("voorzorg-gravidity", "negative", put(-2, "valueInteger"), "Observation", "invariant"),
    (
        "voorzorg-gravidity",
        "code not in VS",
        put(cc("http://loinc.org", "11977-6"), "code"),
        "Observation.code",
        "code-invalid",
    ),
    (
        "voorzorg-gravidity",
        "subject Practitioner",
        put({"reference": "Practitioner/x"}, "subject"),
        "Observation.subject",
        "invalid",
    ),
    # ---- voorzorg-delivery-date
    (
        "voorzorg-delivery-date",
        "code changed",
        put(cc("http://loinc.org", "11778-8"), "code"),
        "Observation.code",
        "value",
    ),
    (
        "voorzorg-delivery-date",
        "bad dateTime",
        put("2025-05-13T25:00:00Z", "valueDateTime"),
        "Observation.valueDateTime",
        "value",
    ),
    (
        "voorzorg-delivery-date",
        "dateTime without zone",
        put("2025-05-13T10:00:00", "valueDateTime"),
        "Observation.valueDateTime",
        "value",
    ),
    # ---- voorzorg-last-menstruation-date
    (
        "voorzorg-last-menstruation-date",
        "code not in VS",
        put(cc("http://snomed.info/sct", "161714006"), "code"),
        "Observation.code",
        "code-invalid",
    ),
    (
        "voorzorg-last-menstruation-date",
        "value removed",
        drop("valueDateTime"),
        "Observation.value",
        "required",
    ),
    # ---- voorzorg-situation
    (
        "voorzorg-situation",
        "code home-visit",
        put(cc(VZ + "voorzorg-referral-item", "home-visit"), "code"),
        "Observation.code",
        "code-invalid",
    ),
    (
        "voorzorg-situation",
        "text-only code (required)",
        put({"text": "kwetsbaar"}, "code"),
        "Observation.code",
        "code-invalid",
    ),
    (
        "voorzorg-situation",
        "boolean as string",
        put("yes", "valueBoolean"),
        "Observation.valueBoolean",
        "value",
    ),
    # ---- voorzorg-voluntary-participation
    (
        "voorzorg-voluntary-participation",
        "status draft",
        put("draft", "status"),
        "Consent.status",
        "code-invalid",
    ),
    (
        "voorzorg-voluntary-participation",
        "scope changed",
        put(cc("http://terminology.hl7.org/CodeSystem/consentscope", "research"), "scope"),
        "Consent.scope",
        "value",
    ),
    ("voorzorg-voluntary-participation", "patient removed", drop("patient"), "Consent.patient", "required"),
    (
        "voorzorg-voluntary-participation",
        "patient Practitioner",
        put({"reference": "Practitioner/x"}, "patient"),
        "Consent.patient",
        "invalid",
    ),
    # ---- voorzorg-eligibility-decision (and its extensions)
    (
        "voorzorg-eligibility-decision",
        "track removed",
        lambda r: r["extension"].pop(0),
        "GuidanceResponse.extension",
        "required",
    ),
    (
        "voorzorg-eligibility-decision",
        "track voorzorg-verder (not an intake track)",
        put("voorzorg-verder", "extension", 0, "valueCoding", "code"),
        "GuidanceResponse.extension[0].valueCoding",
        "code-invalid",
    ),
    (
        "voorzorg-eligibility-decision",
        "two tracks",
        lambda r: r["extension"].append(copy.deepcopy(r["extension"][0])),
        "GuidanceResponse.extension",
        "structure",
    ),
    (
        "voorzorg-eligibility-decision",
        "consultRequired as string",
        seq(drop("extension", 1, "valueBoolean"), put("no", "extension", 1, "valueString")),
        "GuidanceResponse.extension[1].valueString",
        "structure",
    ),
    (
        "voorzorg-eligibility-decision",
        "moduleUri changed",
        put("https://example.org/x", "moduleUri"),
        "GuidanceResponse.moduleUri",
        "value",
    ),
    ("voorzorg-eligibility-decision", "note removed", drop("note"), "GuidanceResponse.note", "required"),
    (
        "voorzorg-eligibility-decision",
        "incomplete without missing items",
        put("incomplete", "extension", 0, "valueCoding", "code"),
        "GuidanceResponse",
        "invariant",
    ),
    (
        "voorzorg-eligibility-decision",
        "reasonCode not in VS",
        put([cc(VZ + "voorzorg-theme", "hechting")], "reasonCode"),
        "GuidanceResponse.reasonCode[0]",
        "code-invalid",
    ),
    (
        "voorzorg-eligibility-decision",
        "subject Organization",
        put({"reference": "Organization/x"}, "subject"),
        "GuidanceResponse.subject",
        "invalid",
    ),
    # ---- voorzorg-careplan
    ("voorzorg-careplan", "intent order", put("order", "intent"), "CarePlan.intent", "value"),
    (
        "voorzorg-careplan",
        "category not a track",
        put([cc(VZ + "voorzorg-theme", "hechting")], "category"),
        "CarePlan.category[0]",
        "code-invalid",
    ),
    ("voorzorg-careplan", "category duplicated", dup("category"), "CarePlan.category", "structure"),
    (
        "voorzorg-careplan",
        "period.start removed",
        drop("period", "start"),
        "CarePlan.period.start",
        "required",
    ),
    (
        "voorzorg-careplan",
        "goal Observation",
        put([{"reference": "Observation/x"}], "goal"),
        "CarePlan.goal[0]",
        "invalid",
    ),
    (
        "voorzorg-careplan",
        "activity status bogus",
        put("missed", "activity", 1, "detail", "status"),
        "CarePlan.activity[1].detail.status",
        "code-invalid",
    ),
    # ---- voorzorg-home-visit
    (
        "voorzorg-home-visit",
        "class changed",
        put({"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}, "class"),
        "Encounter.class",
        "value",
    ),
    ("voorzorg-home-visit", "finished without start", drop("period", "start"), "Encounter", "invariant"),
    ("voorzorg-home-visit", "type removed", drop("type"), "Encounter.type", "required"),
    (
        "voorzorg-home-visit",
        "subject Practitioner",
        put({"reference": "Practitioner/x"}, "subject"),
        "Encounter.subject",
        "invalid",
    ),
    (
        "voorzorg-home-visit",
        "reasonCode outside (extensible)",
        put([cc("http://example.org", "x")], "reasonCode"),
        "Encounter.reasonCode[0]",
        "code-invalid",
        "warning",
    ),
    # ---- voorzorg-theme-observation
    (
        "voorzorg-theme-observation",
        "assessment not in VS",
        put(cc(VZ + "voorzorg-theme-assessment", "panic"), "valueCodeableConcept"),
        "Observation.valueCodeableConcept",
        "code-invalid",
    ),
    (
        "voorzorg-theme-observation",
        "effective removed",
        drop("effectiveDateTime"),
        "Observation.effective",
        "required",
    ),
    (
        "voorzorg-theme-observation",
        "encounter Patient",
        put({"reference": "Patient/x"}, "encounter"),
        "Observation.encounter",
        "invalid",
    ),
    (
        "voorzorg-theme-observation",
        "code not a theme",
        put(cc(VZ + "voorzorg-track", "voorzorg"), "code"),
        "Observation.code",
        "code-invalid",
    ),
    # ---- voorzorg-theme-goal
    (
        "voorzorg-theme-goal",
        "category not a theme",
        put([cc(VZ + "voorzorg-track", "voorzorg")], "category"),
        "Goal.category[0]",
        "code-invalid",
    ),
    ("voorzorg-theme-goal", "category removed", drop("category"), "Goal.category", "required"),
    (
        "voorzorg-theme-goal",
        "subject Practitioner",
        put({"reference": "Practitioner/x"}, "subject"),
        "Goal.subject",
        "invalid",
    ),
    (
        "voorzorg-theme-goal",
        "lifecycleStatus bogus",
        put("done", "lifecycleStatus"),
        "Goal.lifecycleStatus",
        "code-invalid",
    ),
    # ---- voorzorg-sharing-consent
    (
        "voorzorg-sharing-consent",
        "recipient not in VS",
        put([cc(VZ + "voorzorg-sharing", "everyone")], "provision", "code"),
        "Consent.provision.code[0]",
        "code-invalid",
    ),
    ("voorzorg-sharing-consent", "dateTime removed", drop("dateTime"), "Consent.dateTime", "required"),
    ("voorzorg-sharing-consent", "provision removed", drop("provision"), "Consent.provision", "required"),
    ("voorzorg-sharing-consent", "status draft", put("draft", "status"), "Consent.status", "code-invalid"),
    # ---- voorzorg-ozks-summary
    (
        "voorzorg-ozks-summary",
        "type not a track",
        put([cc(VZ + "voorzorg-theme", "hechting")], "type"),
        "EpisodeOfCare.type[0]",
        "code-invalid",
    ),
    (
        "voorzorg-ozks-summary",
        "more than the minimum (a team)",
        put([{"reference": "CareTeam/x"}], "team"),
        "EpisodeOfCare.team",
        "structure",
    ),
    (
        "voorzorg-ozks-summary",
        "managingOrganization removed",
        drop("managingOrganization"),
        "EpisodeOfCare.managingOrganization",
        "required",
    ),
    # ---- the client's path (#22): intake visit, its findings, the programme, the transfer message
    ("voorzorg-intake-visit", "not finished", put("planned", "status"), "Encounter.status", "value"),
    ("voorzorg-intake-visit", "no referral", drop("basedOn"), "Encounter.basedOn", "required"),
    ("voorzorg-intake-visit", "no date", drop("period"), "Encounter.period", "required"),
    (
        "voorzorg-intake-finding",
        "code not a finding",
        put(cc(VZ + "voorzorg-referral-item", "very-vulnerable-situation"), "code"),
        "Observation.code",
        "code-invalid",
    ),
    ("voorzorg-intake-finding", "no visit", drop("encounter"), "Observation.encounter", "required"),
    (
        "voorzorg-intake-finding",
        "yes/no as a date",
        seq(drop("valueBoolean"), put("2025-03-17", "valueDateTime")),
        "Observation",
        "invariant",
    ),
    (
        "voorzorg-programme",
        "finished without a reason",
        put("finished", "status"),
        "EpisodeOfCare",
        "invariant",
    ),
    ("voorzorg-programme", "active without enrolment date", drop("period"), "EpisodeOfCare", "invariant"),
    (
        "voorzorg-programme",
        "no track",
        put(
            [
                cc(VZ + "voorzorg-referral-item", "voorzorg-programme"),
                cc(VZ + "voorzorg-referral-item", "voorzorg-programme"),
            ],
            "type",
        ),
        "EpisodeOfCare",
        "invariant",
    ),
    (
        "voorzorg-programme",
        "no referral",
        drop("referralRequest"),
        "EpisodeOfCare.referralRequest",
        "required",
    ),
    (
        "voorzorg-transfer-header",
        "another event",
        put({"system": VZ + "voorzorg-message-event", "code": "client-gone"}, "eventCoding"),
        "MessageHeader.eventCoding",
        "value",
    ),
    (
        "voorzorg-transfer-header",
        "no receiver",
        drop("destination", 0, "receiver"),
        "MessageHeader.destination[0].receiver",
        "required",
    ),
]


def _has(issues: list[Issue], expression: str, code: str, severity: str) -> bool:
    return any(i.expression == (expression,) and i.code == code and i.severity == severity for i in issues)


@pytest.mark.parametrize(
    ("profile_id", "what", "mutate", "expression", "code", "severity"),
    [(*c, "error") if len(c) == 5 else c for c in CASES],
    ids=[f"{c[0]}:{c[1]}" for c in CASES],
)
def test_broken_variant(
    profile_id: str, what: str, mutate: Mut, expression: str, code: str, severity: str
) -> None:
    res = example(profile_id)
    mutate(res)
    issues = validate(res)
    assert _has(issues, expression, code, severity), f"{what}: {issues}"
    if severity == "warning":
        assert not has_errors(issues), issues


def test_every_profile_has_broken_variants() -> None:
    from tests.profiles.test_validator_examples import PROFILE_IDS

    covered = {c[0] for c in CASES}
    assert covered == set(PROFILE_IDS)
    for pid in PROFILE_IDS:
        kinds = {c[4] for c in CASES if c[0] == pid}
        assert "required" in kinds or "value" in kinds or "code-invalid" in kinds, pid


def test_text_only_extensible_is_fine() -> None:
    res = example("voorzorg-consult-request")
    res["reasonCode"] = [{"text": "zie toelichting"}]
    assert validate(res) == []


def test_all_issues_at_once() -> None:
    res = example("voorzorg-referral")
    del res["authoredOn"]
    res["status"] = "draft"
    res["subject"] = {"reference": "Practitioner/x"}
    issues = validate(res)
    assert len(issues) == 3, issues
    assert {i.expression[0] for i in issues} == {
        "ServiceRequest.authoredOn",
        "ServiceRequest.status",
        "ServiceRequest.subject",
    }
    assert {i.code for i in issues} == {"required", "code-invalid", "invalid"}


def test_nested_required_only_when_parent_present() -> None:
    res = example("voorzorg-careplan")
    del res["period"]  # period 1..1: one issue for period, none for period.start
    issues = validate(res)
    assert [i.expression for i in issues] == [("CarePlan.period",)]


def test_issue_serialises_to_operation_outcome_issue() -> None:
    res = example("voorzorg-client")
    res["identifier"][0]["value"] = "123456789"
    (issue,) = validate(res)
    assert issue.to_fhir() == {
        "severity": "error",
        "code": "invariant",
        "diagnostics": issue.diagnostics,
        "expression": ["Patient.identifier[0]"],
    }
    assert "bsn-elfproef" in issue.diagnostics


# ---- the referral Bundle ------------------------------------------------------------------------


def _bundle() -> dict[str, Any]:
    return copy.deepcopy(example_files()["Bundle-example-referral-bundle.json"])


def _entry(bundle: dict[str, Any], rtype: str) -> tuple[int, dict[str, Any]]:
    return next(
        (i, e["resource"]) for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == rtype
    )


def test_bundle_issues_name_the_entry() -> None:
    b = _bundle()
    pi, patient = _entry(b, "Patient")
    si, sr = _entry(b, "ServiceRequest")
    patient["identifier"][0]["value"] = "999911121"
    sr["status"] = "on-hold"
    issues = validate(b)
    assert _has(issues, f"Bundle.entry[{pi}].resource.identifier[0]", "invariant", "error"), issues
    assert _has(issues, f"Bundle.entry[{si}].resource.status", "code-invalid", "error"), issues
    assert len(issues) == 2


def test_bundle_reference_target_resolved_by_full_url() -> None:
    b = _bundle()
    si, sr = _entry(b, "ServiceRequest")
    org_url = next(e["fullUrl"] for e in b["entry"] if e["resource"]["resourceType"] == "Organization")
    sr["subject"] = {"reference": org_url}  # urn:uuid of the Organization entry
    issues = validate(b)
    assert _has(issues, f"Bundle.entry[{si}].resource.subject", "invalid", "error"), issues


def test_bundle_dangling_urn() -> None:
    b = _bundle()
    si, sr = _entry(b, "ServiceRequest")
    sr["subject"] = {"reference": "urn:uuid:00000000-0000-4000-8000-000000000000"}
    issues = validate(b)
    assert _has(issues, f"Bundle.entry[{si}].resource.subject.reference", "invalid", "error"), issues


def test_contained_reference_target() -> None:
    res = example("voorzorg-referral")
    res["contained"] = [{"resourceType": "Practitioner", "id": "p1"}]
    res["subject"] = {"reference": "#p1"}
    issues = validate(res)
    assert _has(issues, "ServiceRequest.subject", "invalid", "error"), issues
    res["contained"] = [{"resourceType": "Patient", "id": "p1"}]
    assert validate(res) == []


# ---- the BSN invariant against a Python elfproef ------------------------------------------------


def _elfproef(bsn: str) -> bool:
    """The adapter's own elfproef (8 digits read with a leading 0), independent of the FHIRPath."""
    return is_valid_bsn(bsn)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="0123456789", min_size=8, max_size=9) | st.text(alphabet="0123456789x ", max_size=11))
def test_bsn_invariant_matches_python_elfproef(bsn: str) -> None:
    res = example("voorzorg-client")
    res["identifier"][0]["value"] = bsn
    issues = validate(res)
    if bsn == "":
        assert has_errors(issues)
        return
    assert (not has_errors(issues)) == _elfproef(bsn), (bsn, issues)


# ---- robustness: any JSON in any element gives issues, never an exception -------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted({c[0] for c in CASES})), st.data())
def test_never_raises(profile_id: str, data: st.DataObject) -> None:
    res = example(profile_id)
    key = data.draw(st.sampled_from(sorted(k for k in res if k != "resourceType")))
    res[key] = data.draw(_json)
    issues = validate(res)
    assert all(isinstance(i, Issue) and i.expression for i in issues)
