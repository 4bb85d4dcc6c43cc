# ruff: noqa: E501  (resource literals kept one element a line)
"""A generated region for the monitoring (and export) benchmarks: `generate_region(store, clients, seed)`.

Each client: her Patient (a gemeente code on her address, some without), the referral (ServiceRequest,
from one of five referring organisations, one per referrer kind) and its decision (GuidanceResponse);
the eligible who enrol get her programme (EpisodeOfCare voorzorg-programme: enrolment, GA at enrolment,
phases, an ending for some), a plan of 40-60 visits (CarePlan, done / missed / planned as of the end of
2026), a birth report, and theme assessments; consult tracks get a consult request with its Task.
Referrals are spread over 2024-2026, so a year holds about a third of them.

The resources are shaped as the adapter stores them (the same extensions and codes the workflows write)
and are written straight into the tables in bulk — current version, first history version, search index
rows from the same extraction the store uses (`adapter.store.indexing.index_rows`), a plan's visit rows
(`adapter.store.plan_visits`) — which is much
faster than a unit of work per resource and leaves the same rows. Reproducible: the same seed, the same
region (ids are uuid5 of the seed and the client's number).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from functools import cache
from typing import Any

from sqlalchemy import insert, text

from adapter.config import CANONICAL_BASE
from adapter.data import search_parameters
from adapter.fhir.dates import now_instant
from adapter.mapping.careplan_out import KIND_EXT, PHASE_EXT, SEQUENCE_EXT, plan_definition_url
from adapter.mapping.programme_out import ENDING_EXT, GA_AT_ENROLMENT, PROGRAMME_PROFILE
from adapter.mapping.programme_out import PHASE_EXT as PROGRAMME_PHASE
from adapter.store.engine import Store
from adapter.store.indexing import index_rows
from adapter.store.plan_visits import PLAN_TYPE, plan_visit_rows
from adapter.store.schema import plan_visit, resource, resource_version, search_index
from bench.referrals import bsns

VZ = f"{CANONICAL_BASE}/CodeSystem/"
CBS = "urn:oid:2.16.840.1.113883.2.4.4.15"
GEMEENTEN = ("0935", "0917", "0928", "0882", "0888", "0971", "0994", "1711", "1883", "1903")
KINDS = ("midwife", "midwife", "midwife", "gynaecologist", "gp", "ozks", "other")
THEMES = ("ouderschap", "gezondheid", "veiligheid", "financiele-stabiliteit", "hechting")
LEVELS = ("no-concern", "attention-needed", "concern", "acute-concern")
EARLY_ENDINGS = ("client-choice", "not-reachable", "moved", "referred-to-other-care", "other")
BATCH = 2000


def _day(d: date) -> str:
    return d.isoformat()


def _coding(cs: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": VZ + cs, "code": code}]}


class _Client:
    """One generated client: her resources, as dicts."""

    def __init__(self, rnd: random.Random, ns: uuid.UUID, n: int, bsn: str) -> None:
        self.rnd, self.n = rnd, n
        self.id = lambda kind: str(uuid.uuid5(ns, f"{n}/{kind}"))
        self.patient = f"Patient/{self.id('Patient')}"
        self.referred = date(2024, 1, 1) + timedelta(days=rnd.randrange(3 * 365))
        self.ga_at_referral = rnd.randrange(56, 230)
        self.edd = self.referred + timedelta(days=280 - self.ga_at_referral)
        self.bsn = bsn
        roll = rnd.random()
        if roll < 0.07:
            self.track = "not-eligible"
        elif roll < 0.13:
            self.track = "consult"
        elif self.ga_at_referral >= 196:
            self.track = "late-start"
        else:
            self.track = "voorzorg-2" if roll > 0.9 else "voorzorg"

    def resources(self, orgs: list[str]) -> Iterator[dict[str, Any]]:
        rnd = self.rnd
        yield self._patient()
        referral = self._referral(orgs[self.n % len(orgs)])
        yield referral
        yield self._decision(referral)
        if self.track == "consult":
            yield from self._consult(referral)
            return
        if self.track == "not-eligible" or rnd.random() < 0.15:  # 15 % never enrol
            return
        enrolled = self.referred + timedelta(days=rnd.randrange(3, 28))
        birth = self.edd + timedelta(days=rnd.randrange(-21, 10))
        ending = self._ending(enrolled, birth)
        yield self._programme(referral, enrolled, birth, ending)
        yield self._careplan(referral, enrolled, birth, ending)
        if birth < date(2027, 1, 1) and (ending is None or ending[1] >= birth):
            yield self._birth(birth)
        yield from self._themes(enrolled, ending)

    def _patient(self) -> dict[str, Any]:
        p: dict[str, Any] = {
            "resourceType": "Patient",
            "id": self.id("Patient"),
            "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": self.bsn}],
            "gender": "female",
            "birthDate": _day(self.referred - timedelta(days=365 * self.rnd.randrange(17, 36))),
        }
        if self.rnd.random() > 0.05:
            code = self.rnd.choice(GEMEENTEN)
            p["address"] = [{"use": "home", "district": code, "_district": {"extension": [
                {"url": f"{CANONICAL_BASE}/StructureDefinition/voorzorg-municipality-code",
                 "valueCoding": {"system": CBS, "code": code}}]}}]  # fmt: skip
        return p

    def _referral(self, org: str) -> dict[str, Any]:
        return {
            "resourceType": "ServiceRequest",
            "id": self.id("ServiceRequest"),
            "identifier": [
                {"system": "urn:oid:2.16.528.1.1007.3.3.1234567.1", "value": f"REGION-{self.n:06d}"}
            ],
            "status": "active",
            "intent": "order",
            "code": _coding("voorzorg-referral-item", "voorzorg-referral"),
            "subject": {"reference": self.patient},
            "requester": {"reference": org},
            "authoredOn": _day(self.referred),
        }

    def _decision(self, referral: dict[str, Any]) -> dict[str, Any]:
        reasons = {"consult": "forced-framework", "not-eligible": "not-very-vulnerable"}
        out = {
            "resourceType": "GuidanceResponse",
            "id": self.id("GuidanceResponse"),
            "requestIdentifier": referral["identifier"][0],
            "moduleUri": f"{CANONICAL_BASE}/OperationDefinition/check-eligibility",
            "status": "success",
            "subject": {"reference": self.patient},
            "occurrenceDateTime": _day(self.referred + timedelta(days=self.rnd.randrange(0, 3))),
            "extension": [{"url": f"{CANONICAL_BASE}/StructureDefinition/voorzorg-track",
                           "valueCoding": {"system": VZ + "voorzorg-track", "code": self.track}}],
        }  # fmt: skip
        if self.track in reasons:
            out["reasonCode"] = [_coding("voorzorg-decision-reason", reasons[self.track])]
        return out

    def _consult(self, referral: dict[str, Any]) -> Iterator[dict[str, Any]]:
        sr_id = self.id("consult/ServiceRequest")
        yield {
            "resourceType": "ServiceRequest",
            "id": sr_id,
            "status": "active",
            "intent": "order",
            "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "11429006"}]}],
            "code": _coding("voorzorg-referral-item", "voorzorg-consult-request"),
            "subject": {"reference": self.patient},
            "basedOn": [{"reference": f"ServiceRequest/{referral['id']}"}],
            "authoredOn": _day(self.referred),
            "reasonCode": [_coding("voorzorg-decision-reason", "forced-framework")],
        }
        answered = self.rnd.random() < 0.7
        task: dict[str, Any] = {
            "resourceType": "Task",
            "id": self.id("consult/Task"),
            "status": "completed" if answered else "requested",
            "intent": "order",
            "code": _coding("voorzorg-referral-item", "voorzorg-consult-request"),
            "focus": {"reference": f"ServiceRequest/{sr_id}"},
            "for": {"reference": self.patient},
            "authoredOn": _day(self.referred),
            "lastModified": _day(
                self.referred + timedelta(days=self.rnd.randrange(1, 30) if answered else 0)
            ),
        }
        if answered:
            task["output"] = [{"type": _coding("voorzorg-consult-item", "advice"),
                               "valueCodeableConcept": _coding("voorzorg-consult-advice", "start-voorzorg")}]  # fmt: skip
        yield task

    def _ending(self, enrolled: date, birth: date) -> tuple[str, date] | None:
        roll = self.rnd.random()
        if roll < 0.3:
            on = enrolled + timedelta(days=self.rnd.randrange(10, 700))
            return self.rnd.choice(EARLY_ENDINGS), on
        end = birth + timedelta(days=730)
        return ("completed", end) if end < date(2027, 1, 1) else None

    def _phases(
        self, enrolled: date, birth: date, ending: tuple[str, date] | None
    ) -> list[tuple[str, date, date]]:
        spans = [("pregnancy", enrolled, birth - timedelta(days=1)),
                 ("infancy", birth, birth + timedelta(days=364)),
                 ("toddler", birth + timedelta(days=365), birth + timedelta(days=729))]  # fmt: skip
        if ending is None:
            return spans
        kept = [(p, s, e) for p, s, e in spans if s <= ending[1]]
        return [(p, s, min(e, ending[1])) for p, s, e in kept]

    def _programme(
        self, referral: dict[str, Any], enrolled: date, birth: date, ending: tuple[str, date] | None
    ) -> dict[str, Any]:
        ext: list[dict[str, Any]] = [
            {"url": GA_AT_ENROLMENT, "valueInteger": self.ga_at_referral + (enrolled - self.referred).days}
        ]
        for phase, start, end in self._phases(enrolled, birth, ending):
            ext.append({"url": PROGRAMME_PHASE, "extension": [{"url": "phase", "valueCode": phase},
                        {"url": "period", "valuePeriod": {"start": _day(start), "end": _day(end)}}]})  # fmt: skip
        period = {"start": _day(enrolled)}
        if ending:
            ext.append(
                {"url": ENDING_EXT, "valueCodeableConcept": _coding("voorzorg-ending-reason", ending[0])}
            )
            period["end"] = _day(ending[1])
        return {
            "resourceType": "EpisodeOfCare",
            "id": self.id("EpisodeOfCare"),
            "meta": {"profile": [PROGRAMME_PROFILE]},
            "extension": ext,
            "status": "finished" if ending else "active",
            "statusHistory": [{"status": "active", "period": {"start": _day(enrolled)}}],
            "type": [_coding("voorzorg-referral-item", "voorzorg-programme"), _coding("voorzorg-track", self.track)],
            "patient": {"reference": self.patient},
            "managingOrganization": {"identifier": {"system": "http://fhir.nl/fhir/NamingSystem/ura", "value": "00000000"}},
            "referralRequest": [{"reference": f"ServiceRequest/{referral['id']}"}],
            "period": period,
        }  # fmt: skip

    def _careplan(
        self, referral: dict[str, Any], enrolled: date, birth: date, ending: tuple[str, date] | None
    ) -> dict[str, Any]:
        visits = self.rnd.randrange(40, 61)
        end = birth + timedelta(days=730)
        step = (end - enrolled).days / visits
        today = date(2026, 12, 31)
        activity = []
        for seq in range(1, visits + 1):
            on = enrolled + timedelta(days=round((seq - 1) * step))
            phase = (
                "pregnancy" if on < birth else "infancy" if on < birth + timedelta(days=365) else "toddler"
            )
            if ending and ending[0] != "completed" and on > ending[1]:
                status = "cancelled"
            elif on > today:
                status = "not-started"
            else:
                status = "completed" if self.rnd.random() < 0.78 else "cancelled"
            activity.append({"detail": {
                "extension": [{"url": SEQUENCE_EXT, "valueInteger": seq}, {"url": PHASE_EXT, "valueCode": phase},
                              {"url": KIND_EXT, "valueCode": "home-visit"}],
                "kind": "Appointment", "status": status, "description": f"Huisbezoek {seq}",
                "scheduledPeriod": {"start": _day(on), "end": _day(on)}}})  # fmt: skip
        return {
            "resourceType": "CarePlan",
            "id": self.id("CarePlan"),
            "meta": {"profile": [f"{CANONICAL_BASE}/StructureDefinition/voorzorg-careplan"]},
            "instantiatesCanonical": [plan_definition_url(self.track)],
            "status": "completed" if ending else "active",
            "intent": "plan",
            "category": [_coding("voorzorg-track", self.track)],
            "subject": {"reference": self.patient},
            "period": {"start": _day(enrolled), "end": _day(end)},
            "activity": activity,
            "supportingInfo": [{"reference": f"ServiceRequest/{referral['id']}"}],
        }

    def _birth(self, born: date) -> dict[str, Any]:
        ga = 280 - (self.edd - born).days - self.rnd.randrange(0, 14)
        grams = int(self.rnd.gauss(3300, 550))
        q = {"system": "http://unitsofmeasure.org"}
        return {
            "resourceType": "Observation",
            "id": self.id("birth"),
            "meta": {"profile": [f"{CANONICAL_BASE}/StructureDefinition/voorzorg-delivery-date"]},
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "93857-1"}]},
            "subject": {"reference": self.patient},
            "valueDateTime": _day(born),
            "component": [
                {"code": {"coding": [{"system": "http://loinc.org", "code": "76516-4"}]},
                 "valueQuantity": {**q, "value": max(170, min(ga, 300)), "unit": "d", "code": "d"}},
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8339-4"}]},
                 "valueQuantity": {**q, "value": max(400, min(grams, 5500)), "unit": "g", "code": "g"}},
                {"code": _coding("voorzorg-referral-item", "live-born"), "valueBoolean": True},
            ],
        }  # fmt: skip

    def _themes(self, enrolled: date, ending: tuple[str, date] | None) -> Iterator[dict[str, Any]]:
        last = min(ending[1] if ending else date(2026, 12, 31), date(2026, 12, 31))
        for t, theme in enumerate(self.rnd.sample(THEMES, 3)):
            level = self.rnd.randrange(4)
            for k in range(self.rnd.randrange(1, 4)):
                on = enrolled + timedelta(days=120 * k)
                if on > last:
                    break
                level = max(0, min(3, level + self.rnd.choice((-1, -1, 0, 1))))
                yield {
                    "resourceType": "Observation",
                    "id": self.id(f"theme/{t}/{k}"),
                    "identifier": [{"system": "urn:example:region:assessment", "value": f"{self.n}-{t}-{k}"}],
                    "status": "final",
                    "code": _coding("voorzorg-theme", theme),
                    "subject": {"reference": self.patient},
                    "effectiveDateTime": f"{_day(on)}T10:00:00Z",
                    "valueCodeableConcept": _coding("voorzorg-theme-assessment", LEVELS[level]),
                }


def _organizations(ns: uuid.UUID) -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "Organization",
            "id": str(uuid.uuid5(ns, f"org/{i}")),
            "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/agb-z", "value": f"0910{i:04d}"}],
            "name": f"Verwijzer {i} ({kind})",
            **({"type": [_coding("voorzorg-referrer-kind", kind)]} if kind != "other" else {}),
        }
        for i, kind in enumerate(KINDS)
    ]


def generate_region(store: Store, clients: int, seed: int) -> dict[str, int]:
    """Write a region of `clients` clients into `store` (bulk); returns how many resources per type."""
    rnd = random.Random(seed)
    ns = uuid.uuid5(uuid.NAMESPACE_URL, f"https://fhir.voorzorg.nl/bench/region/{seed}")
    orgs = _organizations(ns)
    refs = [f"Organization/{o['id']}" for o in orgs]
    counts: dict[str, int] = {}
    pending: list[dict[str, Any]] = list(orgs)
    gen = bsns(seed)
    for n in range(clients):
        pending.extend(_Client(rnd, ns, n, next(gen)).resources(refs))
        if len(pending) >= BATCH:
            _write(store, pending, counts)
            pending = []
    _write(store, pending, counts)
    if not store.is_sqlite:
        # what autovacuum does within a minute of a bulk load: without statistics PostgreSQL takes the
        # search index for empty and plans a search of several parameters as nested loops (seconds)
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE resource, search_index, plan_visit"))
    return counts


@cache
def _elements(res_type: str) -> frozenset[str]:
    """The top-level elements the type's search parameters read (their FHIRPath's first step)."""
    return frozenset(
        str(p["expression"]).split(".")[1].split("(")[0].split(" ")[0]
        for p in search_parameters().get(res_type, {}).values()
        if "." in str(p["expression"])
    ) | {"resourceType", "id", "meta"}


def _indexed_part(r: dict[str, Any]) -> dict[str, Any]:
    """Only what the search parameters read: the same index rows, without walking a plan's 60 activities."""
    keep = _elements(r["resourceType"])  # a choice element (effective[x]) is kept by its stem
    return {k: v for k, v in r.items() if any(k.lstrip("_").startswith(e) for e in keep)}


