"""Which strategy each symbol runs, on which timeframes: config turned into strategy objects.

The primary timeframe (``strategy.timeframe``) is always aggregated: the regime strategies, the
scanner and the correlation matrix run on it. A long-dip symbol also needs its own timeframe
(15m by default). A cross-sectional symbol has no per-symbol strategy: the Scanner decides its
entries for the whole book, and Portfolio's stops guard it.
"""

from __future__ import annotations

from engine.config import Config
from engine.core.features import FeatureSettings
from engine.core.regime import RegimeThresholds
from engine.core.strategies.base import SingleStrategy, Strategy
from engine.core.strategies.long_dip import LongDipRules, LongDipSettings
from engine.core.strategies.mean_reversion import BollingerReversionRules
from engine.core.strategies.regime_switch import RegimeStrategy
from engine.core.strategies.trend import TrendRules
from engine.timeframes import interval_ms

REGIME = "regime"
LONG_DIP = "long_dip"
CROSS_SECTIONAL = "cross_sectional"


def timeframes_of(config: Config, symbol: str) -> tuple[int, ...]:
    """Bar intervals (ms) the symbol's Feed aggregates and backfills, the primary one first."""
    primary = interval_ms(config.strategy.timeframe)
    if config.strategy.mode_of(symbol) == LONG_DIP:
        own = interval_ms(config.long_dip.timeframe)
        if own != primary:
            return (primary, own)
    return (primary,)


def feature_settings(config: Config) -> FeatureSettings:
    s, r, sc = config.strategy, config.regime, config.scanner
    return FeatureSettings(
        ema_fast=s.ema_fast,
        ema_slow=s.ema_slow,
        atr_period=s.atr_period,
        adx_period=r.adx_period,
        bb_period=s.bb_period,
        bb_std=s.bb_std,
        atr_median_window=r.atr_median_window,
        momentum_period=sc.momentum_period,
        volume_period=sc.volume_period,
        regime=RegimeThresholds(r.adx_trend, r.high_vol_ratio),
    )


def long_dip_settings(config: Config) -> LongDipSettings:
    d = config.long_dip
    steps = tuple((float(depth), float(share)) for depth, share in (s.split(":") for s in d.size_steps))
    return LongDipSettings(
        atr_period=d.atr_period,
        high_lookback=d.high_lookback,
        entry_multiplier=d.entry_multiplier,
        size_steps=steps,
        budget_usdt=d.budget_usdt,
        volatile_atr_pct=d.volatile_atr_pct,
        volatile_size_cut=d.volatile_size_cut,
        target_atr=d.target_atr,
        stop_atr=d.stop_atr,
        trail_activation_atr=d.trail_activation_atr,
        trail_distance_atr=d.trail_distance_atr,
    )


def build_strategy(config: Config, symbol: str) -> Strategy | None:
    """A fresh strategy for ``symbol`` (each symbol needs its own: strategies keep bar state)."""
    mode = config.strategy.mode_of(symbol)
    s = config.strategy
    if mode == LONG_DIP:
        return SingleStrategy(LongDipRules(long_dip_settings(config)), interval_ms(config.long_dip.timeframe))
    if mode == CROSS_SECTIONAL:
        return None
    return RegimeStrategy(
        TrendRules(s.ema_fast, s.ema_slow, s.atr_stop_mult),
        BollingerReversionRules(s.range_stop_atr),
        TrendRules(s.ema_fast, s.ema_slow, s.atr_stop_mult, name="high_vol", size_scale=s.high_vol_size_scale),
        interval_ms(s.timeframe),
    )
