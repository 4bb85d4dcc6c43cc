"""Moving to another region: the warm handover of her programme to the JGZ organisation of her new region.

Sending (`POST /EpisodeOfCare/{id}/$transfer`, parameters destination, date, consent), in one transaction:
her consent to the handover (a sharing consent, recipient `jgz-transfer`, in force on the date) and a
configured peer that is the destination organisation are checked; the message (`mapping.transfer_out`:
client, programme, referral with the facts and decision it rests on, care plan with the visits done and
planned, the visits, the intake findings, birth reports, children, theme assessments and goals) is built
as it stands; her programme here ends with reason `moved`; and the message is queued in the outbox for
that peer (kind `transfer`: `POST [peer]/$process-message`, `adapter.exchange.handover`).

Receiving (`POST /$process-message`, the same message from another adapter): she is taken in as an
ongoing client — no new eligibility decision: the referral, its decision, the plan (visits done stay done)
and her programme go on here under ids of this adapter; the referral Task is ours, in progress. Taking in
the same message again (the outbox delivers at least once) changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from adapter.config import Settings
from adapter.data import own_system, referral_codes
from adapter.domain.identifiers import is_valid_bsn
from adapter.domain.programme import EndingReason, PathStatus
from adapter.exchange.outbox import enqueue
from adapter.exchange.peers import Peer, peer_of
from adapter.fhir.dates import now_instant
from adapter.fhir.models import check_structure
from adapter.fhir.outcome import FhirError, Issue
from adapter.fhir.references import references_in, retarget
from adapter.fhir.validator import validate, validate_bundle
from adapter.mapping.careplan_out import activity_sequence
from adapter.mapping.decision_out import TRACK_SYSTEM, business_status, concept
from adapter.mapping.ids import (
    careplan_id,
    delivery_date_id,
    guidance_id,
    intake_finding_id,
    intake_visit_id,
    programme_id,
    referral_task_id,
    transfer_id,
    transferred_id,
    verder_plan_id,
)
from adapter.mapping.intake_in import FINDING_PROFILE, INTAKE_VISIT_PROFILE, finding_item
from adapter.mapping.programme_out import FINAL, is_programme, read_programme
from adapter.mapping.sharing import sharing_consent
from adapter.mapping.transfer_out import TRANSFER_HEADER_PROFILE, TRANSFER_SYSTEM, transfer_message
from adapter.security.access import Viewer
from adapter.store.engine import Store
from adapter.store.session import Session, Stored, new_id
from adapter.workflows.birth import is_delivery_date
from adapter.workflows.intake import REFERRAL_TASK_PROFILE
from adapter.workflows.programme import end_programme, follow, referral_of
from adapter.workflows.sharing import may_share_with

FLOW = "jgz-transfer"
KIND = "transfer"
RECIPIENT = "jgz-transfer"
THEME_SYSTEM = own_system("voorzorg-theme")
#: What the referral's facts are made of (stored_facts walks these)
_REFERRAL_PARTS = {
    "ServiceRequest",
    "Patient",
    "Observation",
    "Consent",
    "Organization",
    "PractitionerRole",
    "Practitioner",
    "Condition",
}


@dataclass(frozen=True)
class Transfer:
    destination: tuple[str, str]
    on: date
    consent: str  # Consent/[id]


@dataclass(frozen=True)
class Transferred:
    programme: Stored
    message_id: str
    peer: str
    outbox_id: int
    carried: list[Stored]


def send(
    store: Store,
    viewer: Viewer,
    episode_id: str,
    transfer: Transfer,
    peers: Mapping[str, Peer],
    settings: Settings,
) -> Transferred:
    """Hand her programme over to the destination's adapter, with her consent; her programme here ends."""
    peer = _destination(peers, transfer.destination, settings.organization)

    def work(s: Session) -> Transferred:
        episode = viewer.found(s, f"EpisodeOfCare/{episode_id}", "The programme")
        referral_id = _running(episode)
        patient = str(episode.content["patient"]["reference"])
        _consented(s, patient, transfer)
        carried, lookup = dossier(s, referral_id, patient)
        message_id = transfer_id(episode.res_id)
        system, _, value = settings.organization.partition("|")
        message = transfer_message(
            message_id=message_id,
            timestamp=now_instant(),
            sender=(system, value),
            source=settings.base_url,
            destination=transfer.destination,
            destination_endpoint=peer.base_url,
            focus=episode,
            resources=carried,
            lookup=lookup,
        )
        ended = end_programme(
            s,
            referral_id,
            EndingReason.MOVED,
            transfer.on,
            text=f"Moved: handed over to {'|'.join(transfer.destination)}",
            organization=settings.organization,
        )
        refs = [episode.reference, *(c.reference for c in carried)]
        queued = enqueue(
            s,
            flow=FLOW,
            kind=KIND,
            peer=peer.name,
            client=patient,
            payload={"bundle": message, "carried": refs},
        )
        return Transferred(ended.programme, message_id, peer.name, queued, carried)

    return store.write(work)


