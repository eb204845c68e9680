"""UCB1 arm selection (``engine.core.bandit``): exploration order, learning, statistics, persistence."""

from __future__ import annotations

import json
import math
import statistics
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.bandit import ArmStats, UcbBandit

ARMS = ("momentum", "imbalance", "blend")
MEANS = {"bad": -0.2, "meh": 0.1, "good": 0.5}


def simulate(bandit: UcbBandit, seed: int, rounds: int = 2_000) -> list[str]:
    """Pull ``rounds`` times, feeding Gaussian R-multiples (std 1R) around each arm's true mean."""
    rng = np.random.default_rng(seed)
    picks = []
    for _ in range(rounds):
        arm = bandit.choose()
        picks.append(arm)
        bandit.record(arm, float(rng.normal(MEANS[arm], 1.0)))
    return picks


def share(picks: list[str], arm: str) -> float:
    return sum(p == arm for p in picks) / len(picks)


def trained(seed: int = 11, rounds: int = 40) -> UcbBandit:
    bandit = UcbBandit(ARMS, window=5)
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        arm = bandit.choose()
        bandit.record(arm, float(rng.normal(0.3, 1.5)))
    return bandit


# --- exploration order ----------------------------------------------------------------------------


def test_every_arm_is_tried_once_in_declared_order_before_any_is_repeated() -> None:
    bandit = UcbBandit(ARMS)
    first = []
    for r in (5.0, -1.0, -1.0):
        arm = bandit.choose()
        first.append(arm)
        bandit.record(arm, r)
    assert first == list(ARMS)
    assert bandit.choose() == "momentum"


def test_an_arm_chosen_but_never_traded_is_offered_again() -> None:
    bandit = UcbBandit(ARMS)
    assert bandit.choose() == "momentum"
    assert bandit.choose() == "momentum"
    assert bandit.stats()["momentum"].pulls == 2
    assert bandit.stats()["momentum"].trades == 0


def test_equal_bounds_go_to_the_first_declared_arm() -> None:
    bandit = UcbBandit(ARMS)
    for arm in ARMS:
        bandit.record(arm, 0.5)
    assert bandit.choose() == "momentum"


def test_choose_picks_the_arm_with_the_largest_ucb1_bound() -> None:
    bandit = UcbBandit(("a", "b"))
    for r in (1.0, 1.0, 1.0, 1.0):
        bandit.record("a", r)
    bandit.record("b", -1.0)
    n_total = 5
    bound_a = bandit.reward(1.0) + math.sqrt(2.0 * math.log(n_total) / 4)
    bound_b = bandit.reward(-1.0) + math.sqrt(2.0 * math.log(n_total) / 1)
    assert bandit.bounds() == pytest.approx({"a": bound_a, "b": bound_b})
    assert bandit.choose() == ("a" if bound_a > bound_b else "b")


def test_with_no_exploration_the_best_mean_wins() -> None:
    bandit = UcbBandit(("a", "b"), exploration=0.0)
    bandit.record("a", 0.2)
    bandit.record("b", 0.3)
    assert bandit.choose() == "b"


# --- learning on synthetic arms -------------------------------------------------------------------


def test_classic_ucb1_with_a_one_r_clip_concentrates_on_the_best_arm() -> None:
    bandit = UcbBandit(tuple(MEANS), exploration=2.0, r_clip=1.0)
    picks = simulate(bandit, seed=20_240_601)
    assert share(picks[1_000:], "good") > 0.80
    assert share(picks[1_000:], "bad") < share(picks[1_000:], "meh")


def test_default_settings_favour_the_best_arm_but_still_explore_after_two_thousand_trades() -> None:
    # The bound is variance-blind and a ±3R clip shrinks a 0.4R edge to 0.067 reward: the default
    # bandit is right about the best arm but keeps spending about a third of its trades exploring.
    picks = simulate(UcbBandit(tuple(MEANS)), seed=20_240_601)
    last = picks[1_000:]
    assert share(last, "good") > 0.60
    assert share(last, "good") > share(last, "meh") > share(last, "bad")


def test_the_learnt_means_rank_the_arms_by_their_true_means() -> None:
    bandit = UcbBandit(tuple(MEANS), r_clip=1.0)
    simulate(bandit, seed=7)
    stats = bandit.stats()
    assert stats["bad"].mean_r < stats["meh"].mean_r < stats["good"].mean_r
    assert stats["good"].mean_r == pytest.approx(0.5, abs=0.1)


# --- reward mapping -------------------------------------------------------------------------------


def test_reward_maps_minus_clip_to_zero_break_even_to_half_and_clip_to_one() -> None:
    bandit = UcbBandit(ARMS, r_clip=3.0)
    assert bandit.reward(-3.0) == 0.0
    assert bandit.reward(0.0) == 0.5
    assert bandit.reward(-1.0) == pytest.approx(1 / 3)
    assert bandit.reward(3.0) == 1.0


def test_reward_clips_outsized_outcomes() -> None:
    bandit = UcbBandit(ARMS, r_clip=3.0)
    assert bandit.reward(25.0) == 1.0
    assert bandit.reward(-9.0) == 0.0


