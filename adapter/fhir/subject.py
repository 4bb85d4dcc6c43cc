"""Which client a resource is about: the one answer the audit, the access checks, the exchange and the
OZKS summary share."""

from __future__ import annotations

from typing import Any

#: Where a resource names its client, in the order they are looked at (a resource carries one of them).
CLIENT_ELEMENTS = ("subject", "patient", "for")


def client_of(resource: dict[str, Any]) -> str | None:
    """`Patient/id` of the client: the Patient itself (or, for a referrer's copy of her Patient, the
    client record it refers to), or the Patient its subject / patient / for names."""
    if resource.get("resourceType") == "Patient" and resource.get("id"):
        return record_of(resource) or f"Patient/{resource['id']}"
    for element in CLIENT_ELEMENTS:
        value = resource.get(element)
        ref = value.get("reference") if isinstance(value, dict) else None
        if isinstance(ref, str) and ref.startswith("Patient/"):
            return ref
    return None


def record_of(patient: dict[str, Any]) -> str | None:
    """For a referrer's copy of her Patient (kept with its referral), the client record it is a copy of:
    its link of type `refer` ("not the main source of information; see the other")."""
    for link in patient.get("link", []) if isinstance(patient.get("link"), list) else []:
        ref = link.get("other", {}).get("reference") if isinstance(link, dict) else None
        if link.get("type") == "refer" and isinstance(ref, str) and ref.startswith("Patient/"):
            return ref
    return None
