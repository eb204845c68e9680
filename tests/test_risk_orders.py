"""What an approved entry sends to Execution, and what those orders do to the portfolio."""

from __future__ import annotations

from engine.core.portfolio import Portfolio
from engine.core.risk import Approved, entry_oid, entry_orders
from engine.messages import EnterPosition, OrderFilled, Side, SubmitOrder

TS = 1_702_080_000_000
FLIP = EnterPosition("BTCUSDT", TS, Side.SHORT, 100.0, 102.0, "trend", "EMA 9 crossed below 21", 95.0, "TRENDING")


def fill(order: SubmitOrder, price: float = 100.0) -> OrderFilled:
    return OrderFilled(
        f"{order.client_oid}-1", order.client_oid, order.symbol, order.ts, order.side, order.qty, price, 0.0,
        order.reduce_only, order.stop, order.strategy, order.reason, order.target, order.regime,
    )  # fmt: skip


def long_position() -> Portfolio:
    book = Portfolio(10_000.0)
    book.apply_fill(fill(SubmitOrder("open", "BTCUSDT", TS - 60_000, Side.LONG, 30.0, 97.0, False, "trend", "up")))
    return book


def test_a_plain_entry_is_one_order_of_the_approved_size_with_its_stop_target_and_regime() -> None:
    (order,) = entry_orders(FLIP, Approved(50.0, 1_666.7, 100.0))
    assert order == SubmitOrder(
        entry_oid(FLIP), "BTCUSDT", TS, Side.SHORT, 50.0, 102.0, False, "trend", "EMA 9 crossed below 21", 95.0,
        "TRENDING",
    )  # fmt: skip


def test_a_reversal_closes_the_old_position_reduce_only_before_the_entry() -> None:
    close, entry = entry_orders(FLIP, Approved(50.0, 1_666.7, 100.0, reversed_qty=30.0))
    assert (close.side, close.qty, close.reduce_only, close.client_oid) == (
        Side.SHORT, 30.0, True, f"{entry_oid(FLIP)}-close",
    )  # fmt: skip
    assert (entry.side, entry.qty, entry.reduce_only) == (Side.SHORT, 50.0, False)


def test_a_reversal_ends_short_exactly_the_approved_size() -> None:
    book = long_position()
    for order in entry_orders(FLIP, Approved(50.0, 1_666.7, 100.0, reversed_qty=30.0)):
        book.apply_fill(fill(order))
    position = book.position("BTCUSDT")
    assert position is not None and (position.side, position.qty, position.stop) == (Side.SHORT, 50.0, 102.0)


def test_a_reversal_whose_old_position_was_already_stopped_out_opens_only_the_approved_size() -> None:
    book = long_position()
    book.apply_fill(fill(SubmitOrder("stop", "BTCUSDT", TS - 1, Side.SHORT, 30.0, 0.0, True, "exit", "stop"), 97.0))
    for order in entry_orders(FLIP, Approved(50.0, 1_666.7, 100.0, reversed_qty=30.0)):
        book.apply_fill(fill(order))
    position = book.position("BTCUSDT")
    assert position is not None and (position.side, position.qty) == (Side.SHORT, 50.0)