@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(min_value=1e-3, max_value=1e3))
def test_reward_always_lies_in_the_unit_interval(r: float, r_clip: float) -> None:
    assert 0.0 <= UcbBandit(ARMS, r_clip=r_clip).reward(r) <= 1.0


def test_mean_reward_uses_clipped_outcomes_while_mean_r_does_not() -> None:
    bandit = UcbBandit(ARMS, r_clip=3.0)
    bandit.record("momentum", 30.0)
    bandit.record("momentum", -1.0)
    stats = bandit.stats()["momentum"]
    assert stats.mean_reward == pytest.approx((1.0 + 1 / 3) / 2)
    assert stats.mean_r == pytest.approx(14.5)
    assert stats.total_r == pytest.approx(29.0)


# --- statistics -----------------------------------------------------------------------------------


def test_win_rate_and_sharpe_match_hand_computed_values() -> None:
    bandit = UcbBandit(ARMS)
    outcomes = [2.0, -1.0, 0.5, -1.0, 3.0]
    for r in outcomes:
        bandit.record("blend", r)
    stats = bandit.stats()["blend"]
    # mean 0.7; deviations 1.3, -1.7, -0.2, -1.7, 2.3; squares sum 12.8; sample var 12.8 / 4 = 3.2
    assert stats.win_rate == pytest.approx(3 / 5)
    assert stats.mean_r == pytest.approx(0.7)
    assert stats.sharpe == pytest.approx(0.7 / math.sqrt(3.2))
    assert stats.sharpe == pytest.approx(statistics.mean(outcomes) / statistics.stdev(outcomes))


def test_break_even_is_not_a_win() -> None:
    bandit = UcbBandit(ARMS)
    bandit.record("momentum", 0.0)
    bandit.record("momentum", 1.0)
    assert bandit.stats()["momentum"].win_rate == 0.5


def test_sharpe_is_zero_with_a_single_outcome() -> None:
    bandit = UcbBandit(ARMS)
    bandit.record("momentum", 2.0)
    assert bandit.stats()["momentum"].sharpe == 0.0


def test_sharpe_is_zero_when_every_outcome_is_the_same() -> None:
    bandit = UcbBandit(ARMS)
    for _ in range(4):
        bandit.record("momentum", 1.0)
    assert bandit.stats()["momentum"].sharpe == 0.0


def test_an_arm_without_outcomes_reports_zeros() -> None:
    stats = UcbBandit(ARMS).stats()["imbalance"]
    assert (stats.trades, stats.mean_r, stats.mean_reward, stats.win_rate, stats.sharpe) == (0, 0.0, 0.0, 0.0, 0.0)


def test_the_rolling_window_forgets_old_outcomes() -> None:
    bandit = UcbBandit(ARMS, window=3)
    for r in (1.0, 1.0, 1.0, -1.0, -1.0, -1.0):
        bandit.record("momentum", r)
    stats = bandit.stats()["momentum"]
    assert stats.win_rate == 0.0
    assert stats.recent == (-1.0, -1.0, -1.0)
    assert stats.trades == 6


@given(st.lists(st.floats(min_value=-50.0, max_value=50.0), min_size=2, max_size=60))
def test_welford_matches_the_two_pass_sample_statistics(outcomes: list[float]) -> None:
    bandit = UcbBandit(ARMS)
    for r in outcomes:
        bandit.record("momentum", r)
    stats = bandit.stats()["momentum"]
    mean = statistics.fmean(outcomes)
    assert stats.mean_r == pytest.approx(mean, abs=1e-9)
    stdev = statistics.stdev(outcomes)
    if stdev > 1e-6:
        assert stats.sharpe == pytest.approx(mean / stdev, rel=1e-6, abs=1e-9)


def test_stats_are_a_snapshot_the_caller_cannot_corrupt() -> None:
    bandit = UcbBandit(ARMS)
    bandit.record("momentum", 1.0)
    snapshot = bandit.stats()
    snapshot["momentum"].pulls = 99
    bandit.record("momentum", 1.0)
    assert bandit.stats()["momentum"].pulls == 0
    assert snapshot["momentum"].trades == 1


def test_as_dict_is_a_rounded_json_ready_view() -> None:
    bandit = UcbBandit(ARMS)
    bandit.choose()
    for r in (1.0, 2.0, -1.0):
        bandit.record("momentum", r)
    view = bandit.stats()["momentum"].as_dict()
    assert view == {
        "arm": "momentum",
        "pulls": 1,
        "trades": 3,
        "total_r": 2.0,
        "mean_r": 0.6667,
        "mean_reward": 0.6111,
        "win_rate": 0.6667,
        "sharpe": 0.4364,
    }
    assert json.loads(json.dumps(view)) == view


def test_stats_are_listed_in_declared_arm_order() -> None:
    assert list(UcbBandit(ARMS).stats()) == list(ARMS)
    assert isinstance(UcbBandit(ARMS).stats()["blend"], ArmStats)


