"""The VoorZorg Consult round trip, each step in one database transaction.

1. Intake: a decision that needs a consult (forced framework, LS+2, outside the criteria, nurse not
   trained) makes a consult request: a ServiceRequest (category consultation) with the question, the
   reasons and the minimal situation, and its Task (status requested), owned by VoorZorg Consult. Ids are
   derived from the referral (`consult/{n}/...`), so a resend finds the request it made before: the same
   question changes nothing, a changed situation updates an open request or, once it is answered,
   makes the next one; a decision that no longer needs a consult cancels the open one.
2. By hand: a JGZ nurse files a request for a referral (`request_by_hand`); the same question twice is
   one request (`consult/manual/{digest}/...`). The question may not name the client.
3. VoorZorg Consult accepts, then completes its Task with the advice (REST PUT; `workflows.tasks`).
   A Task cancelled (by the JGZ) or rejected (by VoorZorg Consult) revokes its request
   (`after_task_update`).
4. The JGZ accepts the advice (`accept_advice`): a new decision (GuidanceResponse), the referral Task
   moves (accepted, or rejected for "not VoorZorg"), the care plan follows (with the agreed evaluation
   moments), the request is completed and other open requests of the referral are cancelled.
   A later resend with the same situation keeps that decision (`decision_at_intake`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adapter.config import Settings
from adapter.data import consult_rules, eligibility_rules, own_system, task_kind, task_transitions
from adapter.domain.consult import (
    Advice,
    AdviceRule,
    Value,
    advice_rules,
    advised_decision,
    consult_reasons,
    missing_moments,
    situation,
)
from adapter.domain.eligibility import Decision, Reason, decide
from adapter.domain.facts import Deployment, ReferralFacts
from adapter.domain.privacy import names_the_client
from adapter.fhir.dates import now_instant
from adapter.fhir.outcome import FhirError
from adapter.mapping.consult_out import (
    OPEN,
    advice_display,
    advice_of,
    cancelled,
    consult_request,
    consult_task,
    reasons_of,
    situation_of,
)
from adapter.mapping.decision_out import apply_to_task, to_guidance_response
from adapter.mapping.ids import careplan_id, consult_ids, guidance_id, is_referral_id, referral_task_id
from adapter.security.access import Viewer
from adapter.store.engine import Store
from adapter.store.session import Alternative, Match, Session, Stored, Write
from adapter.workflows.careplan import revise_plan, stored_facts

REFERRAL_ITEM = own_system("voorzorg-referral-item")
_CONSULT_CODE = Match("code", (Alternative(value="voorzorg-consult-request", system=REFERRAL_ITEM),))


# --- ids and parties ------------------------------------------------------------------------------
def intake_consult_ids(referral_id: str, n: int = 1) -> tuple[str, str]:
    """(ServiceRequest id, Task id) of the n-th consult request intake made for this referral."""
    return consult_ids(referral_id, str(n))


@dataclass(frozen=True)
class Parties:
    requester: str  # the JGZ organisation asking
    consult: str  # VoorZorg Consult


def parties(deployment: Deployment | None) -> Parties:
    defaults = Settings()
    return Parties(
        (deployment.organization if deployment else "") or defaults.organization,
        (deployment.consult_organization if deployment else "") or defaults.consult_organization,
    )


# --- stored consults ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Consult:
    task: Stored
    request: Stored

    @property
    def status(self) -> str:
        return str(self.task.content.get("status"))

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def accepted_advice(self) -> bool:
        """The JGZ took over its advice (the request is then completed)."""
        return self.status == "completed" and self.request.content.get("status") == "completed"


def _consult(s: Session, task: Stored | None) -> Consult | None:
    if task is None or task.deleted or task_kind(task.content) != "consult":
        return None
    focus = str(task.content.get("focus", {}).get("reference", ""))
    request = s.get(*focus.split("/", 1)) if focus.startswith("ServiceRequest/") else None
    if request is None or request.deleted:
        return None
    return Consult(task, request)


def consults_of(s: Session, referral_id: str) -> list[Consult]:
    """Every consult request of a referral (made at intake or by hand), oldest first."""
    based_on = Match("based-on", (Alternative(value=f"ServiceRequest/{referral_id}"),))
    _, tasks = s.search("Task", [based_on, _CONSULT_CODE], 1000, 0)
    return [c for c in (_consult(s, t) for t in tasks) if c is not None]


def _made_at_intake(s: Session, referral_id: str) -> list[Consult]:
    out: list[Consult] = []
    while True:
        found = _consult(s, s.get("Task", intake_consult_ids(referral_id, len(out) + 1)[1]))
        if found is None:
            return out
        out.append(found)


def _holding(s: Session, referral_id: str, values: dict[str, Value]) -> Consult | None:
    """The newest consult whose advice the JGZ accepted, asked about this very situation."""
    accepted = [
        c
        for c in consults_of(s, referral_id)
        if c.accepted_advice
        and advice_of(c.task.content) is not None
        and situation_of(c.request.content) == values
    ]
    return max(accepted, key=lambda c: c.request.last_updated, default=None)


# --- the decision an advice makes -----------------------------------------------------------------
def _rules() -> dict[str, AdviceRule]:
    return advice_rules(consult_rules()["advice"])


def _advised(consult: Consult, current: Decision) -> Decision:
    advice = advice_of(consult.task.content)
    if advice is None:
        raise FhirError.one(
            409, f"{consult.task.reference} gives no advice", "Task.output", code="business-rule"
        )
    rule = _rules().get(advice.code)
    if rule is None:
        raise FhirError.one(422, f"Unknown advice {advice.code!r}", "Task.output", code="code-invalid")
    known = {r.value for r in Reason}
    reasons = [Reason(r) for r in reasons_of(consult.request.content) if r in known]
    data = consult_rules()
    moments = ", ".join(d.isoformat() for d in advice.evaluation_moments)
    explanation = str(data["explanation"]).format(
        consult=consult.task.reference,
        advice=advice_display(advice.code),
        text=f" {advice.text.rstrip('.')}." if advice.text else "",
        moments=str(data["moments"]).format(dates=moments) if moments else "",
        question=", ".join(reasons_of(consult.request.content)) or "asked by hand",
    )
    return advised_decision(current, rule, reasons, explanation)


def decision_at_intake(s: Session, referral_id: str, facts: ReferralFacts, decision: Decision) -> Decision:
    """The decision intake stores: an accepted advice on the same situation still holds on a resend."""
    held = _holding(s, referral_id, situation(facts, decision))
    return decision if held is None else _advised(held, decision)


# --- 1. at intake ---------------------------------------------------------------------------------
def _question(reasons: Sequence[str], decision: Decision) -> str:
    questions = consult_rules()["questions"]
    return " ".join(str(questions.get(r, r)).format(track=decision.track.value) for r in reasons)


def after_intake(
    s: Session,
    referral_id: str,
    patient_ref: str,
    facts: ReferralFacts,
    decision: Decision,
    deployment: Deployment | None,
    when: str,
) -> list[Write]:
    """Make, update or cancel the referral's consult request after intake decided (same transaction)."""
    values = situation(facts, decision)
    held = _holding(s, referral_id, values)
    if held is not None:  # the accepted advice still holds: its evaluation moments stay in the plan
        advice = advice_of(held.task.content)
        if advice is None or not advice.evaluation_moments:
            return []
        written = revise_plan(
            s,
            referral_id,
            decision,
            task_status=_plan_status(s, referral_id),
            evaluation_moments=advice.evaluation_moments,
        )
        return [written] if written is not None else []
    reasons = tuple(r.value for r in consult_reasons(decision, consult_rules()["consult_reasons"]))
    made = _made_at_intake(s, referral_id)
    latest = made[-1] if made else None
    if not reasons:
        why = f"The referral no longer needs a consult (its decision now: {decision.track.value})"
        return [w for c in made if c.is_open for w in _cancel(s, c, why, when)]
    if (
        latest is not None
        and latest.status != "cancelled"
        and situation_of(latest.request.content) == values
        and reasons_of(latest.request.content) == reasons
    ):
        return []  # the same question, asked already: open, answered or rejected
    who = parties(deployment)
    question = _question(reasons, decision)
    if latest is not None and latest.is_open:  # the situation changed while the question is open
        request = _request(
            latest.request.res_id, referral_id, patient_ref, who, reasons, question, values, facts
        )
        request["authoredOn"] = latest.request.content["authoredOn"]
        task = {**latest.task.content, "description": question}
        return [s.put(request), s.put(task)]
    return _new(s, referral_id, str(len(made) + 1), patient_ref, who, reasons, question, values, facts, when)


