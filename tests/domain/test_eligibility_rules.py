"""The eligibility decision, row by row and boundary by boundary, against the domain page §2.

Every expectation here is derived from the page (/work/shared/docs/voorzorg-domain.md §2), not copied
from the code: 28 weeks = 196 days, 6 weeks = 42 days, GA = 280 − (EDD − referral date), the age limit
for "proven effective" is 25 (younger than 26). The factory `facts()` builds a referral that is complete
and lands on plain `voorzorg` (first child, 20 weeks, 20 years old, voluntary, very vulnerable); each
test changes only what its rule is about.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest

from adapter.data import eligibility_rules
from adapter.domain.eligibility import Decision, EligibilityRules, Evidence, Reason, Track, decide
from adapter.domain.facts import Deployment, PregnancyDuration, ReferralFacts

# The page's numbers, written out once so a test names them by meaning.
FULL_TERM = 280
WEEKS_28 = 28 * 7  # 196: "< 28 weeks" means GA <= 27+6 = 195
WEEKS_6 = 6 * 7  # 42: Late Start can start until 6 weeks after birth
MAX_AGE_PROVEN = 25

REFERRAL = date(2025, 3, 10)

TRAINED = Deployment(frozenset({"voorzorg-2", "late-start"}))
UNTRAINED = Deployment(frozenset())

_UNSET = object()


def rules() -> EligibilityRules:
    return eligibility_rules()


def edd_for(ga_days: int, referral: date = REFERRAL) -> date:
    """The EDD that gives this GA at the referral date (the page's formula solved for the EDD)."""
    return referral + timedelta(days=FULL_TERM - ga_days)


def born_years_before(years: int, referral: date = REFERRAL, shift_days: int = 0) -> date:
    """Birth date whose `years`-th birthday is `shift_days` after the referral date (0: on it)."""
    return referral.replace(year=referral.year - years) + timedelta(days=shift_days)


def facts(
    *,
    ga: int | None = 20 * 7,
    child_age: int | None = None,
    age: int | None = 20,
    first_child: bool = True,
    **overrides: object,
) -> ReferralFacts:
    """A complete referral: very vulnerable, voluntary, no forced framework, first child.

    `ga` sets the EDD, `child_age` a delivery date (and drops the EDD), `age` the mother's birth date
    (her birthday falls well away from the referral date), `first_child=False` gives parity 1 with
    serious parenting problems. Any field can be overridden (None = the referral does not say).
    """
    values: dict[str, object] = {
        "referral_date": REFERRAL,
        "very_vulnerable": True,
        "voluntary": True,
        "forced_framework": False,
        "parity": 0 if first_child else 1,
        "serious_parenting_problems": None if first_child else True,
        "mother_birth_date": None if age is None else born_years_before(age, shift_days=-100),
        "estimated_delivery_date": None,
        "delivery_date": None,
    }
    if child_age is not None:
        values["delivery_date"] = REFERRAL - timedelta(days=child_age)
    elif ga is not None:
        values["estimated_delivery_date"] = edd_for(ga)
    values.update(overrides)
    return ReferralFacts(**values)  # type: ignore[arg-type]


def missing_item(key: str) -> str:
    """How the page's missing item `key` is named in the decision (wording is data in the YAML)."""
    return rules().missing_items[key]


def run(f: ReferralFacts, deployment: Deployment = TRAINED, r: EligibilityRules | None = None) -> Decision:
    return decide(f, r or rules(), deployment)


def assert_decision(
    d: Decision,
    track: Track,
    reasons: tuple[Reason, ...] = (),
    evidence: Evidence | None = None,
    consult_required: bool = False,
) -> None:
    assert (d.track, d.reasons, d.evidence, d.consult_required, d.missing) == (
        track,
        reasons,
        evidence,
        consult_required,
        (),
    ), d


def assert_incomplete(d: Decision, *keys: str) -> None:
    assert d.track is Track.INCOMPLETE, d
    assert set(d.missing) == {missing_item(k) for k in keys}, d.missing
    assert d.evidence is None
    assert not d.is_voorzorg_track


# --- the thresholds are the page's numbers --------------------------------------------------------------


def test_loaded_thresholds_are_the_pages_numbers() -> None:
    r = rules()
    assert r.full_term_days == FULL_TERM
    assert r.late_pregnancy_days == WEEKS_28
    assert r.max_child_age_days == WEEKS_6
    assert r.max_age_proven_effective == MAX_AGE_PROVEN
    assert r.modules_needing_training == {"voorzorg-2", "late-start"}


# --- step 5: first child, 27+6 vs 28+0 --------------------------------------------------------------------


def test_first_child_27_plus_6_from_edd_is_voorzorg_proven_effective() -> None:
    # Worked by hand: EDD 2025-06-03 is 85 days after 2025-03-10, so GA = 280 - 85 = 195 = 27+6.
    d = run(facts(estimated_delivery_date=date(2025, 6, 3)))
    assert d.gestational_age_days == 195
    assert d.child_age_days is None
    assert_decision(d, Track.VOORZORG, evidence=Evidence.PROVEN_EFFECTIVE)


def test_first_child_28_plus_0_from_edd_is_late_start() -> None:
    d = run(facts(estimated_delivery_date=date(2025, 6, 2)))  # 84 days ahead: GA 196 = 28+0
    assert d.gestational_age_days == 196
    assert_decision(d, Track.LATE_START, evidence=Evidence.UNDER_RESEARCH)


@pytest.mark.parametrize(
    ("ga", "track", "evidence"),
    [
        (0, Track.VOORZORG, Evidence.PROVEN_EFFECTIVE),
        (WEEKS_28 - 1, Track.VOORZORG, Evidence.PROVEN_EFFECTIVE),
        (WEEKS_28, Track.LATE_START, Evidence.UNDER_RESEARCH),
        (WEEKS_28 + 1, Track.LATE_START, Evidence.UNDER_RESEARCH),
        (FULL_TERM + 10, Track.LATE_START, Evidence.UNDER_RESEARCH),  # past the EDD, not yet delivered
    ],
)
def test_first_child_track_by_gestational_age(ga: int, track: Track, evidence: Evidence) -> None:
    d = run(facts(ga=ga))
    assert d.gestational_age_days == ga
    assert_decision(d, track, evidence=evidence)


# Pregnancy duration of 150 days measured 2025-02-01; 2025-03-18 is 45 days later (GA 195).
_MEASURED = PregnancyDuration(days=150, measured_on=date(2025, 2, 1))


@pytest.mark.parametrize(
    ("referral", "ga", "track"),
    [
        (date(2025, 3, 18), 195, Track.VOORZORG),
        (date(2025, 3, 19), 196, Track.LATE_START),
    ],
)
def test_pregnancy_duration_is_projected_to_the_referral_date(referral: date, ga: int, track: Track) -> None:
    f = facts(ga=None, referral_date=referral, pregnancy_duration=_MEASURED)
    d = run(f)
    assert d.gestational_age_days == ga
    assert d.track is track


def test_duration_measured_on_the_referral_date_is_taken_as_is() -> None:
    f = facts(ga=None, pregnancy_duration=PregnancyDuration(days=WEEKS_28 - 1, measured_on=REFERRAL))
    assert run(f).gestational_age_days == WEEKS_28 - 1
    assert run(f).track is Track.VOORZORG


@pytest.mark.parametrize(
    ("edd_ga", "duration_ga", "track"),
    [
        (WEEKS_28 - 1, WEEKS_28 + 30, Track.VOORZORG),  # EDD says 27+6, duration says late
        (WEEKS_28, 100, Track.LATE_START),  # EDD says 28+0, duration says early
    ],
)
def test_edd_wins_over_a_pregnancy_duration(edd_ga: int, duration_ga: int, track: Track) -> None:
    duration = PregnancyDuration(days=duration_ga - 10, measured_on=REFERRAL - timedelta(days=10))
    d = run(facts(ga=edd_ga, pregnancy_duration=duration))
    assert d.gestational_age_days == edd_ga
    assert d.track is track


# --- step 6: earlier children with serious problems, 27+6 vs 28+0 ---------------------------------------


def test_parity_1_serious_problems_27_plus_6_is_voorzorg_2() -> None:
    d = run(facts(first_child=False, ga=WEEKS_28 - 1))
    assert d.gestational_age_days == 195
    assert_decision(d, Track.VOORZORG_2, evidence=Evidence.UNDER_RESEARCH)


def test_parity_1_serious_problems_28_plus_0_is_consult_late_start_plus_2() -> None:
    d = run(facts(first_child=False, ga=WEEKS_28))
    assert d.gestational_age_days == 196
    assert_decision(d, Track.CONSULT, (Reason.LATE_START_PLUS_2,), consult_required=True)


@pytest.mark.parametrize(
    ("referral", "track"),
    [(date(2025, 3, 18), Track.VOORZORG_2), (date(2025, 3, 19), Track.CONSULT)],
)
def test_parity_boundary_also_holds_for_a_projected_duration(referral: date, track: Track) -> None:
    f = facts(first_child=False, ga=None, referral_date=referral, pregnancy_duration=_MEASURED)
    assert run(f).track is track


@pytest.mark.parametrize("parity", [1, 2, 7])
def test_any_parity_of_one_or_more_counts_as_earlier_children(parity: int) -> None:
    assert run(facts(first_child=False, parity=parity)).track is Track.VOORZORG_2
    assert run(facts(first_child=False, parity=parity, ga=WEEKS_28)).reasons == (Reason.LATE_START_PLUS_2,)


def test_the_age_limit_does_not_apply_to_voorzorg_2() -> None:
    d = run(facts(first_child=False, age=40))
    assert_decision(d, Track.VOORZORG_2, evidence=Evidence.UNDER_RESEARCH)


def test_voorzorg_2_does_not_need_the_mothers_birth_date() -> None:
    assert run(facts(first_child=False, age=None)).track is Track.VOORZORG_2


# --- born children: 42 vs 43 days (step 3 and the Late Start window) ------------------------------------


@pytest.mark.parametrize("child_age", [0, 1, WEEKS_6 - 1, WEEKS_6])
def test_first_child_born_at_most_6_weeks_ago_is_late_start(child_age: int) -> None:
    d = run(facts(child_age=child_age))
    assert d.child_age_days == child_age
    assert d.gestational_age_days is None
    assert_decision(d, Track.LATE_START, evidence=Evidence.UNDER_RESEARCH)


@pytest.mark.parametrize("child_age", [WEEKS_6 + 1, 100, 400])
def test_child_born_more_than_6_weeks_ago_is_not_eligible(child_age: int) -> None:
    d = run(facts(child_age=child_age))
    assert d.child_age_days == child_age
    assert_decision(d, Track.NOT_ELIGIBLE, (Reason.CHILD_OLDER_THAN_6_WEEKS,))


def test_child_born_on_the_referral_date_is_born_not_pregnant() -> None:
    f = facts(ga=None, delivery_date=REFERRAL, estimated_delivery_date=REFERRAL + timedelta(days=30))
    d = run(f)
    assert d.child_age_days == 0
    assert d.gestational_age_days is None  # the EDD no longer counts once she has delivered
    assert_decision(d, Track.LATE_START, evidence=Evidence.UNDER_RESEARCH)


def test_a_delivery_date_after_the_referral_date_is_not_a_birth() -> None:
    f = facts(ga=WEEKS_28 - 1, delivery_date=REFERRAL + timedelta(days=1))
    d = run(f)
    assert d.child_age_days is None
    assert d.gestational_age_days == WEEKS_28 - 1
    assert d.track is Track.VOORZORG


def test_late_start_for_a_born_child_does_not_need_the_mothers_birth_date() -> None:
    assert run(facts(child_age=10, age=None)).track is Track.LATE_START


@pytest.mark.parametrize(
    ("child_age", "track", "reasons"),
    [
        (0, Track.CONSULT, (Reason.LATE_START_PLUS_2,)),
        (WEEKS_6, Track.CONSULT, (Reason.LATE_START_PLUS_2,)),
        (WEEKS_6 + 1, Track.NOT_ELIGIBLE, (Reason.CHILD_OLDER_THAN_6_WEEKS,)),
    ],
)
def test_earlier_children_with_problems_and_a_born_child(
    child_age: int, track: Track, reasons: tuple[Reason, ...]
) -> None:
    d = run(facts(first_child=False, child_age=child_age))
    assert d.child_age_days == child_age
    assert_decision(d, track, reasons, consult_required=track is Track.CONSULT)


def test_child_older_than_6_weeks_goes_before_the_forced_framework() -> None:
    # Step 3 comes before step 4.
    d = run(facts(child_age=WEEKS_6 + 1, voluntary=False, forced_framework=True))
    assert d.reasons == (Reason.CHILD_OLDER_THAN_6_WEEKS,)


# --- age 25 vs 26 at the referral date --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shift_days", "age_at_referral"),
    [
        (1, 25),  # 26th birthday the day after the referral
        (0, 26),  # 26th birthday on the referral date
        (-1, 26),  # 26th birthday the day before
    ],
)
def test_age_at_the_referral_date_decides_the_evidence(shift_days: int, age_at_referral: int) -> None:
    f = facts(mother_birth_date=born_years_before(26, shift_days=shift_days))
    d = run(f)
    if age_at_referral <= MAX_AGE_PROVEN:
        assert_decision(d, Track.VOORZORG, evidence=Evidence.PROVEN_EFFECTIVE)
    else:
        assert_decision(d, Track.VOORZORG, (Reason.AGE_OVER_25,))


