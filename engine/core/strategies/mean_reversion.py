"""Range trading: Bollinger band mean reversion."""

from __future__ import annotations

import math

from engine.core.strategies.base import Holding, Management, atr_ok
from engine.messages import EnterPosition, ExitPosition, FeaturesUpdated, Side


class BollingerReversionRules:
    """Fade a move to a band once price closes back inside it; take profit at the middle band.

    A *touch* is a bar whose low reaches the lower band (high reaches the upper band, for a short).
    It arms the rule; the first close strictly between the band and the middle, on the touch bar
    (a wick rejected) or after it, enters. The touch is forgotten once a close reaches the middle
    band (the reversion happened without us) or the entry is made. The stop sits ``stop_atr``
    ATRs beyond the band (not the close), so the trade is wrong only once price leaves the range
    again; the target is the middle band at entry, and ``manage`` exits on any later close beyond
    the then-current middle, which follows the range as it drifts.
    """

    __slots__ = ("_armed", "name", "stop_atr")

    def __init__(self, stop_atr: float = 1.0, *, name: str = "range") -> None:
        if not stop_atr > 0.0:
            raise ValueError(f"stop_atr must be positive, got {stop_atr}")
        self.name = name
        self.stop_atr = stop_atr
        self._armed: Side | None = None

    def signal(self, f: FeaturesUpdated) -> EnterPosition | None:
        upper, middle, lower, close = f.bb_upper, f.bb_middle, f.bb_lower, f.last
        if math.isnan(middle) or not upper > lower:
            self._armed = None
            return None
        if f.low <= lower:
            self._armed = Side.LONG
        elif f.high >= upper:
            self._armed = Side.SHORT
        armed = self._armed
        if (armed is Side.LONG and close >= middle) or (armed is Side.SHORT and close <= middle):
            self._armed = None
            return None
        if armed is None or not atr_ok(f):
            return None
        if armed is Side.LONG and close > lower:
            band, stop = lower, lower - self.stop_atr * f.atr
        elif armed is Side.SHORT and close < upper:
            band, stop = upper, upper + self.stop_atr * f.atr
        else:
            return None
        self._armed = None
        where = "lower" if armed is Side.LONG else "upper"
        return EnterPosition(
            symbol=f.symbol,
            ts=f.ts,
            side=armed,
            price=close,
            stop=stop,
            strategy=self.name,
            reason=f"close {close:.6g} back inside the {where} band {band:.6g}",
            target=middle,
            regime=f.regime,
        )

    def manage(self, f: FeaturesUpdated, holding: Holding) -> Management | None:
        middle = f.bb_middle
        if math.isnan(middle) or holding.side.sign * (f.last - middle) < 0.0:
            return None
        return ExitPosition(f.symbol, f.ts, f"close {f.last:.6g} reached the middle band {middle:.6g}")
