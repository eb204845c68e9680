"""Every indicator, batch and incremental, against TA-Lib (and pandas for the median) on real candles.

The agreement is asserted to 1e-9 relative after warm-up with identical NaN positions; in practice
it is bit for bit, except ATR (TA-Lib 0.8 reworded its Wilder step, about 1e-15 apart).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

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

talib: Any = pytest.importorskip("talib")

FloatArray = npt.NDArray[np.float64]

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"

# (id, file under DATA_DIR, price scale). CSV only: the feather files need pyarrow.
DATASETS = [
    ("bybit-BTCUSDT-1m", "bybit_linear/BTCUSDT_1m.csv.gz", 1.0),
    ("bybit-DOGEUSDT-15m", "bybit_linear/DOGEUSDT_15m.csv.gz", 1.0),
    ("binance-FILUSDT-1m-2023-02", "binance_usdm_monthly/FILUSDT-1m-2023-02.csv.gz", 1.0),
    # Real DOGE bars scaled to ~2e-5, where SHIB and PEPE trade: TA-Lib 0.4 collapsed such bands.
    ("bybit-DOGEUSDT-1m-scaled-1e-4", "bybit_linear/DOGEUSDT_1m.csv.gz", 1e-4),
]


class Candles(NamedTuple):
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray


@pytest.fixture(scope="module", params=DATASETS, ids=[d[0] for d in DATASETS])
def candles(request: pytest.FixtureRequest) -> Candles:
    _, name, scale = request.param
    path = DATA_DIR / name
    if not path.exists():
        pytest.skip(f"real candles not found at {path} (the shared data checkout lives next to the repo)")
    frame = pd.read_csv(path)

    def column(key: str) -> FloatArray:
        return np.ascontiguousarray(frame[key].to_numpy(dtype=np.float64))

    return Candles(column("high") * scale, column("low") * scale, column("close") * scale, column("volume"))


def _nan_for_none(values: Iterable[float | None]) -> FloatArray:
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


def _assert_matches(got: FloatArray, reference: FloatArray, rtol: float = 1e-9) -> None:
    np.testing.assert_array_equal(np.isnan(got), np.isnan(reference), err_msg="warm-up differs")
    warm = ~np.isnan(reference)
    assert warm.any(), "series too short to compare"
    np.testing.assert_allclose(got[warm], reference[warm], rtol=rtol, atol=0.0)


@pytest.mark.parametrize("period", [20, 50])
def test_sma_matches_talib_sma(candles: Candles, period: int) -> None:
    reference = talib.SMA(candles.close, period)
    _assert_matches(sma(candles.close, period), reference)
    s = Sma(period)
    _assert_matches(_nan_for_none(s.update(x) for x in candles.close.tolist()), reference)


@pytest.mark.parametrize("period", [14, 5])
def test_adx_matches_talib_adx(candles: Candles, period: int) -> None:
    reference = talib.ADX(candles.high, candles.low, candles.close, period)
    _assert_matches(adx(candles.high, candles.low, candles.close, period).adx, reference)
    a = Adx(period)
    bars = zip(candles.high.tolist(), candles.low.tolist(), candles.close.tolist(), strict=True)
    _assert_matches(_nan_for_none(a.update(h, lo, c) for h, lo, c in bars), reference)


@pytest.mark.parametrize("period", [14, 5])
def test_directional_indicators_match_talib_plus_di_and_minus_di(candles: Candles, period: int) -> None:
    hlc = (candles.high, candles.low, candles.close)
    series = adx(*hlc, period)
    _assert_matches(series.plus_di, talib.PLUS_DI(*hlc, period))
    _assert_matches(series.minus_di, talib.MINUS_DI(*hlc, period))
    a = Adx(period)
    plus_di: list[float | None] = []
    minus_di: list[float | None] = []
    for h, lo, c in zip(candles.high.tolist(), candles.low.tolist(), candles.close.tolist(), strict=True):
        a.update(h, lo, c)
        plus_di.append(a.plus_di)
        minus_di.append(a.minus_di)
    _assert_matches(_nan_for_none(plus_di), talib.PLUS_DI(*hlc, period))
    _assert_matches(_nan_for_none(minus_di), talib.MINUS_DI(*hlc, period))


@pytest.mark.parametrize(("period", "nbdev"), [(20, 2.0), (10, 1.0)])
def test_bollinger_matches_talib_bbands_with_sma(candles: Candles, period: int, nbdev: float) -> None:
    reference = talib.BBANDS(candles.close, period, nbdev, nbdev, 0)  # matype 0 = SMA
    for got, ref in zip(bollinger(candles.close, period, nbdev), reference, strict=True):
        _assert_matches(got, ref)
    b = Bollinger(period, nbdev)
    bands = [b.update(x) for x in candles.close.tolist()]
    for k, ref in enumerate(reference):
        _assert_matches(_nan_for_none(None if band is None else band[k] for band in bands), ref)


@pytest.mark.parametrize("period", [10, 1])
def test_momentum_matches_talib_mom(candles: Candles, period: int) -> None:
    reference = talib.MOM(candles.close, period)
    _assert_matches(momentum(candles.close, period), reference)
    m = Momentum(period)
    _assert_matches(_nan_for_none(m.update(x) for x in candles.close.tolist()), reference)


@pytest.mark.parametrize("period", [20, 3])
def test_volume_spike_is_volume_over_talib_sma_of_the_previous_bar(candles: Candles, period: int) -> None:
    previous_mean = np.full(len(candles.volume), np.nan)
    previous_mean[1:] = talib.SMA(candles.volume, period)[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        reference = np.where(previous_mean > 0.0, candles.volume / previous_mean, np.nan)
    _assert_matches(volume_spike(candles.volume, period), reference)
    v = VolumeSpike(period)
    _assert_matches(_nan_for_none(v.update(x) for x in candles.volume.tolist()), reference)


@pytest.mark.parametrize("window", [20, 21])
def test_rolling_median_matches_pandas_rolling_median(candles: Candles, window: int) -> None:
    reference = pd.Series(candles.close).rolling(window).median().to_numpy(dtype=np.float64)
    _assert_matches(rolling_median(candles.close, window), reference, rtol=1e-12)
    m = RollingMedian(window)
    _assert_matches(_nan_for_none(m.update(x) for x in candles.close.tolist()), reference, rtol=1e-12)


def test_ema_matches_talib_ema(candles: Candles) -> None:
    reference = talib.EMA(candles.close, 20)
    _assert_matches(ema(candles.close, 20), reference)
    e = Ema(20)
    _assert_matches(_nan_for_none(e.update(x) for x in candles.close.tolist()), reference)


def test_atr_matches_talib_atr(candles: Candles) -> None:
    reference = talib.ATR(candles.high, candles.low, candles.close, 14)
    _assert_matches(atr(candles.high, candles.low, candles.close, 14), reference)
    a = Atr(14)
    bars = zip(candles.high.tolist(), candles.low.tolist(), candles.close.tolist(), strict=True)
    _assert_matches(_nan_for_none(a.update(h, lo, c) for h, lo, c in bars), reference)
