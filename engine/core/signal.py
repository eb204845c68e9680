"""SignalEngine: one symbol's strategy, its position as Portfolio reports it, and the scanner gate.

Entries go through only while the Scanner has the symbol in its top N: the scanner picks where
to trade, the strategy when. Exits and stop moves always go through, so a symbol that drops out
of the ranking still has its position managed. The strategy sees every bar of its timeframe
either way, so its state (EMAs, band touches, highs) is current the moment the symbol returns.
A backtest may instead skip the bars of a flat, unselected symbol (they provably decide nothing)
and ``resume`` a ``resumable`` strategy from the whole-series features before its next bar.
"""

from __future__ import annotations

from engine.core.strategies.base import FeatureHistory, Holding, Intent, Strategy
from engine.messages import FeaturesUpdated, PositionChanged


class SignalEngine:
    """Counts feed the status page: bars evaluated and intents sent."""

    __slots__ = ("evaluations", "holding", "intents", "selected", "strategy", "symbol")

    def __init__(self, symbol: str, strategy: Strategy | None, *, selected: bool = False) -> None:
        self.symbol = symbol
        self.strategy = strategy
        self.holding: Holding | None = None
        self.selected = selected
        self.evaluations = 0
        self.intents = 0

    def on_position(self, m: PositionChanged) -> None:
        self.holding = Holding.from_message(m)

    @property
    def resumable(self) -> bool:
        """Whether the strategy's state can be rebuilt by ``resume``. True without a strategy: there
        is no state, and nothing is ever decided, so any bar can be skipped."""
        strategy = self.strategy
        return strategy is None or strategy.resumable

    def resume(self, history: FeatureHistory, i: int) -> None:
        """The strategy's state after bars 0..i-1 of ``history`` (its own timeframe's features);
        nothing without a strategy. Holding and selection are messages, not bar state, so they stay;
        ``evaluations`` counts only the bars actually run."""
        if self.strategy is not None:
            self.strategy.resume(history, i)

    def on_features(self, f: FeaturesUpdated) -> Intent | None:
        """Run the strategy on a closed bar of its timeframe; anything else decides nothing."""
        strategy = self.strategy
        if strategy is None or not f.bar_closed or f.interval_ms != strategy.interval_ms:
            return None
        self.evaluations += 1
        intent = strategy.on_bar(f, self.holding, self.selected)
        if intent is not None:
            self.intents += 1
        return intent
