"""The rule sets and the regime switch as specifications, on crafted bars.

Every scenario feeds ``FeaturesUpdated`` bars built from one base message, so the indicator values
a rule sees (EMAs, ATR, bands, regime) are exactly the ones the test states.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.strategies.base import Holding, Intent, SingleStrategy, decide
from engine.core.strategies.long_dip import DEFAULT_SIZE_STEPS, LongDipRules, LongDipSettings, dip_share
from engine.core.strategies.mean_reversion import BollingerReversionRules
from engine.core.strategies.regime_switch import RegimeStrategy
from engine.core.strategies.trend import TrendRules
from engine.messages import EnterPosition, ExitPosition, FeaturesUpdated, MoveStop, Regime, Side

SYM = "SOLUSDT"
M1 = 60_000
M15 = 900_000

BASE = FeaturesUpdated(
    symbol=SYM,
    ts=0,
    last=100.0,
    bid=99.99,
    ask=100.01,
    spread_bps=2.0,
    depth_usdt=5e4,
    ema_fast=100.0,
    ema_slow=100.0,
    atr=1.0,
    warm=True,
    bar_closed=True,
    interval_ms=M1,
    high=100.5,
    low=99.5,
    regime=Regime.TRENDING,
)


def feat(**changes: Any) -> FeaturesUpdated:
    """A closed, warm 1m bar at 100 with ATR 1, changed where the scenario says."""
    return replace(BASE, **changes)


def emas(fast: float, slow: float, **changes: Any) -> FeaturesUpdated:
    return feat(ema_fast=fast, ema_slow=slow, **changes)


# Bands of the range scenarios: lower 95, middle 100, upper 105, ATR 2.
LOWER, MIDDLE, UPPER, RANGE_ATR = 95.0, 100.0, 105.0, 2.0


def banded(close: float, *, low: float | None = None, high: float | None = None, **changes: Any) -> FeaturesUpdated:
    """A ranging bar closing at ``close`` whose wicks default to half a point either side."""
    fields: dict[str, Any] = {
        "last": close,
        "low": close - 0.5 if low is None else low,
        "high": close + 0.5 if high is None else high,
        "bb_lower": LOWER,
        "bb_middle": MIDDLE,
        "bb_upper": UPPER,
        "atr": RANGE_ATR,
        "regime": Regime.RANGING,
    }
    fields.update(changes)
    return feat(**fields)


def regime_strategy() -> RegimeStrategy:
    return RegimeStrategy(
        TrendRules(9, 21, 2.0),
        BollingerReversionRules(1.0),
        TrendRules(9, 21, 2.0, name="high_vol", size_scale=0.5),
        M1,
    )


def holding(side: Side, strategy: str, entry: float = 100.0, stop: float = 0.0, target: float = 0.0) -> Holding:
    return Holding(side, entry, stop, target, strategy)


# --- Trend: EMA cross ----------------------------------------------------------------------------


def test_trend_golden_cross_enters_long_with_the_stop_atr_mult_atrs_below_the_close() -> None:
    rules = TrendRules(9, 21, 2.0)
    assert rules.signal(emas(99.0, 100.0)) is None
    intent = rules.signal(emas(100.5, 100.0, last=105.0, atr=1.5, ts=120_000, regime=Regime.TRENDING))
    assert intent == EnterPosition(
        SYM,
        120_000,
        Side.LONG,
        105.0,
        102.0,
        "trend",
        "ema 9 crossed above ema 21",
        target=0.0,
        regime=Regime.TRENDING,
        size_scale=1.0,
        notional=0.0,
    )


def test_trend_death_cross_enters_short_with_the_stop_above_the_close() -> None:
    rules = TrendRules(9, 21, 2.0)
    rules.signal(emas(101.0, 100.0))
    intent = rules.signal(emas(99.0, 100.0, last=95.0, atr=1.25))
    assert isinstance(intent, EnterPosition)
    assert (intent.side, intent.price, intent.stop, intent.target) == (Side.SHORT, 95.0, 97.5, 0.0)
    assert intent.reason == "ema 9 crossed below ema 21"


def test_trend_stop_distance_follows_atr_stop_mult() -> None:
    rules = TrendRules(5, 13, 3.0)
    rules.signal(emas(99.0, 100.0))
    intent = rules.signal(emas(101.0, 100.0, last=50.0, atr=0.5))
    assert isinstance(intent, EnterPosition)
    assert intent.stop == 48.5
    assert intent.reason == "ema 5 crossed above ema 13"


def test_trend_entry_copies_the_regime_of_the_bar() -> None:
    rules = TrendRules()
    rules.signal(emas(99.0, 100.0, regime=Regime.RANGING))
    intent = rules.signal(emas(101.0, 100.0, regime=Regime.RANGING))
    assert isinstance(intent, EnterPosition) and intent.regime == "RANGING"


def test_trend_staying_above_the_slow_ema_does_not_signal_again() -> None:
    rules = TrendRules()
    rules.signal(emas(99.0, 100.0))
    assert rules.signal(emas(101.0, 100.0)) is not None
    assert rules.signal(emas(102.0, 100.0)) is None
    assert rules.signal(emas(103.0, 100.5)) is None
    assert rules.signal(emas(100.6, 100.5)) is None


def test_trend_equal_emas_are_no_cross_but_rising_from_equal_is() -> None:
    rules = TrendRules()
    rules.signal(emas(99.0, 100.0))
    assert rules.signal(emas(100.0, 100.0)) is None
    intent = rules.signal(emas(100.1, 100.0))
    assert isinstance(intent, EnterPosition) and intent.side is Side.LONG


def test_trend_not_warm_gives_nothing_and_the_first_warm_bar_only_sets_the_reference() -> None:
    rules = TrendRules()
    assert rules.signal(emas(99.0, 100.0, warm=False)) is None
    assert rules.signal(emas(101.0, 100.0, warm=False)) is None
    assert rules.signal(emas(102.0, 100.0)) is None
    assert rules.signal(emas(103.0, 100.0)) is None


@pytest.mark.parametrize("atr", [0.0, math.nan])
def test_trend_cross_without_a_usable_atr_does_not_enter(atr: float) -> None:
    rules = TrendRules()
    rules.signal(emas(99.0, 100.0))
    assert rules.signal(emas(101.0, 100.0, atr=atr)) is None


def test_trend_cross_with_zero_atr_still_exits_an_opposite_position() -> None:
    strategy = SingleStrategy(TrendRules(), M1)
    short = holding(Side.SHORT, "trend")
    strategy.on_bar(emas(99.0, 100.0), short, True)
    intent = strategy.on_bar(emas(101.0, 100.0, atr=0.0, ts=7), short, True)
    assert intent == ExitPosition(SYM, 7, "ema 9 crossed against the short")


def test_trend_manage_says_nothing_without_a_cross_or_on_a_cross_in_the_held_direction() -> None:
    rules = TrendRules()
    long = holding(Side.LONG, "trend")
    rules.signal(emas(99.0, 100.0))
    assert rules.manage(emas(99.0, 100.0), long) is None
    rules.signal(emas(101.0, 100.0))
    assert rules.manage(emas(101.0, 100.0), long) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ema_fast": 21, "ema_slow": 9},
        {"ema_fast": 9, "ema_slow": 9},
        {"ema_fast": 0, "ema_slow": 9},
        {"atr_stop_mult": 0.0},
        {"atr_stop_mult": -1.0},
        {"size_scale": 0.0},
        {"size_scale": 1.5},
    ],
)
def test_trend_rejects_bad_parameters(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TrendRules(**kwargs)


@given(
    side=st.sampled_from([Side.LONG, Side.SHORT]),
    price=st.floats(min_value=1e-3, max_value=1e6),
    atr_fraction=st.floats(min_value=1e-6, max_value=0.4),
    mult=st.floats(min_value=0.1, max_value=5.0),
)
def test_trend_stop_is_always_on_the_losing_side_of_the_price(
    side: Side, price: float, atr_fraction: float, mult: float
) -> None:
    rules = TrendRules(9, 21, mult)
    before, after = (99.0, 101.0) if side is Side.LONG else (101.0, 99.0)
    rules.signal(emas(before, 100.0))
    atr = price * atr_fraction
    intent = rules.signal(emas(after, 100.0, last=price, atr=atr))
    assert isinstance(intent, EnterPosition)
    assert intent.side is side
    assert side.sign * (intent.price - intent.stop) > 0.0
    assert abs(intent.price - intent.stop) == pytest.approx(mult * atr)


# --- Trend inside the regime switch --------------------------------------------------------------


def test_death_cross_against_a_trend_long_in_a_range_exits_instead_of_reversing() -> None:
    strategy = regime_strategy()
    long = holding(Side.LONG, "trend")
    strategy.on_bar(emas(101.0, 100.0, regime=Regime.RANGING), long, True)
    intent = strategy.on_bar(emas(99.0, 100.0, regime=Regime.RANGING, ts=42), long, True)
    assert intent == ExitPosition(SYM, 42, "ema 9 crossed against the long")


def test_death_cross_against_a_trend_long_while_trending_reverses_to_short() -> None:
    strategy = regime_strategy()
    long = holding(Side.LONG, "trend")
    strategy.on_bar(emas(101.0, 100.0), long, True)
    intent = strategy.on_bar(emas(99.0, 100.0, last=98.0, atr=1.5), long, True)
    assert isinstance(intent, EnterPosition)
    assert (intent.side, intent.stop, intent.strategy, intent.size_scale) == (Side.SHORT, 101.0, "trend", 1.0)
    assert intent.regime == "TRENDING"


def test_golden_cross_while_already_long_asks_nothing() -> None:
    strategy = regime_strategy()
    long = holding(Side.LONG, "trend")
    strategy.on_bar(emas(99.0, 100.0), long, True)
    assert strategy.on_bar(emas(101.0, 100.0), long, True) is None


def test_high_volatility_enters_on_a_cross_with_the_high_vol_rules_at_half_size() -> None:
    strategy = regime_strategy()
    strategy.on_bar(emas(99.0, 100.0, regime=Regime.HIGH_VOLATILITY), None, True)
    intent = strategy.on_bar(emas(101.0, 100.0, last=100.0, atr=3.0, regime=Regime.HIGH_VOLATILITY, ts=5), None, True)
    assert intent == EnterPosition(
        SYM,
        5,
        Side.LONG,
        100.0,
        94.0,
        "high_vol",
        "ema 9 crossed above ema 21",
        regime=Regime.HIGH_VOLATILITY,
        size_scale=0.5,
    )


def test_trending_cross_enters_with_the_trend_rules_at_full_size() -> None:
    strategy = regime_strategy()
    strategy.on_bar(emas(99.0, 100.0), None, True)
    intent = strategy.on_bar(emas(101.0, 100.0), None, True)
    assert isinstance(intent, EnterPosition)
    assert (intent.strategy, intent.size_scale, intent.stop) == ("trend", 1.0, 98.0)


def test_ranging_regime_does_not_enter_on_an_ema_cross() -> None:
    strategy = regime_strategy()
    strategy.on_bar(emas(99.0, 100.0, regime=Regime.RANGING), None, True)
    assert strategy.on_bar(emas(101.0, 100.0, regime=Regime.RANGING), None, True) is None


def test_a_trend_long_held_in_high_volatility_exits_on_a_death_cross_by_reversing_with_high_vol() -> None:
    strategy = regime_strategy()
    long = holding(Side.LONG, "trend")
    strategy.on_bar(emas(101.0, 100.0, regime=Regime.HIGH_VOLATILITY), long, True)
    intent = strategy.on_bar(emas(99.0, 100.0, regime=Regime.HIGH_VOLATILITY), long, True)
    assert isinstance(intent, EnterPosition)
    assert (intent.side, intent.strategy, intent.size_scale) == (Side.SHORT, "high_vol", 0.5)


# --- Range: Bollinger mean reversion --------------------------------------------------------------


def test_range_touch_then_close_back_inside_enters_long_with_stop_beyond_the_band_and_target_middle() -> None:
    rules = BollingerReversionRules(1.0)
    assert rules.signal(banded(94.8, low=94.5)) is None  # touched, closed outside
    intent = rules.signal(banded(97.0, low=96.0, ts=3))
    assert intent == EnterPosition(
        SYM,
        3,
        Side.LONG,
        97.0,
        93.0,
        "range",
        "close 97 back inside the lower band 95",
        target=100.0,
        regime=Regime.RANGING,
    )


def test_range_wick_through_the_lower_band_with_a_close_inside_enters_on_the_same_bar() -> None:
    rules = BollingerReversionRules(1.5)
    intent = rules.signal(banded(96.0, low=94.0))
    assert isinstance(intent, EnterPosition)
    assert (intent.side, intent.price, intent.stop, intent.target) == (Side.LONG, 96.0, 92.0, 100.0)


def test_range_low_exactly_on_the_lower_band_counts_as_a_touch() -> None:
    rules = BollingerReversionRules()
    intent = rules.signal(banded(96.0, low=95.0))
    assert isinstance(intent, EnterPosition) and intent.side is Side.LONG


def test_range_no_touch_no_entry_even_below_the_middle() -> None:
    rules = BollingerReversionRules()
    assert rules.signal(banded(96.0, low=95.1)) is None
    assert rules.signal(banded(97.0)) is None


def test_range_close_on_the_band_after_a_touch_stays_armed_until_a_close_strictly_inside() -> None:
    rules = BollingerReversionRules()
    assert rules.signal(banded(95.0, low=94.0)) is None
    intent = rules.signal(banded(95.5, low=95.2))
    assert isinstance(intent, EnterPosition) and intent.price == 95.5


def test_range_close_at_the_middle_after_the_touch_disarms() -> None:
    rules = BollingerReversionRules()
    assert rules.signal(banded(94.8, low=94.5)) is None
    assert rules.signal(banded(100.0, low=99.0)) is None  # the reversion happened without us
    assert rules.signal(banded(97.0, low=96.0)) is None
    assert rules.signal(banded(98.0, low=97.0)) is None


def test_range_wick_touch_closing_above_the_middle_does_not_enter() -> None:
    rules = BollingerReversionRules()
    assert rules.signal(banded(101.0, low=94.0)) is None
    assert rules.signal(banded(97.0, low=96.0)) is None


def test_range_entry_disarms_so_the_next_inside_close_does_not_enter_again() -> None:
    rules = BollingerReversionRules()
    assert rules.signal(banded(96.0, low=94.0)) is not None
    assert rules.signal(banded(96.5, low=96.0)) is None


def test_range_touch_with_zero_atr_waits_and_enters_once_the_atr_is_usable() -> None:
    rules = BollingerReversionRules()
    assert rules.signal(banded(96.0, low=94.0, atr=0.0)) is None
    intent = rules.signal(banded(96.5, low=96.0))
    assert isinstance(intent, EnterPosition)
    assert (intent.price, intent.stop) == (96.5, 93.0)


def test_range_upper_band_touch_then_close_back_inside_enters_short() -> None:
    rules = BollingerReversionRules(1.0)
    assert rules.signal(banded(105.5, high=106.0)) is None
    intent = rules.signal(banded(103.0, high=104.0, ts=9))
    assert intent == EnterPosition(
        SYM,
        9,
        Side.SHORT,
        103.0,
        107.0,
        "range",
        "close 103 back inside the upper band 105",
        target=100.0,
        regime=Regime.RANGING,
    )


def test_range_close_at_the_middle_after_an_upper_touch_disarms_the_short() -> None:
    rules = BollingerReversionRules()
    assert rules.signal(banded(105.5, high=106.0)) is None
    assert rules.signal(banded(100.0)) is None
    assert rules.signal(banded(103.0)) is None


@pytest.mark.parametrize("nan_field", ["bb_lower", "bb_middle", "bb_upper"])
def test_range_bands_not_warm_give_nothing(nan_field: str) -> None:
    rules = BollingerReversionRules()
    assert rules.signal(banded(96.0, low=90.0, **{nan_field: math.nan})) is None


def test_range_bands_not_warm_forget_an_earlier_touch() -> None:
    rules = BollingerReversionRules()
    assert rules.signal(banded(94.8, low=94.5)) is None
    assert rules.signal(banded(94.8, bb_upper=math.nan, bb_middle=math.nan, bb_lower=math.nan)) is None
    assert rules.signal(banded(97.0, low=96.0)) is None


def test_range_collapsed_bands_give_nothing() -> None:
    rules = BollingerReversionRules()
    flat = {"bb_upper": 100.0, "bb_middle": 100.0, "bb_lower": 100.0}
    assert rules.signal(banded(100.0, low=99.0, high=101.0, **flat)) is None


def test_held_range_long_exits_on_a_close_at_or_above_the_middle_band() -> None:
    strategy = SingleStrategy(BollingerReversionRules(), M1)
    long = holding(Side.LONG, "range", entry=97.0, stop=93.0, target=100.0)
    assert strategy.on_bar(banded(99.9), long, True) is None
    assert strategy.on_bar(banded(100.0, ts=11), long, True) == ExitPosition(
        SYM, 11, "close 100 reached the middle band 100"
    )
    assert isinstance(strategy.on_bar(banded(101.0), long, True), ExitPosition)


def test_held_range_short_exits_on_a_close_at_or_below_the_middle_band() -> None:
    strategy = SingleStrategy(BollingerReversionRules(), M1)
    short = holding(Side.SHORT, "range", entry=103.0, stop=107.0, target=100.0)
    assert strategy.on_bar(banded(100.1), short, True) is None
    assert strategy.on_bar(banded(100.0), short, True) == ExitPosition(SYM, 0, "close 100 reached the middle band 100")


def test_held_range_long_exits_at_the_current_middle_band_not_the_target_at_entry() -> None:
    strategy = SingleStrategy(BollingerReversionRules(), M1)
    long = holding(Side.LONG, "range", entry=97.0, stop=93.0, target=100.0)
    drifted = {"bb_lower": 97.0, "bb_middle": 102.0, "bb_upper": 107.0}
    assert strategy.on_bar(banded(101.0, **drifted), long, True) is None
    assert isinstance(strategy.on_bar(banded(102.0, **drifted), long, True), ExitPosition)


def test_held_range_position_is_not_exited_while_the_bands_are_not_warm() -> None:
    rules = BollingerReversionRules()
    long = holding(Side.LONG, "range", entry=97.0)
    assert rules.manage(banded(120.0, bb_middle=math.nan), long) is None


def test_range_rejects_a_non_positive_stop_distance() -> None:
    with pytest.raises(ValueError):
        BollingerReversionRules(0.0)


@given(
    lower=st.floats(min_value=1.0, max_value=1e5),
    width=st.floats(min_value=0.01, max_value=0.5),
    inside=st.floats(min_value=0.01, max_value=0.99),
    atr_fraction=st.floats(min_value=1e-4, max_value=0.1),
)
def test_range_long_entry_puts_stop_below_band_below_close_below_target(
    lower: float, width: float, inside: float, atr_fraction: float
) -> None:
    middle = lower * (1.0 + width)
    close = lower + (middle - lower) * inside
    if not lower < close < middle:
        return  # rounding collapsed the interval
    rules = BollingerReversionRules(1.0)
    bar = banded(
        close,
        low=lower,
        high=close,
        bb_lower=lower,
        bb_middle=middle,
        bb_upper=2 * middle - lower,
        atr=lower * atr_fraction,
    )
    intent = rules.signal(bar)
    assert isinstance(intent, EnterPosition)
    assert intent.stop < lower < intent.price < intent.target == middle


# --- Regime switch ------------------------------------------------------------------------------


def test_unknown_regime_opens_nothing_on_a_cross_or_a_band_reentry() -> None:
    strategy = regime_strategy()
    strategy.on_bar(emas(99.0, 100.0, regime=Regime.UNKNOWN), None, True)
    assert strategy.on_bar(emas(101.0, 100.0, regime=Regime.UNKNOWN), None, True) is None
    assert strategy.on_bar(banded(96.0, low=94.0, regime=Regime.UNKNOWN), None, True) is None


def test_unknown_regime_still_manages_an_open_range_position() -> None:
    strategy = regime_strategy()
    long = holding(Side.LONG, "range", entry=97.0)
    assert isinstance(strategy.on_bar(banded(100.0, regime=Regime.UNKNOWN), long, True), ExitPosition)


def test_range_position_still_exits_at_the_middle_after_the_regime_turns_trending() -> None:
    strategy = regime_strategy()
    intent = strategy.on_bar(banded(96.0, low=94.0), None, True)
    assert isinstance(intent, EnterPosition) and intent.strategy == "range"
    long = holding(Side.LONG, "range", entry=96.0, stop=intent.stop, target=intent.target)
    assert strategy.on_bar(banded(98.0, regime=Regime.TRENDING), long, True) is None
    exit_ = strategy.on_bar(banded(100.5, regime=Regime.TRENDING, ts=77), long, True)
    assert exit_ == ExitPosition(SYM, 77, "close 100.5 reached the middle band 100")


def test_ranging_regime_enters_with_the_range_rules() -> None:
    strategy = regime_strategy()
    intent = strategy.on_bar(banded(96.0, low=94.0), None, True)
    assert isinstance(intent, EnterPosition)
    assert (intent.strategy, intent.side, intent.stop, intent.target) == ("range", Side.LONG, 93.0, 100.0)


def test_range_rules_do_not_enter_while_trending() -> None:
    strategy = regime_strategy()
    assert strategy.on_bar(banded(96.0, low=94.0, regime=Regime.TRENDING), None, True) is None


def test_every_rule_sees_every_bar_so_a_touch_while_trending_arms_the_range_entry() -> None:
    strategy = regime_strategy()
    assert strategy.on_bar(banded(94.8, low=94.5, regime=Regime.TRENDING), None, True) is None
    intent = strategy.on_bar(banded(97.0, low=96.0), None, True)
    assert isinstance(intent, EnterPosition) and intent.strategy == "range"


def test_every_rule_sees_every_bar_so_a_cross_in_a_range_is_not_replayed_once_trending() -> None:
    strategy = regime_strategy()
    strategy.on_bar(emas(99.0, 100.0, regime=Regime.RANGING), None, True)
    assert strategy.on_bar(emas(101.0, 100.0, regime=Regime.RANGING), None, True) is None
    assert strategy.on_bar(emas(102.0, 100.0, regime=Regime.TRENDING), None, True) is None


def test_not_selected_blocks_a_fresh_entry() -> None:
    strategy = regime_strategy()
    strategy.on_bar(emas(99.0, 100.0), None, False)
    assert strategy.on_bar(emas(101.0, 100.0), None, False) is None


def test_not_selected_turns_a_trending_reversal_into_an_exit() -> None:
    strategy = regime_strategy()
    long = holding(Side.LONG, "trend")
    strategy.on_bar(emas(101.0, 100.0), long, False)
    intent = strategy.on_bar(emas(99.0, 100.0, ts=8), long, False)
    assert intent == ExitPosition(SYM, 8, "ema 9 crossed against the long")


def test_not_selected_still_exits_a_range_position_at_the_middle() -> None:
    strategy = regime_strategy()
    short = holding(Side.SHORT, "range", entry=103.0)
    assert isinstance(strategy.on_bar(banded(99.5), short, False), ExitPosition)


def test_a_position_opened_by_rules_the_strategy_does_not_have_is_left_alone() -> None:
    strategy = regime_strategy()
    foreign = holding(Side.LONG, "long_dip")
    strategy.on_bar(emas(101.0, 100.0, regime=Regime.RANGING), foreign, True)
    assert strategy.on_bar(emas(99.0, 100.0, regime=Regime.RANGING), foreign, True) is None
    assert strategy.on_bar(banded(101.0), foreign, True) is None


def test_regime_strategy_needs_distinct_rule_names() -> None:
    with pytest.raises(ValueError):
        RegimeStrategy(TrendRules(), BollingerReversionRules(), TrendRules(), M1)


def test_regime_strategy_is_named_regime_and_runs_on_its_timeframe() -> None:
    strategy = regime_strategy()
    assert (strategy.name, strategy.interval_ms) == ("regime", M1)


# --- decide --------------------------------------------------------------------------------------


def _entry(side: Side) -> EnterPosition:
    return EnterPosition(SYM, 0, side, 100.0, 98.0 if side is Side.LONG else 102.0, "trend", "test")


def test_decide_prefers_an_entry_against_the_holding_to_its_management() -> None:
    rules = BollingerReversionRules()
    short = holding(Side.SHORT, "range")
    entry = _entry(Side.LONG)
    assert decide(entry, rules, banded(99.0), short, True) is entry


def test_decide_ignores_an_entry_on_the_side_already_held_and_manages_instead() -> None:
    rules = BollingerReversionRules()
    long = holding(Side.LONG, "range")
    intent = decide(_entry(Side.LONG), rules, banded(100.0), long, True)
    assert isinstance(intent, ExitPosition)


def test_decide_only_manages_a_holding_the_rules_opened() -> None:
    rules = BollingerReversionRules()
    assert decide(None, rules, banded(100.0), holding(Side.LONG, "trend"), True) is None
    assert decide(None, None, banded(100.0), holding(Side.LONG, "range"), True) is None


# --- Long dip: sizing table ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("depth", "share"),
    [(1.0, 0.05), (1.5, 0.08), (2.0, 0.12), (2.5, 0.15), (0.8, 0.05), (0.0, 0.05), (3.0, 0.15), (10.0, 0.15)],
)
def test_dip_share_follows_the_steps_and_holds_the_end_values(depth: float, share: float) -> None:
    assert dip_share(depth) == share


@pytest.mark.parametrize(("depth", "share"), [(1.25, 0.065), (1.75, 0.10), (2.25, 0.135), (1.1, 0.056)])
def test_dip_share_interpolates_linearly_between_steps(depth: float, share: float) -> None:
    assert dip_share(depth) == pytest.approx(share, abs=1e-12)


def test_dip_share_with_custom_steps() -> None:
    steps = ((1.0, 0.1), (3.0, 0.3))
    assert dip_share(2.0, steps) == pytest.approx(0.2)
    assert dip_share(0.5, steps) == 0.1
    assert dip_share(4.0, steps) == 0.3
    assert dip_share(7.0, ((2.0, 0.25),)) == 0.25


@given(st.floats(min_value=-10.0, max_value=20.0), st.floats(min_value=-10.0, max_value=20.0))
def test_dip_share_is_monotonic_non_decreasing_in_depth(a: float, b: float) -> None:
    low, high = min(a, b), max(a, b)
    assert dip_share(low) <= dip_share(high)


@given(st.floats(min_value=-1e6, max_value=1e6))
def test_dip_share_stays_within_the_smallest_and_largest_share(depth: float) -> None:
    shares = [s for _, s in DEFAULT_SIZE_STEPS]
    assert min(shares) <= dip_share(depth) <= max(shares)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size_steps": ()},
        {"size_steps": ((1.5, 0.05), (1.0, 0.08))},
        {"size_steps": ((1.0, 0.05), (1.0, 0.08))},
        {"size_steps": ((1.0, 0.0),)},
        {"size_steps": ((1.0, 1.5),)},
        {"atr_period": 0},
        {"high_lookback": 0},
        {"entry_multiplier": 0.0},
        {"budget_usdt": 0.0},
        {"budget_usdt": -100.0},
        {"target_atr": 0.0},
        {"stop_atr": 0.0},
        {"trail_distance_atr": 0.0},
        {"volatile_size_cut": 1.0},
        {"volatile_size_cut": -0.1},
        {"trail_activation_atr": -0.5},
    ],
)
def test_long_dip_settings_reject_invalid_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LongDipSettings(**kwargs)


def test_long_dip_settings_accept_the_edge_values() -> None:
    s = LongDipSettings(volatile_size_cut=0.0, trail_activation_atr=0.0, size_steps=((1.0, 1.0),))
    assert s.size_steps == ((1.0, 1.0),)


# --- Long dip: entries on 15m bars ----------------------------------------------------------------


class Tape:
    """Feeds 15m bars to a long-dip strategy at increasing timestamps.

    A bar closing at ``c`` spans c - half_range .. c + half_range unless told otherwise, so flat
    bars and stairs of at most ``half_range`` per bar all have a true range of exactly
    2 * half_range: the ATR(10) is then exactly that once warm.
    """

    def __init__(self, settings: LongDipSettings | None = None) -> None:
        self.rules = LongDipRules(settings)
        self.strategy = SingleStrategy(self.rules, M15)
        self.ts = 0
        self.intents: list[Intent] = []

    def bar(
        self, close: float, *, high: float | None = None, low: float | None = None, half_range: float = 0.5
    ) -> FeaturesUpdated:
        self.ts += M15
        return feat(
            ts=self.ts,
            interval_ms=M15,
            last=close,
            high=close + half_range if high is None else high,
            low=close - half_range if low is None else low,
            regime=Regime.RANGING,
        )

    def step(self, close: float, held: Holding | None = None, **kwargs: Any) -> Intent | None:
        intent = self.strategy.on_bar(self.bar(close, **kwargs), held, True)
        if intent is not None:
            self.intents.append(intent)
        return intent

    def flat(self, n: int, close: float, **kwargs: Any) -> None:
        for _ in range(n):
            self.step(close, **kwargs)


def spiked(depth: float, close: float = 1000.0, half_range: float = 2.5) -> tuple[Tape, Intent | None]:
    """20 bars at ``close`` whose first bar's wick printed the high ``depth`` ATRs above the close.

    The ATR never sees the first bar's true range (it has no previous close), so the ATR is
    exactly 2 * half_range and the only entry chance is the 20th bar, when the high window fills.
    The defaults (close 1000, ATR 5) keep every depth of the tests exact in binary floating point.
    """
    tape = Tape()
    tape.step(close, high=close + depth * 2 * half_range, half_range=half_range)
    tape.flat(18, close, half_range=half_range)
    assert tape.intents == []
    intent = tape.step(close, half_range=half_range)
    assert tape.rules.atr == 2 * half_range
    return tape, intent


def test_long_dip_needs_the_atr_and_the_whole_high_window_before_entering() -> None:
    tape = Tape()
    tape.step(100.0, high=103.0)
    tape.flat(18, 100.0)
    assert tape.rules.atr == 1.0
    assert tape.intents == []


def test_long_dip_gradual_dip_enters_on_the_first_close_0_8_atr_below_the_high() -> None:
    tape = Tape()
    tape.flat(20, 100.0)  # high 100.5, close 0.5 ATR below it
    assert tape.intents == []
    assert tape.rules.atr == 1.0
    assert tape.step(99.75) is None  # 0.75 ATR
    intent = tape.step(99.5)  # 1.0 ATR
    assert tape.rules.atr == 1.0
    assert intent == EnterPosition(
        SYM,
        tape.ts,
        Side.LONG,
        99.5,
        98.0,
        "long_dip",
        "dip 1.00 ATR below the high 100.5: 5.0% of budget",
        target=100.5,
        regime=Regime.RANGING,
        notional=250.0,
    )


@pytest.mark.parametrize(
    ("depth", "share"),
    [(0.8, 0.05), (1.0, 0.05), (1.25, 0.065), (1.5, 0.08), (2.0, 0.12), (2.5, 0.15), (3.0, 0.15)],
)
def test_long_dip_notional_is_the_depth_share_of_the_budget(depth: float, share: float) -> None:
    _, intent = spiked(depth)
    assert isinstance(intent, EnterPosition)
    assert intent.notional == pytest.approx(share * 5_000.0)
    assert intent.reason == f"dip {depth:.2f} ATR below the high {1000.0 + 5.0 * depth:g}: {share:.1%} of budget"
    assert intent.size_scale == 1.0


def test_long_dip_shallower_than_the_entry_multiplier_does_not_enter() -> None:
    _, intent = spiked(0.75)
    assert intent is None


def test_long_dip_stop_is_1_5_atr_below_and_target_1_atr_above_the_entry() -> None:
    _, intent = spiked(1.0, close=200.0, half_range=1.0)  # ATR 2
    assert isinstance(intent, EnterPosition)
    assert (intent.price, intent.stop, intent.target) == (200.0, 197.0, 202.0)
    assert intent.notional == 250.0


def test_long_dip_uses_the_configured_budget_and_distances() -> None:
    settings = LongDipSettings(budget_usdt=20_000.0, stop_atr=2.0, target_atr=3.0)
    tape = Tape(settings)
    tape.step(100.0, high=101.5)
    tape.flat(18, 100.0)
    intent = tape.step(100.0)
    assert isinstance(intent, EnterPosition)
    assert (intent.stop, intent.target) == (98.0, 103.0)
    assert intent.notional == pytest.approx(0.08 * 20_000.0)


def test_long_dip_cuts_the_size_by_30_percent_when_atr_is_above_3_percent_of_price() -> None:
    _, intent = spiked(1.0, close=20.0, half_range=0.5)  # ATR 1 = 5% of 20
    assert isinstance(intent, EnterPosition)
    assert intent.notional == pytest.approx(0.05 * 0.7 * 5_000.0)
    assert intent.reason.endswith(", size cut 30% at ATR 5.00% of price")
    assert intent.reason.startswith("dip 1.00 ATR below the high 21: 3.5% of budget")


def test_long_dip_does_not_cut_the_size_at_exactly_3_percent_atr() -> None:
    _, intent = spiked(1.0, close=100.0, half_range=1.5)  # ATR 3 = 3% of 100
    assert isinstance(intent, EnterPosition)
    assert intent.notional == 250.0
    assert "size cut" not in intent.reason


def test_long_dip_same_high_does_not_trigger_a_second_entry() -> None:
    tape = Tape()
    tape.flat(20, 100.0)
    tape.step(99.75)
    assert isinstance(tape.step(99.5), EnterPosition)
    assert tape.step(99.25) is None  # 1.25 ATR below the same high 100.5
    assert tape.step(99.0) is None
    assert tape.step(99.25) is None
    assert len(tape.intents) == 1


def test_long_dip_a_new_high_allows_a_new_entry() -> None:
    tape = Tape()
    tape.flat(20, 100.0)
    tape.flat(2, 99.5)  # entry on the first
    assert len(tape.intents) == 1
    for close in (99.75, 100.0, 100.25, 100.5):  # new high 101.0
        assert tape.step(close) is None
    assert tape.step(100.25) is None  # 0.75 ATR
    second = tape.step(100.0)  # 1.0 ATR below 101.0
    assert isinstance(second, EnterPosition)
    assert second.reason.startswith("dip 1.00 ATR below the high 101:")
    assert (second.price, second.stop, second.target) == (100.0, 98.5, 101.0)


def test_long_dip_high_older_than_high_lookback_bars_is_not_the_recent_high() -> None:
    closes = (99.75, 99.5, 99.25, 99.0, 98.75)  # stairs of 0.25 below a flat 100 (high 100.5)
    deep = LongDipSettings(entry_multiplier=1.2)
    tape = Tape(deep)
    tape.flat(20, 100.0)
    intents = [tape.step(c) for c in closes]
    assert [i is not None for i in intents] == [False, False, True, False, False]  # 1.25 ATR below 100.5
    short_memory = Tape(replace(deep, high_lookback=3))
    short_memory.flat(20, 100.0)
    # The highest of the last 3 highs is always 1.0 ATR above the close: never 1.2 deep.
    assert [short_memory.step(c) for c in closes] == [None] * 5


# --- Long dip: trailing stop ---------------------------------------------------------------------


def entered_long_dip() -> tuple[Tape, Holding]:
    """A long-dip long entered at 99.5 (1 ATR below 100.5) with ATR exactly 1."""
    tape = Tape()
    tape.flat(20, 100.0)
    tape.step(99.75)
    entry = tape.step(99.5)
    assert isinstance(entry, EnterPosition)
    return tape, Holding(Side.LONG, entry.price, entry.stop, entry.target, entry.strategy)


def test_long_dip_trailing_does_nothing_before_activation() -> None:
    tape, held = entered_long_dip()
    assert tape.step(99.5, held) is None
    assert tape.step(99.75, held) is None  # best 0.25 ATR above the entry, activation is 0.5
    assert tape.step(99.25, held) is None


def test_long_dip_trailing_moves_the_stop_half_an_atr_below_the_best_close_on_activation() -> None:
    tape, held = entered_long_dip()
    tape.step(99.75, held)
    intent = tape.step(100.0, held)  # best 0.5 ATR above 99.5
    assert tape.rules.atr == 1.0
    assert intent == MoveStop(SYM, tape.ts, 99.5, "trailing 0.5 ATR below 100")


def test_long_dip_trailing_follows_the_best_close_up_and_never_down() -> None:
    tape, held = entered_long_dip()
    tape.step(99.75, held)
    moved = tape.step(100.0, held)
    assert isinstance(moved, MoveStop)
    held = replace(held, stop=moved.stop)  # Portfolio reports the tighter stop
    moved = tape.step(100.25, held)
    assert isinstance(moved, MoveStop) and moved.stop == 99.75
    held = replace(held, stop=moved.stop)
    assert tape.step(100.0, held) is None  # best still 100.25: the same stop, not a lower one
    assert tape.step(99.9, held) is None
    assert tape.step(100.25, held) is None
    moved = tape.step(100.5, held)
    assert isinstance(moved, MoveStop) and moved.stop == 100.0


def test_long_dip_trailing_never_asks_for_a_stop_at_or_below_the_holdings_stop() -> None:
    tape, held = entered_long_dip()
    tape.step(99.75, held)
    assert tape.step(100.0, replace(held, stop=99.5)) is None  # trail would be 99.5: not tighter
    assert tape.step(100.25, replace(held, stop=99.9)) is None  # trail would be 99.75: looser
    moved = tape.step(100.5, replace(held, stop=99.9))
    assert isinstance(moved, MoveStop) and moved.stop == 100.0


def test_long_dip_trailing_is_repeated_while_portfolio_keeps_the_old_stop() -> None:
    tape, held = entered_long_dip()
    tape.step(99.75, held)
    assert isinstance(tape.step(100.0, held), MoveStop)
    again = tape.step(100.0, held)  # the holding still reports 98.0
    assert isinstance(again, MoveStop) and again.stop == 99.5


def test_long_dip_trailing_with_custom_activation_and_distance() -> None:
    tape = Tape(LongDipSettings(trail_activation_atr=1.0, trail_distance_atr=0.25))
    tape.flat(20, 100.0)
    tape.step(99.75)
    entry = tape.step(99.5)
    assert isinstance(entry, EnterPosition)
    held = Holding(Side.LONG, 99.5, entry.stop, entry.target, "long_dip")
    assert tape.step(99.75, held) is None
    assert tape.step(100.0, held) is None
    assert tape.step(100.25, held) is None  # 0.75 ATR: not active yet
    moved = tape.step(100.5, held)
    assert moved == MoveStop(SYM, tape.ts, 100.25, "trailing 0.25 ATR below 100.5")


def test_long_dip_does_not_manage_a_short_or_a_position_of_other_rules() -> None:
    tape, held = entered_long_dip()
    tape.step(99.75, held)
    assert tape.step(100.5, replace(held, side=Side.SHORT, stop=102.0)) is None
    assert tape.step(101.0, replace(held, strategy="trend")) is None


def test_long_dip_new_position_at_another_price_starts_its_best_close_afresh() -> None:
    tape, first = entered_long_dip()
    for close in (99.75, 100.0, 100.25):
        tape.step(close, first)
    tape.step(100.0)  # flat again
    second = Holding(Side.LONG, 100.0, 98.5, 101.0, "long_dip")
    assert tape.step(100.0, second) is None  # best of the new position is its entry


def test_long_dip_new_position_at_the_same_entry_price_starts_its_best_close_afresh() -> None:
    tape, first = entered_long_dip()
    tape.step(99.75, first)
    for close in (100.0, 100.25):  # best close 100.25, stop trailed to 99.75
        moved = tape.step(close, first)
        assert isinstance(moved, MoveStop)
        first = replace(first, stop=moved.stop)
    # This bar (low 99.0) takes the first position out at its 99.75 stop; flat at its close, the
    # strategy buys the new dip, 1.22 ATR below the high 100.75, at 99.5: the first entry's price.
    second_entry = tape.step(99.5)
    assert isinstance(second_entry, EnterPosition) and second_entry.price == first.entry
    second = Holding(Side.LONG, 99.5, second_entry.stop, second_entry.target, "long_dip")
    intent = tape.step(99.5, second)  # the new position has gained nothing: nothing to trail
    assert intent is None, f"asked {intent} with the price at 99.5"