@pytest.mark.parametrize("age", [14, 18, 25])
def test_young_enough_is_proven_effective(age: int) -> None:
    assert_decision(run(facts(age=age)), Track.VOORZORG, evidence=Evidence.PROVEN_EFFECTIVE)


@pytest.mark.parametrize("age", [26, 30, 45])
def test_older_than_25_gets_voorzorg_without_evidence(age: int) -> None:
    assert_decision(run(facts(age=age)), Track.VOORZORG, (Reason.AGE_OVER_25,))


def test_age_does_not_change_late_start() -> None:
    assert_decision(run(facts(age=35, ga=WEEKS_28)), Track.LATE_START, evidence=Evidence.UNDER_RESEARCH)


def test_first_child_before_28_weeks_without_a_birth_date_is_incomplete() -> None:
    assert_incomplete(run(facts(age=None)), "mother_birth_date")


# --- parity and gravidity -------------------------------------------------------------------------------


def test_gravidity_1_without_parity_is_a_first_child() -> None:
    d = run(facts(parity=None, gravidity=1))
    assert_decision(d, Track.VOORZORG, evidence=Evidence.PROVEN_EFFECTIVE)
    d = run(facts(parity=None, gravidity=1, ga=WEEKS_28))
    assert_decision(d, Track.LATE_START, evidence=Evidence.UNDER_RESEARCH)


