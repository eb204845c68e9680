"""Signal(symbol): runs the strategy on each features update and sends intents to Risk."""

from __future__ import annotations

from typing import Any

from actors.base import SymbolActor
from actors.context import RISK, SIGNAL, ActorContext
from engine.core.strategy import EmaCrossStrategy, SignalEngine
from engine.messages import FeaturesUpdated, PositionChanged


class SignalActor(SymbolActor):
    role = SIGNAL

    def __init__(self, ctx: ActorContext, symbol: str, generation: int) -> None:
        super().__init__(ctx, symbol, generation)
        s = ctx.config.strategy
        self.engine = SignalEngine(symbol, EmaCrossStrategy(s.ema_fast, s.ema_slow, s.atr_stop_mult))
        self._latency = ctx.latency

    def handle(self, message: Any) -> None:
        kind = type(message)
        if kind is FeaturesUpdated:
            intent = self.engine.on_features(message)
            self._latency.record_since(message.recv_ns)
            if intent is not None:
                self._router.tell_singleton(RISK, intent)
        elif kind is PositionChanged:
            self.engine.on_position(message.side)