def _request(
    request_id: str,
    referral_id: str,
    patient_ref: str,
    who: Parties,
    reasons: tuple[str, ...],
    question: str,
    values: dict[str, Value],
    facts: ReferralFacts,
    authored_on: str = "",
) -> dict[str, Any]:
    return consult_request(
        request_id=request_id,
        referral_id=referral_id,
        patient_ref=patient_ref,
        authored_on=authored_on,
        requester=who.requester,
        performer=who.consult,
        reasons=reasons,
        question=question,
        values=values,
        referral_date=facts.referral_date,
    )


def _new(
    s: Session,
    referral_id: str,
    key: str,
    patient_ref: str,
    who: Parties,
    reasons: tuple[str, ...],
    question: str,
    values: dict[str, Value],
    facts: ReferralFacts,
    when: str,
) -> list[Write]:
    request_id, task_id = consult_ids(referral_id, key)
    request = _request(request_id, referral_id, patient_ref, who, reasons, question, values, facts, when[:10])
    task = consult_task(
        task_id=task_id,
        request_id=request_id,
        referral_id=referral_id,
        referral_task_id=referral_task_id(referral_id),
        patient_ref=patient_ref,
        when=when,
        requester=who.requester,
        owner=who.consult,
        question=question,
    )
    return [s.put(request), s.put(task)]