def _running(episode: Stored) -> str:
    """The referral of a programme that runs (she is enrolled): only that is handed over."""
    referral_id = referral_of(episode)
    if referral_id is None:
        raise FhirError.one(404, f"{episode.reference} is no VoorZorg programme", code="not-found")
    status = read_programme(episode.content).status
    if status in FINAL:
        why = "Her programme has ended: there is nothing to hand over"
    elif status != "active":
        why = "She is not enrolled yet: forward the referral instead of handing over a programme"
    else:
        return referral_id
    raise FhirError.one(409, why, "EpisodeOfCare.status", code="business-rule")


def _destination(peers: Mapping[str, Peer], destination: tuple[str, str], ours: str) -> Peer:
    org = "|".join(destination)
    peer = peer_of(peers, org)
    if org == ours or peer is None:
        why = (
            "that is this organisation"
            if org == ours
            else "no peer of that organisation is configured (peers file)"
        )
        raise FhirError.one(
            422,
            f"Cannot hand over to {org}: {why}",
            "Parameters.parameter[destination]",
            code="business-rule",
        )
    return peer


def _consented(s: Session, patient: str, transfer: Transfer) -> None:
    """Her consent: the Consent named is hers, permits the handover and is in force on the date, and no
    newer one of hers denies it."""
    element = "Parameters.parameter[consent]"
    found = s.live(transfer.consent) if transfer.consent.startswith("Consent/") else None
    consent = sharing_consent(found.content) if found is not None else None
    if found is None or consent is None or (found.content.get("patient") or {}).get("reference") != patient:
        raise FhirError.one(
            422, f"{transfer.consent} is not a sharing consent of {patient}", element, code="business-rule"
        )
    if not (consent.permit and consent.covers(RECIPIENT, transfer.on)):
        raise FhirError.one(
            422,
            f"{transfer.consent} does not permit the handover ({RECIPIENT}) on {transfer.on.isoformat()}",
            element,
            code="business-rule",
        )
    if not may_share_with(s, patient, RECIPIENT, transfer.on):
        raise FhirError.one(422, "A newer consent of hers denies the handover", element, code="business-rule")


def dossier(
    s: Session, referral_id: str, patient: str
) -> tuple[list[Stored], dict[str, dict[str, Any] | None]]:
    """What the new region continues with, and what those resources reference beyond it."""
    found: dict[str, Stored] = {}

    def add(*stored: Stored | None) -> None:
        for st in stored:
            if st is not None:
                found.setdefault(st.reference, st)

    todo = [f"ServiceRequest/{referral_id}"]
    while todo:  # the referral and the facts it rests on, as stored_facts reads them
        ref = todo.pop()
        st = s.live(ref) if ref.count("/") == 1 and ref not in found else None
        if st is not None and st.res_type in _REFERRAL_PARTS:
            add(st)
            todo += references_in(st.content)
    cid = careplan_id(referral_id)
    add(
        s.live(f"GuidanceResponse/{guidance_id(referral_id)}"),
        s.live(f"CarePlan/{cid}"),
        s.live(f"CarePlan/{verder_plan_id(cid)}"),
    )
    add(*s.find("Encounter", based_on=f"ServiceRequest/{referral_id}"))
    add(*s.find("Observation", based_on=f"ServiceRequest/{referral_id}"))  # the intake findings
    children = s.find("Patient", link=patient)
    add(*children)
    for subject in (patient, *(c.reference for c in children)):
        add(*(o for o in s.find("Observation", subject=subject) if _theme(o) or _birth_report(o)))
        add(*s.find("Goal", subject=subject))
    carried = [st for st in found.values() if st.res_type != "EpisodeOfCare"]
    lookup: dict[str, dict[str, Any] | None] = {}
    for st in carried:
        for ref in references_in(st.content):
            if ref.count("/") == 1 and ref not in found and ref not in lookup:
                target = s.live(ref)
                lookup[ref] = target.content if target is not None else None
    return carried, lookup


