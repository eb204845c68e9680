"""Technical indicators, incremental and batch, to TA-Lib's definitions.

EMA, ATR, SMA, ADX with its +DI/-DI, Bollinger bands, momentum and volume spike follow TA-Lib; the
rolling median (which TA-Lib lacks) matches pandas.

Backtests, research and live trading must see the same numbers, and TA-Lib is the reference the
results are checked against, so both forms follow TA-Lib's arithmetic operation for operation
(sequential seed sums, add-then-subtract running totals, the same update expressions) rather than
an algebraically equal variant whose rounding differs. The reference is the TA-Lib release the
tests run against (Python wrapper 0.8.x on C library 0.8.1); where it changed arithmetic against
older releases (Bollinger variance, zero tests in ADX), the class docstrings say so. The batch
functions run their own loops instead of calling the classes, so that the property tests compare two
independent implementations: numba kernels in :mod:`engine.core.indicator_kernels`, compiled
without fastmath so that every operation rounds as in Python and the two agree bit for bit (momentum
is one numpy subtraction). Only the batch functions import
that module, on first use, so the live engine never loads numba.

The incremental forms use plain floats and ``__slots__``: they run once per bar for every symbol,
and numpy scalars would cost more than the arithmetic itself. Inputs are assumed finite.
"""

from __future__ import annotations

import functools
import math
import operator
from bisect import bisect_left, insort
from collections import deque
from typing import NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# TA-Lib 0.8's TA_EPSILON: TA_IS_ZERO(x) is -eps < x < eps. TA-Lib 0.4 used 1e-8.
_TA_EPSILON = 1e-14

# TA-Lib's cancellation-free variance (ta_VAR / BBANDS): rebuild the shifted sums with a two-pass
# when the variance falls below this fraction of the mean squared deviation it is extracted from...
_RESEED_RATIO = 1e-6
# ...or when the value leaving the window squared to more than this multiple of what remains...
_RESEED_OUTLIER = 1e6
# ...or at the latest after this many windows; a rebuilt variance below this fraction is zero.
_RESEED_EVERY = 32
_VARIANCE_FLOOR = 1e-12


def _check_period(period: int, minimum: int = 1, name: str = "period") -> None:
    if period < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {period}")


def _check_nbdev(nbdev: float) -> None:
    if not 0.0 <= nbdev < math.inf:
        raise ValueError(f"nbdev must be finite and >= 0, got {nbdev}")


def _is_zero(x: float) -> bool:
    return -_TA_EPSILON < x < _TA_EPSILON


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


class Sma:
    """Simple moving average with TA-Lib's running total.

    The total is updated by adding the new value and subtracting the one leaving the window, as
    ta_SMA.c does, instead of re-summing the window: O(1) per bar, and the same rounding as TA-Lib.
    """

    __slots__ = ("_total", "_window", "period", "value")

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._window: deque[float] = deque()
        self._total = 0.0
        self.value: float | None = None

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, x: float) -> float | None:
        """Feed one value; the mean of the last ``period`` values, or None until that many were seen."""
        window = self._window
        window.append(x)
        self._total += x
        if len(window) < self.period:
            return None
        value = self._total / self.period
        self._total -= window.popleft()
        self.value = value
        return value