# --- 2. by hand -----------------------------------------------------------------------------------
def file_request(
    store: Store,
    viewer: Viewer,
    referral_id: str,
    *,
    question: str,
    reasons: Sequence[str],
    deployment: Deployment | None,
) -> Write:
    """A JGZ nurse's consult request for a referral the caller may see (one transaction)."""

    def work(s: Session) -> Write:
        viewer.found(s, f"ServiceRequest/{referral_id}", "The referral")
        return request_by_hand(
            s, referral_id, question=question, reasons=reasons, deployment=deployment, when=now_instant()
        )

    return store.write(work)


def request_by_hand(
    s: Session,
    referral_id: str,
    *,
    question: str,
    reasons: Sequence[str],
    deployment: Deployment | None,
    when: str,
) -> Write:
    """A consult request a JGZ nurse files for a referral; the same question again is the same request."""
    referral = _referral(s, referral_id)
    question = " ".join(question.split())
    if not question:
        raise FhirError.one(
            422,
            "Say what you ask VoorZorg Consult",
            "Parameters.parameter.where(name='question')",
            code="required",
        )
    patient_ref = str(referral.content["subject"]["reference"])
    _refuse_identity(s, patient_ref, question)
    facts = stored_facts(s, referral_id)
    decision = decide(facts, eligibility_rules(), deployment or Deployment(Settings().trained_modules))
    known = {r.value for r in Reason}
    unknown = [r for r in reasons if r not in known]
    if unknown:
        raise FhirError.one(
            422,
            f"Unknown reason {', '.join(unknown)}; use codes of {own_system('voorzorg-decision-reason')}",
            "Parameters.parameter.where(name='reason')",
            code="code-invalid",
        )
    asked = tuple(reasons) or tuple(
        r.value for r in consult_reasons(decision, consult_rules()["consult_reasons"])
    )
    if not asked:
        raise FhirError.one(
            422,
            "The referral's decision needs no consult: name the reason you ask about",
            "Parameters.parameter.where(name='reason')",
            code="required",
        )
    values = situation(facts, decision)
    digest = hashlib.sha256(json.dumps([asked, question, values], sort_keys=True).encode()).hexdigest()[:16]
    task_id = consult_ids(referral_id, f"manual/{digest}")[1]
    existing = s.get("Task", task_id)
    if existing is not None and not existing.deleted:
        return Write(existing, created=False, changed=False)
    who = parties(deployment)
    return _new(s, referral_id, f"manual/{digest}", patient_ref, who, asked, question, values, facts, when)[1]


