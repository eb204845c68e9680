"""One timeframe's features for a whole series, computed at once: the backtest's batch FeatureEngine.

A portfolio backtest cannot afford the incremental FeatureEngine on every bar of every symbol
(about 15 us a bar), and most bars decide nothing: only the scanner's ranking needs every
symbol's indicators at every step, and it takes them as arrays. So the indicators come from the
compiled batch forms in ``indicators``, which equal the incremental classes bit for bit, and a
``FeaturesUpdated`` is built only for the bars a strategy actually looks at. ``snapshot(i)`` is
exactly what ``FeatureEngine.on_bar`` returns for bar ``i`` of the same series when no book or
ticker was seen (the backtest has only bars), which the tests check field by field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from engine.backtest.data import Candles
from engine.core.features import FeatureSettings
from engine.core.indicators import adx, atr, bollinger, ema, momentum, rolling_median, volume_spike
from engine.core.scanner import component_rows
from engine.messages import FeaturesUpdated, Regime

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
T = TypeVar("T")
NAN = float("nan")

_REGIMES = (Regime.UNKNOWN, Regime.RANGING, Regime.TRENDING, Regime.HIGH_VOLATILITY)


def regime_codes(
    adx_: FloatArray, atr_: FloatArray, atr_median: FloatArray, s: FeatureSettings
) -> npt.NDArray[np.int8]:
    """``regime.classify`` of every bar, as indexes into ``_REGIMES``: the same comparisons, so
    the same answer on every bar (NaN compares false, hence the explicit unknown mask)."""
    codes = np.where(adx_ > s.regime.adx_trend, 2, 1).astype(np.int8)
    codes[atr_ > s.regime.high_vol_ratio * atr_median] = 3
    codes[np.isnan(adx_) | np.isnan(atr_) | np.isnan(atr_median)] = 0
    return codes


class FrameSeries:
    """Every indicator of one symbol's timeframe after each bar, named as FeaturesUpdated's fields.

    Satisfies the strategies' ``FeatureHistory``, so a strategy skipped over bars can be resumed
    from these arrays. ``since(start)`` is the same history seen from bar ``start`` on (what a
    strategy that first saw bar ``start`` knows).
    """

    def __init__(self, symbol: str, interval_ms: int, columns: dict[str, Any], start: int = 0) -> None:
        self.symbol = symbol
        self.interval_ms = interval_ms
        self._columns = columns
        self._start = start
        self._memo: dict[str, object] = {}

    @classmethod
    def of(cls, candles: Candles, settings: FeatureSettings) -> FrameSeries:
        """The features of ``candles`` as FeatureEngine would have them after each bar."""
        high, low, close = candles.high, candles.low, candles.close
        atr_ = atr(high, low, close, settings.atr_period)
        warm_atr = ~np.isnan(atr_)
        atr_median = np.full(len(close), NAN)
        atr_median[warm_atr] = rolling_median(atr_[warm_atr], settings.atr_median_window)
        change = momentum(close, settings.momentum_period)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = change / (close - change)
        rate[close == change] = NAN
        directional = adx(high, low, close, settings.adx_period)
        bands = bollinger(close, settings.bb_period, settings.bb_std)
        ema_fast, ema_slow = ema(close, settings.ema_fast), ema(close, settings.ema_slow)
        columns: dict[str, Any] = {
            "close_ts": np.asarray(candles.ts, np.int64) + candles.interval_ms,
            "last": np.asarray(close),
            "high": np.asarray(high),
            "low": np.asarray(low),
            "ema_fast": ema_fast,
            "ema_slow": ema_slow,
            "atr": atr_,
            "warm": ~np.isnan(ema_fast) & ~np.isnan(ema_slow) & warm_atr,
            "adx": directional.adx,
            "plus_di": directional.plus_di,
            "minus_di": directional.minus_di,
            "bb_upper": bands.upper,
            "bb_middle": bands.middle,
            "bb_lower": bands.lower,
            "atr_median": atr_median,
            "momentum": rate,
            "volume_spike": volume_spike(candles.volume, settings.volume_period),
        }
        columns["regime"] = regime_codes(columns["adx"], atr_, atr_median, settings)
        return cls(candles.symbol, candles.interval_ms, columns)

    def __len__(self) -> int:
        return len(self._columns["last"]) - self._start

    def since(self, start: int) -> FrameSeries:
        """Bars ``start`` onwards, indexed from 0: the history of a strategy that started there."""
        return FrameSeries(self.symbol, self.interval_ms, self._columns, self._start + start)

    def _column(self, name: str) -> Any:
        return self._columns[name][self._start :]

    @property
    def close_ts(self) -> npt.NDArray[np.int64]:
        return cast(npt.NDArray[np.int64], self._column("close_ts"))

    @property
    def warm(self) -> BoolArray:
        return cast(BoolArray, self._column("warm"))

    @property
    def last(self) -> FloatArray:
        return cast(FloatArray, self._column("last"))

    @property
    def high(self) -> FloatArray:
        return cast(FloatArray, self._column("high"))

    @property
    def low(self) -> FloatArray:
        return cast(FloatArray, self._column("low"))

    @property
    def ema_fast(self) -> FloatArray:
        return cast(FloatArray, self._column("ema_fast"))

    @property
    def ema_slow(self) -> FloatArray:
        return cast(FloatArray, self._column("ema_slow"))

    @property
    def atr(self) -> FloatArray:
        return cast(FloatArray, self._column("atr"))

    @property
    def bb_upper(self) -> FloatArray:
        return cast(FloatArray, self._column("bb_upper"))

    @property
    def bb_middle(self) -> FloatArray:
        return cast(FloatArray, self._column("bb_middle"))

    @property
    def bb_lower(self) -> FloatArray:
        return cast(FloatArray, self._column("bb_lower"))

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """A value derived from this history, computed on the first ask (a strategy's state series)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return cast(T, self._memo[key])

    def scan_rows(self) -> FloatArray:
        """The scanner's four raw components of every bar (NaN rows where it would skip the bar)."""
        c = self._column
        return component_rows(
            c("warm"), c("ema_fast"), c("ema_slow"), c("atr"), c("atr_median"), c("momentum"), c("volume_spike")
        )

    def snapshot(self, i: int) -> FeaturesUpdated:
        """FeatureEngine.on_bar's report for bar ``i``: plain floats (not numpy scalars, which would
        leak into orders and journals), no quote, no book."""
        c, j = self._columns, self._start + i
        return FeaturesUpdated(
            self.symbol, int(c["close_ts"][j]), float(c["last"][j]), NAN, NAN, NAN, 0.0, float(c["ema_fast"][j]),
            float(c["ema_slow"][j]), float(c["atr"][j]), bool(c["warm"][j]), True, 0, self.interval_ms,
            float(c["high"][j]), float(c["low"][j]), float(c["adx"][j]), float(c["plus_di"][j]),
            float(c["minus_di"][j]), float(c["bb_upper"][j]), float(c["bb_middle"][j]), float(c["bb_lower"][j]),
            float(c["atr_median"][j]), float(c["momentum"][j]), float(c["volume_spike"][j]), NAN,
            _REGIMES[int(c["regime"][j])],
        )  # fmt: skip
