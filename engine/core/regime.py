"""Regime detection: is a symbol trending, ranging, or too volatile to trust either reading?

TRENDING when ADX > ``adx_trend`` (25), RANGING when ADX <= it, and HIGH_VOLATILITY when the ATR
is above ``high_vol_ratio`` (2) times its rolling median, which takes precedence: in a volatility
burst ADX lags and a range's bands blow apart, so neither reading is to be trusted at full size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.messages import Regime


@dataclass(frozen=True, slots=True)
class RegimeThresholds:
    adx_trend: float = 25.0
    high_vol_ratio: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 < self.adx_trend < 100.0 or not self.high_vol_ratio > 1.0:
            raise ValueError(f"need 0 < adx_trend < 100 and high_vol_ratio > 1: {self}")


def classify(adx: float, atr: float, atr_median: float, thresholds: RegimeThresholds) -> Regime:
    """The regime of one bar; UNKNOWN while any input is not warm (NaN)."""
    if math.isnan(adx) or math.isnan(atr) or math.isnan(atr_median):
        return Regime.UNKNOWN
    if atr > thresholds.high_vol_ratio * atr_median:
        return Regime.HIGH_VOLATILITY
    return Regime.TRENDING if adx > thresholds.adx_trend else Regime.RANGING