def _referral(s: Session, referral_id: str) -> Stored:
    if not is_referral_id(referral_id):
        raise FhirError.one(404, f"ServiceRequest/{referral_id} is not known", code="not-found")
    referral = s.get("ServiceRequest", referral_id)
    codes = [c.get("code") for c in referral.content.get("code", {}).get("coding", [])] if referral else []
    if referral is None or referral.deleted or "voorzorg-referral" not in codes:
        raise FhirError.one(
            404, f"ServiceRequest/{referral_id} is no known VoorZorg referral", code="not-found"
        )
    return referral


def _refuse_identity(s: Session, patient_ref: str, question: str) -> None:
    """422 when the question names the client: her BSN, a name, her birth date, an address or telecom."""
    patient = s.get(*patient_ref.split("/", 1))
    if patient is None:
        return
    found = names_the_client(question, patient.content)
    if found:
        raise FhirError.one(
            422,
            f"The question names the client ({', '.join(found)}): VoorZorg Consult needs the situation, "
            "not who she is; leave it out",
            "Parameters.parameter.where(name='question')",
            code="business-rule",
        )


# --- 4. the JGZ accepts the advice ----------------------------------------------------------------
@dataclass(frozen=True)
class Accepted:
    consult: Consult
    guidance: Stored
    referral_task: Stored
    careplan: Stored | None
    written: list[Write]


def accept(store: Store, viewer: Viewer, task_id: str, deployment: Deployment | None) -> Accepted:
    """The caller accepts the advice of a consult Task it may see (one transaction)."""

    def work(s: Session) -> Accepted:
        viewer.found(s, f"Task/{task_id}")
        return accept_advice(s, task_id, deployment, now_instant())

    return store.write(work)


def accept_advice(s: Session, task_id: str, deployment: Deployment | None, when: str) -> Accepted:
    """Take over the advice of a completed consult request: decision, referral Task and care plan follow.

    Accepting an advice already accepted changes nothing and answers the same."""
    consult = _consult(s, s.get("Task", task_id))
    if consult is None:
        raise FhirError.one(404, f"Task/{task_id} is no known VoorZorg Consult request", code="not-found")
    referral_id = _referral_of(consult)
    if consult.accepted_advice:
        return _state(s, consult, referral_id, [])
    advice = _advice_to_accept(consult)
    facts = stored_facts(s, referral_id)
    decision = _advised(
        consult, decide(facts, eligibility_rules(), deployment or Deployment(Settings().trained_modules))
    )
    gid = guidance_id(referral_id)
    written = [
        _write_decision(s, referral_id, decision, when),
        _move_referral_task(s, referral_id, decision, f"GuidanceResponse/{gid}", when),
    ]
    plan = revise_plan(
        s,
        referral_id,
        decision,
        task_status=_plan_status(s, referral_id),
        evaluation_moments=advice.evaluation_moments,
    )
    written += [plan] if plan is not None else []
    written.append(s.put({**consult.request.content, "status": "completed"}))
    why = f"Superseded: the advice of {consult.task.reference} was accepted"
    for other in consults_of(s, referral_id):
        if other.task.res_id != consult.task.res_id and other.is_open:
            written += _cancel(s, other, why, when)
    return _state(s, consult, referral_id, written)


def _advice_to_accept(consult: Consult) -> Advice:
    """The advice of a consult that gave one, as its rule needs it; 409/422 saying why it cannot be taken."""
    if consult.status != "completed":
        raise FhirError.one(
            409,
            f"VoorZorg Consult has not given its advice yet: the consult Task is {consult.status}",
            "Task.status",
            code="business-rule",
        )
    if consult.request.content.get("status") != "active":
        raise FhirError.one(
            409, f"The consult request is {consult.request.content.get('status')}", code="business-rule"
        )
    advice = advice_of(consult.task.content)
    rule = _rules().get(advice.code) if advice else None
    if advice is None or rule is None:
        raise FhirError.one(
            422, "The consult Task gives no known advice", "Task.output", code="business-rule"
        )
    if missing_moments(advice, rule):
        raise FhirError.one(
            422,
            f"The advice {advice.code} needs agreed evaluation moments; the consult Task names none",
            "Task.output",
            code="business-rule",
        )
    return advice


