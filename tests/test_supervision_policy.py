"""Restart decisions (``engine.runtime.supervision``): pure, so time is passed in and never waited for."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.runtime.supervision import GiveUp, Restart, RestartPolicy, RestartTracker


def _no_jitter(**overrides: float) -> RestartPolicy:
    fields: dict[str, float] = {"max_restarts": 100, "window_s": 60.0, "jitter": 0.0}
    fields.update(overrides)
    return RestartPolicy(**fields)  # type: ignore[arg-type]


def _delays(tracker: RestartTracker, times: list[float]) -> list[float]:
    delays = []
    for t in times:
        decision = tracker.on_failure(t)
        assert isinstance(decision, Restart)
        delays.append(decision.delay_s)
    return delays


# --- Defaults --------------------------------------------------------------------------------------


def test_default_policy_values_match_the_documented_defaults() -> None:
    policy = RestartPolicy()
    assert (policy.max_restarts, policy.window_s) == (5, 60.0)
    assert (policy.backoff_initial_s, policy.backoff_max_s, policy.jitter) == (0.02, 5.0, 0.2)


def test_a_fresh_tracker_has_no_failures() -> None:
    tracker = RestartTracker(RestartPolicy())
    assert tracker.total == 0
    assert tracker.failures_in_window(0.0) == 0


# --- Backoff ---------------------------------------------------------------------------------------


def test_first_failure_waits_exactly_backoff_initial_without_jitter() -> None:
    tracker = RestartTracker(_no_jitter(backoff_initial_s=0.25))
    assert tracker.on_failure(0.0) == Restart(0.25, 1)


def test_backoff_doubles_with_each_failure_in_the_window() -> None:
    tracker = RestartTracker(_no_jitter(backoff_initial_s=0.02, backoff_max_s=100.0))
    delays = _delays(tracker, [0.0, 0.1, 0.2, 0.3, 0.4])
    assert delays == pytest.approx([0.02, 0.04, 0.08, 0.16, 0.32])


def test_backoff_is_capped_at_backoff_max() -> None:
    tracker = RestartTracker(_no_jitter(backoff_initial_s=1.0, backoff_max_s=5.0))
    delays = _delays(tracker, [float(i) for i in range(6)])
    assert delays == pytest.approx([1.0, 2.0, 4.0, 5.0, 5.0, 5.0])


def test_restart_reports_the_number_of_failures_in_the_window() -> None:
    tracker = RestartTracker(_no_jitter())
    counts = []
    for t in (0.0, 1.0, 2.0):
        decision = tracker.on_failure(t)
        assert isinstance(decision, Restart)
        counts.append(decision.failures_in_window)
    assert counts == [1, 2, 3]


@given(
    initial=st.floats(min_value=1e-3, max_value=10.0),
    cap=st.floats(min_value=1e-3, max_value=100.0),
    failures=st.integers(min_value=1, max_value=40),
)
def test_without_jitter_every_delay_is_min_of_cap_and_doubled_initial(
    initial: float, cap: float, failures: int
) -> None:
    tracker = RestartTracker(_no_jitter(backoff_initial_s=initial, backoff_max_s=cap))
    delays = _delays(tracker, [i * 0.001 for i in range(failures)])
    expected = [min(cap, initial * 2**k) for k in range(failures)]
    assert delays == pytest.approx(expected)
    assert max(delays) <= cap


# --- Jitter ----------------------------------------------------------------------------------------


@given(seed=st.integers(min_value=0, max_value=2**32 - 1), jitter=st.floats(min_value=0.0, max_value=0.9))
def test_jitter_keeps_each_delay_within_plus_minus_the_jitter_fraction(seed: int, jitter: float) -> None:
    policy = RestartPolicy(max_restarts=100, backoff_initial_s=0.02, backoff_max_s=5.0, jitter=jitter)
    tracker = RestartTracker(policy, random.Random(seed))
    delays = _delays(tracker, [float(i) * 0.01 for i in range(12)])
    for k, delay in enumerate(delays):
        base = min(5.0, 0.02 * 2**k)
        assert base * (1 - jitter) - 1e-12 <= delay <= base * (1 + jitter) + 1e-12


def test_jitter_actually_spreads_delays_across_seeds() -> None:
    policy = RestartPolicy(jitter=0.2)
    firsts = {_delays(RestartTracker(policy, random.Random(seed)), [0.0])[0] for seed in range(20)}
    assert len(firsts) > 1
    assert all(0.016 - 1e-12 <= d <= 0.024 + 1e-12 for d in firsts)


@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_same_seed_gives_the_same_delays(seed: int) -> None:
    times = [0.0, 0.5, 1.0, 1.5, 2.0]
    first = _delays(RestartTracker(RestartPolicy(), random.Random(seed)), times)
    second = _delays(RestartTracker(RestartPolicy(), random.Random(seed)), times)
    assert first == second


def test_different_seeds_give_different_delays() -> None:
    times = [0.0, 0.5, 1.0]
    assert _delays(RestartTracker(RestartPolicy(), random.Random(1)), times) != _delays(
        RestartTracker(RestartPolicy(), random.Random(2)), times
    )


# --- Giving up -------------------------------------------------------------------------------------


def test_max_restarts_failures_in_the_window_still_restart() -> None:
    tracker = RestartTracker(RestartPolicy(max_restarts=3, window_s=10.0, jitter=0.0))
    decisions = [tracker.on_failure(t) for t in (0.0, 1.0, 2.0)]
    assert all(isinstance(d, Restart) for d in decisions)


def test_one_failure_more_than_max_restarts_in_the_window_gives_up() -> None:
    tracker = RestartTracker(RestartPolicy(max_restarts=3, window_s=10.0, jitter=0.0))
    for t in (0.0, 1.0, 2.0):
        tracker.on_failure(t)
    assert tracker.on_failure(3.0) == GiveUp(4)


def test_further_failures_in_the_window_keep_giving_up_with_a_growing_count() -> None:
    tracker = RestartTracker(RestartPolicy(max_restarts=1, window_s=10.0))
    tracker.on_failure(0.0)
    assert tracker.on_failure(1.0) == GiveUp(2)
    assert tracker.on_failure(2.0) == GiveUp(3)


def test_max_restarts_zero_gives_up_on_the_first_failure() -> None:
    tracker = RestartTracker(RestartPolicy(max_restarts=0))
    assert tracker.on_failure(0.0) == GiveUp(1)


def test_failures_older_than_the_window_are_forgotten() -> None:
    tracker = RestartTracker(RestartPolicy(max_restarts=2, window_s=10.0, jitter=0.0))
    tracker.on_failure(0.0)
    tracker.on_failure(1.0)
    decision = tracker.on_failure(20.0)
    assert decision == Restart(RestartPolicy().backoff_initial_s, 1)
    assert tracker.failures_in_window(20.0) == 1


def test_backoff_restarts_from_initial_once_old_failures_leave_the_window() -> None:
    tracker = RestartTracker(_no_jitter(window_s=10.0, backoff_initial_s=1.0, backoff_max_s=100.0))
    assert _delays(tracker, [0.0, 1.0, 2.0]) == [1.0, 2.0, 4.0]
    assert _delays(tracker, [11.5]) == [2.0]  # 0.0 and 1.0 have left; 2.0 remains
    assert _delays(tracker, [30.0]) == [1.0]


def test_a_failure_exactly_window_s_old_still_counts() -> None:
    tracker = RestartTracker(RestartPolicy(max_restarts=5, window_s=10.0, jitter=0.0))
    tracker.on_failure(0.0)
    decision = tracker.on_failure(10.0)
    assert isinstance(decision, Restart)
    assert decision.failures_in_window == 2
    assert tracker.failures_in_window(10.0) == 2
    assert tracker.failures_in_window(10.001) == 1


@given(
    max_restarts=st.integers(min_value=1, max_value=5),
    gaps=st.lists(st.floats(min_value=10.001, max_value=1e4), min_size=1, max_size=50),
)
def test_failures_spaced_wider_than_the_window_never_give_up(max_restarts: int, gaps: list[float]) -> None:
    tracker = RestartTracker(RestartPolicy(max_restarts=max_restarts, window_s=10.0))
    now = 0.0
    for gap in gaps:
        now += gap
        decision = tracker.on_failure(now)
        assert isinstance(decision, Restart)
        assert decision.failures_in_window == 1


@given(
    max_restarts=st.integers(min_value=0, max_value=8),
    extra=st.integers(min_value=1, max_value=5),
)
def test_burst_of_more_than_max_restarts_gives_up_exactly_after_max_restarts(max_restarts: int, extra: int) -> None:
    tracker = RestartTracker(RestartPolicy(max_restarts=max_restarts, window_s=60.0))
    decisions = [tracker.on_failure(i * 0.1) for i in range(max_restarts + extra)]
    assert all(isinstance(d, Restart) for d in decisions[:max_restarts])
    assert decisions[max_restarts:] == [GiveUp(max_restarts + 1 + i) for i in range(extra)]


# --- Counting --------------------------------------------------------------------------------------


def test_total_counts_every_failure_including_forgotten_and_given_up_ones() -> None:
    tracker = RestartTracker(RestartPolicy(max_restarts=1, window_s=10.0))
    for t in (0.0, 1.0, 2.0, 100.0, 200.0):
        tracker.on_failure(t)
    assert tracker.total == 5
    assert tracker.failures_in_window(200.0) == 1


def test_failures_in_window_is_a_query_that_does_not_record_a_failure() -> None:
    tracker = RestartTracker(RestartPolicy(window_s=10.0))
    tracker.on_failure(0.0)
    tracker.on_failure(5.0)
    assert tracker.failures_in_window(5.0) == 2
    assert tracker.failures_in_window(12.0) == 1
    assert tracker.failures_in_window(30.0) == 0
    assert tracker.total == 2
