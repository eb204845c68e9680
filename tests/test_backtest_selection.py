"""The backtest's Scanner selection for all steps at once (``engine.backtest.selection``) and the
vectorised pieces of the Scanner core it shares with ``score`` (``engine.core.scanner``).

The contract is exact: at every step the chosen set is the first ``top_n`` of ``score`` over the
``latest`` features the backtest would hold, ties included. So the reference in these tests is
always ``score`` itself on real ``FeaturesUpdated``, and the pieces are held to the code they
replaced bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest.mock import patch

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backtest import selection
from engine.backtest.selection import chosen_by_step
from engine.core.scanner import (
    RowRanker,
    ScanWeights,
    component_rows,
    components,
    percentile_ranks,
    percentile_ranks_by_row,
    score,
    weighted_scores,
)
from engine.messages import FeaturesUpdated

T0 = 1_700_000_000_000
MINUTE = 60_000
FIELDS = ("warm", "ema_fast", "ema_slow", "atr", "atr_median", "momentum", "volume_spike")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


# --- the code the vectorised pieces replaced, kept as the reference ------------------------------


def old_components(f: FeaturesUpdated) -> tuple[float, float, float, float] | None:
    if not (f.warm and f.atr > 0.0 and f.atr_median > 0.0):
        return None
    values = (abs(f.ema_fast - f.ema_slow) / f.atr, f.atr / f.atr_median, abs(f.momentum), f.volume_spike)
    return values if all(math.isfinite(v) for v in values) else None


def old_percentile_ranks(values: npt.ArrayLike) -> FloatArray:
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        return np.empty(0)
    if n == 1:
        return np.array([0.5])
    ranks = np.empty(n)
    ranks[np.argsort(x, kind="stable")] = np.arange(n, dtype=np.float64)
    _, tie_group, tie_count = np.unique(x, return_inverse=True, return_counts=True)
    averaged = np.bincount(tie_group, weights=ranks)[tie_group] / tie_count[tie_group]
    result: FloatArray = averaged / (n - 1)
    return result


def features(symbol: str, ts: int, values: dict[str, float | bool]) -> FeaturesUpdated:
    return FeaturesUpdated(
        symbol, ts, last=100.0, bid=99.9, ask=100.1, spread_bps=2.0, depth_usdt=1e5,
        ema_fast=float(values["ema_fast"]), ema_slow=float(values["ema_slow"]), atr=float(values["atr"]),
        warm=bool(values["warm"]), bar_closed=True, atr_median=float(values["atr_median"]),
        momentum=float(values["momentum"]), volume_spike=float(values["volume_spike"]),
    )  # fmt: skip


def same_bits(a: npt.ArrayLike, b: npt.ArrayLike) -> bool:
    """Equal as float64 bit patterns (so NaN equals NaN, and 0.0 is not -0.0)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return x.shape == y.shape and bool(np.array_equal(x.view(np.int64), y.view(np.int64)))


# --- a universe of symbols with bars, as the backtest driver would hand it over -------------------


@dataclass
class Universe:
    """Each symbol's bar close times, feature fields per bar and first traded bar, in name order."""

    names: list[str]
    close_ts: list[IntArray]
    fields: list[dict[str, npt.NDArray[Any]]]
    first: list[int]

    def rows(self) -> list[FloatArray]:
        return [component_rows(*(f[name] for name in FIELDS)) for f in self.fields]

    def traded_steps(self) -> IntArray:
        times = [ts[i:] for ts, i in zip(self.close_ts, self.first, strict=True)]
        return np.unique(np.concatenate([*times, np.empty(0, np.int64)]))

    def chosen(self, steps: IntArray, weights: ScanWeights, max_age_ms: int, top_n: int) -> BoolArray:
        return chosen_by_step(self.close_ts, self.first, self.rows(), steps, weights, max_age_ms, top_n)

    def latest_at(self, t: int) -> dict[str, FeaturesUpdated]:
        """The backtest's ``latest`` at step ``t``: each symbol's newest traded bar closed by then."""
        latest = {}
        for name, ts, f, first in zip(self.names, self.close_ts, self.fields, self.first, strict=True):
            j = int(np.searchsorted(ts, t, side="right")) - 1
            if j >= first:
                latest[name] = features(name, int(ts[j]), {k: f[k][j] for k in FIELDS})
        return latest

    def expected(self, steps: IntArray, weights: ScanWeights, max_age_ms: int, top_n: int) -> list[set[str]]:
        return [{s.symbol for s in score(self.latest_at(int(t)), weights, max_age_ms)[:top_n]} for t in steps.tolist()]


