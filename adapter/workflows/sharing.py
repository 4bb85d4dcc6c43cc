"""The client's sharing consents, and the OZKS summary that exists only while she consents.

A sharing consent (profile voorzorg-sharing-consent) is recorded with `POST /Consent` and withdrawn by
updating it to `inactive` (`PUT /Consent/{id}`) or by recording a newer one that denies. After every
unit of work that touches her referral, plan, visits or consents, `KeepOzksSummary` (one of the effects
every unit of work runs, `adapter.workflows.effects`, inside the same transaction) makes her OZKS summary
agree with her consents: written while sharing with the OZKS is permitted, deleted the moment it is not.
The outbox effect, which runs after it, routes that write or deletion to the OZKS peer; the `ozks` role
can read summaries and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from adapter.data import own_system, sharing_rules
from adapter.domain.consent import may_share
from adapter.fhir.models import check_structure
from adapter.fhir.outcome import FhirError, version_conflict
from adapter.fhir.subject import client_of
from adapter.fhir.validator import has_errors, validate
from adapter.mapping.ids import careplan_id, ozks_summary_id, programme_id, referral_task_id
from adapter.mapping.sharing import SHARING_CONSENT_PROFILE, ozks_summary, sharing_consent
from adapter.security.access import Viewer
from adapter.store.engine import Store
from adapter.store.session import Alternative, Match, Session, Stored, VersionConflict, Write, new_id

OZKS = "ozks-summary"
#: Writes that can change what her summary says (or whether she may have one)
_TRIGGERS = {"Task", "CarePlan", "Encounter", "Consent"}


@dataclass(frozen=True)
class ConsentRecorded:
    consent: Write
    patient: str


def may_share_with(s: Session, patient: str, recipient: str, on: date | None = None) -> bool:
    """Whether `patient`'s data may go to `recipient` (a voorzorg-sharing code) on `on` (default today)."""
    _, found = s.search("Consent", [Match("patient", (Alternative(value=patient),))], 1000, 0)
    consents = [c for stored in found if (c := sharing_consent(stored.content)) is not None]
    default = sharing_rules()["recipients"][recipient]["without_consent"] == "permit"
    return may_share(consents, recipient, on or date.today(), without_consent=default)


def record_consent(store: Store, viewer: Viewer, consent: dict[str, Any]) -> ConsentRecorded:
    """A new sharing consent (or the same one again: matched on its identifier)."""
    patient = _checked(consent)

    def work(s: Session) -> ConsentRecorded:
        _known_patient(s, viewer, patient)
        ident = next((i for i in consent.get("identifier", []) if i.get("system") and i.get("value")), None)
        cid = s.claim_key("Consent", ident["system"], ident["value"], new_id()) if ident else new_id()
        current = s.get("Consent", cid)
        if current is not None and not current.deleted:
            _same_patient(current, patient)
        return ConsentRecorded(s.put({**consent, "id": cid}), patient)

    return store.write(work)


def update_consent(
    store: Store, viewer: Viewer, consent_id: str, consent: dict[str, Any], if_match: int | None
) -> ConsentRecorded:
    """A consent changed, typically withdrawn (status inactive); optimistic locking with If-Match."""
    if consent.get("id") != consent_id:
        raise FhirError.one(
            400, f"Resource id {consent.get('id')!r} does not match the URL's {consent_id!r}", "Consent.id"
        )
    patient = _checked(consent)

    def work(s: Session) -> ConsentRecorded:
        _known_patient(s, viewer, patient)
        current = s.get("Consent", consent_id)
        if current is None or current.deleted or sharing_consent(current.content) is None:
            raise FhirError.one(404, f"Consent/{consent_id} is not a known sharing consent", code="not-found")
        _same_patient(current, patient)
        try:
            return ConsentRecorded(s.put(consent, if_match=if_match), patient)
        except VersionConflict as e:
            raise version_conflict("Consent", if_match, e.current) from None

    return store.write(work)


def _checked(consent: dict[str, Any]) -> str:
    check_structure(consent)
    if consent.get("resourceType") != "Consent":
        raise FhirError.one(400, f"A Consent is expected, not {consent.get('resourceType')}", "resourceType")
    issues = validate(consent, SHARING_CONSENT_PROFILE)
    if has_errors(issues):
        raise FhirError(422, [i for i in issues if i.severity in ("error", "fatal")])
    ref = str(consent["patient"].get("reference", ""))
    if not ref.startswith("Patient/") or ref.count("/") != 1:
        raise FhirError.one(
            422, "The consent names the client as Patient/[id]", "Consent.patient", code="required"
        )
    return ref


def _known_patient(s: Session, viewer: Viewer, patient: str) -> None:
    """Only for a client the caller has a part in: another's client is as unknown as a missing one."""
    found = s.live(patient)
    if found is None or not viewer.sees(s, found):
        raise FhirError.one(422, f"{patient} is not known", "Consent.patient", code="not-found")


def _same_patient(current: Stored, patient: str) -> None:
    if current.content.get("patient", {}).get("reference") != patient:
        raise FhirError.one(
            422, "A consent stays with the client it was given by", "Consent.patient", code="business-rule"
        )


# --- the OZKS summary ----------------------------------------------------------------------------


summary_id = ozks_summary_id


def refresh_ozks_summary(s: Session, patient: str, organization: tuple[str, str]) -> None:
    """Make her summary agree with her consents and her referral's current state."""
    sid = summary_id(patient)
    current = s.get("EpisodeOfCare", sid)
    body = _summary(s, patient, sid, organization) if may_share_with(s, patient, OZKS) else None
    if body is None:
        if current is not None and not current.deleted:
            s.delete("EpisodeOfCare", sid)
        return
    s.put(body)


def _summary(s: Session, patient: str, sid: str, organization: tuple[str, str]) -> dict[str, Any] | None:
    mother = s.get(*patient.split("/", 1))
    # her newest referral (not a consult request filed for it: that is a ServiceRequest about her too)
    referral_code = Alternative(value="voorzorg-referral", system=own_system("voorzorg-referral-item"))
    _, referrals = s.search(
        "ServiceRequest",
        [Match("patient", (Alternative(value=patient),)), Match("code", (referral_code,))],
        1,
        0,
        True,
    )
    if mother is None or mother.deleted or not referrals:
        return None
    referral = referrals[0].res_id
    task = s.get("Task", referral_task_id(referral))
    if task is None or task.deleted:
        return None
    plan = s.get("CarePlan", careplan_id(referral))
    _, visits = s.search("Encounter", [Match("patient", (Alternative(value=patient),))], 1, 0, True)
    nurse = next(
        (p["individual"] for v in visits for p in v.content.get("participant", []) if p.get("individual")),
        None,
    )
    programme = s.live(f"EpisodeOfCare/{programme_id(referral)}")
    return ozks_summary(
        summary_id=sid,
        patient=mother.content,
        task=task.content,
        careplan=plan.content if plan is not None and not plan.deleted else None,
        nurse=nurse,
        organization=organization,
        programme=programme.content if programme is not None else None,
    )


class KeepOzksSummary:
    """The effect: the OZKS summaries of the clients a unit of work touched are brought up to date."""

    def __init__(self, organization: str) -> None:
        system, _, value = organization.partition("|")
        self.organization = (system, value)

    def __call__(self, s: Session) -> None:
        patients = dict.fromkeys(
            client
            for w in list(s.written)
            if w.stored.res_type in _TRIGGERS and (client := client_of(w.stored.content)) is not None
        )
        for patient in patients:
            refresh_ozks_summary(s, patient, self.organization)