def _write(store: Store, batch: list[dict[str, Any]], counts: dict[str, int]) -> None:
    if not batch:
        return
    stamp = now_instant()
    current, versions, index, visits = [], [], [], []
    for r in batch:
        r["meta"] = {**r.get("meta", {}), "versionId": "1", "lastUpdated": stamp}
        text = json.dumps(r, separators=(",", ":"), ensure_ascii=False)
        key = {"res_type": r["resourceType"], "res_id": r["id"]}
        current.append({**key, "version_id": 1, "last_updated": stamp, "deleted": False, "content": text})
        versions.append(
            {**key, "version_id": 1, "last_updated": stamp, "method": "POST", "content": text, "author": None}
        )
        index += [{**key, "param": x.param, "system": x.system, "value": x.value, "low": x.low, "high": x.high}
                  for x in index_rows(_indexed_part(r))]  # fmt: skip
        if r["resourceType"] == PLAN_TYPE:
            visits += plan_visit_rows(r["id"], r)
        counts[r["resourceType"]] = counts.get(r["resourceType"], 0) + 1
    with store.engine.begin() as conn:
        conn.execute(insert(resource), current)
        conn.execute(insert(resource_version), versions)
        if index:
            conn.execute(insert(search_index), index)
        if visits:
            conn.execute(insert(plan_visit), visits)
