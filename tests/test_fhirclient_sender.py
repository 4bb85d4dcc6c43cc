"""The adapter as other parties see it: real HTTP, their own FHIR client libraries.

An obstetric system sends the referral with `fhirclient` (the SMART Python client, whose models are
strict FHIR R4 4.0.1: every answer of the adapter must parse into them) and follows the closed-loop
Task; a second party uses `fhirpy` to find the client by BSN and read the decision. Both run against
a real uvicorn server on each store backend. Every request carries `auth_headers`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fhirclient import client as smart_client
from fhirclient.models import (
    bundle,
    codeableconcept,
    coding,
    consent,
    fhirdate,
    fhirdatetime,
    fhirreference,
    guidanceresponse,
    identifier,
    observation,
    organization,
    patient,
    quantity,
    servicerequest,
    task,
)
from fhirpy import SyncFHIRClient

from adapter.api.app import create_app
from adapter.config import Settings
from adapter.store.engine import Store
from tests.live import LiveServer

BSN_SYSTEM = "http://fhir.nl/fhir/NamingSystem/bsn"
URA_SYSTEM = "http://fhir.nl/fhir/NamingSystem/ura"
OWN = "https://fhir.voorzorg.nl/CodeSystem"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
EXAMPLE_BSN = "999911120"
EXAMPLE_REFERRAL_ID = ("urn:oid:2.16.528.1.1007.3.3.1234567.1", "VZ-2026-0042")


@pytest.fixture
def live(store: Store, settings: Settings, auth_headers: dict[str, str]) -> Iterator[LiveServer]:
    """The adapter on a real socket, on each backend.

    It keeps the `settings` fixture as is (base URL http://testserver), because `auth_headers` holds a
    token for exactly that audience; so absolute URLs in its answers (fullUrl, paging links) name
    http://testserver, which fhirpy maps back onto the socket (`url_aliases`)."""
    with LiveServer(create_app(settings, store), ready_headers=auth_headers) as server:
        yield server


def smart(live: LiveServer, auth_headers: dict[str, str]) -> smart_client.FHIRClient:
    """fhirclient against the adapter. It has no option for extra headers, but every call goes through
    `server.session` (a requests.Session), whose headers are merged into each request."""
    fc = smart_client.FHIRClient(settings={"app_id": "verloskundigenpraktijk", "api_base": f"{live.url}/"})
    fc.server.session.headers.update(auth_headers)
    return fc


def fhirpy_client(live: LiveServer, auth_headers: dict[str, str], settings: Settings) -> SyncFHIRClient:
    return SyncFHIRClient(live.url, extra_headers=dict(auth_headers), url_aliases=[settings.base_url])


def send_transaction(fc: smart_client.FHIRClient, referral: bundle.Bundle) -> bundle.Bundle:
    """POST the transaction to the base, as an obstetric system does, and parse the answer strictly."""
    response = fc.server.post_json("", referral.as_json())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    answer = bundle.Bundle(response.json())  # strict R4 4.0.1: raises on anything non-conformant
    assert answer.type == "transaction-response"
    return answer


def tasks_where(fc: smart_client.FHIRClient, params: dict[str, str]) -> list[task.Task]:
    """`Task?...` through fhirclient's search (every page, each entry a strict R4 Task)."""
    return list(task.Task.where(params).perform_resources_iter(fc.server))


def only(answer: bundle.Bundle, resource_type: str) -> Any:
    found = [e.resource for e in answer.entry if e.resource.resource_type == resource_type]
    assert len(found) == 1, f"{len(found)} {resource_type} entries in the transaction-response"
    return found[0]


# --- the referral, built the way an obstetric system with fhirclient would ---------------------------


def _ref(full_url: str) -> fhirreference.FHIRReference:
    r = fhirreference.FHIRReference()
    r.reference = full_url
    return r


def _concept(system: str, code: str, display: str | None = None) -> codeableconcept.CodeableConcept:
    c = coding.Coding()
    c.system, c.code = system, code
    if display:
        c.display = display
    cc = codeableconcept.CodeableConcept()
    cc.coding = [c]
    return cc


def _identifier(system: str, value: str) -> identifier.Identifier:
    i = identifier.Identifier()
    i.system, i.value = system, value
    return i


def _entry(full_url: str, resource: Any, url: str) -> bundle.BundleEntry:
    e = bundle.BundleEntry()
    e.fullUrl = full_url
    e.resource = resource
    e.request = bundle.BundleEntryRequest()
    e.request.method, e.request.url = "POST", url
    return e


def _observation(subject: str, code: codeableconcept.CodeableConcept, on: str) -> observation.Observation:
    o = observation.Observation()
    o.status = "final"
    o.code = code
    o.subject = _ref(subject)
    o.effectiveDateTime = fhirdatetime.FHIRDateTime(on)
    return o


def built_referral(bsn: str, referral_number: str) -> bundle.Bundle:
    """A first pregnancy of 16 weeks on 2026-02-20 (18 on the referral date), standalone Observations in
    LOINC and SNOMED, gravidity instead of parity, a URA Organization, and no Task (the adapter makes it).
    """
    urls = {k: f"urn:uuid:0b9e7c52-3f4d-4c1e-8a55-00000000000{i}" for i, k in enumerate("pOsdgvfcx")}
    on = "2026-03-02"

    pat = patient.Patient()
    pat.identifier = [_identifier(BSN_SYSTEM, bsn)]
    pat.gender = "female"
    pat.birthDate = fhirdate.FHIRDate("2006-11-30")

    org = organization.Organization()
    org.identifier = [_identifier(URA_SYSTEM, "90000123")]
    org.name = "Verloskundig Centrum Noord"

    duration = _observation(urls["p"], _concept(LOINC, "18185-9", "Gestational age"), "2026-02-20")
    duration.valueQuantity = quantity.Quantity()
    duration.valueQuantity.value = 16
    duration.valueQuantity.unit = "wk"
    duration.valueQuantity.system = "http://unitsofmeasure.org"
    duration.valueQuantity.code = "wk"

    gravidity = _observation(urls["p"], _concept(SNOMED, "161732006", "Gravida"), on)
    gravidity.valueInteger = 1

    situation = []
    for code, value in (
        ("very-vulnerable-situation", True),
        ("forced-framework", False),
        ("serious-parenting-problems", False),
    ):
        o = _observation(urls["p"], _concept(f"{OWN}/voorzorg-referral-item", code), on)
        o.valueBoolean = value
        situation.append(o)

    agrees = consent.Consent()
    agrees.status = "active"
    agrees.scope = _concept("http://terminology.hl7.org/CodeSystem/consentscope", "treatment")
    agrees.category = [_concept(LOINC, "59284-0", "Patient Consent")]
    agrees.patient = _ref(urls["p"])
    agrees.dateTime = fhirdatetime.FHIRDateTime(on)
    agrees.policyRule = codeableconcept.CodeableConcept(
        {"text": "Vrijwillige deelname aan VoorZorg"}
    )  # ppc-1

    sr = servicerequest.ServiceRequest()
    sr.identifier = [_identifier("urn:oid:2.16.528.1.1007.3.3.7654321.1", referral_number)]
    sr.status, sr.intent = "active", "order"
    sr.code = _concept(f"{OWN}/voorzorg-referral-item", "voorzorg-referral", "Aanmelding VoorZorg")
    sr.subject = _ref(urls["p"])
    sr.requester = _ref(urls["O"])
    sr.authoredOn = fhirdatetime.FHIRDateTime(on)
    supporting = [("d", duration), ("g", gravidity), ("v", situation[0]), ("f", situation[1])]
    supporting += [("x", situation[2]), ("c", agrees)]
    sr.supportingInfo = [_ref(urls[k]) for k, _ in supporting]

    b = bundle.Bundle()
    b.type = "transaction"
    b.entry = [
        _entry(urls["p"], pat, "Patient"),
        _entry(urls["O"], org, "Organization"),
        _entry(urls["s"], sr, "ServiceRequest"),
        *(_entry(urls[k], r, r.resource_type) for k, r in supporting),
    ]
    return b


# --- the tests ---------------------------------------------------------------------------------------


def test_example_referral_sent_with_fhirclient_is_accepted_and_the_task_follows(
    live: LiveServer, auth_headers: dict[str, str], referral: dict[str, Any]
) -> None:
    fc = smart(live, auth_headers)
    answer = send_transaction(fc, bundle.Bundle(referral))  # the example parses as strict R4 first

    sent_task = only(answer, "Task")
    sr_id = only(answer, "ServiceRequest").id
    patient_id = only(answer, "Patient").id

    t = task.Task.read(sent_task.id, fc.server)
    assert t.status == "accepted"
    assert t.intent == "order"
    assert t.focus.reference == f"ServiceRequest/{sr_id}"
    assert t.for_fhir.reference == f"Patient/{patient_id}"
    assert t.businessStatus.coding[0].code == "intake-planned"

    sr = servicerequest.ServiceRequest.read(sr_id, fc.server)
    assert (sr.identifier[0].system, sr.identifier[0].value) == EXAMPLE_REFERRAL_ID
    assert sr.subject.reference == f"Patient/{patient_id}"

    by_reference = tasks_where(fc, {"patient": f"Patient/{patient_id}"})
    assert [x.id for x in by_reference] == [t.id]
    by_id = tasks_where(fc, {"patient": patient_id, "status": "accepted"})
    assert [x.id for x in by_id] == [t.id]
    assert tasks_where(fc, {"patient": "no-such-patient"}) == []

    # Sending the same referral again re-decides in place: still one Task, the same one.
    again = send_transaction(fc, bundle.Bundle(referral))
    assert only(again, "Task").id == t.id
    assert len(tasks_where(fc, {"patient": patient_id})) == 1


def test_referral_built_with_fhirclient_models_without_a_task_gets_one(
    live: LiveServer, auth_headers: dict[str, str]
) -> None:
    fc = smart(live, auth_headers)
    sent = built_referral("999911132", "VN-2026-0007")
    answer = send_transaction(fc, sent)

    # One answer per request entry, in order; what the adapter made itself comes after them.
    types = [e.resource.resource_type for e in answer.entry]
    n = len(sent.entry)
    assert types[:n] == [e.resource.resource_type for e in sent.entry]
    assert {"Task", "GuidanceResponse"} <= set(types[n:])
    made = only(answer, "Task")  # the adapter's own closed-loop Task
    sr_id = only(answer, "ServiceRequest").id

    t = task.Task.read(made.id, fc.server)
    assert t.status == "accepted"
    assert t.focus.reference == f"ServiceRequest/{sr_id}"
    assert t.businessStatus.coding[0].code == "intake-planned"
    decision_ref = next(o.valueReference.reference for o in t.output if o.valueReference is not None)

    g = guidanceresponse.GuidanceResponse.read(decision_ref.split("/", 1)[1], fc.server)
    assert g.status == "success"
    assert g.subject.reference == t.for_fhir.reference


def test_second_party_with_fhirpy_finds_the_client_by_bsn_and_reads_the_decision(
    live: LiveServer, auth_headers: dict[str, str], settings: Settings, referral: dict[str, Any]
) -> None:
    answer = send_transaction(smart(live, auth_headers), bundle.Bundle(referral))
    task_id = only(answer, "Task").id

    fp = fhirpy_client(live, auth_headers, settings)
    patients = fp.resources("Patient").search(identifier=f"{BSN_SYSTEM}|{EXAMPLE_BSN}").fetch()
    assert len(patients) == 1
    woman = patients[0]
    assert woman["birthDate"] == "2004-05-17"
    assert fp.resources("Patient").search(identifier=f"{BSN_SYSTEM}|999911132").fetch() == []

    t = fp.reference("Task", task_id).to_resource()
    assert t["for"]["reference"] == f"Patient/{woman.id}"
    guidance_ref = next(o["valueReference"]["reference"] for o in t["output"] if "valueReference" in o)

    g = fp.reference(reference=guidance_ref).to_resource()
    assert g["resourceType"] == "GuidanceResponse"
    assert g["status"] == "success"
    assert g["subject"]["reference"] == f"Patient/{woman.id}"
    assert (g["requestIdentifier"]["system"], g["requestIdentifier"]["value"]) == EXAMPLE_REFERRAL_ID
    decision = {p["name"]: p for p in g["contained"][0]["parameter"]}
    assert decision["track"]["valueCoding"]["code"] == "voorzorg"
    assert decision["consultRequired"]["valueBoolean"] is False

    # The same decision by search, as a dossier system would poll for it.
    found = fp.resources("GuidanceResponse").search(patient=woman.id).fetch_all()
    assert [x.id for x in found] == [g.id]
