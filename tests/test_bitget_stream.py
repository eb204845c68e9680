"""Bitget v2 WebSocket streams (``adapters.bitget.stream``) against a loopback venue on 127.0.0.1.

The venue is a ``websockets`` server on its own thread and event loop, over TLS for the tests
that ask for it. It records every text message each connection sends, answers ``ping`` with
``pong``, acks each subscribed arg, checks login signatures with the test secret, and lets a test
push frames (or raw bytes), ping, close, fall silent or drop a connection. Connections run with
tiny timings; tests wait on conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import itertools
import math
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import websocket
from hypothesis import given
from hypothesis import strategies as st
from websocket import ABNF
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from adapters.bitget import constants as c
from adapters.bitget.auth import Credentials, prehash, sign
from adapters.bitget.parsing import Push
from adapters.bitget.stream import (
    ARGS_PER_MESSAGE,
    Backoff,
    Channel,
    Connection,
    plan,
    subscribe_messages,
)
from adapters.bitget.ws_reader import CONTINUATION, READ_SIZE, TEXT, FrameDecoder

SECRET = "test-secret"
CREDS = Credentials(api_key="my-key", secret_key=SECRET, passphrase="my-pass")
PING_S = 0.2
SILENCE_S = 0.6
FAST = Backoff(initial_s=0.05, max_s=0.2, jitter=0.0)
DEADLINE_S = 5.0

TICKERS = [Channel("ticker", "BTCUSDT"), Channel("ticker", "ETHUSDT"), Channel("books5", "BTCUSDT")]
PRIVATE = [Channel("orders", "default"), Channel("positions", "default"), Channel("account", "default")]


def wait_until(condition: Callable[[], Any], timeout_s: float = DEADLINE_S, what: str = "condition") -> Any:
    """Poll ``condition`` until it is truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.01)


def push_frame(channel: Channel, data: list[Any], action: str = "snapshot", ts: int = 1_735_680_000_130) -> str:
    return orjson.dumps({"action": action, "arg": channel.arg(), "data": data, "ts": ts}).decode()


def server_frame(payload: str | bytes, opcode: int = TEXT, fin: bool = True) -> bytes:
    """A frame as a server sends it (unmasked), for writing raw bytes to a connection."""
    data = payload.encode() if isinstance(payload, str) else payload
    return ABNF(int(fin), 0, 0, 0, opcode, 0, data).format()  # type: ignore[no-untyped-call]


# --- the loopback venue ---------------------------------------------------------------------------


@dataclass
class Peer:
    """One client connection as the venue saw it."""

    ws: ServerConnection
    opened_at: float
    log: list[tuple[float, str, str]] = field(default_factory=list)
    """``(monotonic time, "in" | "out", text)`` in the order things happened."""
    silent: bool = False
    login_verified: list[bool] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)

    @property
    def received(self) -> list[str]:
        return [text for _, way, text in self.log if way == "in"]

    def messages(self, op: str) -> list[dict[str, Any]]:
        found = []
        for text in self.received:
            if text.startswith("{"):
                decoded = orjson.loads(text)
                if decoded.get("op") == op:
                    found.append(decoded)
        return found

    def subscribed(self) -> list[dict[str, str]]:
        return [arg for message in self.messages("subscribe") for arg in message["args"]]

    def pings(self) -> list[float]:
        return [at for at, way, text in self.log if way == "in" and text == "ping"]


