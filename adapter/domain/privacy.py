"""Does a free text name the client? For questions to VoorZorg Consult, which needs her situation, not who
she is. Pure: the text and her Patient resource (FHIR JSON) in, what it names out."""

from __future__ import annotations

import re
from typing import Any

#: Parts of Dutch surnames (tussenvoegsels) that are everyday words too: never a name on their own.
NAME_PARTICLES = frozenset(
    {"van", "der", "den", "de", "het", "ter", "ten", "te", "op", "in", "la", "le", "du"}
)


def names_the_client(question: str, patient: dict[str, Any]) -> list[str]:
    """What in `question` identifies the client of `patient`, in words for the refusal; [] when nothing.

    In this order: "an identifier (BSN)" (any of her identifier values, also written with spaces, dots or
    dashes), "her name" (a word of her family or given names; particles and words of 2 letters or fewer
    do not count), "her birth date" (as YYYY-MM-DD, DD-MM-YYYY or DD/MM/YYYY, with or without leading
    zeros), "her address or telecom" (an address line, postal code or telecom value, any case).
    """
    checks = (
        ("an identifier (BSN)", _names_an_identifier),
        ("her name", _names_her_name),
        ("her birth date", _names_her_birth_date),
        ("her address or telecom", _names_her_address_or_telecom),
    )
    return [what for what, names in checks if names(question, patient)]


def _names_an_identifier(question: str, patient: dict[str, Any]) -> bool:
    digits = re.sub(r"[\s.\-]", "", question)
    return any(str(i.get("value", "")) and str(i["value"]) in digits for i in patient.get("identifier", []))


def _names_her_name(question: str, patient: dict[str, Any]) -> bool:
    words = set(re.findall(r"\w+", question.lower()))
    return not words.isdisjoint(_name_words(patient))


def _name_words(patient: dict[str, Any]) -> set[str]:
    """The words of her names that name her: longer than 2 letters and not a surname particle."""
    return {
        w.lower()
        for n in patient.get("name", [])
        for part in [n.get("family", ""), *n.get("given", [])]
        for w in re.findall(r"\w+", str(part))
        if len(w) > 2 and w.lower() not in NAME_PARTICLES
    }


def _names_her_birth_date(question: str, patient: dict[str, Any]) -> bool:
    birth = patient.get("birthDate")
    if not isinstance(birth, str) or len(birth) != 10:
        return False
    return any(form in question for form in _date_forms(birth))


def _date_forms(day: str) -> set[str]:
    """YYYY-MM-DD as people write it: 2004-03-07, 07-03-2004, 7-3-2004, 07/03/2004, 7/3/2004."""
    y, m, d = day.split("-")
    return {day, f"{d}-{m}-{y}", f"{int(d)}-{int(m)}-{y}", f"{d}/{m}/{y}", f"{int(d)}/{int(m)}/{y}"}


def _names_her_address_or_telecom(question: str, patient: dict[str, Any]) -> bool:
    text = question.lower()
    return any(c and c.lower() in text for c in _contact_values(patient))


def _contact_values(patient: dict[str, Any]) -> list[str]:
    """Her telecom values, then the lines and postal code of each address."""
    values = [str(t.get("value", "")) for t in patient.get("telecom", [])]
    return values + [
        str(x) for a in patient.get("address", []) for x in [*a.get("line", []), a.get("postalCode", "")]
    ]
