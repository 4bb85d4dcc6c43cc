"""FHIR at the edge of sharing: a Consent read as a sharing consent, and the OZKS summary written.

The summary is an EpisodeOfCare (profile voorzorg-ozks-summary): the minimal set the issue names —
VoorZorg yes/no (status), the track (type), since when (period), whom to contact (careManager, the nurse
of her latest home visit; managingOrganization, the JGZ organisation) — and nothing else.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.data import own_system
from adapter.domain.consent import SharingConsent
from adapter.mapping.decision_out import TRACK_SYSTEM, concept, task_track

SHARING_SYSTEM = own_system("voorzorg-sharing")
SHARING_CONSENT_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/voorzorg-sharing-consent"
OZKS_SUMMARY_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/voorzorg-ozks-summary"

#: The referral's state -> EpisodeOfCare.status (VoorZorg yes: active / finished; no: cancelled)
EPISODE_STATUS = {
    ("Task", "requested"): "planned",
    ("Task", "received"): "planned",
    ("Task", "on-hold"): "waitlist",
    ("Task", "rejected"): "cancelled",
    ("Task", "cancelled"): "cancelled",
    ("Task", "failed"): "cancelled",
    ("CarePlan", "active"): "active",
    ("CarePlan", "on-hold"): "onhold",
    ("CarePlan", "revoked"): "cancelled",
    ("CarePlan", "completed"): "finished",
}


def sharing_consent(consent: dict[str, Any]) -> SharingConsent | None:
    """A Consent about sharing (provision.code from voorzorg-sharing); None for any other Consent."""
    provision = consent.get("provision") or {}
    recipients = frozenset(
        c.get("code", "")
        for cc in provision.get("code", [])
        for c in cc.get("coding", [])
        if c.get("system") == SHARING_SYSTEM
    )
    if not recipients:
        return None
    period = provision.get("period") or {}
    return SharingConsent(
        recorded=str(consent.get("dateTime", "")),
        permit=provision.get("type") == "permit",
        recipients=recipients,
        in_force=consent.get("status") == "active",
        start=date.fromisoformat(period["start"][:10]) if period.get("start") else None,
        end=date.fromisoformat(period["end"][:10]) if period.get("end") else None,
        order=str((consent.get("meta") or {}).get("lastUpdated", "")),
    )


def ozks_summary(
    *,
    summary_id: str,
    patient: dict[str, Any],
    task: dict[str, Any],
    careplan: dict[str, Any] | None,
    nurse: dict[str, Any] | None,
    organization: tuple[str, str],
    programme: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary of her referral (its Task), once accepted her care plan, and once enrolled or ended
    her programme (voorzorg-programme: status and period as it has them)."""
    track = task_track(task) or "incomplete"
    if programme is not None and programme.get("status") in ("active", "finished"):  # she enrolled
        status = str(programme["status"])
        period = dict(programme.get("period", {}))
    elif careplan is not None:
        status = EPISODE_STATUS.get(("CarePlan", careplan.get("status", "")), "active")
        period = dict(careplan.get("period", {}))
        if status != "finished":
            period.pop("end", None)
    else:
        status = EPISODE_STATUS.get(("Task", task.get("status", "")), "planned")
        period = {"start": str(task.get("authoredOn", ""))[:10]} if task.get("authoredOn") else {}
    bsn = next((i for i in patient.get("identifier", []) if i.get("system") and i.get("value")), None)
    out: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "id": summary_id,
        "meta": {"profile": [OZKS_SUMMARY_PROFILE]},
        "status": status,
        "type": [concept(TRACK_SYSTEM, track)],
        "patient": {
            "reference": f"Patient/{patient['id']}",
            **({"identifier": {"system": bsn["system"], "value": bsn["value"]}} if bsn else {}),
        },
        "managingOrganization": {"identifier": {"system": organization[0], "value": organization[1]}},
    }
    if period:
        out["period"] = period
    if nurse is not None:
        out["careManager"] = nurse
    return out
