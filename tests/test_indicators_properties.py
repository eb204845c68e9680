"""SMA, ADX, Bollinger, rolling median, momentum and volume spike: batch == incremental, and invariants.

The batch functions run numba kernels: the last section checks every one of them bit for bit against
its incremental class, over tiny and huge magnitudes, flat stretches and a long random walk.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from itertools import accumulate

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.core.indicators import (
    Adx,
    Atr,
    Bollinger,
    Ema,
    Momentum,
    RollingMedian,
    Sma,
    VolumeSpike,
    adx,
    atr,
    bollinger,
    ema,
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


@pytest.mark.parametrize("window", [1, 2, 5, 100])
def test_rolling_median_equals_numpys_median_of_each_window(window: int) -> None:
    values = np.random.default_rng(7).uniform(1.0, 1e5, 2_000).round(0)  # rounding makes ties
    expected = [float(np.median(values[i + 1 - window : i + 1])) for i in range(window - 1, len(values))]
    assert rolling_median(values, window)[window - 1 :].tolist() == expected


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


# Bit-for-bit agreement of the compiled batch functions with the classes, at any magnitude.

# A run's price: anywhere from 1e-6 to 1e5, so one series can mix both ends and trip Bollinger's
# outlier rebuild, or a decimal price whose flat window leaves rounding residue.
wide_prices = st.one_of(
    st.floats(min_value=1e-6, max_value=1e5, allow_nan=False, allow_infinity=False),
    st.sampled_from([1e-6, 3.3e-6, 0.3, 100.1, 1e5]),
)
wide_runs = st.lists(st.tuples(wide_prices, st.integers(min_value=1, max_value=40)), max_size=12).map(
    lambda runs: [price for price, length in runs for _ in range(length)]
)
# A walk of relative steps around one magnitude, with steps of zero for flat stretches: a spread that
# is tiny against the price, in price units down to 1e-12.
scaled_walks = st.tuples(
    st.sampled_from([1e-6, 1e-3, 1.0, 1e5]),
    st.lists(st.one_of(st.just(0.0), st.floats(min_value=-0.01, max_value=0.01)), max_size=150),
).map(lambda walk: [walk[0] * level for level in accumulate((1.0 + step for step in walk[1]), operator.mul)])
wide_series = st.one_of(wide_runs, scaled_walks)
wide_periods = st.integers(min_value=1, max_value=40)
wide_periods_from_2 = st.integers(min_value=2, max_value=40)

# Runs of identical bars: a price, how far high and low reach beyond it (0 for a flat bar), where it
# closed, and how many bars repeat it.
wide_bars = st.lists(
    st.tuples(
        wide_prices,
        st.one_of(st.just(0.0), st.floats(0.0, 0.05)),
        st.one_of(st.just(0.0), st.floats(0.0, 0.05)),
        st.floats(0.0, 1.0),
        st.integers(min_value=1, max_value=20),
    ),
    max_size=15,
).map(lambda runs: [bar[:4] for bar in runs for _ in range(bar[4])])

wide_volumes = st.lists(
    st.tuples(
        st.one_of(st.just(0.0), st.sampled_from([1e-6, 1e9]), st.floats(min_value=0.0, max_value=1e9)),
        st.integers(min_value=1, max_value=30),
    ),
    max_size=12,
).map(lambda runs: [volume for volume, length in runs for _ in range(length)])

SHORT = [1e-6, 1e5, 1e5]  # shorter than most periods drawn, with both magnitudes in it


def _assert_same_bits(got: FloatArray, expected: FloatArray) -> None:
    assert got.dtype == np.float64
    assert got.shape == expected.shape
    assert np.array_equal(got, expected, equal_nan=True)
    # The same floats, and the same bits: a -0.0 for 0.0 or another NaN would show here.
    np.testing.assert_array_equal(got.view(np.uint64), expected.view(np.uint64))


def _ema_by_class(values: list[float], period: int) -> FloatArray:
    e = Ema(period)
    return _nan_for_none(e.update(x) for x in values)


def _sma_by_class(values: list[float], period: int) -> FloatArray:
    s = Sma(period)
    return _nan_for_none(s.update(x) for x in values)


def _momentum_by_class(values: list[float], period: int) -> FloatArray:
    m = Momentum(period)
    return _nan_for_none(m.update(x) for x in values)


def _volume_spike_by_class(values: list[float], period: int) -> FloatArray:
    v = VolumeSpike(period)
    return _nan_for_none(v.update(x) for x in values)


def _atr_by_class(high: list[float], low: list[float], close: list[float], period: int) -> FloatArray:
    a = Atr(period)
    return _nan_for_none(a.update(h, lo, c) for h, lo, c in zip(high, low, close, strict=True))


def _adx_by_class(
    high: list[float], low: list[float], close: list[float], period: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    a = Adx(period)
    values, plus_di, minus_di = [], [], []
    for h, lo, c in zip(high, low, close, strict=True):
        values.append(a.update(h, lo, c))
        plus_di.append(a.plus_di)
        minus_di.append(a.minus_di)
    return _nan_for_none(values), _nan_for_none(plus_di), _nan_for_none(minus_di)


def _bollinger_by_class(values: list[float], period: int, nbdev: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    b = Bollinger(period, nbdev)
    bands = [b.update(x) for x in values]
    upper, middle, lower = (_nan_for_none(None if band is None else band[k] for band in bands) for k in range(3))
    return upper, middle, lower


@given(wide_series, wide_periods)
@example([], 1)
@example(SHORT, 4)
def test_batch_ema_is_the_class_bit_for_bit(values: list[float], period: int) -> None:
    _assert_same_bits(ema(_array(values), period), _ema_by_class(values, period))


@given(wide_series, wide_periods)
@example([], 1)
@example(SHORT, 4)
def test_batch_sma_is_the_class_bit_for_bit(values: list[float], period: int) -> None:
    _assert_same_bits(sma(_array(values), period), _sma_by_class(values, period))


@given(wide_series, wide_periods)
@example([], 1)
@example(SHORT, 3)
def test_batch_momentum_is_the_class_bit_for_bit(values: list[float], period: int) -> None:
    _assert_same_bits(momentum(_array(values), period), _momentum_by_class(values, period))


@given(wide_volumes, wide_periods)
@example([], 1)
@example(SHORT, 3)
def test_batch_volume_spike_is_the_class_bit_for_bit(values: list[float], period: int) -> None:
    _assert_same_bits(volume_spike(_array(values), period), _volume_spike_by_class(values, period))


@given(wide_series, wide_periods_from_2, st.one_of(st.just(2.0), st.floats(min_value=0.0, max_value=4.0)))
@example([], 2, 2.0)
@example(SHORT, 4, 2.0)
def test_batch_bollinger_is_the_class_bit_for_bit(values: list[float], period: int, nbdev: float) -> None:
    got = bollinger(_array(values), period, nbdev)
    for line, expected in zip(got, _bollinger_by_class(values, period, nbdev), strict=True):
        _assert_same_bits(line, expected)


@given(wide_bars, wide_periods)
@example([], 1)
@example([(1e-6, 0.0, 0.0, 0.5), (1e5, 0.01, 0.01, 0.5)], 2)
def test_batch_atr_is_the_class_bit_for_bit(raw: list[tuple[float, float, float, float]], period: int) -> None:
    high, low, close = _hlc(raw)
    _assert_same_bits(atr(_array(high), _array(low), _array(close), period), _atr_by_class(high, low, close, period))


@given(wide_bars, wide_periods_from_2)
@example([], 2)
@example([(1e-6, 0.0, 0.0, 0.5), (1e5, 0.01, 0.01, 0.5)], 3)
def test_batch_adx_is_the_class_bit_for_bit(raw: list[tuple[float, float, float, float]], period: int) -> None:
    high, low, close = _hlc(raw)
    got = adx(_array(high), _array(low), _array(close), period)
    for line, expected in zip(got, _adx_by_class(high, low, close, period), strict=True):
        _assert_same_bits(line, expected)


@pytest.mark.parametrize("scale", [1e-6, 1e5])
def test_batch_functions_are_the_classes_bit_for_bit_on_a_long_random_walk(scale: float) -> None:
    # Long enough that a contracted multiply-add or a reordered sum would surface somewhere.
    rng = np.random.default_rng(20240611)
    n = 200_000
    close = scale * 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
    for start in range(0, n, 5_000):  # a flat stretch now and then, to drive Bollinger's rebuilds
        close[start : start + 60] = close[start]
    high = close * (1.0 + np.abs(rng.normal(0.0, 1e-3, n)))
    low = close * (1.0 - np.abs(rng.normal(0.0, 1e-3, n)))
    volume = np.where(rng.uniform(size=n) < 0.05, 0.0, rng.lognormal(3.0, 1.0, n))
    cs, hs, ls, vs = close.tolist(), high.tolist(), low.tolist(), volume.tolist()

    _assert_same_bits(ema(close, 20), _ema_by_class(cs, 20))
    _assert_same_bits(sma(close, 20), _sma_by_class(cs, 20))
    _assert_same_bits(momentum(close, 10), _momentum_by_class(cs, 10))
    _assert_same_bits(volume_spike(volume, 20), _volume_spike_by_class(vs, 20))
    _assert_same_bits(atr(high, low, close, 14), _atr_by_class(hs, ls, cs, 14))
    for line, expected in zip(adx(high, low, close, 14), _adx_by_class(hs, ls, cs, 14), strict=True):
        _assert_same_bits(line, expected)
    for line, expected in zip(bollinger(close, 20, 2.0), _bollinger_by_class(cs, 20, 2.0), strict=True):
        _assert_same_bits(line, expected)
