"""The one reference walker (`adapter.fhir.references.walk_references`) and what is built on it."""

from __future__ import annotations

import copy
from typing import Any

from adapter.fhir.references import references_in, retarget, walk_references
from adapter.mapping.referral_in import _references

CAREPLAN: dict[str, Any] = {
    "resourceType": "CarePlan",
    "contained": [{"resourceType": "Goal", "id": "g1", "subject": {"reference": "Patient/p1"}}],
    "subject": {"reference": "Patient/p1", "display": "the client"},
    "goal": [{"reference": "#g1"}],
    "activity": [
        {"outcomeReference": [{"reference": "Encounter/e1"}, {"reference": "Encounter/e2"}]},
        {"detail": {"performer": [{"identifier": {"value": "x"}}, {"reference": "Practitioner/n1"}]}},
    ],
    "author": {"reference": "Organization/o1", "extension": [{"valueReference": {"reference": "Device/d1"}}]},
}


def visits(value: Any, path: str = "", skip: set[str] | None = None) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    walk_references(value, lambda _h, ref, where: seen.append((where, ref)), path, skip=skip or set())
    return seen


def test_every_reference_in_document_order_with_its_fhirpath() -> None:
    assert visits(CAREPLAN, "CarePlan") == [
        ("CarePlan.contained[0].subject", "Patient/p1"),
        ("CarePlan.subject", "Patient/p1"),
        ("CarePlan.goal[0]", "#g1"),
        ("CarePlan.activity[0].outcomeReference[0]", "Encounter/e1"),
        ("CarePlan.activity[0].outcomeReference[1]", "Encounter/e2"),
        ("CarePlan.activity[1].detail.performer[1]", "Practitioner/n1"),
        # a holder comes before the references nested inside it
        ("CarePlan.author", "Organization/o1"),
        ("CarePlan.author.extension[0].valueReference", "Device/d1"),
    ]


def test_without_a_path_the_fhirpath_starts_at_the_first_element() -> None:
    assert visits({"subject": {"reference": "Patient/p1"}}) == [("subject", "Patient/p1")]
    assert visits([{"reference": "Patient/p1"}, [{"reference": "Patient/p2"}]]) == [
        ("[0]", "Patient/p1"),
        ("[1][0]", "Patient/p2"),
    ]
    assert visits({"reference": "Patient/p1"}, "Task.for") == [("Task.for", "Patient/p1")]


def test_contained_skipped_when_asked() -> None:
    seen = visits(CAREPLAN, "CarePlan", skip={"contained"})
    assert ("CarePlan.contained[0].subject", "Patient/p1") not in seen
    assert len(seen) == 7
    assert visits(CAREPLAN["contained"][0], "CarePlan.contained[0]", skip={"contained"}) == [
        ("CarePlan.contained[0].subject", "Patient/p1")
    ]


def test_only_dicts_with_a_string_reference_are_holders() -> None:
    odd = {"reference": None, "a": {"reference": 3}, "b": ["Patient/p1", {"reference": "Patient/p2"}]}
    assert visits(odd) == [("b[1]", "Patient/p2")]
    assert visits("Patient/p1") == [] and visits(None) == [] and visits([]) == []


def test_the_visitor_rewrites_in_place() -> None:
    plan = copy.deepcopy(CAREPLAN)

    def to_urn(holder: dict[str, Any], ref: str, _path: str) -> None:
        if not ref.startswith("#"):
            holder["reference"] = "urn:uuid:" + ref.replace("/", "-")

    walk_references(plan, to_urn)
    assert plan["subject"] == {"reference": "urn:uuid:Patient-p1", "display": "the client"}
    assert plan["goal"] == [{"reference": "#g1"}]
    assert plan["author"]["extension"][0]["valueReference"] == {"reference": "urn:uuid:Device-d1"}


def test_the_visitor_deletes_and_the_walk_goes_on_into_what_it_left() -> None:
    plan = copy.deepcopy(CAREPLAN)
    after: list[str] = []

    def logical(holder: dict[str, Any], ref: str, _path: str) -> None:
        if ref.startswith("Organization/"):
            del holder["reference"]
            holder["type"] = "Organization"
            holder["display"] = ref

    walk_references(plan, logical)
    walk_references(plan, lambda _h, ref, _p: after.append(ref))
    assert plan["author"] == {
        "extension": [{"valueReference": {"reference": "Device/d1"}}],
        "type": "Organization",
        "display": "Organization/o1",
    }
    assert "Organization/o1" not in after and "Device/d1" in after


def test_retarget_points_only_known_references_elsewhere_and_returns_the_value() -> None:
    plan = copy.deepcopy(CAREPLAN)
    out = retarget(plan, {"Patient/p1": "Patient/p9", "#g1": "Goal/g1", "Nope/1": "x"})
    assert out is plan
    assert plan["subject"]["reference"] == "Patient/p9"
    assert plan["contained"][0]["subject"]["reference"] == "Patient/p9"
    assert plan["goal"] == [{"reference": "Goal/g1"}]
    assert plan["activity"][0]["outcomeReference"][0] == {"reference": "Encounter/e1"}


def test_retarget_maps_each_reference_once() -> None:
    assert retarget({"a": {"reference": "A"}, "b": {"reference": "B"}}, {"A": "B", "B": "C"}) == {
        "a": {"reference": "B"},
        "b": {"reference": "C"},
    }


def test_references_in_lists_contained_ones_too() -> None:
    assert references_in(CAREPLAN) == [
        "Patient/p1",
        "Patient/p1",
        "#g1",
        "Encounter/e1",
        "Encounter/e2",
        "Practitioner/n1",
        "Organization/o1",
        "Device/d1",
    ]


def test_referral_references_name_their_entry_and_skip_contained() -> None:
    assert _references(CAREPLAN, "Bundle.entry[3].resource") == [
        ("Bundle.entry[3].resource.subject", "Patient/p1"),
        ("Bundle.entry[3].resource.goal[0]", "#g1"),
        ("Bundle.entry[3].resource.activity[0].outcomeReference[0]", "Encounter/e1"),
        ("Bundle.entry[3].resource.activity[0].outcomeReference[1]", "Encounter/e2"),
        ("Bundle.entry[3].resource.activity[1].detail.performer[1]", "Practitioner/n1"),
        ("Bundle.entry[3].resource.author", "Organization/o1"),
        ("Bundle.entry[3].resource.author.extension[0].valueReference", "Device/d1"),
    ]
