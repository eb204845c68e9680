"""The simulated market served over Bitget's v2 public protocol, on loopback.

REST (``http://127.0.0.1:P``): server time, contracts, tickers, candles, merge-depth and funding,
answered in Bitget's envelope with numbers as strings. WebSocket (``ws://127.0.0.1:Q``): the
``ticker``, ``books5`` and ``trade`` channels with ``subscribe``/``unsubscribe`` acks and the text
``ping``/``pong`` heartbeat, pushed as the paced ``SimFeed`` produces events. So the Bitget adapter
is exercised end to end against a venue that speaks its protocol, with no network.

Private endpoints and channels, signature checks, the matching engine and fault injection are
not served yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from loguru import logger
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from adapters.bitget import constants as c
from adapters.sim.feed import SimFeed
from engine.messages import BookUpdated, MarketEvent, TickerUpdated, TradesReceived
from engine.ports import Instrument, UnknownSymbolError

INTERVAL_BY_GRANULARITY = {g: ms for ms, g in c.GRANULARITY.items()}


def _num(value: float) -> str:
    return format(value, ".10g")


def contract(i: Instrument) -> dict[str, Any]:
    """A contracts item: the tick as ``priceEndStep`` x 10^-``pricePlace``, the lot as ``sizeMultiplier``."""
    place = max(0, round(-math.log10(i.tick_size)))
    size_place = max(0, round(-math.log10(i.lot_size)))
    return {
        "symbol": i.symbol, "baseCoin": i.symbol.removesuffix("USDT"), "quoteCoin": "USDT",
        "pricePlace": str(place), "priceEndStep": _num(round(i.tick_size * 10**place)),
        "sizeMultiplier": _num(i.lot_size), "minTradeNum": _num(i.min_qty), "volumePlace": str(size_place),
        "minTradeUSDT": "5", "symbolStatus": "normal", "symbolType": "perpetual", "fundInterval": "8",
    }  # fmt: skip


def ticker_item(t: TickerUpdated) -> dict[str, Any]:
    return {
        "instId": t.symbol, "symbol": t.symbol, "lastPr": _num(t.last), "bidPr": _num(t.bid), "askPr": _num(t.ask),
        "usdtVolume": _num(t.volume_24h_usdt), "quoteVolume": _num(t.volume_24h_usdt),
        "fundingRate": _num(t.funding_rate), "ts": str(t.ts),
    }  # fmt: skip


def frames_of(events: Sequence[MarketEvent], ts_ms: int) -> list[tuple[str, str, bytes]]:
    """(channel, symbol, push frame) for each event a public channel carries."""
    out = []
    for e in events:
        if isinstance(e, TickerUpdated):
            channel, action, data = "ticker", "snapshot", [ticker_item(e)]
        elif isinstance(e, BookUpdated):
            levels = {side: [[_num(p), _num(q)] for p, q in getattr(e, side)] for side in ("bids", "asks")}
            channel, action, data = "books5", "snapshot", [levels | {"ts": str(e.ts)}]
        elif isinstance(e, TradesReceived):
            item = {
                "ts": str(e.ts),
                "price": _num(e.close),
                "size": _num(e.volume),
                "side": "buy",
                "tradeId": str(e.ts),
            }
            channel, action, data = "trade", "update", [item]
        else:
            continue
        arg = {"instType": c.PRODUCT_TYPE, "channel": channel, "instId": e.symbol}
        out.append((channel, e.symbol, orjson.dumps({"action": action, "arg": arg, "data": data, "ts": ts_ms})))
    return out


class BitgetSimServer:
    """REST and WebSocket servers over one ``SimFeed``; ``start`` returns once both listen."""

    def __init__(self, feed: SimFeed, host: str = "127.0.0.1", rest_port: int = 0, ws_port: int = 0) -> None:
        self.feed = feed
        self.host = host
        self.rest_port = rest_port
        self.ws_port = ws_port
        self._tickers: dict[str, TickerUpdated] = {}
        self._subscribers: dict[tuple[str, str], set[ServerConnection]] = {}
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws: Server | None = None
        self._ws_ready = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def rest_url(self) -> str:
        assert self._http is not None
        return f"http://{self.host}:{self._http.server_address[1]}"

    @property
    def ws_url(self) -> str:
        assert self._ws is not None
        (port,) = {sock.getsockname()[1] for sock in self._ws.sockets}
        return f"ws://{self.host}:{port}"

    def start(self) -> None:
        self._http = ThreadingHTTPServer((self.host, self.rest_port), _handler(self._rest))
        self._http.daemon_threads = True
        self._spawn(self._http.serve_forever, "bitget-sim-rest")
        self._spawn(self._serve_ws, "bitget-sim-ws")
        if not self._ws_ready.wait(10.0):
            raise RuntimeError("the simulated Bitget WebSocket server did not start")
        for symbol in self.feed.listed():
            self.feed.subscribe(symbol)
        self.feed.start(self._on_events)
        logger.info("simulated Bitget venue: REST {}, WebSocket {}", self.rest_url, self.ws_url)

    def stop(self) -> None:
        self.feed.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        loop, ws = self._loop, self._ws
        if loop is not None and ws is not None:
            loop.call_soon_threadsafe(ws.close)
        for thread in self._threads:
            thread.join(5.0)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # --- WebSocket ---------------------------------------------------------------------------

    def _serve_ws(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            async with serve(self._session, self.host, self.ws_port) as server:
                self._ws = server
                self._ws_ready.set()
                await server.wait_closed()

        asyncio.run(main())

    async def _session(self, ws: ServerConnection) -> None:
        try:
            async for message in ws:
                if message == "ping":
                    await ws.send("pong")
                    continue
                await self._control(ws, message)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                for peers in self._subscribers.values():
                    peers.discard(ws)

    async def _control(self, ws: ServerConnection, message: str | bytes) -> None:
        try:
            request = orjson.loads(message)
            op, args = request["op"], list(request["args"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await ws.send(orjson.dumps({"event": "error", "code": "30001", "msg": "malformed request"}).decode())
            return
        if op not in ("subscribe", "unsubscribe"):
            await ws.send(orjson.dumps({"event": "error", "code": "30002", "msg": f"unsupported op {op}"}).decode())
            return
        for arg in args:
            key = (str(arg.get("channel")), str(arg.get("instId")))
            with self._lock:
                peers = self._subscribers.setdefault(key, set())
                if op == "subscribe":
                    peers.add(ws)
                else:
                    peers.discard(ws)
            await ws.send(orjson.dumps({"event": op, "arg": arg}).decode())

    def _on_events(self, events: Sequence[MarketEvent]) -> None:
        """On the feed's thread: keep the newest tickers, push each event to its subscribers."""
        loop = self._loop
        for e in events:
            if isinstance(e, TickerUpdated):
                self._tickers[e.symbol] = e
        if loop is None:
            return
        for channel, symbol, text in frames_of(events, int(time.time() * 1000)):
            with self._lock:
                peers = list(self._subscribers.get((channel, symbol), ()))
            for peer in peers:
                asyncio.run_coroutine_threadsafe(_send(peer, text), loop)

    # --- REST --------------------------------------------------------------------------------

    def _rest(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        try:
            data = self._route(path, query)
        except LookupError as exc:
            return 400, {"code": "40034", "msg": str(exc), "requestTime": int(time.time() * 1000), "data": None}
        if data is None:
            return 404, {"code": "40404", "msg": f"no such endpoint: {path}", "requestTime": 0, "data": None}
        return 200, {"code": c.SUCCESS, "msg": "success", "requestTime": int(time.time() * 1000), "data": data}

    def _route(self, path: str, q: dict[str, str]) -> Any:
        feed = self.feed
        if path == c.SERVER_TIME:
            return {"serverTime": str(feed.market.now_ms)}  # event time: the simulated venue's clock
        if path == c.CONTRACTS:
            return [contract(feed.instrument(s)) for s in feed.listed()]
        if path in (c.TICKERS, c.TICKER):
            symbols = [q["symbol"]] if path == c.TICKER else feed.listed()
            return [self._ticker(s) for s in symbols]
        if path == c.CANDLES:
            return self._candles(q)
        if path == c.DEPTH:
            return self._depth(q["symbol"])
        if path == c.FUNDING_RATE:
            return [{"symbol": s, "fundingRate": _num(feed.instrument(s).funding_rate)} for s in feed.listed()]
        return None

    def _ticker(self, symbol: str) -> dict[str, Any]:
        i = self.feed.instrument(symbol)
        t = self._tickers.get(symbol)
        if t is None:
            (bar,) = self.feed.candles(symbol, 1, 60_000)
            t = TickerUpdated(symbol, bar.ts, bar.close, bar.close, bar.close, i.volume_24h_usdt, i.funding_rate)
        return ticker_item(t)

    def _candles(self, q: dict[str, str]) -> list[list[str]]:
        interval = INTERVAL_BY_GRANULARITY.get(q.get("granularity", ""))
        if interval is None:
            raise LookupError(f"granularity {q.get('granularity')!r} is not supported")
        limit = min(int(q.get("limit", 100)), c.CANDLES_MAX_LIMIT)
        end = int(q.get("endTime", 2**62))
        start = int(q.get("startTime", 0))
        bars = [b for b in self.feed.candles(q["symbol"], 100_000, interval) if start <= b.open_ts < end][-limit:]
        return [[str(b.open_ts), _num(b.open), _num(b.high), _num(b.low), _num(b.close), _num(b.volume),
                 _num(b.volume * b.close)] for b in bars]  # fmt: skip

    def _depth(self, symbol: str) -> dict[str, Any]:
        t = self._tickers.get(symbol)
        if t is None:
            raise UnknownSymbolError(symbol)
        return {"bids": [[_num(t.bid), "1"]], "asks": [[_num(t.ask), "1"]], "ts": str(t.ts)}


async def _send(peer: ServerConnection, text: bytes) -> None:
    with contextlib.suppress(ConnectionClosed):
        await peer.send(text.decode())


def _handler(route: Callable[[str, dict[str, str]], tuple[int, dict[str, Any]]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            try:
                status, body = route(parts.path, query)
            except (KeyError, ValueError) as exc:
                status, body = 400, {"code": "40017", "msg": f"parameter verification failed: {exc}", "data": None}
            payload = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
