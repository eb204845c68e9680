"""Features(symbol): indicators and book state, updated in O(1) per event by the pure core."""

from __future__ import annotations

from typing import Any

from actors.base import SymbolActor
from actors.context import CORRELATION, FEATURES, SCANNER, SIGNAL, ActorContext
from engine.core.features import FeatureEngine
from engine.messages import BarClosed, BarsBackfilled, BookUpdated, TickerUpdated


class FeaturesActor(SymbolActor):
    role = FEATURES

    def __init__(self, ctx: ActorContext, symbol: str, generation: int) -> None:
        super().__init__(ctx, symbol, generation)
        s = ctx.config.strategy
        self.engine = FeatureEngine(symbol, s.ema_fast, s.ema_slow, s.atr_period)

    def handle(self, message: Any) -> None:
        kind = type(message)
        if kind is BookUpdated:
            self._router.tell(self.symbol, SIGNAL, self.engine.on_book(message))
        elif kind is TickerUpdated:
            self._router.tell(self.symbol, SIGNAL, self.engine.on_ticker(message))
        elif kind is BarClosed:
            update = self.engine.on_bar(message)
            self._router.tell(self.symbol, SIGNAL, update)
            self._router.tell_singleton(SCANNER, update)
            self._router.tell_singleton(CORRELATION, update)
        elif kind is BarsBackfilled:
            self.engine.backfill(message.bars)
            self._router.tell_singleton(CORRELATION, message)