class Adx:
    """Wilder's ADX with its +DI and -DI, as TA-Lib's ADX, PLUS_DI and MINUS_DI compute them.

    The directional movements and the true range are summed over bars 1..period-1 and then
    Wilder-smoothed (``prev - prev / period + today``), so +DI and -DI first appear on bar index
    ``period``. The first ADX is the mean of the first ``period`` DX values (bar ``2 * period - 1``),
    then ``(prev * (period - 1) + dx) / period``. A bar whose smoothed true range is zero has DI 0
    and no DX; a bar whose DI sum is within TA-Lib's epsilon of zero has no DX either, and the ADX
    carries over. TA-Lib 0.8 tests the true range for exactly zero: 0.4 compared it with a fixed
    1e-8, which zeroed the index of any instrument quoted small enough.
    """

    __slots__ = (
        "_count",
        "_minus_dm",
        "_plus_dm",
        "_prev_close",
        "_prev_high",
        "_prev_low",
        "_sum_dx",
        "_tr",
        "minus_di",
        "period",
        "plus_di",
        "value",
    )

    def __init__(self, period: int = 14) -> None:
        # TA-Lib's PLUS_DI/MINUS_DI of period 1 skip the smoothing and the factor 100, so 1 is refused.
        _check_period(period, minimum=2)
        self.period = period
        self._prev_high = 0.0
        self._prev_low = 0.0
        self._prev_close: float | None = None
        self._count = 0
        self._minus_dm = 0.0
        self._plus_dm = 0.0
        self._tr = 0.0
        self._sum_dx = 0.0
        self.plus_di: float | None = None
        self.minus_di: float | None = None
        self.value: float | None = None

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, high: float, low: float, close: float) -> float | None:
        """Feed one bar; the ADX after it, or None before bar index ``2 * period - 1``."""
        prev_high, prev_low, prev_close = self._prev_high, self._prev_low, self._prev_close
        self._prev_high, self._prev_low, self._prev_close = high, low, close
        if prev_close is None:
            return None
        period = self.period
        self._count += 1
        count = self._count
        diff_p = high - prev_high
        diff_m = prev_low - low
        minus_dm, plus_dm = self._minus_dm, self._plus_dm
        if count >= period:
            minus_dm -= minus_dm / period
            plus_dm -= plus_dm / period
        if diff_m > 0.0 and diff_p < diff_m:
            minus_dm += diff_m
        elif diff_p > 0.0 and diff_p > diff_m:
            plus_dm += diff_p
        self._minus_dm, self._plus_dm = minus_dm, plus_dm
        tr = _true_range(high, low, prev_close)
        if count < period:
            self._tr += tr
            return None
        tr_sum = self._tr - self._tr / period + tr
        self._tr = tr_sum
        minus_di = plus_di = 0.0
        dx: float | None = None
        if tr_sum > 0.0:
            minus_di = 100.0 * (minus_dm / tr_sum)
            plus_di = 100.0 * (plus_dm / tr_sum)
            di_sum = minus_di + plus_di
            if not _is_zero(di_sum):
                dx = 100.0 * (abs(minus_di - plus_di) / di_sum)
        self.minus_di, self.plus_di = minus_di, plus_di
        value = self.value
        if value is not None:
            if dx is not None:
                value = (value * (period - 1) + dx) / period
                self.value = value
            return value
        if dx is not None:
            self._sum_dx += dx
        if count == 2 * period - 1:
            self.value = self._sum_dx / period
        return self.value


class BollingerBands(NamedTuple):
    upper: float
    middle: float
    lower: float


