"""The simulated venue served over Bitget's v2 protocol, on loopback.

REST (``http://127.0.0.1:P``), in Bitget's envelope with numbers as strings:
- public: server time (the market's event time), contracts, tickers, candles, merge-depth, funding;
- private, signed and checked like Bitget's (key, passphrase, HMAC over the exact bytes, a 30 s
  timestamp window, the demo header): account, key info, leverage, margin and position mode,
  place/cancel order, order detail, open orders, fills, positions, served by ``SimExchange``;
- every path paced at its documented limit per second (HTTP 429 beyond it);
- ``/sim/faults`` (unsigned, loopback only): the faults of ``VenueFaults``.

WebSocket (``ws://127.0.0.1:Q``; a path ending in ``/private`` is the private stream): the public
``ticker``, ``books5`` and ``trade`` channels pushed as the paced ``SimFeed`` produces events; on
the private stream a signed ``login``, then ``orders``, ``fill``, ``positions`` and ``account``
pushed as the account changes; ``subscribe``/``unsubscribe`` acks and the text ``ping``/``pong``.
Resting limit orders fill against the books as they are generated, and positions pay funding at
each 8-hour boundary of event time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from loguru import logger
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from adapters.bitget import constants as c
from adapters.sim.exchange import ExchangeError, SimAccount, SimExchange
from adapters.sim.feed import SimFeed
from adapters.sim.signature_check import SimKey, check_login, check_rest
from adapters.sim.venue_faults import VenueFaults
from engine.messages import BookUpdated, MarketEvent, TickerUpdated, TradesReceived
from engine.ports import Instrument, UnknownSymbolError

logging.getLogger("websockets").setLevel(logging.WARNING)  # per-connection INFO lines are noise here
logging.getLogger("asyncio").setLevel(logging.ERROR)  # "socket.send() raised exception" on every closed peer

INTERVAL_BY_GRANULARITY = {g: ms for ms, g in c.GRANULARITY.items()}
PRIVATE_PATHS = frozenset({c.ACCOUNT, c.ACCOUNTS, c.ACCOUNT_INFO, c.SET_LEVERAGE, c.SET_MARGIN_MODE,
                           c.SET_POSITION_MODE, c.PLACE_ORDER, c.CANCEL_ORDER, c.ORDER_DETAIL, c.OPEN_ORDERS,
                           c.FILLS, c.POSITIONS})  # fmt: skip
PRIVATE_CHANNELS = frozenset({"orders", "fill", "positions", "account"})
FAULTS_PATH = "/sim/faults"
FLUSH_S = 0.05
FUNDING_INTERVAL_MS = 8 * 3_600_000


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


def push_items(events: Sequence[MarketEvent]) -> list[tuple[str, str, dict[str, Any]]]:
    """(channel, symbol, data item) of each event a public channel carries."""
    out = []
    for e in events:
        if isinstance(e, TickerUpdated):
            out.append(("ticker", e.symbol, ticker_item(e)))
        elif isinstance(e, BookUpdated):
            levels = {side: [[_num(p), _num(q)] for p, q in getattr(e, side)] for side in ("bids", "asks")}
            out.append(("books5", e.symbol, levels | {"ts": str(e.ts)}))
        elif isinstance(e, TradesReceived):
            item = {
                "ts": str(e.ts),
                "price": _num(e.close),
                "size": _num(e.volume),
                "side": "buy",
                "tradeId": str(e.ts),
            }
            out.append(("trade", e.symbol, item))
    return out


def push_frame(channel: str, symbol: str, data: list[dict[str, Any]], ts_ms: int) -> bytes:
    """A push as Bitget sends it: ``trade`` is an update, the rest snapshots."""
    key = "coin" if channel == "account" else "instId"
    arg = {"instType": c.PRODUCT_TYPE, "channel": channel, key: symbol}
    action = "update" if channel == "trade" else "snapshot"
    return orjson.dumps({"action": action, "arg": arg, "data": data, "ts": ts_ms})


SNAPSHOT_CHANNELS = frozenset({"ticker", "books5", "positions", "account"})


class Outbox:
    """Pushes waiting for the next flush, as a venue batches them: a snapshot (ticker, book, the
    positions or the account) replaces the older one of its channel and symbol, since Bitget
    pushes those on a cadence, never as a backlog; trades, orders and fills are all kept, in
    order. Without this, a sped-up market would queue more frames than the socket can carry and
    every quote would arrive stale."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._all: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def put(self, channel: str, symbol: str, items: list[dict[str, Any]]) -> None:
        with self._lock:
            if channel in SNAPSHOT_CHANNELS:
                self._latest[(channel, symbol)] = items
            else:
                self._all.setdefault((channel, symbol), []).extend(items)

    def take(self) -> list[tuple[str, str, list[dict[str, Any]]]]:
        with self._lock:
            latest, self._latest = self._latest, {}
            every, self._all = self._all, {}
        return [(ch, sym, items) for (ch, sym), items in (*latest.items(), *every.items())]


