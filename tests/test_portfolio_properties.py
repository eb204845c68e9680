"""Properties of the ledger over random fill sequences, replays included."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.portfolio import Portfolio
from engine.messages import OrderFilled, Side, TradeClosed

SYMBOLS = ("BTCUSDT", "ETHUSDT")


@st.composite
def fills(draw: st.DrawFn) -> list[OrderFilled]:
    """Fills on two symbols; about one in six replays an earlier fill id."""
    out: list[OrderFilled] = []
    for i in range(draw(st.integers(1, 30))):
        if out and draw(st.integers(0, 5)) == 0:
            out.append(draw(st.sampled_from(out)))
            continue
        qty = draw(st.integers(1, 50_000)) / 1_000
        price = draw(st.integers(100, 100_000)) / 100
        out.append(OrderFilled(
            f"f{i}", f"o{i}", draw(st.sampled_from(SYMBOLS)), i, draw(st.sampled_from(Side)), qty,
            price, qty * price * 0.0006, draw(st.booleans()), 0.0, "s", "r",
        ))  # fmt: skip
    return out


def signed_qty(p: Portfolio, symbol: str) -> float:
    view = p.position(symbol)
    return 0.0 if view is None else view.side.sign * view.qty


@settings(max_examples=200, deadline=None)
@given(fills())
def test_position_qty_is_the_signed_sum_of_booked_fills(sequence: list[OrderFilled]) -> None:
    """Booked: every new fill, a reduce-only one only up to the open quantity it reduces."""
    p = Portfolio(10_000.0)
    expected = dict.fromkeys(SYMBOLS, 0.0)
    seen: set[str] = set()
    for f in sequence:
        p.apply_fill(f)
        if f.fill_id in seen:
            continue
        seen.add(f.fill_id)
        held = expected[f.symbol]
        if not f.reduce_only:
            expected[f.symbol] = held + f.side.sign * f.qty
        elif held * f.side.sign < 0.0:
            expected[f.symbol] = held + f.side.sign * min(f.qty, abs(held))
        for symbol in SYMBOLS:
            assert math.isclose(signed_qty(p, symbol), expected[symbol], abs_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(fills(), st.integers(100, 100_000))
def test_once_flat_cash_is_starting_equity_plus_all_trade_pnl(sequence: list[OrderFilled], exit_cents: int) -> None:
    p = Portfolio(10_000.0)
    trades: list[TradeClosed] = []
    for f in sequence:
        trades += p.apply_fill(f)
    for i, symbol in enumerate(SYMBOLS):
        held = signed_qty(p, symbol)
        if held:
            side = Side.SHORT if held > 0 else Side.LONG
            price = exit_cents / 100
            exit_fill = OrderFilled(f"x{i}", "x", symbol, 99, side, abs(held), price,
                                    abs(held) * price * 0.0006, True, 0.0, "s", "exit")  # fmt: skip
            trades += p.apply_fill(exit_fill)
    assert p.position(SYMBOLS[0]) is None and p.position(SYMBOLS[1]) is None
    assert math.isclose(p.cash, 10_000.0 + sum(t.pnl for t in trades), rel_tol=1e-9, abs_tol=1e-6)