# --- input validation -----------------------------------------------------------------------------


def test_recording_an_unknown_arm_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown bandit arm 'carry'"):
        UcbBandit(ARMS).record("carry", 1.0)


@pytest.mark.parametrize("r", [math.nan, math.inf, -math.inf])
def test_a_non_finite_outcome_is_refused(r: float) -> None:
    bandit = UcbBandit(ARMS)
    with pytest.raises(ValueError, match="must be finite"):
        bandit.record("momentum", r)
    assert bandit.stats()["momentum"].trades == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arms": ()}, "at least one arm"),
        ({"arms": ("a", "a")}, "unique"),
        ({"arms": ("a", "")}, "non-empty"),
        ({"arms": "abc"}, "not the string"),
        ({"arms": ARMS, "exploration": -1.0}, "exploration"),
        ({"arms": ARMS, "window": 0}, "window"),
        ({"arms": ARMS, "r_clip": 0.0}, "r_clip"),
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UcbBandit(**kwargs)


# --- persistence ----------------------------------------------------------------------------------


def test_state_round_trips_through_json_with_identical_subsequent_choices() -> None:
    original = trained()
    restored = UcbBandit.from_state(json.loads(json.dumps(original.to_state())), arms=ARMS, window=5)
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(30):
        arm = original.choose()
        assert restored.choose() == arm
        original.record(arm, float(rng_a.normal(0.0, 1.0)))
        restored.record(arm, float(rng_b.normal(0.0, 1.0)))
    assert restored.to_state() == original.to_state()


def test_restored_statistics_equal_the_saved_ones() -> None:
    original = trained()
    restored = UcbBandit.from_state(json.loads(json.dumps(original.to_state())), arms=ARMS, window=5)
    assert {k: v.as_dict() for k, v in restored.stats().items()} == {
        k: v.as_dict() for k, v in original.stats().items()
    }
    assert restored.bounds() == original.bounds()


def test_arms_added_in_config_start_fresh_and_removed_arms_are_dropped() -> None:
    state = trained().to_state()
    restored = UcbBandit.from_state(state, arms=("momentum", "carry"), window=5)
    assert list(restored.stats()) == ["momentum", "carry"]
    assert restored.stats()["momentum"].trades == state["arms"]["momentum"]["trades"]
    assert restored.stats()["carry"].trades == 0
    assert restored.choose() == "carry"


def test_a_shorter_window_keeps_only_the_newest_saved_outcomes() -> None:
    original = UcbBandit(ARMS, window=5)
    for r in (1.0, 1.0, -1.0, -2.0, -3.0):
        original.record("momentum", r)
    restored = UcbBandit.from_state(original.to_state(), arms=ARMS, window=2)
    assert restored.stats()["momentum"].recent == (-2.0, -3.0)


def test_state_saved_with_another_r_clip_is_refused() -> None:
    with pytest.raises(ValueError, match="r_clip"):
        UcbBandit.from_state(trained().to_state(), arms=ARMS, r_clip=2.0)


def _corrupt(path: tuple[str, ...], value: object) -> dict[str, Any]:
    state = json.loads(json.dumps(trained().to_state()))
    node = state
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return state  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ([], "must be a mapping"),
        ({}, "version"),
        ({"version": 99, "r_clip": 3.0, "arms": {}}, "version"),
        ({"version": 1, "r_clip": 3.0, "arms": []}, "'arms' must be a mapping"),
        ({"version": 1, "arms": {}}, "r_clip"),
        (_corrupt(("arms", "momentum"), 5), "not a mapping"),
        (_corrupt(("arms", "momentum", "m2"), "x"), "finite number"),
        (_corrupt(("arms", "momentum", "m2"), -1.0), "negative"),
        (_corrupt(("arms", "momentum", "trades"), -3), "non-negative integer"),
        (_corrupt(("arms", "momentum", "trades"), True), "non-negative integer"),
        (_corrupt(("arms", "momentum", "reward_sum"), 1e9), "reward_sum"),
        (_corrupt(("arms", "momentum", "recent"), "1,2"), "not a list"),
        (_corrupt(("arms", "momentum", "recent"), [1.0, None]), "recent\\[1\\]"),
        (_corrupt(("arms", "momentum", "total_r"), math.nan), "finite number"),
        (_corrupt(("arms", "blend"), {"pulls": 1}), "lacks"),
    ],
)
def test_a_malformed_state_is_refused_with_a_clear_message(state: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UcbBandit.from_state(state, arms=ARMS, window=5)


def test_a_state_with_more_recent_outcomes_than_trades_is_refused() -> None:
    state = _corrupt(("arms", "momentum", "trades"), 1)
    with pytest.raises(ValueError, match="recent outcomes but 1 trades"):
        UcbBandit.from_state(state, arms=ARMS, window=5)


def test_a_fresh_state_restores_to_a_fresh_bandit() -> None:
    restored = UcbBandit.from_state(UcbBandit(ARMS).to_state(), arms=ARMS)
    assert [restored.choose() for _ in range(2)] == ["momentum", "momentum"]
