"""Property-based checks of the eligibility decision (domain page §2) over arbitrary referral facts.

Two kinds: invariants that hold for any facts (never raises, incomplete ⇔ missing, ...), and, for
referrals that carry every input, agreement with `page_decision`, a direct reading of §2 written
independently of `adapter.domain.eligibility`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapter.data import eligibility_rules
from adapter.domain.eligibility import Decision, Evidence, Reason, Track, decide
from adapter.domain.facts import Deployment, PregnancyDuration, ReferralFacts

INTAKE_TRACKS = {
    Track.VOORZORG,
    Track.VOORZORG_2,
    Track.LATE_START,
    Track.CONSULT,
    Track.NOT_ELIGIBLE,
    Track.INCOMPLETE,
}
MODULES = ("voorzorg-2", "late-start")

RULES = eligibility_rules()

referral_dates = st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31))
maybe_bool = st.none() | st.booleans()
deployments = st.frozensets(st.sampled_from(MODULES)).map(Deployment)


@st.composite
def any_facts(draw: st.DrawFn) -> ReferralFacts:
    """Any referral: every optional input either absent or set to a plausible value around the referral."""
    ref = draw(referral_dates)

    def near(lo: int, hi: int) -> st.SearchStrategy[date]:
        return st.integers(lo, hi).map(lambda n: ref + timedelta(days=n))

    duration = st.builds(
        PregnancyDuration,
        days=st.integers(0, 300),
        measured_on=near(-300, 0),
    )
    return ReferralFacts(
        referral_date=ref,
        mother_birth_date=draw(st.none() | near(-50 * 365, -12 * 365)),
        estimated_delivery_date=draw(st.none() | near(-30, 300)),
        pregnancy_duration=draw(st.none() | duration),
        delivery_date=draw(st.none() | near(-500, 30)),
        parity=draw(st.none() | st.integers(0, 8)),
        gravidity=draw(st.none() | st.integers(1, 10)),
        very_vulnerable=draw(maybe_bool),
        serious_parenting_problems=draw(maybe_bool),
        forced_framework=draw(maybe_bool),
        voluntary=draw(maybe_bool),
    )


def near_boundary(boundary: int, lo: int, hi: int) -> st.SearchStrategy[int]:
    """Mostly within a day or two of a threshold, otherwise anywhere in [lo, hi]."""
    return st.integers(boundary - 2, boundary + 2) | st.integers(lo, hi)


@st.composite
def complete_facts(draw: st.DrawFn) -> ReferralFacts:
    """A referral that says everything §2 asks: timing (one or more sources), parity (or gravidity 1), ...

    GA, child age and the mother's age cluster around the page's thresholds (196 days, 42 days, the 26th
    birthday), so the oracle comparison meets the boundaries, not only the easy middle.
    """
    ref = draw(referral_dates)
    timing = draw(st.sampled_from(["edd", "duration", "both", "born"]))
    edd = duration = delivery = None
    if timing in ("edd", "both"):
        ga = draw(near_boundary(196, -20, 300))
        edd = ref + timedelta(days=280 - ga)
    if timing in ("duration", "both"):
        ga = draw(near_boundary(196, 0, 300))
        since = draw(st.integers(0, min(ga, 200)))
        duration = PregnancyDuration(days=ga - since, measured_on=ref - timedelta(days=since))
    if timing == "born":
        delivery = ref - timedelta(days=draw(near_boundary(42, 0, 120)))
    if draw(st.booleans()):
        parity, gravidity = draw(st.integers(0, 6)), draw(st.none() | st.integers(1, 8))
    else:
        parity, gravidity = None, 1
    years = draw(st.integers(24, 27) | st.integers(13, 45))
    birthday = (
        ref.replace(year=ref.year - years)
        if (ref.month, ref.day) != (2, 29)
        else ref.replace(year=ref.year - years, day=28)
    )
    mother_birth_date = birthday + timedelta(days=draw(st.integers(-2, 2) | st.integers(-364, 364)))
    return ReferralFacts(
        referral_date=ref,
        mother_birth_date=mother_birth_date,
        estimated_delivery_date=edd,
        pregnancy_duration=duration,
        delivery_date=delivery,
        parity=parity,
        gravidity=gravidity,
        very_vulnerable=draw(st.booleans()),
        serious_parenting_problems=draw(st.booleans()),
        forced_framework=draw(st.booleans()),
        voluntary=draw(st.booleans()),
    )


def page_decision(
    f: ReferralFacts, trained: frozenset[str]
) -> tuple[Track, tuple[Reason, ...], Evidence | None, bool, int | None, int | None]:
    """§2 for a complete referral: (track, reasons, evidence, consult_required, GA days, child age days)."""
    born = f.delivery_date is not None and f.delivery_date <= f.referral_date
    child_age = (f.referral_date - f.delivery_date).days if born and f.delivery_date else None
    ga: int | None = None
    if not born:
        if f.estimated_delivery_date is not None:
            ga = 280 - (f.estimated_delivery_date - f.referral_date).days
        elif f.pregnancy_duration is not None:
            ga = f.pregnancy_duration.days + (f.referral_date - f.pregnancy_duration.measured_on).days
    timing = (ga, child_age)

    if not f.very_vulnerable:
        return (Track.NOT_ELIGIBLE, (Reason.NOT_VERY_VULNERABLE,), None, False, *timing)
    if child_age is not None and child_age > 42:
        return (Track.NOT_ELIGIBLE, (Reason.CHILD_OLDER_THAN_6_WEEKS,), None, False, *timing)
    if not f.voluntary or f.forced_framework:
        return (Track.CONSULT, (Reason.FORCED_FRAMEWORK,), None, True, *timing)

    late = born or (ga is not None and ga >= 196)
    parity = f.parity if f.parity is not None else 0  # complete facts: parity or gravidity 1
    if parity == 0 and not late:
        assert f.mother_birth_date is not None
        b, r = f.mother_birth_date, f.referral_date
        age = r.year - b.year - (1 if (r.month, r.day) < (b.month, b.day) else 0)
        first_pregnancy = f.gravidity is None or f.gravidity <= 1  # seed 002: "een eerste zwangerschap"
        if age < 26 and first_pregnancy:
            return (Track.VOORZORG, (), Evidence.PROVEN_EFFECTIVE, False, *timing)
        return (Track.VOORZORG, (Reason.AGE_OVER_25,) if age >= 26 else (), None, False, *timing)
    if parity >= 1 and not f.serious_parenting_problems:
        return (Track.CONSULT, (Reason.OUTSIDE_CRITERIA,), None, True, *timing)
    if parity >= 1 and late:
        return (Track.CONSULT, (Reason.LATE_START_PLUS_2,), None, True, *timing)
    track = Track.LATE_START if parity == 0 else Track.VOORZORG_2
    if track.value in trained:
        return (track, (), Evidence.UNDER_RESEARCH, False, *timing)
    return (track, (Reason.NURSE_NOT_TRAINED,), Evidence.UNDER_RESEARCH, True, *timing)


def summary(d: Decision) -> tuple[Track, tuple[Reason, ...], Evidence | None, bool, int | None, int | None]:
    return (d.track, d.reasons, d.evidence, d.consult_required, d.gestational_age_days, d.child_age_days)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(complete_facts(), deployments)
def test_complete_referrals_follow_the_page(f: ReferralFacts, deployment: Deployment) -> None:
    d = decide(f, RULES, deployment)
    assert d.missing == ()
    assert summary(d) == page_decision(f, deployment.trained_modules)


@settings(max_examples=600)
@given(any_facts(), deployments)
def test_invariants_for_any_referral(f: ReferralFacts, deployment: Deployment) -> None:
    d = decide(f, RULES, deployment)  # never raises

    assert d.track in INTAKE_TRACKS  # never voorzorg-verder: not an intake track
    assert (d.track is Track.INCOMPLETE) == bool(d.missing)
    if d.track is Track.CONSULT:
        assert d.consult_required
    if Reason.NURSE_NOT_TRAINED in d.reasons:
        assert d.consult_required
        assert d.track in (Track.VOORZORG_2, Track.LATE_START)
    if d.evidence is Evidence.PROVEN_EFFECTIVE:
        assert d.track is Track.VOORZORG
        assert f.parity == 0 or (f.parity is None and f.gravidity == 1)
        assert f.voluntary is True and f.forced_framework is not True
        assert d.gestational_age_days is not None and d.gestational_age_days < 196
    if d.evidence is Evidence.UNDER_RESEARCH:
        assert d.track in (Track.VOORZORG_2, Track.LATE_START)
    if d.is_voorzorg_track:
        assert f.very_vulnerable is True and f.voluntary is True and f.forced_framework is not True
    # A forced framework not reported is never missing data: none is known, the intake visit confirms it.
    assert RULES.missing_items["forced_framework"] not in d.missing
    assert d.to_confirm in ((), ("forced_framework",))
    if d.to_confirm:
        assert f.forced_framework is None
    if f.very_vulnerable is False:
        assert (d.track, d.reasons) == (Track.NOT_ELIGIBLE, (Reason.NOT_VERY_VULNERABLE,))
    # GA and child age are never both given: a born child has an age, not a gestational age.
    assert d.gestational_age_days is None or d.child_age_days is None


@settings(max_examples=400)
@given(any_facts(), deployments)
def test_an_incomplete_decision_asks_only_for_what_the_referral_does_not_say(
    f: ReferralFacts, deployment: Deployment
) -> None:
    d = decide(f, RULES, deployment)
    said = {
        "very_vulnerable": f.very_vulnerable is not None,
        "pregnancy_timing": f.estimated_delivery_date is not None
        or f.pregnancy_duration is not None
        or (f.delivery_date is not None and f.delivery_date <= f.referral_date),
        "voluntary": f.voluntary is not None,
        "forced_framework": f.forced_framework is not None,
        "parity": f.parity is not None or f.gravidity == 1,
        "serious_parenting_problems": f.serious_parenting_problems is not None,
        "mother_birth_date": f.mother_birth_date is not None,
    }
    wording = {RULES.missing_items[k]: k for k in said}
    for item in d.missing:
        assert item in wording, item
        assert not said[wording[item]], wording[item]
    assert len(set(d.missing)) == len(d.missing)


@settings(max_examples=400)
@given(complete_facts(), deployments, st.data())
def test_training_only_adds_a_consult(f: ReferralFacts, deployment: Deployment, data: st.DataObject) -> None:
    """Dropping trained modules never changes the track or evidence; it can only add nurse-not-trained."""
    fewer = Deployment(frozenset(m for m in sorted(deployment.trained_modules) if data.draw(st.booleans())))
    full, less = decide(f, RULES, deployment), decide(f, RULES, fewer)
    assert (less.track, less.evidence) == (full.track, full.evidence)

    def other(d: Decision) -> tuple[Reason, ...]:
        return tuple(r for r in d.reasons if r is not Reason.NURSE_NOT_TRAINED)

    assert other(less) == other(full)
    assert set(full.reasons) <= set(less.reasons)
    assert less.consult_required >= full.consult_required


@settings(max_examples=300)
@given(complete_facts(), deployments, st.sampled_from(["very_vulnerable", "voluntary"]))
@example(
    ReferralFacts(
        referral_date=date(2025, 3, 10),
        mother_birth_date=date(2000, 1, 1),
        estimated_delivery_date=date(2025, 6, 1),
        parity=0,
        very_vulnerable=True,
        forced_framework=False,
        voluntary=True,
    ),
    Deployment(frozenset()),
    "voluntary",
)
def test_forgetting_a_needed_yes_no_answer_never_yields_a_voorzorg_track(
    f: ReferralFacts, deployment: Deployment, field: str
) -> None:
    """A VoorZorg track needs very vulnerable and voluntary to be known (a forced framework is reported
    when there is one: not reported is none known, see the next test)."""
    d = decide(replace(f, **{field: None}), RULES, deployment)
    assert not d.is_voorzorg_track


@settings(max_examples=300)
@given(complete_facts(), deployments)
def test_a_forced_framework_not_reported_decides_as_none_known(
    f: ReferralFacts, deployment: Deployment
) -> None:
    """Domain page §2: not reported = none known; the same decision as "no forced framework", noting it."""
    unreported = decide(replace(f, forced_framework=None), RULES, deployment)
    known = decide(replace(f, forced_framework=False), RULES, deployment)
    assert summary(unreported) == summary(known)
    asked = (
        known.track is not Track.NOT_ELIGIBLE and f.voluntary is True
    )  # the walk reached step 4 and went on
    assert unreported.to_confirm == (("forced_framework",) if asked else ()) and known.to_confirm == ()
    assert unreported.explanation.startswith(known.explanation)


@settings(max_examples=300)
@given(referral_dates, st.integers(-3, 3) | st.integers(-2000, 2000))
@example(date(2025, 3, 10), 0)
@example(date(2025, 3, 10), 1)
def test_proven_effective_until_the_day_before_the_26th_birthday(ref: date, shift: int) -> None:
    """First child before 28 weeks: proven effective exactly while the referral precedes her 26th birthday.

    Birth dates on 29 February are left out: the page does not say when such a birthday falls.
    """
    birthday_26 = ref + timedelta(days=shift)
    if (birthday_26.month, birthday_26.day) == (2, 29):
        return
    birth = birthday_26.replace(year=birthday_26.year - 26)
    f = ReferralFacts(
        referral_date=ref,
        mother_birth_date=birth,
        estimated_delivery_date=ref + timedelta(days=150),
        parity=0,
        very_vulnerable=True,
        voluntary=True,
        forced_framework=False,
    )
    d = decide(f, RULES, Deployment(frozenset()))
    assert d.track is Track.VOORZORG
    if ref < birthday_26:
        assert (d.evidence, d.reasons) == (Evidence.PROVEN_EFFECTIVE, ())
    else:
        assert (d.evidence, d.reasons) == (None, (Reason.AGE_OVER_25,))
