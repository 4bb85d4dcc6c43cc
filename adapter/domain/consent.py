"""Whether a client's data may go to a recipient, from her sharing consents (pure).

The newest consent in force that is about the recipient decides (permit or deny); a withdrawn consent
(no longer in force) simply stops counting, so withdrawal takes effect the moment it is recorded. With
no consent in force the recipient's default holds (mappings/sharing.yaml: opt-in for the OZKS, opt-out
for the JGZ dossier).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class SharingConsent:
    recorded: str  # Consent.dateTime (ISO 8601; compares in order), ties broken by `order`
    permit: bool
    recipients: frozenset[str]
    in_force: bool  # status active
    start: date | None = None
    end: date | None = None
    order: str = ""  # e.g. lastUpdated: the later of two consents recorded at the same moment wins

    def covers(self, recipient: str, on: date) -> bool:
        return (
            self.in_force
            and recipient in self.recipients
            and (self.start is None or self.start <= on)
            and (self.end is None or on <= self.end)
        )


def may_share(consents: Iterable[SharingConsent], recipient: str, on: date, *, without_consent: bool) -> bool:
    covering = [c for c in consents if c.covers(recipient, on)]
    if not covering:
        return without_consent
    return max(covering, key=lambda c: (c.recorded, c.order)).permit