def as_sets(universe: Universe, chosen: BoolArray) -> list[set[str]]:
    return [{universe.names[s] for s in np.flatnonzero(row)} for row in chosen]


# Small sets of values make ties in every component (and across components' sums); 0 and NaN
# ATRs and cold bars make symbols without components.
_ema = st.sampled_from([99.0, 100.0, 101.0, 102.0, 100.5])
_atr = st.sampled_from([1.0, 2.0, 0.5, 0.0, math.nan])
_atr_median = st.sampled_from([1.0, 2.0, 0.5, 4.0])
_momentum = st.sampled_from([0.0, -0.0, 0.01, -0.01, 0.02, math.nan])
_volume = st.one_of(st.sampled_from([0.0, 1.0, 2.0, 3.0]), st.floats(min_value=0.0, max_value=10.0))
_warm = st.sampled_from([True, True, True, False])
_weights = st.sampled_from(
    [ScanWeights(), ScanWeights(0.25, 0.25, 0.25, 0.25), ScanWeights(1.0, 0.0, 0.0, 0.0),
     ScanWeights(0.1, 0.2, 0.3, 0.4), ScanWeights(0.25, 0.25, 0.25, 0.25 + 5e-10)]
)  # fmt: skip


@st.composite
def universes(draw: st.DrawFn) -> Universe:
    n = draw(st.integers(min_value=2, max_value=8))
    names, close_ts, fields, first = [], [], [], []
    for s in range(n):
        start = draw(st.integers(min_value=0, max_value=8))  # different listing times
        length = draw(st.integers(min_value=0, max_value=16))
        kept = [start + i for i in range(length) if draw(st.integers(0, 4)) > 0]  # gaps: missing bars
        size = len(kept)
        values = {
            "warm": np.array([draw(_warm) for _ in range(size)], dtype=np.bool_),
            "ema_fast": np.array([draw(_ema) for _ in range(size)]),
            "ema_slow": np.array([draw(_ema) for _ in range(size)]),
            "atr": np.array([draw(_atr) for _ in range(size)]),
            "atr_median": np.array([draw(_atr_median) for _ in range(size)]),
            "momentum": np.array([draw(_momentum) for _ in range(size)]),
            "volume_spike": np.array([draw(_volume) for _ in range(size)]),
        }
        names.append(f"S{s}USDT")
        close_ts.append(T0 + MINUTE * (np.array(kept, dtype=np.int64) + 1))
        fields.append(values)
        first.append(draw(st.integers(min_value=0, max_value=size + 1)))  # bars before it only warm up
    return Universe(names, close_ts, fields, first)


@contextmanager
def chunks(block_cells: int, chunk_cells: int) -> Iterator[None]:
    """Tiny blocks and chunks, so that a small universe crosses their boundaries too."""
    with patch.object(selection, "BLOCK_CELLS", block_cells), patch.object(selection, "CHUNK_CELLS", chunk_cells):
        yield


# --- all steps at once = score at each step ------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    universe=universes(),
    weights=_weights,
    max_age_ms=st.sampled_from([0, MINUTE, 2 * MINUTE, 5 * MINUTE, 10**12]),
    top_n=st.integers(min_value=0, max_value=9),
    extra=st.lists(st.integers(min_value=-2 * MINUTE, max_value=30 * MINUTE), max_size=6),
    block_cells=st.sampled_from([1, 7, 40, 1 << 19]),
    chunk_cells=st.sampled_from([1, 5, 16, 1 << 14]),
)
def test_every_step_chooses_what_score_chooses(
    universe: Universe,
    weights: ScanWeights,
    max_age_ms: int,
    top_n: int,
    extra: list[int],
    block_cells: int,
    chunk_cells: int,
) -> None:
    # the driver's steps (every traded close) and times between or around them, where nothing closes
    steps = np.union1d(universe.traded_steps(), T0 + np.array(extra, dtype=np.int64))
    with chunks(block_cells, chunk_cells):
        chosen = universe.chosen(steps, weights, max_age_ms, top_n)
    assert chosen.shape == (steps.size, len(universe.names))
    assert chosen.dtype == np.bool_
    assert as_sets(universe, chosen) == universe.expected(steps, weights, max_age_ms, top_n)


