"""The `plan_visit` rows of a CarePlan: one per activity with a scheduled date (its day, status and kind,
and the plan's referral and PlanDefinition), written with every version like the search index.

The monitoring's dosage counts the visits planned and done in each phase of a client's programme; reading
every plan's 40-60 activities out of the stored JSON cost seconds for a region (`json_each` /
`jsonb_array_elements` over every plan), so the store keeps them as rows (migration 0011 filled them for
the plans already stored) and the measure counts them in SQL.
"""

from __future__ import annotations

from typing import Any

from adapter.config import CANONICAL_BASE

PLAN_TYPE = "CarePlan"
#: The activity's visit kind (adapter.mapping.careplan_out.KIND_EXT).
KIND_EXT = f"{CANONICAL_BASE}/StructureDefinition/visit-kind"


def _first(content: dict[str, Any], element: str) -> Any:
    value = content.get(element)
    return value[0] if isinstance(value, list) and value else None


def plan_visit_rows(res_id: str, content: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a stored CarePlan (none for an activity without a `detail.scheduledPeriod.start`)."""
    info = _first(content, "supportingInfo")
    referral = info.get("reference") if isinstance(info, dict) else None
    canonical = _first(content, "instantiatesCanonical")
    out = []
    for activity in content.get("activity") or []:
        detail = activity.get("detail") if isinstance(activity, dict) else None
        if not isinstance(detail, dict):
            continue
        start = (detail.get("scheduledPeriod") or {}).get("start")
        if not isinstance(start, str) or len(start) < 10:
            continue
        kinds = [e.get("valueCode") for e in detail.get("extension") or [] if e.get("url") == KIND_EXT]
        out.append(
            {
                "res_id": res_id,
                "referral": str(referral) if referral else None,
                "canonical": str(canonical) if canonical else None,
                "day": start[:10],
                "status": str(detail["status"]) if detail.get("status") else None,
                "kind": str(kinds[0]) if kinds and kinds[0] else None,
            }
        )
    return out
