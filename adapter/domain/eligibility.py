"""The VoorZorg eligibility decision (domain page §2): a pure function of the referral's facts.

`decide` walks the steps in their order. A step fires only on known inputs; when a step's input is
unknown it is noted as missing and the walk goes on as if the step did not fire, so an `incomplete`
decision names every item the remaining steps still depend on, and an item behind a step that
already decided (parity of a woman who is not in a very vulnerable situation) is never asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from adapter.domain.facts import Deployment, ReferralFacts


class Track(StrEnum):
    VOORZORG = "voorzorg"
    VOORZORG_2 = "voorzorg-2"
    LATE_START = "late-start"
    CONSULT = "consult"
    NOT_ELIGIBLE = "not-eligible"
    INCOMPLETE = "incomplete"
    VOORZORG_VERDER = "voorzorg-verder"


class Reason(StrEnum):
    NOT_VERY_VULNERABLE = "not-very-vulnerable"
    CHILD_OLDER_THAN_6_WEEKS = "child-older-than-6-weeks"
    FORCED_FRAMEWORK = "forced-framework"
    LATE_START_PLUS_2 = "late-start-plus-2"
    OUTSIDE_CRITERIA = "outside-criteria"
    NURSE_NOT_TRAINED = "nurse-not-trained"
    AGE_OVER_25 = "age-over-25"
    MISSING_DATA = "missing-data"


class Evidence(StrEnum):
    PROVEN_EFFECTIVE = "proven-effective"
    UNDER_RESEARCH = "under-research"


@dataclass(frozen=True)
class EligibilityRules:
    """Thresholds and wording from `mappings/eligibility.yaml`."""

    full_term_days: int
    late_pregnancy_days: int
    max_child_age_days: int
    max_age_proven_effective: int
    modules_needing_training: frozenset[str]
    missing_items: Mapping[str, str] = field(default_factory=dict)
    #: Items a referrer reports only when they apply (item -> its referral-item code): not reported means
    #: none is known, so the decision goes on, says so, and the nurse confirms it at the intake visit.
    confirmed_at_intake: Mapping[str, str] = field(default_factory=dict)
    explanations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    track: Track
    reasons: tuple[Reason, ...] = ()
    evidence: Evidence | None = None
    consult_required: bool = False
    missing: tuple[str, ...] = ()
    gestational_age_days: int | None = None
    child_age_days: int | None = None
    explanation: str = ""
    #: Items the referral did not report, taken as "none known", for the nurse to confirm at the intake visit
    to_confirm: tuple[str, ...] = ()

    @property
    def is_voorzorg_track(self) -> bool:
        return self.track in (Track.VOORZORG, Track.VOORZORG_2, Track.LATE_START)


@dataclass(frozen=True)
class _Outcome:
    track: Track
    reasons: tuple[Reason, ...] = ()
    evidence: Evidence | None = None
    texts: tuple[str, ...] = ()


def decide(facts: ReferralFacts, rules: EligibilityRules, deployment: Deployment) -> Decision:
    ga = facts.gestational_age_days(rules.full_term_days)
    child_age = facts.child_age_days
    missing: list[str] = []
    unreported: list[str] = []
    outcome = _walk(facts, rules, ga, child_age, (missing, unreported))
    notes = [_say(rules, f"{item.replace('_', '-')}-not-reported") for item in unreported]

    if missing or outcome is None:
        return Decision(
            track=Track.INCOMPLETE,
            reasons=(Reason.MISSING_DATA,),
            missing=tuple(rules.missing_items.get(m, m) for m in missing),
            gestational_age_days=ga,
            child_age_days=child_age,
            explanation=" ".join(
                [_say(rules, "incomplete", missing=", ".join(m.replace("_", " ") for m in missing)), *notes]
            ),
            to_confirm=tuple(unreported),
        )
    reasons = list(outcome.reasons)
    texts = list(outcome.texts)
    consult = outcome.track is Track.CONSULT
    if outcome.track in rules.modules_needing_training and outcome.track not in deployment.trained_modules:
        reasons.append(Reason.NURSE_NOT_TRAINED)
        texts.append(_say(rules, "nurse-not-trained", track=outcome.track.value))
        consult = True
    return Decision(
        track=outcome.track,
        reasons=tuple(reasons),
        evidence=outcome.evidence,
        consult_required=consult,
        gestational_age_days=ga,
        child_age_days=child_age,
        explanation=" ".join([*texts, *notes]),
        to_confirm=tuple(unreported),
    )


def _walk(
    facts: ReferralFacts,
    rules: EligibilityRules,
    ga: int | None,
    child_age: int | None,
    notes: tuple[list[str], list[str]],
) -> _Outcome | None:
    """The steps in their order; None: undecided. `notes` collects (missing, not reported) items."""
    missing, unreported = notes
    stopped = (
        _very_vulnerable_step(facts, rules, missing)
        or _child_age_step(rules, ga, child_age, missing)
        or _voluntariness_step(facts, rules, missing, unreported)
    )
    if stopped is not None:
        return stopped
    earlier = facts.earlier_births
    if earlier is None:
        missing.append("parity")
        return None
    if earlier == 0:
        return _first_child_step(facts, rules, ga, child_age, missing)
    return _earlier_children_step(facts, rules, ga, child_age, missing)


def _very_vulnerable_step(
    facts: ReferralFacts, rules: EligibilityRules, missing: list[str]
) -> _Outcome | None:
    """Step 2: VoorZorg is for a very vulnerable situation."""
    if facts.very_vulnerable is None:
        missing.append("very_vulnerable")
    elif not facts.very_vulnerable:
        return _stop(rules, Track.NOT_ELIGIBLE, Reason.NOT_VERY_VULNERABLE)
    return None


def _child_age_step(
    rules: EligibilityRules, ga: int | None, child_age: int | None, missing: list[str]
) -> _Outcome | None:
    """Step 3: not when the child was born more than 6 weeks ago."""
    if ga is None and child_age is None:
        missing.append("pregnancy_timing")
    elif child_age is not None and child_age > rules.max_child_age_days:
        return _stop(rules, Track.NOT_ELIGIBLE, Reason.CHILD_OLDER_THAN_6_WEEKS, child_age_days=child_age)
    return None


def _voluntariness_step(
    facts: ReferralFacts, rules: EligibilityRules, missing: list[str], unreported: list[str]
) -> _Outcome | None:
    """Step 4: voluntary and no (felt) forced framework; either one known to be wrong is enough to stop.

    A forced framework is reported when there is one (domain page §2): no report means none is known,
    noted for the nurse to confirm at the intake visit, unless the rules ask for it outright."""
    if facts.voluntary is False or facts.forced_framework is True:
        return _stop(rules, Track.CONSULT, Reason.FORCED_FRAMEWORK)
    if facts.voluntary is None:
        missing.append("voluntary")
    if facts.forced_framework is None:
        noted = unreported if "forced_framework" in rules.confirmed_at_intake else missing
        noted.append("forced_framework")
    return None


def _first_child_step(
    facts: ReferralFacts, rules: EligibilityRules, ga: int | None, child_age: int | None, missing: list[str]
) -> _Outcome | None:
    """Step 5: a first child: Late Start from 28 weeks on, else VoorZorg."""
    if ga is None and child_age is None:
        return None  # timing is already noted as missing
    if _is_late(rules, ga, child_age):
        return _Outcome(
            Track.LATE_START,
            evidence=Evidence.UNDER_RESEARCH,
            texts=(_say(rules, "late-start", timing=_timing(ga, child_age)),),
        )
    age = facts.mother_age_years
    if age is None:
        missing.append("mother_birth_date")
        return None
    return _voorzorg_first_child(facts, rules, age, ga)


def _voorzorg_first_child(
    facts: ReferralFacts, rules: EligibilityRules, age: int, ga: int | None
) -> _Outcome:
    """VoorZorg, proven effective within the research population (seed 002): young, and a *first
    pregnancy*; earlier pregnancies without a birth (gravidity >= 2, parity 0) still get VoorZorg, but
    outside that population."""
    ga_weeks = _weeks(ga)
    if age <= rules.max_age_proven_effective and (facts.gravidity is None or facts.gravidity <= 1):
        return _Outcome(
            Track.VOORZORG,
            evidence=Evidence.PROVEN_EFFECTIVE,
            texts=(_say(rules, "voorzorg-proven-effective", ga_weeks=ga_weeks, age=age),),
        )
    over_age = age > rules.max_age_proven_effective
    texts = [_say(rules, "voorzorg", ga_weeks=ga_weeks)]
    if over_age:
        texts.append(_say(rules, "age-over-25", age=age))
    else:
        texts.append(_say(rules, "not-first-pregnancy", gravidity=facts.gravidity))
    return _Outcome(Track.VOORZORG, reasons=(Reason.AGE_OVER_25,) if over_age else (), texts=tuple(texts))


def _earlier_children_step(
    facts: ReferralFacts, rules: EligibilityRules, ga: int | None, child_age: int | None, missing: list[str]
) -> _Outcome | None:
    """Step 6: earlier children: VoorZorg 2 only with serious parenting problems and before 28 weeks."""
    if facts.serious_parenting_problems is None:
        missing.append("serious_parenting_problems")
        return None
    if not facts.serious_parenting_problems:
        return _stop(rules, Track.CONSULT, Reason.OUTSIDE_CRITERIA)
    if ga is None and child_age is None:
        return None  # timing is already noted as missing
    if _is_late(rules, ga, child_age):
        return _stop(rules, Track.CONSULT, Reason.LATE_START_PLUS_2, timing=_timing(ga, child_age))
    return _Outcome(
        Track.VOORZORG_2,
        evidence=Evidence.UNDER_RESEARCH,
        texts=(_say(rules, "voorzorg-2", ga_weeks=_weeks(ga)),),
    )


def _is_late(rules: EligibilityRules, ga: int | None, child_age: int | None) -> bool:
    """From 28+0 weeks of pregnancy on, or the child already born."""
    return child_age is not None or (ga is not None and ga >= rules.late_pregnancy_days)


def _stop(rules: EligibilityRules, track: Track, reason: Reason, **values: object) -> _Outcome:
    return _Outcome(track, reasons=(reason,), texts=(_say(rules, reason.value, **values),))


def _timing(ga: int | None, child_age: int | None) -> str:
    if child_age is not None:
        return f"the child was born {child_age} days ago"
    if ga is not None:
        return f"{_weeks(ga)} weeks pregnant"
    return "pregnancy timing unknown"


def _weeks(ga: int | None) -> str:
    """Obstetric notation: 27+6 is 27 weeks and 6 days."""
    if ga is None:
        return "?"
    return f"{ga // 7}+{ga % 7}"


def _say(rules: EligibilityRules, key: str, **values: object) -> str:
    template = rules.explanations.get(key, key)
    try:
        return template.format(**values)
    except (KeyError, IndexError):
        return template
