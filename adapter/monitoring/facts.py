"""What the measures count, read from the store: one row of named facts per unit (mappings/measures.yaml).

Each reader reads the resources of a type once, as `Session.search` finds them (narrowed by the search
index where the period allows) but only the elements it looks at (`project`: the database takes them out
of the stored JSON), and joins them in memory by reference, so a report costs a handful of queries
whatever the number of clients; dosage counts the plans' visits in SQL (`plan_activities`). The rows of a
unit are made once for the reports that share a `Facts` (a page: `over` another period). A row always
has `subject` (the client, `Patient/{id}`) and `ref` (the resource the unit is: the referral, the
programme, the birth report, ...).

| unit | one row per | from |
| --- | --- | --- |
| referral | referral (ServiceRequest voorzorg-referral) | its decision, her programme, her Patient |
| programme | programme (EpisodeOfCare voorzorg-programme) that enrolled | track, GA at enrolment |
| phase | programme and phase it entered, and the programme as a whole | phases, ending extensions |
| visit | planned visit (CarePlan activity, not an evaluation) in a phase | the plan, the phases |
| consult | consult request (ServiceRequest category consultation) | its Task (advice, when) |
| birth | birth report (Observation LOINC 93857-1) | its components, her Patient |
| theme | client and theme assessed | theme Observations (voorzorg-theme-observation) |
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

from adapter.data import own_system, theme_scale, themes
from adapter.fhir.dates import date_range
from adapter.mapping.birth_in import birth_outcome
from adapter.mapping.consult_out import advice_of
from adapter.mapping.programme_out import (
    GA_AT_ENROLMENT,
    PROGRAMME_PROFILE,
    phases_of,
    read_programme,
)
from adapter.monitoring.activities import Span, addresses, plan_activities, project
from adapter.monitoring.rules import MeasureRules
from adapter.store.session import Alternative, Match, Session, Stored

Row = dict[str, Any]
REFERRAL_CODE = f"{own_system('voorzorg-referral-item')}|voorzorg-referral"
CONSULT_CATEGORY = "http://snomed.info/sct|11429006"
CONSULT_TASK_CODE = f"{own_system('voorzorg-referral-item')}|voorzorg-consult-request"
BIRTH_REPORT = "http://loinc.org|93857-1"
THEME_SYSTEM = own_system("voorzorg-theme")
SCALE_SYSTEM = own_system("voorzorg-theme-assessment")
TRACK_URL = "https://fhir.voorzorg.nl/StructureDefinition/voorzorg-track"
COUNTED_ASSESSMENTS = ("final", "amended", "corrected")
NOT_VISITS = ("evaluation",)
FIRST_PHASE = "pregnancy"
VERDER = "voorzorg-plan-voorzorg-verder"
#: What the units read of a programme (read_programme, phases_of, _programme_row, the referral's link).
PROGRAMME_ELEMENTS = ("period", "extension", "patient", "type", "referralRequest", "status")


def _token(param: str, value: str) -> Match:
    system, _, code = value.rpartition("|")
    return Match(param, (Alternative(value=code, system=system),))


def _since(param: str, day: date) -> Match:
    """Resources whose date `param` reaches `day` or later (the index's high end)."""
    return Match(param, (Alternative(compare="ge", low=date_range(day.isoformat())[0]),))


def _until(param: str, day: date) -> Match:
    return Match(param, (Alternative(compare="le", high=date_range(day.isoformat())[1]),))


def day(raw: object) -> date | None:
    return date.fromisoformat(raw[:10]) if isinstance(raw, str) and len(raw) >= 10 else None


def _ref(content: dict[str, Any], element: str) -> str | None:
    value = content.get(element)
    if isinstance(value, list):
        value = value[0] if value else None
    ref = (value or {}).get("reference") if isinstance(value, dict) else None
    return str(ref) if ref else None


def _codes(concepts: Iterable[dict[str, Any]], system: str) -> list[str]:
    return [str(c["code"]) for cc in concepts for c in cc.get("coding", []) if c.get("system") == system]


#: One read per type: a region's resources of a type in one query (Session.every pages by 500, each page
#: counting again and skipping the pages before it, which for 10,000 clients cost seconds a type).
ALL = 10_000_000


def _all(session: Session, res_type: str, matches: list[Match]) -> list[Stored]:
    return session.search(res_type, matches, ALL, 0)[1]


def _projected(
    session: Session, res_type: str, matches: list[Match], elements: tuple[str, ...]
) -> list[Stored]:
    """What `_all` finds, each resource holding only the top-level `elements` a reader looks at (the
    database takes them out of the stored JSON: `project`)."""
    return [Stored(res_type, i, 0, "", False, c) for i, c in project(session, res_type, matches, elements)]


def _request_key(guidance: dict[str, Any]) -> tuple[object, object]:
    ident = guidance.get("requestIdentifier") or {}
    return ident.get("system"), ident.get("value")


#: The units whose rows do not depend on the period (its conditions are the measures'): read once for
#: every period a page asks for.
PERIOD_FREE = frozenset({"referral", "programme", "phase", "birth"})


class Facts:
    """The rows of each unit, for one report or for the reports of a page (`over`): a reader reads its
    types once, and a unit's rows are made once (the reports only read them)."""

    def __init__(
        self,
        session: Session,
        rules: MeasureRules,
        start: date,
        end: date,
        cache: dict[str, Any] | None = None,
    ) -> None:
        self.s, self.rules, self.start, self.end = session, rules, start, end
        self._cache: dict[str, Any] = {} if cache is None else cache

    def over(self, start: date, end: date) -> Facts:
        """These facts for another period, sharing what does not depend on it."""
        return (
            self
            if (start, end) == (self.start, self.end)
            else Facts(self.s, self.rules, start, end, self._cache)
        )

    def rows(self, unit: str) -> list[Row]:
        key = f"rows:{unit}" if unit in PERIOD_FREE else f"rows:{unit}:{self.start}:{self.end}"
        return self._once(key, lambda: self._read(unit))  # type: ignore[no-any-return]

    def _read(self, unit: str) -> list[Row]:
        readers: dict[str, Callable[[], list[Row]]] = {
            "referral": self.referrals,
            "programme": self.programmes_enrolled,
            "phase": self.phases,
            "visit": self.visits,
            "consult": self.consults,
            "birth": self.births,
            "theme": self.themes,
        }
        return readers[unit]()

    def _once(self, key: str, load: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]

    # --- shared lookups -------------------------------------------------------------------------
    def patients(self) -> dict[str, dict[str, Any]]:
        return self._once("patients", lambda: addresses(self.s))  # type: ignore[no-any-return]

    def municipality(self, subject: str | None) -> str | None:
        known: dict[str, str] = self._once("municipalities", dict)
        key = subject or ""
        if key not in known:
            known[key] = self.rules.municipality_of(self.patients().get(key, {}))
        return known[key]

    def programmes(self) -> list[Stored]:
        """The programmes: what the units read of them (`PROGRAMME_ELEMENTS`)."""

        profile = Match("_profile", (Alternative(value=PROGRAMME_PROFILE),))
        return self._once(  # type: ignore[no-any-return]
            "programmes", lambda: _projected(self.s, "EpisodeOfCare", [profile], PROGRAMME_ELEMENTS)
        )

    def programme_by_referral(self) -> dict[str, Stored]:
        """Referral -> her programme, holding what a referral's row reads of it (its link and period): the
        programmes read already, or only those two elements of each."""

        def load() -> dict[str, Stored]:
            profile = Match("_profile", (Alternative(value=PROGRAMME_PROFILE),))
            found = self._cache.get("programmes")
            if found is None:
                found = _projected(self.s, "EpisodeOfCare", [profile], ("referralRequest", "period"))
            return {ref: p for p in found if (ref := _ref(p.content, "referralRequest"))}

        return self._once("programme_by_referral", load)  # type: ignore[no-any-return]

    # --- referral -------------------------------------------------------------------------------
    def referrals(self) -> list[Row]:
        referrals = _projected(
            self.s,
            "ServiceRequest",
            # the period is a condition of the measure (facts `referred`); by code alone, PostgreSQL plans
            # three index subqueries of a region's referrals badly (a minute for 10,000 clients)
            [_token("code", REFERRAL_CODE)],
            ("identifier", "subject", "requester", "authoredOn"),
        )
        decisions = {
            _request_key(g.content): g
            for g in _projected(
                self.s,
                "GuidanceResponse",
                [],
                ("requestIdentifier", "extension", "reasonCode", "occurrenceDateTime"),
            )
        }
        requesters = self._requesters(referrals)
        programmes = self.programme_by_referral()
        out = []
        for sr in referrals:
            c = sr.content
            decision = next(
                (
                    decisions[(i.get("system"), i.get("value"))]
                    for i in c.get("identifier", [])
                    if (i.get("system"), i.get("value")) in decisions
                ),
                None,
            )
            programme = programmes.get(sr.reference)
            requester = requesters.get(_ref(c, "requester") or "")
            out.append(self._referral_row(sr, decision, programme, requester))
        return out

    def _requesters(self, referrals: list[Stored]) -> dict[str, dict[str, Any]]:
        wanted = {r for sr in referrals if (r := _ref(sr.content, "requester"))}
        out: dict[str, dict[str, Any]] = {}
        for rtype in {w.split("/")[0] for w in wanted}:
            ids = tuple(Alternative(value=w.split("/", 1)[1]) for w in wanted if w.startswith(f"{rtype}/"))
            for found in _all(self.s, rtype, [Match("_id", ids)]):
                out[found.reference] = found.content
        return out

    def _referral_row(
        self, sr: Stored, decision: Stored | None, programme: Stored | None, requester: dict[str, Any] | None
    ) -> Row:
        c = sr.content
        subject = _ref(c, "subject")
        referred = day(c.get("authoredOn"))
        row: Row = {
            "ref": sr.reference,
            "subject": subject,
            "referred": referred,
            "referrer-kind": self.rules.referrer_kind(requester),
            "municipality": self.municipality(subject),
        }
        if decision is not None:
            g = decision.content
            track = next(
                (e["valueCoding"]["code"] for e in g.get("extension", []) if e.get("url") == TRACK_URL), None
            )
            row["track"] = track
            row["reason"] = _codes(g.get("reasonCode", []), own_system("voorzorg-decision-reason"))
            row["eligible"] = track in self.rules.eligible_tracks
            decided = day(g.get("occurrenceDateTime"))
            if decided and referred:
                row["days-to-decision"] = (decided - referred).days
        enrolled = read_programme(programme.content).enrolled if programme else None
        if enrolled is not None:
            row["enrolled"] = enrolled
            if referred:
                row["days-to-first-visit"] = (enrolled - referred).days
        return row

    # --- programme ------------------------------------------------------------------------------
    def programmes_enrolled(self) -> list[Row]:
        out = []
        for p in self.programmes():
            prog = read_programme(p.content)
            if prog.enrolled is None:
                continue
            row = self._programme_row(p)
            row["enrolled"] = prog.enrolled
            for e in p.content.get("extension", []):
                if e.get("url") == GA_AT_ENROLMENT:
                    row["ga-at-enrolment"] = int(e["valueInteger"])
            out.append(row)
        return out

    def _programme_row(self, p: Stored) -> Row:
        subject = _ref(p.content, "patient")
        tracks = _codes(p.content.get("type", []), own_system("voorzorg-track"))
        return {
            "ref": p.reference,
            "subject": subject,
            "track": tracks[0] if tracks else None,
            "municipality": self.municipality(subject),
        }

    # --- phase ----------------------------------------------------------------------------------
    def phases(self) -> list[Row]:
        out = []
        for p in self.programmes():
            prog = read_programme(p.content)
            if prog.enrolled is None:
                continue
            base = self._programme_row(p)
            ending = prog.ending
            early = ending is not None and ending.reason.value != "completed"
            if ending is not None:
                base["ending-reason"] = ending.reason.value
                base["ended"] = ending.on
            spans: list[tuple[str, date, date | None]] = [
                (ph.phase.value, ph.start, ph.end) for ph in phases_of(p.content)
            ]
            spans.append(("programme", prog.enrolled, ending.on if ending else None))
            for phase, start, end in spans:
                if phase == "verder":
                    continue
                in_phase = (
                    early and ending is not None and start <= ending.on and (end is None or ending.on <= end)
                )
                out.append(
                    {
                        **base,
                        "phase": phase,
                        "phase-start": start,
                        "phase-end": end,
                        "ended-early-in-phase": in_phase,
                    }
                )
        return out

    # --- visit ----------------------------------------------------------------------------------
    def visits(self) -> list[Row]:
        """One row per passed phase of a programme, weighted: `visits` planned in it, `done` of them."""
        passed = [(referral, ph) for referral, phases in self._passed_phases().items() for ph in phases]
        # activities dated from a year before the period (a phase ending in it began at most a year before)
        # until its end; visits before her enrolment (the plan starts at the referral) belong to her first
        # phase
        window = (self.start - timedelta(days=366)).isoformat()
        spans = [
            Span(
                referral,
                window if ph["phase"] == FIRST_PHASE else max(window, ph["phase-start"].isoformat()),
                min(self.end, ph["phase-end"]).isoformat(),
            )
            for referral, ph in passed
        ]
        rows = [ph for _, ph in passed]
        for counted in plan_activities(self.s, spans):
            if not counted.canonical.endswith(VERDER) and counted.kind not in NOT_VISITS:
                rows[counted.span]["visits"] += counted.visits
                rows[counted.span]["done"] += counted.done
        return rows

    def _passed_phases(self) -> dict[str, list[Row]]:
        """Referral -> the phase rows of her programme that ended in the period, the phase completed."""
        out: dict[str, list[Row]] = defaultdict(list)
        by_programme = {p.reference: _ref(p.content, "referralRequest") for p in self.programmes()}
        for row in self.rows("phase"):
            end = row["phase-end"]
            if row["phase"] == "programme" or end is None or not self.start <= end <= self.end:
                continue
            ended = row.get("ended")
            completed = ended is None or ended > end or row.get("ending-reason") == "completed"
            referral = by_programme.get(row["ref"])
            if referral:
                out[referral].append({**row, "phase-completed": completed, "visits": 0, "done": 0})
        return out

    # --- consult --------------------------------------------------------------------------------
    def consults(self) -> list[Row]:
        requests = _projected(
            self.s,
            "ServiceRequest",
            [
                _token("category", CONSULT_CATEGORY),
                _since("authored", self.start),
                _until("authored", self.end),
            ],
            ("authoredOn", "subject", "reasonCode"),
        )
        task_elements = ("focus", "status", "output", "executionPeriod", "lastModified")
        tasks = {
            _ref(t.content, "focus"): t.content
            for t in _projected(self.s, "Task", [_token("code", CONSULT_TASK_CODE)], task_elements)
        }
        out = []
        for sr in requests:
            c = sr.content
            requested = day(c.get("authoredOn"))
            row: Row = {
                "ref": sr.reference,
                "subject": _ref(c, "subject"),
                "requested": requested,
                "reason": _codes(c.get("reasonCode", []), own_system("voorzorg-decision-reason")),
            }
            task = tasks.get(sr.reference)
            advice = advice_of(task) if task and task.get("status") == "completed" else None
            if task and advice is not None:
                row["advice"] = advice.code
                period = task.get("executionPeriod") or {}
                answered = day(task.get("lastModified")) or day(period.get("end"))
                if answered and requested:
                    row["days-to-advice"] = (answered - requested).days
            out.append(row)
        return out

    # --- birth ----------------------------------------------------------------------------------
    def births(self) -> list[Row]:
        # the birth date is the report's value (valueDateTime), which no search parameter indexes
        reports = _projected(
            self.s,
            "Observation",
            [_token("code", BIRTH_REPORT)],
            ("status", "component", "subject", "valueDateTime"),
        )
        out = []
        for obs in reports:
            c = obs.content
            if c.get("status") not in COUNTED_ASSESSMENTS:
                continue
            outcome, _ = birth_outcome(c)
            subject = _ref(c, "subject")
            row: Row = {
                "ref": obs.reference,
                "subject": subject,
                "born": day(c.get("valueDateTime")),
                "municipality": self.municipality(subject),
            }
            if outcome.gestational_age_days is not None:
                row["ga-at-birth"] = outcome.gestational_age_days
            if outcome.birth_weights_grams:
                row["lowest-weight"] = min(outcome.birth_weights_grams)
            out.append(row)
        return out

    # --- theme ----------------------------------------------------------------------------------
    def themes(self) -> list[Row]:
        observations = project(
            self.s,
            "Observation",
            [
                Match("code", tuple(Alternative(value=t.code, system=THEME_SYSTEM) for t in themes())),
                _until("date", self.end),
            ],
            ("status", "code", "valueCodeableConcept", "effectiveDateTime", "subject.reference"),
        )
        levels = theme_scale().levels
        seen: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
        for _, c in observations:
            codes = _codes([c.get("code", {})], THEME_SYSTEM)
            values = _codes([c.get("valueCodeableConcept", {})], SCALE_SYSTEM)
            when = str(c.get("effectiveDateTime", ""))
            if c.get("status") in COUNTED_ASSESSMENTS and codes and values and values[0] in levels and when:
                seen[str(c.get("subject.reference") or None), codes[0]].append((when, levels[values[0]]))
        out = []
        for (subject, theme), found in seen.items():
            found.sort()
            first, latest = found[0][1], found[-1][1]
            trend = "improved" if latest < first else "worsened" if latest > first else "unchanged"
            out.append(
                {
                    "ref": subject,
                    "subject": subject,
                    "theme": theme,
                    "assessments": len(found),
                    "latest": day(found[-1][0]),
                    "trend": trend if len(found) > 1 else None,
                }
            )
        return out
