"""Live reconciliation: the venue's positions are the truth; every difference is corrected and said."""

from __future__ import annotations

import pytest

from engine.core.portfolio import Portfolio
from engine.messages import OrderFilled, PositionView, Side

TS = 1_700_000_000_000


def opened(side: Side = Side.LONG, qty: float = 2.0, price: float = 100.0, stop: float = 95.0) -> Portfolio:
    book = Portfolio(10_000.0)
    book.apply_fill(OrderFilled("f1", "oid-1", "SOLUSDT", TS, side, qty, price, 0.12, False, stop, "trend", "cross"))
    return book


def venue(side: Side, qty: float, entry: float, mark: float = 0.0) -> PositionView:
    return PositionView("SOLUSDT", side, qty, entry, 0.0, mark)


def test_a_position_equal_to_the_venues_is_left_alone() -> None:
    book = opened()

    assert book.correct(venue(Side.LONG, 2.0, 100.0), "SOLUSDT", TS, 0.03) == ""
    assert book.position("SOLUSDT") == opened().position("SOLUSDT")


def test_a_different_quantity_takes_the_venues_quantity_and_entry_and_keeps_the_stop() -> None:
    book = opened()

    change = book.correct(venue(Side.LONG, 1.5, 100.4), "SOLUSDT", TS, 0.03)

    position = book.position("SOLUSDT")
    assert position is not None
    assert (position.side, position.qty, position.entry, position.stop) == (Side.LONG, 1.5, 100.4, 95.0)
    assert change == "long 2 -> 1.5 @ 100.4 (the venue's)"


def test_a_local_position_the_venue_does_not_hold_is_dropped_without_touching_cash() -> None:
    book = opened()
    cash = book.cash

    change = book.correct(None, "SOLUSDT", TS, 0.03)

    assert book.position("SOLUSDT") is None
    assert book.cash == cash
    assert change == "local long 2 @ 100 dropped: the venue holds nothing"


@pytest.mark.parametrize(("side", "stop"), [(Side.LONG, 97.0), (Side.SHORT, 103.0)])
def test_an_unknown_venue_position_is_adopted_with_a_protective_stop(side: Side, stop: float) -> None:
    book = Portfolio(10_000.0)

    change = book.correct(venue(side, 3.0, 100.0, mark=101.0), "SOLUSDT", TS, 0.03)

    position = book.position("SOLUSDT")
    assert position is not None
    assert (position.side, position.qty, position.entry, position.mark) == (side, 3.0, 100.0, 101.0)
    assert position.stop == pytest.approx(stop)
    assert position.strategy == "adopted"
    assert change.startswith(f"adopted the venue's {side.value} 3 @ 100 (was none)")


def test_a_position_on_the_other_side_is_replaced_by_the_venues() -> None:
    book = opened(Side.LONG)

    change = book.correct(venue(Side.SHORT, 1.0, 99.0), "SOLUSDT", TS, 0.05)

    position = book.position("SOLUSDT")
    assert position is not None and (position.side, position.qty) == (Side.SHORT, 1.0)
    assert position.stop == pytest.approx(99.0 * 1.05)
    assert "(was long 2)" in change


def test_a_corrected_book_survives_a_state_round_trip() -> None:
    book = opened()
    book.correct(venue(Side.LONG, 1.5, 100.4), "SOLUSDT", TS, 0.03)

    assert Portfolio.from_state(book.to_state()).position("SOLUSDT") == book.position("SOLUSDT")
