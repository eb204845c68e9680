"""SMA, ADX, Bollinger, rolling median, momentum and volume spike: batch == incremental, and invariants."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core import indicators
from engine.core.indicators import (
    Adx,
    Bollinger,
    Momentum,
    RollingMedian,
    Sma,
    VolumeSpike,
    adx,
    bollinger,
    momentum,
    rolling_median,
    sma,
    volume_spike,
)

FloatArray = npt.NDArray[np.float64]

prices = st.floats(min_value=1.0, max_value=1e5, allow_nan=False, allow_infinity=False)
# Runs of one price, as in an illiquid stretch. A decimal price such as 100.1 leaves rounding residue
# in a flat window, which is what drives Bollinger's two-pass rebuild and its zero floor.
run_prices = st.one_of(prices, st.sampled_from([100.1, 0.3]))
series = st.lists(st.tuples(run_prices, st.integers(min_value=1, max_value=40)), max_size=12).map(
    lambda runs: [price for price, length in runs for _ in range(length)]
)
periods = st.integers(min_value=1, max_value=30)
periods_from_2 = st.integers(min_value=2, max_value=30)
volumes = st.lists(st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=1e9)), max_size=150)

# Each bar: a base price, how far the high and low reach beyond it, and where in the range it closed.
raw_bars = st.lists(
    st.tuples(prices, st.floats(0.0, 0.05), st.floats(0.0, 0.05), st.floats(0.0, 1.0)),
    max_size=150,
)


def _hlc(raw: list[tuple[float, float, float, float]]) -> tuple[list[float], list[float], list[float]]:
    high = [base * (1.0 + up) for base, up, _, _ in raw]
    low = [base * (1.0 - down) for base, _, down, _ in raw]
    close = [lo + (h - lo) * w for h, lo, (_, _, _, w) in zip(high, low, raw, strict=True)]
    return high, low, close


def _nan_for_none(values: Iterable[float | None]) -> FloatArray:
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


def _array(values: list[float]) -> FloatArray:
    return np.array(values, dtype=np.float64)


@given(series, periods)
def test_batch_sma_equals_incremental_sma_exactly(values: list[float], period: int) -> None:
    s = Sma(period)
    expected = _nan_for_none(s.update(x) for x in values)
    np.testing.assert_array_equal(sma(_array(values), period), expected)


@given(raw_bars, periods_from_2)
def test_batch_adx_equals_incremental_adx_and_dis_exactly(
    raw: list[tuple[float, float, float, float]], period: int
) -> None:
    high, low, close = _hlc(raw)
    a = Adx(period)
    values, plus_di, minus_di = [], [], []
    for h, lo, c in zip(high, low, close, strict=True):
        values.append(a.update(h, lo, c))
        plus_di.append(a.plus_di)
        minus_di.append(a.minus_di)
    got = adx(_array(high), _array(low), _array(close), period)
    np.testing.assert_array_equal(got.adx, _nan_for_none(values))
    np.testing.assert_array_equal(got.plus_di, _nan_for_none(plus_di))
    np.testing.assert_array_equal(got.minus_di, _nan_for_none(minus_di))


@given(series, periods_from_2, st.floats(min_value=0.0, max_value=4.0))
def test_batch_bollinger_equals_incremental_bollinger_exactly(values: list[float], period: int, nbdev: float) -> None:
    b = Bollinger(period, nbdev)
    bands = [b.update(x) for x in values]
    got = bollinger(_array(values), period, nbdev)
    for k in range(3):
        np.testing.assert_array_equal(got[k], _nan_for_none(None if band is None else band[k] for band in bands))


@given(series, periods)
def test_batch_rolling_median_equals_incremental_rolling_median_exactly(values: list[float], window: int) -> None:
    m = RollingMedian(window)
    expected = _nan_for_none(m.update(x) for x in values)
    np.testing.assert_array_equal(rolling_median(_array(values), window), expected)


@given(series, periods)
def test_batch_momentum_equals_incremental_momentum_exactly(values: list[float], period: int) -> None:
    m = Momentum(period)
    expected = _nan_for_none(m.update(x) for x in values)
    np.testing.assert_array_equal(momentum(_array(values), period), expected)


@given(volumes, periods)
def test_batch_volume_spike_equals_incremental_volume_spike_exactly(values: list[float], period: int) -> None:
    v = VolumeSpike(period)
    expected = _nan_for_none(v.update(x) for x in values)
    np.testing.assert_array_equal(volume_spike(_array(values), period), expected)


@given(series, periods)
def test_rolling_median_agrees_with_pandas(values: list[float], window: int) -> None:
    reference = pd.Series(values, dtype=np.float64).rolling(window).median().to_numpy(dtype=np.float64)
    np.testing.assert_allclose(rolling_median(_array(values), window), reference, rtol=1e-12, atol=0.0)


@given(series, periods_from_2, st.floats(min_value=0.0, max_value=4.0))
def test_bollinger_lower_band_never_exceeds_middle_nor_middle_the_upper(
    values: list[float], period: int, nbdev: float
) -> None:
    upper, middle, lower = bollinger(_array(values), period, nbdev)
    warm = ~np.isnan(middle)
    assert (lower[warm] <= middle[warm]).all()
    assert (middle[warm] <= upper[warm]).all()


@given(raw_bars, periods_from_2)
def test_adx_and_directional_indicators_stay_within_0_and_100(
    raw: list[tuple[float, float, float, float]], period: int
) -> None:
    high, low, close = _hlc(raw)
    for line in adx(_array(high), _array(low), _array(close), period):
        warm = line[~np.isnan(line)]
        assert ((warm >= 0.0) & (warm <= 100.0)).all()


@given(run_prices, st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=40))
def test_median_of_a_constant_series_is_that_constant(price: float, window: int, extra: int) -> None:
    out = rolling_median(np.full(window + extra, price), window)
    assert (out[window - 1 :] == price).all()


@pytest.mark.parametrize("window", [1, 2, 5])
def test_rolling_median_does_not_depend_on_how_the_windows_are_chunked(
    monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    values = np.random.default_rng(7).uniform(1.0, 1e5, 200)
    in_one_chunk = rolling_median(values, window)
    monkeypatch.setattr(indicators, "_MEDIAN_CHUNK_ELEMENTS", 3 * window)  # three windows per chunk
    np.testing.assert_array_equal(rolling_median(values, window), in_one_chunk)


def test_median_of_an_even_window_is_the_mean_of_the_middle_two() -> None:
    m = RollingMedian(4)
    assert [m.update(x) for x in (5.0, 1.0, 4.0, 2.0, 0.0)] == [None, None, None, 3.0, 1.5]


def test_bands_of_an_instrument_priced_near_1e_5_keep_their_width() -> None:
    # Variance ~1e-14, far below the 1e-8 under which TA-Lib 0.4 zeroed the standard deviation.
    values = [2.0e-5, 2.1e-5, 1.9e-5, 2.05e-5, 1.95e-5] * 4
    bands = bollinger(_array(values), 5, 2.0)
    assert (bands.upper[4:] - bands.lower[4:] > 1e-6).all()


def test_volume_spike_compares_a_bar_with_the_mean_of_the_bars_before_it() -> None:
    v = VolumeSpike(2)
    assert [v.update(x) for x in (10.0, 30.0, 60.0, 22.5)] == [None, None, 3.0, 0.5]


def test_volume_spike_after_bars_without_volume_has_no_value_but_stays_ready() -> None:
    v = VolumeSpike(2)
    for x in (0.0, 0.0):
        v.update(x)
    assert not v.ready
    assert v.update(5.0) is None
    assert v.ready
    assert math.isnan(volume_spike(_array([0.0, 0.0, 5.0]), 2)[2])


def test_invalid_parameters_are_rejected() -> None:
    for make in (lambda: Sma(0), lambda: Adx(1), lambda: Bollinger(1), lambda: RollingMedian(0), lambda: Momentum(0)):
        with pytest.raises(ValueError):
            make()
    with pytest.raises(ValueError):
        Bollinger(20, -1.0)
    with pytest.raises(ValueError):
        bollinger(_array([1.0, 2.0]), 2, math.nan)
    with pytest.raises(ValueError):
        adx(_array([1.0, 2.0]), _array([1.0, 2.0]), _array([1.0]), 2)
