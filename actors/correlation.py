"""Correlation: rolling return correlations across symbols, recomputed every interval.

Thin for now: the matrix, its age and the most correlated pairs are shown in ``engine status``;
blocking correlated entries in Risk comes with the risk work.
"""

from __future__ import annotations

from typing import Any

from actors.base import SingletonActor
from actors.context import CORRELATION, ActorContext
from engine.core.correlation import CorrelationMatrix, ReturnWindows
from engine.messages import BarsBackfilled, FeaturesUpdated, GetStatus, Tick

TOP_PAIRS = 5


class CorrelationActor(SingletonActor):
    role = CORRELATION

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self.windows = ReturnWindows(ctx.config.engine.correlation_window)
        self.latest: CorrelationMatrix | None = None

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, FeaturesUpdated):
            if message.bar_closed:
                self.windows.on_bar(message.symbol, message.ts, message.last)
        elif isinstance(message, BarsBackfilled):
            for bar in message.bars:
                self.windows.on_bar(bar.symbol, bar.ts, bar.close)
        elif isinstance(message, Tick):
            self.latest = self.windows.matrix()
        elif isinstance(message, GetStatus):
            return self._status()
        return None

    def _status(self) -> dict[str, Any]:
        matrix = self.latest
        if matrix is None:
            return {"symbols": 0, "computed_at": None, "top_pairs": []}
        return {
            "symbols": len(matrix.symbols),
            "computed_at": matrix.ts,
            "top_pairs": [{"pair": f"{a}/{b}", "rho": round(r, 3)} for a, b, r in matrix.most_correlated(TOP_PAIRS)],
        }
