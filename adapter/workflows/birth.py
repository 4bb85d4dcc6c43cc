"""The birth reported: the visit plan moves with it.

A birth reaches the adapter in one of two ways the issue names: an Observation of the delivery date
(LOINC 93857-1, profile voorzorg-delivery-date) about the mother, or the child's Patient with a
birthDate and a `link` to the mother. Either way the mother's current care plan is re-timed (domain
`retime`): visits already recorded stay as they are, the visits still to come move with the birth.
The report itself is stored and named in the plan's supportingInfo, so the plan says what it was
re-timed on, and a corrected report (the same Observation again with another date) re-times again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from adapter.data import path_rules, referral_codes, visit_schedule
from adapter.domain.identifiers import is_valid_bsn
from adapter.domain.programme import OutcomeProblem, outcome_problems
from adapter.domain.visitplan import retime
from adapter.fhir.models import check_structure
from adapter.fhir.outcome import FhirError, Issue
from adapter.fhir.validator import has_errors, validate
from adapter.mapping.birth_in import birth_outcome
from adapter.mapping.careplan_out import recorded_sequences, visit_plan_of, with_records
from adapter.mapping.ids import child_id, delivery_date_id
from adapter.store.engine import Store
from adapter.store.session import Alternative, Match, Session, Stored, Write
from adapter.workflows.careplan import careplan_body, plan_rules, stored_facts

DELIVERY_DATE_LOINC = "93857-1"
DELIVERY_DATE_PROFILE = "https://fhir.voorzorg.nl/StructureDefinition/voorzorg-delivery-date"
#: Plans that still run, and so move with the birth (a revoked or completed plan stays as it was).
_RUNNING = ("active", "on-hold", "draft")


@dataclass(frozen=True)
class BirthRecorded:
    report: Write  # the delivery-date Observation or the child's Patient
    careplan: Write | None  # the re-timed plan (None: nothing changed)
    mother: str


def is_delivery_date(observation: dict[str, Any]) -> bool:
    return any(
        c.get("system") == "http://loinc.org" and c.get("code") == DELIVERY_DATE_LOINC
        for c in observation.get("code", {}).get("coding", [])
    )


def record_delivery_date(store: Store, observation: dict[str, Any]) -> BirthRecorded:
    """Store the delivery-date Observation and re-time the mother's plan; 422 naming what is wrong."""
    check_structure(observation)
    _conform(observation, DELIVERY_DATE_PROFILE)
    _plausible_outcome(observation)  # the birth outcome it may carry (what monitoring counts)
    born = _date(observation.get("valueDateTime"), "Observation.valueDateTime")
    mother = _patient_reference(observation.get("subject", {}), "Observation.subject")

    def work(s: Session) -> BirthRecorded:
        careplan = _running_plan(s, mother, "Observation.subject")
        referral_id = careplan.content["supportingInfo"][0]["reference"].split("/", 1)[1]
        oid = delivery_date_id(referral_id)
        previous = reported_birth(s, careplan.content, referral_id)
        report = s.put({**observation, "id": oid})
        return BirthRecorded(report, _retime(s, careplan, referral_id, born, previous, report.stored), mother)

    return store.write(work)


def record_child(store: Store, patient: dict[str, Any]) -> BirthRecorded:
    """Store the child's Patient (linked to the mother) and re-time the mother's plan on its birthDate."""
    check_structure(patient)
    if patient.get("resourceType") != "Patient":
        raise FhirError.one(400, "A child is recorded as a Patient", "resourceType")
    _conform(patient, None)
    born = _date(patient.get("birthDate"), "Patient.birthDate")
    links = [(i, link) for i, link in enumerate(patient.get("link", [])) if link.get("type") == "seealso"]
    if not links:
        raise FhirError.one(
            422,
            "A child's Patient names the mother: link with type 'seealso' and other = Patient/[mother]",
            "Patient.link",
            code="required",
        )
    i, link = links[0]
    mother = _patient_reference(link.get("other", {}), f"Patient.link[{i}].other")
    bsn_system = referral_codes()["systems"]["bsn"]
    bsn = [
        (n, ident)
        for n, ident in enumerate(patient.get("identifier", []))
        if ident.get("system") == bsn_system
    ]
    for n, ident in bsn:
        if not is_valid_bsn(str(ident.get("value", ""))):
            raise FhirError.one(
                422, "Not a valid BSN (elfproef)", f"Patient.identifier[{n}].value", code="value"
            )

    def work(s: Session) -> BirthRecorded:
        careplan = _running_plan(s, mother, f"Patient.link[{i}].other")
        referral_id = careplan.content["supportingInfo"][0]["reference"].split("/", 1)[1]
        proposed = child_id(referral_id, born.isoformat(), _name_key(patient))
        cid = s.claim_key("Patient", bsn_system, str(bsn[0][1]["value"]), proposed) if bsn else proposed
        if cid == mother.split("/", 1)[1]:
            raise FhirError.one(
                422, "The child's BSN is the mother's", f"Patient.identifier[{bsn[0][0]}].value", code="value"
            )
        previous = reported_birth(s, careplan.content, referral_id)
        report = s.put({**patient, "id": cid})
        return BirthRecorded(report, _retime(s, careplan, referral_id, born, previous, report.stored), mother)

    return store.write(work)