class Venue:
    """A Bitget-like WebSocket server on 127.0.0.1 with its own thread and event loop."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.peers: list[Peer] = []
        self.login_reply: str = "answer"
        """``answer`` (ack or refusal), ``close`` (close the socket), ``ignore`` (say nothing)."""
        self.login_delay_s = 0.0
        self.refusal: dict[str, Any] = {"event": "error", "code": "30005", "msg": "login failed"}
        self.push_with_login = ""
        """A push written together with the login answer, in one write (over TLS, one record)."""
        self.url = ""
        self._tls = tls
        self._loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="bitget-venue", daemon=True)

    # lifecycle

    def start(self) -> None:
        self._thread.start()
        self._server = self._call(self._serve())
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'wss' if self._tls else 'ws'}://127.0.0.1:{port}/v2/ws/public"

    def close(self) -> None:
        if self._server is not None:
            self._call(self._shut_down(self._server, list(self.peers)))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=DEADLINE_S)

    async def _serve(self) -> Server:
        return await serve(self._handle, "127.0.0.1", 0, ssl=self._tls)

    @staticmethod
    async def _shut_down(server: Server, peers: list[Peer]) -> None:
        for peer in peers:  # a client that died without closing its socket must not hold the server up
            peer.ws.transport.abort()
        server.close()
        await server.wait_closed()

    # what tests do

    def peer(self, index: int) -> Peer:
        return wait_until(lambda: len(self.peers) > index and self.peers[index], what=f"connection #{index + 1}")

    def subscribed_peer(self, index: int, count: int) -> Peer:
        """Connection ``index`` once it has subscribed ``count`` args."""
        peer = self.peer(index)
        wait_until(lambda: len(peer.subscribed()) >= count, what=f"{count} subscriptions on #{index + 1}")
        return peer

    def finished_peers(self, count: int) -> list[Peer]:
        """The first ``count`` connections, once each has closed (so their logs are complete)."""
        wait_until(
            lambda: len(self.peers) >= count and all(p.closed.is_set() for p in self.peers[:count]),
            what=f"{count} finished connections",
        )
        return self.peers[:count]

    def push(self, peer: Peer, text: str) -> None:
        self._call(self._send(peer, text))

    def push_many(self, peer: Peer, texts: list[str]) -> None:
        self._call(self._send_many(peer, texts))

    def drop(self, peer: Peer) -> None:
        """Cut the TCP connection without a close handshake."""
        self._loop.call_soon_threadsafe(peer.ws.transport.abort)
        wait_until(peer.closed.is_set, what="the dropped connection to close")

    def write(self, peer: Peer, data: bytes) -> None:
        """Write raw bytes (frames the server library would not send) in one write."""
        self._call(self._write(peer, data))

    def ping(self, peer: Peer) -> None:
        """Send a WebSocket ping frame and wait for the client's pong."""
        self._call(self._ping(peer))

    def close_peer(self, peer: Peer) -> None:
        """Start the close handshake (code 1001, going away) and wait for it to end."""
        self._call(peer.ws.close(1001, "going away"))

    # the server side

    async def _send(self, peer: Peer, text: str) -> None:
        if peer.silent:
            return
        peer.log.append((time.monotonic(), "out", text))
        await peer.ws.send(text)

    @staticmethod
    async def _write(peer: Peer, data: bytes) -> None:
        peer.ws.transport.write(data)

    @staticmethod
    async def _ping(peer: Peer) -> None:
        pong = await peer.ws.ping(b"are you there")
        await asyncio.wait_for(pong, DEADLINE_S)

    async def _send_many(self, peer: Peer, texts: list[str]) -> None:
        for text in texts:
            await self._send(peer, text)

    async def _handle(self, ws: ServerConnection) -> None:
        peer = Peer(ws, time.monotonic())
        self.peers.append(peer)
        try:
            async for message in ws:
                text = message if isinstance(message, str) else message.decode()
                peer.log.append((time.monotonic(), "in", text))
                if not peer.silent:
                    await self._answer(peer, text)
        except ConnectionClosed:
            pass
        finally:
            peer.closed.set()

    async def _answer(self, peer: Peer, text: str) -> None:
        if text == "ping":
            await self._send(peer, "pong")
            return
        request = orjson.loads(text)
        op = request.get("op")
        if op in ("subscribe", "unsubscribe"):
            for arg in request["args"]:
                await self._send(peer, orjson.dumps({"event": op, "arg": arg}).decode())
        elif op == "login":
            arg = request["args"][0]
            verified = arg["sign"] == sign(SECRET, prehash(arg["timestamp"], "GET", c.WS_LOGIN_PATH))
            peer.login_verified.append(verified)
            answer = {"event": "login", "code": 0} if verified else self.refusal
            if self.login_reply == "close":
                await peer.ws.close()
            elif self.login_reply == "answer":
                asyncio.get_running_loop().create_task(self._answer_later(peer, orjson.dumps(answer).decode()))

    async def _answer_later(self, peer: Peer, text: str) -> None:
        await asyncio.sleep(self.login_delay_s)
        if self.push_with_login:
            peer.log += [(time.monotonic(), "out", text), (time.monotonic(), "out", self.push_with_login)]
            peer.ws.transport.write(server_frame(text) + server_frame(self.push_with_login))
            return
        with contextlib.suppress(ConnectionClosed):
            await self._send(peer, text)


@pytest.fixture
def venue() -> Iterator[Venue]:
    server = Venue()
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_venue(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Venue]:
    """The venue over TLS (``wss://``), its certificate trusted by websocket-client."""
    cert_path, key_path = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    monkeypatch.setenv("WEBSOCKET_CLIENT_CA_BUNDLE", str(cert_path))
    server = Venue(context)
    server.start()
    yield server
    server.close()


@dataclass
class Stream:
    """A started Connection and what its callbacks saw."""

    conn: Connection
    pushes: list[tuple[Push, int]]
    reconnects: list[float]


@pytest.fixture
def open_stream(venue: Venue) -> Iterator[Callable[..., Stream]]:
    opened: list[Connection] = []

    def open_(channels: list[Channel] = TICKERS, **overrides: Any) -> Stream:
        pushes: list[tuple[Push, int]] = []
        reconnects: list[float] = []
        on_push = overrides.pop("on_push", lambda push, recv_ns: pushes.append((push, recv_ns)))
        options: dict[str, Any] = {"ping_s": PING_S, "silence_s": SILENCE_S, "backoff": FAST}
        options.update(overrides)
        conn = Connection(
            venue.url,
            channels,
            on_push,
            on_reconnect=lambda: reconnects.append(time.monotonic()),
            **options,
        )
        opened.append(conn)
        conn.start()
        return Stream(conn, pushes, reconnects)

    yield open_
    for conn in opened:
        conn.stop(timeout_s=2.0)


# --- plan -----------------------------------------------------------------------------------------


def test_plan_splits_channels_in_order_into_chunks_of_at_most_per_connection():
    channels = [Channel("ticker", f"S{i}USDT") for i in range(7)]

    assert plan(channels, per_connection=3) == [channels[0:3], channels[3:6], channels[6:7]]


