"""VoorZorg Consult in the domain's own words (domain page §2, seed 002), pure.

Which decisions need a consult and why, the situation a request carries (the facts the team needs,
never who she is), what each advice in mappings/consult.yaml makes of the referral.
"""

from __future__ import annotations

from datetime import date

import pytest

from adapter.data import consult_rules
from adapter.domain.consult import (
    Advice,
    AdviceRule,
    advice_rules,
    advised_decision,
    consult_reasons,
    missing_moments,
    situation,
)
from adapter.domain.eligibility import Decision, Evidence, Reason, Track
from adapter.domain.facts import ReferralFacts

ASKED_FOR = ("forced-framework", "late-start-plus-2", "outside-criteria", "nurse-not-trained")
REFERRAL = date(2025, 3, 10)


def test_a_consult_is_asked_only_for_the_reasons_that_call_for_one_in_the_decisions_order() -> None:
    untrained_late = Decision(
        Track.LATE_START,
        reasons=(Reason.NURSE_NOT_TRAINED,),
        evidence=Evidence.UNDER_RESEARCH,
        consult_required=True,
    )
    assert consult_reasons(untrained_late, ASKED_FOR) == (Reason.NURSE_NOT_TRAINED,)
    # Reasons that are no consult question (age over 25) are not asked about; the order is the decision's.
    mixed = Decision(
        Track.CONSULT,
        reasons=(Reason.OUTSIDE_CRITERIA, Reason.AGE_OVER_25, Reason.FORCED_FRAMEWORK),
        consult_required=True,
    )
    assert consult_reasons(mixed, ASKED_FOR) == (Reason.OUTSIDE_CRITERIA, Reason.FORCED_FRAMEWORK)
    assert consult_reasons(mixed, reversed(ASKED_FOR)) == (Reason.OUTSIDE_CRITERIA, Reason.FORCED_FRAMEWORK)
    # The configured list is the one in mappings/consult.yaml.
    assert tuple(consult_rules()["consult_reasons"]) == ASKED_FOR


def test_a_decision_that_needs_no_consult_asks_nothing_whatever_its_reasons() -> None:
    over_25 = Decision(Track.VOORZORG, reasons=(Reason.AGE_OVER_25,))
    assert consult_reasons(over_25, ASKED_FOR) == ()
    # Even a reason that would call for one does not, once no consult is required (an accepted advice).
    advised = Decision(Track.VOORZORG, reasons=(Reason.FORCED_FRAMEWORK,), consult_required=False)
    assert consult_reasons(advised, ASKED_FOR) == ()


def test_the_situation_names_every_fact_the_referral_gives_and_nothing_that_identifies_her() -> None:
    facts = ReferralFacts(
        referral_date=REFERRAL,
        mother_birth_date=date(2003, 3, 11),  # 21 on the referral date: 22 the day after
        estimated_delivery_date=date(2025, 6, 16),
        parity=1,
        gravidity=3,
        very_vulnerable=True,
        serious_parenting_problems=False,
        forced_framework=True,
        voluntary=False,
    )
    decision = Decision(Track.CONSULT, gestational_age_days=182, child_age_days=None)
    assert situation(facts, decision) == {
        "age_years": 21,
        "gestational_age_days": 182,
        "parity": 1,
        "gravidity": 3,
        "very_vulnerable": True,
        "serious_parenting_problems": False,
        "forced_framework": True,
        "voluntary": False,
    }


def test_the_situation_leaves_out_what_the_referral_does_not_say_and_takes_the_decisions_timing() -> None:
    facts = ReferralFacts(referral_date=REFERRAL, delivery_date=date(2025, 3, 1), gravidity=1)
    # The child's age is the decision's own (not recomputed), and gravidity 1 means parity 0.
    decision = Decision(Track.INCOMPLETE, child_age_days=9)
    assert situation(facts, decision) == {"child_age_days": 9, "parity": 0, "gravidity": 1}
    assert situation(ReferralFacts(referral_date=REFERRAL), Decision(Track.INCOMPLETE)) == {}


