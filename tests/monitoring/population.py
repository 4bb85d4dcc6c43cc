"""A small population driven through the real workflows (intake, $intake-visit, visits, birth report,
$end, theme assessments, a consult answered), for the measures' tests: what the adapter really stores.

Every referral is dated 2026-03-02; the expected numbers of each measure are worked out by hand in
tests/monitoring/test_measures.py from the table below.

| who | referrer | gemeente | EDD (GA at referral) | decision | intake visit (GA) | birth (GA, g) | ending |
| --- | --- | --- | --- | --- | --- | --- | --- |
| A | midwife | 0935 (coded) | 08-31 (14+0) | voorzorg | 03-09 (105 d) | 08-10 (259 d, 2950) | - |
| B | midwife | Heerlen | 07-20 (20+0) | voorzorg | 03-09 (147 d) | 07-01 (250 d, 2400) | 10-01 choice |
| C | gp | none: unknown | 08-31 | voorzorg | 03-09 (105 d) | - | 05-01 not-reachable |
| D | gynaecologist | 0935 (coded) | 08-31 | voorzorg | 03-09 (105 d) | - | 06-01 moved |
| E | ozks | Heerlen | 08-31 | voorzorg | 03-09: says no | - | (cancelled) |
| F | (no type): other | 0935 | 08-31 | not-eligible | - | - | - |
| G | midwife | Heerlen | 08-31 | consult forced-framework, answered | - | - | - |
| H | gp | Heerlen | 08-31, parity 1 | consult outside-criteria | - | - | - |
| L | midwife | 0935 | 05-25 (28+0) | late-start | 03-16 (203 d) | - | - |

(all dates in 2026; "choice": client-choice)

Visits recorded: A done 2-5 (and the intake visit, 1), missed 6; B done 2-3.
Theme assessments: A financiele-stabiliteit concern (2026-03-09) -> attention-needed (2026-06-01): improved;
A hechting once; B veiligheid attention-needed -> concern: worsened; C gezondheid concern -> concern:
unchanged.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from bench.referrals import bsns, variant
from tests.api.helpers import EDD, FF, ORG, PARITY, PATIENT, VV, resource, set_bool
from tests.conftest import FHIR_JSON_HEADERS
from tests.path_helpers import ending, intake, intake_visit, parts, post_json

VZ = "https://fhir.voorzorg.nl/CodeSystem/"
KIND = VZ + "voorzorg-referrer-kind"
CBS = "urn:oid:2.16.840.1.113883.2.4.4.15"
LOINC, UCUM = "http://loinc.org", "http://unitsofmeasure.org"
SEQUENCE_EXT = "https://fhir.voorzorg.nl/StructureDefinition/visit-sequence"
CONSULT_ORG = "http://fhir.nl/fhir/NamingSystem/ura|00000001"
CONSULT_ITEM = VZ + "voorzorg-consult-item"
CONSULT_CODE = VZ + "voorzorg-referral-item|voorzorg-consult-request"


@dataclass(frozen=True)
class Client:
    name: str
    kind: str | None
    municipality: str | None  # "0935": coded; other text: the district as text
    edd: str = "2026-08-31"
    vulnerable: bool = True
    forced_framework: bool = False
    parity: int = 0
    intake_on: str | None = None
    takes_part: bool = True
    birth: tuple[str, int, int] | None = None
    end: tuple[str, str] | None = None  # (reason, date)
    done: tuple[int, ...] = ()
    missed: tuple[int, ...] = ()
    themes: tuple[tuple[str, str, str], ...] = ()  # (theme, level, date)


POPULATION = (
    Client(
        "A", "midwife", "0935", intake_on="2026-03-09", birth=("2026-08-10", 259, 2950),
        done=(2, 3, 4, 5), missed=(6,),
        themes=(
            ("financiele-stabiliteit", "concern", "2026-03-09"),
            ("financiele-stabiliteit", "attention-needed", "2026-06-01"),
            ("hechting", "no-concern", "2026-03-09"),
        ),
    ),
    Client(
        "B", "midwife", "Heerlen", edd="2026-07-20", intake_on="2026-03-09",
        birth=("2026-07-01", 250, 2400), end=("client-choice", "2026-10-01"), done=(2, 3),
        themes=(("veiligheid", "attention-needed", "2026-03-09"), ("veiligheid", "concern", "2026-06-01")),
    ),
    Client(
        "C", "gp", None, intake_on="2026-03-09", end=("not-reachable", "2026-05-01"),
        themes=(("gezondheid", "concern", "2026-03-09"), ("gezondheid", "concern", "2026-04-01")),
    ),
    Client("D", "gynaecologist", "0935", intake_on="2026-03-09", end=("moved", "2026-06-01")),
    Client("E", "ozks", "Heerlen", intake_on="2026-03-09", takes_part=False),
    Client("F", None, "0935", vulnerable=False),
    Client("G", "midwife", "Heerlen", forced_framework=True),
    Client("H", "gp", "Heerlen", parity=1),
    Client("L", "midwife", "0935", edd="2026-05-25", intake_on="2026-03-16"),
)  # fmt: skip


@dataclass
class Built:
    """What the population's building left: per client its Patient and referral ids and programme."""

    patients: dict[str, str] = field(default_factory=dict)
    referrals: dict[str, str] = field(default_factory=dict)
    programmes: dict[str, str] = field(default_factory=dict)
    consult_tasks: dict[str, str] = field(default_factory=dict)


