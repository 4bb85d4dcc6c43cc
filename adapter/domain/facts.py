"""What a referral says, in the domain's own words: dates, counts and yes/no answers.

No FHIR here: the mapper in `adapter.mapping.referral_in` fills this from a Bundle, and the decision
reads only this. `None` always means "the referral does not say".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


def gestational_age_on(day: date, expected_birth: date, full_term_days: int) -> int:
    """GA in days on `day` of a pregnancy due on `expected_birth`: full term minus the days still to go."""
    return full_term_days - (expected_birth - day).days


@dataclass(frozen=True)
class PregnancyDuration:
    """A recorded pregnancy duration and the day it was measured on."""

    days: int
    measured_on: date


@dataclass(frozen=True)
class ReferralFacts:
    referral_date: date
    mother_birth_date: date | None = None
    estimated_delivery_date: date | None = None
    pregnancy_duration: PregnancyDuration | None = None
    delivery_date: date | None = None
    parity: int | None = None
    gravidity: int | None = None
    very_vulnerable: bool | None = None
    serious_parenting_problems: bool | None = None
    forced_framework: bool | None = None
    voluntary: bool | None = None

    @property
    def child_born(self) -> bool:
        return self.delivery_date is not None and self.delivery_date <= self.referral_date

    @property
    def child_age_days(self) -> int | None:
        if self.delivery_date is None or not self.child_born:
            return None
        return (self.referral_date - self.delivery_date).days

    def gestational_age_days(self, full_term_days: int) -> int | None:
        """GA at the referral date: from the EDD when present, else the duration projected forward."""
        if self.child_born:
            return None
        if self.estimated_delivery_date is not None:
            return gestational_age_on(self.referral_date, self.estimated_delivery_date, full_term_days)
        return self._projected_age_days()

    def _projected_age_days(self) -> int | None:
        """The pregnancy's duration as measured, projected forward to the referral date (no EDD needed)."""
        if self.child_born or self.pregnancy_duration is None:
            return None
        d = self.pregnancy_duration
        return d.days + (self.referral_date - d.measured_on).days

    def expected_birth(self, full_term_days: int) -> date | None:
        """The EDD when the referral gives one, else the day the GA reaches full term; None when the
        referral says neither (or the child is born and no EDD was given)."""
        if self.estimated_delivery_date is not None:
            return self.estimated_delivery_date
        ga = self._projected_age_days()
        return self.referral_date + timedelta(days=full_term_days - ga) if ga is not None else None

    @property
    def earlier_births(self) -> int | None:
        """Parity, or 0 when gravidity 1 says this is the first pregnancy (gravidity >= 2 proves nothing)."""
        if self.parity is not None:
            return self.parity
        if self.gravidity == 1:
            return 0
        return None

    @property
    def mother_age_years(self) -> int | None:
        b = self.mother_birth_date
        if b is None:
            return None
        r = self.referral_date
        return r.year - b.year - ((r.month, r.day) < (b.month, b.day))


@dataclass(frozen=True)
class Deployment:
    """What the receiving organisation brings: the extra modules its VoorZorg nurses are trained for;
    and who it is and whom it consults ("system|value"; empty: the configuration's defaults)."""

    trained_modules: frozenset[str]
    organization: str = ""
    consult_organization: str = ""
