"""Bitget public market data as the engine's ``MarketSource`` (``adapters.bitget.source``).

REST is the loopback HTTP stub of ``test_bitget_rest``, answering from a ``Listing`` (contracts,
tickers, candles); streams go to the loopback WebSocket venue of ``test_bitget_stream``. The clock
is fixed in the middle of a minute, connections run with tiny timings, tests wait on conditions
with deadlines, and every source is stopped at teardown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from adapters.bitget import constants as c
from adapters.bitget.parsing import Push
from adapters.bitget.source import BitgetSource, channels_of
from adapters.bitget.stream import Channel, Connection
from engine.messages import BarClosed, BookUpdated, MarketEvent, TickerUpdated, TradesReceived
from engine.ports import Instrument, UnknownSymbolError
from tests import test_bitget_rest, test_bitget_stream
from tests.test_bitget_rest import Reply, Seen, Stub, ok
from tests.test_bitget_stream import FAST, PING_S, SILENCE_S, Peer, Venue, push_frame, wait_until

# The loopback fixtures of the REST and stream tests, reused as they are (pytest finds them here by name).
stub = test_bitget_rest.stub
sleeps = test_bitget_rest.sleeps
make_client = test_bitget_rest.make_client
venue = test_bitget_stream.venue

MINUTE = 60_000
CURRENT_OPEN = 1_735_689_600_000
"""2025-01-01 00:00 UTC: the open of the minute (and of the 15 m, 1 h, 4 h and day) now is in."""
NOW_MS = CURRENT_OPEN + 30_500
"""The fixed clock: half a minute into a candle that is still forming."""
FIRST_CANDLE_MS = CURRENT_OPEN - 10_000 * MINUTE

ETH_TICKER = {
    "instId": "ETHUSDT", "lastPr": "3120.55", "bidPr": "3120.50", "askPr": "3120.60", "bidSz": "14.2",
    "askSz": "3.8", "open24h": "3050.10", "high24h": "3141.00", "low24h": "3040.20", "change24h": "0.02309",
    "fundingRate": "0.000100", "nextFundingTime": "1735689600000", "markPrice": "3120.48",
    "indexPrice": "3121.02", "holdingAmount": "201345.12", "baseVolume": "88123.4",
    "quoteVolume": "272001234.5", "openUtc": "3061.00", "symbolType": 1, "symbol": "ETHUSDT",
    "deliveryPrice": "0", "ts": "1735680000123",
}  # fmt: skip
"""The documented ``ticker`` push item (bitget.md 7.3)."""


# --- the REST listing -----------------------------------------------------------------------------


def contract(symbol: str, status: str = "normal", symbol_type: str = "perpetual") -> dict[str, str]:
    return {
        "symbol": symbol, "baseCoin": symbol.removesuffix("USDT"), "quoteCoin": "USDT", "symbolStatus": status,
        "symbolType": symbol_type, "pricePlace": "1", "priceEndStep": "5", "volumePlace": "3",
        "sizeMultiplier": "0.001", "minTradeNum": "0.002", "minTradeUSDT": "5",
    }  # fmt: skip


def ticker_row(symbol: str, usdt_volume: float, funding_rate: str = "0.0001") -> dict[str, str]:
    return {"symbol": symbol, "lastPr": "1", "usdtVolume": str(usdt_volume), "fundingRate": funding_rate}


def candle_row(ts: int) -> list[str]:
    return [str(ts), "100.5", "101.0", "99.5", "100.25", "12.5", "1253.1"]


@dataclass
class Listing:
    """What the REST stub serves: contracts, tickers, and one candle per interval up to the one
    forming at ``NOW_MS`` (which it includes, as a venue counting the row at ``endTime`` does)."""

    contracts: list[dict[str, str]] = field(
        default_factory=lambda: [
            contract("SOLUSDT"),
            contract("BTCUSDT"),
            contract("XRPUSDT", status="maintain"),
            contract("ETHUSDT"),
            contract("BTCUSDT0328", symbol_type="delivery"),
            contract("DOGEUSDT"),
        ]
    )
    tickers: list[dict[str, str]] = field(
        default_factory=lambda: [
            ticker_row("BTCUSDT", 5_000_000_000, "0.00012"),
            ticker_row("ETHUSDT", 2_000_000_000),
            ticker_row("SOLUSDT", 400_000_000),
            ticker_row("DOGEUSDT", 9_000_000),
            ticker_row("XRPUSDT", 8_000_000_000),
            ticker_row("BTCUSDT0328", 7_000_000_000),
        ]
    )

    def add(self, symbols: Sequence[str], usdt_volume: float = 1_000_000) -> None:
        self.contracts.extend(contract(s) for s in symbols)
        self.tickers.extend(ticker_row(s, usdt_volume) for s in symbols)

    def answer(self, seen: Seen) -> Reply:
        if seen.path == c.CONTRACTS:
            return ok(self.contracts)
        if seen.path == c.TICKERS:
            return ok(self.tickers)
        if seen.path == c.CANDLES:
            p = seen.params
            interval = next(ms for ms, g in c.GRANULARITY.items() if g == p["granularity"])
            forming = NOW_MS - NOW_MS % interval
            start, end = max(int(p["startTime"]), FIRST_CANDLE_MS), min(int(p["endTime"]), forming)
            start += -(start - FIRST_CANDLE_MS) % interval
            rows = [candle_row(ts) for ts in range(start, end + 1, interval)][-int(p["limit"]) - 1 :]
            return ok(rows[::-1])  # newest first
        return 404, {"code": "404", "msg": f"no such path {seen.path}"}


@pytest.fixture
def listing(stub: Stub) -> Listing:
    served = Listing()
    stub.handler = served.answer
    return served


# --- the source, its connections and its sink -----------------------------------------------------


class Sink:
    """Records every batch the source hands over, and whether any call overlapped another."""

    def __init__(self, hold_s: float = 0.0) -> None:
        self.batches: list[list[MarketEvent]] = []
        self.threads: set[str] = set()
        self.overlaps = 0
        self.hold_s = hold_s
        self._busy = threading.Lock()

    def __call__(self, events: Sequence[MarketEvent]) -> None:
        entered = self._busy.acquire(blocking=False)
        if not entered:
            self.overlaps += 1
        try:
            self.threads.add(threading.current_thread().name)
            if self.hold_s:
                time.sleep(self.hold_s)
            self.batches.append(list(events))
        finally:
            if entered:
                self._busy.release()

    @property
    def events(self) -> list[MarketEvent]:
        return [e for batch in self.batches for e in batch]


def received(event: MarketEvent) -> MarketEvent:
    """The event without its receive time, to compare with an expected one."""
    return replace(event, recv_ns=0)


@dataclass
class Built:
    """Every Connection the sources of a test asked their factory for."""

    connections: list[Connection] = field(default_factory=list)

    def factory(self, url: str, channels: Sequence[Channel], on_push: Callable[[Push, int], None], **kw: Any):
        conn = Connection(url, channels, on_push, **(kw | {"ping_s": PING_S, "silence_s": SILENCE_S, "backoff": FAST}))
        self.connections.append(conn)
        return conn


@pytest.fixture
def built() -> Built:
    return Built()


@pytest.fixture
def make_source(venue: Venue, listing: Listing, make_client, built: Built) -> Iterator[Callable[..., BitgetSource]]:
    sources: list[BitgetSource] = []

    def make(*symbols: str) -> BitgetSource:
        source = BitgetSource(make_client(None), venue.url, connection=built.factory, clock_ms=lambda: NOW_MS)
        sources.append(source)
        for symbol in symbols:
            source.subscribe(symbol)
        return source

    yield make
    for source in sources:
        source.stop()
    for conn in built.connections:
        conn.stop(timeout_s=2.0)


def symbols_named(count: int) -> list[str]:
    return [f"C{i:02d}USDT" for i in range(count)]


def all_subscribed(venue: Venue, connections: int, count: int) -> list[Peer]:
    """The first ``connections`` peers, fullest first (they connect in any order), once ``count``
    channels are subscribed over them."""
    wait_until(
        lambda: len(venue.peers) >= connections and sum(len(p.subscribed()) for p in venue.peers) >= count,
        what=f"{count} subscriptions over {connections} connections",
    )
    return sorted(venue.peers[:connections], key=lambda p: -len(p.subscribed()))


def stream(make_source, venue: Venue, *symbols: str, sink: Sink | None = None) -> tuple[BitgetSource, Sink, Peer]:
    """A started source streaming ``symbols`` (one connection's worth), once the venue has them all."""
    source = make_source(*symbols)
    sink = sink or Sink()
    source.start(sink)
    (peer,) = all_subscribed(venue, 1, 3 * len(symbols))
    return source, sink, peer


def args_of(*symbols: str) -> list[dict[str, str]]:
    return [ch.arg() for s in symbols for ch in channels_of(s)]


# --- listing --------------------------------------------------------------------------------------


def test_listed_is_every_normal_perpetual_contract_sorted_by_symbol(make_source):
    source = make_source()

    assert source.listed() == ["BTCUSDT", "DOGEUSDT", "ETHUSDT", "SOLUSDT"]


def test_universe_keeps_listed_symbols_with_at_least_the_minimum_24h_volume_sorted(make_source):
    source = make_source()

    assert source.universe(400_000_000) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert source.universe(400_000_001) == ["BTCUSDT", "ETHUSDT"]
    assert source.universe(0) == ["BTCUSDT", "DOGEUSDT", "ETHUSDT", "SOLUSDT"]


def test_universe_leaves_out_a_contract_in_maintenance_and_a_delivery_contract_whatever_their_volume(make_source):
    source = make_source()

    assert source.universe(6_000_000_000) == []  # XRPUSDT (maintain) and BTCUSDT0328 (delivery) trade more


def test_instrument_carries_tick_lot_minimum_size_24h_volume_and_funding(make_source):
    source = make_source()

    assert source.instrument("BTCUSDT") == Instrument("BTCUSDT", pytest.approx(0.5), 0.001, 0.002, 5e9, 0.00012)


@pytest.mark.parametrize("symbol", ["NOPEUSDT", "XRPUSDT", "BTCUSDT0328", "btcusdt"])
def test_an_unlisted_symbol_raises_unknown_symbol_error(make_source, symbol):
    source = make_source()

    with pytest.raises(UnknownSymbolError) as raised:
        source.instrument(symbol)

    assert raised.value.symbol == symbol


def test_contracts_and_tickers_are_read_once_then_served_from_the_cache(make_source, stub):
    source = make_source()

    source.listed()
    source.universe(0)
    source.instrument("ETHUSDT")

    assert len(stub.calls("GET", c.CONTRACTS)) == 1
    assert len(stub.calls("GET", c.TICKERS)) == 1


def test_refresh_reads_contracts_and_tickers_again_and_sees_a_new_listing(make_source, stub, listing):
    source = make_source()
    assert "PEPEUSDT" not in source.listed()
    listing.add(["PEPEUSDT"], usdt_volume=3e9)

    source.refresh()

    assert len(stub.calls("GET", c.CONTRACTS)) == 2
    assert len(stub.calls("GET", c.TICKERS)) == 2
    assert source.universe(2_500_000_000) == ["BTCUSDT", "PEPEUSDT"]


def test_the_contracts_request_names_the_usdt_futures_product_type(make_source, stub):
    make_source().listed()

    assert stub.calls("GET", c.CONTRACTS)[0].params == {"productType": "USDT-FUTURES"}


# --- candles --------------------------------------------------------------------------------------


def test_candles_leave_out_the_candle_still_forming(make_source):
    bars = make_source().candles("BTCUSDT", 5, MINUTE)

    assert CURRENT_OPEN not in [bar.open_ts for bar in bars]
    assert bars[-1].open_ts == CURRENT_OPEN - MINUTE
    assert all(bar.open_ts + MINUTE <= NOW_MS for bar in bars)


def test_candles_are_the_newest_limit_closed_ones_oldest_first(make_source):
    bars = make_source().candles("BTCUSDT", 5, MINUTE)

    assert [bar.open_ts for bar in bars] == [CURRENT_OPEN - k * MINUTE for k in (5, 4, 3, 2, 1)]
    assert bars[0] == BarClosed("BTCUSDT", MINUTE, CURRENT_OPEN - 5 * MINUTE, 100.5, 101.0, 99.5, 100.25, 12.5)


@pytest.mark.parametrize("limit", [1, 3, 250])
def test_candles_return_exactly_limit_bars_when_history_is_long_enough(make_source, limit):
    bars = make_source().candles("ETHUSDT", limit, MINUTE)

    assert len(bars) == limit
    assert bars[-1].open_ts == CURRENT_OPEN - MINUTE


@pytest.mark.parametrize(("interval_ms", "granularity"), [(MINUTE, "1m"), (15 * MINUTE, "15m"), (60 * MINUTE, "1H")])
def test_candles_ask_for_history_ending_at_the_start_of_the_current_interval(
    make_source, stub, interval_ms, granularity
):
    make_source().candles("BTCUSDT", 10, interval_ms)

    (request,) = stub.calls("GET", c.CANDLES)
    assert request.params["endTime"] == str(CURRENT_OPEN)
    assert request.params["granularity"] == granularity
    assert request.params["symbol"] == "BTCUSDT"


def test_candles_of_an_unlisted_symbol_raise_without_asking_the_venue_for_candles(make_source, stub):
    source = make_source()

    with pytest.raises(UnknownSymbolError):
        source.candles("NOPEUSDT", 10, MINUTE)

    assert stub.calls("GET", c.CANDLES) == []


# --- streaming ------------------------------------------------------------------------------------


def test_start_subscribes_ticker_books5_and_trade_of_every_subscribed_symbol(make_source, venue):
    _source, _sink, peer = stream(make_source, venue, "BTCUSDT", "ETHUSDT")

    assert peer.subscribed() == [
        {"instType": "USDT-FUTURES", "channel": "ticker", "instId": "BTCUSDT"},
        {"instType": "USDT-FUTURES", "channel": "books5", "instId": "BTCUSDT"},
        {"instType": "USDT-FUTURES", "channel": "trade", "instId": "BTCUSDT"},
        {"instType": "USDT-FUTURES", "channel": "ticker", "instId": "ETHUSDT"},
        {"instType": "USDT-FUTURES", "channel": "books5", "instId": "ETHUSDT"},
        {"instType": "USDT-FUTURES", "channel": "trade", "instId": "ETHUSDT"},
    ]
    assert len(venue.peers) == 1


def test_a_symbol_unsubscribed_before_start_is_not_streamed(make_source, venue):
    source = make_source("BTCUSDT", "ETHUSDT")
    source.unsubscribe("BTCUSDT")

    source.start(Sink())
    (peer,) = all_subscribed(venue, 1, 3)

    assert peer.subscribed() == args_of("ETHUSDT")


def test_a_ticker_push_reaches_the_sink_as_ticker_updated(make_source, venue):
    _source, sink, peer = stream(make_source, venue, "ETHUSDT")

    venue.push(peer, push_frame(Channel("ticker", "ETHUSDT"), [ETH_TICKER]))
    wait_until(lambda: sink.events, what="the ticker event")

    (event,) = sink.events
    assert received(event) == TickerUpdated(
        "ETHUSDT", 1_735_680_000_123, 3120.55, 3120.5, 3120.6, 272_001_234.5, 0.0001
    )
    assert event.recv_ns > 0


def test_a_books5_push_reaches_the_sink_as_book_updated_best_levels_first(make_source, venue):
    _source, sink, peer = stream(make_source, venue, "BTCUSDT")
    item = {
        "asks": [["94234.0", "0.5"], ["94236.5", "1.204"]],
        "bids": [["94233.5", "0.357"], ["94233.0", "2"]],
        "checksum": 0,
        "seq": 17,
        "ts": "1735680031588",
    }

    venue.push(peer, push_frame(Channel("books5", "BTCUSDT"), [item]))
    wait_until(lambda: sink.events, what="the book event")

    (event,) = sink.events
    assert received(event) == BookUpdated(
        "BTCUSDT", 1_735_680_031_588, ((94233.5, 0.357), (94233.0, 2.0)), ((94234.0, 0.5), (94236.5, 1.204))
    )


def test_a_trade_push_reaches_the_sink_as_one_trades_received_per_trade_oldest_first(make_source, venue):
    _source, sink, peer = stream(make_source, venue, "BTCUSDT")
    newest_first = [
        {"ts": "1735680031602", "price": "94235.5", "size": "0.3", "side": "sell", "tradeId": "2"},
        {"ts": "1735680031601", "price": "94234.0", "size": "0.012", "side": "buy", "tradeId": "1"},
    ]

    venue.push(peer, push_frame(Channel("trade", "BTCUSDT"), newest_first, action="update"))
    wait_until(lambda: sink.events, what="the trade events")

    assert [received(e) for e in sink.events] == [
        TradesReceived("BTCUSDT", 1_735_680_031_601, 94234.0, 94234.0, 94234.0, 94234.0, 0.012, 1),
        TradesReceived("BTCUSDT", 1_735_680_031_602, 94235.5, 94235.5, 94235.5, 94235.5, 0.3, 1),
    ]
    assert len(sink.batches) == 1  # one push, one call


def test_more_than_fifty_channels_are_spread_over_two_connections_of_at_most_fifty(make_source, venue, listing):
    symbols = symbols_named(20)
    listing.add(symbols)
    source = make_source(*symbols)

    source.start(Sink())
    peers = all_subscribed(venue, 2, 60)

    assert [len(p.subscribed()) for p in peers] == [50, 10]
    assert peers[0].subscribed() + peers[1].subscribed() == args_of(*symbols)
    assert len(venue.peers) == 2


def test_the_sink_is_never_called_concurrently_even_with_two_connections(make_source, venue, listing):
    symbols = symbols_named(20)
    listing.add(symbols)
    source = make_source(*symbols)
    sink = Sink(hold_s=0.003)
    source.start(sink)
    first, second = all_subscribed(venue, 2, 60)
    rounds = 40

    for n in range(rounds):
        for peer, symbol in ((first, symbols[0]), (second, symbols[-1])):
            item = ETH_TICKER | {"instId": symbol, "ts": str(1_735_680_000_000 + n)}
            venue.push(peer, push_frame(Channel("ticker", symbol), [item]))
    wait_until(lambda: len(sink.events) == 2 * rounds, what="every ticker event")

    assert sink.overlaps == 0
    assert sink.threads == {"bitget-public-reader"}  # one reader serves both connections; both delivered (below)
    for symbol in (symbols[0], symbols[-1]):
        assert [e.ts for e in sink.events if e.symbol == symbol] == [1_735_680_000_000 + n for n in range(rounds)]


# --- subscribing while running --------------------------------------------------------------------


def test_subscribing_while_running_sends_the_channels_on_the_live_connection(make_source, venue):
    source, _sink, peer = stream(make_source, venue, "BTCUSDT")

    source.subscribe("ETHUSDT")
    wait_until(lambda: len(peer.subscribed()) == 6, what="ETHUSDT's subscriptions")

    assert peer.messages("subscribe")[-1]["args"] == args_of("ETHUSDT")
    assert len(venue.peers) == 1


def test_subscribing_while_running_skips_a_full_connection_for_one_with_room(make_source, venue, listing):
    symbols = symbols_named(20)
    listing.add(symbols)
    source = make_source(*symbols)
    source.start(Sink())
    full, roomy = all_subscribed(venue, 2, 60)

    source.subscribe("ETHUSDT")
    wait_until(lambda: len(roomy.subscribed()) == 13, what="ETHUSDT's subscriptions")

    assert roomy.messages("subscribe")[-1]["args"] == args_of("ETHUSDT")
    assert len(full.subscribed()) == 50
    assert len(venue.peers) == 2


def test_a_symbol_that_fits_on_no_connection_gets_a_new_one(make_source, venue, listing):
    symbols = symbols_named(16)  # 48 channels: three more would make 51
    listing.add(symbols)
    source = make_source(*symbols)
    source.start(Sink())
    (first,) = all_subscribed(venue, 1, 48)

    source.subscribe("ETHUSDT")
    added = venue.subscribed_peer(1, 3)

    assert added.subscribed() == args_of("ETHUSDT")
    assert len(first.subscribed()) == 48


def test_unsubscribe_sends_an_unsubscribe_for_the_symbols_three_channels(make_source, venue):
    source, _sink, peer = stream(make_source, venue, "BTCUSDT", "ETHUSDT")

    source.unsubscribe("BTCUSDT")
    wait_until(lambda: peer.messages("unsubscribe"), what="the unsubscribe")

    assert [m["args"] for m in peer.messages("unsubscribe")] == [args_of("BTCUSDT")]


def test_a_symbol_unsubscribed_while_running_can_be_subscribed_again(make_source, venue):
    source, _sink, peer = stream(make_source, venue, "BTCUSDT", "ETHUSDT")
    source.unsubscribe("BTCUSDT")

    source.subscribe("BTCUSDT")
    wait_until(lambda: len(peer.messages("subscribe")) == 2, what="the second subscribe")

    assert peer.messages("subscribe")[-1]["args"] == args_of("BTCUSDT")


def test_a_symbol_already_subscribed_is_not_subscribed_twice(make_source, venue):
    source, _sink, peer = stream(make_source, venue, "BTCUSDT")

    source.subscribe("BTCUSDT")
    source.subscribe("ETHUSDT")  # a marker: sent after anything the repeat might have sent
    wait_until(lambda: len(peer.subscribed()) == 6, what="ETHUSDT's subscriptions")

    assert peer.subscribed() == args_of("BTCUSDT", "ETHUSDT")


def test_subscribing_an_unlisted_symbol_raises_and_sends_nothing(make_source, venue):
    source, _sink, peer = stream(make_source, venue, "BTCUSDT")

    with pytest.raises(UnknownSymbolError):
        source.subscribe("NOPEUSDT")
    source.subscribe("ETHUSDT")  # a marker, as above
    wait_until(lambda: len(peer.subscribed()) == 6, what="ETHUSDT's subscriptions")

    assert peer.subscribed() == args_of("BTCUSDT", "ETHUSDT")
    assert len(venue.peers) == 1


def test_a_symbol_unsubscribed_while_its_connection_is_still_subscribing_is_unsubscribed(make_source, venue, listing):
    symbols = symbols_named(15)  # 45 channels: five subscribe messages paced over about half a second
    listing.add(symbols)
    source = make_source(*symbols)
    source.start(Sink())
    peer = venue.subscribed_peer(0, 10)  # the first message is in; four more are to come

    source.unsubscribe(symbols[0])
    all_subscribed(venue, 1, 45)
    source.subscribe("ETHUSDT")  # a marker: sent after anything the unsubscribe would have sent
    wait_until(lambda: len(peer.subscribed()) == 48, what="ETHUSDT's subscriptions")

    unsubscribed = [arg for m in peer.messages("unsubscribe") for arg in m["args"]]
    streaming = [arg for arg in peer.subscribed() if arg not in unsubscribed]
    assert streaming == args_of(*symbols[1:], "ETHUSDT")


# --- malformed pushes -----------------------------------------------------------------------------


def test_a_malformed_push_is_counted_in_parse_errors_and_later_pushes_still_arrive(make_source, venue):
    source, sink, peer = stream(make_source, venue, "ETHUSDT")
    without_bid = {k: v for k, v in ETH_TICKER.items() if k != "bidPr"}

    venue.push(peer, push_frame(Channel("ticker", "ETHUSDT"), [without_bid]))
    venue.push(peer, push_frame(Channel("ticker", "ETHUSDT"), [ETH_TICKER | {"ts": "1735680000999"}]))
    wait_until(lambda: sink.events, what="the valid ticker")

    assert source.parse_errors == 1
    assert [(e.symbol, e.ts, e.bid) for e in sink.events] == [("ETHUSDT", 1_735_680_000_999, 3120.5)]


def test_a_ticker_push_whose_item_is_not_an_object_is_counted_in_parse_errors(make_source, venue):
    source, sink, peer = stream(make_source, venue, "ETHUSDT")

    venue.push(peer, push_frame(Channel("ticker", "ETHUSDT"), ["ETHUSDT"]))
    venue.push(peer, push_frame(Channel("ticker", "ETHUSDT"), [ETH_TICKER]))
    wait_until(lambda: sink.events, what="the valid ticker")

    assert source.parse_errors == 1


# --- stopping -------------------------------------------------------------------------------------


def test_stop_closes_every_connection_and_none_reconnects(make_source, venue, listing):
    symbols = symbols_named(20)
    listing.add(symbols)
    source = make_source(*symbols)
    source.start(Sink())
    all_subscribed(venue, 2, 60)

    source.stop()

    assert all(p.closed.is_set() for p in venue.finished_peers(2))
    assert not [t for t in threading.enumerate() if t.name.startswith("bitget-public-") and t.is_alive()]
    time.sleep(4 * FAST.max_s)  # several reconnect waits
    assert len(venue.peers) == 2


def test_no_event_reaches_the_sink_after_stop(make_source, venue, built):
    source, sink, peer = stream(make_source, venue, "ETHUSDT")
    venue.push(peer, push_frame(Channel("ticker", "ETHUSDT"), [ETH_TICKER]))
    wait_until(lambda: sink.events, what="the ticker before stop")

    source.stop()
    (conn,) = built.connections
    late = Push("ticker", "ETHUSDT", "snapshot", [ETH_TICKER | {"ts": "1735680009999"}], 1_735_680_009_999)
    conn.on_push(late, time.perf_counter_ns())  # a push that was already read when stop() ran

    assert [e.ts for e in sink.events] == [1_735_680_000_123]
