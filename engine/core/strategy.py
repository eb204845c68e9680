"""Strategies turn features into intents; the Signal actor is a thin shell around SignalEngine.

Strategies only ask (EnterPosition / ExitPosition); Risk sizes and may refuse, Execution acts.
So a strategy never sizes, never tracks fills, and sees its position only as the side Portfolio
reports, which keeps it a pure function of its inputs and replayable in a backtest.
"""

from __future__ import annotations

from typing import Protocol

from engine.messages import EnterPosition, ExitPosition, FeaturesUpdated, Side

Intent = EnterPosition | ExitPosition


class Strategy(Protocol):
    """What SignalEngine needs from a strategy: a stable name for journals, and a decision."""

    @property
    def name(self) -> str: ...

    def on_features(self, f: FeaturesUpdated, position: Side | None) -> Intent | None:
        """Decide on one features snapshot given the symbol's current position side."""
        ...


class EmaCrossStrategy:
    """Trend following: be long after the fast EMA crosses above the slow one, short after below.

    Decisions are taken only on closed, warm bars, so the result does not depend on how many book
    updates arrived in between, and a cross is strict against the previous warm bar (fast > slow
    now, fast <= slow before, for a long), so staying above the slow EMA never signals twice.
    On a cross against an open position it asks for the new side directly; closing the old
    position first is the engine's job (Risk/Execution reverse), which keeps one intent per bar.
    The stop sits ``atr_stop_mult`` ATRs from the close, the price the decision was taken at.
    It remembers the previous bar's EMAs, so each symbol needs its own instance.
    """

    __slots__ = ("_prev_fast", "_prev_slow", "atr_stop_mult", "ema_fast", "ema_slow", "name")

    def __init__(self, ema_fast: int = 9, ema_slow: int = 21, atr_stop_mult: float = 2.0) -> None:
        if not 0 < ema_fast < ema_slow:
            raise ValueError(f"need 0 < ema_fast < ema_slow, got {ema_fast} and {ema_slow}")
        if not atr_stop_mult > 0.0:
            raise ValueError(f"atr_stop_mult must be positive, got {atr_stop_mult}")
        self.name = "ema_cross"
        self.ema_fast = ema_fast
        self.ema_slow = ema_slow
        self.atr_stop_mult = atr_stop_mult
        self._prev_fast: float | None = None
        self._prev_slow: float | None = None

    def on_features(self, f: FeaturesUpdated, position: Side | None) -> Intent | None:
        """An entry on a fresh cross, unless already on that side; otherwise nothing."""
        if not (f.bar_closed and f.warm):
            return None
        fast, slow = f.ema_fast, f.ema_slow
        prev_fast, prev_slow = self._prev_fast, self._prev_slow
        self._prev_fast, self._prev_slow = fast, slow
        if prev_fast is None or prev_slow is None:
            return None
        if fast > slow and prev_fast <= prev_slow:
            side, direction = Side.LONG, "above"
        elif fast < slow and prev_fast >= prev_slow:
            side, direction = Side.SHORT, "below"
        else:
            return None
        # A zero ATR would put the stop at the entry and make Risk's size infinite.
        if position is side or not f.atr > 0.0:
            return None
        return EnterPosition(
            symbol=f.symbol,
            ts=f.ts,
            side=side,
            price=f.last,
            stop=f.last - side.sign * self.atr_stop_mult * f.atr,
            strategy=self.name,
            reason=f"ema {self.ema_fast} crossed {direction} ema {self.ema_slow}",
        )


class SignalEngine:
    """One symbol's strategy plus the position side Portfolio last reported for it.

    The position is updated only from Portfolio (``on_position``), never from the intents sent,
    because Risk may deny an entry: the strategy must see the position that really exists.
    """

    __slots__ = ("evaluations", "intents", "position", "strategy", "symbol")

    def __init__(self, symbol: str, strategy: Strategy) -> None:
        self.symbol = symbol
        self.strategy = strategy
        self.position: Side | None = None
        self.evaluations = 0
        self.intents = 0

    def on_position(self, side: Side | None) -> None:
        self.position = side

    def on_features(self, f: FeaturesUpdated) -> Intent | None:
        """Run the strategy; counts feed the status page (how often it ran, how often it spoke)."""
        self.evaluations += 1
        intent = self.strategy.on_features(f, self.position)
        if intent is not None:
            self.intents += 1
        return intent