def referral_of(base: dict[str, Any], c: Client, bsn: str) -> dict[str, Any]:
    b = variant(base, bsn, f"MON-{c.name}")
    org = resource(b, ORG)
    org["identifier"][0]["value"] = f"0901{ord(c.name):04d}"
    if c.kind:
        org["type"] = [{"coding": [{"system": KIND, "code": c.kind}]}]
    patient = resource(b, PATIENT)
    if c.municipality == "0935":
        patient["address"] = [
            {
                "use": "home",
                "city": "Maastricht",
                "district": "Maastricht",
                "_district": {"extension": [_gemeente("0935")]},
            }
        ]
    elif c.municipality:
        patient["address"] = [{"use": "home", "city": c.municipality, "district": c.municipality}]
    resource(b, EDD)["valueDateTime"] = c.edd
    resource(b, PARITY)["valueInteger"] = c.parity
    set_bool(b, VV, c.vulnerable)
    set_bool(b, FF, c.forced_framework)
    return b


def _gemeente(code: str) -> dict[str, Any]:
    return {
        "url": "https://fhir.voorzorg.nl/StructureDefinition/voorzorg-municipality-code",
        "valueCoding": {"system": CBS, "code": code},
    }


def build(jgz: TestClient, consult: TestClient, base: dict[str, Any]) -> Built:
    built = Built()
    gen = bsns(seed=17)
    for c in POPULATION:
        out = intake(jgz, referral_of(copy.deepcopy(base), c, next(gen)))
        patient, referral = f"Patient/{out['Patient']['id']}", out["ServiceRequest"]["id"]
        built.patients[c.name], built.referrals[c.name] = patient, referral
        if c.intake_on:
            _intake_visit(jgz, built, c, patient, referral)
        plan = _plan(jgz, referral)
        for seq in c.done:
            _visit(jgz, plan, seq, "finished", f"{c.name}-{seq}")
        for seq in c.missed:
            _visit(jgz, plan, seq, "cancelled", f"{c.name}-{seq}")
        if c.birth:
            _birth(jgz, patient, *c.birth)
        for i, (theme, level, on) in enumerate(c.themes):
            _assess(jgz, patient, theme, level, on, f"{c.name}-T{i}")
        if c.end:
            r = post_json(jgz, f"/EpisodeOfCare/{built.programmes[c.name]}/$end", ending(*c.end))
            assert r.status_code == 200, r.text
    _answer_consult(jgz, consult, built)
    return built


def _intake_visit(jgz: TestClient, built: Built, c: Client, patient: str, referral: str) -> None:
    assert c.intake_on
    r = post_json(
        jgz,
        f"/ServiceRequest/{referral}/$intake-visit",
        intake_visit(patient, c.intake_on, takes_part=c.takes_part),
    )
    assert r.status_code == 200, r.text
    built.programmes[c.name] = parts(r.json())["programme"][0]["id"]


def _plan(jgz: TestClient, referral: str) -> dict[str, Any] | None:
    found = jgz.get(f"/CarePlan?based-on=ServiceRequest/{referral}").json().get("entry", [])
    if not found:
        plans = [
            e["resource"]
            for e in jgz.get("/CarePlan?_count=100").json().get("entry", [])
            if any(
                r.get("reference") == f"ServiceRequest/{referral}"
                for r in e["resource"].get("supportingInfo", [])
            )
        ]
        return plans[0] if plans else None
    return dict(found[0]["resource"])