def test_plan_keeps_only_the_first_of_duplicate_channels():
    a, b, d = Channel("ticker", "BTCUSDT"), Channel("books5", "BTCUSDT"), Channel("ticker", "ETHUSDT")

    assert plan([a, b, a, d, b], per_connection=2) == [[a, b], [d]]


def test_plan_of_nothing_is_no_connections():
    assert plan([], per_connection=5) == []


@pytest.mark.parametrize("per_connection", [0, -1])
def test_plan_refuses_a_connection_that_holds_no_channel(per_connection):
    with pytest.raises(ValueError, match="at least one channel"):
        plan([Channel("ticker", "BTCUSDT")], per_connection=per_connection)


channels_st = st.lists(
    st.builds(
        Channel, st.sampled_from(["ticker", "books5", "trade", "candle1m"]), st.sampled_from(["A", "B", "C", "D"])
    ),
    max_size=40,
)


@given(channels=channels_st, per_connection=st.integers(min_value=1, max_value=12))
def test_plan_places_every_channel_exactly_once_and_never_overfills_a_connection(channels, per_connection):
    chunks = plan(channels, per_connection)

    placed = [ch for chunk in chunks for ch in chunk]
    assert placed == list(dict.fromkeys(channels))
    assert all(1 <= len(chunk) <= per_connection for chunk in chunks)
    assert len(chunks) == math.ceil(len(placed) / per_connection)


# --- subscribe messages ---------------------------------------------------------------------------


def test_subscribe_messages_hold_at_most_ten_args_each_in_order():
    channels = [Channel("ticker", f"S{i}USDT") for i in range(23)]

    messages = [orjson.loads(m) for m in subscribe_messages(channels)]

    assert ARGS_PER_MESSAGE == 10
    assert [len(m["args"]) for m in messages] == [10, 10, 3]
    assert all(m["op"] == "subscribe" for m in messages)
    assert [a["instId"] for m in messages for a in m["args"]] == [ch.inst_id for ch in channels]


def test_a_subscribe_arg_names_the_product_type_channel_and_symbol():
    (message,) = subscribe_messages([Channel("candle1m", "BTCUSDT")])

    assert orjson.loads(message) == {
        "op": "subscribe",
        "args": [{"instType": "USDT-FUTURES", "channel": "candle1m", "instId": "BTCUSDT"}],
    }


def test_the_account_channel_is_keyed_by_coin_not_inst_id():
    (message,) = subscribe_messages(PRIVATE)

    assert orjson.loads(message)["args"] == [
        {"instType": "USDT-FUTURES", "channel": "orders", "instId": "default"},
        {"instType": "USDT-FUTURES", "channel": "positions", "instId": "default"},
        {"instType": "USDT-FUTURES", "channel": "account", "coin": "default"},
    ]


def test_unsubscribe_messages_carry_the_same_args_with_op_unsubscribe():
    (message,) = subscribe_messages(TICKERS, op="unsubscribe")

    decoded = orjson.loads(message)
    assert decoded["op"] == "unsubscribe"
    assert decoded["args"] == [ch.arg() for ch in TICKERS]


def test_no_channels_make_no_subscribe_messages():
    assert subscribe_messages([]) == []


# --- backoff --------------------------------------------------------------------------------------