def random_universe(n: int, bars: int, seed: int) -> Universe:
    """Realistic values (continuous, warming up, some ties from rounding) with gaps and listings."""
    rng = np.random.default_rng(seed)
    names, close_ts, fields, first = [], [], [], []
    for s in range(n):
        start = int(rng.integers(0, bars // 4)) if s % 5 == 0 else 0
        index = np.arange(start, bars)
        index = index[rng.random(index.size) > 0.02]  # about 2% of bars missing
        size = index.size
        atr = rng.uniform(0.5, 2.0, size)
        fields.append(
            {
                "warm": np.arange(size) >= 30,
                "ema_fast": 100.0 + rng.normal(0.0, 1.0, size),
                "ema_slow": 100.0 + rng.normal(0.0, 1.0, size),
                "atr": atr,
                "atr_median": np.where(np.arange(size) >= 50, rng.uniform(0.5, 2.0, size), math.nan),
                "momentum": np.round(rng.normal(0.0, 0.002, size), 3),  # many exact ties, zeros among them
                "volume_spike": rng.lognormal(0.0, 0.5, size),
            }
        )
        names.append(f"S{s:03d}USDT")
        close_ts.append(T0 + MINUTE * (index.astype(np.int64) + 1))
        first.append(int(rng.integers(0, 100)))
    return Universe(names, close_ts, fields, first)


def test_a_hundred_symbols_over_two_thousand_steps_match_the_per_step_loop() -> None:
    universe = random_universe(100, 2_000, seed=7)
    steps = universe.traded_steps()
    weights = ScanWeights()
    chosen = universe.chosen(steps, weights, 2 * MINUTE, 5)
    # the driver's loop: ``latest`` updated by each step's closes, then ``score`` and its top 5
    latest: dict[str, FeaturesUpdated] = {}
    next_bar = [0] * len(universe.names)
    for k, t in enumerate(steps.tolist()):
        for s, name in enumerate(universe.names):
            ts, f = universe.close_ts[s], universe.fields[s]
            while next_bar[s] < ts.size and ts[next_bar[s]] <= t:
                j = next_bar[s]
                if j >= universe.first[s]:
                    latest[name] = features(name, int(ts[j]), {key: f[key][j] for key in FIELDS})
                next_bar[s] += 1
        expected = {x.symbol for x in score(latest, weights, 2 * MINUTE)[:5]}
        assert {universe.names[s] for s in np.flatnonzero(chosen[k])} == expected, f"step {k}"
    assert chosen.sum(axis=1).max() == 5


def test_top_n_larger_than_the_scored_takes_every_scored_symbol() -> None:
    universe = random_universe(6, 120, seed=3)
    steps = universe.traded_steps()
    chosen = universe.chosen(steps, ScanWeights(), 2 * MINUTE, 50)
    expected = universe.expected(steps, ScanWeights(), 2 * MINUTE, 50)
    assert as_sets(universe, chosen) == expected
    assert any(len(e) == 6 for e in expected) and any(len(e) < 6 for e in expected)


def test_a_step_without_any_scored_symbol_chooses_none() -> None:
    cold = {"warm": np.array([False, False]), **{k: np.ones(2) for k in FIELDS[1:]}}
    warm = {"warm": np.array([True, True]), **{k: np.ones(2) for k in FIELDS[1:]}}
    universe = Universe(
        ["AUSDT", "BUSDT"], [T0 + MINUTE * np.array([1, 2]), T0 + MINUTE * np.array([3, 4])], [cold, warm], [0, 0]
    )
    steps = T0 + MINUTE * np.array([0, 1, 2, 3, 4], dtype=np.int64)
    chosen = universe.chosen(steps, ScanWeights(), MINUTE, 1)
    # before any bar: nothing; A's cold bars: nothing; then B alone
    assert chosen.tolist() == [[False, False], [False, False], [False, False], [False, True], [False, True]]
    assert as_sets(universe, chosen) == universe.expected(steps, ScanWeights(), MINUTE, 1)


def test_a_cold_symbol_that_is_newest_makes_the_others_stale() -> None:
    ones = {k: np.ones(2) for k in FIELDS[1:]}
    universe = Universe(
        ["AUSDT", "BUSDT"],
        [T0 + MINUTE * np.array([1, 2]), T0 + MINUTE * np.array([1, 5])],
        [{"warm": np.array([True, True]), **ones}, {"warm": np.array([True, False]), **ones}],
        [0, 0],
    )
    steps = T0 + MINUTE * np.array([1, 2, 5], dtype=np.int64)
    chosen = universe.chosen(steps, ScanWeights(), MINUTE, 2)
    # at 5: B's cold bar is the newest, and A's bar at 2 is three minutes behind it
    assert chosen.tolist() == [[True, True], [True, True], [False, False]]
    assert as_sets(universe, chosen) == universe.expected(steps, ScanWeights(), MINUTE, 2)


def test_a_symbol_is_absent_until_its_first_traded_bar() -> None:
    ones = {"warm": np.ones(3, dtype=np.bool_), **{k: np.ones(3) for k in FIELDS[1:]}}
    bars = T0 + MINUTE * np.array([1, 2, 3])
    universe = Universe(["AUSDT", "BUSDT"], [bars, bars], [ones, ones], [0, 2])
    chosen = universe.chosen(bars, ScanWeights(), MINUTE, 2)
    assert chosen.tolist() == [[True, False], [True, False], [True, True]]


def test_nothing_to_choose_from() -> None:
    weights = ScanWeights()
    no_steps = np.empty(0, np.int64)
    assert chosen_by_step([], [], [], T0 + np.arange(3, dtype=np.int64), weights, MINUTE, 5).shape == (3, 0)
    universe = random_universe(3, 80, seed=1)
    assert universe.chosen(no_steps, weights, MINUTE, 5).shape == (0, 3)
    steps = universe.traded_steps()
    assert not universe.chosen(steps, weights, MINUTE, 0).any()
    assert not universe.chosen(steps, weights, -1, 5).any()  # as score: nothing is within a negative age
    assert universe.expected(steps[-3:], weights, -1, 5) == [set(), set(), set()]


def test_inconsistent_input_is_refused() -> None:
    universe = random_universe(2, 60, seed=2)
    steps = universe.traded_steps()
    rows = universe.rows()
    with pytest.raises(ValueError, match="one entry per symbol"):
        chosen_by_step(universe.close_ts, universe.first[:1], rows, steps, ScanWeights(), MINUTE, 1)
    with pytest.raises(ValueError, match="rows of shape"):
        chosen_by_step(universe.close_ts, universe.first, [rows[0][:-1], rows[1]], steps, ScanWeights(), MINUTE, 1)
    with pytest.raises(ValueError, match="strictly increasing"):
        reversed_ts = [universe.close_ts[0][::-1].copy(), universe.close_ts[1]]
        chosen_by_step(reversed_ts, universe.first, rows, steps, ScanWeights(), MINUTE, 1)
    with pytest.raises(ValueError, match="sorted"):
        chosen_by_step(universe.close_ts, universe.first, rows, steps[::-1].copy(), ScanWeights(), MINUTE, 1)
    with pytest.raises(ValueError, match="negative"):
        chosen_by_step(universe.close_ts, universe.first, rows, steps, ScanWeights(), MINUTE, -1)


def test_partly_unknown_rows_count_as_unknown() -> None:
    # ``component_rows`` never makes one, but a row with one NaN must not be ranked on the other three
    ones = {"warm": np.ones(1, dtype=np.bool_), **{k: np.ones(1) for k in FIELDS[1:]}}
    bars = T0 + MINUTE * np.array([1])
    rows = [component_rows(*(ones[k] for k in FIELDS)) for _ in range(2)]
    rows[0][0, 2] = math.nan
    assert chosen_by_step([bars, bars], [0, 0], rows, bars, ScanWeights(), MINUTE, 2).tolist() == [[False, True]]


# --- the vectorised pieces of the Scanner core ---------------------------------------------------

_any_float = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e-300, 1e300, math.nan, math.inf, -math.inf]),
)


