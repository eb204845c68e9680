"""The scanner's score: which symbols are worth a strategy's attention right now.

Each symbol gets four raw components from its newest closed bar on the primary timeframe:
trend strength ``|EMA fast - EMA slow| / ATR`` (how many ATRs the averages stand apart),
ATR expansion ``ATR / rolling median ATR``, momentum ``|rate of change|`` over the momentum
period (direction-free: the strategies trade both ways) and the volume spike (bar volume over
its rolling mean). Raw values are not comparable (a trend strength of 3 and a volume spike of 3
mean different things) and are heavy-tailed (one listing day's volume spike would squash
everyone else), so each component is normalised cross-sectionally by its percentile rank among
the scored symbols: the lowest gets 0, the highest 1, ties share their average rank. The score
is the weighted sum, in [0, 1] because the weights sum to 1.

Symbols whose features are not warm, or whose newest bar is more than ``max_age_ms`` older than
the newest bar of any symbol, are left out rather than scored on old values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.messages import FeaturesUpdated


@dataclass(frozen=True, slots=True)
class ScanWeights:
    trend: float = 0.35
    atr_expansion: float = 0.25
    momentum: float = 0.25
    volume: float = 0.15

    def __post_init__(self) -> None:
        values = (self.trend, self.atr_expansion, self.momentum, self.volume)
        if min(values) < 0.0 or abs(sum(values) - 1.0) > 1e-9:
            raise ValueError(f"scanner weights must be >= 0 and sum to 1: {self}")


@dataclass(frozen=True, slots=True)
class Scored:
    """One symbol's score and the raw components it came from, for status and logs."""

    symbol: str
    score: float
    trend: float
    atr_expansion: float
    momentum: float
    volume_spike: float
    regime: str


def components(f: FeaturesUpdated) -> tuple[float, float, float, float] | None:
    """The four raw components, or None when any is unknown (indicators not warm)."""
    if not (f.warm and f.atr > 0.0 and f.atr_median > 0.0):
        return None
    values = (abs(f.ema_fast - f.ema_slow) / f.atr, f.atr / f.atr_median, abs(f.momentum), f.volume_spike)
    return values if all(math.isfinite(v) for v in values) else None


def percentile_ranks(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Rank of each value scaled to [0, 1] (lowest 0, highest 1), ties at their average rank."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        return np.empty(0)
    if n == 1:
        return np.array([0.5])
    ranks = np.empty(n)
    ranks[np.argsort(x, kind="stable")] = np.arange(n, dtype=np.float64)
    _, tie_group, tie_count = np.unique(x, return_inverse=True, return_counts=True)
    averaged = np.bincount(tie_group, weights=ranks)[tie_group] / tie_count[tie_group]
    result: npt.NDArray[np.float64] = averaged / (n - 1)
    return result


def score(latest: Mapping[str, FeaturesUpdated], weights: ScanWeights, max_age_ms: int) -> list[Scored]:
    """Every fresh, warm symbol scored in [0, 1], best first (ties by name)."""
    if not latest:
        return []
    newest = max(f.ts for f in latest.values())
    symbols: list[str] = []
    rows: list[tuple[float, float, float, float]] = []
    regimes: list[str] = []
    for symbol in sorted(latest):
        f = latest[symbol]
        values = components(f) if newest - f.ts <= max_age_ms else None
        if values is not None:
            symbols.append(symbol)
            rows.append(values)
            regimes.append(f.regime)
    if not rows:
        return []
    raw = np.array(rows)
    w = np.array([weights.trend, weights.atr_expansion, weights.momentum, weights.volume])
    normalised = np.column_stack([percentile_ranks(raw[:, j]) for j in range(4)])
    # Weights sum to 1 only within 1e-9: clip so a score never leaves [0, 1] by rounding.
    totals = np.clip(normalised @ w, 0.0, 1.0)
    scored = [
        Scored(symbol, float(total), float(row[0]), float(row[1]), float(row[2]), float(row[3]), regime)
        for symbol, total, row, regime in zip(symbols, totals, raw, regimes, strict=True)
    ]
    scored.sort(key=lambda s: (-s.score, s.symbol))
    return scored
