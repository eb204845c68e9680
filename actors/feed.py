"""Feed(symbol): the symbol's venue events in, bars out; everything else passes on to Features.

A Feed starts without history and ignores live events until its backfill (``BarsBackfilled``)
arrives: indicators must be warmed from history before the first live bar, or a bar closed live
would make the older history look stale. MarketData backfills a symbol before subscribing it, so
on a first start nothing is ignored; after a restart the stream is already flowing and the few
events that arrive first are counted in ``ignored_before_history`` (the history covers them, bar
for bar, up to the bar in progress).
"""

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
        self.has_history = False
        self.ignored_before_history = 0

    def handle(self, message: Any) -> None:
        kind = type(message)
        router = self._router
        if kind is BarsBackfilled:
            if message.bars:
                self.bars.seed(message.bars[-1])
            self.has_history = True
            router.tell(self.symbol, FEATURES, message)
        elif not self.has_history:
            self.ignored_before_history += 1
        elif kind is TradesReceived:
            for bar in self.bars.on_trade(message):
                router.tell(self.symbol, FEATURES, bar)
        elif kind is BookUpdated or kind is TickerUpdated:
            for bar in self.bars.on_time(message.ts):
                router.tell(self.symbol, FEATURES, bar)
            router.tell(self.symbol, FEATURES, message)