class Bollinger:
    """Bollinger bands over the SMA, as TA-Lib 0.8's BBANDS (matype SMA) computes them.

    The middle band is :class:`Sma`'s running total. The population variance comes from running
    sums of deviations from a shift instead of TA-Lib 0.4's ``mean(x**2) - mean**2``, which loses
    every digit when the spread is small against the price (on real BTC 1m bars the band width
    comes out up to 28% off). The sums are rebuilt with a two-pass over the window, re-anchoring the shift
    on its mean, when the variance drops below 1e-6 of the mean squared deviation, when a value
    leaving the window dominated the sums, and at least every ``32 * period`` bars; a rebuilt
    variance under 1e-12 of its mean square is rounding and counts as zero. The rebuild is
    O(period), but rare except on windows flat to within rounding.

    TA-Lib 0.4 also zeroed the standard deviation whenever the variance was below 1e-8, a fixed
    1e-4 in price units: bands collapsed onto the SMA for nearly every bar of instruments priced
    under about 0.001, and already for 8% of DOGE's 1m bars at 0.19. TA-Lib 0.8 and this class do
    not, so results differ from TA-Lib 0.4 for such instruments.
    """

    __slots__ = (
        "_bars_to_reseed",
        "_inv_period",
        "_ma_total",
        "_shift",
        "_sum_dev",
        "_sum_sq_dev",
        "_window",
        "nbdev",
        "period",
        "value",
    )

    def __init__(self, period: int = 20, nbdev: float = 2.0) -> None:
        _check_period(period, minimum=2)
        _check_nbdev(nbdev)
        self.period = period
        self.nbdev = nbdev
        self._inv_period = 1.0 / period
        self._window: deque[float] = deque()
        self._ma_total = 0.0
        self._shift = 0.0
        self._sum_dev = 0.0
        self._sum_sq_dev = 0.0
        self._bars_to_reseed = _RESEED_EVERY * period
        self.value: BollingerBands | None = None

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, x: float) -> BollingerBands | None:
        """Feed one value; the bands after it, or None until ``period`` values were seen."""
        window = self._window
        if not window:
            self._shift = x  # TA-Lib anchors the shift on the first value of the first window
        window.append(x)
        shift = self._shift
        self._ma_total += x
        dev = x - shift
        sum_dev = self._sum_dev + dev
        sum_sq_dev = self._sum_sq_dev + dev * dev
        if len(window) < self.period:
            self._sum_dev, self._sum_sq_dev = sum_dev, sum_sq_dev
            return None
        inv_period = self._inv_period
        mean_dev = sum_dev * inv_period
        variance = sum_sq_dev * inv_period - mean_dev * mean_dev
        middle = self._ma_total / self.period
        oldest = window[0]
        self._ma_total -= oldest
        dev = oldest - shift
        sum_dev -= dev
        leaving_sq = dev * dev
        sum_sq_dev -= leaving_sq
        self._bars_to_reseed -= 1
        if (
            variance < _RESEED_RATIO * (sum_sq_dev * inv_period)
            or leaving_sq > _RESEED_OUTLIER * sum_sq_dev
            or self._bars_to_reseed <= 0
        ):
            self._bars_to_reseed = _RESEED_EVERY * self.period
            total = 0.0
            for v in window:
                total += v
            shift = total * inv_period
            sum_dev = sum_sq_dev = 0.0
            for v in window:
                dev = v - shift
                sum_dev += dev
                sum_sq_dev += dev * dev
            mean_dev = sum_dev * inv_period
            variance = sum_sq_dev * inv_period - mean_dev * mean_dev
            if variance < _VARIANCE_FLOOR * (sum_sq_dev * inv_period):
                variance = 0.0
            dev = oldest - shift
            sum_dev -= dev
            sum_sq_dev -= dev * dev
            self._shift = shift
        window.popleft()
        self._sum_dev, self._sum_sq_dev = sum_dev, sum_sq_dev
        band = math.sqrt(variance) * self.nbdev
        value = BollingerBands(middle + band, middle, middle - band)
        self.value = value
        return value


class RollingMedian:
    """Median of the last ``window`` values; an even window averages the middle two.

    A sorted copy of the window is kept with bisect: each bar is one insertion and one deletion,
    a memmove of at most ``window`` floats, instead of a sort.
    """

    __slots__ = ("_recent", "_sorted", "value", "window")

    def __init__(self, window: int) -> None:
        _check_period(window, name="window")
        self.window = window
        self._recent: deque[float] = deque()
        self._sorted: list[float] = []
        self.value: float | None = None

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, x: float) -> float | None:
        """Feed one value; the median of the last ``window`` values, or None until that many were seen."""
        recent, ordered = self._recent, self._sorted
        recent.append(x)
        insort(ordered, x)
        if len(recent) > self.window:
            del ordered[bisect_left(ordered, recent.popleft())]
        elif len(recent) < self.window:
            return None
        half = self.window // 2
        # Same expression as rolling_median, so that the two agree bit for bit.
        value = ordered[half] if self.window % 2 else (ordered[half - 1] + ordered[half]) * 0.5
        self.value = value
        return value


