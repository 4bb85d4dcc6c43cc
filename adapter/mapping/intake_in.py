"""The intake visit in FHIR -> the domain: an Encounter (profile voorzorg-intake-visit) and the findings
the nurse recorded at it (Observations, profile voorzorg-intake-finding, pointing to the Encounter and
to the referral), read as `Findings`.

Which finding an Observation carries follows from its code: the project's own codes for the yes/no
findings (voluntary-participation, forced-framework, serious-parenting-problems, takes-part), and the
referral contract's codes (mappings/referral-codes.yaml) for the pregnancy dating and parity.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.data import own_system, referral_codes
from adapter.domain.facts import PregnancyDuration
from adapter.domain.programme import Findings

INTAKE_VISIT_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/voorzorg-intake-visit"
FINDING_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/voorzorg-intake-finding"
ITEM_SYSTEM = own_system("voorzorg-referral-item")

#: Own code -> the finding it is (a yes/no)
OWN_FINDINGS = {
    "voluntary-participation": "voluntary",
    "forced-framework": "forced_framework",
    "serious-parenting-problems": "serious_parenting_problems",
    "takes-part": "takes_part",
}
#: Referral items (referral-codes.yaml) a finding may also be
CONTRACT_FINDINGS = ("estimated_delivery_date", "pregnancy_duration", "parity")
#: The value element each finding carries
VALUE_OF = {
    **dict.fromkeys(OWN_FINDINGS.values(), "valueBoolean"),
    "estimated_delivery_date": "valueDateTime",
    "pregnancy_duration": "valueQuantity",
    "parity": "valueInteger",
}


def finding_item(observation: dict[str, Any]) -> str | None:
    """The finding an Observation carries (a `Findings` field name), or None when its code is no finding."""
    codes = referral_codes()
    systems = codes["systems"]
    for coding in (observation.get("code") or {}).get("coding", []):
        system, code = coding.get("system"), str(coding.get("code", ""))
        if system == ITEM_SYSTEM and code in OWN_FINDINGS:
            return OWN_FINDINGS[code]
        for item in CONTRACT_FINDINGS:
            if any(systems[key] == system and str(c) == code for key, c in codes["items"][item]["codes"]):
                return item
    return None


def finding_value(item: str, observation: dict[str, Any], measured_default: date) -> Any:
    """The finding's value in the domain's terms; None when the Observation does not carry a usable one."""
    raw = observation.get(VALUE_OF[item])
    if item in OWN_FINDINGS.values():
        return raw if isinstance(raw, bool) else None
    if item == "parity":
        return raw if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0 else None
    if item == "estimated_delivery_date":
        return _date(raw)
    units = referral_codes()["duration_units"]
    if not isinstance(raw, dict) or raw.get("code") not in units:
        return None
    if not isinstance(raw.get("value"), int | float) or isinstance(raw.get("value"), bool):
        return None
    measured = _date(observation.get("effectiveDateTime")) or measured_default
    return PregnancyDuration(round(float(raw["value"]) * units[raw["code"]]), measured)


def findings_of(observations: list[dict[str, Any]], visit_date: date) -> Findings:
    """The findings the Observations of one intake visit carry."""
    values: dict[str, Any] = {}
    for obs in observations:
        if obs.get("status") in ("entered-in-error", "cancelled"):
            continue
        item = finding_item(obs)
        if item is not None and (value := finding_value(item, obs, visit_date)) is not None:
            values[item] = value
    return Findings(**values)


def visit_date(encounter: dict[str, Any]) -> date | None:
    """The date of the visit (period.start): her enrolment date when she takes part."""
    return _date((encounter.get("period") or {}).get("start"))


def _date(raw: object) -> date | None:
    if not isinstance(raw, str) or len(raw) < 10:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None
