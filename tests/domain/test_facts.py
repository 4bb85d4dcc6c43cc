"""Gestational age and the expected birth on the referral's facts (GA = full term − (EDD − day))."""

from __future__ import annotations

from datetime import date, timedelta

from adapter.data import eligibility_rules
from adapter.domain.facts import PregnancyDuration, ReferralFacts, gestational_age_on

FULL_TERM = 280
REFERRAL = date(2025, 3, 10)


def test_gestational_age_on_a_day_counts_back_from_the_due_date() -> None:
    assert gestational_age_on(REFERRAL, REFERRAL, FULL_TERM) == 280
    assert gestational_age_on(REFERRAL, REFERRAL + timedelta(days=84), FULL_TERM) == 196  # 28+0
    assert gestational_age_on(REFERRAL, REFERRAL - timedelta(days=7), FULL_TERM) == 287


def test_the_edd_when_the_referral_gives_one() -> None:
    edd = REFERRAL + timedelta(days=140)
    facts = ReferralFacts(
        REFERRAL, estimated_delivery_date=edd, pregnancy_duration=PregnancyDuration(70, REFERRAL)
    )
    assert facts.gestational_age_days(FULL_TERM) == 140
    assert facts.expected_birth(FULL_TERM) == edd
    assert facts.expected_birth(266) == edd  # a given EDD is not recomputed


def test_else_projected_from_the_pregnancy_duration() -> None:
    measured = REFERRAL - timedelta(days=10)
    facts = ReferralFacts(REFERRAL, pregnancy_duration=PregnancyDuration(100, measured))
    assert facts.gestational_age_days(FULL_TERM) == 110
    assert facts.expected_birth(FULL_TERM) == REFERRAL + timedelta(days=170)
    assert facts.expected_birth(266) == REFERRAL + timedelta(days=156)


def test_none_when_the_referral_says_neither() -> None:
    assert ReferralFacts(REFERRAL).expected_birth(FULL_TERM) is None


def test_after_the_birth_only_a_given_edd() -> None:
    born = REFERRAL - timedelta(days=5)
    duration = PregnancyDuration(250, REFERRAL - timedelta(days=40))
    facts = ReferralFacts(REFERRAL, delivery_date=born, pregnancy_duration=duration)
    assert facts.expected_birth(FULL_TERM) is None
    edd = REFERRAL - timedelta(days=2)
    facts = ReferralFacts(REFERRAL, delivery_date=born, estimated_delivery_date=edd)
    assert facts.gestational_age_days(FULL_TERM) is None
    assert facts.expected_birth(FULL_TERM) == edd


def test_the_expected_birth_and_the_gestational_age_agree() -> None:
    for days in (0, 1, 97, 195, 196, 279, 280, 300):
        facts = ReferralFacts(REFERRAL, pregnancy_duration=PregnancyDuration(days, REFERRAL))
        edd = facts.expected_birth(FULL_TERM)
        assert edd is not None
        assert gestational_age_on(REFERRAL, edd, FULL_TERM) == days


def test_full_term_is_the_eligibility_rules_value() -> None:
    assert eligibility_rules().full_term_days == FULL_TERM
