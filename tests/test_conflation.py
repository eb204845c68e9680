"""Conflation rules (``engine.runtime.conflation``) and the ``PooledInbox``, without actors.

The inbox is used standalone: its schedule callback only counts calls, so these tests need no
dispatcher, no thread and no pykka actor.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import reduce
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pykka import ThreadingFuture
from pykka._envelope import Envelope
from pykka.messages import ProxyCall, _ActorStop

from engine.messages import (
    BarClosed,
    BookUpdated,
    FeaturesUpdated,
    TickerUpdated,
    TradesReceived,
)
from engine.runtime.conflation import conflate, conflation_key, merge_trades
from engine.runtime.inbox import PooledInbox

SYMBOL = "BTCUSDT"
MINUTE = 60_000
T0 = 1_700_000_040_000
"""The start of a minute, in ms."""
assert T0 % MINUTE == 0


# --- Message builders ------------------------------------------------------------------------------


def ticker(ts: int, last: float = 100.0) -> TickerUpdated:
    return TickerUpdated(SYMBOL, ts, last, last - 0.1, last + 0.1, 1e9, 0.0001)


def book(ts: int, bid: float = 100.0) -> BookUpdated:
    return BookUpdated(SYMBOL, ts, ((bid, 1.0),), ((bid + 0.1, 1.0),))


def trade(ts: int, price: float = 100.0, volume: float = 1.0, recv_ns: int = 0) -> TradesReceived:
    return TradesReceived(SYMBOL, ts, price, price, price, price, volume, recv_ns=recv_ns)


def features(ts: int, *, bar_closed: bool) -> FeaturesUpdated:
    return FeaturesUpdated(SYMBOL, ts, 100.0, 99.9, 100.1, 2.0, 5e5, 100.0, 99.0, 1.5, True, bar_closed)


def bar(open_ts: int) -> BarClosed:
    return BarClosed(SYMBOL, MINUTE, open_ts, 100.0, 101.0, 99.0, 100.5, 10.0)


# --- Inbox helpers -----------------------------------------------------------------------------------


class ScheduleCounter:
    """Stands in for the dispatcher: counts how often the inbox schedules its actor."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def bound_inbox() -> tuple[PooledInbox, ScheduleCounter]:
    inbox = PooledInbox()
    schedule = ScheduleCounter()
    inbox.bind(schedule)
    return inbox, schedule


def put_all(inbox: PooledInbox, messages: list[Any]) -> None:
    for message in messages:
        inbox.put(Envelope(message))


def drain(inbox: PooledInbox) -> list[Any]:
    messages = []
    while (envelope := inbox.pop()) is not None:
        messages.append(envelope.message)
    return messages


# --- Conflation rules ----------------------------------------------------------------------------------

single_trades_in_one_minute = st.builds(
    trade,
    ts=st.integers(T0, T0 + MINUTE - 1),
    price=st.floats(min_value=1e-6, max_value=1e6),
    volume=st.floats(min_value=0.0, max_value=1e6),
    recv_ns=st.integers(1, 2**62),
)


@given(st.lists(single_trades_in_one_minute, min_size=1, max_size=40))
def test_merging_single_trades_of_one_minute_equals_one_aggregate_trade(
    trades: list[TradesReceived],
) -> None:
    merged = reduce(merge_trades, trades)

    assert merged == TradesReceived(
        symbol=SYMBOL,
        ts=trades[-1].ts,
        open=trades[0].open,
        high=max(t.high for t in trades),
        low=min(t.low for t in trades),
        close=trades[-1].close,
        volume=reduce(operator.add, (t.volume for t in trades)),
        count=len(trades),
        recv_ns=min(t.recv_ns for t in trades),
    )


@given(st.lists(single_trades_in_one_minute, min_size=1, max_size=40))
def test_an_inbox_holds_the_trades_of_one_minute_as_one_aggregate_trade(
    trades: list[TradesReceived],
) -> None:
    inbox, _ = bound_inbox()

    put_all(inbox, trades)

    assert drain(inbox) == [reduce(merge_trades, trades)]


def test_trades_of_one_minute_share_a_key_and_trades_of_different_minutes_do_not() -> None:
    assert conflation_key(trade(T0)) == conflation_key(trade(T0 + MINUTE - 1))
    assert conflation_key(trade(T0)) != conflation_key(trade(T0 + MINUTE))


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        (ticker(T0, last=100.0), ticker(T0 + 1, last=101.0)),
        (book(T0, bid=100.0), book(T0 + 1, bid=101.0)),
        (features(T0, bar_closed=False), features(T0 + 1, bar_closed=False)),
    ],
    ids=["ticker", "book", "features"],
)
def test_the_newest_snapshot_replaces_an_older_one(older: Any, newer: Any) -> None:
    assert conflation_key(older) is not None
    assert conflation_key(older) == conflation_key(newer)
    assert conflate(older, newer) is newer


def test_tickers_books_and_features_never_share_a_key() -> None:
    keys = {
        conflation_key(ticker(T0)),
        conflation_key(book(T0)),
        conflation_key(features(T0, bar_closed=False)),
        conflation_key(trade(T0)),
    }
    assert len(keys) == 4


