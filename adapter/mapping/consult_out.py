"""VoorZorg Consult <-> FHIR: the consult request (ServiceRequest, category consultation, its facts as
contained Observations) with its Task, and the advice read back from the Task's output.

Everything here is what the consult role can read, so nothing here names the client: she is a
reference (`Patient/{id}`, which the consult role cannot read), the facts are ages and yes/no answers.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.data import consult_rules, own_system
from adapter.domain.consult import Advice, Value
from adapter.mapping.decision_out import REASON_SYSTEM, coding, concept

SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
CONSULT_ITEM = "voorzorg-consult-item"
ADVICE_SYSTEM = "voorzorg-consult-advice"
REQUEST_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/voorzorg-consult-request"
TASK_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/voorzorg-consult-task"
CONSULTATION = {"system": SNOMED, "code": "11429006", "display": "Consultation"}
#: Consult Task statuses while the question is open (the others are final).
OPEN = ("requested", "accepted")


def org_ref(organization: str, display: str | None = None) -> dict[str, Any]:
    """A logical reference to an organisation by its identifier ("system|value")."""
    system, _, value = organization.rpartition("|")
    out: dict[str, Any] = {"type": "Organization", "identifier": {"system": system, "value": value}}
    if display:
        out["display"] = display
    return out


def _code(spec: dict[str, Any]) -> dict[str, Any]:
    system = str(spec["system"])
    if ":" not in system:
        return concept(system, str(spec["code"]))
    out = {"system": system, "code": str(spec["code"])}
    if spec.get("display"):
        out["display"] = str(spec["display"])
    return {"coding": [out]}


def fact_observations(values: dict[str, Value], referral_date: date) -> list[dict[str, Any]]:
    """The situation as contained Observations, in the order of mappings/consult.yaml `facts`.

    No subject: a contained fact is about the request's subject, and naming her again adds nothing."""
    out: list[dict[str, Any]] = []
    for name, spec in consult_rules()["facts"].items():
        if name not in values:
            continue
        value = values[name]
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "id": name.replace("_", "-"),
            "status": "final",
            "code": _code(spec),
            "effectiveDateTime": referral_date.isoformat(),
        }
        if isinstance(value, bool):
            obs["valueBoolean"] = value
        elif spec.get("unit"):
            unit = str(spec["unit"])
            obs["valueQuantity"] = {
                "value": value,
                "unit": str(spec.get("unit_text", unit)),
                "system": UCUM,
                "code": unit,
            }
        else:
            obs["valueInteger"] = value
        out.append(obs)
    return out


def situation_of(request: dict[str, Any]) -> dict[str, Value]:
    """The situation a stored consult request carries (its contained facts), by name."""
    names = {n.replace("_", "-"): n for n in consult_rules()["facts"]}
    out: dict[str, Value] = {}
    for obs in request.get("contained", []):
        name = names.get(str(obs.get("id")))
        if name is None:
            continue
        if "valueBoolean" in obs:
            out[name] = bool(obs["valueBoolean"])
        elif "valueQuantity" in obs:
            out[name] = int(obs["valueQuantity"]["value"])
        elif "valueInteger" in obs:
            out[name] = int(obs["valueInteger"])
    return out


def reasons_of(request: dict[str, Any]) -> tuple[str, ...]:
    """The decision-reason codes a consult request asks about."""
    return tuple(
        str(c["code"])
        for rc in request.get("reasonCode", [])
        for c in rc.get("coding", [])
        if c.get("system") == own_system(REASON_SYSTEM)
    )


def consult_request(
    *,
    request_id: str,
    referral_id: str,
    patient_ref: str,
    authored_on: str,
    requester: str,
    performer: str,
    reasons: tuple[str, ...],
    question: str,
    values: dict[str, Value],
    referral_date: date,
) -> dict[str, Any]:
    """The consult request: the question, the reasons and the situation, to VoorZorg Consult."""
    facts = fact_observations(values, referral_date)
    out: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": request_id,
        "meta": {"profile": [REQUEST_PROFILE]},
        "basedOn": [{"reference": f"ServiceRequest/{referral_id}"}],
        "status": "active",
        "intent": "order",
        "category": [{"coding": [dict(CONSULTATION)]}],
        "code": concept("voorzorg-referral-item", "voorzorg-consult-request"),
        "subject": {"reference": patient_ref},
        "authoredOn": authored_on,
        "requester": org_ref(requester),
        "performer": [org_ref(performer, str(consult_rules()["consult_team"]))],
        "reasonCode": [concept(REASON_SYSTEM, r) for r in reasons],
        "note": [{"text": question}],
    }
    if facts:
        out["contained"] = facts
        out["supportingInfo"] = [{"reference": f"#{f['id']}"} for f in facts]
    return out


def consult_task(
    *,
    task_id: str,
    request_id: str,
    referral_id: str,
    referral_task_id: str,
    patient_ref: str,
    when: str,
    requester: str,
    owner: str,
    question: str,
) -> dict[str, Any]:
    """The consult request's closed-loop Task, owned by VoorZorg Consult, status requested."""
    return {
        "resourceType": "Task",
        "id": task_id,
        "meta": {"profile": [TASK_PROFILE]},
        "basedOn": [{"reference": f"ServiceRequest/{referral_id}"}],
        "partOf": [{"reference": f"Task/{referral_task_id}"}],
        "status": "requested",
        "intent": "order",
        "code": concept("voorzorg-referral-item", "voorzorg-consult-request"),
        "description": question,
        "focus": {"reference": f"ServiceRequest/{request_id}"},
        "for": {"reference": patient_ref},
        "authoredOn": when,
        "lastModified": when,
        "requester": org_ref(requester),
        "owner": org_ref(owner, str(consult_rules()["consult_team"])),
    }


def _output_code(output: dict[str, Any]) -> str | None:
    for c in output.get("type", {}).get("coding", []):
        if c.get("system") == own_system(CONSULT_ITEM):
            return str(c.get("code"))
    return None


def advice_of(task: dict[str, Any]) -> Advice | None:
    """The advice in a consult Task's output (None when it gives none)."""
    code, text, moments = None, None, []
    for output in task.get("output", []):
        kind = _output_code(output)
        if kind == "advice":
            value = output.get("valueCodeableConcept", {})
            for c in value.get("coding", []):
                if c.get("system") == own_system(ADVICE_SYSTEM):
                    code = str(c.get("code"))
            text = value.get("text")
        elif kind == "evaluation-moment" and isinstance(output.get("valueDate"), str):
            moments.append(date.fromisoformat(output["valueDate"][:10]))
    if code is None:
        return None
    return Advice(code, str(text) if text else None, tuple(sorted(set(moments))))


def advice_output(advice: Advice) -> list[dict[str, Any]]:
    """Task.output for an advice (what VoorZorg Consult PUTs when it completes the Task)."""
    value = concept(ADVICE_SYSTEM, advice.code)
    if advice.text:
        value["text"] = advice.text
    out: list[dict[str, Any]] = [{"type": concept(CONSULT_ITEM, "advice"), "valueCodeableConcept": value}]
    out += [
        {"type": concept(CONSULT_ITEM, "evaluation-moment"), "valueDate": d.isoformat()}
        for d in advice.evaluation_moments
    ]
    return out


def advice_display(code: str) -> str:
    return str(coding(ADVICE_SYSTEM, code).get("display", code))


def cancelled(task: dict[str, Any], why: str, when: str) -> dict[str, Any]:
    """A consult Task the adapter cancels (the referral no longer needs it, or another advice was taken)."""
    return {**task, "status": "cancelled", "statusReason": {"text": why}, "lastModified": when}
