"""What the decision says, whole: per outcome, the explanation a nurse reads and every field beside it.

Each expected explanation is the template of mappings/eligibility.yaml (read here with YAML, not
through the adapter's loader) filled with values worked out by hand from the page (§2): GA in the
obstetric notation weeks+days (195 days = 27+6), ages at the referral date, the child's age in days.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

import pytest
import yaml

from adapter.config import MAPPINGS_DIR
from adapter.data import eligibility_rules
from adapter.domain.eligibility import Decision, Evidence, Reason, Track, decide
from adapter.domain.facts import Deployment, PregnancyDuration, ReferralFacts

REFERRAL = date(2025, 3, 10)
TRAINED = Deployment(frozenset({"voorzorg-2", "late-start"}))
UNTRAINED = Deployment(frozenset())


def mapping() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((MAPPINGS_DIR / "eligibility.yaml").read_text(encoding="utf-8"))
    return data


def text(key: str, **values: object) -> str:
    return str(mapping()["explanations"][key]).format(**values)


def item(key: str) -> str:
    return str(mapping()["missing_items"][key])


def facts(
    *, ga: int | None = 140, child_age: int | None = None, age: int | None = 20, **overrides: object
) -> ReferralFacts:
    """Complete, very vulnerable, voluntary, no forced framework, first child; `age` on the referral
    date with her birthday 100 days after it."""
    values: dict[str, object] = {
        "referral_date": REFERRAL,
        "very_vulnerable": True,
        "voluntary": True,
        "forced_framework": False,
        "parity": 0,
        "mother_birth_date": None
        if age is None
        else REFERRAL.replace(year=REFERRAL.year - age - 1) + timedelta(days=100),
        "estimated_delivery_date": None if ga is None else REFERRAL + timedelta(days=280 - ga),
        "delivery_date": None if child_age is None else REFERRAL - timedelta(days=child_age),
    }
    if child_age is not None:
        values["estimated_delivery_date"] = None
    values.update(overrides)
    return ReferralFacts(**values)  # type: ignore[arg-type]


def run(f: ReferralFacts, deployment: Deployment = TRAINED) -> Decision:
    return decide(f, eligibility_rules(), deployment)


# --- one test per outcome: the whole decision ------------------------------------------------------------


def test_voorzorg_proven_effective_at_27_plus_6() -> None:
    assert run(facts(ga=195, age=25)) == Decision(
        Track.VOORZORG,
        evidence=Evidence.PROVEN_EFFECTIVE,
        gestational_age_days=195,
        explanation=text("voorzorg-proven-effective", ga_weeks="27+6", age=25),
    )


def test_voorzorg_at_26_is_outside_the_research_population() -> None:
    assert run(facts(ga=100, age=26)) == Decision(
        Track.VOORZORG,
        reasons=(Reason.AGE_OVER_25,),
        gestational_age_days=100,
        explanation=f"{text('voorzorg', ga_weeks='14+2')} {text('age-over-25', age=26)}",
    )


@pytest.mark.parametrize("gravidity", [2, 3])
def test_the_age_boundary_on_a_second_pregnancy_25_is_no_reason_26_is(gravidity: int) -> None:
    """A first child after an earlier pregnancy: never proven effective, but `age-over-25` is said only
    from 26 on; at 25 the explanation names the pregnancy number instead."""
    at_25 = run(facts(ga=70, age=25, gravidity=gravidity))
    assert at_25 == Decision(
        Track.VOORZORG,
        gestational_age_days=70,
        explanation=f"{text('voorzorg', ga_weeks='10+0')} {text('not-first-pregnancy', gravidity=gravidity)}",
    )
    at_26 = run(facts(ga=70, age=26, gravidity=gravidity))
    assert at_26 == Decision(
        Track.VOORZORG,
        reasons=(Reason.AGE_OVER_25,),
        gestational_age_days=70,
        explanation=f"{text('voorzorg', ga_weeks='10+0')} {text('age-over-25', age=26)}",
    )


def test_late_start_at_28_plus_0() -> None:
    assert run(facts(ga=196)) == Decision(
        Track.LATE_START,
        evidence=Evidence.UNDER_RESEARCH,
        gestational_age_days=196,
        explanation=text("late-start", timing="28+0 weeks pregnant"),
    )


def test_late_start_for_a_child_born_6_weeks_ago_with_untrained_nurses() -> None:
    assert run(facts(child_age=42), UNTRAINED) == Decision(
        Track.LATE_START,
        reasons=(Reason.NURSE_NOT_TRAINED,),
        evidence=Evidence.UNDER_RESEARCH,
        consult_required=True,
        child_age_days=42,
        explanation=" ".join(
            [
                text("late-start", timing="the child was born 42 days ago"),
                text("nurse-not-trained", track="late-start"),
            ]
        ),
    )


def test_voorzorg_2_at_27_plus_6_with_untrained_nurses() -> None:
    f = facts(ga=195, parity=1, serious_parenting_problems=True)
    assert run(f) == Decision(
        Track.VOORZORG_2,
        evidence=Evidence.UNDER_RESEARCH,
        gestational_age_days=195,
        explanation=text("voorzorg-2", ga_weeks="27+6"),
    )
    assert run(f, UNTRAINED) == Decision(
        Track.VOORZORG_2,
        reasons=(Reason.NURSE_NOT_TRAINED,),
        evidence=Evidence.UNDER_RESEARCH,
        consult_required=True,
        gestational_age_days=195,
        explanation=f"{text('voorzorg-2', ga_weeks='27+6')} {text('nurse-not-trained', track='voorzorg-2')}",
    )


def test_late_start_plus_2_at_30_plus_1_and_after_birth() -> None:
    f = facts(ga=211, parity=2, serious_parenting_problems=True)
    assert run(f) == Decision(
        Track.CONSULT,
        reasons=(Reason.LATE_START_PLUS_2,),
        consult_required=True,
        gestational_age_days=211,
        explanation=text("late-start-plus-2", timing="30+1 weeks pregnant"),
    )
    born = run(facts(child_age=0, parity=1, serious_parenting_problems=True))
    assert (born.child_age_days, born.gestational_age_days) == (0, None)
    assert born.explanation == text("late-start-plus-2", timing="the child was born 0 days ago")


def test_outside_criteria() -> None:
    assert run(facts(ga=150, parity=1, serious_parenting_problems=False)) == Decision(
        Track.CONSULT,
        reasons=(Reason.OUTSIDE_CRITERIA,),
        consult_required=True,
        gestational_age_days=150,
        explanation=text("outside-criteria"),
    )


def test_forced_framework() -> None:
    assert run(facts(ga=150, forced_framework=True)) == Decision(
        Track.CONSULT,
        reasons=(Reason.FORCED_FRAMEWORK,),
        consult_required=True,
        gestational_age_days=150,
        explanation=text("forced-framework"),
    )


def test_not_very_vulnerable() -> None:
    assert run(facts(ga=150, very_vulnerable=False)) == Decision(
        Track.NOT_ELIGIBLE,
        reasons=(Reason.NOT_VERY_VULNERABLE,),
        gestational_age_days=150,
        explanation=text("not-very-vulnerable"),
    )


def test_child_older_than_6_weeks() -> None:
    assert run(facts(child_age=43)) == Decision(
        Track.NOT_ELIGIBLE,
        reasons=(Reason.CHILD_OLDER_THAN_6_WEEKS,),
        child_age_days=43,
        explanation=text("child-older-than-6-weeks", child_age_days=43),
    )


# --- incomplete: reason missing-data, the items in the page's order, the timing that is known ---------------


def test_an_empty_referral_is_incomplete_naming_the_items_in_the_order_of_the_steps() -> None:
    """A forced framework is no missing item: not reported means none known, to confirm at the intake."""
    assert run(ReferralFacts(referral_date=REFERRAL)) == Decision(
        Track.INCOMPLETE,
        reasons=(Reason.MISSING_DATA,),
        missing=tuple(item(k) for k in ("very_vulnerable", "pregnancy_timing", "voluntary", "parity")),
        explanation=text("incomplete", missing="very vulnerable, pregnancy timing, voluntary, parity")
        + " "
        + text("forced-framework-not-reported"),
        to_confirm=("forced_framework",),
    )


# --- no forced framework reported: none is known, the decision goes on and says so ----------------------


def test_a_forced_framework_not_reported_decides_as_none_and_says_the_nurse_confirms_it() -> None:
    assert run(facts(ga=195, age=25, forced_framework=None)) == Decision(
        Track.VOORZORG,
        evidence=Evidence.PROVEN_EFFECTIVE,
        gestational_age_days=195,
        explanation=text("voorzorg-proven-effective", ga_weeks="27+6", age=25)
        + " "
        + text("forced-framework-not-reported"),
        to_confirm=("forced_framework",),
    )


def test_a_forced_framework_not_reported_is_said_after_the_nurse_not_trained_text() -> None:
    d = run(facts(ga=196, forced_framework=None), UNTRAINED)
    assert d.explanation == " ".join(
        [
            text("late-start", timing="28+0 weeks pregnant"),
            text("nurse-not-trained", track="late-start"),
            text("forced-framework-not-reported"),
        ]
    )
    assert (d.track, d.consult_required, d.to_confirm) == (Track.LATE_START, True, ("forced_framework",))


def test_a_reported_forced_framework_leaves_nothing_to_confirm() -> None:
    assert run(facts(forced_framework=False)).to_confirm == ()
    assert run(facts(forced_framework=True)).to_confirm == ()


@pytest.mark.parametrize("overrides", [{"very_vulnerable": False}, {"child_age": 43}])
def test_a_decision_made_before_the_forced_framework_step_asks_nothing_about_it(
    overrides: dict[str, object],
) -> None:
    d = run(facts(forced_framework=None, **overrides))  # type: ignore[arg-type]
    assert d.to_confirm == ()
    assert "forced framework" not in d.explanation


def test_without_the_rule_a_forced_framework_not_reported_is_missing_again() -> None:
    strict = dataclasses.replace(eligibility_rules(), confirmed_at_intake={})
    d = decide(facts(forced_framework=None), strict, TRAINED)
    assert (d.track, d.missing, d.to_confirm) == (Track.INCOMPLETE, (item("forced_framework"),), ())
    assert d.explanation == text("incomplete", missing="forced framework")


def test_an_incomplete_decision_keeps_the_gestational_age_it_knows() -> None:
    assert run(facts(ga=100, age=None)) == Decision(
        Track.INCOMPLETE,
        reasons=(Reason.MISSING_DATA,),
        missing=(item("mother_birth_date"),),
        gestational_age_days=100,
        explanation=text("incomplete", missing="mother birth date"),
    )


def test_an_incomplete_decision_keeps_the_childs_age_it_knows() -> None:
    f = facts(child_age=10, parity=1, serious_parenting_problems=None, voluntary=None)
    assert run(f) == Decision(
        Track.INCOMPLETE,
        reasons=(Reason.MISSING_DATA,),
        missing=(item("voluntary"), item("serious_parenting_problems")),
        child_age_days=10,
        explanation=text("incomplete", missing="voluntary, serious parenting problems"),
    )


def test_timing_unknown_with_a_first_child_names_only_the_timing() -> None:
    d = run(facts(ga=None))
    assert (d.track, d.reasons, d.missing) == (
        Track.INCOMPLETE,
        (Reason.MISSING_DATA,),
        (item("pregnancy_timing"),),
    )
    assert d.explanation == text("incomplete", missing="pregnancy timing")


def test_timing_unknown_with_earlier_children_and_problems_names_only_the_timing() -> None:
    d = run(facts(ga=None, parity=1, serious_parenting_problems=True))
    assert (d.track, d.missing) == (Track.INCOMPLETE, (item("pregnancy_timing"),))


# --- the notation and the boundaries the explanation shows ----------------------------------------------


@pytest.mark.parametrize(
    ("ga", "weeks"), [(0, "0+0"), (6, "0+6"), (7, "1+0"), (141, "20+1"), (190, "27+1"), (195, "27+6")]
)
def test_gestational_age_is_written_as_weeks_plus_days(ga: int, weeks: str) -> None:
    assert run(facts(ga=ga)).explanation == text("voorzorg-proven-effective", ga_weeks=weeks, age=20)


def test_a_projected_pregnancy_duration_is_written_the_same_way() -> None:
    # 150 days measured 2025-02-01, 37 days before the referral: 187 days = 26+5.
    f = facts(ga=None, pregnancy_duration=PregnancyDuration(days=150, measured_on=date(2025, 2, 1)))
    assert run(f).explanation == text("voorzorg-proven-effective", ga_weeks="26+5", age=20)


# --- wording that is missing or does not fit never breaks the decision ----------------------------------


def test_an_outcome_without_wording_says_its_key() -> None:
    bare = dataclasses.replace(eligibility_rules(), explanations={}, missing_items={})
    d = decide(facts(ga=None, voluntary=None), bare, TRAINED)
    assert d.missing == ("pregnancy_timing", "voluntary")
    assert d.explanation == "incomplete"
    assert decide(facts(ga=196), bare, UNTRAINED).explanation == "late-start nurse-not-trained"


@pytest.mark.parametrize("template", ["Says {unknown}.", "Says {0}."])
def test_a_template_with_a_placeholder_the_outcome_does_not_fill_is_shown_as_written(template: str) -> None:
    odd = dataclasses.replace(eligibility_rules(), explanations={"voorzorg-proven-effective": template})
    assert decide(facts(), odd, TRAINED).explanation == template
