"""The FHIR read interactions on stored resources — read, vread, history, search — as far as the caller
may see (`Viewer`): what it may not see answers as what does not exist (404), never 403. A referrer's
history and vread show the versions it and the JGZ wrote, never one another referrer wrote."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapter.fhir.outcome import FhirError
from adapter.fhir.search import SearchQuery
from adapter.security.access import Viewer
from adapter.store.engine import Store
from adapter.store.session import Session, Stored
from adapter.workflows.including import include


@dataclass(frozen=True)
class Page:
    total: int
    found: list[Stored]
    included: list[Stored] = field(default_factory=list)  # _include / _revinclude (workflows/including)
    notes: list[str] = field(default_factory=list)  # what was left out of them, and why


def _visible(s: Session, viewer: Viewer, res_type: str, res_id: str) -> Stored:
    """The resource (current version, possibly a deletion) when the caller may see it; else 404."""
    stored = viewer.visible(s, s.get(res_type, res_id))
    if stored is None:
        raise FhirError.one(404, f"{res_type}/{res_id} is not known", code="not-found")
    return stored


def read(store: Store, viewer: Viewer, res_type: str, res_id: str) -> Stored:
    with store.reading() as s:
        stored = _visible(s, viewer, res_type, res_id)
    if stored.deleted:
        raise FhirError.one(410, f"{res_type}/{res_id} was deleted", code="deleted")
    return stored


def vread(store: Store, viewer: Viewer, res_type: str, res_id: str, version: str) -> Stored:
    missing = FhirError.one(404, f"{res_type}/{res_id} has no version {version}", code="not-found")
    if not version.isdigit():
        raise missing
    with store.reading() as s:
        current = viewer.visible(s, s.get(res_type, res_id))
        stored = s.get_version(res_type, res_id, int(version)) if current else None
    if stored is None or not viewer.sees_version(stored):  # another referrer's version: as if none
        raise missing
    if stored.deleted:
        raise FhirError.one(410, f"Version {version} of {res_type}/{res_id} is a deletion", code="deleted")
    return stored


def history(
    store: Store, viewer: Viewer, res_type: str, res_id: str | None, since: str | None, count: int
) -> tuple[Page, Stored | None]:
    """The versions of one resource (`res_id`) or of a whole type (only for a caller who sees all data),
    newest first; and the resource itself when one was asked for."""
    if res_id is None and viewer.scope != "all":
        raise FhirError.one(
            403, "History of a whole type needs access to all data; ask per resource", code="forbidden"
        )
    with store.reading() as s:
        current = _visible(s, viewer, res_type, res_id) if res_id is not None else None
        total, versions = s.history(res_type, res_id, since, count, 0, author_in=viewer.versions_of)
    return Page(total, versions), current


def search(store: Store, viewer: Viewer, res_type: str, query: SearchQuery) -> Page:
    """One page of a search, kept inside what the caller may see."""
    with store.reading() as s:
        total, found = s.search(
            res_type, query.matches + viewer.limits(res_type), query.count, query.offset, query.newest_first
        )
        extra = include(s, viewer, found, query.includes)
    return Page(total, found, extra.resources, extra.notes)
