"""mappings/measures.yaml as rules (adapter/monitoring/rules.py), tested without a store: the conditions of a
population at their boundaries, the referrer's kind, her municipality (the coded CBS gemeente before the
district's text), the small-numbers boundary and the weights of a count. Pure: `make mutation` runs these
against every mutant of rules.py."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from adapter.monitoring.rules import (
    Goal,
    Group,
    MeasureRules,
    SmallNumbers,
    _group,
    measure_rules,
    predicate,
)

START, END = date(2026, 1, 1), date(2026, 12, 31)
BEFORE, AFTER = date(2025, 12, 31), date(2027, 1, 1)
KIND = "https://fhir.voorzorg.nl/CodeSystem/voorzorg-referrer-kind"
SNOMED = "http://snomed.info/sct"
CBS = "urn:oid:2.16.840.1.113883.2.4.4.15"
CBS_OTHER = "https://www.cbs.nl/gemeentecode"
DISTRICT_CODE = "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-precinct"


def fresh_rules() -> MeasureRules:
    """measures.yaml read again: `measure_rules()` is cached, and under mutation testing a mutant of the
    reading must meet a fresh read rather than the rules read before it was switched on."""
    measure_rules.cache_clear()
    return measure_rules()


def holds(condition: dict[str, Any], value: Any, fact: str = "f") -> bool:
    row = {} if value is None else {fact: value}
    return predicate(condition, START, END)(row)


# -- conditions ------------------------------------------------------------------------------------


def test_in_period_includes_both_ends_and_nothing_outside() -> None:
    c = {"fact": "f", "in_period": True}
    assert holds(c, date(2026, 1, 1)) and holds(c, date(2026, 12, 31)) and holds(c, date(2026, 6, 15))
    assert not holds(c, date(2025, 12, 31)) and not holds(c, date(2027, 1, 1))
    assert not holds(c, None)  # no date: not in the period


def test_in_period_false_asks_for_a_date_outside_the_period() -> None:
    c = {"fact": "f", "in_period": False}
    assert holds(c, date(2025, 12, 31)) and holds(c, date(2027, 1, 1))
    assert not holds(c, date(2026, 1, 1)) and not holds(c, date(2026, 12, 31))
    assert not holds(c, None)  # no date is not "outside" either


def test_lt_is_strict_and_an_unknown_value_never_holds() -> None:
    c = {"fact": "ga", "lt": 112}  # before 16+0 weeks
    assert holds(c, 111, "ga") and not holds(c, 112, "ga") and not holds(c, 113, "ga")
    assert not holds(c, None, "ga")


def test_ge_includes_its_bound_and_an_unknown_value_never_holds() -> None:
    c = {"fact": "assessments", "ge": 2}
    assert holds(c, 2, "assessments") and holds(c, 3, "assessments") and not holds(c, 1, "assessments")
    assert not holds(c, None, "assessments")


def test_in_and_not_in() -> None:
    assert holds({"fact": "f", "in": ["voorzorg", "late-start"]}, "late-start")
    assert not holds({"fact": "f", "in": ["voorzorg"]}, "voorzorg-2")
    assert holds({"fact": "f", "not_in": ["completed"]}, "moved")
    assert not holds({"fact": "f", "not_in": ["completed"]}, "completed")
    assert holds({"fact": "f", "not_in": ["completed"]}, None)  # nothing is not in the list


def test_is_compares_the_value() -> None:
    assert holds({"fact": "f", "is": True}, True)
    assert not holds({"fact": "f", "is": True}, False) and not holds({"fact": "f", "is": True}, None)
    assert holds({"fact": "f", "is": False}, False)


def test_present_true_and_false() -> None:
    assert holds({"fact": "f", "present": True}, 0)  # a value of 0 is present
    assert not holds({"fact": "f", "present": True}, None)
    assert holds({"fact": "f", "present": False}, None)
    assert not holds({"fact": "f", "present": False}, 3)


def test_several_checks_on_one_fact_must_all_hold() -> None:
    c = {"fact": "f", "ge": 2, "lt": 5}
    assert [holds(c, n) for n in (1, 2, 4, 5)] == [False, True, True, False]
    dated = {"fact": "f", "present": True, "in_period": True}  # the period's both ends hold here too
    assert [holds(dated, d) for d in (BEFORE, START, END, AFTER)] == [False, True, True, False]


def test_a_condition_reads_its_own_fact_only() -> None:
    test = predicate({"fact": "enrolled", "present": True}, START, END)
    assert not test({"referred": date(2026, 3, 1)})
    assert test({"enrolled": date(2026, 3, 1)})


def overlaps(lo: date | None, hi: date | None) -> bool:
    row = {k: v for k, v in (("phase-start", lo), ("phase-end", hi)) if v is not None}
    return predicate({"overlaps_period": ["phase-start", "phase-end"]}, START, END)(row)


def test_overlaps_period_at_its_boundaries() -> None:
    assert overlaps(date(2026, 12, 31), date(2027, 3, 1))  # starts on the last day
    assert not overlaps(date(2027, 1, 1), date(2027, 3, 1))  # starts the day after
    assert overlaps(date(2025, 6, 1), date(2026, 1, 1))  # ends on the first day
    assert not overlaps(date(2025, 6, 1), date(2025, 12, 31))  # ends the day before
    assert overlaps(date(2025, 6, 1), None)  # still going
    assert not overlaps(date(2027, 2, 1), None)  # still going, but begun after the period
    assert not overlaps(None, date(2026, 6, 1))  # no start: not in any period


# -- referrer kind ---------------------------------------------------------------------------------


def coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def test_referrer_kind_from_the_organizations_type_or_the_roles_code() -> None:
    rules = measure_rules()
    assert rules.referrer_kind(None) == "unknown"
    assert rules.referrer_kind({}) == "unknown"
    assert rules.referrer_kind({"resourceType": "Organization"}) == "other"
    assert rules.referrer_kind({"type": [coding(KIND, "midwife")]}) == "midwife"
    assert rules.referrer_kind({"code": [coding(SNOMED, "62247001")]}) == "gp"
    assert rules.referrer_kind({"type": [coding(SNOMED, "62247001")], "code": None}) == "gp"
    assert rules.referrer_kind({"type": None, "code": [coding(SNOMED, "11935004")]}) == "gynaecologist"


def test_referrer_kind_reads_every_coding_and_the_type_first() -> None:
    rules = measure_rules()
    unknown_then_known = {
        "type": [
            {"text": "no coding"},
            {
                "coding": [
                    {"system": SNOMED, "code": "0000"},
                    {"code": "309453006"},
                    {"system": SNOMED, "code": "309453006"},
                ]
            },
        ]
    }
    assert rules.referrer_kind(unknown_then_known) == "midwife"
    both = {"type": [coding(KIND, "ozks")], "code": [coding(KIND, "gp")]}
    assert rules.referrer_kind(both) == "ozks"
    unmatched_type = {"type": [coding(KIND, "dentist")], "code": [coding(KIND, "gp")]}
    assert rules.referrer_kind(unmatched_type) == "gp"
    assert rules.referrer_kind({"type": [coding(SNOMED, "midwife")]}) == "other"  # system|code, not the code


# -- municipality ----------------------------------------------------------------------------------


def coded(system: str, code: str) -> dict[str, Any]:
    return {"url": DISTRICT_CODE, "valueCoding": {"system": system, "code": code}}


def test_municipality_coded_on_the_district_before_its_text() -> None:
    rules = measure_rules()
    address = {"district": "Utrecht", "_district": {"extension": [coded(CBS, "0344")]}}
    assert rules.municipality_of({"address": [address]}) == "0344"
    concept = {
        "url": DISTRICT_CODE,
        "valueCodeableConcept": {
            "coding": [
                {"system": "http://example.org/other", "code": "X"},
                {"system": CBS_OTHER, "code": "0363"},
            ]
        },
    }
    assert (
        rules.municipality_of({"address": [{"district": "A'dam", "_district": {"extension": [concept]}}]})
        == "0363"
    )
    on_address = {"district": "Utrecht", "extension": [coded("urn:oid:2.16.840.1.113883.2.4.6.14", "0344")]}
    assert rules.municipality_of({"address": [on_address]}) == "0344"


def test_municipality_ignores_other_code_systems_and_empty_codes() -> None:
    rules = measure_rules()
    other = {
        "district": " Zeist ",
        "_district": {
            "extension": [
                coded("http://example.org/gemeente", "0355"),
                coded(CBS, ""),
                {"url": DISTRICT_CODE, "valueString": "x"},
            ]
        },
    }
    assert rules.municipality_of({"address": [other]}) == "Zeist"
    assert rules.municipality_of({"address": [{"district": "Zeist", "_district": None}]}) == "Zeist"


def test_municipality_of_her_home_address_else_any_address() -> None:
    rules = measure_rules()
    work = {"use": "work", "district": "Amersfoort"}
    home = {"use": "home", "district": "Utrecht"}
    unset = {"district": "Zeist"}
    assert rules.municipality_of({"address": [work, home]}) == "Utrecht"
    assert rules.municipality_of({"address": [work, unset]}) == "Zeist"  # no use: taken as home
    assert rules.municipality_of({"address": [work]}) == "Amersfoort"  # no home address: what there is
    assert rules.municipality_of({"address": [work, {"use": "old", "district": "Baarn"}]}) == "Amersfoort"


def test_municipality_reads_the_next_address_when_one_says_nothing() -> None:
    rules = measure_rules()
    empty = [{"use": "home", "district": "  "}, {"use": "home", "city": "X"}, {"use": "home", "district": 7}]
    assert rules.municipality_of({"address": [*empty, {"use": "home", "district": "Houten"}]}) == "Houten"
    assert rules.municipality_of({"address": empty}) == "unknown"
    assert rules.municipality_of({"address": []}) == "unknown"
    assert rules.municipality_of({"address": None}) == "unknown"
    assert rules.municipality_of({}) == "unknown"


# -- small numbers, weights ------------------------------------------------------------------------


def test_small_numbers_hide_one_to_nine() -> None:
    small = SmallNumbers(10, "< 10")
    assert [small.hides(n) for n in (0, 1, 9, 10, 11)] == [False, True, True, False, False]


def test_a_weighted_population_sums_its_fact_and_the_others_count_rows() -> None:
    g = Group("g", "", "proportion", {}, (), weights={"denominator": "visits", "numerator": "done"})
    rows = [{"visits": 10, "done": 4}, {"visits": 3}, {"visits": None, "done": 2}]
    assert g.count("denominator", rows) == 13
    assert g.count("numerator", rows) == 6
    assert g.count("initial-population", rows) == 3
    assert Group("g", "", "cohort", {}, ()).count("initial-population", rows) == 3


# -- measures.yaml read as rules -------------------------------------------------------------------


def test_measures_yaml_as_rules() -> None:
    rules = fresh_rules()
    assert rules.small_numbers == SmallNumbers(10, "< 10")
    assert rules.eligible_tracks == frozenset({"voorzorg", "voorzorg-2", "late-start"})
    assert rules.municipality_systems == (CBS, "urn:oid:2.16.840.1.113883.2.4.6.14", CBS_OTHER)
    assert rules.referrer_kinds[f"{SNOMED}|309453006"] == "midwife"
    assert len(rules.referrer_kinds) == 11
    uptake = rules.measures["voorzorg-uptake"]
    assert (uptake.id, uptake.title, uptake.unit, uptake.improvement) == (
        "voorzorg-uptake",
        "Uptake",
        "referral",
        "increase",
    )
    assert uptake.description.startswith("Numerator: referrals decided eligible (track voorzorg, voorzorg-2")
    assert "  " not in uptake.description and "\n" not in uptake.description
    (group,) = uptake.groups
    assert group == Group(
        code="uptake",
        description="Enrolled / decided eligible. Goal >= 75 %.",
        scoring="proportion",
        populations={
            "initial-population": [{"fact": "referred", "in_period": True}],
            "denominator": [{"fact": "eligible", "is": True}],
            "numerator": [{"fact": "enrolled", "present": True}],
        },
        stratifiers=("referrer-kind", "track", "municipality"),
        goal=Goal("ge", 0.75),
    )
    assert isinstance(group.goal and group.goal.value, float)


def test_measures_yaml_groups_keep_observations_weights_and_empty_populations() -> None:
    rules = fresh_rules()
    received, decision, _ = rules.measures["voorzorg-referrals"].groups
    assert received.goal is None and received.observe is None and received.unit_of_measure is None
    assert received.weights is None
    assert (decision.observe, decision.unit_of_measure) == ("days-to-decision", "d")
    assert decision.description.startswith("Measure population: referrals of the period with a decision;")
    dosage = rules.measures["voorzorg-dosage"].groups[0]
    assert dosage.populations["numerator"] == []
    assert dosage.weights == {"initial-population": "visits", "denominator": "visits", "numerator": "done"}
    assert rules.measures["voorzorg-attrition"].groups[3].goal == Goal("le", 0.4)
    assert [g.code for g in rules.measures["voorzorg-themes"].groups] == ["improved", "unchanged", "worsened"]


@pytest.mark.parametrize("mid", ["voorzorg-consult"])
def test_an_empty_population_in_yaml_is_an_empty_list(mid: str) -> None:
    advice = fresh_rules().measures[mid].groups[1]
    assert advice.populations["denominator"] == []


def test_a_group_needs_only_code_scoring_and_populations() -> None:
    """measures.yaml may leave out a group's description, stratifiers, goal, observation and weights, and
    write a population without conditions as nothing at all."""
    bare = _group({"code": 7, "scoring": "cohort", "populations": {"initial-population": None}})
    assert bare == Group("7", "", "cohort", {"initial-population": []}, ())
    assert (bare.goal, bare.observe, bare.unit_of_measure, bare.weights) == (None, None, None, None)