def test_backoff_doubles_from_initial_and_stops_at_max():
    backoff = Backoff(initial_s=1.0, max_s=30.0, jitter=0.0)
    rng = random.Random(7)

    assert [backoff.delay(n, rng) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_backoff_before_any_failure_waits_the_initial_delay():
    assert Backoff(initial_s=0.5, max_s=8.0, jitter=0.0).delay(0, random.Random(1)) == 0.5


def test_backoff_jitter_scales_each_wait_within_plus_or_minus_jitter():
    backoff = Backoff(initial_s=1.0, max_s=30.0, jitter=0.2)
    rng = random.Random(12345)

    for failures in range(1, 8):
        base = min(30.0, 2.0 ** (failures - 1))
        delays = [backoff.delay(failures, rng) for _ in range(200)]
        assert all(base * 0.8 <= d <= base * 1.2 for d in delays)
        assert max(delays) - min(delays) > base * 0.2  # jitter is really applied, not a constant


def test_backoff_with_the_same_seed_gives_the_same_waits():
    backoff = Backoff(initial_s=1.0, max_s=30.0, jitter=0.2)

    first = [backoff.delay(n, random.Random(99)) for n in range(1, 6)]
    again = [backoff.delay(n, random.Random(99)) for n in range(1, 6)]

    assert first == again


# --- a live connection ----------------------------------------------------------------------------


def test_a_connection_subscribes_exactly_its_channels_on_connect(venue, open_stream):
    channels = [Channel("ticker", f"S{i}USDT") for i in range(12)]

    stream = open_stream(channels)
    peer = venue.subscribed_peer(0, len(channels))

    assert peer.subscribed() == [ch.arg() for ch in channels]
    assert [len(m["args"]) for m in peer.messages("subscribe")] == [10, 2]
    assert stream.conn.stats.connects == 1


def test_subscribe_messages_are_paced_under_ten_messages_per_second(venue, open_stream):
    channels = [Channel("ticker", f"S{i}USDT") for i in range(35)]

    open_stream(channels)
    peer = venue.subscribed_peer(0, len(channels))

    sent_at = [at for at, way, text in peer.log if way == "in" and '"op":"subscribe"' in text]
    assert len(sent_at) == 4
    assert sent_at[-1] - sent_at[0] >= 3 * 0.1  # four messages spread over more than 0.3 s: under 10/s


def test_pushes_reach_on_push_as_parsed_pushes_with_a_receive_time(venue, open_stream):
    stream = open_stream()
    peer = venue.subscribed_peer(0, len(TICKERS))
    item = {"instId": "ETHUSDT", "lastPr": "3120.55", "ts": "1735680000123"}

    before_ns = time.perf_counter_ns()
    venue.push(peer, push_frame(TICKERS[1], [item], action="update", ts=1_735_680_000_130))
    wait_until(lambda: stream.pushes, what="the push")
    after_ns = time.perf_counter_ns()

    ((push, recv_ns),) = stream.pushes
    assert push == Push("ticker", "ETHUSDT", "update", [item], 1_735_680_000_130)
    assert before_ns <= recv_ns <= after_ns


def test_stats_count_pushes_but_not_acks_or_pongs(venue, open_stream):
    stream = open_stream()
    peer = venue.subscribed_peer(0, len(TICKERS))
    wait_until(lambda: peer.pings(), what="a ping answered with pong")

    for i in range(4):
        venue.push(peer, push_frame(TICKERS[0], [{"n": i}]))
    wait_until(lambda: len(stream.pushes) == 4, what="four pushes")

    assert stream.conn.stats.pushes == 4
    assert [p.data for p, _ in stream.pushes] == [[{"n": 0}], [{"n": 1}], [{"n": 2}], [{"n": 3}]]
    assert stream.conn.stats.malformed == 0


def test_a_connection_sends_the_text_ping_every_ping_s(venue, open_stream):
    open_stream()
    peer = venue.subscribed_peer(0, len(TICKERS))

    pings = wait_until(lambda: len(peer.pings()) >= 4 and peer.pings(), what="four pings")

    gaps = [later - earlier for earlier, later in itertools.pairwise(pings)]
    assert all(PING_S * 0.75 <= gap <= PING_S * 3 for gap in gaps), gaps
    assert pings[0] - peer.opened_at >= PING_S * 0.75  # not sent before the first interval is up


# --- reconnecting ---------------------------------------------------------------------------------


def test_a_dropped_connection_reconnects_resubscribes_and_delivers_again(venue, open_stream):
    stream = open_stream()
    first = venue.subscribed_peer(0, len(TICKERS))
    venue.push(first, push_frame(TICKERS[0], [{"n": 1}]))
    wait_until(lambda: len(stream.pushes) == 1, what="the first push")

    venue.drop(first)
    second = venue.subscribed_peer(1, len(TICKERS))
    venue.push(second, push_frame(TICKERS[2], [{"n": 2}]))
    wait_until(lambda: len(stream.pushes) == 2, what="a push after the reconnect")

    assert stream.conn.stats.connects == 2
    assert second.subscribed() == first.subscribed() == [ch.arg() for ch in TICKERS]
    assert [(p.channel, p.symbol, p.data) for p, _ in stream.pushes] == [
        ("ticker", "BTCUSDT", [{"n": 1}]),
        ("books5", "BTCUSDT", [{"n": 2}]),
    ]


def test_on_reconnect_runs_once_per_reconnect_and_never_on_the_first_connect(venue, open_stream):
    stream = open_stream()
    reconnects_while_reading = []

    for index in range(3):
        peer = venue.subscribed_peer(index, len(TICKERS))
        venue.push(peer, push_frame(TICKERS[0], [{"session": index}]))
        wait_until(lambda n=index + 1: len(stream.pushes) == n, what=f"session #{index + 1} to be reading")
        reconnects_while_reading.append(len(stream.reconnects))
        if index < 2:
            venue.drop(peer)

    assert reconnects_while_reading == [0, 1, 2]
    assert stream.conn.stats.connects == 3


def test_a_silent_venue_counts_as_dropped_and_is_reconnected(venue, open_stream):
    stream = open_stream()
    first = venue.subscribed_peer(0, len(TICKERS))
    first.silent = True  # no more pongs, acks or pushes on this connection

    second = venue.subscribed_peer(1, len(TICKERS))
    wait_until(lambda: stream.reconnects, what="on_reconnect")
    venue.push(second, push_frame(TICKERS[0], [{"n": 1}]))
    wait_until(lambda: stream.pushes, what="a push after the reconnect")

    last_heard = max(at for at, way, _ in first.log if way == "out")
    assert second.opened_at - last_heard >= SILENCE_S
    assert first.pings() and first.pings()[-1] > last_heard  # it kept pinging into the silence
    assert wait_until(first.closed.is_set, what="the client to close the silent connection")
    assert any("silent" in error for error in stream.conn.stats.errors)
    assert stream.conn.stats.connects == 2
    assert second.subscribed() == [ch.arg() for ch in TICKERS]
    assert len(stream.reconnects) == 1


def test_a_venue_that_answers_pongs_only_is_not_silent(venue, open_stream):
    stream = open_stream()
    peer = venue.subscribed_peer(0, len(TICKERS))

    wait_until(lambda: time.monotonic() - peer.opened_at > SILENCE_S * 2, what="several silence windows")

    assert len(peer.pings()) >= 3
    assert stream.conn.stats.connects == 1
    assert len(venue.peers) == 1


class RecordingBackoff(Backoff):
    """A Backoff that also records the failure count it was asked about."""

    def __init__(self, calls: list[int]) -> None:
        super().__init__(initial_s=0.05, max_s=10.0, jitter=0.0)
        object.__setattr__(self, "calls", calls)

    def delay(self, failures: int, rng: random.Random) -> float:
        self.calls.append(failures)  # type: ignore[attr-defined]
        return Backoff.delay(self, failures, rng)


def test_after_a_healthy_session_drops_the_backoff_starts_again_from_initial(venue, open_stream):
    calls: list[int] = []
    stream = open_stream(backoff=RecordingBackoff(calls))

    for index in range(3):
        peer = venue.subscribed_peer(index, len(TICKERS))
        venue.push(peer, push_frame(TICKERS[0], [{"session": index}]))
        wait_until(lambda n=index + 1: len(stream.pushes) == n, what=f"session #{index + 1} to deliver")
        venue.drop(peer)
    venue.subscribed_peer(3, len(TICKERS))

    assert calls == [1, 1, 1]  # each drop followed a healthy session: actually [1, 2, 3]


# --- bad frames and venue errors ------------------------------------------------------------------


def test_malformed_frames_are_counted_and_skipped(venue, open_stream):
    stream = open_stream()
    peer = venue.subscribed_peer(0, len(TICKERS))

    venue.push(peer, "this is not json")
    venue.push(peer, "[1, 2, 3]")
    venue.push(peer, orjson.dumps({"action": "snapshot", "data": [{"x": 1}], "ts": 1}).decode())
    venue.push(peer, push_frame(TICKERS[0], [{"n": "valid"}]))
    wait_until(lambda: stream.pushes, what="the valid push after the bad ones")

    assert stream.conn.stats.malformed == 3
    assert [p.data for p, _ in stream.pushes] == [[{"n": "valid"}]]
    assert stream.conn.stats.pushes == 1
    assert stream.conn.stats.connects == 1


def test_a_venue_error_event_is_recorded_and_the_connection_lives_on(venue, open_stream):
    stream = open_stream()
    peer = venue.subscribed_peer(0, len(TICKERS))

    venue.push(peer, orjson.dumps({"event": "error", "code": "30001", "msg": "channel does not exist"}).decode())
    venue.push(peer, push_frame(TICKERS[1], [{"n": 1}]))
    wait_until(lambda: stream.pushes, what="a push after the error")

    assert list(stream.conn.stats.errors) == ["30001: channel does not exist"]
    assert stream.conn.stats.connects == 1
    assert stream.conn.stats.malformed == 0
    assert stream.conn.connected


# --- private streams ------------------------------------------------------------------------------


def test_a_private_connection_first_sends_a_verifiable_login(venue, open_stream):
    before_s = int(time.time())
    open_stream(PRIVATE, credentials=CREDS)
    peer = venue.subscribed_peer(0, len(PRIVATE))
    after_s = int(time.time())

    first = orjson.loads(peer.received[0])
    assert first["op"] == "login"
    (arg,) = first["args"]
    assert set(arg) == {"apiKey", "passphrase", "timestamp", "sign"}
    assert (arg["apiKey"], arg["passphrase"]) == ("my-key", "my-pass")
    assert arg["timestamp"].isdigit() and before_s <= int(arg["timestamp"]) <= after_s  # seconds, not ms
    assert arg["sign"] == sign(SECRET, prehash(arg["timestamp"], "GET", "/user/verify"))
    assert peer.login_verified == [True]
    assert peer.subscribed() == [ch.arg() for ch in PRIVATE]


def test_a_private_connection_subscribes_only_after_the_login_ack(venue, open_stream):
    venue.login_delay_s = 0.2
    open_stream(PRIVATE, credentials=CREDS, ping_s=1.0, silence_s=2.0)
    peer = venue.subscribed_peer(0, len(PRIVATE))

    ack = next(i for i, (_, way, text) in enumerate(peer.log) if way == "out" and '"event":"login"' in text)
    before_ack = [text for _, way, text in peer.log[:ack] if way == "in"]
    after_ack = [text for _, way, text in peer.log[ack:] if way == "in"]
    assert [orjson.loads(text)["op"] for text in before_ack] == ["login"]
    assert orjson.loads(after_ack[0])["op"] == "subscribe"


def test_private_pushes_carry_the_default_symbol(venue, open_stream):
    stream = open_stream(PRIVATE, credentials=CREDS)
    peer = venue.subscribed_peer(0, len(PRIVATE))

    venue.push(peer, push_frame(PRIVATE[2], [{"marginCoin": "USDT", "available": "962.4"}]))
    wait_until(lambda: stream.pushes, what="the account push")

    ((push, _),) = stream.pushes
    assert (push.channel, push.symbol) == ("account", "default")


@pytest.mark.parametrize(
    "refusal",
    [
        {"event": "error", "code": "30005", "msg": "login failed"},
        {"event": "login", "code": 30012, "msg": "sign error"},
    ],
    ids=["error-event", "login-event-with-code"],
)
def test_a_refused_login_retries_and_never_subscribes(venue, open_stream, refusal):
    venue.refusal = refusal
    wrong = Credentials(api_key="my-key", secret_key="not-the-secret", passphrase="my-pass")

    stream = open_stream(PRIVATE, credentials=wrong)
    attempts = venue.finished_peers(3)

    assert [peer.login_verified for peer in attempts] == [[False]] * 3
    assert [peer.subscribed() for peer in attempts] == [[]] * 3
    assert stream.conn.stats.connects >= 3
    assert any("login refused" in error for error in stream.conn.stats.errors)
    assert stream.pushes == [] and stream.reconnects == []


def test_a_login_left_unanswered_is_abandoned_and_retried(venue, open_stream):
    venue.login_reply = "ignore"

    stream = open_stream(PRIVATE, credentials=CREDS)
    attempts = venue.finished_peers(2)

    assert [len(peer.messages("login")) for peer in attempts] == [1, 1]
    assert [peer.subscribed() for peer in attempts] == [[], []]
    assert stream.conn.stats.connects >= 2
    assert any("timed out" in error for error in stream.conn.stats.errors)


def test_a_venue_that_closes_the_socket_during_login_is_retried(venue, open_stream, monkeypatch):
    deaths: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: deaths.append(args.exc_value))
    venue.login_reply = "close"

    stream = open_stream(PRIVATE, credentials=CREDS)
    wait_until(lambda: stream.conn.stats.connects >= 2 or deaths, what="a second login attempt or a dead thread")

    assert deaths == []
    assert stream.conn.stats.connects >= 2


