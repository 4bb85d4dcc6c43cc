"""The intake visit as stored, and the facts it confirms: the nurse's findings outrank the referral.

Every later step that decides on a referral's facts — intake on a resend, the re-decision after the
intake visit, a consult's advice, re-timing the plan — reads them through `confirmed_facts`, so what the
nurse established at the intake visit is what counts, everywhere, with the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from adapter.config import Settings
from adapter.data import eligibility_rules
from adapter.domain.eligibility import Decision, decide
from adapter.domain.facts import Deployment, ReferralFacts
from adapter.domain.programme import Findings, confirmed
from adapter.mapping.ids import intake_visit_id
from adapter.mapping.intake_in import findings_of, visit_date
from adapter.mapping.referral_in import Referral
from adapter.store.session import Session, Stored


@dataclass(frozen=True)
class IntakeVisit:
    encounter: Stored
    on: date
    findings: Findings
    observations: tuple[Stored, ...]


def intake_of(s: Session, referral_id: str) -> IntakeVisit | None:
    """The referral's intake visit and its findings, once recorded."""
    encounter = s.live(f"Encounter/{intake_visit_id(referral_id)}")
    if encounter is None:
        return None
    on = visit_date(encounter.content)
    if on is None:
        return None
    observations = tuple(s.find("Observation", encounter=encounter.reference))
    return IntakeVisit(encounter, on, findings_of([o.content for o in observations], on), observations)


def confirmed_facts(s: Session, referral_id: str, facts: ReferralFacts) -> ReferralFacts:
    """The referral's facts, with the intake visit's findings in their place (when there was one)."""
    visit = intake_of(s, referral_id)
    return facts if visit is None else confirmed(facts, visit.findings)


def confirmed_referral(
    s: Session, referral_id: str, referral: Referral, decision: Decision, deployment: Deployment | None
) -> tuple[Referral, Decision]:
    """A (resent) referral as its intake visit confirmed it, and its decision on those facts."""
    facts = confirmed_facts(s, referral_id, referral.facts)
    if facts == referral.facts:
        return referral, decision
    chosen = deployment or Deployment(Settings().trained_modules)
    return replace(referral, facts=facts), decide(facts, eligibility_rules(), chosen)
