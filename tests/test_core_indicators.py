"""EMA and ATR: hand-computed values, and batch == incremental on random series."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.indicators import Atr, Ema, atr, ema

# Bars chosen so every true range and ATR is exact in binary floating point (period 3):
#   bar 1: TR = high - low = 1.5 (ties with |prev close - high|)
#   bar 2: TR = high - low = 1.0
#   bar 3: gap up, TR = |prev close - high| = 3.5  -> first ATR = (1.5 + 1 + 3.5) / 3 = 2.0
#   bar 4: gap down, TR = |prev close - low| = 5.0 -> ATR = (2.0 * 2 + 5.0) / 3 = 3.0
HIGH = [10.0, 11.0, 11.0, 13.5, 12.0]
LOW = [9.0, 9.5, 10.0, 12.5, 8.0]
CLOSE = [9.5, 10.5, 10.0, 13.0, 9.0]


def test_ema_is_seeded_with_the_sma_of_the_first_period_values() -> None:
    e = Ema(3)
    assert e.update(10.0) is None
    assert e.update(11.0) is None
    assert not e.ready
    assert e.update(12.0) == 11.0
    assert e.ready and e.value == 11.0


def test_ema_then_moves_by_alpha_two_over_period_plus_one() -> None:
    e = Ema(3)  # alpha = 0.5
    for x in (10.0, 11.0, 12.0):
        e.update(x)
    assert e.update(16.0) == 13.5  # 11 + 0.5 * (16 - 11)
    assert e.update(8.0) == 10.75  # 13.5 + 0.5 * (8 - 13.5)


def test_ema_of_period_one_is_the_series_itself() -> None:
    e = Ema(1)
    assert [e.update(x) for x in (3.0, 7.0, 5.0)] == [3.0, 7.0, 5.0]


def test_batch_ema_is_nan_until_period_minus_one_then_matches_hand_values() -> None:
    out = ema(np.array([10.0, 11.0, 12.0, 16.0, 8.0]), 3)
    assert np.isnan(out[:2]).all()
    assert out[2:].tolist() == [11.0, 13.5, 10.75]


def test_atr_first_value_is_the_mean_of_the_true_ranges_of_bars_1_to_period() -> None:
    a = Atr(3)
    got = [a.update(h, lo, c) for h, lo, c in zip(HIGH, LOW, CLOSE, strict=False)]
    assert got == [None, None, None, 2.0, 3.0]
    assert a.ready and a.value == 3.0


def test_batch_atr_first_value_is_at_index_period_like_ta_lib() -> None:
    out = atr(np.array(HIGH), np.array(LOW), np.array(CLOSE), 3)
    assert np.isnan(out[:3]).all()
    assert out[3:].tolist() == [2.0, 3.0]


def test_atr_of_period_one_is_the_true_range() -> None:
    out = atr(np.array(HIGH), np.array(LOW), np.array(CLOSE), 1)
    assert math.isnan(out[0])
    assert out[1:].tolist() == [1.5, 1.0, 3.5, 5.0]


def test_wilder_smoothing_uses_period_minus_one_weight_on_the_previous_atr() -> None:
    a = Atr(3)
    for h, lo, c in zip(HIGH, LOW, CLOSE, strict=False):
        a.update(h, lo, c)
    # Next bar: prev close 9.0, high 10, low 9 -> TR 1.0; ATR = (3.0 * 2 + 1.0) / 3
    assert a.update(10.0, 9.0, 9.5) == (3.0 * 2 + 1.0) / 3


def test_short_series_give_all_nan() -> None:
    assert np.isnan(ema(np.array([1.0, 2.0]), 3)).all()
    assert np.isnan(atr(np.array(HIGH[:3]), np.array(LOW[:3]), np.array(CLOSE[:3]), 3)).all()
    assert ema(np.array([], dtype=np.float64), 3).shape == (0,)


def test_invalid_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        Ema(0)
    with pytest.raises(ValueError):
        Atr(0)
    with pytest.raises(ValueError):
        ema(np.ones((2, 2)), 2)
    with pytest.raises(ValueError):
        atr(np.ones(3), np.ones(3), np.ones(2), 2)


prices = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
periods = st.integers(min_value=1, max_value=30)


@given(st.lists(prices, max_size=120), periods)
def test_batch_ema_equals_incremental_ema_exactly(values: list[float], period: int) -> None:
    e = Ema(period)
    incremental = [e.update(x) for x in values]
    expected = np.array([math.nan if v is None else v for v in incremental], dtype=np.float64)
    np.testing.assert_array_equal(ema(np.array(values, dtype=np.float64), period), expected)


bars = st.lists(
    st.tuples(prices, st.floats(min_value=0.0, max_value=0.2), st.floats(0.0, 1.0)),
    max_size=120,
)


@given(bars, periods)
def test_batch_atr_equals_incremental_atr_exactly(raw: list[tuple[float, float, float]], period: int) -> None:
    # Each bar: a price, a relative range around it, and where in the range it closed.
    high = [p * (1.0 + r) for p, r, _ in raw]
    low = [p * (1.0 - r) for p, r, _ in raw]
    close = [lo + (h - lo) * w for h, lo, (_, _, w) in zip(high, low, raw, strict=False)]
    a = Atr(period)
    incremental = [a.update(h, lo, c) for h, lo, c in zip(high, low, close, strict=False)]
    expected = np.array([math.nan if v is None else v for v in incremental], dtype=np.float64)
    got = atr(np.array(high), np.array(low), np.array(close), period)
    np.testing.assert_array_equal(got, expected)