def _theme(o: Stored) -> bool:
    return any(c.get("system") == THEME_SYSTEM for c in (o.content.get("code") or {}).get("coding", []))


def _birth_report(o: Stored) -> bool:
    return any(c.get("code") == "93857-1" for c in (o.content.get("code") or {}).get("coding", []))


def visits_done(plan: dict[str, Any]) -> list[int]:
    """The sequences of the visits a plan has done (what stays done at the new region)."""
    return sorted(
        seq
        for a in plan.get("activity", [])
        if a.get("detail", {}).get("status") == "completed" and (seq := activity_sequence(a)) is not None
    )


# --- receiving ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    """A transfer message that passed its checks: its entries by fullUrl, and what they are."""

    message_id: str
    header_id: str
    sender: tuple[str, str]
    entries: dict[str, dict[str, Any]]  # fullUrl -> resource
    index: dict[str, int]  # fullUrl -> entry index (to name elements)
    programme: str  # fullUrls
    mother: str
    referral: str
    bsn: str
    referral_identifier: tuple[str, str]


@dataclass(frozen=True)
class Received:
    programme: Stored
    patient: str
    taken_in: bool  # False: this message was taken in before (nothing changed)
    written: list[Stored]


def read_message(bundle: dict[str, Any], organization: str) -> Message:
    """A transfer message addressed to this organisation; 400/422 naming the element otherwise."""
    if bundle.get("resourceType") != "Bundle":
        raise FhirError.one(400, "$process-message takes a Bundle of type message", "resourceType")
    check_structure(bundle)
    if bundle.get("type") != "message":
        raise FhirError.one(422, "A message Bundle (type message) is expected", "Bundle.type", code="value")
    message_id = str((bundle.get("identifier") or {}).get("value") or "")
    if not message_id:
        raise FhirError.one(
            422,
            "The message needs its identifier (what makes taking it in again harmless)",
            "Bundle.identifier",
            code="required",
        )
    entries = bundle.get("entry", [])
    header = _header(entries[0].get("resource", {}) if entries else {}, organization)
    carried = [i for i in validate_bundle(bundle) if i.severity in ("error", "fatal")]
    if carried:  # each resource held to the profile it claims, references resolved inside the message
        raise FhirError(422, carried)
    by_url = {str(e.get("fullUrl")): e.get("resource", {}) for e in entries[1:] if e.get("fullUrl")}
    index = {str(e.get("fullUrl")): i for i, e in enumerate(entries) if e.get("fullUrl")}
    return _parts(header, message_id, by_url, index)


def _header(header: dict[str, Any], organization: str) -> dict[str, Any]:
    """The MessageHeader: a transfer (profile voorzorg-transfer-header) for this organisation."""
    if header.get("resourceType") != "MessageHeader":
        raise FhirError.one(
            422, "A message starts with its MessageHeader", "Bundle.entry[0].resource", code="required"
        )
    issues = [
        Issue(
            i.diagnostics,
            tuple("Bundle.entry[0].resource" + e[len("MessageHeader") :] for e in i.expression),
            i.code,
        )
        for i in validate(header, TRANSFER_HEADER_PROFILE)
        if i.severity in ("error", "fatal")
    ]
    if issues:
        raise FhirError(422, issues)
    receiver = (header["destination"][0].get("receiver") or {}).get("identifier") or {}
    if f"{receiver.get('system')}|{receiver.get('value')}" != organization:
        raise FhirError.one(
            422,
            f"The message is for {receiver.get('system')}|{receiver.get('value')}, "
            f"not for this organisation ({organization})",
            "Bundle.entry[0].resource.destination[0].receiver",
            code="business-rule",
        )
    return header


