"""Scanner: keeps each symbol's newest closed-bar features and ranks them for status.

Thin for now: the ranking is shown in ``engine status``; gating strategy evaluation to the top N
and the full score (ATR expansion, momentum, volume spike) come with the signals work.
"""

from __future__ import annotations

from typing import Any

from actors.base import SingletonActor
from actors.context import SCANNER, ActorContext
from engine.core.scanner import rank
from engine.messages import FeaturesUpdated, GetStatus
from engine.timeframes import interval_ms


class ScannerActor(SingletonActor):
    role = SCANNER

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self.latest: dict[str, FeaturesUpdated] = {}
        self._max_age_ms = 2 * interval_ms(ctx.config.strategy.timeframe)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, FeaturesUpdated):
            self.latest[message.symbol] = message
        elif isinstance(message, GetStatus):
            top = rank(self.latest, self.ctx.config.engine.top_n_symbols, self._max_age_ms)
            return {
                "top": [{"symbol": s, "trend_strength": round(v, 3)} for s, v in top],
                "ranked_from": len(self.latest),
            }
        return None
