"""The scanner's score: which symbols are worth a strategy's attention right now.

Each symbol gets four raw components from its newest closed bar on the primary timeframe:
trend strength ``|EMA fast - EMA slow| / ATR`` (how many ATRs the averages stand apart),
ATR expansion ``ATR / rolling median ATR``, momentum ``|rate of change|`` over the momentum
period (direction-free: the strategies trade both ways) and the volume spike (bar volume over
its rolling mean). Raw values are not comparable (a trend strength of 3 and a volume spike of 3
mean different things) and are heavy-tailed (one listing day's volume spike would squash
everyone else), so each component is normalised cross-sectionally by its percentile rank among
the scored symbols: the lowest gets 0, the highest 1, ties share their average rank. The score
is the weighted sum, in [0, 1] because the weights sum to 1.

Symbols whose features are not warm, or whose newest bar is more than ``max_age_ms`` older than
the newest bar of any symbol, are left out rather than scored on old values.

The steps of the score work on arrays (``component_rows``, ``percentile_ranks_by_row``,
``weighted_scores``) so that the backtest can apply this same code to every step of a run at once
(``engine.backtest.selection``) and choose exactly what ``score`` would have, ties included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.messages import FeaturesUpdated

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ScanWeights:
    trend: float = 0.35
    atr_expansion: float = 0.25
    momentum: float = 0.25
    volume: float = 0.15

    def __post_init__(self) -> None:
        values = (self.trend, self.atr_expansion, self.momentum, self.volume)
        if min(values) < 0.0 or abs(sum(values) - 1.0) > 1e-9:
            raise ValueError(f"scanner weights must be >= 0 and sum to 1: {self}")


@dataclass(frozen=True, slots=True)
class Scored:
    """One symbol's score and the raw components it came from, for status and logs."""

    symbol: str
    score: float
    trend: float
    atr_expansion: float
    momentum: float
    volume_spike: float
    regime: str


def components(f: FeaturesUpdated) -> tuple[float, float, float, float] | None:
    """The four raw components, or None when any is unknown (indicators not warm)."""
    # One symbol through the vectorised form, so the live score and the backtest's all-steps
    # selection (``engine.backtest.selection``) cannot drift apart.
    row = component_rows([f.warm], [f.ema_fast], [f.ema_slow], [f.atr], [f.atr_median], [f.momentum], [f.volume_spike])
    if math.isnan(row[0, 0]):
        return None
    return float(row[0, 0]), float(row[0, 1]), float(row[0, 2]), float(row[0, 3])


def component_rows(
    warm: npt.ArrayLike,
    ema_fast: npt.ArrayLike,
    ema_slow: npt.ArrayLike,
    atr: npt.ArrayLike,
    atr_median: npt.ArrayLike,
    momentum: npt.ArrayLike,
    volume_spike: npt.ArrayLike,
) -> FloatArray:
    """The components of many features at once, one row each (trend, ATR expansion, momentum,
    volume spike); a row is all NaN where the features have none, so callers can keep the rows
    aligned with their bars or symbols and test ``isnan(row[0])`` for "not scored"."""
    fast = np.asarray(ema_fast, dtype=np.float64)
    slow = np.asarray(ema_slow, dtype=np.float64)
    a = np.asarray(atr, dtype=np.float64)
    median = np.asarray(atr_median, dtype=np.float64)
    rows = np.empty((a.shape[0], 4), dtype=np.float64)
    # The same IEEE operations as on Python floats, elementwise; rows without a positive ATR and
    # ATR median divide by zero or NaN here and are blanked below, hence the silenced warnings.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rows[:, 0] = np.abs(fast - slow) / a
        rows[:, 1] = a / median
    rows[:, 2] = np.abs(np.asarray(momentum, dtype=np.float64))
    rows[:, 3] = np.asarray(volume_spike, dtype=np.float64)
    known = np.asarray(warm, dtype=np.bool_) & (a > 0.0) & (median > 0.0) & np.isfinite(rows).all(axis=1)
    rows[~known] = np.nan
    return rows


def percentile_ranks(values: npt.ArrayLike) -> FloatArray:
    """Rank of each value scaled to [0, 1] (lowest 0, highest 1), ties at their average rank."""
    x = np.asarray(values, dtype=np.float64)
    ranks: FloatArray = percentile_ranks_by_row(x.reshape(1, -1))[0]
    return ranks