def _retime(
    s: Session, careplan: Stored, referral_id: str, born: date, previous: date | None, report: Stored
) -> Write | None:
    """Re-time the plan on `born` (unless it already runs on that birth) and name the report."""
    if previous == born:
        body = dict(careplan.content)
    else:
        schedule = visit_schedule()
        facts = stored_facts(s, referral_id)
        planned = visit_plan_of(careplan.content, facts.expected_birth(schedule.full_term_days), previous)
        done, missed = recorded_sequences(careplan.content)
        with plan_rules():
            retimed = retime(planned, born, done, missed_sequences=missed, schedule=schedule)
        body = with_records(
            careplan.content,
            careplan_body(retimed, careplan.res_id, careplan.content["subject"]["reference"], referral_id),
        )
        body["status"] = careplan.content["status"]
    infos = [i for i in body.get("supportingInfo", []) if i.get("reference") not in _birth_reports(body)]
    body["supportingInfo"] = [*infos, {"reference": report.reference}]
    written = s.put(body)
    return written if written.changed else None


def reported_birth(s: Session, careplan: dict[str, Any], referral_id: str) -> date | None:
    """The birth the plan runs on now: the last report it names, else the birth the referral gave."""
    for ref in reversed(_birth_reports(careplan)):
        found = s.get(*ref.split("/", 1))
        if found is None or found.deleted:
            continue
        if found.res_type == "Observation":
            return date.fromisoformat(str(found.content["valueDateTime"])[:10])
        return date.fromisoformat(str(found.content["birthDate"])[:10])
    facts = stored_facts(s, referral_id)
    return facts.delivery_date if facts.child_born else None


def _birth_reports(careplan: dict[str, Any]) -> list[str]:
    """The birth reports a plan names: supportingInfo beyond the referral and its decision."""
    return [
        ref
        for i in careplan.get("supportingInfo", [])
        if (ref := str(i.get("reference", ""))).startswith(("Observation/", "Patient/"))
        and ref.count("/") == 1
    ]


def _running_plan(s: Session, mother: str, element: str) -> Stored:
    """The mother's care plan that still runs (the newest, should there be more)."""
    found = s.get(*mother.split("/", 1))
    if found is None or found.deleted:
        raise FhirError.one(422, f"{mother} is not known", element, code="not-found")
    _, plans = s.search(
        "CarePlan",
        [
            Match("patient", (Alternative(value=mother),)),
            Match("status", tuple(Alternative(value=st) for st in _RUNNING)),
        ],
        10,
        0,
        newest_first=True,
    )
    if not plans:
        raise FhirError.one(
            422, f"{mother} has no running VoorZorg care plan to re-time", element, code="business-rule"
        )
    return plans[0]


def _plausible_outcome(observation: dict[str, Any]) -> None:
    """422 naming each implausible value of the birth outcome (limits in mappings/path.yaml)."""
    outcome, where = birth_outcome(observation)
    problems = outcome_problems(outcome, path_rules())
    if problems:
        lo_ga, hi_ga = path_rules().gestational_age_at_birth_days
        lo_w, hi_w = path_rules().birth_weight_grams
        text = {
            OutcomeProblem.GESTATIONAL_AGE: f"A gestational age at birth outside {lo_ga}-{hi_ga} days "
            "is not plausible",
            OutcomeProblem.BIRTH_WEIGHT: f"A birth weight outside {lo_w}-{hi_w} g is implausible",
        }
        raise FhirError(422, [Issue(text[p], (where[(p, i)],), "value") for p, i in problems])


def _conform(resource: dict[str, Any], profile: str | None) -> None:
    issues = validate(resource, profile) if profile else validate(resource)
    if has_errors(issues):
        raise FhirError(422, [i for i in issues if i.severity in ("error", "fatal")])


def _date(value: object, element: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise FhirError(
            422, [Issue(f"{value!r} is not a date of birth (YYYY-MM-DD)", (element,), "value")]
        ) from None


def _patient_reference(ref: dict[str, Any], element: str) -> str:
    value = str(ref.get("reference", ""))
    if not value.startswith("Patient/") or value.count("/") != 1:
        raise FhirError.one(422, "Must reference the mother as Patient/[id]", element, code="required")
    return value


def _name_key(patient: dict[str, Any]) -> str:
    """Twins born the same day are two children: told apart by the sender's identifier or given name."""
    for ident in patient.get("identifier", []):
        if ident.get("value"):
            return f"{ident.get('system', '')}|{ident['value']}"
    names = [g for n in patient.get("name", []) for g in n.get("given", []) if isinstance(g, str)]
    return names[0] if names else "-"
