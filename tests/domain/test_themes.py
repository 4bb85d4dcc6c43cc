"""The themes at a glance, pure: latest per theme, trend since the first assessment, goals' targets.

The themes and the scale are the package's own (adapter.data), so these tests also hold the data to
what the view needs: nine themes, a scale ordered by ordinalValue with lower meaning less concern.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.data import theme_scale, themes
from adapter.domain.themes import Assessment, GoalState, Scale, Theme, Trend, overview, target_met, trend

MOTHER, CHILD = "Patient/mother", "Patient/child"
START = datetime(2026, 3, 2, 10, tzinfo=UTC)
SCALE = theme_scale()
THEMES = themes()
LEVELS = sorted(SCALE.levels, key=SCALE.levels.__getitem__)  # no-concern .. acute-concern


def _a(theme: str, level: str, day: int, subject: str = MOTHER, n: int = 0) -> Assessment:
    return Assessment(
        ref=f"Observation/{theme}-{day}-{n}-{subject[-5:]}",
        theme=theme,
        subject=subject,
        level=level,
        when=START + timedelta(days=day),
    )


def _goal(theme: str, target: str | None, subject: str = MOTHER, ref: str = "Goal/1") -> GoalState:
    return GoalState(
        ref=ref,
        theme=theme,
        subject=subject,
        description="",
        lifecycle="active",
        achievement="in-progress",
        target_level=target,
        due=date(2026, 8, 1),
    )


def test_the_package_holds_nine_themes_and_a_four_level_concern_scale() -> None:
    assert [t.code for t in THEMES] == [
        "ouderschap",
        "hechting",
        "opvoedvaardigheden",
        "gezondheid",
        "veiligheid",
        "persoonlijke-ontwikkeling",
        "financiele-stabiliteit",
        "relatie-partner-familie",
        "gemeenschapsvoorzieningen",
    ]
    assert all(t.display and t.english for t in THEMES)
    assert LEVELS == ["no-concern", "attention-needed", "concern", "acute-concern"]


def test_less_concern_than_at_intake_is_improved_more_is_worsened() -> None:
    assert trend(SCALE, "concern", "attention-needed", 2) is Trend.IMPROVED
    assert trend(SCALE, "attention-needed", "acute-concern", 3) is Trend.WORSENED
    assert trend(SCALE, "concern", "concern", 5) is Trend.UNCHANGED
    assert trend(SCALE, "concern", "concern", 1) is Trend.BASELINE_ONLY


def test_the_trend_follows_the_scales_order_not_its_codes() -> None:
    reversed_scale = Scale(levels={"no-concern": 3, "acute-concern": 0})  # a scale read differently
    assert trend(reversed_scale, "no-concern", "acute-concern", 2) is Trend.IMPROVED
    with pytest.raises(ValueError, match="'concern' or 'panic' is not on the scale"):
        trend(SCALE, "concern", "panic", 2)


@given(st.sampled_from(LEVELS), st.sampled_from(LEVELS), st.integers(min_value=2, max_value=60))
def test_trend_is_the_sign_of_the_change_and_reverses_with_the_order(first: str, last: str, n: int) -> None:
    forward, backward = trend(SCALE, first, last, n), trend(SCALE, last, first, n)
    change = SCALE.levels[last] - SCALE.levels[first]
    expected = Trend.IMPROVED if change < 0 else Trend.WORSENED if change > 0 else Trend.UNCHANGED
    assert forward is expected
    opposite = {Trend.IMPROVED: Trend.WORSENED, Trend.WORSENED: Trend.IMPROVED}
    assert backward is opposite.get(forward, forward)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([t.code for t in THEMES]),
            st.sampled_from(LEVELS),
            st.integers(min_value=0, max_value=730),
        ),
        max_size=40,
        unique_by=lambda x: (x[0], x[2]),
    ),
    st.randoms(use_true_random=False),
)
def test_latest_and_baseline_are_the_newest_and_oldest_whatever_the_order_they_arrive_in(
    rows: list[tuple[str, str, int]], rnd: random.Random
) -> None:
    assessments = [_a(theme, level, day) for theme, level, day in rows]
    rnd.shuffle(assessments)
    statuses = overview(MOTHER, THEMES, SCALE, assessments)
    assert [s.theme.code for s in statuses] == [t.code for t in THEMES]  # all nine, in order, once
    for s in statuses:
        mine = sorted((r for r in rows if r[0] == s.theme.code), key=lambda r: r[2])
        assert s.count == len(mine)
        if not mine:
            assert s.latest is s.baseline is s.trend is s.change is None
            continue
        assert s.latest is not None and s.baseline is not None
        assert (s.baseline.level, s.baseline.when) == (mine[0][1], START + timedelta(days=mine[0][2]))
        assert (s.latest.level, s.latest.when) == (mine[-1][1], START + timedelta(days=mine[-1][2]))
        assert s.change == SCALE.levels[mine[-1][1]] - SCALE.levels[mine[0][1]]
        assert s.trend is (
            Trend.BASELINE_ONLY if len(mine) == 1 else trend(SCALE, mine[0][1], mine[-1][1], 2)
        )


def test_the_same_moment_twice_takes_the_one_recorded_last() -> None:
    first = _a("veiligheid", "concern", 0)
    second = Assessment(
        ref="Observation/z",
        theme="veiligheid",
        subject=MOTHER,
        level="no-concern",
        when=first.when,
        recorded="2",
    )
    status = next(s for s in overview(MOTHER, THEMES, SCALE, [second, first]) if s.theme.code == "veiligheid")
    assert status.latest == second and status.trend is Trend.IMPROVED


def test_the_childs_themes_are_their_own_series_after_the_mothers_nine() -> None:
    statuses = overview(
        MOTHER,
        THEMES,
        SCALE,
        [
            _a("gezondheid", "concern", 0),
            _a("gezondheid", "no-concern", 5, CHILD),
            _a("gezondheid", "no-concern", 40),
        ],
        [_goal("hechting", "no-concern", CHILD)],
    )
    assert [(s.subject, s.theme.code) for s in statuses[9:]] == [(CHILD, "hechting"), (CHILD, "gezondheid")]
    mother_health = statuses[3]
    assert (mother_health.subject, mother_health.count, mother_health.trend) == (MOTHER, 2, Trend.IMPROVED)
    child_health = statuses[10]
    assert (child_health.count, child_health.trend) == (1, Trend.BASELINE_ONLY)
    assert statuses[9].count == 0 and statuses[9].goals[0].goal.subject == CHILD


def test_codes_outside_the_data_are_left_out() -> None:
    statuses = overview(
        MOTHER,
        THEMES,
        SCALE,
        [_a("slaap", "concern", 0), _a("gezondheid", "panic", 0), _a("gezondheid", "concern", 1)],
        [_goal("slaap", None)],
    )
    assert len(statuses) == 9
    health = next(s for s in statuses if s.theme.code == "gezondheid")
    assert health.count == 1 and health.latest is not None and health.latest.level == "concern"
    shorter = overview(
        MOTHER, (Theme("gezondheid", "Gezondheid", "Health"),), SCALE, [_a("veiligheid", "concern", 0)]
    )
    assert [s.theme.code for s in shorter] == ["gezondheid"]  # a theme dropped from the list is not shown


@given(st.sampled_from(LEVELS), st.sampled_from(LEVELS))
def test_a_goal_is_met_when_the_latest_assessment_is_at_or_below_its_target(latest: str, aim: str) -> None:
    met = target_met(SCALE, _a("veiligheid", latest, 0), _goal("veiligheid", aim))
    assert met is (SCALE.levels[latest] <= SCALE.levels[aim])


def test_a_goal_without_target_or_assessment_cannot_tell() -> None:
    assert target_met(SCALE, None, _goal("veiligheid", "no-concern")) is None
    assert target_met(SCALE, _a("veiligheid", "concern", 0), _goal("veiligheid", None)) is None


def test_a_goal_or_assessment_off_the_scale_cannot_tell() -> None:
    # Either side alone off the scale (a code the CodeSystem no longer has) is enough not to judge.
    assert target_met(SCALE, _a("veiligheid", "concern", 0), _goal("veiligheid", "panic")) is None
    assert target_met(SCALE, _a("veiligheid", "panic", 0), _goal("veiligheid", "concern")) is None


def test_a_themes_goals_are_listed_by_due_date_then_reference_and_undated_last() -> None:
    def goal(ref: str, due: date | None) -> GoalState:
        return dataclasses.replace(_goal("veiligheid", "no-concern", ref=ref), due=due)

    arriving = [
        goal("Goal/a", None),
        goal("Goal/b", date(2026, 9, 1)),
        goal("Goal/d", date(2026, 5, 1)),
        goal("Goal/c", date(2026, 5, 1)),
    ]
    safety = next(s for s in overview(MOTHER, THEMES, SCALE, [], arriving) if s.theme.code == "veiligheid")
    assert [g.goal.ref for g in safety.goals] == ["Goal/c", "Goal/d", "Goal/b", "Goal/a"]


def test_goals_go_with_their_theme_and_are_judged_on_its_latest_assessment() -> None:
    statuses = overview(
        MOTHER,
        THEMES,
        SCALE,
        [_a("financiele-stabiliteit", "concern", 0), _a("financiele-stabiliteit", "attention-needed", 60)],
        [
            _goal("financiele-stabiliteit", "attention-needed"),
            _goal("veiligheid", "no-concern", ref="Goal/2"),
        ],
    )
    money = next(s for s in statuses if s.theme.code == "financiele-stabiliteit")
    safety = next(s for s in statuses if s.theme.code == "veiligheid")
    assert [(g.goal.ref, g.target_met) for g in money.goals] == [("Goal/1", True)]
    assert [(g.goal.ref, g.target_met) for g in safety.goals] == [("Goal/2", None)]
