"""The nine measures (issue #17, domain page §8) over the population of tests/monitoring/population.py,
driven through the real workflows, on SQLite and PostgreSQL. Every expected number is worked out by hand
from the population's table (nine referrals dated 2026-03-02; clients A-H and L); the report period is
2026 unless a test says otherwise.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from adapter.fhir.outcome import FhirError
from adapter.monitoring import MEASURE_IDS, evaluate_measure
from tests.monitoring.conftest import World

Y2026 = (date(2026, 1, 1), date(2026, 12, 31))
REFERRED = date(2026, 3, 2)


def report(world: World, measure: str, period: tuple[date, date] = Y2026, **kw: Any) -> dict[str, Any]:
    with world.store.reading() as s:
        return evaluate_measure(s, measure, *period, **kw)


def _count(p: dict[str, Any]) -> int | str:
    if "count" in p:
        return int(p["count"])
    return str(next(e["valueString"] for e in p["_count"]["extension"] if "valueString" in e))


def counts(part: dict[str, Any]) -> dict[str, int | str]:
    return {p["code"]["coding"][0]["code"]: _count(p) for p in part["population"]}


def score(part: dict[str, Any]) -> float | None:
    return part.get("measureScore", {}).get("value")


def group(r: dict[str, Any], code: str) -> dict[str, Any]:
    return next(g for g in r["group"] if g["code"]["coding"][0]["code"] == code)


def strata(g: dict[str, Any], stratifier: str) -> dict[str, list[int | str]]:
    """stratum value -> the counts of its populations, in the report's order."""
    st = next(s for s in g["stratifier"] if s["code"][0]["text"] == stratifier)
    return {s["value"]["text"]: [_count(p) for p in s["population"]] for s in st["stratum"]}


def test_referrals_per_referrer_kind_track_and_reason_and_the_days(world: World) -> None:
    r = report(world, "voorzorg-referrals")
    assert r["resourceType"] == "MeasureReport" and r["status"] == "complete" and r["type"] == "summary"
    assert r["measure"] == "https://fhir.voorzorg.nl/Measure/voorzorg-referrals"
    assert r["period"] == {"start": "2026-01-01", "end": "2026-12-31"}
    received = group(r, "received")
    assert counts(received) == {"initial-population": 9}
    assert strata(received, "referrer-kind") == {
        "gp": [2], "gynaecologist": [1], "midwife": [4], "other": [1], "ozks": [1]
    }  # fmt: skip
    assert strata(received, "track") == {
        "consult": [2],
        "late-start": [1],
        "not-eligible": [1],
        "voorzorg": [5],
    }
    # the voorzorg tracks carry no reason: unknown, their own stratum
    assert strata(received, "reason") == {
        "forced-framework": [1], "not-very-vulnerable": [1], "outside-criteria": [1], "unknown": [6]
    }  # fmt: skip
    decision = group(r, "days-to-decision")  # decided at intake, i.e. today
    assert counts(decision) == {"initial-population": 9, "measure-population": 9}
    assert decision["measureScore"]["code"] == "d"
    assert score(decision) == (datetime.now(UTC).date() - REFERRED).days
    first = group(r, "days-to-first-visit")  # A-D 7 days (2026-03-09), L 14 days: 42 / 5
    assert counts(first) == {"initial-population": 9, "measure-population": 5}
    assert score(first) == 8.4
    assert strata(first, "track") == {
        "consult": [2, 0],
        "late-start": [1, 1],
        "not-eligible": [1, 0],
        "voorzorg": [5, 4],
    }


def test_reach_per_municipality_with_unknown_as_its_own_stratum(world: World) -> None:
    enrolled = group(report(world, "voorzorg-reach"), "enrolled")
    assert counts(enrolled) == {"initial-population": 5}  # A B C D L (E said no, F G H never started)
    # A, D and L send the CBS code 0935; B's district Heerlen as text; C sent no address
    assert strata(enrolled, "municipality") == {"0935": [3], "Heerlen": [1], "unknown": [1]}
    assert strata(enrolled, "track") == {"late-start": [1], "voorzorg": [4]}


def test_uptake_is_enrolled_of_decided_eligible(world: World) -> None:
    r = report(world, "voorzorg-uptake")
    uptake = group(r, "uptake")
    assert counts(uptake) == {"initial-population": 9, "denominator": 6, "numerator": 5}  # E said no
    assert score(uptake) == 0.8333
    assert strata(uptake, "referrer-kind") == {
        "gp": [2, 1, 1], "gynaecologist": [1, 1, 1], "midwife": [4, 3, 3],
        "other": [1, 0, 0], "ozks": [1, 1, 0],
    }  # fmt: skip
    assert strata(uptake, "municipality") == {"0935": [4, 3, 3], "Heerlen": [4, 2, 1], "unknown": [1, 1, 1]}
    assert strata(uptake, "track")["voorzorg"] == [5, 5, 4]
    assert r["improvementNotation"]["coding"][0]["code"] == "increase"


