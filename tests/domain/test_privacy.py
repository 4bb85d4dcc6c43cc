"""Does a question to VoorZorg Consult name the client? (`adapter.domain.privacy`, pure)."""

from __future__ import annotations

from typing import Any

import pytest

from adapter.domain.privacy import NAME_PARTICLES, names_the_client

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": "999911120"}],
    "name": [{"family": "van der Berg", "given": ["Sanne", "Jo"]}],
    "birthDate": "2004-05-07",
    "telecom": [{"system": "phone", "value": "06-12345678"}],
    "address": [{"line": ["Dorpsstraat 12"], "postalCode": "1234 AB", "city": "Utrecht"}],
}


def test_a_question_about_the_situation_names_nothing() -> None:
    question = "Zij twijfelt of zij mee wil doen; de verloskundige ziet een gedwongen kader. Graag advies."
    assert names_the_client(question, PATIENT) == []


@pytest.mark.parametrize(
    "question",
    ["BSN 999911120, graag advies", "BSN 9999.11.120", "bsn 9999 11 120", "nummer 999-911-120"],
)
def test_her_bsn_however_written(question: str) -> None:
    assert names_the_client(question, PATIENT) == ["an identifier (BSN)"]


@pytest.mark.parametrize(
    "question", ["Sanne twijfelt.", "Mevrouw BERG twijfelt.", "Is sanne's partner bekend?"]
)
def test_her_name_in_any_case(question: str) -> None:
    assert names_the_client(question, PATIENT) == ["her name"]


def test_particles_and_short_names_alone_are_not_her_name() -> None:
    assert {"van", "der", "den", "ter", "ten", "het"} <= NAME_PARTICLES
    assert names_the_client("Van de start der begeleiding, in het begin.", PATIENT) == []
    assert names_the_client("Jo en ik", PATIENT) == []  # "Jo": 2 letters, an everyday word too


@pytest.mark.parametrize(
    "question", ["Geboren 2004-05-07.", "Geboren 07-05-2004", "geboren 7-5-2004", "07/05/2004", "7/5/2004"]
)
def test_her_birth_date_in_the_usual_forms(question: str) -> None:
    assert names_the_client(question, PATIENT) == ["her birth date"]


def test_not_a_birth_date_without_day_precision() -> None:
    assert names_the_client("Geboren in 2004", {**PATIENT, "birthDate": "2004"}) == []


@pytest.mark.parametrize("question", ["Woont aan de dorpsstraat 12", "postcode 1234 ab", "Bel 06-12345678"])
def test_her_address_or_telecom(question: str) -> None:
    assert names_the_client(question, PATIENT) == ["her address or telecom"]


def test_everything_it_names_in_a_fixed_order() -> None:
    question = "Sanne (BSN 999911120, 07-05-2004, 1234 AB)"
    assert names_the_client(question, PATIENT) == [
        "an identifier (BSN)",
        "her name",
        "her birth date",
        "her address or telecom",
    ]


def test_a_patient_without_details_is_never_named() -> None:
    assert names_the_client("Sanne, 999911120, 07-05-2004", {"resourceType": "Patient"}) == []
    empty = {"identifier": [{"system": "x"}], "telecom": [{"system": "phone"}], "address": [{"city": "U"}]}
    assert names_the_client("Sanne, 999911120", empty) == []


def test_pure_the_patient_is_not_changed() -> None:
    before = repr(PATIENT)
    names_the_client("Sanne 999911120", PATIENT)
    assert repr(PATIENT) == before


def test_a_name_of_three_letters_is_her_name() -> None:
    patient = {**PATIENT, "name": [{"family": "Ali", "given": ["Eva"]}]}
    assert names_the_client("Eva twijfelt.", patient) == ["her name"]
    assert names_the_client("Familie ali is bekend.", patient) == ["her name"]


# Parts a Patient may lack: what is absent names nothing, and the rest is still found. The questions use
# words a placeholder for the missing part could match ("none", "xxxx").
ABSENT = "Niemand weet het: none of xxxx, None, XXXX."


def test_a_name_without_family_or_without_given_names() -> None:
    given_only = {**PATIENT, "name": [{"given": ["Sanne"]}]}
    family_only = {**PATIENT, "name": [{"family": "Bakker"}]}
    for patient in (given_only, family_only):
        assert names_the_client(ABSENT, patient) == []
    assert names_the_client("Sanne twijfelt.", given_only) == ["her name"]
    assert names_the_client("Mevrouw Bakker twijfelt.", family_only) == ["her name"]


def test_telecom_without_a_value_and_an_address_without_a_postal_code() -> None:
    patient = {
        **PATIENT,
        "telecom": [{"system": "phone"}],
        "address": [{"line": ["Dorpsstraat 12"], "city": "Utrecht"}],
    }
    assert names_the_client(ABSENT, patient) == []
    assert names_the_client("Woont aan de dorpsstraat 12", patient) == ["her address or telecom"]
