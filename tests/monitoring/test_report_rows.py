"""Rows of facts -> MeasureReport (adapter/monitoring/report.py), tested without a store: rows are written by
hand and every expected count and score worked out by hand in the test. The rules a reader of a report
relies on: the populations nest as FHIR nests them (denominator within the initial population, exclusions
within the denominator, numerator within the denominator less its exclusions), a stratum `unknown` is never
dropped, outside the organisation 1-9 is masked per stratum (9 hidden, 10 shown) and a score computed on a
masked count is left out, and a subject-list report lists the subjects of each population in contained
List resources. Pure: `make mutation` runs these against every mutant of report.py."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from adapter.monitoring.report import Report
from adapter.monitoring.rules import Group, Measure, measure_rules

START, END = date(2026, 1, 1), date(2026, 12, 31)
IN, BEFORE, AFTER = date(2026, 3, 2), date(2025, 12, 31), date(2027, 1, 1)
BASE = "https://fhir.voorzorg.nl"
MASKED = {
    "extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "masked"},
        {"url": f"{BASE}/StructureDefinition/voorzorg-small-number", "valueString": "< 10"},
    ]
}
Row = dict[str, Any]


def render(
    measure: str | Measure,
    rows: list[Row],
    audience: str = "internal",
    report_type: str = "summary",
    subject: str | None = None,
) -> dict[str, Any]:
    rules = measure_rules()
    m = rules.measures[measure] if isinstance(measure, str) else measure
    return Report(m, START, END, report_type, audience, rules.small_numbers).render(rows, subject)


def counts(part: dict[str, Any]) -> dict[str, int | str]:
    """A group's or stratum's populations in the report's order: code -> count, or "masked"."""
    out: dict[str, int | str] = {}
    for p in part["population"]:
        (coding,) = p["code"]["coding"]
        assert coding["system"] == "http://terminology.hl7.org/CodeSystem/measure-population"
        if "count" in p:
            assert "_count" not in p
            out[coding["code"]] = p["count"]
        else:
            assert p["_count"] == MASKED
            out[coding["code"]] = "masked"
    return out