@pytest.mark.parametrize("gravidity", [2, 3, 6])
def test_gravidity_2_or_more_without_parity_is_incomplete_naming_parity(gravidity: int) -> None:
    d = run(facts(parity=None, gravidity=gravidity))
    assert_incomplete(d, "parity")
    assert any(m.startswith("parity") for m in d.missing)


def test_neither_parity_nor_gravidity_is_incomplete_naming_parity() -> None:
    assert_incomplete(run(facts(parity=None, gravidity=None)), "parity")


def test_parity_wins_over_gravidity() -> None:
    # Gravidity 1 with parity 1 is contradictory data; the explicit count of earlier births is used.
    assert run(facts(first_child=False, gravidity=1)).track is Track.VOORZORG_2
    # Gravidity 3 with parity 0 (earlier miscarriages): a first child.
    assert run(facts(gravidity=3)).track is Track.VOORZORG


# --- step 2: very vulnerable situation --------------------------------------------------------------------


def test_not_very_vulnerable_is_not_eligible() -> None:
    d = run(facts(very_vulnerable=False))
    assert_decision(d, Track.NOT_ELIGIBLE, (Reason.NOT_VERY_VULNERABLE,))


def test_not_very_vulnerable_explains_lighter_support() -> None:
    text = run(facts(very_vulnerable=False)).explanation
    assert "Stevig Ouderschap" in text
    assert "prenatal home visit" in text