def percentile_ranks_by_row(values: npt.ArrayLike) -> FloatArray:
    """``percentile_ranks`` of each row of a 2-D array on its own, NaN meaning "not in this row".

    The backtest ranks every step's cross-section at once, with the symbols not scored at a step
    missing; ``score`` ranks its one cross-section per component through the same code. Within a
    row the non-NaN values rank as in ``percentile_ranks`` (a lone one at 0.5); NaN stays NaN.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"percentile_ranks_by_row needs a 2-D array, got shape {x.shape}")
    m, n = x.shape
    ranks = np.full((m, n), np.nan)
    if m == 0 or n == 0:
        return ranks
    missing = np.isnan(x)
    # NaN sorts last, and so does +inf but before NaN: with no +inf in the data, NaN becomes +inf,
    # which numpy's vectorised sort takes (NaN sends it to a several times slower path).
    key = np.where(missing, np.inf, x) if not np.isposinf(x).any() else np.ascontiguousarray(x)
    RowRanker(n, m).rank(key, n - np.count_nonzero(missing, axis=1), ranks)
    np.copyto(ranks, np.nan, where=missing)
    return ranks


class RowRanker:
    """Percentile ranks of up to ``rows`` rows of ``width`` values each, over and over.

    A class so that its buffers outlive a call: the backtest ranks its steps in many chunks, and
    fresh temporaries for each chunk cost about as much as the ranking itself (the allocator hands
    large blocks back to the system, and every page of the next one faults in again).
    """

    def __init__(self, width: int, rows: int) -> None:
        self.width = width
        self.rows = rows
        self._sorted = np.empty(rows * width)
        self._tail = np.empty(rows * width, dtype=np.bool_)
        self._row_start = np.arange(0, rows * width, width, dtype=np.int64)[:, None]
        self._position = np.arange(width, dtype=np.float64)

    def rank(self, key: FloatArray, count: npt.NDArray[np.int64], out: FloatArray) -> None:
        """Rank each row of ``key`` into ``out`` (same shape, C-contiguous).

        Row ``i`` has ``count[i]`` values present; every absent entry must sort after them (as
        +inf or NaN), and its rank in ``out`` is left for the caller to overwrite. Rank ``p`` of
        ``count - 1`` for the value at sorted position ``p``; a tie group at positions
        ``first..last`` takes ``(first + last) / (2 * (count - 1))``. Both are one rounding of the
        exact quotient ``percentile_ranks`` always computed (the mean of the group's integer ranks
        is a multiple of 1/2, so exact), whatever the batch a row is ranked in.
        """
        m, n = key.shape
        if n != self.width or m > self.rows or out.shape != key.shape or not out.flags.c_contiguous:
            raise ValueError(f"cannot rank {key.shape} into {out.shape} with a ranker of {self.rows} x {self.width}")
        cells = m * n
        order = np.argsort(key, axis=1)  # equal values in any order: they share a rank
        order += self._row_start[:m]  # flat indices: numpy's take/put along an axis are slower
        flat_order = order.reshape(cells)
        ordered = self._sorted[:cells]
        np.take(key.reshape(cells), flat_order, out=ordered, mode="clip")  # "clip" writes to ``out`` directly
        tail = self._tail[:cells]  # a later member of a tie group: equal to the entry before it
        np.equal(ordered[1:], ordered[:-1], out=tail[1:])
        tail[::n] = False  # the first of each row
        spread = np.maximum(count - 1, 1).astype(np.float64)
        ranked = ordered.reshape(m, n)  # the sorted values are done with: their buffer is reused
        np.divide(self._position, spread[:, None], out=ranked)
        if tail.any():  # only the members of tie groups, few in real data, are gathered and fixed
            member = tail.copy()
            member[:-1] |= tail[1:]
            tied = np.flatnonzero(member)  # each group is a run here, from its first member
            heads = np.flatnonzero(~tail[tied])
            size = np.diff(heads, append=tied.size)
            row, first = np.divmod(tied[heads], n)
            ordered[tied] = np.repeat((2 * first + size - 1) / (2.0 * spread[row]), size)
        out.reshape(cells)[flat_order] = ordered
        lone = np.flatnonzero(count == 1)
        if lone.size:
            out[lone] = 0.5


def weighted_scores(ranks: FloatArray, weights: ScanWeights) -> FloatArray:
    """The score from the four percentile ranks stacked on the first axis (any shape after it).

    Written out term by term, not as a matrix product: BLAS may sum a product in another order
    (or fuse a multiply-add) depending on the shapes, and the backtest's batched selection must
    get the same bits as the one-step ``score`` to make the same choices on ties.
    """
    trend, atr_expansion, momentum, volume = ranks[0], ranks[1], ranks[2], ranks[3]
    total = ((trend * weights.trend + atr_expansion * weights.atr_expansion) + momentum * weights.momentum) + (
        volume * weights.volume
    )
    # Weights sum to 1 only within 1e-9: clip so a score never leaves [0, 1] by rounding.
    clipped: FloatArray = np.clip(total, 0.0, 1.0)
    return clipped


def score(latest: Mapping[str, FeaturesUpdated], weights: ScanWeights, max_age_ms: int) -> list[Scored]:
    """Every fresh, warm symbol scored in [0, 1], best first (ties by name)."""
    if not latest:
        return []
    newest = max(f.ts for f in latest.values())
    symbols = [symbol for symbol in sorted(latest) if newest - latest[symbol].ts <= max_age_ms]
    fresh = [latest[symbol] for symbol in symbols]
    raw = component_rows(
        [f.warm for f in fresh],
        [f.ema_fast for f in fresh],
        [f.ema_slow for f in fresh],
        [f.atr for f in fresh],
        [f.atr_median for f in fresh],
        [f.momentum for f in fresh],
        [f.volume_spike for f in fresh],
    )
    known = np.flatnonzero(~np.isnan(raw[:, 0]))
    if not known.size:
        return []
    raw = raw[known]
    totals = weighted_scores(percentile_ranks_by_row(raw.T), weights)
    scored = [
        Scored(symbols[i], float(total), float(row[0]), float(row[1]), float(row[2]), float(row[3]), fresh[i].regime)
        for i, total, row in zip(known.tolist(), totals, raw, strict=True)
    ]
    scored.sort(key=lambda s: (-s.score, s.symbol))
    return scored
