"""Which strategy each symbol runs, on which timeframes, under which risk limits: config turned
into the core objects that the actors and the backtester both run.

The primary timeframe (``strategy.timeframe``) is always aggregated: the regime strategies, the
scanner and the correlation matrix run on it. A long-dip symbol also needs its own timeframe
(15m by default). A cross-sectional symbol has no per-symbol strategy: the Scanner decides its
entries for the whole book, and Portfolio's stops guard it.
"""

from __future__ import annotations

from engine.config import Config
from engine.core.features import FeatureSettings
from engine.core.limits import KillSwitchLimits, RiskLimits
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


def risk_limits(config: Config) -> RiskLimits:
    """The gate's limits from the [risk], [strategy] and [long_dip] settings."""
    r = config.risk
    return RiskLimits(
        risk_per_trade_pct=r.risk_per_trade_pct,
        portfolio_heat_cap_pct=r.portfolio_heat_cap_pct,
        max_concurrent_positions=r.max_concurrent_positions,
        max_daily_loss_pct=r.max_daily_loss_pct,
        default_leverage=float(r.default_leverage),
        strategy_budgets=((LONG_DIP, config.long_dip.budget_usdt * config.long_dip.max_open_share),),
        max_drawdown_pct=r.max_drawdown_pct,
        max_symbol_notional_usdt=r.max_symbol_notional_usdt,
        max_symbol_margin_usdt=r.max_symbol_margin_usdt,
        leverage=r.leverage_pairs(),
        starting_equity=r.starting_equity_usdt,
        budget_usdt=r.budget_usdt or r.starting_equity_usdt,
        max_open_share=r.max_open_share,
        max_total_loss_pct=r.max_total_loss_pct,
        max_entries_per_minute=r.max_entries_per_minute,
        max_entries_per_hour=r.max_entries_per_hour,
        max_entries_per_day=r.max_entries_per_day,
        max_correlation=r.max_correlation,
        high_vol_size_scale=config.strategy.high_vol_size_scale,
        kill=KillSwitchLimits(r.stale_data_s, r.max_spread_bps, r.min_depth_usdt),
    )