# --- stopping -------------------------------------------------------------------------------------


def _stream_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


def test_stop_ends_the_thread_promptly_even_while_blocked_in_recv(venue, open_stream):
    # A long ping_s makes recv block for seconds: only stop() closing the socket can wake it.
    stream = open_stream(ping_s=10.0, silence_s=20.0, name="stream-under-stop")
    peer = venue.subscribed_peer(0, len(TICKERS))
    wait_until(lambda: len([t for _, way, t in peer.log if way == "out"]) == len(TICKERS), what="the acks")

    started = time.monotonic()
    stream.conn.stop(timeout_s=5.0)
    elapsed = time.monotonic() - started

    assert elapsed < 1.0
    assert _stream_threads("stream-under-stop") == []
    assert not stream.conn.connected
    assert wait_until(peer.closed.is_set, what="the venue to see the close")


def test_no_reconnect_happens_after_stop(venue, open_stream):
    stream = open_stream()
    venue.subscribed_peer(0, len(TICKERS))

    stream.conn.stop(timeout_s=5.0)
    time.sleep(FAST.max_s * 3)  # proving an absence: longer than any reconnect wait

    assert len(venue.peers) == 1
    assert stream.conn.stats.connects == 1
    assert stream.reconnects == []


def test_stop_during_the_reconnect_wait_ends_promptly_without_reconnecting(venue, open_stream):
    stream = open_stream(backoff=Backoff(initial_s=10.0, max_s=10.0, jitter=0.0), name="stream-in-backoff")
    peer = venue.subscribed_peer(0, len(TICKERS))
    venue.drop(peer)
    wait_until(lambda: stream.conn.stats.errors, what="the drop to be noticed")

    started = time.monotonic()
    stream.conn.stop(timeout_s=5.0)

    assert time.monotonic() - started < 1.0
    assert _stream_threads("stream-in-backoff") == []
    assert len(venue.peers) == 1
    assert stream.conn.stats.connects == 1


