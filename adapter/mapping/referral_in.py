"""Referral transaction Bundle -> the facts of the referral (referral contract v1).

Reads both code systems (SNOMED and LOINC) and both Observation shapes (standalone, or members of a
zib Pregnancy panel, as Bundle entries or contained in the panel). Checks what the contract requires
and collects *every* violation before refusing, each named by its FHIRPath expression.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from adapter.config import CANONICAL_BASE
from adapter.data import (
    ReferralItem,
    codesystem_codes,
    eligibility_rules,
    input_limits,
    own_system,
    referral_codes,
)
from adapter.domain.facts import PregnancyDuration, ReferralFacts
from adapter.domain.identifiers import is_valid_bsn
from adapter.fhir.models import check_structure
from adapter.fhir.outcome import FhirError, Issue
from adapter.fhir.references import retarget, walk_references
from adapter.fhir.validator import validate

REFERRAL_ITEM = "voorzorg-referral-item"


@dataclass
class Entry:
    """One resource of the Bundle, with where it sits (for error expressions)."""

    index: int
    resource: dict[str, Any]
    full_url: str | None

    @property
    def path(self) -> str:
        return f"Bundle.entry[{self.index}].resource"

    @property
    def type(self) -> str:
        return str(self.resource["resourceType"])


@dataclass
class Referral:
    """A referral Bundle that passed the contract, with its facts."""

    entries: list[Entry]
    patient: Entry
    service_request: Entry
    task: Entry | None
    bsn: str
    referral_identifier: tuple[str, str]
    requester_organizations: list[str]  # "system|value" (AGB/URA) of the sending care provider
    facts: ReferralFacts
    # Observation entry index -> the referral item it carries (e.g. "parity"), for stable ids.
    items: dict[int, str] = field(default_factory=dict)


def read_referral(bundle: dict[str, Any]) -> Referral:
    """Raise FhirError 400 (not FHIR) or 422 (breaks the contract), listing every issue found."""
    check_structure(bundle)
    if bundle.get("resourceType") != "Bundle":
        raise FhirError.one(
            400, f"A transaction Bundle is expected, not {bundle.get('resourceType')}", "resourceType"
        )
    if bundle.get("type") != "transaction":
        raise FhirError.one(
            422,
            f"Bundle.type must be 'transaction' for a referral, not {bundle.get('type')!r}",
            "Bundle.type",
        )
    return _Reader(bundle).read()


class _Reader:
    def __init__(self, bundle: dict[str, Any]) -> None:
        self.codes = referral_codes()
        self.systems: dict[str, str] = {**self.codes["systems"], "own": own_system(REFERRAL_ITEM)}
        self.issues: list[Issue] = []
        self.entries: list[Entry] = []
        for i, e in enumerate(bundle.get("entry", [])):
            res = e.get("resource")
            if res is None:
                self._issue(
                    "A transaction entry must hold a resource", f"Bundle.entry[{i}].resource", code="required"
                )
                continue
            if "request" not in e:
                self._issue(
                    "A transaction entry needs a request (method and url)", f"Bundle.entry[{i}].request"
                )
            elif (method := e["request"].get("method")) not in (methods := self.codes["request_methods"]):
                self._issue(
                    f"A referral's entries are created or updated ({', '.join(methods)}); {method!r} has no "
                    "place in it",
                    f"Bundle.entry[{i}].request.method",
                    code="not-supported",
                )
            self.entries.append(Entry(i, res, e.get("fullUrl")))
        self.earliest = date.fromisoformat(self.codes["earliest_date"])
        self.by_ref: dict[str, Entry] = {}
        for en in self.entries:
            if en.full_url:
                self.by_ref[en.full_url] = en
            if en.resource.get("id"):
                self.by_ref[f"{en.type}/{en.resource['id']}"] = en

    def _issue(self, text: str, *expression: str, code: str = "invalid") -> None:
        self.issues.append(Issue(text, tuple(expression), code))

    def read(self) -> Referral:
        accepted = set(self.codes["accepted_types"])
        for en in self.entries:
            if en.type not in accepted:
                self._issue(
                    f"{en.type} has no place in a VoorZorg referral; accepted: {', '.join(sorted(accepted))}",
                    f"{en.path}.resourceType",
                    code="not-supported",
                )
        self._check_references()
        patient = self._one("Patient")
        request = self._one("ServiceRequest")
        tasks = [e for e in self.entries if e.type == "Task"]
        if len(tasks) > 1:
            self._issue("A referral holds at most one Task", f"{tasks[1].path}")
        if patient is None or request is None:
            raise FhirError(422, self.issues)

        bsn = self._bsn(patient)
        mother_birth = self._date(patient, "birthDate", required=True)
        ident = self._referral_identifier(request)
        referral_date = self._date(request, "authoredOn", required=True)
        self._not_ahead(request, referral_date)
        self._referral_code(request)
        self._subject(request, patient)
        requester = self._requester(request)
        items = self._observation_items()
        voluntary = self._voluntary()
        if self.issues or referral_date is None or bsn is None or ident is None or requester is None:
            raise FhirError(422, self.issues)

        values = {name: value for name, (_, value) in items.items()}
        facts = ReferralFacts(
            referral_date=referral_date,
            mother_birth_date=mother_birth,
            estimated_delivery_date=values.get("estimated_delivery_date"),
            pregnancy_duration=self._duration(items.get("pregnancy_duration"), referral_date),
            delivery_date=values.get("delivery_date"),
            parity=values.get("parity"),
            gravidity=values.get("gravidity"),
            very_vulnerable=values.get("very_vulnerable"),
            serious_parenting_problems=values.get("serious_parenting_problems"),
            forced_framework=values.get("forced_framework"),
            voluntary=voluntary,
        )
        self._plausible(facts, items, patient)
        self._conform(items)
        if self.issues:
            raise FhirError(422, self.issues)
        return Referral(
            entries=self.entries,
            patient=patient,
            service_request=request,
            task=tasks[0] if tasks else None,
            bsn=bsn,
            referral_identifier=ident,
            requester_organizations=requester,
            facts=facts,
            items={en.index: name for name, (en, _) in items.items() if en is not None},
        )

    # --- the resources the contract names ---------------------------------------------------
    def _one(self, rtype: str) -> Entry | None:
        found = [e for e in self.entries if e.type == rtype]
        if not found:
            self._issue(f"The referral Bundle holds no {rtype}", "Bundle.entry", code="required")
            return None
        if len(found) > 1:
            self._issue(
                f"The referral Bundle holds {len(found)} {rtype} resources; exactly one is expected",
                *(e.path for e in found[1:]),
            )
        return found[0]

    def _bsn(self, patient: Entry) -> str | None:
        bsn_system = self.systems["bsn"]
        idents = [
            (i, x)
            for i, x in enumerate(patient.resource.get("identifier", []))
            if x.get("system") == bsn_system
        ]
        if len(idents) != 1:
            self._issue(
                f"The pregnant woman needs exactly one BSN identifier ({bsn_system}), found {len(idents)}",
                f"{patient.path}.identifier",
                code="required",
            )
            return None
        i, ident = idents[0]
        value = str(ident.get("value", ""))
        if not is_valid_bsn(value):
            self._issue(
                "The BSN is not valid: it must be 9 digits that pass the eleven-test (elfproef)",
                f"{patient.path}.identifier[{i}].value",
                code="value",
            )
            return None
        return value.zfill(9)

    def _referral_identifier(self, request: Entry) -> tuple[str, str] | None:
        idents = request.resource.get("identifier", [])
        if len(idents) != 1 or not idents[0].get("system") or not idents[0].get("value"):
            self._issue(
                "The referral needs exactly one identifier (system and value): the sender's referral number",
                f"{request.path}.identifier",
                code="required",
            )
            return None
        return str(idents[0]["system"]), str(idents[0]["value"])

    def _referral_code(self, request: Entry) -> None:
        system = own_system(REFERRAL_ITEM)
        codings = request.resource.get("code", {}).get("coding", [])
        if not any(c.get("system") == system and c.get("code") == "voorzorg-referral" for c in codings):
            self._issue(
                f"The referral's code must be {system}#voorzorg-referral",
                f"{request.path}.code",
                code="code-invalid",
            )
        expected = {"status": "active", "intent": "order"}
        for element, value in expected.items():
            if request.resource.get(element) != value:
                self._issue(
                    f"ServiceRequest.{element} must be '{value}', not {request.resource.get(element)!r}",
                    f"{request.path}.{element}",
                    code="value",
                )

    def _subject(self, request: Entry, patient: Entry) -> None:
        subject = request.resource.get("subject", {}).get("reference")
        if self.by_ref.get(subject or "") is not patient:
            self._issue(
                "The referral's subject must reference the Patient in the Bundle", f"{request.path}.subject"
            )

    def _requester(self, request: Entry) -> list[str] | None:
        ref = request.resource.get("requester")
        systems = {self.systems[s] for s in self.codes["requester_identifier_systems"]}
        if not ref:
            self._issue("The referral needs a requester", f"{request.path}.requester", code="required")
            return None
        target = self.by_ref.get(ref.get("reference", ""))
        idents = [ref["identifier"]] if "identifier" in ref else []
        if target is not None:
            if target.type not in ("Organization", "PractitionerRole"):
                self._issue(
                    f"The requester must be an Organization or PractitionerRole, not {target.type}",
                    f"{request.path}.requester",
                )
                return None
            idents += target.resource.get("identifier", [])
            if target.type == "PractitionerRole":
                org_ref = target.resource.get("organization", {})
                if "identifier" in org_ref:
                    idents.append(org_ref["identifier"])
                org = self.by_ref.get(org_ref.get("reference", ""))
                if org is not None:
                    idents += org.resource.get("identifier", [])
        found = [
            f"{i['system']}|{i['value']}" for i in idents if i.get("system") in systems and i.get("value")
        ]
        most = input_limits()["max_organization_length"]
        if not found or any(len(f) > most for f in found):
            self._issue(
                "The requester must carry an AGB (http://fhir.nl/fhir/NamingSystem/agb-z) or URA identifier"
                f" (system|value at most {most} characters)",
                f"{request.path}.requester",
                code="required",
            )
            return None
        return found

    def _check_references(self) -> None:
        for en in self.entries:
            for path, ref in _references(en.resource, en.path):
                if ref.startswith("#") or ref in self.by_ref:
                    continue
                self._issue(
                    f"Reference {ref!r} does not resolve to an entry of this Bundle", path, code="not-found"
                )

    # --- Observations -------------------------------------------------------------------------
    def _observations(self) -> list[tuple[Entry | None, dict[str, Any], str]]:
        out: list[tuple[Entry | None, dict[str, Any], str]] = []
        for en in self.entries:
            if en.type != "Observation":
                continue
            out.append((en, en.resource, en.path))
            for j, c in enumerate(en.resource.get("contained", [])):
                if c.get("resourceType") == "Observation":
                    out.append((None, c, f"{en.path}.contained[{j}]"))
        return out

    def _observation_items(self) -> dict[str, tuple[Entry | None, Any]]:
        by_code: dict[tuple[str, str], str] = {}
        for name, item in self.codes["items"].items():
            for sys_key, code in item["codes"]:
                by_code[(self.systems[sys_key], str(code))] = name
        own = own_system(REFERRAL_ITEM)
        own_codes = codesystem_codes(REFERRAL_ITEM)
        found: dict[str, tuple[Entry | None, Any]] = {}
        for entry, obs, path in self._observations():
            if obs.get("status") in ("entered-in-error", "cancelled"):
                continue
            for k, coding in enumerate(obs.get("code", {}).get("coding", [])):
                key = (coding.get("system", ""), str(coding.get("code", "")))
                if key[0] == own and own_codes and key[1] not in own_codes:
                    self._issue(
                        f"{key[1]!r} is not a code of {own}",
                        f"{path}.code.coding[{k}].code",
                        code="code-invalid",
                    )
                coded = by_code.get(key)
                if coded is None:
                    continue
                value = self._value(obs, path, self.codes["items"][coded])
                if value is None or not self._plausible_value(coded, value, path):
                    break
                if coded in found and found[coded][1] != value:
                    label = coded.replace("_", " ")
                    self._issue(f"The referral holds two different values for {label}", path)
                found[coded] = (entry, value)
                break
        return found

    def _value(self, obs: dict[str, Any], path: str, item: ReferralItem) -> Any:
        kind = item["value"]
        label = item["label"]
        if kind == "boolean":
            v = obs.get("valueBoolean")
            if isinstance(v, bool):
                return v
        elif kind == "integer":
            v = obs.get("valueInteger")
            if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
                return v
        elif kind == "dateTime":
            v = obs.get("valueDateTime")
            if isinstance(v, str) and len(v) >= 10:
                return date.fromisoformat(v[:10])
        elif kind == "Quantity":
            return self._duration_value(obs, path, label)
        self._issue(
            f"The {label} needs value{kind[0].upper()}{kind[1:]}"
            + (" (0 or more)" if kind == "integer" else ""),
            f"{path}.value",
            code="value",
        )
        return None

    def _duration_value(self, obs: dict[str, Any], path: str, label: str) -> tuple[float, str | None] | None:
        """(days, the day it was measured on) of a pregnancy duration; its range is checked before
        anything is computed with it (1e308 weeks is a number, not a duration)."""
        q = obs.get("valueQuantity") or {}
        units = self.codes["duration_units"]
        if q.get("value") is None or q.get("code") not in units:
            self._issue(
                f"The {label} needs valueQuantity with a value and a UCUM code d or wk",
                f"{path}.value",
                code="value",
            )
            return None
        days = float(q["value"]) * units[q["code"]]
        lo, hi = self.codes["plausible_gestational_age_days"]
        if not lo <= days <= hi:  # also NaN and infinity
            self._issue(
                f"A {label} of {q['value']} {q['code']} is not plausible: {lo}-{hi} days",
                f"{path}.value",
                code="value",
            )
            return None
        effective = obs.get("effectiveDateTime")
        if effective is None:
            return days, None
        if len(effective) < 10 or date.fromisoformat(effective[:10]) < self.earliest:
            self._issue(
                f"The {label} is measured on a day (effectiveDateTime) on or after {self.earliest}",
                f"{path}.effective",
                code="value",
            )
            return None
        return days, effective[:10]

    def _plausible_value(self, name: str, value: Any, path: str) -> bool:
        """Whether an item's value is plausible (`referral-codes.yaml`); else an issue naming it."""
        label = self.codes["items"][name]["label"]
        bounds = {"parity": self.codes["plausible_parity"], "gravidity": self.codes["plausible_gravidity"]}
        if name in bounds and not bounds[name][0] <= value <= bounds[name][1]:
            lo, hi = bounds[name]
            self._issue(f"A {label} of {value} is not plausible: {lo}-{hi}", f"{path}.value", code="value")
            return False
        if isinstance(value, date) and value < self.earliest:
            self._issue(f"The {label} lies before {self.earliest}", f"{path}.value", code="value")
            return False
        return True

    def _not_ahead(self, request: Entry, referral_date: date | None) -> None:
        """The referral date is not in the future (a day's grace for time zones)."""
        ahead = self.codes["referral_date_max_days_ahead"]
        if referral_date is not None and referral_date > date.today() + timedelta(days=ahead):
            self._issue(
                f"The referral date {referral_date} lies in the future",
                f"{request.path}.authoredOn",
                code="value",
            )

    def _duration(
        self, found: tuple[Entry | None, Any] | None, referral_date: date
    ) -> PregnancyDuration | None:
        if found is None:
            return None
        days, measured = found[1]
        return PregnancyDuration(round(days), date.fromisoformat(measured) if measured else referral_date)

    def _voluntary(self) -> bool | None:
        states = {"active": True, "rejected": False}
        consents = [e for e in self.entries if e.type == "Consent"]
        answers = {states[c.resource["status"]] for c in consents if c.resource.get("status") in states}
        if len(answers) > 1:
            self._issue(
                "The Consents disagree: one says she takes part, another that she does not",
                *(f"{c.path}.status" for c in consents),
            )
            return None
        return answers.pop() if answers else None

    def _plausible(
        self, facts: ReferralFacts, items: dict[str, tuple[Entry | None, Any]], patient: Entry
    ) -> None:
        lo, hi = self.codes["plausible_gestational_age_days"]
        ga = facts.gestational_age_days(eligibility_rules().full_term_days)
        if ga is not None and not lo <= ga <= hi:
            name = "estimated_delivery_date" if facts.estimated_delivery_date else "pregnancy_duration"
            entry = items[name][0]
            self._issue(
                f"The {name.replace('_', ' ')} gives a gestational age of {ga} days at the referral date, "
                f"outside {lo}-{hi}: check the date",
                f"{entry.path}.value" if entry else "Bundle.entry",
                code="value",
            )
        age, (lo, hi) = facts.mother_age_years, self.codes["plausible_mother_age_years"]
        if facts.mother_birth_date and facts.mother_birth_date >= facts.referral_date:
            self._issue(
                "The pregnant woman's birth date lies after the referral date",
                f"{patient.path}.birthDate",
                code="value",
            )
        elif age is not None and not lo <= age <= hi:
            self._issue(
                f"The pregnant woman is {age} years old at the referral date; plausible: {lo}-{hi}",
                f"{patient.path}.birthDate",
                code="value",
            )

    def _conform(self, items: dict[str, tuple[Entry | None, Any]]) -> None:
        """Hold each part of the referral to its profile; every error, named within the Bundle."""
        by_entry = {en.index: self.codes["item_profiles"][name] for name, (en, _) in items.items() if en}
        panel_codes = {(self.systems[k], str(c)) for k, c in self.codes["pregnancy_panel"]}
        # Bundle-internal references point at their entry's type, so reference targets are checked.
        typed = {url: f"{e.type}/{e.index}" for url, e in self.by_ref.items()}
        for en in self.entries:
            profile = self.codes["profiles"].get(en.type) or by_entry.get(en.index)
            codings = en.resource.get("code", {}).get("coding", []) if en.type == "Observation" else []
            if profile is None and any((c.get("system"), c.get("code")) in panel_codes for c in codings):
                profile = self.codes["item_profiles"]["pregnancy_panel"]
            if profile is None:
                continue
            resolved = retarget(copy.deepcopy(en.resource), typed)
            for issue in validate(resolved, f"{CANONICAL_BASE}/StructureDefinition/{profile}"):
                if issue.severity in ("error", "fatal"):
                    where = tuple(
                        en.path + e[len(en.type) :] if e.startswith(en.type) else e for e in issue.expression
                    )
                    self.issues.append(Issue(f"{issue.diagnostics} (profile {profile})", where, issue.code))

    def _date(self, entry: Entry, element: str, required: bool) -> date | None:
        raw = entry.resource.get(element)
        if raw is None:
            if required:
                self._issue(f"{entry.type}.{element} is required", f"{entry.path}.{element}", code="required")
            return None
        if len(raw) < 10:
            self._issue(
                f"{entry.type}.{element} needs at least day precision",
                f"{entry.path}.{element}",
                code="value",
            )
            return None
        try:
            day = datetime.fromisoformat(raw[:10]).date()
        except ValueError:
            self._issue(
                f"{entry.type}.{element} is not a valid date", f"{entry.path}.{element}", code="value"
            )
            return None
        if day < self.earliest:
            self._issue(
                f"{entry.type}.{element} lies before {self.earliest}", f"{entry.path}.{element}", code="value"
            )
            return None
        return day


def _references(value: Any, path: str) -> list[tuple[str, str]]:
    """(FHIRPath, reference) of every literal Reference.reference under `value`, not in `contained`."""
    out: list[tuple[str, str]] = []
    walk_references(value, lambda _holder, ref, where: out.append((where, ref)), path, skip={"contained"})
    return out