def _write_decision(s: Session, referral_id: str, decision: Decision, when: str) -> Write:
    """The referral's decision (GuidanceResponse) as the advice makes it."""
    referral = _referral(s, referral_id)
    ident = referral.content["identifier"][0]
    return s.put(
        to_guidance_response(
            decision,
            response_id=guidance_id(referral_id),
            patient_ref=str(referral.content["subject"]["reference"]),
            referral_identifier=(str(ident["system"]), str(ident["value"])),
            when=when,
        )
    )


def _cancel(s: Session, consult: Consult, why: str, when: str) -> list[Write]:
    """The adapter withdraws an open consult request: its Task cancelled, the request revoked."""
    return [s.put(cancelled(consult.task.content, why, when)), *_revoke(s, consult)]


#: Consult Task statuses that end the request without an advice: its ServiceRequest is then `revoked`
#: (FHIR R4: terminated before completion, no further activity), never left `active` for nobody.
ENDED_WITHOUT_ADVICE = frozenset({"cancelled", "rejected"})
#: ServiceRequest statuses in which a request still stands (the ones `revoked` may follow).
_STANDING = frozenset({"draft", "active", "on-hold"})


def _revoke(s: Session, consult: Consult) -> list[Write]:
    """The request of a consult that ended without an advice, revoked (nothing when it already ended)."""
    if consult.request.content.get("status") not in _STANDING:
        return []
    return [s.put({**consult.request.content, "status": "revoked"})]


def after_task_update(s: Session, task: Stored) -> list[Write]:
    """After a PUT of a Task (same transaction): a consult Task the JGZ cancelled or VoorZorg Consult
    rejected takes its request along (`revoked`), as the adapter's own cancelling does."""
    consult = _consult(s, task)
    if consult is None or consult.status not in ENDED_WITHOUT_ADVICE:
        return []
    return _revoke(s, consult)


def _referral_of(consult: Consult) -> str:
    based_on = [str(b.get("reference", "")) for b in consult.request.content.get("basedOn", [])]
    refs = [r.split("/", 1)[1] for r in based_on if r.startswith("ServiceRequest/")]
    if len(refs) != 1:
        raise FhirError.one(409, "The consult request names no referral", code="business-rule")
    return refs[0]


def _move_referral_task(
    s: Session, referral_id: str, decision: Decision, guidance_ref: str, when: str
) -> Write:
    current = s.get("Task", referral_task_id(referral_id))
    if current is None or current.deleted:
        raise FhirError.one(409, "The referral has no Task to move", code="business-rule")
    proposed = apply_to_task(current.content, decision, guidance_ref, when)
    old, new = current.content.get("status"), proposed["status"]
    if old == new or new in task_transitions().get(str(old), []):
        return s.put(proposed)
    if new == "accepted" and old in ("ready", "in-progress"):  # VoorZorg runs already: it goes on
        return s.put({**current.content, "output": proposed["output"], "lastModified": when})
    raise FhirError.one(
        409,
        f"The referral Task is {old}: the advice would move it to {new}, which its state machine "
        "does not allow",
        "Task.status",
        code="business-rule",
    )


def _plan_status(s: Session, referral_id: str) -> str:
    """The referral Task's status as the care plan reads it (a VoorZorg that runs counts as accepted)."""
    task = s.get("Task", referral_task_id(referral_id))
    status = str(task.content.get("status")) if task is not None else "on-hold"
    return "accepted" if status in ("accepted", "ready", "in-progress") else status


def _state(s: Session, consult: Consult, referral_id: str, written: list[Write]) -> Accepted:
    def now(res_type: str, res_id: str) -> Stored | None:
        found = s.get(res_type, res_id)
        return found if found is not None and not found.deleted else None

    guidance = now("GuidanceResponse", guidance_id(referral_id))
    task = now("Task", referral_task_id(referral_id))
    if guidance is None or task is None:
        raise FhirError.one(409, "The referral lacks its decision or Task", code="business-rule")
    return Accepted(
        _consult(s, s.get("Task", consult.task.res_id)) or consult,
        guidance,
        task,
        now("CarePlan", careplan_id(referral_id)),
        written,
    )