def _visit(jgz: TestClient, plan: dict[str, Any] | None, seq: int, status: str, ident: str) -> None:
    assert plan is not None
    activity = next(
        a
        for a in plan["activity"]
        if any(e["url"] == SEQUENCE_EXT and e["valueInteger"] == seq for e in a["detail"]["extension"])
    )
    day = activity["detail"]["scheduledPeriod"]["start"][:10]
    enc = {
        "resourceType": "Encounter",
        "identifier": [{"system": "urn:example:nurse-visits", "value": ident}],
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
        "type": [{"coding": [{"system": VZ + "voorzorg-referral-item", "code": "home-visit"}]}],
        "subject": plan["subject"],
        "basedOn": [plan["supportingInfo"][0]],
        "period": {"start": f"{day}T10:00:00+01:00", "end": f"{day}T11:00:00+01:00"},
        "extension": [{"url": SEQUENCE_EXT, "valueInteger": seq}],
    }
    r = post_json(jgz, "/Encounter", enc)
    assert r.status_code in (200, 201), r.text


def _birth(jgz: TestClient, mother: str, born: str, ga_days: int, grams: int) -> None:
    report = {
        "resourceType": "Observation",
        "meta": {"profile": ["https://fhir.voorzorg.nl/StructureDefinition/voorzorg-delivery-date"]},
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "93857-1"}]},
        "subject": {"reference": mother},
        "valueDateTime": born,
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "76516-4"}]},
                "valueQuantity": {"value": ga_days, "unit": "d", "system": UCUM, "code": "d"},
            },
            {
                "code": {"coding": [{"system": LOINC, "code": "8339-4"}]},
                "valueQuantity": {"value": grams, "unit": "g", "system": UCUM, "code": "g"},
            },
            {
                "code": {"coding": [{"system": VZ + "voorzorg-referral-item", "code": "live-born"}]},
                "valueBoolean": True,
            },
        ],
    }
    r = post_json(jgz, "/Observation", report)
    assert r.status_code in (200, 201), r.text


def _assess(jgz: TestClient, subject: str, theme: str, level: str, on: str, ident: str) -> None:
    obs = {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:example:nurse-system:assessment", "value": ident}],
        "status": "final",
        "code": {"coding": [{"system": VZ + "voorzorg-theme", "code": theme}]},
        "subject": {"reference": subject},
        "effectiveDateTime": f"{on}T10:30:00+01:00",
        "performer": [{"reference": "Practitioner/nurse-1", "display": "Wijkverpleegkundige VoorZorg"}],
        "valueCodeableConcept": {"coding": [{"system": VZ + "voorzorg-theme-assessment", "code": level}]},
    }
    r = post_json(jgz, "/Observation", obs)
    assert r.status_code in (200, 201), r.text


def _answer_consult(jgz: TestClient, consult: TestClient, built: Built) -> None:
    """VoorZorg Consult accepts G's request and completes it with its advice."""
    found = jgz.get(f"/Task?based-on=ServiceRequest/{built.referrals['G']}&code={CONSULT_CODE}").json()
    task = found["entry"][0]["resource"]
    for status, extra in (("accepted", {}), ("completed", {"output": _advice()})):
        body = {**task, "status": status, **extra}
        r = consult.put(
            f"/Task/{task['id']}",
            content=json.dumps(body),
            headers={**FHIR_JSON_HEADERS, "If-Match": f'W/"{task["meta"]["versionId"]}"'},
        )
        assert r.status_code == 200, r.text
        task = r.json()
    built.consult_tasks["G"] = task["id"]


def _advice() -> list[dict[str, Any]]:
    return [
        {
            "type": {"coding": [{"system": CONSULT_ITEM, "code": "advice"}]},
            "valueCodeableConcept": {
                "coding": [
                    {
                        "system": VZ + "voorzorg-consult-advice",
                        "code": "start-voorzorg-with-evaluation-moments",
                    }
                ],
                "text": "Start, met een evaluatiemoment.",
            },
        },
        {
            "type": {"coding": [{"system": CONSULT_ITEM, "code": "evaluation-moment"}]},
            "valueDate": "2026-05-04",
        },
    ]