@pytest.mark.parametrize(
    ("required", "moments", "missing"),
    [
        (True, (), True),
        (True, (date(2025, 6, 1),), False),
        (False, (), False),
        (False, (date(2025, 6, 1),), False),
    ],
)
def test_moments_are_missing_only_when_the_advice_requires_them_and_names_none(
    required: bool, moments: tuple[date, ...], missing: bool
) -> None:
    advice = Advice("start-voorzorg-with-evaluation-moments", evaluation_moments=moments)
    assert (
        missing_moments(advice, AdviceRule(Track.VOORZORG, evaluation_moments_required=required)) is missing
    )


def _decided(track: Track, evidence: Evidence | None) -> Decision:
    return Decision(
        track,
        reasons=(Reason.NURSE_NOT_TRAINED,),
        evidence=evidence,
        consult_required=True,
        missing=("leftover",),
        gestational_age_days=120,
        child_age_days=None,
        explanation="before the consult",
    )


def test_an_accepted_advice_decides_the_track_and_keeps_why_a_consult_was_asked() -> None:
    current = _decided(Track.VOORZORG_2, Evidence.UNDER_RESEARCH)
    # The reasons are those the consult request asked about (read back from it), not the current ones.
    asked = [Reason.NURSE_NOT_TRAINED, Reason.FORCED_FRAMEWORK]
    after = advised_decision(current, AdviceRule(Track.VOORZORG_2), iter(asked), "VoorZorg Consult advised.")
    assert after == Decision(
        Track.VOORZORG_2,
        reasons=(Reason.NURSE_NOT_TRAINED, Reason.FORCED_FRAMEWORK),
        evidence=Evidence.UNDER_RESEARCH,  # same track, within the research: the status stays
        consult_required=False,
        missing=(),
        gestational_age_days=120,
        child_age_days=None,
        explanation="VoorZorg Consult advised.",
    )


def test_the_evidence_status_stays_only_on_the_same_track_within_the_research() -> None:
    current = _decided(Track.LATE_START, Evidence.UNDER_RESEARCH)
    pretest = advised_decision(current, AdviceRule(Track.LATE_START, research=False), [], "")
    assert pretest.evidence is None  # LS+2: outside the research whatever the track
    other = advised_decision(_decided(Track.CONSULT, None), AdviceRule(Track.VOORZORG), [], "")
    assert (other.track, other.evidence) == (Track.VOORZORG, None)  # a forced framework: never proven
    proven = _decided(Track.VOORZORG, Evidence.PROVEN_EFFECTIVE)
    assert advised_decision(proven, AdviceRule(Track.VOORZORG_2), [], "").evidence is None
    assert advised_decision(proven, AdviceRule(Track.VOORZORG), [], "").evidence is Evidence.PROVEN_EFFECTIVE


def test_the_advice_table_of_the_mapping_reads_as_written() -> None:
    assert advice_rules(consult_rules()["advice"]) == {
        "start-voorzorg": AdviceRule(Track.VOORZORG),
        "start-voorzorg-with-evaluation-moments": AdviceRule(
            Track.VOORZORG, evaluation_moments_required=True
        ),
        "start-voorzorg-2": AdviceRule(Track.VOORZORG_2),
        "start-late-start": AdviceRule(Track.LATE_START),
        "pretest-late-start-plus-2": AdviceRule(Track.LATE_START, research=False),
        "not-voorzorg": AdviceRule(Track.NOT_ELIGIBLE),
    }
    # Defaults: no moments required, within the research; only the word "required" requires moments.
    rules = advice_rules({"a": {"track": "voorzorg", "evaluation_moments": "optional", "research": True}})
    assert rules == {"a": AdviceRule(Track.VOORZORG, evaluation_moments_required=False, research=True)}
    assert AdviceRule(Track.VOORZORG) == AdviceRule(Track.VOORZORG, False, True)
