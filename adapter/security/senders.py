"""Who may send a referral, and in whose name (access-policy.yaml `intake`).

A role with `intake: any` (the JGZ itself) may take in a referral from any requester; a role with
`intake: own` (an obstetric practice) sends in its own name only — the referral's requester carries its
organisation — and its referral numbers are its own (the same number from another sender is another
referral); `none` sends nothing. The receive-a-referral workflow (`adapter.workflows.intake`) asks these
questions, and keeps a referrer's Patient as its own copy (`keeps_own_copy`).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.data import operation_roles
from adapter.fhir.outcome import FhirError
from adapter.mapping.referral_in import Referral
from adapter.mapping.sharing import sharing_consent
from adapter.security.principal import Principal

_SR_REQUESTER = "Bundle.entry.resource.ofType(ServiceRequest).requester"


@dataclass(frozen=True)
class Sender:
    intake: str  # any | own | none
    organization: str | None
    role: str = "jgz"

    @classmethod
    def of(cls, who: Principal) -> Sender:
        return cls(who.intake, who.organization, who.role)

    @classmethod
    def trusted(cls) -> Sender:
        """The organisation running the adapter itself (a command, a test set-up): any requester."""
        return cls("any", None)

    def sends(self) -> None:
        """403 for a role that sends no referrals at all, before anything it sent is read."""
        if self.intake == "none":
            raise FhirError.one(403, "This client may not send referrals", code="forbidden")

    def numbering(self, referral: Referral) -> str:
        """The organisation whose numbering the referral's keys are in — its referral number, the
        Organization and Practitioner records it sends — so one sender's numbers never meet another's:
        the sender's own; for the JGZ taking in a referral, its requester's ('' without one)."""
        if self.intake == "own" and self.organization:
            return self.organization
        return referral.requester_organizations[0] if referral.requester_organizations else ""

    @property
    def keeps_own_copy(self) -> bool:
        """A referrer's Patient is kept as its own copy with its referral; only the JGZ (taking in a
        referral itself) writes the client record."""
        return self.intake != "any"

    def may_send_consents(self, referral: Referral) -> None:
        """403 when the referral carries a sharing consent and this sender does not record those: a
        referrer sends only the voluntary-participation Consent (access-policy.yaml `sharing-consent`)."""
        if self.role in operation_roles().get("sharing-consent", []):
            return
        for en in referral.entries:
            if en.type == "Consent" and sharing_consent(en.resource) is not None:
                raise FhirError.one(
                    403,
                    "A referral carries only the voluntary-participation Consent; sharing consents are "
                    "recorded by the JGZ",
                    en.path.removesuffix(".resource"),
                    code="forbidden",
                )

    def may_send(self, requesters: list[str]) -> None:
        """403 unless this sender may send a referral with these requester organisations."""
        if self.intake == "any" or (self.intake == "own" and self.organization in requesters):
            return
        raise FhirError.one(
            403,
            "This client may not send a referral with this requester: "
            "the requester must be its own organisation",
            _SR_REQUESTER,
            code="forbidden",
        )