def test_a_bar_closing_features_update_is_never_conflated() -> None:
    assert conflation_key(features(T0, bar_closed=True)) is None


def test_a_bar_close_is_never_conflated() -> None:
    assert conflation_key(bar(T0)) is None


@pytest.mark.parametrize(
    "message",
    [_ActorStop(), ProxyCall(attr_path=("run",), args=(), kwargs={}), "command", 42],
    ids=["actor-stop", "proxy-call", "str", "int"],
)
def test_messages_that_are_not_market_data_are_never_conflated(message: object) -> None:
    assert conflation_key(message) is None


# --- PooledInbox: scheduling --------------------------------------------------------------------------


def test_the_first_put_schedules_the_actor_and_later_puts_do_not() -> None:
    inbox, schedule = bound_inbox()

    put_all(inbox, [bar(T0), bar(T0 + MINUTE), ticker(T0)])

    assert schedule.calls == 1


def test_end_turn_with_messages_left_keeps_the_actor_scheduled() -> None:
    inbox, schedule = bound_inbox()
    put_all(inbox, [bar(T0), bar(T0 + MINUTE)])
    inbox.pop()

    assert inbox.end_turn() is True
    inbox.put(Envelope(bar(T0 + 2 * MINUTE)))

    assert schedule.calls == 1


def test_the_next_put_schedules_again_once_end_turn_found_the_inbox_empty() -> None:
    inbox, schedule = bound_inbox()
    put_all(inbox, [bar(T0)])
    drain(inbox)

    assert inbox.end_turn() is False
    inbox.put(Envelope(bar(T0 + MINUTE)))

    assert schedule.calls == 2


def test_kick_schedules_an_actor_with_an_empty_inbox_once() -> None:
    inbox, schedule = bound_inbox()

    inbox.kick()
    inbox.kick()
    inbox.put(Envelope(bar(T0)))

    assert schedule.calls == 1


def test_pop_on_an_empty_inbox_returns_none() -> None:
    inbox, _ = bound_inbox()

    assert inbox.pop() is None
    assert inbox.empty()


# --- PooledInbox: conflation and order --------------------------------------------------------------


def test_non_conflatable_messages_come_out_in_arrival_order() -> None:
    inbox, _ = bound_inbox()
    messages: list[Any] = [
        bar(T0),
        "command",
        features(T0, bar_closed=True),
        bar(T0 + MINUTE),
    ]

    put_all(inbox, messages)

    assert drain(inbox) == messages


def test_a_conflated_ticker_moves_to_the_back_of_the_queue() -> None:
    inbox, _ = bound_inbox()
    old, newest = ticker(T0, last=100.0), ticker(T0 + 2, last=101.0)

    put_all(inbox, [old, book(T0 + 1), newest])

    assert drain(inbox) == [book(T0 + 1), newest]


def test_trades_in_different_minutes_are_not_merged() -> None:
    inbox, _ = bound_inbox()
    first, second, next_minute = (
        trade(T0, 100.0),
        trade(T0 + 1, 101.0),
        trade(T0 + MINUTE, 102.0),
    )

    put_all(inbox, [first, second, next_minute])

    assert drain(inbox) == [merge_trades(first, second), next_minute]


def test_a_bar_close_between_books_is_kept_before_the_newest_book() -> None:
    inbox, _ = bound_inbox()
    closed = bar(T0)

    put_all(inbox, [book(T0 + MINUTE - 1), closed, book(T0 + MINUTE + 1)])

    assert drain(inbox) == [closed, book(T0 + MINUTE + 1)]


def test_conflated_counts_the_replaced_messages() -> None:
    inbox, _ = bound_inbox()

    put_all(
        inbox,
        [ticker(T0), book(T0), ticker(T0 + 1), bar(T0), ticker(T0 + 2), book(T0 + 1)],
    )

    assert inbox.conflated == 3
    assert len(inbox) == 3


def test_envelopes_with_reply_to_are_never_conflated() -> None:
    inbox, _ = bound_inbox()
    asks = [Envelope(ticker(T0 + i), reply_to=ThreadingFuture()) for i in range(3)]

    for envelope in asks:
        inbox.put(envelope)
    inbox.put(Envelope(ticker(T0 + 3)))

    assert [inbox.pop() for _ in asks] == asks
    assert inbox.conflated == 0


def test_depth_stays_bounded_by_the_keys_under_a_flood_of_one_minute() -> None:
    inbox, _ = bound_inbox()
    builders: list[Callable[[int], Any]] = [ticker, book, trade]
    bars_kept = 0

    for i in range(100_000):
        ts = T0 + i * (MINUTE - 1) // 100_000
        inbox.put(Envelope(builders[i % 3](ts)))
        if i % 10_000 == 0:
            inbox.put(Envelope(bar(T0 - MINUTE)))
            bars_kept += 1

    distinct_keys = 3  # ticker, book, trades of the one minute
    assert inbox.high_water <= distinct_keys + bars_kept
    assert len(inbox) == distinct_keys + bars_kept
    assert inbox.conflated == 100_000 - distinct_keys