def test_not_very_vulnerable_is_not_eligible_even_when_everything_else_is_missing() -> None:
    f = ReferralFacts(referral_date=REFERRAL, very_vulnerable=False)
    assert_decision(run(f), Track.NOT_ELIGIBLE, (Reason.NOT_VERY_VULNERABLE,))


@pytest.mark.parametrize(
    "overrides",
    [
        {"voluntary": False},
        {"forced_framework": True},
        {"first_child": False},
        {"first_child": False, "serious_parenting_problems": False},
        {"child_age": 10},
    ],
)
def test_not_very_vulnerable_goes_before_every_later_step(overrides: dict[str, object]) -> None:
    d = run(facts(very_vulnerable=False, **overrides))  # type: ignore[arg-type]
    assert d.reasons == (Reason.NOT_VERY_VULNERABLE,)
    assert d.track is Track.NOT_ELIGIBLE


def test_very_vulnerable_unknown_is_incomplete() -> None:
    assert_incomplete(run(facts(very_vulnerable=None)), "very_vulnerable")


def test_an_empty_referral_names_every_item_the_first_steps_need() -> None:
    d = run(ReferralFacts(referral_date=REFERRAL))
    assert_incomplete(d, "very_vulnerable", "pregnancy_timing", "voluntary", "parity")


