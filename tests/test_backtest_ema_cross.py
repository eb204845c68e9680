"""The reference EMA-cross run: strict crosses, next-open fills, reversal fees, and the same
decisions as a plain per-bar loop and as the engine's own EMA; on real FIL history, the peers'
44,557 entries and -21.0278%."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backtest.ema_cross import crosses, ledger, near_tie, run
from engine.core.indicators import Ema

FIL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "binance_usdm_monthly"


def per_bar(open_: list[float], close: list[float], qty: float = 1_000.0, fee: float = 0.0006) -> tuple[int, float]:
    """The rules written as the obvious loop over bars, with the engine's incremental EMA. Cash
    moves as if each fill bought or sold at the open; equity is cash plus the position at the close."""
    fast, slow = Ema(9), Ema(21)
    cash, position, entries, pending = 1_000_000.0, 0.0, 0, 0.0
    prev: tuple[float, float] | None = None
    for i, (o, c) in enumerate(zip(open_, close, strict=True)):
        if pending:
            fills = 1 if position == 0.0 else 2
            cash += position * qty * o  # close the old position at this open (a short buys back)
            cash -= pending * qty * o
            cash -= fee * qty * o * fills
            position, pending, entries = pending, 0.0, entries + 1
        f, s = fast.update(c), slow.update(c)
        if f is None or s is None:
            continue
        if prev is not None and i < len(close) - 1:
            if f > s and prev[0] < prev[1] and position <= 0.0:
                pending = 1.0
            elif f < s and prev[0] > prev[1] and position >= 0.0:
                pending = -1.0
        prev = (f, s)
    return entries, cash + position * qty * close[-1]


def test_a_strict_cross_needs_the_fast_line_below_before_and_above_now() -> None:
    fast = np.array([1.0, 2.0, 3.0, 3.0, 1.0, 2.0])
    slow = np.array([2.0, 2.0, 2.0, 2.0, 2.0, 2.0])

    bars, sides = crosses(fast, slow)

    # bar 2 is not a cross (bar 1 was equal, not below); bar 4 crosses down; bar 5 is equal again
    assert bars.tolist() == [4]
    assert sides.tolist() == [-1.0]


def test_the_ledger_pays_one_fee_to_open_and_two_on_each_reversal() -> None:
    prices = np.array([10.0, 12.0, 11.0])
    sides = np.array([1.0, -1.0, 1.0])

    fees, final = ledger(prices, sides, last_close=13.0, qty=100.0, fee_rate=0.001, start_equity=1_000.0)

    # long 10 -> 12: +200; short 12 -> 11: +100; long 11 marked at 13: +200
    assert fees == pytest.approx(0.1 * (10.0 + 2 * 12.0 + 2 * 11.0))
    assert final == pytest.approx(1_000.0 + 200.0 + 100.0 + 200.0 - fees)


def test_no_cross_means_no_position_and_the_start_equity() -> None:
    close = np.linspace(100.0, 130.0, 200)

    result = run(close.copy(), close)

    assert result.entries == 0
    assert result.final_equity == 1_000_000.0


def test_a_flat_market_makes_the_run_use_the_engines_own_emas() -> None:
    close = np.full(100, 5.0)

    assert near_tie(np.full(100, 5.0), np.full(100, 5.0), close)
    assert run(close.copy(), close).exact_emas


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-0.02, 0.02), min_size=30, max_size=400), st.integers(0, 2**31 - 1))
def test_the_run_makes_the_decisions_and_the_equity_of_the_per_bar_loop(moves: list[float], seed: int) -> None:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(moves))
    open_ = close * (1.0 + rng.normal(0.0, 0.001, len(close)))

    result = run(open_, close)
    entries, equity = per_bar(open_.tolist(), close.tolist())

    assert result.entries == entries
    assert result.final_equity == pytest.approx(equity, rel=1e-12, abs=1e-6)
    assert run(open_, close, engine_emas=True).signal_bars.tolist() == result.signal_bars.tolist()


@pytest.mark.skipif(not FIL.is_dir(), reason=f"real FILUSDT history not present at {FIL}")
def test_the_filusdt_reference_run_matches_the_peers_with_the_engines_own_emas_too() -> None:
    import pandas as pd

    frames = [pd.read_csv(f, usecols=["open_time", "open", "close"]) for f in sorted(FIL.glob("FILUSDT-1m-*.csv.gz"))]
    bars = pd.concat(frames).sort_values("open_time")
    open_, close = bars["open"].to_numpy(np.float64), bars["close"].to_numpy(np.float64)

    fast = run(open_, close)
    exact = run(open_, close, engine_emas=True)

    assert len(close) == 902_880
    assert fast.entries == exact.entries == 44_557
    assert round(fast.total_return * 100, 4) == round(exact.total_return * 100, 4) == -21.0278
    assert np.array_equal(fast.signal_bars, exact.signal_bars)
