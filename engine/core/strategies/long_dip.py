"""ATR long dip: buy a pull-back from the recent high, sized by how deep it is, and trail it.

Sizing by dip depth follows the step table linearly: depth (drop from the high in ATRs) 1.0 ->
5% of the budget, 1.5 -> 8%, 2.0 -> 12%, 2.5 -> 15%, interpolated between the steps and held at
the end values outside them (a 0.8 ATR dip, the shallowest that enters, takes 5%; a 3 ATR dip
15%). Interpolation rather than steps, so that a dip of 1.49 ATR is not sized like one of 1.0.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from engine.core.indicators import Atr
from engine.core.strategies.base import FeatureHistory, Holding, Management, NotResumableError
from engine.messages import EnterPosition, FeaturesUpdated, MoveStop, Side

DEFAULT_SIZE_STEPS = ((1.0, 0.05), (1.5, 0.08), (2.0, 0.12), (2.5, 0.15))


@dataclass(frozen=True, slots=True)
class LongDipSettings:
    """[long_dip] settings; distances are in ATRs of ``atr_period`` on the strategy's candles."""

    atr_period: int = 10
    high_lookback: int = 20
    entry_multiplier: float = 0.8
    size_steps: tuple[tuple[float, float], ...] = DEFAULT_SIZE_STEPS
    budget_usdt: float = 5_000.0
    volatile_atr_pct: float = 0.03
    volatile_size_cut: float = 0.3
    target_atr: float = 1.0
    stop_atr: float = 1.5
    trail_activation_atr: float = 0.5
    trail_distance_atr: float = 0.5

    def __post_init__(self) -> None:
        depths = [d for d, _ in self.size_steps]
        if not self.size_steps or depths != sorted(set(depths)):
            raise ValueError(f"size_steps need strictly increasing depths: {self.size_steps}")
        if not all(0.0 < share <= 1.0 for _, share in self.size_steps):
            raise ValueError(f"size_steps shares must be in (0, 1]: {self.size_steps}")
        positive = (self.entry_multiplier, self.budget_usdt, self.target_atr, self.stop_atr, self.trail_distance_atr)
        if self.atr_period < 1 or self.high_lookback < 1 or not all(v > 0.0 for v in positive):
            raise ValueError(f"long_dip periods and distances must be positive: {self}")
        if not 0.0 <= self.volatile_size_cut < 1.0 or self.trail_activation_atr < 0.0:
            raise ValueError(f"volatile_size_cut must be in [0, 1) and trail_activation_atr >= 0: {self}")


def dip_share(depth: float, steps: Sequence[tuple[float, float]] = DEFAULT_SIZE_STEPS) -> float:
    """Share of the budget for a dip ``depth`` ATRs deep: the step table, linearly interpolated."""
    depths = [d for d, _ in steps]
    i = bisect.bisect_right(depths, depth)
    if i == 0:
        return steps[0][1]
    if i == len(steps):
        return steps[-1][1]
    (d0, s0), (d1, s1) = steps[i - 1], steps[i]
    return s0 + (s1 - s0) * (depth - d0) / (d1 - d0)


class LongDipRules:
    """Enter long when the close is ``entry_multiplier`` ATRs or more below the recent high.

    The recent high is the highest high of the last ``high_lookback`` bars (this one included).
    One entry per high: after an entry the same high cannot trigger again, so a dip that keeps
    falling after a stop-out is not bought twice. The stop is ``stop_atr`` ATRs below the entry,
    the target ``target_atr`` above. Once the best close since entry is ``trail_activation_atr``
    ATRs above the entry, the stop trails ``trail_distance_atr`` ATRs below that best close; it
    only ever moves up (Portfolio refuses a looser stop anyway). ATR above ``volatile_atr_pct`` of
    the price cuts the size by ``volatile_size_cut``.

    Not ``resumable``: the state is this rule's own ATR of ``atr_period`` (not the features' ATR),
    the last ``high_lookback`` highs, the high already bought, and the best close of the position,
    which depends on the entries the portfolio actually filled, not on features alone. A backtest
    runs it on every bar of its timeframe instead.
    """

    resumable = False

    __slots__ = ("_atr", "_best", "_best_entry", "_highs", "_used_high", "name", "settings")

    def __init__(self, settings: LongDipSettings | None = None, *, name: str = "long_dip") -> None:
        self.name = name
        self.settings = settings or LongDipSettings()
        self._atr = Atr(self.settings.atr_period)
        self._highs: deque[float] = deque(maxlen=self.settings.high_lookback)
        self._used_high: float | None = None
        self._best = 0.0
        self._best_entry: float | None = None

    @property
    def atr(self) -> float | None:
        return self._atr.value

    def signal(self, f: FeaturesUpdated) -> EnterPosition | None:
        s = self.settings
        atr = self._atr.update(f.high, f.low, f.last)
        self._highs.append(f.high)
        if atr is None or not atr > 0.0 or len(self._highs) < s.high_lookback:
            return None
        high = max(self._highs)
        close = f.last
        depth = (high - close) / atr
        if depth < s.entry_multiplier or high == self._used_high:
            return None
        self._used_high = high
        # The position this entry opens starts its own best close, even if it fills at the
        # same price as the previous one (``manage`` resets on an entry price it has not seen).
        self._best_entry = None
        share = dip_share(depth, s.size_steps)
        atr_pct = atr / close
        volatile = atr_pct > s.volatile_atr_pct
        if volatile:
            share *= 1.0 - s.volatile_size_cut
        cut = f", size cut {s.volatile_size_cut:.0%} at ATR {atr_pct:.2%} of price" if volatile else ""
        return EnterPosition(
            symbol=f.symbol,
            ts=f.ts,
            side=Side.LONG,
            price=close,
            stop=close - s.stop_atr * atr,
            strategy=self.name,
            reason=f"dip {depth:.2f} ATR below the high {high:.6g}: {share:.1%} of budget{cut}",
            target=close + s.target_atr * atr,
            regime=f.regime,
            notional=share * s.budget_usdt,
        )

    def resume(self, history: FeatureHistory, i: int) -> None:
        """Always NotResumableError: see the class docstring."""
        raise NotResumableError(
            f"{self.name} (long dip) cannot resume from features: its own ATR, recent highs, used high and "
            "best close need signal() and manage() on every bar"
        )

    def manage(self, f: FeaturesUpdated, holding: Holding) -> Management | None:
        """Trail the stop below the best close since entry, once the gain activates it."""
        atr = self._atr.value
        if holding.side is not Side.LONG or atr is None:
            return None
        if self._best_entry != holding.entry:
            self._best_entry, self._best = holding.entry, holding.entry
        self._best = max(self._best, f.last)
        s = self.settings
        if self._best - holding.entry < s.trail_activation_atr * atr:
            return None
        stop = self._best - s.trail_distance_atr * atr
        if stop <= holding.stop:
            return None
        return MoveStop(f.symbol, f.ts, stop, f"trailing {s.trail_distance_atr:g} ATR below {self._best:.6g}")