def test_pregnancy_timing_unknown_is_incomplete() -> None:
    assert_incomplete(run(facts(ga=None)), "pregnancy_timing")


# --- step 4: voluntariness and the forced framework -----------------------------------------------------


@pytest.mark.parametrize(
    ("voluntary", "forced_framework"),
    [(False, False), (True, True), (False, True), (False, None), (None, True)],
)
def test_not_voluntary_or_forced_framework_goes_to_consult(
    voluntary: bool | None, forced_framework: bool | None
) -> None:
    d = run(facts(voluntary=voluntary, forced_framework=forced_framework))
    assert_decision(d, Track.CONSULT, (Reason.FORCED_FRAMEWORK,), consult_required=True)


@pytest.mark.parametrize(
    "overrides",
    [{"first_child": False}, {"ga": WEEKS_28}, {"child_age": WEEKS_6}, {"age": 40}],
)
def test_forced_framework_goes_before_the_track_choice(overrides: dict[str, object]) -> None:
    d = run(facts(forced_framework=True, **overrides), UNTRAINED)  # type: ignore[arg-type]
    assert_decision(d, Track.CONSULT, (Reason.FORCED_FRAMEWORK,), consult_required=True)


def test_forced_framework_explains_that_voorzorg_is_still_possible() -> None:
    assert "evaluation moments" in run(facts(voluntary=False)).explanation


def test_voluntariness_unknown_is_incomplete() -> None:
    assert_incomplete(run(facts(voluntary=None)), "voluntary")


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"first_child": False},
        {"ga": WEEKS_28},
        {"child_age": WEEKS_6},
        {"age": 40},
        {"first_child": False, "ga": WEEKS_28},
    ],
)
def test_forced_framework_not_reported_decides_as_none_known(overrides: dict[str, object]) -> None:
    """Domain page §2: a referrer reports a forced framework when there is one; no report is no missing
    data. The decision is the one for "no forced framework", noting the item for the intake visit."""
    unreported = run(facts(forced_framework=None, **overrides))  # type: ignore[arg-type]
    reported = run(facts(forced_framework=False, **overrides))  # type: ignore[arg-type]
    assert (unreported.track, unreported.reasons, unreported.evidence, unreported.consult_required) == (
        reported.track,
        reported.reasons,
        reported.evidence,
        reported.consult_required,
    )
    assert unreported.missing == () and unreported.to_confirm == ("forced_framework",)
    assert reported.to_confirm == ()