def _parts(
    header: dict[str, Any], message_id: str, by_url: dict[str, dict[str, Any]], index: dict[str, int]
) -> Message:
    focus = str((header.get("focus") or [{}])[0].get("reference", ""))
    programme = by_url.get(focus)
    if programme is None or not is_programme(programme):
        raise FhirError.one(
            422,
            "The focus is her programme (EpisodeOfCare, profile voorzorg-programme) in this message",
            "Bundle.entry[0].resource.focus[0]",
            code="required",
        )
    where = f"Bundle.entry[{index[focus]}].resource"
    mother = str((programme.get("patient") or {}).get("reference", ""))
    referral = str(((programme.get("referralRequest") or [{}])[0]).get("reference", ""))
    patient, sr = by_url.get(mother), by_url.get(referral)
    if patient is None or patient.get("resourceType") != "Patient":
        raise FhirError.one(
            422, "The programme's client is not in the message", f"{where}.patient", code="required"
        )
    if sr is None or sr.get("resourceType") != "ServiceRequest" or len(sr.get("identifier", [])) != 1:
        raise FhirError.one(
            422,
            "The programme's referral (with its identifier) is not in the message",
            f"{where}.referralRequest",
            code="required",
        )
    bsn_system = referral_codes()["systems"]["bsn"]
    bsn = next(
        (
            str(i["value"])
            for i in patient.get("identifier", [])
            if i.get("system") == bsn_system and i.get("value")
        ),
        "",
    )
    if not is_valid_bsn(bsn):
        raise FhirError.one(
            422,
            "The client needs a valid BSN",
            f"Bundle.entry[{index[mother]}].resource.identifier",
            code="value",
        )
    sender = (header.get("sender") or {}).get("identifier") or {}
    ident = sr["identifier"][0]
    return Message(
        message_id,
        str(header.get("id", "")),
        (str(sender.get("system", "")), str(sender.get("value", ""))),
        by_url,
        index,
        focus,
        mother,
        referral,
        bsn,
        (str(ident.get("system", "")), str(ident.get("value", ""))),
    )


def receive(store: Store, message: Message, organization: str) -> Received:
    """Take her in as an ongoing client: no new decision; referral, plan and programme go on here."""

    def work(s: Session) -> Received:
        patient_id = s.claim_key("Patient", referral_codes()["systems"]["bsn"], message.bsn, new_id())
        referral_id = s.claim_key("ServiceRequest", *message.referral_identifier, new_id())
        current = s.live(f"EpisodeOfCare/{programme_id(referral_id)}")
        if current is not None:
            taken = any(
                i.get("system") == TRANSFER_SYSTEM and i.get("value") == message.message_id
                for i in current.content.get("identifier", [])
            )
            if taken:
                return Received(current, f"Patient/{patient_id}", False, [])
            if read_programme(current.content).status not in FINAL:
                raise FhirError.one(
                    409,
                    "Her programme for this referral runs here already",
                    "Bundle.entry[0].resource.focus[0]",
                    code="business-rule",
                )
        ids = _receiving_ids(s, message, patient_id, referral_id)
        written = [
            s.put(_as_ours(message.entries[url], ids, url)).stored for url in message.entries if url in ids
        ]
        programme = s.put(_programme(message, ids, organization)).stored
        task = s.put(_referral_task(message, ids, referral_id, organization)).stored
        followed = follow(s, referral_id, organization) or programme
        return Received(followed, f"Patient/{patient_id}", True, [*written, task, followed])

    return store.write(work)


