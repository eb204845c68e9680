"""Feed(symbol): the symbol's venue events in, bars out; everything else passes on to Features."""

from __future__ import annotations

from typing import Any

from actors.base import SymbolActor
from actors.context import FEATURES, FEED, ActorContext
from engine.core.bars import BarAggregator
from engine.messages import BarsBackfilled, BookUpdated, TickerUpdated, TradesReceived
from engine.timeframes import interval_ms


class FeedActor(SymbolActor):
    role = FEED

    def __init__(self, ctx: ActorContext, symbol: str, generation: int) -> None:
        super().__init__(ctx, symbol, generation)
        self.bars = BarAggregator(symbol, interval_ms(ctx.config.strategy.timeframe))

    def handle(self, message: Any) -> None:
        kind = type(message)
        router = self._router
        if kind is TradesReceived:
            for bar in self.bars.on_trade(message):
                router.tell(self.symbol, FEATURES, bar)
        elif kind is BookUpdated or kind is TickerUpdated:
            for bar in self.bars.on_time(message.ts):
                router.tell(self.symbol, FEATURES, bar)
            router.tell(self.symbol, FEATURES, message)
        elif kind is BarsBackfilled:
            if message.bars:
                self.bars.seed(message.bars[-1])
            router.tell(self.symbol, FEATURES, message)
