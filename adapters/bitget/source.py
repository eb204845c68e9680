"""Bitget public market data as the engine's ``MarketSource``: REST for the universe and history,
WebSocket for tickers, books and trades.

Contracts and 24h volumes are read once at start (``refresh`` reads them again). History drops the
candle still forming (the newest REST row is the current, unfinished one), so a backfill never
hands the engine a bar that is not closed; "now" is the venue's clock (its server time). Each
symbol streams ``ticker``, ``books5`` and ``trade``; the engine builds its bars from the trades.
Pushes from every connection are handed to the sink one batch at a time (the sink is not required
to be thread-safe).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from loguru import logger

from adapters.bitget import constants as c
from adapters.bitget.market_events import CandleCloser, events_of
from adapters.bitget.parsing import ParseError, Push, candles, instruments
from adapters.bitget.rest import BitgetRest
from adapters.bitget.stream import Channel, Connection, plan
from engine.messages import BarClosed
from engine.ports import EventSink, Instrument, UnknownSymbolError

PUBLIC_CHANNELS = ("ticker", "books5", "trade")


def channels_of(symbol: str) -> list[Channel]:
    """The public channels one symbol streams."""
    return [Channel(name, symbol) for name in PUBLIC_CHANNELS]


class BitgetSource:
    """``MarketSource`` over Bitget's public REST and WebSocket APIs."""

    def __init__(
        self,
        rest: BitgetRest,
        ws_url: str = c.WS_PUBLIC,
        *,
        connection: Callable[..., Connection] = Connection,
        clock_ms: Callable[[], int] | None = None,
        silence_s: float = 60.0,
    ) -> None:
        self.rest = rest
        self.ws_url = ws_url
        self.silence_s = silence_s
        self._connection = connection
        self._clock_ms = clock_ms or rest.server_time
        self._instruments: dict[str, Instrument] = {}
        self._subscribed: list[str] = []
        self._connections: list[Connection] = []
        self._sink: EventSink | None = None
        self._closer = CandleCloser()
        self._lock = threading.Lock()
        self.parse_errors = 0

    def refresh(self) -> None:
        """Read the contracts and their 24h volumes and funding again."""
        listed = instruments(self.rest.contracts(), self.rest.tickers())
        self._instruments = {i.symbol: i for i in listed}

    def _listing(self) -> dict[str, Instrument]:
        if not self._instruments:
            self.refresh()
        return self._instruments

    def listed(self) -> list[str]:
        return sorted(self._listing())

    def universe(self, min_volume_24h_usdt: float) -> list[str]:
        return [s for s, i in sorted(self._listing().items()) if i.volume_24h_usdt >= min_volume_24h_usdt]

    def instrument(self, symbol: str) -> Instrument:
        try:
            return self._listing()[symbol]
        except KeyError:
            raise UnknownSymbolError(symbol) from None

    def candles(self, symbol: str, limit: int, interval_ms: int) -> list[BarClosed]:
        """The newest ``limit`` closed candles, oldest first (the forming one left out)."""
        self.instrument(symbol)
        now = self._clock_ms()
        end = now - now % interval_ms
        rows = self.rest.candles(symbol, interval_ms, limit, end_ms=end)
        closed = [bar for bar in candles(rows, symbol, interval_ms) if bar.open_ts + interval_ms <= now]
        return closed[-limit:]

    def subscribe(self, symbol: str) -> None:
        """Stream ``symbol``: on the connection with room for it, or a new one."""
        self.instrument(symbol)
        with self._lock:
            if symbol in self._subscribed:
                return
            self._subscribed.append(symbol)
            running = self._sink is not None
        if running:
            self._attach(channels_of(symbol))

    def unsubscribe(self, symbol: str) -> None:
        with self._lock:
            if symbol not in self._subscribed:
                return
            self._subscribed.remove(symbol)
            connections = list(self._connections)
        for conn in connections:
            conn.unsubscribe(channels_of(symbol))

    def start(self, sink: EventSink) -> None:
        with self._lock:
            self._sink = sink
            symbols = list(self._subscribed)
        for group in plan([ch for s in symbols for ch in channels_of(s)]):
            self._open(group)

    def stop(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
            self._sink = None
        for conn in connections:
            conn.stop()

    def _attach(self, channels: list[Channel]) -> None:
        with self._lock:
            roomy = next(
                (
                    conn
                    for conn in self._connections
                    if len(conn.channels) + len(channels) <= c.WS_CHANNELS_PER_CONNECTION
                ),
                None,
            )
        if roomy is None:
            self._open(channels)
        else:
            roomy.subscribe(channels)

    def _open(self, channels: list[Channel]) -> None:
        conn = self._connection(
            self.ws_url,
            channels,
            self._deliver,
            name=f"bitget-public-{len(self._connections)}",
            silence_s=self.silence_s,
        )
        with self._lock:
            self._connections.append(conn)
        conn.start()

    def _deliver(self, push: Push, recv_ns: int) -> None:
        """Turn one push into events and hand them to the sink, one connection at a time."""
        with self._lock:
            sink = self._sink
            if sink is None:
                return
            try:
                events = events_of(push, self._closer, recv_ns)
            except ParseError as exc:
                self.parse_errors += 1
                if self.parse_errors <= 10 or self.parse_errors % 1000 == 0:
                    logger.warning("bitget {} push #{} skipped: {}", push.channel, self.parse_errors, exc)
                return
            if events:
                sink(events)
