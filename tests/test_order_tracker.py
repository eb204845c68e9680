"""Live orders in flight and the fills that belong to them: each fill booked once, with the order's
stop, target and strategy, and an order out of flight once less than one lot is left."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.order_tracker import OrderTracker, UnknownOrder
from engine.messages import Side, SubmitOrder, VenueFill


def order(client_oid: str = "BTCUSDT-1-long", qty: float = 0.125, reduce_only: bool = False) -> SubmitOrder:
    return SubmitOrder(client_oid, "BTCUSDT", 1_000, Side.LONG, qty, 49_000.0, reduce_only, "trend", "ema cross",
                       target=52_000.0, regime="TRENDING")  # fmt: skip


def fill(trade_id: str, qty: float, client_oid: str = "BTCUSDT-1-long", price: float = 50_000.0) -> VenueFill:
    return VenueFill(trade_id, "9001", client_oid, "BTCUSDT", 2_000, Side.LONG, qty, price, qty * price * 0.0006, False)


def test_a_fill_becomes_an_order_filled_with_the_venues_numbers_and_the_orders_plan() -> None:
    tracker = OrderTracker()
    tracker.track(order(), lot=0.001, sent_ms=1_000)

    booked = tracker.book(fill("t1", 0.125))

    assert booked is not None
    assert (booked.fill_id, booked.qty, booked.price, booked.ts) == ("t1", 0.125, 50_000.0, 2_000)
    assert booked.fee == pytest.approx(3.75)
    assert (booked.stop, booked.target, booked.strategy, booked.regime) == (49_000.0, 52_000.0, "trend", "TRENDING")
    assert tracker.in_flight() == []


def test_the_same_fill_reported_twice_is_booked_once_and_counted_as_a_duplicate() -> None:
    tracker = OrderTracker()
    tracker.track(order(), lot=0.001, sent_ms=1_000)

    first = tracker.book(fill("t1", 0.05))
    again = tracker.book(fill("t1", 0.05))

    assert first is not None and again is None
    assert tracker.duplicates == 1


def test_a_partially_filled_order_stays_in_flight_until_less_than_a_lot_is_left() -> None:
    tracker = OrderTracker()
    tracker.track(order(qty=0.1259), lot=0.001, sent_ms=1_000)  # the venue gets 0.125: whole lots only

    tracker.book(fill("t1", 0.1))
    assert [(o.client_oid, filled) for o, _, filled in tracker.in_flight()] == [("BTCUSDT-1-long", 0.1)]

    tracker.book(fill("t2", 0.025))
    assert tracker.in_flight() == []


def test_a_fill_of_an_order_this_engine_did_not_send_is_refused() -> None:
    tracker = OrderTracker()

    with pytest.raises(UnknownOrder, match="manual-1"):
        tracker.book(fill("t9", 1.0, client_oid="manual-1"))


def test_orders_and_fills_from_the_store_book_late_fills_and_never_rebook_old_ones() -> None:
    tracker = OrderTracker()
    tracker.know([order("old-1"), order("old-2")])
    tracker.seen(["t1"])

    assert tracker.book(fill("t1", 0.1, client_oid="old-1")) is None
    late = tracker.book(fill("t2", 0.1, client_oid="old-2"))

    assert late is not None and late.client_oid == "old-2"
    assert tracker.in_flight() == []  # known orders are not in flight: they were sent by an earlier run


def test_a_finished_order_leaves_the_flight_but_its_fills_still_book() -> None:
    tracker = OrderTracker()
    tracker.track(order(), lot=0.001, sent_ms=1_000)

    tracker.finish("BTCUSDT-1-long")

    assert tracker.in_flight() == []
    assert tracker.book(fill("t1", 0.125)) is not None


@given(st.lists(st.tuples(st.sampled_from(["t1", "t2", "t3", "t4"]), st.integers(1, 40)), max_size=30))
def test_whatever_the_replays_each_trade_id_is_booked_at_most_once(reports: list[tuple[str, int]]) -> None:
    tracker = OrderTracker()
    tracker.track(order(qty=1.0), lot=0.001, sent_ms=1_000)
    sizes: dict[str, int] = {}

    booked = [tracker.book(fill(trade_id, sizes.setdefault(trade_id, lots) / 1000)) for trade_id, lots in reports]

    ids = [b.fill_id for b in booked if b is not None]
    assert len(ids) == len(set(ids)) == len({t for t, _ in reports})
    assert tracker.duplicates == len(reports) - len(ids)


def test_an_unfilled_exit_is_in_flight_for_its_symbol_only() -> None:
    tracker = OrderTracker()
    tracker.track(order("BTCUSDT-9-exit", qty=0.125, reduce_only=True), lot=0.001, sent_ms=1_000)

    assert tracker.exit_in_flight("BTCUSDT")
    assert not tracker.exit_in_flight("ETHUSDT")
    tracker.book(fill("t1", 0.125, client_oid="BTCUSDT-9-exit"))
    assert not tracker.exit_in_flight("BTCUSDT")
