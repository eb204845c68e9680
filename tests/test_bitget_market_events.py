"""Public Bitget pushes become the engine's market events; candles close only when a later one starts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.bitget.market_events import CandleCloser, events_of
from adapters.bitget.parsing import ParseError, Push
from engine.messages import BarClosed, BookUpdated, TickerUpdated, TradesReceived

MINUTE = 60_000
T0 = 1_735_680_000_000


def row(open_ts: int, close: float, volume: float = 1.0) -> list[str]:
    return [str(open_ts), "100", str(max(100.0, close)), str(min(100.0, close)), str(close), str(volume), "0"]


def candle_push(*rows: list[str], symbol: str = "BTCUSDT", action: str = "update") -> Push:
    return Push("candle1m", symbol, action, list(rows), 0)


def test_a_ticker_push_is_a_ticker_update() -> None:
    item = {"instId": "ETHUSDT", "lastPr": "3120.55", "bidPr": "3120.5", "askPr": "3120.6", "quoteVolume": "2.7e8",
            "fundingRate": "0.0001", "ts": "1735680000123"}  # fmt: skip
    (event,) = events_of(Push("ticker", "ETHUSDT", "snapshot", [item], 0), CandleCloser(), recv_ns=7)
    assert event == TickerUpdated("ETHUSDT", 1735680000123, 3120.55, 3120.5, 3120.6, 2.7e8, 0.0001, 7)


def test_a_books5_push_is_a_book_update_best_levels_first() -> None:
    item = {"bids": [["99.9", "2"], ["99.8", "5"]], "asks": [["100.1", "1"]], "ts": "1735680000200"}
    (event,) = events_of(Push("books5", "BTCUSDT", "snapshot", [item], 0), CandleCloser())
    assert event == BookUpdated("BTCUSDT", 1735680000200, ((99.9, 2.0), (99.8, 5.0)), ((100.1, 1.0),))


def test_a_trade_push_is_one_trade_event_per_trade_oldest_first() -> None:
    items = [
        {"ts": "2", "price": "101", "size": "0.5", "side": "buy"},
        {"ts": "1", "price": "100", "size": "1", "side": "sell"},
    ]
    events = events_of(Push("trade", "BTCUSDT", "update", items, 0), CandleCloser())
    assert events == [
        TradesReceived("BTCUSDT", 1, 100.0, 100.0, 100.0, 100.0, 1.0),
        TradesReceived("BTCUSDT", 2, 101.0, 101.0, 101.0, 101.0, 0.5),
    ]


def test_an_unknown_channel_gives_no_events() -> None:
    assert events_of(Push("positions", "default", "snapshot", [{}], 0), CandleCloser()) == []


def test_the_first_candle_push_only_sets_the_forming_candle() -> None:
    closer = CandleCloser()
    snapshot = candle_push(row(T0 - MINUTE, 99.0), row(T0, 101.0), action="snapshot")
    assert closer.on_push(snapshot) == []


def test_updates_of_the_forming_candle_close_nothing() -> None:
    closer = CandleCloser()
    closer.on_push(candle_push(row(T0, 101.0)))
    assert closer.on_push(candle_push(row(T0, 102.0))) == []


def test_a_later_candle_closes_the_forming_one_with_its_last_values() -> None:
    closer = CandleCloser()
    closer.on_push(candle_push(row(T0, 101.0)))
    closer.on_push(candle_push(row(T0, 102.5, volume=3.0)))
    (bar,) = closer.on_push(candle_push(row(T0 + MINUTE, 103.0)))
    assert bar == BarClosed("BTCUSDT", MINUTE, T0, 100.0, 102.5, 100.0, 102.5, 3.0)


def test_a_push_that_skips_ahead_closes_every_candle_in_between_in_order() -> None:
    closer = CandleCloser()
    closer.on_push(candle_push(row(T0, 101.0)))
    bars = closer.on_push(candle_push(row(T0 + MINUTE, 102.0), row(T0 + 2 * MINUTE, 103.0), row(T0 + 3 * MINUTE, 99.0)))
    assert [b.open_ts for b in bars] == [T0, T0 + MINUTE, T0 + 2 * MINUTE]


def test_an_older_candle_row_is_ignored() -> None:
    closer = CandleCloser()
    closer.on_push(candle_push(row(T0, 101.0)))
    assert closer.on_push(candle_push(row(T0 - MINUTE, 50.0))) == []
    (bar,) = closer.on_push(candle_push(row(T0 + MINUTE, 102.0)))
    assert bar.close == 101.0


def test_symbols_close_their_candles_independently() -> None:
    closer = CandleCloser()
    closer.on_push(candle_push(row(T0, 101.0)))
    closer.on_push(candle_push(row(T0, 5.0), symbol="ETHUSDT"))
    (bar,) = closer.on_push(candle_push(row(T0 + MINUTE, 6.0), symbol="ETHUSDT"))
    assert (bar.symbol, bar.close) == ("ETHUSDT", 5.0)


def test_a_channel_that_is_not_a_candle_channel_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="not a candle channel"):
        CandleCloser().on_push(Push("candle7m", "BTCUSDT", "update", [row(T0, 1.0)], 0))


@given(st.lists(st.tuples(st.integers(0, 5), st.floats(50.0, 150.0)), min_size=1, max_size=40))
def test_each_candle_closes_once_in_order_with_the_last_values_seen(steps: list[tuple[int, float]]) -> None:
    closer = CandleCloser()
    seen: dict[int, float] = {}
    emitted: list[BarClosed] = []
    open_ts = T0
    for step, close in steps:
        open_ts += step * MINUTE
        seen[open_ts] = close
        emitted += closer.on_push(candle_push(row(open_ts, close)))
    assert [b.open_ts for b in emitted] == sorted(seen)[:-1]
    assert all(b.close == seen[b.open_ts] for b in emitted)