@given(st.lists(st.tuples(st.booleans(), *[_any_float] * 6), min_size=1, max_size=20))
def test_component_rows_are_components_of_each_features_bit_for_bit(
    values: list[tuple[bool, float, float, float, float, float, float]],
) -> None:
    columns = list(zip(*values, strict=True))
    rows = component_rows(*columns)
    assert rows.shape == (len(values), 4)
    for row, v in zip(rows, values, strict=True):
        f = features("AUSDT", T0, dict(zip(FIELDS, v, strict=True)))
        old, new = old_components(f), components(f)
        if old is None:
            assert new is None and np.isnan(row).all()
        else:
            assert new is not None
            assert same_bits(row, old) and same_bits(new, old)


@st.composite
def _rows_with_gaps(draw: st.DrawFn) -> FloatArray:
    width = draw(st.integers(min_value=1, max_value=12))
    height = draw(st.integers(min_value=1, max_value=6))
    value = st.one_of(
        st.sampled_from([0.0, -0.0, 1.0, 2.0, 2.0, 3.0, math.nan, math.inf, -math.inf]),
        st.floats(min_value=-1e6, max_value=1e6),
    )
    return np.array([[draw(value) for _ in range(width)] for _ in range(height)])


@given(_rows_with_gaps())
def test_row_ranks_are_the_old_percentile_ranks_of_each_rows_values(x: FloatArray) -> None:
    ranks = percentile_ranks_by_row(x)
    assert ranks.shape == x.shape
    for row, ranked in zip(x, ranks, strict=True):
        present = ~np.isnan(row)
        assert np.isnan(ranked[~present]).all()
        assert same_bits(ranked[present], old_percentile_ranks(row[present]))