def test_a_failing_push_callback_is_counted_and_the_stream_goes_on(venue, open_stream):
    calls = []

    def explode(push, _recv_ns):
        calls.append(push)
        if len(calls) == 1:
            raise RuntimeError("the owner's bug")

    stream = open_stream(on_push=explode)
    peer = venue.subscribed_peer(0, len(TICKERS))
    venue.push(peer, push_frame(TICKERS[0], [{"n": 1}]))
    venue.push(peer, push_frame(TICKERS[1], [{"n": 2}]))
    wait_until(lambda: len(calls) == 2, what="both pushes handed to the callback")

    assert stream.conn.stats.callback_errors == 1
    assert stream.conn.connected


def test_stop_before_start_does_nothing():
    Connection("ws://127.0.0.1:9", [Channel("ticker", "BTCUSDT")], lambda _p, _n: None).stop()


# --- framing, as the shared reader decodes it ------------------------------------------------------


def test_a_ping_frame_from_the_venue_is_answered_with_a_pong(venue, open_stream):
    stream = open_stream(ping_s=10.0, silence_s=20.0)
    peer = venue.subscribed_peer(0, len(TICKERS))

    venue.ping(peer)  # fails the test unless the pong comes back

    assert stream.conn.stats.connects == 1
    assert stream.conn.connected


