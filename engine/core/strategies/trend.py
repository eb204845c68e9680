"""Trend following: EMA fast/slow crossover with an ATR stop (also the high-volatility rule)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine.core.strategies.base import FeatureHistory, Holding, Management, atr_ok, check_resume_index
from engine.messages import EnterPosition, ExitPosition, FeaturesUpdated, Side

LAST_WARM_KEY = "trend.last_warm_before"
"""``FeatureHistory.memo`` key of ``last_warm_before(history.warm)`` (shared by every TrendRules:
it depends on the features only, not on the rule's settings)."""


def last_warm_before(warm: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Element ``i`` (0 through ``len(warm)``): the index of the last warm bar before bar ``i``,
    -1 if none. ``warm`` is in fact monotone (the EMAs and the ATR never lose their value once
    they have one), but this does not rely on it."""
    n = len(warm)
    out = np.full(n + 1, -1, dtype=np.int64)
    if n:
        np.maximum.accumulate(np.where(warm, np.arange(n, dtype=np.int64), -1), out=out[1:])
    return out


def crossing(fast: float, slow: float, prev_fast: float, prev_slow: float) -> Side | None:
    """The side of a strict cross of the fast EMA over the slow one since the previous warm bar."""
    if fast > slow and prev_fast <= prev_slow:
        return Side.LONG
    if fast < slow and prev_fast >= prev_slow:
        return Side.SHORT
    return None


class TrendRules:
    """Long after the fast EMA crosses above the slow one, short after it crosses below.

    A cross is strict against the previous warm bar (fast > slow now, fast <= slow before, for a
    long), so staying above never signals twice. The stop sits ``atr_stop_mult`` ATRs from the
    close the decision is taken at; there is no target: the trade runs until the opposite cross
    or the stop. ``size_scale`` < 1 makes the same rules trade smaller (0.5 in high volatility,
    where the same ATR stop is wider and the moves less reliable).

    The state is the EMAs of the last warm bar (an unwarm bar is ignored without touching them)
    and the cross of the newest bar, both read straight from the features: ``resumable``.
    """

    resumable = True

    __slots__ = ("_cross", "_prev_fast", "_prev_slow", "atr_stop_mult", "ema_fast", "ema_slow", "name", "size_scale")

    def __init__(
        self,
        ema_fast: int = 9,
        ema_slow: int = 21,
        atr_stop_mult: float = 2.0,
        *,
        name: str = "trend",
        size_scale: float = 1.0,
    ) -> None:
        if not 0 < ema_fast < ema_slow:
            raise ValueError(f"need 0 < ema_fast < ema_slow, got {ema_fast} and {ema_slow}")
        if not atr_stop_mult > 0.0:
            raise ValueError(f"atr_stop_mult must be positive, got {atr_stop_mult}")
        if not 0.0 < size_scale <= 1.0:
            raise ValueError(f"size_scale must be in (0, 1], got {size_scale}")
        self.name = name
        self.ema_fast = ema_fast
        self.ema_slow = ema_slow
        self.atr_stop_mult = atr_stop_mult
        self.size_scale = size_scale
        self._prev_fast: float | None = None
        self._prev_slow: float | None = None
        self._cross: Side | None = None

    def signal(self, f: FeaturesUpdated) -> EnterPosition | None:
        """An entry on the bar of a fresh cross; remembers the cross for ``manage``."""
        self._cross = None
        if not f.warm:
            return None
        fast, slow = f.ema_fast, f.ema_slow
        prev_fast, prev_slow = self._prev_fast, self._prev_slow
        self._prev_fast, self._prev_slow = fast, slow
        if prev_fast is None or prev_slow is None:
            return None
        side = crossing(fast, slow, prev_fast, prev_slow)
        if side is None:
            return None
        self._cross = side
        if not atr_ok(f):
            return None
        direction = "above" if side is Side.LONG else "below"
        return EnterPosition(
            symbol=f.symbol,
            ts=f.ts,
            side=side,
            price=f.last,
            stop=f.last - side.sign * self.atr_stop_mult * f.atr,
            strategy=self.name,
            reason=f"ema {self.ema_fast} crossed {direction} ema {self.ema_slow}",
            regime=f.regime,
            size_scale=self.size_scale,
        )

    def resume(self, history: FeatureHistory, i: int) -> None:
        """The EMAs of the last warm bar before ``i`` (none if there is none), and the cross bar
        ``i - 1`` made against the warm bar before it (what ``signal`` left for ``manage``)."""
        check_resume_index(history, i)
        before = history.memo(LAST_WARM_KEY, lambda: last_warm_before(history.warm))
        p = int(before[i])
        self._cross = None
        if p < 0:
            self._prev_fast = self._prev_slow = None
            return
        ema_fast, ema_slow = history.ema_fast, history.ema_slow
        fast, slow = float(ema_fast[p]), float(ema_slow[p])
        self._prev_fast, self._prev_slow = fast, slow
        q = int(before[p])
        if p == i - 1 and q >= 0:
            self._cross = crossing(fast, slow, float(ema_fast[q]), float(ema_slow[q]))

    def manage(self, f: FeaturesUpdated, holding: Holding) -> Management | None:
        """Exit on a cross against the position (when the regime no longer lets it reverse)."""
        if self._cross is None or self._cross is holding.side:
            return None
        return ExitPosition(f.symbol, f.ts, f"ema {self.ema_fast} crossed against the {holding.side.value}")