@given(st.lists(st.one_of(st.sampled_from([0.0, 1.0, 1.0, 5.0]), st.floats(-1e9, 1e9)), max_size=40))
def test_percentile_ranks_are_the_old_ones_bit_for_bit(values: list[float]) -> None:
    assert same_bits(percentile_ranks(values), old_percentile_ranks(values))


def test_a_ranker_reused_on_fewer_rows_ranks_as_a_fresh_one() -> None:
    rng = np.random.default_rng(0)
    ranker = RowRanker(5, 8)
    big, small = np.round(rng.random((8, 5)), 1), np.array([[3.0, 1.0, 1.0, 2.0, np.inf]])
    out_big, out_small = np.empty((8, 5)), np.empty((1, 5))
    ranker.rank(big, np.full(8, 5), out_big)
    ranker.rank(small, np.array([4]), out_small)
    assert same_bits(out_small[0, :4], old_percentile_ranks([3.0, 1.0, 1.0, 2.0]))
    assert all(same_bits(r, old_percentile_ranks(b)) for r, b in zip(out_big, big, strict=True))
    with pytest.raises(ValueError, match="cannot rank"):
        ranker.rank(np.zeros((9, 5)), np.full(9, 5), np.empty((9, 5)))


def test_weighted_scores_sum_the_terms_in_a_fixed_order_and_clip() -> None:
    weights = ScanWeights(0.25, 0.25, 0.25, 0.25 + 5e-10)
    ranks = np.array([[1.0, 0.5, 0.0], [1.0, 0.25, 0.0], [1.0, 0.75, 0.0], [1.0, 1.0, 0.0]])
    totals = weighted_scores(ranks, weights)
    assert totals[0] == 1.0  # 1.0000000005 clipped
    assert totals[1] == ((0.5 * 0.25 + 0.25 * 0.25) + 0.75 * 0.25) + 1.0 * (0.25 + 5e-10)
    assert totals[2] == 0.0
    # the same bits whatever the shape after the first axis
    assert same_bits(weighted_scores(ranks[:, None, :], weights)[0], totals)
