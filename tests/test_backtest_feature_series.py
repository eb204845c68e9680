"""FrameSeries: the batch features equal the incremental FeatureEngine's report, bar by bar."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backtest.data import Candles
from engine.backtest.feature_series import FrameSeries
from engine.core.features import FeatureEngine, FeatureSettings
from engine.core.regime import RegimeThresholds
from engine.messages import FeaturesUpdated


def _candles(closes: list[float], spread: list[float], volume: list[float], interval: int = 60_000) -> Candles:
    close = np.asarray(closes, dtype=np.float64)
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = np.asarray(spread, dtype=np.float64)
    high = np.maximum(open_, close) + wick
    low = np.minimum(open_, close) - wick
    ts = np.arange(len(close), dtype=np.int64) * interval + 1_700_000_040_000
    return Candles("TESTUSDT", interval, ts, open_, high, low, close, np.asarray(volume, dtype=np.float64))


def _same(a: FeaturesUpdated, b: FeaturesUpdated) -> bool:
    """Field by field, NaN equal to NaN, and the same Python types (no numpy scalars)."""
    for x, y in zip(_fields(a), _fields(b), strict=True):
        if type(x) is not type(y):
            return False
        if isinstance(x, float) and math.isnan(x) and math.isnan(y):
            continue
        if x != y:
            return False
    return True


def _fields(f: FeaturesUpdated) -> list[object]:
    return [getattr(f, name) for name in FeaturesUpdated.__dataclass_fields__]


def _incremental(candles: Candles, s: FeatureSettings) -> list[FeaturesUpdated]:
    engine = FeatureEngine(candles.symbol, s, (candles.interval_ms,))
    return [engine.on_bar(bar) for bar in candles.bars()]


SMALL = FeatureSettings(ema_fast=3, ema_slow=5, atr_period=4, adx_period=3, bb_period=4, atr_median_window=5,
                        momentum_period=2, volume_period=3, regime=RegimeThresholds(20.0, 1.5))  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([100.0, 100.0, 100.5, 99.5, 101.0, 0.001, 0.0011, 50_000.0]),
            st.sampled_from([0.0, 0.0, 0.01, 0.5, 2.0]),
            st.sampled_from([0.0, 1.0, 5.0, 1e6]),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_every_snapshot_equals_the_feature_engines_report(rows: list[tuple[float, float, float]]) -> None:
    closes, wicks, volumes = (list(c) for c in zip(*rows, strict=True))
    candles = _candles(closes, wicks, volumes)
    series = FrameSeries.of(candles, SMALL)
    expected = _incremental(candles, SMALL)
    assert len(series) == len(expected)
    for i, f in enumerate(expected):
        assert _same(series.snapshot(i), f), (i, series.snapshot(i), f)


def test_a_long_random_walk_with_default_settings_matches_on_every_bar() -> None:
    rng = np.random.default_rng(7)
    n = 5_000
    steps = rng.normal(0.0, 1.0, n) * np.where(np.arange(n) % 1_000 < 500, 0.5, 3.0)  # calm and wild spells
    closes = (20_000.0 + np.cumsum(steps)).tolist()
    candles = _candles(closes, rng.random(n).tolist(), rng.lognormal(3.0, 1.0, n).tolist())
    s = FeatureSettings()
    series = FrameSeries.of(candles, s)
    expected = _incremental(candles, s)
    regimes = {f.regime for f in expected}
    assert len(regimes) >= 3, regimes  # the walk exercises the regime classification
    assert all(_same(series.snapshot(i), f) for i, f in enumerate(expected))


def test_since_sees_the_same_bars_from_a_later_start() -> None:
    candles = _candles([100.0 + (i % 7) for i in range(40)], [0.5] * 40, [10.0] * 40)
    series = FrameSeries.of(candles, SMALL)
    later = series.since(15)
    assert len(later) == 25
    assert later.close_ts[0] == series.close_ts[15]
    assert _same(later.snapshot(3), series.snapshot(18))
    assert np.array_equal(later.ema_fast, series.ema_fast[15:], equal_nan=True)


def test_memo_computes_a_derived_series_once() -> None:
    series = FrameSeries.of(_candles([1.0, 2.0, 3.0], [0.1] * 3, [1.0] * 3), SMALL)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return 42

    assert series.memo("x", compute) == 42
    assert series.memo("x", compute) == 42
    assert calls == [1]


def test_scan_rows_are_nan_until_the_indicators_are_warm() -> None:
    candles = _candles([100.0 + math.sin(i / 3) for i in range(30)], [0.2] * 30, [5.0 + i for i in range(30)])
    rows = FrameSeries.of(candles, SMALL).scan_rows()
    assert rows.shape == (30, 4)
    assert np.isnan(rows[0]).all()
    assert np.isfinite(rows[-1]).all()


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_series_have_no_warm_bar(n: int) -> None:
    series = FrameSeries.of(_candles([100.0] * n, [0.0] * n, [1.0] * n) if n else _empty(), SMALL)
    assert len(series) == n
    assert not series.warm.any()


def _empty() -> Candles:
    e = np.empty(0)
    return Candles("TESTUSDT", 60_000, np.empty(0, np.int64), e, e, e, e, e)