def _receiving_ids(s: Session, message: Message, patient_id: str, referral_id: str) -> dict[str, str]:
    """fullUrl -> `Type/id` here: business keys where there are (BSN, referral number), the roles the
    adapter derives ids for (plan, decision, programme, intake visit and findings, birth report), else
    an id derived from the referral and the resource's place in the message."""
    bsn_system = referral_codes()["systems"]["bsn"]
    cid = careplan_id(referral_id)
    out: dict[str, str] = {}
    for url, res in message.entries.items():
        rtype = str(res.get("resourceType", ""))
        profiles = (res.get("meta") or {}).get("profile", [])
        if url == message.mother:
            rid = patient_id
        elif url == message.referral:
            rid = referral_id
        elif url == message.programme:
            rid = programme_id(referral_id)
        elif rtype == "CarePlan":
            rid = verder_plan_id(cid) if res.get("replaces") else cid
        elif rtype == "GuidanceResponse":
            rid = guidance_id(referral_id)
        elif rtype == "Encounter" and INTAKE_VISIT_PROFILE in profiles:
            rid = intake_visit_id(referral_id)
        elif rtype == "Observation" and FINDING_PROFILE in profiles and (item := finding_item(res)):
            rid = intake_finding_id(referral_id, item)
        elif rtype == "Observation" and is_delivery_date(res):
            rid = delivery_date_id(referral_id)
        elif rtype == "Patient" and (
            bsn := next(
                (str(i["value"]) for i in res.get("identifier", []) if i.get("system") == bsn_system), None
            )
        ):
            rid = s.claim_key("Patient", bsn_system, bsn, transferred_id(referral_id, url))
        else:
            rid = transferred_id(referral_id, url)
        out[url] = f"{rtype}/{rid}"
    return out


def _as_ours(resource: dict[str, Any], ids: dict[str, str], url: str) -> dict[str, Any]:
    body: dict[str, Any] = retarget(copy.deepcopy(resource), ids)
    body["id"] = ids[url].split("/", 1)[1]
    return body


def _programme(message: Message, ids: dict[str, str], organization: str) -> dict[str, Any]:
    body = _as_ours(message.entries[message.programme], ids, message.programme)
    system, _, value = organization.partition("|")
    body["managingOrganization"] = {"identifier": {"system": system, "value": value}}
    body["identifier"] = [
        *(i for i in body.get("identifier", []) if i.get("system") != TRANSFER_SYSTEM),
        {"system": TRANSFER_SYSTEM, "value": message.message_id},
    ]
    return body


def _referral_task(
    message: Message, ids: dict[str, str], referral_id: str, organization: str
) -> dict[str, Any]:
    """Our closed-loop Task of the referral taken over: in progress (she is enrolled), from the JGZ she
    left; the decision travels with her (no new one)."""
    referral = message.entries[message.referral]
    programme = message.entries[message.programme]
    track = next(
        (
            c["code"]
            for t in programme.get("type", [])
            for c in t.get("coding", [])
            if c.get("system") == own_system("voorzorg-track")
        ),
        "voorzorg",
    )
    system, _, value = organization.partition("|")
    gid = guidance_id(referral_id)
    outputs: list[dict[str, Any]] = [
        {"type": {"text": "track"}, "valueCodeableConcept": concept(TRACK_SYSTEM, track)}
    ]
    if f"GuidanceResponse/{gid}" in ids.values():  # the decision travelled with her: no new one
        decision = {"reference": f"GuidanceResponse/{gid}"}
        outputs.insert(0, {"type": {"text": "eligibility decision"}, "valueReference": decision})
    taken_from = "|".join(message.sender)
    return {
        "resourceType": "Task",
        "id": referral_task_id(referral_id),
        "meta": {"profile": [REFERRAL_TASK_PROFILE]},
        "status": "in-progress",
        "intent": "order",
        "code": concept("voorzorg-referral-item", "voorzorg-referral"),
        "focus": {"reference": f"ServiceRequest/{referral_id}"},
        "for": {"reference": ids[message.mother]},
        "authoredOn": referral.get("authoredOn"),
        "lastModified": now_instant(),
        "requester": {
            "type": "Organization",
            "identifier": {"system": message.sender[0], "value": message.sender[1]},
        },
        "owner": {"type": "Organization", "identifier": {"system": system, "value": value}},
        "businessStatus": business_status(PathStatus.ENROLLED),
        "output": outputs,
        "note": [{"text": f"Taken over from {taken_from} (warm handover, message {message.message_id})"}],
    }
