"""The ids the adapter derives: every resource it makes for a referral has an id that follows from the
referral's own id (a name-based UUID, RFC 4122 version 5, in the referral's namespace).

So a resend finds what the first submission made, two workers never make two of the same, and any part
of the code can name a referral's Task or plan without a search. This module is the one place these
names are spelled.
"""

from __future__ import annotations

import uuid


def _derived(referral_id: str, name: str) -> str:
    return str(uuid.uuid5(uuid.UUID(referral_id), name))


def is_referral_id(value: str) -> bool:
    """Whether `value` can be a referral's id (ids are UUIDs the adapter gave out)."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def referral_task_id(referral_id: str) -> str:
    """The referral's Task: the closed loop with the sender."""
    return _derived(referral_id, "Task")


def guidance_id(referral_id: str) -> str:
    """The decision on the referral (GuidanceResponse)."""
    return _derived(referral_id, "GuidanceResponse")


def careplan_id(referral_id: str) -> str:
    """The referral's care plan (there is one per referral; revisions change it in place)."""
    return _derived(referral_id, "CarePlan")


def verder_plan_id(careplan_id_: str) -> str:
    """The VoorZorg Verder plan that continues a care plan (named after the plan it replaces)."""
    return _derived(careplan_id_, "voorzorg-verder")


def consult_ids(referral_id: str, key: str) -> tuple[str, str]:
    """(ServiceRequest id, Task id) of a consult request of the referral: `key` is the n-th request intake
    made ("1", "2", ...) or `manual/{digest}` for one filed by hand."""
    return _derived(referral_id, f"consult/{key}/ServiceRequest"), _derived(
        referral_id, f"consult/{key}/Task"
    )


def delivery_date_id(referral_id: str) -> str:
    """The delivery-date Observation reported for the referral's pregnancy."""
    return _derived(referral_id, "delivery-date")


def child_id(referral_id: str, born: str, key: str) -> str:
    """A child born of the referral's pregnancy, without a BSN: its birth date and who it is (`key`)."""
    return _derived(referral_id, f"child/{born}/{key}")


def patient_as_sent_id(referral_id: str) -> str:
    """The referrer's own copy of her Patient, kept with the referral (the client record is the JGZ's)."""
    return _derived(referral_id, "Patient/as-sent")


def referral_part_id(referral_id: str, role: str) -> str:
    """Another resource of the referral (an Observation, a Consent, ...), by its role in the referral."""
    return _derived(referral_id, role)


def ozks_summary_id(patient: str) -> str:
    """The client's OZKS summary (one per client, not per referral)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{patient}/ozks-summary"))


def programme_id(referral_id: str) -> str:
    """The client's VoorZorg programme (EpisodeOfCare, profile voorzorg-programme) of this referral."""
    return _derived(referral_id, "programme")


def intake_visit_id(referral_id: str) -> str:
    """The intake visit (the nurse's first home visit) for the referral: one per referral, so recording it
    again corrects it."""
    return _derived(referral_id, "intake-visit/Encounter")


def intake_finding_id(referral_id: str, item: str) -> str:
    """One finding of the intake visit (`item`: voluntary, forced_framework, ..., takes_part)."""
    return _derived(referral_id, f"intake-visit/{item}")


def transfer_id(programme_id_: str) -> str:
    """The warm handover of a programme (the message Bundle's identifier): one per programme."""
    return _derived(programme_id_, "transfer")


def transferred_id(referral_id: str, role: str) -> str:
    """A resource taken over with a client who moved here, by its role in the message (`Type/their id`)."""
    return _derived(referral_id, f"transferred/{role}")
