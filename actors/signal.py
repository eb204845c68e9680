"""Signal(symbol): runs the symbol's strategy on each closed bar; entries and exits go to Risk,
stop moves to Portfolio. The Scanner's selection gates entries (see ``SignalEngine``)."""

from __future__ import annotations

from typing import Any

from actors.base import SymbolActor
from actors.context import PORTFOLIO, RISK, SIGNAL, ActorContext
from engine.core.signal import SignalEngine
from engine.messages import FeaturesUpdated, MoveStop, PositionChanged, SymbolSelected
from engine.strategy_plan import build_strategy


class SignalActor(SymbolActor):
    role = SIGNAL

    def __init__(self, ctx: ActorContext, symbol: str, generation: int) -> None:
        super().__init__(ctx, symbol, generation)
        self.engine = SignalEngine(symbol, build_strategy(ctx.config, symbol))
        self._latency = ctx.latency

    def handle(self, message: Any) -> None:
        kind = type(message)
        if kind is FeaturesUpdated:
            intent = self.engine.on_features(message)
            self._latency.record_since(message.recv_ns)
            if intent is not None:
                self._router.tell_singleton(PORTFOLIO if type(intent) is MoveStop else RISK, intent)
        elif kind is PositionChanged:
            self.engine.on_position(message)
        elif kind is SymbolSelected:
            self.engine.selected = message.selected
