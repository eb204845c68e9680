"""Bitget v2 WebSocket streams: subscriptions spread over connections, kept alive, and re-made.

Each connection owns a fixed share of the subscriptions (at most ``WS_CHANNELS_PER_CONNECTION``),
sent in subscribe messages paced under the venue's 10 messages per second per connection. It
sends the text ``ping`` every 30 s. A connection that delivers nothing (not even ``pong``) for
``silence_s`` is treated as dropped, like a closed one: it reconnects after a doubling, jittered
backoff, logs in again if private, resubscribes, and then calls ``on_reconnect`` so the owner
re-syncs over REST whatever the gap may have hidden (fills, orders, positions). A frame that cannot
be parsed is counted and skipped, never fatal.

Threads. 500 symbols take about 30 connections, and a thread blocked in websocket-client's
``recv`` on each cost several times the parsing itself: its framing is pure Python, and the GIL
passed between 30 threads at every frame. So the connections of a family (``bitget-public-0``,
``bitget-public-1``...) are all read by one thread (``bitget-public-reader``, see ``ws_reader``),
which also pings them and notices silence; ``on_push`` runs on it, so it must be quick. What may
wait (connecting, logging in, paced subscribing, the owner's ``on_reconnect`` over REST, the
backoff) runs on a thread of the connection's own, named after it, that ends once the reader has
the socket. Families are read apart so that one owner's flood (the public feed) never queues
another's pushes (the private fills), and each owner's CPU shows under its own threads' names.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import websocket
from loguru import logger

from adapters.bitget import constants as c
from adapters.bitget.auth import Credentials, ws_login
from adapters.bitget.parsing import PONG, Event, ParseError, Push, frame
from adapters.bitget.ws_reader import Link, attach, detach

ARGS_PER_MESSAGE = 10


@dataclass(frozen=True, slots=True)
class Channel:
    """One subscription: a channel of one symbol (``instId``), or ``default`` for private ones."""

    channel: str
    inst_id: str
    inst_type: str = c.PRODUCT_TYPE

    def arg(self) -> dict[str, str]:
        key = "coin" if self.channel == "account" else "instId"
        return {"instType": self.inst_type, "channel": self.channel, key: self.inst_id}


def plan(channels: Sequence[Channel], per_connection: int = c.WS_CHANNELS_PER_CONNECTION) -> list[list[Channel]]:
    """Split subscriptions over connections, each holding at most ``per_connection``, in order."""
    if per_connection < 1:
        raise ValueError(f"a connection must hold at least one channel, not {per_connection}")
    unique = list(dict.fromkeys(channels))
    return [unique[i : i + per_connection] for i in range(0, len(unique), per_connection)]


def subscribe_messages(channels: Sequence[Channel], op: str = "subscribe") -> list[str]:
    """Subscribe (or unsubscribe) frames of up to ``ARGS_PER_MESSAGE`` channels each."""
    return [
        orjson.dumps({"op": op, "args": [ch.arg() for ch in channels[i : i + ARGS_PER_MESSAGE]]}).decode()
        for i in range(0, len(channels), ARGS_PER_MESSAGE)
    ]


@dataclass(slots=True)
class StreamStats:
    """What a connection has seen, for status and tests."""

    connects: int = 0
    pushes: int = 0
    malformed: int = 0
    callback_errors: int = 0
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=100))


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect waits: ``initial_s`` doubling to ``max_s``, each scaled by 1 +/- ``jitter``."""

    initial_s: float = 1.0
    max_s: float = 30.0
    jitter: float = 0.2

    def delay(self, failures: int, rng: random.Random) -> float:
        base = min(self.max_s, self.initial_s * 2.0 ** max(0, failures - 1))
        return base * (1.0 + rng.uniform(-self.jitter, self.jitter))


def _drop(ws: websocket.WebSocket | None) -> None:
    """Shut a socket down at once, from any thread (it also wakes a ``recv`` blocked on it)."""
    if ws is not None:
        ws.abort()  # type: ignore[no-untyped-call]


