"""VoorZorg Consult in the domain's own words (domain page §2, seed 002): which decisions need a consult,
the situation a consult request carries, and the decision an accepted advice makes.

Pure: no FHIR, no storage. The situation is what the consult team needs to advise (ages, pregnancy
timing, parity, the referrer's assessments, voluntariness) and never who she is: no BSN, no name, no
birth date, no address or telecom, not even the estimated date of delivery (an age in days says enough).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from adapter.domain.eligibility import Decision, Evidence, Reason, Track
from adapter.domain.facts import ReferralFacts

#: A fact of the situation: a whole number (an age, a count) or a yes/no.
Value = int | bool


@dataclass(frozen=True)
class AdviceRule:
    """What accepting one advice makes of the referral (mappings/consult.yaml `advice`)."""

    track: Track
    evaluation_moments_required: bool = False
    research: bool = True  # False: outside the research whatever the track (a pretest LS+2)


@dataclass(frozen=True)
class Advice:
    """The answer of VoorZorg Consult: an advice code, optionally in words, and evaluation moments."""

    code: str
    text: str | None = None
    evaluation_moments: tuple[date, ...] = ()


def consult_reasons(decision: Decision, asked_for: Iterable[str]) -> tuple[Reason, ...]:
    """The decision's reasons that call for a consult (forced framework, LS+2, outside the criteria,
    nurse not trained), in the decision's order; empty when it needs none."""
    wanted = set(asked_for)
    if not decision.consult_required:
        return ()
    return tuple(r for r in decision.reasons if r.value in wanted)


def situation(facts: ReferralFacts, decision: Decision) -> dict[str, Value]:
    """The minimal, necessary facts for the consult team, by name; what the referral does not say is
    left out. Ages are taken at the referral date; pregnancy timing is the decision's own."""
    values: dict[str, Value | None] = {
        "age_years": facts.mother_age_years,
        "gestational_age_days": decision.gestational_age_days,
        "child_age_days": decision.child_age_days,
        "parity": facts.earlier_births,
        "gravidity": facts.gravidity,
        "very_vulnerable": facts.very_vulnerable,
        "serious_parenting_problems": facts.serious_parenting_problems,
        "forced_framework": facts.forced_framework,
        "voluntary": facts.voluntary,
    }
    return {k: v for k, v in values.items() if v is not None}


def missing_moments(advice: Advice, rule: AdviceRule) -> bool:
    """Whether the advice needs agreed evaluation moments and names none."""
    return rule.evaluation_moments_required and not advice.evaluation_moments


def advised_decision(
    current: Decision, rule: AdviceRule, reasons: Iterable[Reason], explanation: str
) -> Decision:
    """The referral's decision once the JGZ accepts the advice (`current`: the referral decided again).

    The track is the advice's; no consult is required any more; the reasons are those the consult was
    asked about (so the decision still says why it took a consult). The evidence status stays only when
    the advice keeps the decided track (a nurse-not-trained case) and does not put the client outside
    the research; a forced framework, LS+2 or a case outside the criteria is never proven effective.
    """
    keep_evidence = rule.research and rule.track is current.track
    evidence: Evidence | None = current.evidence if keep_evidence else None
    return replace(
        current,
        track=rule.track,
        reasons=tuple(reasons),
        evidence=evidence,
        consult_required=False,
        missing=(),
        explanation=explanation,
    )


def advice_rules(data: Mapping[str, Mapping[str, object]]) -> dict[str, AdviceRule]:
    """The `advice` table of mappings/consult.yaml as rules."""
    return {
        code: AdviceRule(
            track=Track(str(rule["track"])),
            evaluation_moments_required=rule.get("evaluation_moments") == "required",
            research=bool(rule.get("research", True)),
        )
        for code, rule in data.items()
    }
