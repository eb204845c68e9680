"""Correlation: rolling return correlations across symbols, recomputed every interval.

Each recomputation goes to Risk, which denies an entry too correlated with an open position; the
matrix's size, age and most correlated pairs are shown in ``engine status`` (the pairs it blocks
now are in Risk's part, since only Risk knows what is open and pending).
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from actors.base import SingletonActor
from actors.context import CORRELATION, RISK, ActorContext
from engine.core.correlation import CorrelationMatrix, ReturnWindows
from engine.messages import BarsBackfilled, FeaturesUpdated, GetStatus, Tick

TOP_PAIRS = 5


class CorrelationActor(SingletonActor):
    role = CORRELATION

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self.windows = ReturnWindows(ctx.config.engine.correlation_window)
        self.latest: CorrelationMatrix | None = None
        self._newest_bar = 0

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, FeaturesUpdated):
            if message.bar_closed:
                self.windows.on_bar(message.symbol, message.ts, message.last)
                self._newest_bar = max(self._newest_bar, message.ts)
        elif isinstance(message, BarsBackfilled):
            for bar in message.bars:
                self.windows.on_bar(bar.symbol, bar.ts, bar.close)
        elif isinstance(message, Tick):
            self._recompute()
        elif isinstance(message, GetStatus):
            return self._status()
        return None

    def _recompute(self) -> None:
        matrix = self.latest = self.windows.matrix()
        if not matrix.symbols:
            return
        self.router.tell_singleton(RISK, matrix.to_message())
        logger.debug("correlation matrix of {} symbols recomputed", len(matrix.symbols))

    def _status(self) -> dict[str, Any]:
        matrix = self.latest
        if matrix is None or not matrix.symbols:
            return {"symbols": 0, "computed_at": None, "age_s": None, "top_pairs": []}
        return {
            "symbols": len(matrix.symbols),
            "computed_at": matrix.ts,
            "age_s": max(0.0, (self._newest_bar - matrix.ts) / 1000.0),
            "top_pairs": [{"pair": f"{a}/{b}", "rho": round(r, 3)} for a, b, r in matrix.most_correlated(TOP_PAIRS)],
        }
