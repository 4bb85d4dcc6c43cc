"""The referral reader takes full term from the eligibility rules (`mappings/eligibility.yaml`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from adapter.data import eligibility_rules
from adapter.fhir.outcome import FhirError
from adapter.mapping import referral_in


def test_the_example_referral_is_14_weeks_pregnant(referral: dict[str, Any]) -> None:
    facts = referral_in.read_referral(referral).facts
    assert facts.gestational_age_days(eligibility_rules().full_term_days) == 98


def test_the_plausible_gestational_age_is_computed_with_the_rules_full_term(
    referral: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # EDD 182 days after the referral: with a full term of 100 days the GA would be -82, implausible.
    short = dataclasses.replace(eligibility_rules(), full_term_days=100)
    monkeypatch.setattr(referral_in, "eligibility_rules", lambda: short)
    with pytest.raises(FhirError) as refused:
        referral_in.read_referral(referral)
    assert refused.value.status == 422
    assert [i.diagnostics for i in refused.value.issues] == [
        "The estimated delivery date gives a gestational age of -82 days at the referral date, "
        "outside 0-308: check the date"
    ]
