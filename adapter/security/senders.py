"""Who may send a referral, and in whose name (access-policy.yaml `intake`).

A role with `intake: any` (the JGZ itself) may take in a referral from any requester; a role with
`intake: own` (an obstetric practice) sends in its own name only — the referral's requester carries its
organisation — and resends only its own referrals; `none` sends nothing. The receive-a-referral workflow
(`adapter.workflows.intake.receive_referral`) asks these questions, the second inside its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.data import operation_roles
from adapter.fhir.outcome import FhirError
from adapter.mapping.referral_in import Referral
from adapter.mapping.sharing import sharing_consent
from adapter.security.principal import Principal
from adapter.store.session import Session

_SR_IDENTIFIER = "Bundle.entry.resource.ofType(ServiceRequest).identifier"
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

    def may_use_number(self, s: Session, identifier: tuple[str, str]) -> None:
        """409 when a sender in its own name resends a referral number another sender uses."""
        if self.intake != "own" or self.organization is None:
            return
        existing = s.find_key("ServiceRequest", *identifier)
        if existing is None or s.has_access("ServiceRequest", existing, self.organization):
            return
        raise FhirError.one(
            409,
            "This referral number is already in use by another sender; use your own numbering",
            _SR_IDENTIFIER,
            code="conflict",
        )
