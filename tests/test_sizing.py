"""Sizing: the loss at the stop is the risk budget, leverage only sets the margin."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.sizing import loss_at_stop, margin_required, position_size
from engine.messages import Side


def test_one_percent_of_10k_with_a_2_usdt_stop_buys_50_units() -> None:
    assert position_size(10_000.0, 0.01, 100.0, 98.0) == 50.0


def test_loss_at_the_stop_is_exactly_one_percent_of_equity() -> None:
    qty = position_size(10_000.0, 0.01, 100.0, 98.0)
    assert loss_at_stop(Side.LONG, qty, 100.0, 98.0) == 100.0


def test_leverage_changes_the_margin_but_not_the_loss_at_the_stop() -> None:
    qty = position_size(10_000.0, 0.01, 100.0, 98.0)
    margins = [margin_required(qty, 100.0, leverage) for leverage in (1.0, 5.0, 10.0)]
    assert margins == [5_000.0, 1_000.0, 500.0]
    assert loss_at_stop(Side.LONG, qty, 100.0, 98.0) == 100.0


def test_margin_at_3x_is_a_third_of_the_notional() -> None:
    assert margin_required(50.0, 100.0, 3.0) == pytest.approx(1666.67, abs=0.005)


def test_short_with_stop_above_sizes_like_a_long() -> None:
    assert position_size(10_000.0, 0.01, 100.0, 102.0) == 50.0


def test_size_is_truncated_down_to_the_lot_size() -> None:
    # 100 USDT / 3 USDT = 33.33.. units: 33.3 in lots of 0.1, never 33.4
    assert position_size(10_000.0, 0.01, 100.0, 97.0, lot_size=0.1) == 33.3


def test_lot_truncation_keeps_an_exact_multiple_of_the_lot() -> None:
    # 0.3 / 0.1 is 2.9999999999999996 in floats: a naive floor would give 0.2
    assert position_size(30.0, 0.01, 2.0, 1.0, lot_size=0.1) == 0.3


def test_size_below_one_lot_is_zero() -> None:
    # 100 USDT / 10,000 USDT stop distance = 0.01 BTC, under a 0.1 lot
    assert position_size(10_000.0, 0.01, 60_000.0, 50_000.0, lot_size=0.1) == 0.0


def test_no_equity_gives_no_size() -> None:
    assert position_size(-500.0, 0.01, 100.0, 98.0) == 0.0


def test_stop_at_entry_is_an_error() -> None:
    with pytest.raises(ValueError, match="must differ"):
        position_size(10_000.0, 0.01, 100.0, 100.0)


def test_zero_leverage_is_an_error() -> None:
    with pytest.raises(ValueError, match="leverage"):
        margin_required(50.0, 100.0, 0.0)


def test_stop_beyond_entry_in_profit_risks_nothing() -> None:
    assert loss_at_stop(Side.LONG, 50.0, 100.0, 101.0) == 0.0


def test_missing_stop_risks_the_whole_notional() -> None:
    assert loss_at_stop(Side.SHORT, 50.0, 100.0, 0.0) == 5_000.0


@given(
    equity=st.floats(1.0, 1e7),
    risk_pct=st.floats(0.0001, 0.05),
    entry=st.floats(0.0001, 1e5),
    stop_frac=st.floats(0.001, 0.5),
    lot=st.sampled_from([0.0, 0.001, 0.01, 0.1, 1.0, 10.0]),
)
def test_loss_at_stop_never_exceeds_the_risk_budget(
    equity: float, risk_pct: float, entry: float, stop_frac: float, lot: float
) -> None:
    stop = entry * (1.0 - stop_frac)
    qty = position_size(equity, risk_pct, entry, stop, lot)
    budget = equity * risk_pct
    assert qty * abs(entry - stop) <= budget * (1.0 + 1e-12)
    if lot:
        assert qty + lot > budget / abs(entry - stop) * (1.0 - 1e-12)