def strata(group: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    (stratifier,) = [s for s in group["stratifier"] if s["code"] == [{"text": name}]]
    return {s["value"]["text"]: s for s in stratifier["stratum"]}


def score(part: dict[str, Any]) -> Any:
    return part.get("measureScore", {}).get("value")


# -- populations nest as FHIR's proportion -----------------------------------------------------------


def _attrition_rows() -> list[Row]:
    early = {"ended-early-in-phase": True}
    return [
        # r1: in the phase the whole period, nothing ended: denominator only
        {"ref": "r1", "phase": "pregnancy", "phase-start": date(2025, 10, 1), "track": "voorzorg"},
        # r2: moved (excluded); her ending meets the numerator's conditions, but an exclusion is no numerator
        {
            "ref": "r2",
            "phase": "pregnancy",
            "phase-start": date(2026, 2, 1),
            "phase-end": date(2026, 5, 1),
            "ending-reason": "moved",
            "ended": date(2026, 5, 1),
            **early,
            "track": "voorzorg",
        },
        # r3: ended early in the period: numerator
        {
            "ref": "r3",
            "phase": "pregnancy",
            "phase-start": date(2026, 3, 1),
            "phase-end": date(2026, 6, 1),
            "ending-reason": "dropped-out",
            "ended": date(2026, 6, 1),
            **early,
            "track": "voorzorg-2",
        },
        # r4: ended early, but after the period: denominator only
        {
            "ref": "r4",
            "phase": "pregnancy",
            "phase-start": date(2026, 3, 1),
            "phase-end": AFTER,
            "ending-reason": "dropped-out",
            "ended": AFTER,
            **early,
            "track": "voorzorg",
        },
        # r5: her phase lies before the period: initial population only, though moved and ended early
        {
            "ref": "r5",
            "phase": "pregnancy",
            "phase-start": date(2024, 1, 1),
            "phase-end": date(2025, 6, 1),
            "ending-reason": "moved",
            "ended": date(2026, 6, 1),
            **early,
            "track": "voorzorg",
        },
        # r6: another phase: in no population of the pregnancy group, though it meets every other condition
        {
            "ref": "r6",
            "phase": "infancy",
            "phase-start": date(2026, 3, 1),
            "phase-end": date(2026, 6, 1),
            "ending-reason": "dropped-out",
            "ended": date(2026, 6, 1),
            **early,
            "track": "voorzorg",
        },
        # r7: moved, not ended early: excluded
        {
            "ref": "r7",
            "phase": "pregnancy",
            "phase-start": date(2026, 4, 1),
            "phase-end": date(2026, 8, 1),
            "ending-reason": "moved",
            "track": "voorzorg",
        },
    ]


def test_the_populations_nest_as_fhir_proportions() -> None:
    g = render("voorzorg-attrition", _attrition_rows())["group"][0]
    assert g["code"]["text"] == "pregnancy"
    # initial r1-r5, r7; denominator r1-r4, r7; excluded r2, r7 (not r5: not in the denominator);
    # numerator r3 (not r2: excluded; not r5: not in the denominator; not r6: not in the initial population)
    assert counts(g) == {
        "initial-population": 6,
        "denominator": 5,
        "denominator-exclusion": 2,
        "numerator": 1,
    }
    assert g["measureScore"] == {"value": 0.3333}  # 1 / (5 - 2), four decimals
    assert list(counts(g)) == ["initial-population", "denominator", "denominator-exclusion", "numerator"]


def test_the_strata_nest_the_same_way_and_unknown_is_a_stratum() -> None:
    g = render("voorzorg-attrition", _attrition_rows())["group"][0]
    by_reason = strata(g, "ending-reason")
    assert list(by_reason) == ["dropped-out", "moved", "unknown"]  # sorted; r1 has no ending: unknown
    assert counts(by_reason["dropped-out"]) == {
        "initial-population": 2,
        "denominator": 2,
        "denominator-exclusion": 0,
        "numerator": 1,
    }
    assert score(by_reason["dropped-out"]) == 0.5
    assert counts(by_reason["moved"]) == {
        "initial-population": 3,
        "denominator": 2,
        "denominator-exclusion": 2,
        "numerator": 0,
    }
    assert "measureScore" not in by_reason["moved"]  # 0 / (2 - 2): no score
    assert counts(by_reason["unknown"]) == {
        "initial-population": 1,
        "denominator": 1,
        "denominator-exclusion": 0,
        "numerator": 0,
    }
    assert by_reason["unknown"]["measureScore"] == {"value": 0.0}
    by_track = strata(g, "track")
    assert list(by_track) == ["voorzorg", "voorzorg-2"]
    assert counts(by_track["voorzorg-2"])["numerator"] == 1 and score(by_track["voorzorg-2"]) == 1.0
    assert score(by_track["voorzorg"]) == 0.0  # r1, r2, r4, r7: 0 / (4 - 2)
    assert [s["code"] for s in g["stratifier"]] == [[{"text": "ending-reason"}], [{"text": "track"}]]


def test_a_proportion_without_exclusions_and_with_an_empty_denominator() -> None:
    rows = [
        {"ref": f"r{i}", "referred": IN, "eligible": i < 4, **({"enrolled": IN} if i < 3 else {})}
        for i in range(6)
    ] + [{"ref": "old", "referred": BEFORE, "eligible": True, "enrolled": IN}]
    g = render("voorzorg-uptake", rows)["group"][0]
    assert counts(g) == {"initial-population": 6, "denominator": 4, "numerator": 3}
    assert g["measureScore"] == {"value": 0.75}
    none_eligible = render("voorzorg-uptake", [{"ref": "r", "referred": IN, "eligible": False}])["group"][0]
    assert counts(none_eligible) == {"initial-population": 1, "denominator": 0, "numerator": 0}
    assert "measureScore" not in none_eligible
    empty = render("voorzorg-uptake", [])["group"][0]
    assert counts(empty) == {"initial-population": 0, "denominator": 0, "numerator": 0}
    assert "measureScore" not in empty and empty["stratifier"][0]["stratum"] == []


def test_an_empty_condition_list_takes_every_row_and_weights_count_visits() -> None:
    """Dosage: the numerator has no condition (every row of the denominator); it sums `done`, the
    denominator sums `visits`."""
    rows = [
        {"ref": "a", "phase": "pregnancy", "phase-end": IN, "phase-completed": True, "visits": 10, "done": 8},
        {"ref": "b", "phase": "pregnancy", "phase-end": IN, "phase-completed": True, "visits": 5, "done": 1},
        {"ref": "c", "phase": "pregnancy", "phase-end": IN, "phase-completed": False, "visits": 9, "done": 0},
        {
            "ref": "d",
            "phase": "pregnancy",
            "phase-end": AFTER,
            "phase-completed": True,
            "visits": 7,
            "done": 7,
        },
    ]
    g = render("voorzorg-dosage", rows)["group"][0]
    assert counts(g) == {"initial-population": 31, "denominator": 15, "numerator": 9}
    assert g["measureScore"] == {"value": 0.6}  # 9 / 15


# -- scores ------------------------------------------------------------------------------------------


def test_a_weighted_exclusion_takes_its_weight_off_the_denominator() -> None:
    """Visits as the unit: the excluded client's planned visits leave the denominator, not one row."""
    pops = {
        "initial-population": [{"fact": "phase", "in": ["pregnancy"]}],
        "denominator": [],
        "denominator-exclusion": [{"fact": "ending-reason", "in": ["moved"]}],
        "numerator": [],
    }
    weights = {"denominator": "visits", "denominator-exclusion": "visits", "numerator": "done"}
    group = Group("visits", "", "proportion", pops, (), weights=weights)
    rows = [
        {"ref": "a", "phase": "pregnancy", "visits": 10, "done": 6},
        {"ref": "b", "phase": "pregnancy", "visits": 5, "done": 0, "ending-reason": "moved"},
        {"ref": "c", "phase": "pregnancy", "visits": 4, "done": 2},
    ]
    g = render(Measure("t", "T", "", "visit", "increase", (group,)), rows)["group"][0]
    assert counts(g) == {
        "initial-population": 3,
        "denominator": 19,
        "denominator-exclusion": 5,
        "numerator": 8,
    }
    assert g["measureScore"] == {"value": 0.5714}  # 8 / (19 - 5)


def test_continuous_variable_scores_the_mean_in_its_unit() -> None:
    rows = [{"ref": f"r{d}", "referred": IN, "days-to-decision": d} for d in (3, 4, 4)]
    rows += [{"ref": "undecided", "referred": IN}, {"ref": "old", "referred": BEFORE, "days-to-decision": 40}]
    g = render("voorzorg-referrals", rows)["group"][1]
    assert g["code"]["text"] == "days-to-decision"
    assert counts(g) == {"initial-population": 4, "measure-population": 3}
    assert g["measureScore"] == {
        "value": 3.67,
        "unit": "d",
        "system": "http://unitsofmeasure.org",
        "code": "d",
    }
    nobody = render("voorzorg-referrals", [{"ref": "undecided", "referred": IN}])["group"][1]
    assert counts(nobody) == {"initial-population": 1, "measure-population": 0}
    assert "measureScore" not in nobody


def test_a_mean_without_a_unit_is_in_ucum_1_and_a_cohort_has_no_score() -> None:
    ip = [{"fact": "referred", "in_period": True}]
    mean = Group(
        "m", "", "continuous-variable", {"initial-population": ip, "measure-population": []}, (), observe="x"
    )
    cohort = Group("c", "", "cohort", {"initial-population": ip}, (), observe="x")
    measure = Measure("t", "T", "", "row", "decrease", (mean, cohort))
    report = render(measure, [{"ref": "a", "referred": IN, "x": 1}, {"ref": "b", "referred": IN, "x": 2}])
    assert report["improvementNotation"]["coding"][0]["code"] == "decrease"
    g_mean, g_cohort = report["group"]
    assert g_mean["measureScore"] == {
        "value": 1.5,
        "unit": "1",
        "system": "http://unitsofmeasure.org",
        "code": "1",
    }
    assert counts(g_cohort) == {"initial-population": 2} and "measureScore" not in g_cohort
    assert "stratifier" not in g_cohort


# -- strata ------------------------------------------------------------------------------------------


def test_strata_of_several_values_and_the_unknown_stratum() -> None:
    rows = [
        {"ref": "a", "referred": IN, "reason": ["b-reason", "a-reason"]},
        {"ref": "b", "referred": IN, "reason": ["b-reason", "b-reason"]},  # counted once in b-reason
        {"ref": "c", "referred": IN, "reason": []},
        {"ref": "d", "referred": IN},
        {"ref": "e", "referred": IN, "reason": None},
        {"ref": "f", "referred": IN, "reason": 7},
        {"ref": "g", "referred": IN, "reason": ("c-reason",)},
        {
            "ref": "old",
            "referred": BEFORE,
            "reason": ["z-reason"],
        },  # not in the initial population: no stratum
    ]
    g = render("voorzorg-referrals", rows)["group"][0]
    by_reason = strata(g, "reason")
    assert list(by_reason) == ["7", "a-reason", "b-reason", "c-reason", "unknown"]
    assert {v: counts(s)["initial-population"] for v, s in by_reason.items()} == {
        "7": 1,
        "a-reason": 1,
        "b-reason": 2,
        "c-reason": 1,
        "unknown": 3,
    }
    assert counts(g) == {"initial-population": 7}
    assert list(strata(g, "referrer-kind")) == ["unknown"]  # no row has it: all seven in unknown
    assert counts(strata(g, "referrer-kind")["unknown"]) == {"initial-population": 7}


# -- small numbers, per stratum ----------------------------------------------------------------------


def _uptake_rows() -> list[Row]:
    rows: list[Row] = []
    for i in range(10):  # 0344: 10 eligible, 10 enrolled
        rows.append(
            {"ref": f"a{i}", "referred": IN, "eligible": True, "enrolled": IN, "municipality": "0344"}
        )
    for i in range(12):  # 0363: 12 eligible, 9 enrolled
        rows.append(
            {
                "ref": f"b{i}",
                "referred": IN,
                "eligible": True,
                "municipality": "0363",
                **({"enrolled": IN} if i < 9 else {}),
            }
        )
    for i in range(3):  # no municipality: 3 referred, none eligible
        rows.append({"ref": f"c{i}", "referred": IN, "eligible": False})
    return rows


def test_external_masks_one_to_nine_per_stratum_and_the_scores_on_them() -> None:
    g = render("voorzorg-uptake", _uptake_rows(), audience="external")["group"][0]
    assert counts(g) == {"initial-population": 25, "denominator": 22, "numerator": 19}
    assert g["measureScore"] == {"value": 0.8636}  # 19 / 22
    by_place = strata(g, "municipality")
    assert counts(by_place["0344"]) == {"initial-population": 10, "denominator": 10, "numerator": 10}
    assert score(by_place["0344"]) == 1.0
    assert counts(by_place["0363"]) == {"initial-population": 12, "denominator": 12, "numerator": "masked"}
    assert "measureScore" not in by_place["0363"]  # 9 / 12 would tell the 9
    assert counts(by_place["unknown"]) == {"initial-population": "masked", "denominator": 0, "numerator": 0}
    assert "measureScore" not in by_place["unknown"]


def test_internal_reports_show_every_count() -> None:
    g = render("voorzorg-uptake", _uptake_rows(), audience="internal")["group"][0]
    by_place = strata(g, "municipality")
    assert counts(by_place["0363"]) == {"initial-population": 12, "denominator": 12, "numerator": 9}
    assert by_place["0363"]["measureScore"] == {"value": 0.75}
    assert counts(by_place["unknown"]) == {"initial-population": 3, "denominator": 0, "numerator": 0}


def test_a_masked_exclusion_takes_the_score_away() -> None:
    rows = [
        {
            "ref": f"r{i}",
            "phase": "pregnancy",
            "phase-start": IN,
            "track": "voorzorg",
            **({"ending-reason": "moved"} if i < 3 else {}),
        }
        for i in range(12)
    ]
    g = render("voorzorg-attrition", rows, audience="external")["group"][0]
    assert counts(g) == {
        "initial-population": 12,
        "denominator": 12,
        "denominator-exclusion": "masked",
        "numerator": 0,
    }
    assert "measureScore" not in g  # 0 / (12 - 3) would tell the 3
    assert render("voorzorg-attrition", rows)["group"][0]["measureScore"] == {"value": 0.0}


def test_a_weighted_count_is_masked_on_its_people_and_on_its_visits() -> None:
    def dosage(people: int, visits: int, done: int) -> dict[str, Any]:
        rows = [
            {
                "ref": f"r{i}",
                "phase": "pregnancy",
                "phase-end": IN,
                "phase-completed": True,
                "visits": visits,
                "done": done,
                "track": "voorzorg",
            }
            for i in range(people)
        ]
        group: dict[str, Any] = render("voorzorg-dosage", rows, audience="external")["group"][0]
        return group

    shown = dosage(12, 10, 5)
    assert counts(shown) == {"initial-population": 120, "denominator": 120, "numerator": 60}
    assert shown["measureScore"] == {"value": 0.5}
    few_people = dosage(3, 40, 20)  # 120 visits, but of 3 clients
    assert counts(few_people) == {
        "initial-population": "masked",
        "denominator": "masked",
        "numerator": "masked",
    }
    assert "measureScore" not in few_people
    few_visits = dosage(9, 1, 1)  # 9 clients, 9 visits
    assert counts(few_visits) == {
        "initial-population": "masked",
        "denominator": "masked",
        "numerator": "masked",
    }
    few_done = dosage(12, 10, 0)  # 12 clients, 0 visits done: 0 is shown
    assert counts(few_done) == {"initial-population": 120, "denominator": 120, "numerator": 0}
    assert few_done["measureScore"] == {"value": 0.0}
    some_done = dosage(12, 1, 0)  # 12 visits planned
    assert counts(some_done) == {"initial-population": 12, "denominator": 12, "numerator": 0}
    rows = [
        {
            "ref": f"r{i}",
            "phase": "pregnancy",
            "phase-end": IN,
            "phase-completed": True,
            "visits": 1,
            "done": 1 if i < 5 else 0,
        }
        for i in range(12)
    ]
    five_done = render("voorzorg-dosage", rows, audience="external")["group"][0]  # 12 clients, 5 visits done
    assert counts(five_done) == {"initial-population": 12, "denominator": 12, "numerator": "masked"}
    assert "measureScore" not in five_done


# -- the report's envelope and subject lists --------------------------------------------------------


def test_the_report_envelope() -> None:
    report = render("voorzorg-uptake", [], audience="external", subject="Organization/jgz")
    assert next(iter(report)) == "resourceType" and "contained" not in report
    date_ = report.pop("date")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", date_), date_
    group = report.pop("group")
    assert report == {
        "resourceType": "MeasureReport",
        "extension": [
            {"url": f"{BASE}/StructureDefinition/voorzorg-report-audience", "valueCode": "external"}
        ],
        "status": "complete",
        "type": "summary",
        "measure": f"{BASE}/Measure/voorzorg-uptake",
        "period": {"start": "2026-01-01", "end": "2026-12-31"},
        "improvementNotation": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/measure-improvement-notation",
                    "code": "increase",
                }
            ]
        },
        "subject": {"reference": "Organization/jgz"},
    }
    assert group[0]["code"] == {
        "coding": [{"system": f"{BASE}/Measure/voorzorg-uptake", "code": "uptake"}],
        "text": "uptake",
    }
    timing = render("voorzorg-enrolment-timing", [])
    assert "subject" not in timing
    assert [g["code"]["text"] for g in timing["group"]] == ["before-16-weeks", "before-28-weeks"]


