"""Rolling correlation of bar returns across symbols, vectorised.

Each symbol keeps its newest ``window + 1`` closes; the matrix is the Pearson correlation of the
last ``window`` simple returns of every symbol that has a full window, aligned on the bar's open
time so two symbols are only compared over the same bars. Symbols without a full, aligned window
are left out rather than compared on fewer points.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.messages import CorrelationUpdated


@dataclass(frozen=True, slots=True)
class CorrelationMatrix:
    symbols: tuple[str, ...]
    rho: npt.NDArray[np.float64]
    ts: int

    def to_message(self) -> CorrelationUpdated:
        """The matrix as Risk takes it (row-major floats)."""
        return CorrelationUpdated(self.ts, self.symbols, tuple(self.rho.ravel().tolist()))

    def most_correlated(self, limit: int) -> list[tuple[str, str, float]]:
        """The ``limit`` pairs with the largest |rho|, strongest first."""
        n = len(self.symbols)
        if n < 2:
            return []
        upper_i, upper_j = np.triu_indices(n, k=1)
        values = self.rho[upper_i, upper_j]
        order = np.argsort(-np.abs(values))[:limit]
        return [(self.symbols[upper_i[k]], self.symbols[upper_j[k]], float(values[k])) for k in order]


class ReturnWindows:
    """Newest closes per symbol, keyed by bar open time."""

    def __init__(self, window: int = 50) -> None:
        if window < 2:
            raise ValueError(f"a correlation window needs at least 2 returns, got {window}")
        self.window = window
        self._closes: dict[str, deque[tuple[int, float]]] = {}

    def on_bar(self, symbol: str, open_ts: int, close: float) -> None:
        closes = self._closes.setdefault(symbol, deque(maxlen=self.window + 1))
        if closes and open_ts <= closes[-1][0]:
            return
        closes.append((open_ts, close))

    def forget(self, symbol: str) -> None:
        self._closes.pop(symbol, None)

    def matrix(self) -> CorrelationMatrix:
        """Correlation of every symbol whose full window ends on the newest bar seen."""
        full = (s for s, c in self._closes.items() if len(c) == self.window + 1)
        return correlation_of({s: ([t for t, _ in self._closes[s]], [x for _, x in self._closes[s]]) for s in full})


Times = Sequence[int] | npt.NDArray[np.int64]
Window = tuple[Times, Sequence[float] | npt.NDArray[np.float64]]
"""One symbol's bar times and closes, oldest first: lists from the live windows, array slices in a backtest."""


def correlation_of(windows: Mapping[str, Window]) -> CorrelationMatrix:
    """The matrix of full windows (bar times and closes, oldest first, all of one length): those
    ending on the newest bar, without gaps, by symbol name. One function for the live windows and
    the backtest, which slices them out of whole series instead of keeping deques."""
    if not windows:
        return CorrelationMatrix((), np.empty((0, 0)), 0)
    newest = max(int(times[-1]) for times, _ in windows.values())
    symbols = tuple(sorted(s for s, (times, _) in windows.items() if times[-1] == newest and _contiguous(times)))
    if not symbols:
        return CorrelationMatrix((), np.empty((0, 0)), newest)
    closes = np.array([windows[s][1] for s in symbols], dtype=np.float64)
    returns = closes[:, 1:] / closes[:, :-1] - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.corrcoef(returns) if len(symbols) > 1 else np.ones((1, 1))
    return CorrelationMatrix(symbols, np.nan_to_num(np.atleast_2d(rho)), newest)


def _contiguous(times: Times) -> bool:
    """Equally spaced bars: no gap that would compare returns over different spans."""
    steps = np.diff(np.asarray(times, dtype=np.int64))
    return bool((steps == steps[0]).all())
