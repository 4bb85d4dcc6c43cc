"""Every profile of the package has a SUSHI example, and every example passes the validator."""

from __future__ import annotations

import copy
import re

import pytest

from adapter.config import PROFILES_DIR
from adapter.fhir.validator import has_errors, known_profiles, validate, validate_bundle
from tests.profiles.examples import CANONICAL, example, example_files, examples_of

PROFILE_IDS = sorted(u.removeprefix(CANONICAL) for u in known_profiles())


def _fsh() -> str:
    return "\n".join(
        p.read_text(encoding="utf-8") for p in sorted((PROFILES_DIR / "input" / "fsh").glob("*.fsh"))
    )


def test_all_profiles_known() -> None:
    """The validator knows every profile the FSH sources define (and nothing else)."""
    declared = set(re.findall(r"^Profile: \S+\s*\nParent: \S+\s*\nId: (\S+)", _fsh(), re.MULTILINE))
    assert declared and set(PROFILE_IDS) == declared
    assert "voorzorg-client" in PROFILE_IDS
    assert "voorzorg-track" not in PROFILE_IDS  # an extension, not a resource profile


@pytest.mark.parametrize("profile_id", PROFILE_IDS)
def test_profile_example_passes(profile_id: str) -> None:
    found = examples_of(profile_id)
    assert found, f"{profile_id} has no example"
    for res in found:
        issues = validate(res, CANONICAL + profile_id)
        assert issues == [], issues
        assert validate(res) == []  # the same through meta.profile


@pytest.mark.parametrize("name", sorted(example_files()))
def test_every_example_file_has_no_issue(name: str) -> None:
    assert validate(copy.deepcopy(example_files()[name])) == []


def test_referral_bundle_passes() -> None:
    bundle = copy.deepcopy(example_files()["Bundle-example-referral-bundle.json"])
    assert validate_bundle(bundle) == []
    assert validate(bundle) == []


def test_unknown_profile_is_one_error() -> None:
    issues = validate(example("voorzorg-client"), "https://example.org/StructureDefinition/nope")
    assert len(issues) == 1
    assert issues[0].severity == "error" and "Unknown profile" in issues[0].diagnostics


def test_profile_for_another_type() -> None:
    issues = validate(example("voorzorg-client"), CANONICAL + "voorzorg-referral")
    assert has_errors(issues)
    assert issues[0].expression == ("Patient",)


def test_resource_without_known_profile_is_checked_against_its_base_definition() -> None:
    res = example("voorzorg-client")
    res["meta"]["profile"] = ["https://example.org/other"]
    assert validate(res) == []  # no BSN slice to meet: the R4 Patient holds it
    res["gender"] = "f"
    assert [i.expression for i in validate(res)] == [("Patient.gender",)]  # a core required binding


def test_versioned_profile_url() -> None:
    assert validate(example("voorzorg-client"), CANONICAL + "voorzorg-client|0.1.0") == []