def test_forced_framework_not_reported_with_other_gaps_stays_incomplete_for_those() -> None:
    d = run(facts(forced_framework=None, voluntary=None))
    assert_incomplete(d, "voluntary")
    assert d.to_confirm == ("forced_framework",)


# --- step 6: without serious problems, or unknown -------------------------------------------------------


@pytest.mark.parametrize("timing", [{"ga": 50}, {"ga": WEEKS_28 - 1}, {"ga": WEEKS_28}, {"child_age": 5}])
def test_earlier_children_without_serious_problems_is_consult_outside_criteria(
    timing: dict[str, int],
) -> None:
    d = run(facts(first_child=False, serious_parenting_problems=False, **timing))  # type: ignore[arg-type]
    assert_decision(d, Track.CONSULT, (Reason.OUTSIDE_CRITERIA,), consult_required=True)


def test_earlier_children_with_serious_problems_unknown_is_incomplete() -> None:
    assert_incomplete(
        run(facts(first_child=False, serious_parenting_problems=None)), "serious_parenting_problems"
    )


def test_first_child_does_not_need_serious_problems() -> None:
    # The factory leaves serious_parenting_problems None for a first child; both tracks decide.
    assert run(facts()).track is Track.VOORZORG
    assert run(facts(ga=WEEKS_28)).track is Track.LATE_START


def test_the_incomplete_decision_names_every_item_a_late_pregnancy_with_earlier_children_needs() -> None:
    d = run(facts(first_child=False, serious_parenting_problems=None, voluntary=None, ga=WEEKS_28))
    assert_incomplete(d, "voluntary", "serious_parenting_problems")


def test_timing_unknown_with_earlier_children_also_names_serious_problems() -> None:
    d = run(facts(first_child=False, serious_parenting_problems=None, ga=None))
    assert_incomplete(d, "pregnancy_timing", "serious_parenting_problems")


# --- step 7: training for the extra modules ------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "track"),
    [
        ({"ga": WEEKS_28}, Track.LATE_START),
        ({"child_age": 3}, Track.LATE_START),
        ({"first_child": False}, Track.VOORZORG_2),
    ],
)
def test_untrained_nurses_keep_the_track_but_require_a_consult(
    overrides: dict[str, object], track: Track
) -> None:
    f = facts(**overrides)  # type: ignore[arg-type]
    untrained = run(f, UNTRAINED)
    assert_decision(
        untrained, track, (Reason.NURSE_NOT_TRAINED,), evidence=Evidence.UNDER_RESEARCH, consult_required=True
    )
    assert "voorzorg@ncj.nl" in untrained.explanation
    trained = run(f, TRAINED)
    assert_decision(trained, track, evidence=Evidence.UNDER_RESEARCH)


def test_training_is_per_module() -> None:
    only_late_start = Deployment(frozenset({"late-start"}))
    only_voorzorg_2 = Deployment(frozenset({"voorzorg-2"}))
    assert run(facts(ga=WEEKS_28), only_late_start).reasons == ()
    assert run(facts(ga=WEEKS_28), only_voorzorg_2).reasons == (Reason.NURSE_NOT_TRAINED,)
    assert run(facts(first_child=False), only_voorzorg_2).reasons == ()
    assert run(facts(first_child=False), only_late_start).reasons == (Reason.NURSE_NOT_TRAINED,)


@pytest.mark.parametrize("age", [20, 30])
def test_regular_voorzorg_never_needs_module_training(age: int) -> None:
    d = run(facts(age=age), UNTRAINED)
    assert d.track is Track.VOORZORG
    assert Reason.NURSE_NOT_TRAINED not in d.reasons
    assert d.consult_required is False


@pytest.mark.parametrize(
    "overrides",
    [
        {"very_vulnerable": False},
        {"child_age": WEEKS_6 + 1},
        {"voluntary": False},
        {"first_child": False, "ga": WEEKS_28},
        {"first_child": False, "serious_parenting_problems": False},
    ],
)
def test_outcomes_other_than_the_modules_are_the_same_without_training(overrides: dict[str, object]) -> None:
    f = facts(**overrides)  # type: ignore[arg-type]
    assert run(f, UNTRAINED) == run(f, TRAINED)
    assert Reason.NURSE_NOT_TRAINED not in run(f, UNTRAINED).reasons


