"""`_include` and `_revinclude`: the resources a page of search results points at, or that point at it,
as far as the caller may see them.

A sender asks for its referral loop in one call —
`Task?_id=…&_include=Task:focus&_include=Task:patient&_revinclude:iterate=GuidanceResponse:request` —
and every resource that comes along passes the same two checks as a read: the token's scopes allow
reading its type (else the type is left out, and an OperationOutcome in the Bundle says so), and the
caller's organisation has a part in it (`Viewer.sees`; else it is left out as if it did not exist, never
named). `_include` follows a reference search parameter of the source's (`Task:focus`); `_revinclude`
finds the resources whose parameter points at a result (`CarePlan:subject` on Patient), and for the
decision its referral number (`GuidanceResponse:request`, a token holding the ServiceRequest's
identifier). `:iterate` applies the include to what was included as well, up to `MAX_ROUNDS` rounds.
At most `MAX_INCLUDED` resources come along; past that an OperationOutcome says the list was cut.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from adapter.fhir.search import IDENTIFIER_LINKS, Include
from adapter.fhir.subject import record_of
from adapter.security.access import Viewer
from adapter.security.scopes import READ
from adapter.store.indexing import index_rows
from adapter.store.session import Alternative, Match, Session, Stored

MAX_ROUNDS = 3
MAX_INCLUDED = 500


@dataclass
class Included:
    resources: list[Stored] = field(default_factory=list)
    # Why something may be missing: a type the token may not read, a list cut short.
    notes: list[str] = field(default_factory=list)


def include(s: Session, viewer: Viewer, found: list[Stored], includes: list[Include]) -> Included:
    """What the includes add to `found` (never a resource already in `found`)."""
    out = Included()
    seen = {x.reference for x in found}
    fresh = list(found)
    for round_ in range(MAX_ROUNDS):
        rules = [i for i in includes if round_ == 0 or i.iterate]
        if not fresh or not rules:
            break
        added: list[Stored] = []
        for rule in rules:
            if not _readable(viewer, rule, out):
                continue
            for stored in _follow(s, viewer, rule, fresh, out):
                if stored.reference not in seen and len(out.resources) < MAX_INCLUDED:
                    seen.add(stored.reference)
                    added.append(stored)
                    out.resources.append(stored)
        fresh = added
    if len(out.resources) >= MAX_INCLUDED:
        out.notes.append(f"At most {MAX_INCLUDED} resources are included; ask for a smaller page (_count)")
    return out


def _readable(viewer: Viewer, rule: Include, out: Included) -> bool:
    """Whether the token may read what the rule brings; if not, the Bundle says which type was left out."""
    brought = rule.source if rule.reverse else rule.target
    if brought is None or viewer.principal.may(brought, READ):
        return True
    _left_out(out, brought)
    return False


def _left_out(out: Included, res_type: str) -> None:
    note = f"{res_type} resources are not included: the token does not allow reading {res_type}"
    if note not in out.notes:
        out.notes.append(note)


def _follow(s: Session, viewer: Viewer, rule: Include, fresh: list[Stored], out: Included) -> list[Stored]:
    if rule.reverse:
        return _pointing_at(s, viewer, rule, [x for x in fresh if rule.target in (None, x.res_type)])
    return _pointed_at(s, viewer, rule, [x for x in fresh if x.res_type == rule.source], out)


def _pointed_at(
    s: Session, viewer: Viewer, rule: Include, sources: list[Stored], notes: Included
) -> list[Stored]:
    """`_include`: what the sources' parameter refers to, as far as the caller may read it."""
    out = []
    for ref in dict.fromkeys(_references(sources, rule.param)):
        res_type = ref.split("/", 1)[0]
        if rule.target and res_type != rule.target:
            continue
        if not viewer.principal.may(res_type, READ):
            _left_out(notes, res_type)
            continue
        stored = s.live(ref)
        if stored is not None:
            out += _as_known(s, viewer, stored)
    return out


def _as_known(s: Session, viewer: Viewer, stored: Stored) -> list[Stored]:
    """The resource as the caller knows it: itself when it may see it; for a client record it may not
    see, the copies of her its organisation sent (a referrer's Patient refers to the record)."""
    if viewer.sees(s, stored):
        return [stored]
    if stored.res_type != "Patient":
        return []
    return [c for c in s.find("Patient", link=stored.reference) if record_of(c.content) and viewer.sees(s, c)]


def _references(sources: Iterable[Stored], param: str) -> Iterable[str]:
    for stored in sources:
        for row in index_rows(stored.content):
            if row.param == param and row.value and row.value.count("/") == 1:
                yield row.value


def _pointing_at(s: Session, viewer: Viewer, rule: Include, targets: list[Stored]) -> list[Stored]:
    """`_revinclude`: the source resources whose parameter names one of the targets, within what the
    caller may see (its search limits, as any search of that type)."""
    alternatives = _alternatives(rule, targets)
    if not alternatives:
        return []
    criteria = [Match(rule.param, tuple(alternatives)), *viewer.limits(rule.source)]
    return s.search(rule.source, criteria, MAX_INCLUDED, 0)[1]


def _alternatives(rule: Include, targets: list[Stored]) -> list[Alternative]:
    if (rule.source, rule.param) in IDENTIFIER_LINKS:  # by the target's identifier
        return [
            Alternative(value=str(i["value"]), system=str(i["system"]))
            for t in targets
            for i in t.content.get("identifier", [])
            if isinstance(i, dict) and i.get("system") and i.get("value")
        ]
    # A referrer's copy of her stands for the client record it refers to: what points at the record counts.
    refs = dict.fromkeys(r for t in targets for r in (t.reference, record_of(t.content)) if r)
    return [Alternative(value=r) for r in refs]