def test_a_close_frame_from_the_venue_is_echoed_and_the_connection_made_again(venue, open_stream):
    stream = open_stream()
    first = venue.subscribed_peer(0, len(TICKERS))

    venue.close_peer(first)
    second = venue.subscribed_peer(1, len(TICKERS))
    venue.push(second, push_frame(TICKERS[0], [{"n": 1}]))
    wait_until(lambda: stream.pushes, what="a push after the reconnect")

    assert first.ws.close_code == 1001  # the client answered the close frame with the venue's own code
    assert any("closed the connection" in error for error in stream.conn.stats.errors)
    assert len(stream.reconnects) == 1


def test_a_masked_frame_from_the_venue_is_a_protocol_error_and_the_connection_is_made_again(venue, open_stream):
    stream = open_stream()
    first = venue.subscribed_peer(0, len(TICKERS))

    mask = b"\x01\x02\x03\x04"
    venue.write(first, b"\x81\x84" + mask + bytes(b ^ m for b, m in zip(b"pong", mask, strict=True)))
    venue.subscribed_peer(1, len(TICKERS))

    assert wait_until(first.closed.is_set, what="the client to drop the connection")
    assert any("masked" in error for error in stream.conn.stats.errors)
    assert stream.conn.stats.connects == 2


def test_a_message_the_venue_sends_in_fragments_is_delivered_whole(venue, open_stream):
    stream = open_stream()
    peer = venue.subscribed_peer(0, len(TICKERS))
    text = push_frame(TICKERS[0], [{"n": "in three fragments"}])

    venue.write(peer, server_frame(text[:10], TEXT, fin=False) + server_frame(text[10:30], CONTINUATION, fin=False))
    venue.write(peer, server_frame(text[30:], CONTINUATION, fin=True))
    wait_until(lambda: stream.pushes, what="the reassembled push")

    assert [p.data for p, _ in stream.pushes] == [[{"n": "in three fragments"}]]
    assert stream.conn.stats.malformed == 0


def test_frames_written_together_are_all_delivered_in_order(venue, open_stream):
    stream = open_stream()
    peer = venue.subscribed_peer(0, len(TICKERS))

    venue.write(peer, b"".join(server_frame(push_frame(TICKERS[0], [{"n": n}])) for n in range(500)))
    wait_until(lambda: len(stream.pushes) == 500, what="500 pushes")

    assert [p.data for p, _ in stream.pushes] == [[{"n": n}] for n in range(500)]
    assert len({recv_ns for _, recv_ns in stream.pushes}) < 500  # one read, one arrival stamp, many frames


def test_a_text_frame_that_is_not_utf8_is_counted_as_malformed_and_skipped(venue, open_stream):
    stream = open_stream()
    peer = venue.subscribed_peer(0, len(TICKERS))

    venue.write(peer, server_frame(b'{"event":"error","msg":"\xff\xfe"}'))
    venue.push(peer, push_frame(TICKERS[0], [{"n": "valid"}]))
    wait_until(lambda: stream.pushes, what="the valid push after the bad one")

    assert stream.conn.stats.malformed == 1
    assert list(stream.conn.stats.errors) == []
    assert stream.conn.stats.connects == 1


def test_a_connection_error_from_on_push_makes_the_connection_again(venue, open_stream):
    calls = []

    def ask_for_a_new_stream(push, _recv_ns):
        calls.append(push)
        if len(calls) == 1:
            raise ConnectionError("the owner wants a fresh stream")

    stream = open_stream(on_push=ask_for_a_new_stream)
    first = venue.subscribed_peer(0, len(TICKERS))
    venue.push(first, push_frame(TICKERS[0], [{"n": 1}]))
    second = venue.subscribed_peer(1, len(TICKERS))
    venue.push(second, push_frame(TICKERS[0], [{"n": 2}]))
    wait_until(lambda: len(calls) == 2, what="the push on the new connection")

    assert wait_until(first.closed.is_set, what="the first connection to close")
    assert "the owner wants a fresh stream" in stream.conn.stats.errors
    assert stream.conn.stats.callback_errors == 0
    assert len(stream.reconnects) == 1


def test_stop_called_from_on_push_delivers_nothing_more(venue, open_stream):
    seen: list[Push] = []
    streams: list[Stream] = []

    def stop_at_the_first(push, _recv_ns):
        seen.append(push)
        streams[0].conn.stop(timeout_s=1.0)

    streams.append(open_stream(on_push=stop_at_the_first, name="stream-stopping-itself"))
    peer = venue.subscribed_peer(0, len(TICKERS))
    venue.write(peer, b"".join(server_frame(push_frame(TICKERS[0], [{"n": n}])) for n in range(3)))

    assert wait_until(peer.closed.is_set, what="the venue to see the close")
    wait_until(lambda: not _stream_threads("stream-stopping-itself-reader"), what="the reader to end")
    assert [p.data for p in seen] == [[{"n": 0}]]
    assert not streams[0].conn.connected
    assert len(venue.peers) == 1


def test_websocket_client_reads_no_further_than_the_frame_it_returns(venue):
    # The reader takes the socket over after the handshake and the login answer: nothing read
    # ahead may be left behind in websocket-client's buffers.
    ws = websocket.create_connection(venue.url, timeout=DEADLINE_S)
    try:
        peer = venue.peer(0)
        venue.write(peer, server_frame("first") + server_frame("second"))

        assert ws.recv() == "first"
        assert ws.frame_buffer.recv_buffer == []
        assert ws.sock is not None
        assert FrameDecoder().feed(ws.sock.recv(READ_SIZE)) == [(TEXT, b"second")]
    finally:
        ws.close()


