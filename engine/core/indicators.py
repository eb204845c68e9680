"""EMA and ATR, incremental and batch, to TA-Lib's definitions.

Backtests, research and live trading must see the same numbers, and TA-Lib is the reference the
results are checked against, so both forms follow TA-Lib's arithmetic operation for operation
(sequential seed sums, the same update expressions) rather than an algebraically equal variant
whose rounding differs. The batch functions are written as their own loops instead of calling the
classes so that the property tests compare two independent implementations.

The incremental forms use plain floats and ``__slots__``: they run once per bar for every symbol,
and numpy scalars would cost more than the arithmetic itself. Inputs are assumed finite.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def _check_period(period: int) -> None:
    if period < 1:
        raise ValueError(f"period must be >= 1, got {period}")


def _true_range(high: float, low: float, prev_close: float) -> float:
    """TA-Lib's TRANGE: the bar's range widened to include a gap from the previous close."""
    return max(high - low, abs(prev_close - high), abs(prev_close - low))


class Ema:
    """Exponential moving average, seeded with the SMA of the first ``period`` values.

    Seeding with the SMA (TA-Lib's default) instead of the first value makes the result
    independent of where the history starts once it is warm, within rounding.
    """

    __slots__ = ("_count", "_k", "_sum", "period", "value")

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._k = 2.0 / (period + 1)
        self._count = 0
        self._sum = 0.0
        self.value: float | None = None

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, x: float) -> float | None:
        """Feed one value; the EMA after it, or None while fewer than ``period`` values were seen."""
        value = self.value
        if value is not None:
            value = (x - value) * self._k + value
            self.value = value
            return value
        self._count += 1
        self._sum += x
        if self._count == self.period:
            self.value = self._sum / self.period
        return self.value


class Atr:
    """Average true range with Wilder smoothing, as TA-Lib computes it.

    The first bar has no previous close and so no true range; the first ATR is the mean of the
    true ranges of bars 1..period, i.e. it appears on bar index ``period``, as in TA-Lib.
    """

    __slots__ = ("_count", "_prev_close", "_sum", "period", "value")

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._prev_close: float | None = None
        self._count = 0
        self._sum = 0.0
        self.value: float | None = None

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, high: float, low: float, close: float) -> float | None:
        """Feed one bar; the ATR after it, or None until ``period`` true ranges were seen."""
        prev_close = self._prev_close
        self._prev_close = close
        if prev_close is None:
            return None
        tr = _true_range(high, low, prev_close)
        value = self.value
        if value is not None:
            value = (value * (self.period - 1) + tr) / self.period
            self.value = value
            return value
        self._count += 1
        self._sum += tr
        if self._count == self.period:
            self.value = self._sum / self.period
        return self.value


def _as_list(values: npt.ArrayLike) -> list[float]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D series, got shape {array.shape}")
    result: list[float] = array.tolist()
    return result


def ema(values: npt.ArrayLike, period: int) -> FloatArray:
    """EMA of a whole series; NaN before index ``period - 1``, equal to :class:`Ema` exactly."""
    _check_period(period)
    xs = _as_list(values)
    out = [math.nan] * len(xs)
    if len(xs) < period:
        return np.array(out, dtype=np.float64)
    total = 0.0
    for x in xs[:period]:
        total += x
    prev = total / period
    out[period - 1] = prev
    k = 2.0 / (period + 1)
    for i in range(period, len(xs)):
        prev = (xs[i] - prev) * k + prev
        out[i] = prev
    return np.array(out, dtype=np.float64)


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int) -> FloatArray:
    """ATR of whole series; NaN before index ``period``, equal to :class:`Atr` exactly."""
    _check_period(period)
    hs, ls, cs = _as_list(high), _as_list(low), _as_list(close)
    if not len(hs) == len(ls) == len(cs):
        raise ValueError("high, low and close must have the same length")
    out = [math.nan] * len(cs)
    if len(cs) <= period:
        return np.array(out, dtype=np.float64)
    total = 0.0
    for i in range(1, period + 1):
        total += _true_range(hs[i], ls[i], cs[i - 1])
    prev = total / period
    out[period] = prev
    for i in range(period + 1, len(cs)):
        prev = (prev * (period - 1) + _true_range(hs[i], ls[i], cs[i - 1])) / period
        out[i] = prev
    return np.array(out, dtype=np.float64)
