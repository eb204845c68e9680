"""Compiled loops behind the batch indicator functions of :mod:`engine.core.indicators`.

Each ``_*_loop`` is a plain typed function that numba compiles (``njit(cache=True)``, no fastmath,
no parallel) into the kernel of the same name without the prefix and suffix. Only
:mod:`engine.core.indicators` should call the kernels: it validates the arguments and hands over
contiguous float64 arrays, and it imports this module on the first batch call only, because
importing numba would cost the live engine, which needs only the incremental classes, about 0.4 s
and 60 MB.

The loops follow TA-Lib's arithmetic operation for operation, as the docstring of
:mod:`engine.core.indicators` explains, and they must stay bit for bit equal to the incremental
classes there, which the property tests check. Without fastmath LLVM may neither reassociate the
sequential sums nor contract a multiply and an add into an FMA, so every operation rounds as it
does in Python. Inputs are assumed finite.

The TA-Lib constants are arguments rather than globals: numba freezes a global's value into the
compiled code, and its on-disk cache is keyed on this file alone, so a constant changed in
:mod:`engine.core.indicators` would not reach a kernel already cached.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_F = TypeVar("_F", bound=Callable[..., Any])


def _jit(func: _F) -> _F:
    """``func`` compiled by numba, cached on disk, with its signature kept for the type checker."""
    return cast(_F, numba.njit(cache=True)(func))


def _true_range_of(high: float, low: float, prev_close: float) -> float:
    """TA-Lib's TRANGE: the bar's range widened to include a gap from the previous close."""
    return max(high - low, abs(prev_close - high), abs(prev_close - low))


_true_range = _jit(_true_range_of)


def _ema_loop(xs: FloatArray, period: int) -> FloatArray:
    n = len(xs)
    out = np.full(n, np.nan)
    if n < period:
        return out
    total = 0.0
    for i in range(period):
        total += xs[i]
    prev = total / period
    out[period - 1] = prev
    k = 2.0 / (period + 1)
    for i in range(period, n):
        prev = (xs[i] - prev) * k + prev
        out[i] = prev
    return out


def _atr_loop(hs: FloatArray, ls: FloatArray, cs: FloatArray, period: int) -> FloatArray:
    n = len(cs)
    out = np.full(n, np.nan)
    if n <= period:
        return out
    total = 0.0
    for i in range(1, period + 1):
        total += _true_range(hs[i], ls[i], cs[i - 1])
    prev = total / period
    out[period] = prev
    for i in range(period + 1, n):
        prev = (prev * (period - 1) + _true_range(hs[i], ls[i], cs[i - 1])) / period
        out[i] = prev
    return out


def _sma_loop(xs: FloatArray, period: int) -> FloatArray:
    n = len(xs)
    out = np.full(n, np.nan)
    total = 0.0
    for i in range(n):
        total += xs[i]
        if i >= period - 1:
            out[i] = total / period
            total -= xs[i - period + 1]
    return out


def _adx_loop(
    hs: FloatArray, ls: FloatArray, cs: FloatArray, period: int, epsilon: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    n = len(cs)
    adx_out, plus_out, minus_out = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    minus_dm = plus_dm = tr_sum = sum_dx = prev_adx = 0.0
    first_adx = 2 * period - 1
    for i in range(1, n):
        diff_p = hs[i] - hs[i - 1]
        diff_m = ls[i - 1] - ls[i]
        if i >= period:
            minus_dm -= minus_dm / period
            plus_dm -= plus_dm / period
        if diff_m > 0.0 and diff_p < diff_m:
            minus_dm += diff_m
        elif diff_p > 0.0 and diff_p > diff_m:
            plus_dm += diff_p
        tr = _true_range(hs[i], ls[i], cs[i - 1])
        if i < period:
            tr_sum += tr
            continue
        tr_sum = tr_sum - tr_sum / period + tr
        minus_di = plus_di = 0.0
        # The Python loop's ``dx: float | None``: numba wants one type, so a flag says whether there is one.
        has_dx = False
        dx = 0.0
        if tr_sum > 0.0:
            minus_di = 100.0 * (minus_dm / tr_sum)
            plus_di = 100.0 * (plus_dm / tr_sum)
            di_sum = minus_di + plus_di
            if not -epsilon < di_sum < epsilon:
                has_dx = True
                dx = 100.0 * (abs(minus_di - plus_di) / di_sum)
        minus_out[i], plus_out[i] = minus_di, plus_di
        if i > first_adx:
            if has_dx:
                prev_adx = (prev_adx * (period - 1) + dx) / period
            adx_out[i] = prev_adx
            continue
        if has_dx:
            sum_dx += dx
        if i == first_adx:
            prev_adx = sum_dx / period
            adx_out[i] = prev_adx
    return adx_out, plus_out, minus_out


def _bollinger_loop(
    xs: FloatArray,
    period: int,
    nbdev: float,
    reseed_ratio: float,
    reseed_outlier: float,
    reseed_every: int,
    variance_floor: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    n = len(xs)
    upper, middle, lower = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    inv_period = 1.0 / period
    shift = xs[0] if n else 0.0
    ma_total = sum_dev = sum_sq_dev = 0.0
    bars_to_reseed = reseed_every * period
    for i in range(n):
        x = xs[i]
        ma_total += x
        dev = x - shift
        sum_dev += dev
        sum_sq_dev += dev * dev
        if i < period - 1:
            continue
        mean_dev = sum_dev * inv_period
        variance = sum_sq_dev * inv_period - mean_dev * mean_dev
        mid = ma_total / period
        start = i - period + 1
        ma_total -= xs[start]
        dev = xs[start] - shift
        sum_dev -= dev
        leaving_sq = dev * dev
        sum_sq_dev -= leaving_sq
        bars_to_reseed -= 1
        if (
            variance < reseed_ratio * (sum_sq_dev * inv_period)
            or leaving_sq > reseed_outlier * sum_sq_dev
            or bars_to_reseed <= 0
        ):
            bars_to_reseed = reseed_every * period
            total = 0.0
            for j in range(start, i + 1):
                total += xs[j]
            shift = total * inv_period
            sum_dev = sum_sq_dev = 0.0
            for j in range(start, i + 1):
                dev = xs[j] - shift
                sum_dev += dev
                sum_sq_dev += dev * dev
            mean_dev = sum_dev * inv_period
            variance = sum_sq_dev * inv_period - mean_dev * mean_dev
            if variance < variance_floor * (sum_sq_dev * inv_period):
                variance = 0.0
            dev = xs[start] - shift
            sum_dev -= dev
            sum_sq_dev -= dev * dev
        band = math.sqrt(variance) * nbdev
        upper[i], middle[i], lower[i] = mid + band, mid, mid - band
    return upper, middle, lower


def _volume_spike_loop(vs: FloatArray, period: int) -> FloatArray:
    n = len(vs)
    out = np.full(n, np.nan)
    total = 0.0
    mean = math.nan
    for i in range(n):
        v = vs[i]
        if i >= period and mean > 0.0:
            out[i] = v / mean
        total += v
        if i >= period - 1:
            mean = total / period
            total -= vs[i - period + 1]
    return out


def _rolling_median_loop(xs: FloatArray, window: int) -> FloatArray:
    """The window kept sorted, as RollingMedian keeps it: one binary search and one shift per bar
    for the value leaving and one for the value entering, instead of a partition per bar."""
    n = len(xs)
    out = np.full(n, np.nan)
    ordered = np.empty(window)
    count = 0
    half = window // 2
    for i in range(n):
        if count == window:
            j = np.searchsorted(ordered[:count], xs[i - window], side="left")
            for k in range(j, count - 1):
                ordered[k] = ordered[k + 1]
            count -= 1
        x = xs[i]
        j = np.searchsorted(ordered[:count], x, side="right")
        for k in range(count, j, -1):
            ordered[k] = ordered[k - 1]
        ordered[j] = x
        count += 1
        if count == window:
            out[i] = ordered[half] if window % 2 else (ordered[half - 1] + ordered[half]) * 0.5
    return out


ema = _jit(_ema_loop)
atr = _jit(_atr_loop)
sma = _jit(_sma_loop)
adx = _jit(_adx_loop)
bollinger = _jit(_bollinger_loop)
volume_spike = _jit(_volume_spike_loop)
rolling_median = _jit(_rolling_median_loop)