@dataclass(frozen=True, slots=True)
class Request:
    """One REST request as received: the raw query and body are what the signature covers."""

    method: str
    path: str
    query: str
    body: str
    headers: Mapping[str, str]

    def params(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.query).items()}

    def json(self) -> dict[str, Any]:
        decoded = orjson.loads(self.body or b"{}")
        if not isinstance(decoded, dict):
            raise ExchangeError("40017", "the body must be a JSON object")
        return decoded


HOLD = object()
"""A route's answer meaning: hold the connection, then drop it without answering."""


class BitgetSimServer:
    """REST and WebSocket servers over one ``SimFeed`` and one account; ``start`` returns once
    both listen. Without a ``key`` the private side refuses every call (``40006``)."""

    def __init__(
        self,
        feed: SimFeed,
        host: str = "127.0.0.1",
        rest_port: int = 0,
        ws_port: int = 0,
        *,
        key: SimKey | None = None,
        account: SimAccount | None = None,
    ) -> None:
        self.feed = feed
        self.host = host
        self.rest_port = rest_port
        self.ws_port = ws_port
        self.key = key
        self.exchange = SimExchange(feed.instrument, lambda: feed.market.now_ms, account)
        self.faults = VenueFaults()
        self.requests: dict[str, int] = {}
        self._tickers: dict[str, TickerUpdated] = {}
        self._subscribers: dict[tuple[str, str], set[ServerConnection]] = {}
        self._connections: set[ServerConnection] = set()
        self._logged_in: set[ServerConnection] = set()
        self._windows: dict[str, deque[float]] = {}
        self._outbox = Outbox()
        self._funding_slot = 0
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

    @property
    def ws_private_url(self) -> str:
        return f"{self.ws_url}/v2/ws/private"

    def start(self) -> None:
        self._http = ThreadingHTTPServer((self.host, self.rest_port), _handler(self._rest))
        self._http.daemon_threads = True
        self._spawn(self._http.serve_forever, "bitget-sim-rest")
        self._spawn(self._serve_ws, "bitget-sim-ws")
        if not self._ws_ready.wait(10.0):
            raise RuntimeError("the simulated Bitget WebSocket server did not start")
        for symbol in self.feed.listed():
            self.feed.subscribe(symbol)
        self._funding_slot = self.feed.market.now_ms // FUNDING_INTERVAL_MS
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

    def drop_connections(self) -> int:
        """Cut every WebSocket connection at once, with no close frame; how many were cut."""
        with self._lock:
            peers = list(self._connections)
        loop = self._loop
        if loop is not None:
            for peer in peers:
                loop.call_soon_threadsafe(peer.transport.abort)
        return len(peers)

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
                flusher = asyncio.create_task(self._flush_forever())
                await server.wait_closed()
                flusher.cancel()

        asyncio.run(main())

    async def _session(self, ws: ServerConnection) -> None:
        private = ws.request is not None and ws.request.path.rstrip("/").endswith("/private")
        with self._lock:
            self._connections.add(ws)
        try:
            async for message in ws:
                if self.faults.silent():
                    continue
                if message == "ping":
                    await ws.send("pong")
                    continue
                await self._control(ws, message, private)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._connections.discard(ws)
                self._logged_in.discard(ws)
                for peers in self._subscribers.values():
                    peers.discard(ws)

    async def _control(self, ws: ServerConnection, message: str | bytes, private: bool) -> None:
        try:
            request = orjson.loads(message)
            op, args = request["op"], list(request["args"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await ws.send(_error_event("30001", "malformed request"))
            return
        if op == "login" and private:
            await self._login(ws, args)
            return
        if op not in ("subscribe", "unsubscribe"):
            await ws.send(_error_event("30002", f"unsupported op {op}"))
            return
        for arg in args:
            channel = str(arg.get("channel"))
            if channel in PRIVATE_CHANNELS and (not private or ws not in self._logged_in):
                await ws.send(_error_event(c.LOGIN_REQUIRED_CODE, f"log in before subscribing to {channel}", arg))
                continue
            key = (channel, str(arg.get("instId") or arg.get("coin")))
            with self._lock:
                peers = self._subscribers.setdefault(key, set())
                if op == "subscribe":
                    peers.add(ws)
                else:
                    peers.discard(ws)
            await ws.send(orjson.dumps({"event": op, "arg": arg}).decode())
            if op == "subscribe" and channel in ("positions", "account"):
                data = self.exchange.positions() if channel == "positions" else [self.exchange.account_item()]
                await ws.send(push_frame(channel, "default", data, _now_ms()).decode())

    async def _login(self, ws: ServerConnection, args: list[Any]) -> None:
        try:
            if self.key is None:
                raise ExchangeError("30011", "this simulated venue has no API key")
            if len(args) != 1 or not isinstance(args[0], dict):
                raise ExchangeError("30001", "login takes one argument")
            check_login(self.key, args[0], time.time())
        except ExchangeError as exc:
            await ws.send(_error_event(exc.code, exc.message))
            return
        with self._lock:
            self._logged_in.add(ws)
        await ws.send(orjson.dumps({"event": "login", "code": 0}).decode())

    def _on_events(self, events: Sequence[MarketEvent]) -> None:
        """On the feed's thread: keep the newest tickers, match resting orders against the new
        books, settle funding at 8-hour boundaries, and queue everything for its subscribers."""
        exchange = self.exchange
        for e in events:
            if isinstance(e, TickerUpdated):
                self._tickers[e.symbol] = e
            elif isinstance(e, BookUpdated):
                exchange.on_book(e.symbol, e.bids, e.asks)
        slot = self.feed.market.now_ms // FUNDING_INTERVAL_MS
        if slot > self._funding_slot:
            self._funding_slot = slot
            for t in self._tickers.values():
                exchange.settle_funding(t.symbol, t.funding_rate)
        for channel, symbol, item in push_items(events):
            self._outbox.put(channel, symbol, [item])  # a ticker or book: the newest one is sent
        self._queue_private()

    def _queue_private(self) -> None:
        for channel, data in self.exchange.drain():
            self._outbox.put(channel, "default", data)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            try:
                await self._flush()
            except Exception:  # a bad frame must not end the venue's pushes
                logger.exception("simulated venue: a flush of pushes failed; carrying on")

    async def _flush(self) -> None:
        """Send what the outbox holds to each subscriber, with the configured faults."""
        pushes = self._outbox.take()
        if not pushes or self.faults.silent():
            return
        now = _now_ms()
        for channel, symbol, data in pushes:
            with self._lock:
                peers = list(self._subscribers.get((channel, symbol), ()))
            if not peers:
                continue
            text = push_frame(channel, symbol, data, now).decode()
            for peer in peers:
                texts = [text]
                if self.faults.chance(self.faults.malformed_rate):
                    texts.insert(0, text[: len(text) // 2])
                if self.faults.chance(self.faults.duplicate_rate):
                    texts.append(text)
                for t in texts:
                    with contextlib.suppress(ConnectionClosed):
                        await peer.send(t)

    # --- REST --------------------------------------------------------------------------------

    def _rest(self, request: Request) -> tuple[int, Any]:
        path = request.path
        if path == FAULTS_PATH:
            return self._fault_command(request)
        with self._lock:
            self.requests[path] = self.requests.get(path, 0) + 1
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000.0)
        if self.faults.take("rest_5xx"):
            return 500, {"code": "50000", "msg": "internal server error (injected)", "data": None}
        if self.faults.take("rest_429") or self._over_limit(path):
            return 429, {"code": "429", "msg": "Too Many Requests", "requestTime": _now_ms(), "data": None}
        try:
            if path in PRIVATE_PATHS:
                if self.key is None:
                    raise ExchangeError("40006", "this simulated venue has no API key")
                check_rest(self.key, request.headers, request.method, path, request.query, request.body, _now_ms())
                data = self._private(request)
            else:
                data = self._route(path, request.params())
        except ExchangeError as exc:
            return 400, {"code": exc.code, "msg": exc.message, "requestTime": _now_ms(), "data": None}
        except LookupError as exc:
            return 400, {"code": "40034", "msg": str(exc), "requestTime": _now_ms(), "data": None}
        finally:
            self._queue_private()
        if data is HOLD:
            time.sleep(self.faults.hold_s)
            return 0, None
        if data is None:
            return 404, {"code": "40404", "msg": f"no such endpoint: {path}", "requestTime": 0, "data": None}
        return 200, {"code": c.SUCCESS, "msg": "success", "requestTime": _now_ms(), "data": data}

    def _fault_command(self, request: Request) -> tuple[int, Any]:
        try:
            command = request.json() if request.method == "POST" else {}
            dropped = self.drop_connections() if command.pop("drop_ws", False) else 0
            state = self.faults.update(command) | {"dropped": dropped}
        except (ValueError, ExchangeError, orjson.JSONDecodeError) as exc:
            return 400, {"code": "40017", "msg": str(exc), "data": None}
        if command or dropped:
            logger.warning("simulated venue faults: {}", command | ({"drop_ws": dropped} if dropped else {}))
        return 200, {"code": c.SUCCESS, "msg": "success", "data": state}

    def _over_limit(self, path: str) -> bool:
        """Whether ``path`` has had its documented number of requests in the last second."""
        limit = c.RATE_LIMITS.get(path)
        if limit is None:
            return False
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(path, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= limit:
                return True
            window.append(now)
            return False

    def _private(self, request: Request) -> Any:
        ex, path = self.exchange, request.path
        q = request.params() if request.method == "GET" else request.json()
        if path == c.ACCOUNT_INFO:
            assert self.key is not None
            return {"userId": "1000000001", "authorities": list(self.key.authorities), "ips": "127.0.0.1"}
        if path in (c.ACCOUNT, c.ACCOUNTS):
            symbol = q.get("symbol", "")
            leverage = ex.account.leverage.get(symbol, ex.account.default_leverage)
            item = ex.account_item() | {
                "marginMode": ex.account.margin_mode.get(symbol, "crossed"),
                "crossedMarginLeverage": leverage,
            }
            return item if path == c.ACCOUNT else [item]
        if path == c.SET_LEVERAGE:
            ex.set_leverage(q["symbol"], int(q["leverage"]))
            return {"symbol": q["symbol"], "marginCoin": "USDT", "crossMarginLeverage": int(q["leverage"])}
        if path == c.SET_MARGIN_MODE:
            ex.set_margin_mode(q["symbol"], q["marginMode"])
            return {"symbol": q["symbol"], "marginCoin": "USDT", "marginMode": q["marginMode"]}
        if path == c.SET_POSITION_MODE:
            ex.set_position_mode(q["posMode"])
            return {"posMode": q["posMode"]}
        if path == c.PLACE_ORDER:
            order = ex.place(q)
            if self.faults.take("hold_after_accept"):
                return HOLD
            return {"orderId": order.order_id, "clientOid": order.client_oid}
        if path == c.CANCEL_ORDER:
            order = ex.cancel(q["symbol"], q.get("orderId", ""), q.get("clientOid", ""))
            return {"orderId": order.order_id, "clientOid": order.client_oid}
        if path == c.ORDER_DETAIL:
            return ex.find(q["symbol"], q.get("orderId", ""), q.get("clientOid", "")).item()
        if path == c.OPEN_ORDERS:
            items = [o.item() for o in ex.open_orders(q.get("symbol", ""))]
            return {"entrustedList": items or None, "endId": items[-1]["orderId"] if items else None}
        if path == c.FILLS:
            fills = ex.fills(int(q.get("startTime", 0)), int(q.get("endTime", 2**62)), q.get("idLessThan", ""),
                             int(q.get("limit", 100)), q.get("symbol", ""))  # fmt: skip
            return {"fillList": [f.item() for f in fills], "endId": fills[-1].trade_id if fills else None}
        if path == c.POSITIONS:
            return ex.positions()
        return None

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


def _now_ms() -> int:
    return int(time.time() * 1000)


def _error_event(code: str, message: str, arg: Mapping[str, Any] | None = None) -> str:
    return orjson.dumps({"event": "error", "code": code, "msg": message} | ({"arg": arg} if arg else {})).decode()


def _handler(route: Callable[[Request], tuple[int, Any]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no delayed-ACK stall

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def _answer(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            request = Request(method, parts.path, parts.query, body, dict(self.headers.items()))
            try:
                status, answer = route(request)
            except (KeyError, ValueError, TypeError) as exc:
                status, answer = 400, {"code": "40017", "msg": f"parameter verification failed: {exc}", "data": None}
            if status == 0:
                self.close_connection = True
                return
            payload = orjson.dumps(answer)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