def test_enrolment_timing_of_regular_voorzorg(world: World) -> None:
    r = report(world, "voorzorg-enrolment-timing")
    before16, before28 = group(r, "before-16-weeks"), group(r, "before-28-weeks")
    # L is Late Start: not in the denominator; A C D enrolled at 105 days, B at 147
    assert counts(before16) == {"initial-population": 5, "denominator": 4, "numerator": 3}
    assert score(before16) == 0.75
    assert counts(before28) == {"initial-population": 5, "denominator": 4, "numerator": 4}
    assert score(before28) == 1.0
    assert strata(before16, "municipality") == {"0935": [3, 2, 2], "Heerlen": [1, 1, 0], "unknown": [1, 1, 1]}
    assert strata(before28, "municipality")["Heerlen"] == [1, 1, 1]


def test_attrition_per_phase_and_ending_reason_moving_excluded(world: World) -> None:
    r = report(world, "voorzorg-attrition")
    pregnancy = group(r, "pregnancy")  # A B C D L; D moved (excluded); C not reachable in pregnancy
    assert counts(pregnancy) == {
        "initial-population": 5, "denominator": 5, "denominator-exclusion": 1, "numerator": 1
    }  # fmt: skip
    assert score(pregnancy) == 0.25
    assert strata(pregnancy, "ending-reason") == {
        "client-choice": [1, 1, 0, 0], "moved": [1, 1, 1, 0],
        "not-reachable": [1, 1, 0, 1], "unknown": [2, 2, 0, 0],
    }  # fmt: skip
    assert strata(pregnancy, "track") == {"late-start": [1, 1, 0, 0], "voorzorg": [4, 4, 1, 1]}
    infancy = group(r, "infancy")  # A B and L (by her due date); B left by her own choice
    assert counts(infancy) == {
        "initial-population": 3, "denominator": 3, "denominator-exclusion": 0, "numerator": 1
    }  # fmt: skip
    assert score(infancy) == 0.3333
    assert strata(infancy, "ending-reason") == {"client-choice": [1, 1, 0, 1], "unknown": [2, 2, 0, 0]}
    toddler = group(r, "toddler")  # A's and L's toddler phases begin in 2027
    assert counts(toddler)["denominator"] == 0 and score(toddler) is None
    cumulative = group(r, "cumulative")  # B and C of A B C L
    assert counts(cumulative) == {
        "initial-population": 5, "denominator": 5, "denominator-exclusion": 1, "numerator": 2
    }  # fmt: skip
    assert score(cumulative) == 0.5
    assert r["improvementNotation"]["coding"][0]["code"] == "decrease"


def test_dosage_counts_visits_of_phases_that_passed(world: World) -> None:
    """Pregnancy phases that ended in 2026, completed: A (plan from 2026-03-02: weekly 4, two-weekly
    04-06 .. 07-27: 13 visits, 1-5 done), B (until 06-30: 11 visits, 1-3 done) and L (Late Start,
    weekly 03-02 .. 05-18 until her due date: 12 visits, the intake visit done). C and D left in
    pregnancy: their 6 and 9 visits are in the initial population only."""
    r = report(world, "voorzorg-dosage")
    pregnancy = group(r, "pregnancy")
    assert counts(pregnancy) == {"initial-population": 51, "denominator": 36, "numerator": 9}
    assert score(pregnancy) == 0.25
    assert strata(pregnancy, "track") == {"late-start": [12, 12, 1], "voorzorg": [39, 24, 8]}
    infancy = group(r, "infancy")  # only B's infancy ended in 2026, and she left in it
    assert counts(infancy) == {"initial-population": 9, "denominator": 0, "numerator": 0}
    assert counts(group(r, "toddler")) == {"initial-population": 0, "denominator": 0, "numerator": 0}


def test_consult_requests_advice_and_days(world: World) -> None:
    r = report(world, "voorzorg-consult")
    assert counts(group(r, "requests")) == {"initial-population": 2}
    assert strata(group(r, "requests"), "reason") == {"forced-framework": [1], "outside-criteria": [1]}
    advice = group(r, "advice-given")
    assert counts(advice) == {"initial-population": 2, "denominator": 2, "numerator": 1}
    assert score(advice) == 0.5
    assert strata(advice, "advice") == {
        "start-voorzorg-with-evaluation-moments": [1, 1, 1], "unknown": [1, 1, 0]
    }  # fmt: skip
    days = group(r, "days-to-advice")  # asked and answered today
    assert counts(days) == {"initial-population": 2, "measure-population": 1}
    assert score(days) == 0.0


