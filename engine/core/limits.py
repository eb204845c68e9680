"""The limits the risk gate enforces, checked once when the engine starts.

Fractions of equity are fractions, not percents (0.01 = 1%). A cap of 0 means "no cap" only where
the field says so: every limit that guards money is on by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class KillSwitchLimits:
    """When a symbol's market is unfit for a new entry.

    ``stale_s``: its newest quote is older than this (event time) against the newest quote of the
    market or the intent. ``max_spread_bps``: its bid-ask spread is wider, in bps of the mid.
    ``min_depth_usdt``: either side of its book holds less than this within 10 bps of the mid.
    """

    stale_s: float = 30.0
    max_spread_bps: float = 25.0
    min_depth_usdt: float = 5_000.0

    def __post_init__(self) -> None:
        values = (self.stale_s, self.max_spread_bps)
        if not all(math.isfinite(v) and v > 0.0 for v in values) or not self.min_depth_usdt >= 0.0:
            raise ValueError(f"kill-switch limits must be positive: {self}")


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The [risk] settings.

    - ``max_drawdown_pct``: a fall of this share from the equity peak halts entries until an
      operator resumes (which re-bases the peak).
    - ``max_symbol_notional_usdt`` / ``max_symbol_margin_usdt``: one symbol's position is capped
      at these (0 = no cap beyond the one-slot margin share).
    - ``leverage``: per-symbol leverage overriding ``default_leverage``; it sets margin only.
    - ``budget_usdt``: the capital allocated to the bot; at most ``max_open_share`` of it may be
      locked as margin in open positions, and a loss of ``max_total_loss_pct`` of it since
      ``starting_equity`` puts trading into REDUCING (exits only, positions closed).
    - ``max_entries_per_minute`` / ``_hour`` / ``_day``: approved entries in any sliding window.
    - ``max_correlation``: an entry whose |rho| with an open or pending position is larger is
      denied.
    - ``high_vol_size_scale``: the most of the risk-based size an entry in the HIGH_VOLATILITY
      regime may take, whatever its strategy asked.
    """

    risk_per_trade_pct: float = 0.01
    portfolio_heat_cap_pct: float = 0.05
    max_concurrent_positions: int = 5
    max_daily_loss_pct: float = 0.04
    default_leverage: float = 3.0
    strategy_budgets: tuple[tuple[str, float], ...] = ()
    max_drawdown_pct: float = 0.15
    max_symbol_notional_usdt: float = 0.0
    max_symbol_margin_usdt: float = 0.0
    leverage: tuple[tuple[str, float], ...] = ()
    starting_equity: float = 10_000.0
    budget_usdt: float = 10_000.0
    max_open_share: float = 0.5
    max_total_loss_pct: float = 0.25
    max_entries_per_minute: int = 10
    max_entries_per_hour: int = 60
    max_entries_per_day: int = 300
    max_correlation: float = 0.8
    high_vol_size_scale: float = 0.5
    kill: KillSwitchLimits = KillSwitchLimits()

    def __post_init__(self) -> None:
        """Fail at start-up on a nonsensical config rather than size trades with it."""
        fractions = (
            self.risk_per_trade_pct,
            self.portfolio_heat_cap_pct,
            self.max_daily_loss_pct,
            self.max_drawdown_pct,
            self.max_open_share,
            self.max_total_loss_pct,
            self.max_correlation,
            self.high_vol_size_scale,
        )
        if not all(0.0 <= f <= 1.0 for f in fractions):
            raise ValueError(f"risk fractions must lie in [0, 1]: {self}")
        if self.max_concurrent_positions < 0 or self.default_leverage <= 0.0:
            raise ValueError(f"positions must be >= 0 and leverage > 0: {self}")
        if any(cap <= 0.0 for _, cap in self.strategy_budgets):
            raise ValueError(f"strategy budgets must be positive: {self.strategy_budgets}")
        if any(not 0.0 < lev <= 125.0 for _, lev in self.leverage):
            raise ValueError(f"per-symbol leverage must lie in (0, 125]: {self.leverage}")
        money = (self.max_symbol_notional_usdt, self.max_symbol_margin_usdt)
        if min(money) < 0.0 or self.starting_equity <= 0.0 or self.budget_usdt <= 0.0:
            raise ValueError(f"USDT limits must not be negative, equity and budget positive: {self}")
        rates = (self.max_entries_per_minute, self.max_entries_per_hour, self.max_entries_per_day)
        if min(rates) < 1:
            raise ValueError(f"entry rate limits must be at least 1: {rates}")

    def leverage_of(self, symbol: str) -> float:
        """The leverage ``symbol`` trades at: its own setting, else the default."""
        return dict(self.leverage).get(symbol, self.default_leverage)

    def rate_windows(self) -> tuple[tuple[str, int, int], ...]:
        """(name, window in ms, most entries) for each entry rate limit."""
        return (
            ("minute", MINUTE_MS, self.max_entries_per_minute),
            ("hour", HOUR_MS, self.max_entries_per_hour),
            ("day", DAY_MS, self.max_entries_per_day),
        )
