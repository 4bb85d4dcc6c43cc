"""Whether data may be shared, from the client's sharing consents (pure rules)."""

from __future__ import annotations

from datetime import date

from adapter.domain.consent import SharingConsent, may_share

OZKS = "ozks-summary"
DAY = date(2026, 6, 1)


def _c(recorded: str, permit: bool, *, in_force: bool = True, **kw: object) -> SharingConsent:
    return SharingConsent(recorded, permit, frozenset({OZKS}), in_force, **kw)  # type: ignore[arg-type]


def test_without_a_consent_in_force_the_recipients_default_holds() -> None:
    assert may_share([], OZKS, DAY, without_consent=False) is False
    assert may_share([], OZKS, DAY, without_consent=True) is True
    withdrawn = _c("2026-05-01", True, in_force=False)
    assert may_share([withdrawn], OZKS, DAY, without_consent=False) is False


def test_the_newest_consent_in_force_decides() -> None:
    yes, no = _c("2026-05-01", True), _c("2026-05-20", False)
    assert may_share([yes], OZKS, DAY, without_consent=False) is True
    assert may_share([yes, no], OZKS, DAY, without_consent=False) is False
    assert may_share([no, _c("2026-05-25", True)], OZKS, DAY, without_consent=False) is True
    same_moment = [_c("2026-05-01", True, order="b"), _c("2026-05-01", False, order="a")]
    assert may_share(same_moment, OZKS, DAY, without_consent=False) is True


def test_a_consent_counts_only_within_its_period_and_for_its_recipient() -> None:
    bounded = _c("2026-05-01", True, start=date(2026, 5, 1), end=date(2026, 5, 31))
    assert may_share([bounded], OZKS, date(2026, 5, 31), without_consent=False) is True  # its last day
    assert may_share([bounded], OZKS, date(2026, 5, 1), without_consent=False) is True  # its first day
    assert may_share([bounded], OZKS, date(2026, 4, 30), without_consent=False) is False
    assert may_share([bounded], OZKS, DAY, without_consent=False) is False
    assert may_share([_c("2026-05-01", False)], "jgz-dossier", DAY, without_consent=True) is True