def _reader_name(name: str) -> str:
    """The reader thread of a connection's family: its name less any number (``bitget-public-3``
    is read by ``bitget-public-reader``)."""
    return f"{name.rstrip('0123456789').rstrip('-')}-reader"


class Connection:
    """One WebSocket connection and its subscriptions: made on a thread of its own, read by its
    family's shared reader."""

    def __init__(
        self,
        url: str,
        channels: Sequence[Channel],
        on_push: Callable[[Push, int], None],
        *,
        credentials: Credentials | None = None,
        on_reconnect: Callable[[], None] | None = None,
        ping_s: float = c.WS_PING_INTERVAL_S,
        silence_s: float = 60.0,
        backoff: Backoff = Backoff(),
        name: str = "bitget-ws",
    ) -> None:
        self.url = url
        self.channels = list(channels)
        self.on_push = on_push
        self.credentials = credentials
        self.on_reconnect = on_reconnect
        self.ping_s = ping_s
        self.silence_s = silence_s
        self.backoff = backoff
        self.stats = StreamStats()
        self._name = name
        self._reader = _reader_name(name)
        self._stop = threading.Event()
        self._ws: websocket.WebSocket | None = None
        self._link: Link | None = None
        self._worker: threading.Thread | None = None
        self._rng = random.Random()
        self._failures = 0
        self._subscribed = False
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._worker is not None:
                raise RuntimeError(f"{self._name} was started already: a connection starts once")
            self._spawn(0.0)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        _drop(self._ws)  # wakes a worker blocked on the socket (logging in, subscribing)
        with self._lock:
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout_s)
        with self._lock:
            link, self._link, self._ws = self._link, None, None
        if link is not None:
            detach(link, timeout_s)

    def subscribe(self, channels: Sequence[Channel]) -> None:
        """Add channels: sent now if connected, and resubscribed after every reconnect."""
        self._change(channels, "subscribe")

    def unsubscribe(self, channels: Sequence[Channel]) -> None:
        """Drop channels: unsubscribed now if connected, and not resubscribed after a reconnect."""
        self._change(channels, "unsubscribe")

    def _change(self, channels: Sequence[Channel], op: str) -> None:
        with self._lock:
            if op == "subscribe":
                new = [ch for ch in channels if ch not in self.channels]
                self.channels.extend(new)
            else:
                new = [ch for ch in channels if ch in self.channels]
                self.channels = [ch for ch in self.channels if ch not in new]
            ws = self._ws if self._subscribed else None
        if ws is not None and new:
            try:
                self._send_paced(ws, subscribe_messages(new, op))
            except (OSError, websocket.WebSocketException) as exc:
                logger.warning(
                    "{}: {} of {} channels not sent now ({}); the reconnect will", self.url, op, len(new), exc
                )

    @property
    def connected(self) -> bool:
        ws = self._ws
        return ws is not None and ws.connected

    def _spawn(self, delay: float) -> None:
        """Start a worker that connects after ``delay`` (under ``_lock``). It first waits for the
        one before it, which may still be returning, so ``stop`` has only the last to join."""
        self._worker = threading.Thread(target=self._connect, args=(delay, self._worker), name=self._name, daemon=True)
        self._worker.start()

    def _connect(self, delay: float, previous: threading.Thread | None) -> None:
        """Attempts until one is being read, or ``stop``. The backoff grows over failed attempts
        and starts again after a session that got as far as subscribing (a routine drop, such as
        the venue's daily close, waits the initial delay again, not the last outage's longest)."""
        if previous is not None:
            previous.join()
        while not self._stop.wait(delay):
            try:
                self._open(reconnect=self.stats.connects > 0)
                return
            except (OSError, websocket.WebSocketException, ConnectionError, ParseError) as exc:
                ws, self._ws = self._ws, None
                if ws is not None:
                    ws.shutdown()  # type: ignore[no-untyped-call]
                if self._stop.is_set():
                    return
                delay = self._failed(exc)

    def _failed(self, exc: Exception) -> float:
        """Count a lost or failed session; the wait before the next attempt."""
        self._failures = 1 if self._subscribed else self._failures + 1
        self.stats.errors.append(str(exc))
        delay = self.backoff.delay(self._failures, self._rng)
        logger.warning("{}: stream lost ({}); reconnecting in {:.1f}s", self.url, exc, delay)
        return delay

    def _open(self, reconnect: bool) -> None:
        """Connect, log in, subscribe and re-sync, then hand the socket to the reader.

        The owner's re-sync runs before the reader sees the socket: pushes that arrive meanwhile
        wait in it and are delivered after the re-sync, in order, as they always were."""
        self._subscribed = False
        # websocket-client's own UTF-8 check is pure Python: orjson checks it anyway when it
        # parses (a frame that is not UTF-8 is counted as malformed).
        ws = websocket.create_connection(self.url, timeout=min(self.ping_s, self.silence_s), skip_utf8_validation=True)
        self._ws = ws
        self.stats.connects += 1
        if self.credentials is not None:
            self._login(ws)
        with self._lock:
            channels = list(self.channels)
        self._send_paced(ws, subscribe_messages(channels))
        with self._lock:
            missed = [ch for ch in self.channels if ch not in channels]
            dropped = [ch for ch in channels if ch not in self.channels]
            self._subscribed = True
        if missed:
            self._send_paced(ws, subscribe_messages(missed))
        if dropped:
            self._send_paced(ws, subscribe_messages(dropped, "unsubscribe"))
        if reconnect and self.on_reconnect is not None:
            self._call(self.on_reconnect)
        link = Link(ws, self._handle, self._lost, ping="ping", ping_s=self.ping_s, silence_s=self.silence_s)
        with self._lock:
            if self._stop.is_set():
                raise ConnectionError("stopped")
            attach(link, self._reader)
            self._link = link

    def _lost(self, link: Link, exc: Exception) -> None:
        """The reader lost ``link``: connect again on a new worker, never on the reader's thread."""
        with self._lock:
            if link is not self._link or self._stop.is_set():
                return
            self._link = self._ws = None
            self._spawn(self._failed(exc))

    def _login(self, ws: websocket.WebSocket) -> None:
        assert self.credentials is not None
        ws.send(orjson.dumps(ws_login(self.credentials, int(time.time()))).decode())
        answer = frame(ws.recv())
        if not isinstance(answer, Event) or answer.event != "login" or answer.code not in ("0", ""):
            raise ConnectionError(f"login refused: {answer}")

    def _send_paced(self, ws: websocket.WebSocket, messages: list[str]) -> None:
        """Send control messages under the venue's per-connection message rate."""
        gap = 1.0 / (c.WS_MAX_MESSAGES_PER_S - 2)  # leave room for pings
        for i, message in enumerate(messages):
            if i:
                self._stop.wait(gap)
            ws.send(message)

    def _handle(self, text: str | bytes, recv_ns: int) -> None:
        try:
            parsed: Any = frame(text)
        except ParseError as exc:
            self.stats.malformed += 1
            if self.stats.malformed <= 10 or self.stats.malformed % 1000 == 0:
                logger.warning("{}: malformed frame #{} skipped: {}", self.url, self.stats.malformed, exc)
            return
        if parsed == PONG:
            return
        if isinstance(parsed, Event):
            if parsed.event == "error":
                self.stats.errors.append(f"{parsed.code}: {parsed.message}")
                logger.error("{}: venue error {}: {}", self.url, parsed.code, parsed.message)
            return
        self.stats.pushes += 1
        self._call(self.on_push, parsed, recv_ns)

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        """Run an owner's callback; its exception is logged and counted, never the stream's end,
        except ``ConnectionError``: the owner asks for the connection to be made again (a
        re-sync that could not finish is tried again after the next reconnect)."""
        try:
            callback(*args)
        except ConnectionError:
            raise
        except Exception:
            self.stats.callback_errors += 1
            logger.exception("{}: callback {} failed", self.url, getattr(callback, "__name__", callback))
