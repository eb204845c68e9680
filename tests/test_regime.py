"""Regime classification (``engine.core.regime``): the thresholds exactly, precedence and NaN."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.regime import RegimeThresholds, classify
from engine.messages import Regime

DEFAULT = RegimeThresholds()
NAN = math.nan


def test_defaults_are_adx_25_and_twice_the_median_atr() -> None:
    assert (DEFAULT.adx_trend, DEFAULT.high_vol_ratio) == (25.0, 2.0)


# --- trending / ranging -------------------------------------------------------------------------


def test_adx_exactly_at_the_threshold_is_ranging() -> None:
    assert classify(25.0, 1.0, 1.0, DEFAULT) is Regime.RANGING


def test_adx_just_above_the_threshold_is_trending() -> None:
    assert classify(25.0001, 1.0, 1.0, DEFAULT) is Regime.TRENDING


def test_adx_one_ulp_above_the_threshold_is_trending() -> None:
    assert classify(math.nextafter(25.0, math.inf), 1.0, 1.0, DEFAULT) is Regime.TRENDING


@pytest.mark.parametrize("adx", [0.0, 10.0, 24.9999])
def test_low_adx_is_ranging(adx: float) -> None:
    assert classify(adx, 1.0, 1.0, DEFAULT) is Regime.RANGING


def test_a_custom_adx_threshold_is_used() -> None:
    thresholds = RegimeThresholds(adx_trend=30.0)
    assert classify(30.0, 1.0, 1.0, thresholds) is Regime.RANGING
    assert classify(30.5, 1.0, 1.0, thresholds) is Regime.TRENDING
    assert classify(26.0, 1.0, 1.0, thresholds) is Regime.RANGING


# --- high volatility ----------------------------------------------------------------------------


def test_atr_exactly_twice_its_median_is_not_high_volatility() -> None:
    assert classify(10.0, 2.0, 1.0, DEFAULT) is Regime.RANGING
    assert classify(40.0, 2.0, 1.0, DEFAULT) is Regime.TRENDING


def test_atr_above_twice_its_median_is_high_volatility() -> None:
    assert classify(10.0, 2.0001, 1.0, DEFAULT) is Regime.HIGH_VOLATILITY
    assert classify(10.0, math.nextafter(2.0, math.inf), 1.0, DEFAULT) is Regime.HIGH_VOLATILITY


@pytest.mark.parametrize("adx", [0.0, 25.0, 25.0001, 60.0, 99.0])
def test_high_volatility_takes_precedence_over_trending_and_ranging(adx: float) -> None:
    assert classify(adx, 3.0, 1.0, DEFAULT) is Regime.HIGH_VOLATILITY


def test_a_custom_volatility_ratio_is_used() -> None:
    thresholds = RegimeThresholds(high_vol_ratio=1.5)
    assert classify(40.0, 1.5, 1.0, thresholds) is Regime.TRENDING
    assert classify(40.0, 1.5001, 1.0, thresholds) is Regime.HIGH_VOLATILITY


def test_the_ratio_is_scale_free() -> None:
    # a 90,000 USDT coin and a 0.1 USDT coin with the same ATR expansion get the same regime
    assert classify(30.0, 300.0, 200.0, DEFAULT) is Regime.TRENDING
    assert classify(30.0, 0.00015, 0.0001, DEFAULT) is Regime.TRENDING
    assert classify(30.0, 401.0, 200.0, DEFAULT) is Regime.HIGH_VOLATILITY
    assert classify(30.0, 0.00021, 0.0001, DEFAULT) is Regime.HIGH_VOLATILITY


# --- not warm -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("adx", "atr", "atr_median"),
    [(NAN, 1.0, 1.0), (30.0, NAN, 1.0), (30.0, 1.0, NAN), (NAN, NAN, NAN), (30.0, 5.0, NAN)],
)
def test_any_nan_input_is_unknown(adx: float, atr: float, atr_median: float) -> None:
    assert classify(adx, atr, atr_median, DEFAULT) is Regime.UNKNOWN


@given(
    adx=st.floats(min_value=0.0, max_value=100.0),
    atr=st.floats(min_value=0.0, max_value=1e6),
    atr_median=st.floats(min_value=0.0, max_value=1e6),
)
def test_finite_inputs_are_always_classified_by_the_documented_rule(adx: float, atr: float, atr_median: float) -> None:
    regime = classify(adx, atr, atr_median, DEFAULT)
    if atr > 2.0 * atr_median:
        assert regime is Regime.HIGH_VOLATILITY
    else:
        assert regime is (Regime.TRENDING if adx > 25.0 else Regime.RANGING)


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"adx_trend": 0.0},
        {"adx_trend": -5.0},
        {"adx_trend": 100.0},
        {"adx_trend": 150.0},
        {"adx_trend": NAN},
        {"high_vol_ratio": 1.0},
        {"high_vol_ratio": 0.5},
        {"high_vol_ratio": 0.0},
        {"high_vol_ratio": NAN},
    ],
)
def test_nonsensical_thresholds_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="adx_trend"):
        RegimeThresholds(**kwargs)


@pytest.mark.parametrize("kwargs", [{"adx_trend": 0.001}, {"adx_trend": 99.999}, {"high_vol_ratio": 1.0001}])
def test_thresholds_just_inside_the_bounds_are_accepted(kwargs: dict[str, float]) -> None:
    RegimeThresholds(**kwargs)