def test_birth_outcomes_preterm_and_low_weight(world: World) -> None:
    r = report(world, "voorzorg-birth-outcomes")
    preterm, low = group(r, "preterm"), group(r, "low-birth-weight")
    # A: 259 days (37+0, not preterm), 2,950 g; B: 250 days, 2,400 g
    assert counts(preterm) == {"initial-population": 2, "denominator": 2, "numerator": 1}
    assert counts(low) == {"initial-population": 2, "denominator": 2, "numerator": 1}
    assert score(preterm) == score(low) == 0.5
    assert strata(preterm, "municipality") == {"0935": [1, 1, 0], "Heerlen": [1, 1, 1]}
    # the second half of 2026 holds A's birth only
    later = report(world, "voorzorg-birth-outcomes", (date(2026, 7, 2), date(2026, 12, 31)))
    assert counts(group(later, "preterm")) == {"initial-population": 1, "denominator": 1, "numerator": 0}


def test_themes_improved_unchanged_worsened_per_theme(world: World) -> None:
    r = report(world, "voorzorg-themes")
    expected = {"improved": "financiele-stabiliteit", "unchanged": "gezondheid", "worsened": "veiligheid"}
    for code, theme in expected.items():
        g = group(r, code)
        # four client-themes assessed, three of them twice (A's hechting once)
        assert counts(g) == {"initial-population": 4, "denominator": 3, "numerator": 1}
        assert score(g) == 0.3333
        by_theme = strata(g, "theme")
        assert by_theme.pop(theme) == [1, 1, 1]
        assert by_theme == {t: ([1, 0, 0] if t == "hechting" else [1, 1, 0]) for t in by_theme}


def test_every_measure_answers_with_a_group_per_definition(world: World) -> None:
    for measure in MEASURE_IDS:
        r = report(world, measure)
        assert r["group"] and all(g["population"] for g in r["group"])


def test_a_subject_list_names_the_units_in_contained_lists(world: World) -> None:
    r = report(world, "voorzorg-reach", report_type="subject-list")
    assert r["type"] == "subject-list"
    pop = group(r, "enrolled")["population"][0]
    ref = pop["subjectResults"]["reference"]
    listed = next(c for c in r["contained"] if f"#{c['id']}" == ref)
    assert listed["resourceType"] == "List" and len(listed["entry"]) == 5
    programmes = {f"EpisodeOfCare/{world.built.programmes[n]}" for n in "ABCDL"}
    assert {e["item"]["reference"] for e in listed["entry"]} == programmes


def test_a_subject_narrows_the_report_to_one_client(world: World) -> None:
    b = world.built.patients["B"]
    r = report(world, "voorzorg-attrition", subject=b)
    assert r["subject"] == {"reference": b}
    assert counts(group(r, "infancy")) == {
        "initial-population": 1, "denominator": 1, "denominator-exclusion": 0, "numerator": 1
    }  # fmt: skip


def test_an_external_report_shows_small_counts_as_less_than_ten_without_scores(world: World) -> None:
    r = report(world, "voorzorg-uptake", audience="external")
    uptake = group(r, "uptake")
    assert counts(uptake) == {"initial-population": "< 10", "denominator": "< 10", "numerator": "< 10"}
    assert "measureScore" not in uptake
    masked = uptake["population"][0]["_count"]["extension"][0]
    assert masked == {
        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
        "valueCode": "masked",
    }
    assert strata(uptake, "referrer-kind")["other"] == ["< 10", 0, 0]  # 0 is shown as 0
    assert r["extension"][0]["valueCode"] == "external"


@pytest.mark.parametrize(
    ("kwargs", "status", "where"),
    [
        ({"measure_id": "voorzorg-unknown"}, 404, None),
        ({"period_end": date(2025, 12, 31)}, 400, "periodEnd"),
        ({"period_end": date(2031, 6, 1)}, 400, "periodEnd"),
        ({"report_type": "individual"}, 400, "reportType"),
        ({"audience": "public"}, 400, "audience"),
        ({"audience": "external", "report_type": "subject-list"}, 400, "reportType"),
    ],
    ids=[
        "unknown measure",
        "end before start",
        "longer than 5 years",
        "report type",
        "audience",
        "external list",
    ],
)
def test_bad_input_is_a_fhir_error_naming_the_parameter(
    world: World, kwargs: dict[str, Any], status: int, where: str | None
) -> None:
    args: dict[str, Any] = {
        "measure_id": "voorzorg-uptake",
        "period_start": date(2026, 1, 1),
        "period_end": date(2026, 12, 31),
    }
    args |= kwargs
    with world.store.reading() as s, pytest.raises(FhirError) as err:
        evaluate_measure(
            s,
            args.pop("measure_id"),
            args.pop("period_start"),
            args.pop("period_end"),
            **args,
        )
    assert err.value.status == status
    if where:
        assert err.value.issues[0].expression == (where,)