class Momentum:
    """TA-Lib's MOM: the change over ``period`` bars, ``x[i] - x[i - period]``."""

    __slots__ = ("_window", "period", "value")

    def __init__(self, period: int = 10) -> None:
        _check_period(period)
        self.period = period
        self._window: deque[float] = deque()
        self.value: float | None = None

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, x: float) -> float | None:
        """Feed one value; its change from ``period`` values ago, or None until there is one."""
        window = self._window
        window.append(x)
        if len(window) <= self.period:
            return None
        value = x - window.popleft()
        self.value = value
        return value


class VolumeSpike:
    """A bar's volume over the mean volume of the ``period`` bars before it.

    The current bar is left out of the mean so that a spike cannot dilute its own baseline. The
    mean is TA-Lib's SMA of volume at the previous bar, running total and rounding included.

    Volume is never negative, so a mean that is not positive means the previous ``period`` bars
    traded nothing (the running total can leave a residue of either sign, hence not ``== 0``).
    No ratio means anything then and an infinite one would trip every threshold: that bar has no
    value (None here, NaN in :func:`volume_spike`) while :attr:`ready` stays True.
    """

    __slots__ = ("_mean", "_total", "_warm", "_window", "period", "value")

    def __init__(self, period: int = 20) -> None:
        _check_period(period)
        self.period = period
        self._window: deque[float] = deque()
        self._total = 0.0
        self._mean: float | None = None
        self._warm = False
        self.value: float | None = None

    @property
    def ready(self) -> bool:
        """True from the first bar that has ``period`` bars before it, even if its value is None."""
        return self._warm

    def update(self, volume: float) -> float | None:
        """Feed one bar's volume; its ratio to the previous bars' mean, or None (see the class)."""
        mean = self._mean
        self._warm = mean is not None
        self.value = volume / mean if mean is not None and mean > 0.0 else None
        window = self._window
        window.append(volume)
        self._total += volume
        if len(window) == self.period:
            self._mean = self._total / self.period
            self._total -= window.popleft()
        return self.value


def _as_array(values: npt.ArrayLike) -> FloatArray:
    array = np.ascontiguousarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D series, got shape {array.shape}")
    return array


def _as_bars(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    hs, ls, cs = _as_array(high), _as_array(low), _as_array(close)
    if not len(hs) == len(ls) == len(cs):
        raise ValueError("high, low and close must have the same length")
    return hs, ls, cs


def _kernel_period(period: int, length: int) -> int:
    """``period`` as the machine integer a kernel takes, for a series of ``length`` values.

    A period beyond ``length + 1`` leaves every output NaN, as ``length + 1`` does, and would not
    fit a kernel's int64 if it is huge.
    """
    return min(operator.index(period), length + 1)


class _Kernels(Protocol):
    """What the batch functions use of :mod:`engine.core.indicator_kernels` (a module meets it)."""

    def ema(self, xs: FloatArray, period: int, /) -> FloatArray: ...

    def atr(self, hs: FloatArray, ls: FloatArray, cs: FloatArray, period: int, /) -> FloatArray: ...

    def sma(self, xs: FloatArray, period: int, /) -> FloatArray: ...

    def adx(
        self, hs: FloatArray, ls: FloatArray, cs: FloatArray, period: int, epsilon: float, /
    ) -> tuple[FloatArray, FloatArray, FloatArray]: ...

    def bollinger(
        self,
        xs: FloatArray,
        period: int,
        nbdev: float,
        reseed_ratio: float,
        reseed_outlier: float,
        reseed_every: int,
        variance_floor: float,
        /,
    ) -> tuple[FloatArray, FloatArray, FloatArray]: ...

    def volume_spike(self, vs: FloatArray, period: int, /) -> FloatArray: ...

    def rolling_median(self, xs: FloatArray, window: int, /) -> FloatArray: ...


@functools.cache
def _kernels() -> _Kernels:
    """The compiled batch loops, imported on the first batch call rather than with this module.

    Importing them imports numba, about 0.4 s and 60 MB before the first kernel even loads, and the
    live engine, which imports this module for the incremental classes only, must not pay for it.
    Numba compiles each kernel on its first call, or loads it from its on-disk cache.
    """
    from engine.core import indicator_kernels

    return indicator_kernels


def ema(values: npt.ArrayLike, period: int) -> FloatArray:
    """EMA of a whole series; NaN before index ``period - 1``, equal to :class:`Ema` exactly."""
    _check_period(period)
    xs = _as_array(values)
    return _kernels().ema(xs, _kernel_period(period, len(xs)))


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int) -> FloatArray:
    """ATR of whole series; NaN before index ``period``, equal to :class:`Atr` exactly."""
    _check_period(period)
    hs, ls, cs = _as_bars(high, low, close)
    return _kernels().atr(hs, ls, cs, _kernel_period(period, len(cs)))