# --- the shared reader ----------------------------------------------------------------------------


def test_twenty_connections_share_one_reader_thread_and_all_deliver(venue, open_stream):
    symbols = [f"S{i}USDT" for i in range(20)]
    streams = {s: open_stream([Channel("ticker", s)], name=f"fleet-{i}") for i, s in enumerate(symbols)}
    wait_until(lambda: len(venue.peers) == 20 and all(p.subscribed() for p in venue.peers), what="20 subscribed")

    for peer in venue.peers:
        (arg,) = peer.subscribed()
        venue.push(peer, push_frame(Channel("ticker", arg["instId"]), [{"for": arg["instId"]}]))
    wait_until(lambda: all(s.pushes for s in streams.values()), what="a push on every connection")

    assert {s: [p.data for p, _ in stream.pushes] for s, stream in streams.items()} == {
        s: [[{"for": s}]] for s in symbols
    }
    assert len(_stream_threads("fleet-reader")) == 1
    wait_until(
        lambda: not [t for t in threading.enumerate() if t.name.startswith("fleet-") and t.name != "fleet-reader"],
        what="the connect workers to end once the reader has their sockets",
    )
    for stream in streams.values():
        stream.conn.stop(timeout_s=2.0)
    assert _stream_threads("fleet-reader") == []  # the last stop returns once the reader has ended


def test_connections_named_apart_are_read_by_threads_apart(venue, open_stream):
    public = open_stream(name="bitget-public-0")
    private = open_stream(PRIVATE, credentials=CREDS, name="bitget-private")
    for index in range(2):
        peer = venue.peer(index)
        wait_until(lambda p=peer: p.subscribed(), what=f"connection #{index + 1} subscribed")
        venue.push(peer, push_frame(Channel("ticker", "BTCUSDT"), [{"n": index}]))
    wait_until(lambda: public.pushes and private.pushes, what="a push on each")

    assert len(_stream_threads("bitget-public-reader")) == 1
    assert len(_stream_threads("bitget-private-reader")) == 1


# --- TLS ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
def test_a_push_that_came_with_the_login_answer_is_delivered_at_once(request, secure):
    # Over TLS both frames arrive in one record: websocket-client decrypts it all to read the login
    # answer, so the push waits inside the SSL object, where no selector sees it.
    venue = request.getfixturevalue("tls_venue" if secure else "venue")
    venue.push_with_login = push_frame(PRIVATE[0], [{"n": "with the login answer"}])
    pushes: list[Push] = []
    conn = Connection(
        venue.url, [], lambda push, _recv_ns: pushes.append(push), credentials=CREDS, ping_s=30.0, silence_s=60.0
    )
    conn.start()
    try:
        wait_until(lambda: pushes, timeout_s=2.0, what="the push sent with the login answer")
    finally:
        conn.stop(timeout_s=2.0)

    assert [p.data for p in pushes] == [[{"n": "with the login answer"}]]
    assert venue.peers[0].login_verified == [True]


# A TLS handshake takes longer than the plain tests' connect timeout (their ping_s) on a busy machine.
TLS_PING_S = 0.5


def test_a_tls_stream_subscribes_pings_and_delivers_in_order(tls_venue):
    pushes: list[Push] = []
    conn = Connection(
        tls_venue.url, TICKERS, lambda push, _recv_ns: pushes.append(push), ping_s=TLS_PING_S, backoff=FAST
    )
    conn.start()
    try:
        peer = tls_venue.subscribed_peer(0, len(TICKERS))
        for n in range(300):
            tls_venue.push(peer, push_frame(TICKERS[n % 3], [{"n": n}]))
        wait_until(lambda: len(pushes) == 300, what="300 pushes over TLS")
        wait_until(lambda: len(peer.pings()) >= 2, what="two pings over TLS")
    finally:
        conn.stop(timeout_s=2.0)

    assert [p.data for p in pushes] == [[{"n": n}] for n in range(300)]
    assert conn.stats.connects == 1


def test_a_tls_read_waits_for_a_send_under_way(tls_venue):
    # OpenSSL must never read and write one connection at once: a send from another thread racing
    # a read that wants more makes that read look like the end of the stream, now and then. Reads
    # take the lock websocket-client sends under; holding it here stands for a send under way.
    pushes: list[Push] = []
    conn = Connection(
        tls_venue.url, TICKERS[:1], lambda push, _recv_ns: pushes.append(push), ping_s=TLS_PING_S, backoff=FAST
    )
    conn.start()
    try:
        peer = tls_venue.subscribed_peer(0, 1)
        ws = wait_until(lambda: conn.connected and conn._ws, what="the connection")
        with ws.lock:
            tls_venue.push(peer, push_frame(TICKERS[0], [{"n": 1}]))
            time.sleep(0.3)
            assert pushes == []
        wait_until(lambda: pushes, what="the push once the send is done")
    finally:
        conn.stop(timeout_s=2.0)

    assert conn.stats.connects == 1