# --- evidence -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "evidence"),
    [
        ({}, Evidence.PROVEN_EFFECTIVE),  # first child, < 28 weeks, voluntary, <= 25
        ({"age": 26}, None),
        ({"ga": WEEKS_28}, Evidence.UNDER_RESEARCH),
        ({"child_age": 0}, Evidence.UNDER_RESEARCH),
        ({"first_child": False}, Evidence.UNDER_RESEARCH),
        ({"first_child": False, "ga": WEEKS_28}, None),  # consult LS+2: "not part of the research"
        ({"first_child": False, "serious_parenting_problems": False}, None),
        ({"voluntary": False}, None),
        ({"forced_framework": True}, None),
        ({"very_vulnerable": False}, None),
        ({"child_age": WEEKS_6 + 1}, None),
        ({"very_vulnerable": None}, None),
    ],
)
def test_evidence_status(overrides: dict[str, object], evidence: Evidence | None) -> None:
    assert run(facts(**overrides)).evidence == evidence  # type: ignore[arg-type]


# --- the thresholds come from the data ------------------------------------------------------------------


def test_late_pregnancy_threshold_is_read_from_the_rules() -> None:
    moved = dataclasses.replace(rules(), late_pregnancy_days=WEEKS_28 + 14)  # 30+0
    f = facts(ga=WEEKS_28 + 7)  # 29+0: late with the page's rules, early with the moved one
    assert run(f).track is Track.LATE_START
    assert run(f, r=moved).track is Track.VOORZORG
    assert run(facts(ga=WEEKS_28 + 13), r=moved).track is Track.VOORZORG
    assert run(facts(ga=WEEKS_28 + 14), r=moved).track is Track.LATE_START
    assert run(facts(first_child=False, ga=WEEKS_28 + 7), r=moved).track is Track.VOORZORG_2


def test_child_age_threshold_is_read_from_the_rules() -> None:
    moved = dataclasses.replace(rules(), max_child_age_days=WEEKS_6 + 7)
    assert run(facts(child_age=WEEKS_6 + 7), r=moved).track is Track.LATE_START
    assert run(facts(child_age=WEEKS_6 + 8), r=moved).track is Track.NOT_ELIGIBLE


def test_age_threshold_is_read_from_the_rules() -> None:
    moved = dataclasses.replace(rules(), max_age_proven_effective=30)
    assert run(facts(age=30), r=moved).evidence is Evidence.PROVEN_EFFECTIVE
    assert run(facts(age=31), r=moved).reasons == (Reason.AGE_OVER_25,)


def test_full_term_is_read_from_the_rules() -> None:
    moved = dataclasses.replace(rules(), full_term_days=FULL_TERM + 7)
    d = run(facts(ga=WEEKS_28 - 7), r=moved)  # same EDD reads one week further along
    assert d.gestational_age_days == WEEKS_28
    assert d.track is Track.LATE_START


def test_modules_needing_training_are_read_from_the_rules() -> None:
    none_needed = dataclasses.replace(rules(), modules_needing_training=frozenset())
    d = run(facts(ga=WEEKS_28), UNTRAINED, r=none_needed)
    assert_decision(d, Track.LATE_START, evidence=Evidence.UNDER_RESEARCH)


def test_first_child_after_earlier_pregnancies_is_voorzorg_outside_the_research_population() -> None:
    """Seed 002: proven effective for a *first pregnancy*; parity 0 with gravidity 2 is still VoorZorg."""
    d = run(facts(gravidity=2))
    assert d.track is Track.VOORZORG
    assert d.evidence is None
    assert d.reasons == ()
    assert "pregnancy number 2" in d.explanation
    assert run(facts(gravidity=1)).evidence is Evidence.PROVEN_EFFECTIVE
