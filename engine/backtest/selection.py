"""The Scanner's choice of symbols at every step of a backtest, computed for all steps at once.

The backtest lets only the top ``engine.top_n_symbols`` symbols enter at each step, as the live
Scanner does. Calling the Scanner core's ``score`` once per step costs milliseconds with 100
symbols (about 5 ms a step in the backtest), and a month of 1-minute steps is 43,200 of them:
minutes per run spent re-ranking bars that are all known up front. ``chosen_by_step`` applies the
Scanner core's ranking (``engine.core.scanner``: the same components, percentile ranks, weighted
sum and tie-break by name, through the same functions) to every step at once in numpy, so the
choices are the per-step calls' exactly, ties included.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from engine.core.scanner import RowRanker, ScanWeights, weighted_scores

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Steps are handled in blocks of about this many (step, symbol) cells, where each symbol's newest
# bar at each step is looked up (a few numpy calls per symbol: per block, not per chunk), and
# each block in chunks of about CHUNK_CELLS, ranked with buffers small enough to stay in cache.
# Memory is a few tens of megabytes, whatever the length of the backtest.
BLOCK_CELLS = 1 << 19
CHUNK_CELLS = 1 << 14


def chosen_by_step(
    close_ts: Sequence[IntArray],
    first: Sequence[int],
    rows: Sequence[FloatArray],
    steps: IntArray,
    weights: ScanWeights,
    max_age_ms: int,
    top_n: int,
) -> BoolArray:
    """Which symbols the Scanner picks at each step: row ``k`` is True for the first ``top_n`` of
    ``score(latest, weights, max_age_ms)`` at time ``steps[k]``.

    Column ``s`` is symbol ``s``, the symbols in name order (so a tie goes to the lower column).
    ``close_ts[s]`` are its bars' close times (strictly increasing), ``rows[s]`` their
    ``component_rows`` and ``first[s]`` the index of its first traded bar. At time ``t`` the
    backtest's ``latest`` holds, for each symbol with a traded bar closed by ``t``, the newest such
    bar (at its close time); freshness counts from the newest of them all, scored or not.
    """
    n = len(close_ts)
    if len(first) != n or len(rows) != n:
        raise ValueError(f"close_ts, first and rows must have one entry per symbol: {n}, {len(first)}, {len(rows)}")
    if top_n < 0:
        raise ValueError(f"top_n must not be negative: {top_n}")
    times = np.asarray(steps, dtype=np.int64)
    bars = [np.asarray(ts, dtype=np.int64) for ts in close_ts]
    values = [np.asarray(r, dtype=np.float64) for r in rows]
    for s in range(n):
        if values[s].shape != (bars[s].size, 4):
            raise ValueError(f"symbol {s}: rows of shape {values[s].shape} for {bars[s].size} bars")
        if bars[s].ndim != 1 or np.any(bars[s][1:] <= bars[s][:-1]):
            raise ValueError(f"symbol {s}: close times must be strictly increasing")
    if times.ndim != 1 or np.any(times[1:] < times[:-1]):
        raise ValueError("steps must be sorted")
    chosen = np.zeros((times.size, n), dtype=np.bool_)
    if n == 0 or top_n == 0 or times.size == 0 or max_age_ms < 0:
        return chosen  # a negative max age leaves even the newest symbol out
    traded = np.array([max(f, 0) for f in first], dtype=np.int64)
    block = max(1, BLOCK_CELLS // n)
    chunk = max(1, CHUNK_CELLS // n)
    top = _Top(n, chunk, weights, top_n)
    for start in range(0, times.size, block):
        stop = min(start + block, times.size)
        table, column = _cross_sections(bars, traded, values, times[start:stop], max_age_ms)
        for k in range(start, stop, chunk):
            part = column[k - start : k - start + chunk]
            chosen[k : k + part.shape[0]] = top.chosen(table, part)
    return chosen


def _cross_sections(
    bars: list[IntArray], first: IntArray, rows: list[FloatArray], times: IntArray, max_age_ms: int
) -> tuple[FloatArray, IntArray]:
    """Where each step's scored components are: a table of four rows (one per component) and, per
    step and symbol, its column in it; the last column, all +inf, stands for "not scored"."""
    m, n = times.size, len(bars)
    newest_bar = np.empty((n, m), dtype=np.int64)  # symbol first: each symbol's part is contiguous
    for s in range(n):
        newest_bar[s] = np.searchsorted(bars[s], times, side="right") - 1
    # The bars a block reads are a contiguous range of each symbol's: copied into one table, they
    # are near each other for the gathers, which would otherwise miss on every symbol's array.
    low = np.maximum(newest_bar[:, 0], 0)
    high = np.maximum(newest_bar[:, -1] + 1, low)
    offsets = np.concatenate([[0], np.cumsum(high - low)])
    absent = int(offsets[-1])
    table = np.empty((4, absent + 1))
    closes = np.empty(absent + 1, dtype=np.int64)
    for s in range(n):
        table[:, offsets[s] : offsets[s + 1]] = rows[s][low[s] : high[s]].T
        closes[offsets[s] : offsets[s + 1]] = bars[s][low[s] : high[s]]
    closes[absent] = np.iinfo(np.int64).min
    # Unknown components (``components`` has four finite ones or none) and "absent" are +inf to
    # the ranking, which sorts them after every known value.
    table[:, ~np.isfinite(table).all(axis=0)] = np.inf
    table[:, absent] = np.inf
    present = newest_bar >= first[:, None]
    index = np.where(present, newest_bar + (offsets[:-1] - low)[:, None], absent)
    ts = closes[index]
    newest = ts.max(axis=0)  # over every symbol in ``latest``, scored or not
    # newest - ts <= max_age, without overflow where no symbol is present (newest = int64 min)
    limit = np.maximum(newest, np.iinfo(np.int64).min + max_age_ms) - max_age_ms
    index[ts < limit] = absent  # the absent are already, with ts the int64 minimum
    return table, np.ascontiguousarray(index.T)


class _Top:
    """The top ``top_n`` of each step from its cross-section, with buffers kept between chunks
    (fresh ones for every chunk cost as much as the work: see ``RowRanker``)."""

    def __init__(self, n: int, chunk: int, weights: ScanWeights, top_n: int) -> None:
        self.n = n
        self.weights = weights
        self.top_n = top_n
        self.ranker = RowRanker(n, 4 * chunk)
        self.raw = np.empty(4 * chunk * n)
        self.ranks = np.empty(4 * chunk * n)

    def chosen(self, table: FloatArray, column: IntArray) -> BoolArray:
        m, n, top_n = column.shape[0], self.n, self.top_n
        raw = self.raw[: 4 * m * n].reshape(4, m, n)
        for c in range(4):
            np.take(table[c], column, out=raw[c], mode="clip")  # "clip" writes to ``out`` directly
        scored: BoolArray = raw[0] != np.inf
        if top_n >= n:
            return scored
        count = np.count_nonzero(scored, axis=1)
        ranks = self.ranks[: 4 * m * n].reshape(4, m, n)
        self.ranker.rank(raw.reshape(4 * m, n), np.tile(count, 4), ranks.reshape(4 * m, n))
        # Best first, ties by column (name order); the unscored last, as +inf.
        key = np.where(scored, -weighted_scores(ranks, self.weights), np.inf)
        # The top_n-th smallest key: +inf in rows with fewer scored symbols, which take them all.
        threshold = np.partition(key, top_n - 1, axis=1)[:, top_n - 1 : top_n]
        better = key < threshold
        level = scored & (key == threshold)
        room = top_n - np.count_nonzero(better, axis=1)[:, None]
        chosen: BoolArray = better | (level & (np.cumsum(level, axis=1) <= room))
        return chosen
