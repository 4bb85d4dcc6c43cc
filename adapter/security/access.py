"""What one caller may see: the access policy (mappings/access-policy.yaml `data`) applied to its token.

A `Viewer` answers the two questions every read, search and write asks, in one place so they agree:
`sees(session, stored)` (else the resource is treated as if it did not exist: 404, never 403) and
`limits(resource_type)` (extra criteria that keep a search inside what it may see). Workflows that
read on a caller's behalf take a Viewer; the HTTP layer makes it from the request's principal.

    all           every resource (the JGZ organisation runs VoorZorg for its clients)
    organization  only resources the caller's organisation has a part in (the referrals it sent)
    consult       only VoorZorg Consult requests put to the caller's own organisation
    summaries     only OZKS summaries (EpisodeOfCare of profile voorzorg-ozks-summary), not her programme
    none          nothing
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.fhir.outcome import FhirError
from adapter.security.audit import note_read
from adapter.security.principal import Principal, consult_request_markers
from adapter.store.indexing import IndexRow, index_rows
from adapter.store.session import ACCESS, Alternative, Match, Session, Stored

#: The one profile the `summaries` data scope sees (the OZKS summary; never the programme itself).
SUMMARY_PROFILE = "https://fhir.voorzorg.nl/StructureDefinition/voorzorg-ozks-summary"
#: Matches nothing: '*' is no FHIR id character (and no NUL byte, which PostgreSQL refuses in text).
NOTHING = [Match("_id", (Alternative(value="*nothing*"),))]


@dataclass(frozen=True)
class Viewer:
    principal: Principal

    @classmethod
    def everything(cls) -> Viewer:
        """The organisation running the adapter, acting itself (commands, the adapter's own work)."""
        return cls(Principal(client_id="voorzorg-adapter", role="jgz", organization=None))

    @property
    def scope(self) -> str:
        return self.principal.data_scope

    def sees(self, s: Session, stored: Stored) -> bool:
        """Whether the caller's organisation has a part in this resource."""
        if self.scope == "all":
            return True
        organization = self.principal.organization
        if self.scope == "organization":
            return organization is not None and s.has_access(stored.res_type, stored.res_id, organization)
        if self.scope == "summaries":
            profiles = (stored.content.get("meta") or {}).get("profile", [])
            return stored.res_type == "EpisodeOfCare" and SUMMARY_PROFILE in profiles
        if self.scope == "consult":
            matches = self._consult_matches(stored.res_type)
            if matches is None:
                return False
            rows = index_rows(stored.content)
            return all(any(_satisfies(r, m) for r in rows) for m in matches)
        return False

    def visible(self, s: Session, stored: Stored | None) -> Stored | None:
        """The resource when the caller may see it; else None, so its existence does not leak (404)."""
        return stored if stored is not None and self.sees(s, stored) else None

    def found(self, s: Session, reference: str, what: str | None = None) -> Stored:
        """The current version of `Type/id` when the caller may see it; 404 (never 403) otherwise."""
        stored = s.live(reference)
        if stored is None or not self.sees(s, stored):
            raise FhirError.one(404, f"{what or reference} is not known", code="not-found")
        note_read(s, stored)
        return stored

    @property
    def versions_of(self) -> str | None:
        """Whose versions history and vread show besides the JGZ's: the caller's own organisation's, when it
        sees only its part (never another referrer's); None: every version (the JGZ)."""
        return None if self.scope == "all" else (self.principal.organization or "")

    def sees_version(self, version: Stored) -> bool:
        return self.versions_of is None or version.author in (None, self.versions_of)

    def limits(self, resource_type: str) -> list[Match]:
        """Extra search criteria that keep a search inside what the caller may see."""
        if self.scope == "all":
            return []
        if self.scope == "organization" and self.principal.organization:
            return [Match(ACCESS, (Alternative(value=self.principal.organization),))]
        if self.scope == "summaries" and resource_type == "EpisodeOfCare":
            return [Match("_profile", (Alternative(value=SUMMARY_PROFILE),))]
        if self.scope == "consult":
            matches = self._consult_matches(resource_type)
            if matches is not None:
                return matches
        return NOTHING

    def _consult_matches(self, resource_type: str) -> list[Match] | None:
        """What makes a resource one of this consult team's requests (mappings/access-policy.yaml): the
        consult marker, and its own organisation as the one asked (Task.owner, ServiceRequest.performer),
        so a consult team never sees questions put to another. None: nothing of this type is its."""
        marker = consult_request_markers().get(resource_type)
        system, _, value = (self.principal.organization or "").partition("|")
        if marker is None or not system or not value:
            return None
        return [
            Match(marker["param"], (Alternative(value=marker["code"], system=marker["system"]),)),
            Match(marker["organization"], (Alternative(value=value, system=system),)),
        ]


def _satisfies(row: IndexRow, match: Match) -> bool:
    """Whether a search-index row meets a criterion, as the store's search would (tokens only), so a
    read and a search of the same role agree."""
    return row.param == match.param and any(
        row.value == a.value and (a.system is None or row.system == (a.system or None))
        for a in match.alternatives
    )
