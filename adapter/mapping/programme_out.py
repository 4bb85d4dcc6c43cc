"""The programme -> FHIR: the EpisodeOfCare of profile voorzorg-programme, and what a stored one says.

status planned -> active (enrolled: period.start) -> finished (period.end, with the ending reason), or
cancelled when it never started; `statusHistory` keeps every change with the date it happened. The track
is a `type` beside the programme code; the gestational age (or the child's age) at enrolment and the
phases are extensions derived from the dates each time the programme is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.domain.programme import EndingReason, Enrolment, Phase, PhasePeriod
from adapter.mapping.decision_out import ITEM_SYSTEM, TRACK_SYSTEM, coding, concept

PROGRAMME_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/voorzorg-programme"
ENDING_SYSTEM = "voorzorg-ending-reason"
PHASE_SYSTEM = "voorzorg-programme-phase"


def _ext(name: str) -> str:
    return f"{CANONICAL_BASE}/StructureDefinition/voorzorg-{name}"


GA_AT_ENROLMENT = _ext("gestational-age-at-enrolment")
CHILD_AGE_AT_ENROLMENT = _ext("child-age-at-enrolment")
PHASE_EXT = _ext("programme-phase")
ENDING_EXT = _ext("ending-reason")
#: Statuses after which a programme does not change any more
FINAL = ("finished", "cancelled")


@dataclass(frozen=True)
class Ending:
    reason: EndingReason
    on: date
    text: str = ""


@dataclass(frozen=True)
class Programme:
    """What a stored programme says (`read_programme`)."""

    status: str
    enrolled: date | None
    ending: Ending | None
    history: tuple[dict[str, Any], ...]

    @property
    def ended(self) -> bool:
        return self.ending is not None


def is_programme(content: dict[str, Any]) -> bool:
    return content.get("resourceType") == "EpisodeOfCare" and PROGRAMME_PROFILE in (
        (content.get("meta") or {}).get("profile", [])
    )


def read_programme(content: dict[str, Any]) -> Programme:
    period = content.get("period") or {}
    ending = None
    for ext in content.get("extension", []):
        if ext.get("url") == ENDING_EXT:
            concept_ = ext.get("valueCodeableConcept") or {}
            codes = [c.get("code") for c in concept_.get("coding", []) if c.get("code")]
            reason = EndingReason(codes[0]) if codes else EndingReason.OTHER
            ending = Ending(reason, _day(period.get("end")) or date.min, concept_.get("text", ""))
    return Programme(
        status=str(content.get("status", "planned")),
        enrolled=_day(period.get("start")),
        ending=ending,
        history=tuple(content.get("statusHistory", [])),
    )


def with_status(history: tuple[dict[str, Any], ...], status: str, on: date) -> list[dict[str, Any]]:
    """The status history with `status` from `on` (nothing changes when it is the status already)."""
    out = [dict(h) for h in history]
    if out and out[-1].get("status") == status:
        return out
    if out:
        last = out[-1]
        start = _day(last.get("period", {}).get("start"))
        end = max(on, start) if start else on
        last["period"] = {**last.get("period", {}), "end": end.isoformat()}
        on = end
    out.append({"status": status, "period": {"start": on.isoformat()}})
    return out


def programme_episode(
    *,
    episode_id: str,
    patient_ref: str,
    referral_id: str,
    track: str,
    status: str,
    history: list[dict[str, Any]],
    organization: tuple[str, str],
    enrolment: Enrolment | None,
    phases: tuple[PhasePeriod, ...],
    ending: Ending | None = None,
    identifiers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    extensions: list[dict[str, Any]] = []
    if enrolment is not None and enrolment.gestational_age_days is not None:
        extensions.append({"url": GA_AT_ENROLMENT, "valueInteger": enrolment.gestational_age_days})
    if enrolment is not None and enrolment.child_age_days is not None:
        extensions.append({"url": CHILD_AGE_AT_ENROLMENT, "valueInteger": enrolment.child_age_days})
    extensions += [_phase(p) for p in phases]
    period: dict[str, str] = {}
    if enrolment is not None:
        period["start"] = enrolment.on.isoformat()
    if ending is not None:
        reason: dict[str, Any] = {"coding": [coding(ENDING_SYSTEM, ending.reason.value)]}
        if ending.text:
            reason["text"] = ending.text
        extensions.append({"url": ENDING_EXT, "valueCodeableConcept": reason})
        period["end"] = ending.on.isoformat()
    out: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "id": episode_id,
        "meta": {"profile": [PROGRAMME_PROFILE]},
    }
    if extensions:
        out["extension"] = extensions
    if identifiers:
        out["identifier"] = identifiers
    out |= {
        "status": status,
        "statusHistory": history,
        "type": [concept(ITEM_SYSTEM, "voorzorg-programme"), concept(TRACK_SYSTEM, track)],
        "patient": {"reference": patient_ref},
        "managingOrganization": {"identifier": {"system": organization[0], "value": organization[1]}},
        "referralRequest": [{"reference": f"ServiceRequest/{referral_id}"}],
    }
    if period:
        out["period"] = period
    return out


def phases_of(content: dict[str, Any]) -> tuple[PhasePeriod, ...]:
    """The phases a stored programme lists (for reading; they are derived when it is written)."""
    out = []
    for ext in content.get("extension", []):
        if ext.get("url") != PHASE_EXT:
            continue
        parts = {e.get("url"): e for e in ext.get("extension", [])}
        period = parts.get("period", {}).get("valuePeriod", {})
        start = _day(period.get("start"))
        if start is not None and "phase" in parts:
            out.append(PhasePeriod(Phase(parts["phase"]["valueCode"]), start, _day(period.get("end"))))
    return tuple(out)


def _phase(p: PhasePeriod) -> dict[str, Any]:
    period = {"start": p.start.isoformat(), **({"end": p.end.isoformat()} if p.end else {})}
    return {
        "url": PHASE_EXT,
        "extension": [{"url": "phase", "valueCode": p.phase.value}, {"url": "period", "valuePeriod": period}],
    }


def _day(raw: object) -> date | None:
    return date.fromisoformat(raw[:10]) if isinstance(raw, str) and len(raw) >= 10 else None