def test_a_subject_list_names_the_subjects_of_each_population_in_contained_lists() -> None:
    rows = [
        {
            "ref": "ServiceRequest/1",
            "referred": IN,
            "eligible": True,
            "enrolled": IN,
            "municipality": "St. Anna",
        },
        {
            "ref": "ServiceRequest/1",
            "referred": IN,
            "eligible": True,
            "enrolled": IN,
            "municipality": "St. Anna",
        },
        {"ref": "ServiceRequest/2", "referred": IN, "eligible": True, "municipality": "a" * 60 + "1"},
        {"ref": "ServiceRequest/3", "referred": IN, "eligible": False, "municipality": "St. Anna"},
        {
            "ref": "ServiceRequest/4",
            "referred": IN,
            "eligible": True,
            "enrolled": IN,
            "municipality": "a" * 60 + "2",
        },
    ]
    report = render("voorzorg-uptake", rows, report_type="subject-list")
    assert list(report)[:2] == ["resourceType", "contained"] and report["type"] == "subject-list"
    lists = {c["id"]: c for c in report["contained"]}
    assert all(
        c["resourceType"] == "List" and c["status"] == "current" and c["mode"] == "snapshot"
        for c in lists.values()
    )
    g = report["group"][0]
    refs = {p["code"]["coding"][0]["code"]: p["subjectResults"]["reference"] for p in g["population"]}
    assert refs == {
        "initial-population": "#g0-initial-population",
        "denominator": "#g0-denominator",
        "numerator": "#g0-numerator",
    }
    assert counts(g) == {"initial-population": 5, "denominator": 4, "numerator": 3}  # rows, not subjects

    def entries(list_id: str) -> list[str] | None:
        entry = lists[list_id].get("entry")
        return None if entry is None else [e["item"]["reference"] for e in entry]

    assert entries("g0-initial-population") == [f"ServiceRequest/{i}" for i in (1, 2, 3, 4)]
    assert entries("g0-denominator") == ["ServiceRequest/1", "ServiceRequest/2", "ServiceRequest/4"]
    assert entries("g0-numerator") == ["ServiceRequest/1", "ServiceRequest/4"]
    anna = "g0-municipality-St.-Anna"  # a dot kept, a space made a dash
    assert entries(f"{anna}-numerator") == ["ServiceRequest/1"]
    assert entries(f"{anna}-denominator") == ["ServiceRequest/1"]
    stratum = strata(g, "municipality")["St. Anna"]
    assert stratum["population"][2]["subjectResults"] == {"reference": f"#{anna}-numerator"}
    # two values that agree in their first 60 characters: ids of at most 64, unique, each its own rows
    for value, ref, enrolled in (
        ("a" * 60 + "1", "ServiceRequest/2", False),
        ("a" * 60 + "2", "ServiceRequest/4", True),
    ):
        pops = {p["code"]["coding"][0]["code"]: p for p in strata(g, "municipality")[value]["population"]}
        ids = {code: p["subjectResults"]["reference"].removeprefix("#") for code, p in pops.items()}
        assert all(len(i) <= 64 and i.startswith("g0-municipality-aaaa") for i in ids.values())
        assert entries(ids["initial-population"]) == [ref]
        assert entries(ids["numerator"]) == ([ref] if enrolled else None)  # an empty list has no entry
    assert len(lists) == len(report["contained"])  # every id once
    assert len(lists) == 3 + 3 * (1 + 1 + 3)  # group; referrer-kind: unknown; track: unknown; municipality: 3


def test_a_list_id_of_64_characters_is_kept_as_it_is_and_one_of_65_is_shortened() -> None:
    """FHIR ids are at most 64 characters: "g0-municipality-" (16), the value, "-initial-population" (19);
    a longer one keeps its first 51 and ends in "-" and 12 hex digits of a digest."""
    rows = [
        {"ref": "ServiceRequest/1", "referred": IN, "eligible": True, "municipality": "b" * 29},  # 64
        {"ref": "ServiceRequest/2", "referred": IN, "eligible": True, "municipality": "c" * 30},  # 65
    ]
    g = render("voorzorg-uptake", rows, report_type="subject-list")["group"][0]

    def initial_list(value: str) -> str:
        pops = strata(g, "municipality")[value]["population"]
        return str(pops[0]["subjectResults"]["reference"]).removeprefix("#")

    assert initial_list("b" * 29) == "g0-municipality-" + "b" * 29 + "-initial-population"
    shortened = initial_list("c" * 30)
    assert len(shortened) == 64 and shortened.startswith("g0-municipality-" + "c" * 30 + "-init-")