def sma(values: npt.ArrayLike, period: int) -> FloatArray:
    """SMA of a whole series; NaN before index ``period - 1``, equal to :class:`Sma` exactly."""
    _check_period(period)
    xs = _as_array(values)
    return _kernels().sma(xs, _kernel_period(period, len(xs)))


class AdxSeries(NamedTuple):
    adx: FloatArray
    plus_di: FloatArray
    minus_di: FloatArray


def adx(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14) -> AdxSeries:
    """ADX, +DI and -DI of whole series, equal to :class:`Adx` exactly.

    The DIs are NaN before index ``period``, the ADX before index ``2 * period - 1``.
    """
    _check_period(period, minimum=2)
    hs, ls, cs = _as_bars(high, low, close)
    return AdxSeries(*_kernels().adx(hs, ls, cs, _kernel_period(period, len(cs)), _TA_EPSILON))


class BollingerSeries(NamedTuple):
    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


def bollinger(values: npt.ArrayLike, period: int = 20, nbdev: float = 2.0) -> BollingerSeries:
    """Bollinger bands of a whole series; NaN before index ``period - 1``, equal to :class:`Bollinger` exactly."""
    _check_period(period, minimum=2)
    _check_nbdev(nbdev)
    xs = _as_array(values)
    bands = _kernels().bollinger(
        xs,
        _kernel_period(period, len(xs)),
        float(nbdev),
        _RESEED_RATIO,
        _RESEED_OUTLIER,
        _RESEED_EVERY,
        _VARIANCE_FLOOR,
    )
    return BollingerSeries(*bands)


def rolling_median(values: npt.ArrayLike, window: int) -> FloatArray:
    """Rolling median of a whole series; NaN before index ``window - 1``, equal to :class:`RollingMedian` exactly."""
    _check_period(window, name="window")
    xs = _as_array(values)
    return _kernels().rolling_median(xs, _kernel_period(window, len(xs)))


def momentum(values: npt.ArrayLike, period: int = 10) -> FloatArray:
    """MOM of a whole series; NaN before index ``period``, equal to :class:`Momentum` exactly."""
    _check_period(period)
    xs = _as_array(values)
    out = np.full(len(xs), np.nan, dtype=np.float64)
    if len(xs) > period:
        # One correctly rounded subtraction per bar, as in the class: numpy needs no kernel for it.
        out[period:] = xs[period:] - xs[: len(xs) - period]
    return out


def volume_spike(volume: npt.ArrayLike, period: int = 20) -> FloatArray:
    """Volume over the mean of the ``period`` bars before it; equal to :class:`VolumeSpike` exactly.

    NaN before index ``period``, and on bars whose previous ``period`` bars traded nothing.
    """
    _check_period(period)
    vs = _as_array(volume)
    return _kernels().volume_spike(vs, _kernel_period(period, len(vs)))
