"""The Bitget client's private side (``BitgetRest``, ``Connection``) against the simulated venue
(``BitgetSimServer``) over loopback: signatures, orders, fills, positions, hedge mode, the venue's
rate limits and injected faults (``POST /sim/faults``), and the private WebSocket stream.

Every test gets its own venue (a 2-symbol market on 127.0.0.1) and stops it, and every stream it
opened, when it ends. Waits poll with deadlines. What the venue really holds is read from its
matching engine (``srv.exchange``), so "placed exactly once" is checked where it happens.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import requests
import websocket

from adapters.bitget import constants as c
from adapters.bitget.auth import Credentials, query_string, rest_headers, ws_login
from adapters.bitget.errors import (
    AuthError,
    BitgetError,
    EnvironmentMismatch,
    RateLimited,
    TimestampError,
)
from adapters.bitget.parsing import Push, venue_fill, venue_position
from adapters.bitget.rest import BitgetRest, OrderNotPlaced, RetryPolicy, order_body, to_step
from adapters.bitget.stream import Backoff, Channel, Connection
from adapters.sim.bitget_server import BitgetSimServer
from adapters.sim.exchange import SimFill, SimOrder
from adapters.sim.signature_check import SimKey
from engine.app import build_sim_feed
from engine.config import load_config
from engine.messages import Side
from tests.test_bitget_stream import wait_until

API_KEY, SECRET, PASSPHRASE = "sim-key", "sim-secret", "sim-pass"
KEY = SimKey(API_KEY, SECRET, PASSPHRASE)
CREDS = Credentials(API_KEY, SECRET, PASSPHRASE)
SYMBOL = "BTCUSDT"
QTY = 0.01
QUICK = RetryPolicy(attempts=4, backoff_s=0.02, max_backoff_s=0.1)
FAST = Backoff(initial_s=0.05, max_s=0.2, jitter=0.0)
PING_S = 0.25
DEADLINE_S = 5.0
PRIVATE = [Channel("fill", "default"), Channel("orders", "default"), Channel("positions", "default")]


# --- the venue, the client, streams ---------------------------------------------------------------


@pytest.fixture
def srv() -> Iterator[BitgetSimServer]:
    """A running simulated venue whose ``SYMBOL`` has a book (market orders need a price)."""
    config = load_config(cli={"sim.symbols": 2, "sim.history_bars": 60}, env={})
    server = BitgetSimServer(build_sim_feed(config), key=KEY)
    server.start()
    try:
        wait_until(lambda: server.exchange.mark(SYMBOL) > 0, what=f"the first {SYMBOL} book")
        yield server
    finally:
        server.stop()


@pytest.fixture
def rest(srv: BitgetSimServer) -> BitgetRest:
    return BitgetRest(srv.rest_url, CREDS, retry=QUICK)


class Pushes:
    """An ``on_push`` that keeps every push, and counts ``on_reconnect`` calls."""

    def __init__(self) -> None:
        self.pushes: list[Push] = []
        self.reconnects = 0

    def __call__(self, push: Push, recv_ns: int) -> None:
        self.pushes.append(push)

    def on_reconnect(self) -> None:
        self.reconnects += 1

    def items(self, channel: str, client_oid: str | None = None) -> list[dict[str, Any]]:
        found = [item for p in list(self.pushes) if p.channel == channel for item in p.data]
        return [i for i in found if client_oid is None or i.get("clientOid") == client_oid]

    def count(self, channel: str) -> int:
        return sum(1 for p in list(self.pushes) if p.channel == channel)


@pytest.fixture
def open_stream(srv: BitgetSimServer) -> Iterator[Callable[..., tuple[Connection, Pushes]]]:
    """Open a private ``Connection`` to ``srv`` (fast timings); every one is stopped at the end."""
    opened: list[Connection] = []

    def open_(credentials: Credentials | None = CREDS, **overrides: Any) -> tuple[Connection, Pushes]:
        seen = Pushes()
        options: dict[str, Any] = {"ping_s": PING_S, "backoff": FAST, "on_reconnect": seen.on_reconnect}
        conn = Connection(srv.ws_private_url, PRIVATE, seen, credentials=credentials, **(options | overrides))
        opened.append(conn)
        conn.start()
        return conn, seen

    try:
        yield open_
    finally:
        for conn in opened:
            conn.stop(2.0)


def subscribed(seen: Pushes, times: int = 1) -> None:
    """Wait for the positions snapshot the venue sends on subscribing (the last of ``PRIVATE``)."""
    wait_until(lambda: seen.count("positions") >= times, what=f"subscription #{times} to the private channels")


@pytest.fixture
def raw_ws(srv: BitgetSimServer) -> Iterator[Callable[[str], websocket.WebSocket]]:
    """Open plain WebSocket connections (to see the venue's exact answers); all closed at the end."""
    opened: list[websocket.WebSocket] = []

    def open_(url: str) -> websocket.WebSocket:
        ws = websocket.create_connection(url, timeout=DEADLINE_S)
        opened.append(ws)
        return ws

    try:
        yield open_
    finally:
        for ws in opened:
            ws.close()


def fault(srv: BitgetSimServer, **command: Any) -> dict[str, Any]:
    response = requests.post(srv.rest_url + "/sim/faults", json=command, timeout=DEADLINE_S)
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def lot(srv: BitgetSimServer) -> float:
    return srv.feed.instrument(SYMBOL).lot_size


def buy(rest: BitgetRest, srv: BitgetSimServer, client_oid: str, qty: float = QTY, **kw: Any) -> dict[str, Any]:
    return rest.place_order(order_body(SYMBOL, Side.LONG, qty, lot(srv), client_oid, **kw))


def resting_buy_body(srv: BitgetSimServer, client_oid: str) -> dict[str, str]:
    """A limit buy at half the market: it rests for the life of a test."""
    price = to_step(srv.exchange.mark(SYMBOL) / 2.0, srv.feed.instrument(SYMBOL).tick_size)
    return {
        "symbol": SYMBOL, "marginMode": "crossed", "size": to_step(QTY, lot(srv)), "orderType": "limit",
        "price": price, "force": "gtc", "side": "buy", "reduceOnly": "NO", "clientOid": client_oid,
    }  # fmt: skip


def venue_orders(srv: BitgetSimServer, client_oid: str) -> list[SimOrder]:
    """Every order the venue's book of record holds under ``client_oid`` (the duplicate-clientOid
    check would hide a second one from ``find``, so read the engine's order table itself)."""
    return [o for o in srv.exchange._orders.values() if o.client_oid == client_oid]


def venue_fills(srv: BitgetSimServer, client_oid: str) -> list[SimFill]:
    return [f for f in srv.exchange.fills(symbol=SYMBOL) if f.order.client_oid == client_oid]


def error_event(ws: websocket.WebSocket) -> dict[str, Any]:
    """The next control event on ``ws`` (skipping pushes)."""
    while True:
        decoded = orjson.loads(ws.recv())
        if "event" in decoded:
            return dict(decoded)


# --- signed requests ------------------------------------------------------------------------------


def test_a_signed_get_with_query_parameters_is_accepted(rest: BitgetRest):
    account = rest.account(SYMBOL)

    assert account["marginCoin"] == "USDT"
    assert float(account["equity"]) == pytest.approx(100_000.0)
    assert account["posMode"] == "one_way_mode"


def test_the_venue_checks_the_signature_over_the_query_string_exactly_as_sent(srv: BitgetSimServer):
    params = {"symbol": SYMBOL, "productType": c.PRODUCT_TYPE, "marginCoin": c.MARGIN_COIN}
    signed_query = query_string(params)  # keys sorted
    headers = rest_headers(CREDS, int(time.time() * 1000), "GET", c.ACCOUNT, signed_query, "")
    reordered = f"symbol={SYMBOL}&productType={c.PRODUCT_TYPE}&marginCoin={c.MARGIN_COIN}"

    as_signed = requests.get(f"{srv.rest_url}{c.ACCOUNT}?{signed_query}", headers=headers, timeout=DEADLINE_S)
    other_order = requests.get(f"{srv.rest_url}{c.ACCOUNT}?{reordered}", headers=headers, timeout=DEADLINE_S)

    assert as_signed.json()["code"] == c.SUCCESS
    assert other_order.status_code == 400
    assert other_order.json()["code"] == "40009"


@pytest.mark.parametrize(
    ("credentials", "error", "code"),
    [
        (Credentials(API_KEY, "wrong-secret", PASSPHRASE), AuthError, "40009"),
        (Credentials(API_KEY, SECRET, "wrong-pass"), AuthError, "40012"),
        (Credentials("unknown-key", SECRET, PASSPHRASE), AuthError, "40006"),
        (Credentials(API_KEY, SECRET, PASSPHRASE, demo=True), EnvironmentMismatch, "40099"),
    ],
    ids=["wrong-secret", "wrong-passphrase", "unknown-key", "demo-key-on-live-venue"],
)
def test_a_badly_signed_request_is_refused_with_the_typed_error_and_its_code(
    srv: BitgetSimServer, credentials: Credentials, error: type[BitgetError], code: str
):
    client = BitgetRest(srv.rest_url, credentials, retry=QUICK)

    with pytest.raises(error) as info:
        client.positions()

    assert info.value.code == code
    assert info.value.http_status == 400


def test_a_refused_signature_is_not_retried(srv: BitgetSimServer):
    client = BitgetRest(srv.rest_url, Credentials(API_KEY, "wrong-secret", PASSPHRASE), retry=QUICK)

    with pytest.raises(AuthError):
        client.positions()

    assert srv.requests[c.POSITIONS] == 1


@pytest.mark.parametrize("offset_ms", [-60_000, 60_000], ids=["behind", "ahead"])
def test_a_clock_a_minute_off_is_refused_with_a_timestamp_error_40008(srv: BitgetSimServer, offset_ms: int):
    client = BitgetRest(srv.rest_url, CREDS, retry=QUICK, clock_ms=lambda: int(time.time() * 1000) + offset_ms)

    with pytest.raises(TimestampError) as info:
        client.positions()

    assert info.value.code == "40008"


def test_a_clock_within_the_window_is_accepted(srv: BitgetSimServer):
    client = BitgetRest(srv.rest_url, CREDS, retry=QUICK, clock_ms=lambda: int(time.time() * 1000) - 20_000)

    assert client.positions() == []


def test_a_private_path_without_signature_headers_is_refused_with_40001(rest: BitgetRest):
    with pytest.raises(AuthError) as info:
        rest.request("GET", c.POSITIONS, {"productType": c.PRODUCT_TYPE})

    assert info.value.code == "40001"


# --- orders, positions, fills ---------------------------------------------------------------------


def test_a_market_order_placed_over_rest_opens_the_position_all_position_reports(
    srv: BitgetSimServer, rest: BitgetRest
):
    placed = buy(rest, srv, "open-1")

    (position,) = [venue_position(p) for p in rest.positions()]
    fills = [venue_fill(f) for f in rest.fills(0)]
    assert placed["clientOid"] == "open-1"
    assert position.symbol == SYMBOL
    assert position.side is Side.LONG
    assert position.qty == pytest.approx(QTY)
    assert position.entry == pytest.approx(sum(f.qty * f.price for f in fills) / QTY)
    assert {f.order_id for f in fills} == {placed["orderId"]}


def test_a_reduce_only_sell_closes_the_position(srv: BitgetSimServer, rest: BitgetRest):
    buy(rest, srv, "open-1")

    rest.place_order(order_body(SYMBOL, Side.SHORT, QTY, lot(srv), "close-1", reduce_only=True))

    assert rest.positions() == []


def test_fills_pages_with_id_less_than_and_returns_each_fill_once_oldest_first(srv: BitgetSimServer, rest: BitgetRest):
    for i in range(5):
        buy(rest, srv, f"page-{i}", qty=0.001)
    on_venue = [f.trade_id for f in reversed(srv.exchange.fills())]
    before = srv.requests.get(c.FILLS, 0)

    fills = rest.fills(0, limit=2)

    assert [f["tradeId"] for f in fills] == on_venue
    assert [int(f["cTime"]) for f in fills] == sorted(int(f["cTime"]) for f in fills)
    assert srv.requests[c.FILLS] - before == len(on_venue) // 2 + 1  # full pages, then a short one


def test_a_resting_limit_is_listed_open_until_canceled(srv: BitgetSimServer, rest: BitgetRest):
    rest.place_order(resting_buy_body(srv, "rest-1"))
    listed_before = [o["clientOid"] for o in rest.open_orders()]

    canceled = rest.cancel_order(SYMBOL, "rest-1")

    assert listed_before == ["rest-1"]
    assert canceled["clientOid"] == "rest-1"
    assert rest.open_orders() == []
    assert rest.order_detail(SYMBOL, "rest-1")["state"] == "canceled"


def test_hedge_mode_over_rest_opens_a_long_and_a_short_and_closes_the_long(srv: BitgetSimServer, rest: BitgetRest):
    answer = rest.request(
        "POST", c.SET_POSITION_MODE, body={"productType": c.PRODUCT_TYPE, "posMode": "hedge_mode"}, signed=True
    )
    size = lot(srv)

    rest.place_order(order_body(SYMBOL, Side.LONG, QTY, size, "long-1", hedge=True))
    rest.place_order(order_body(SYMBOL, Side.SHORT, 2 * QTY, size, "short-1", hedge=True))
    both = sorted((p.side, p.qty) for p in map(venue_position, rest.positions()))
    rest.place_order(order_body(SYMBOL, Side.SHORT, QTY, size, "close-long", hedge=True, reduce_only=True))

    assert answer == {"posMode": "hedge_mode"}
    assert both == [(Side.LONG, pytest.approx(QTY)), (Side.SHORT, pytest.approx(2 * QTY))]
    (left,) = map(venue_position, rest.positions())
    assert (left.side, left.qty) == (Side.SHORT, pytest.approx(2 * QTY))
    closing = [venue_fill(f) for f in rest.fills(0) if f["clientOid"] == "close-long"]
    assert closing and all(f.side is Side.SHORT and f.closing for f in closing)


def test_the_position_mode_cannot_change_over_rest_with_a_position_open(srv: BitgetSimServer, rest: BitgetRest):
    buy(rest, srv, "open-1")

    with pytest.raises(BitgetError) as info:
        rest.request(
            "POST", c.SET_POSITION_MODE, body={"productType": c.PRODUCT_TYPE, "posMode": "hedge_mode"}, signed=True
        )

    assert info.value.code == "40017"


# --- injected REST faults -------------------------------------------------------------------------


def test_a_read_answered_429_is_retried_until_it_succeeds(srv: BitgetSimServer, rest: BitgetRest):
    fault(srv, rest_429=2)

    assert rest.positions() == []
    assert srv.requests[c.POSITIONS] == 3


def test_a_place_order_answered_429_is_sent_again_and_placed_exactly_once(srv: BitgetSimServer, rest: BitgetRest):
    fault(srv, rest_429=1)  # the venue refuses a 429 before it looks at the order

    placed = buy(rest, srv, "limited-1")

    assert srv.requests[c.PLACE_ORDER] == 2
    (order,) = venue_orders(srv, "limited-1")
    assert placed["orderId"] == order.order_id
    assert sum(f.qty for f in venue_fills(srv, "limited-1")) == pytest.approx(QTY)


def test_a_place_order_answered_429_on_every_attempt_raises_rate_limited_and_places_nothing(
    srv: BitgetSimServer, rest: BitgetRest
):
    fault(srv, rest_429=QUICK.attempts)

    with pytest.raises(RateLimited):
        buy(rest, srv, "limited-1")

    assert srv.requests[c.PLACE_ORDER] == QUICK.attempts
    assert venue_orders(srv, "limited-1") == []


def test_a_5xx_before_accepting_an_order_is_looked_up_and_reported_not_placed(srv: BitgetSimServer, rest: BitgetRest):
    fault(srv, rest_5xx=1)

    with pytest.raises(OrderNotPlaced):
        buy(rest, srv, "five-1")

    assert srv.requests[c.PLACE_ORDER] == 1
    assert srv.requests[c.ORDER_DETAIL] == 1
    assert venue_orders(srv, "five-1") == []


def test_an_order_not_placed_sent_again_under_its_client_oid_is_placed_exactly_once(
    srv: BitgetSimServer, rest: BitgetRest
):
    fault(srv, rest_5xx=1)
    with pytest.raises(OrderNotPlaced):
        buy(rest, srv, "five-1")

    placed = buy(rest, srv, "five-1")

    (order,) = venue_orders(srv, "five-1")
    assert placed["orderId"] == order.order_id
    (position,) = map(venue_position, rest.positions())
    assert position.qty == pytest.approx(QTY)


def test_a_place_order_whose_answer_times_out_returns_the_order_found_by_client_oid(
    srv: BitgetSimServer,
):
    client = BitgetRest(srv.rest_url, CREDS, retry=QUICK, timeout_s=0.5)
    fault(srv, hold_after_accept=1, hold_s=1.5)

    placed = client.place_order(order_body(SYMBOL, Side.LONG, QTY, lot(srv), "held-1"))

    (order,) = venue_orders(srv, "held-1")
    assert placed == {"orderId": order.order_id, "clientOid": "held-1"}
    fills = venue_fills(srv, "held-1")
    assert sum(f.qty for f in fills) == pytest.approx(QTY)
    assert len({f.trade_id for f in fills}) == len(fills)
    assert srv.requests[c.PLACE_ORDER] == 1


# --- the venue's own rate limits ------------------------------------------------------------------


def burst(srv: BitgetSimServer, path: str, count: int) -> list[requests.Response]:
    """``count`` unsigned GETs of ``path`` as fast as plain ``requests`` sends them, each on a new
    session and connection (kept-alive requests to the sim are slow, see the Nagle test below)."""
    answers = []
    for _ in range(count):
        with requests.Session() as session:
            answers.append(session.get(srv.rest_url + path, timeout=DEADLINE_S))
    return answers


def test_more_than_the_documented_rate_at_one_path_is_answered_429(srv: BitgetSimServer):
    limit = int(c.RATE_LIMITS[c.SERVER_TIME])

    answers = burst(srv, c.SERVER_TIME, limit + 1)

    assert [a.status_code for a in answers[:limit]] == [200] * limit
    assert answers[limit].status_code == 429
    assert answers[limit].json()["code"] == "429"


def test_the_rate_is_counted_per_path(srv: BitgetSimServer):
    limit = int(c.RATE_LIMITS[c.SERVER_TIME])
    answers = burst(srv, c.SERVER_TIME, limit + 1)

    (other,) = burst(srv, c.CONTRACTS + f"?productType={c.PRODUCT_TYPE}", 1)

    assert answers[-1].status_code == 429
    assert other.status_code == 200


def test_a_kept_alive_rest_request_is_answered_within_a_few_milliseconds(srv: BitgetSimServer):
    session = requests.Session()
    session.get(srv.rest_url + c.SERVER_TIME, timeout=DEADLINE_S)  # opens the connection
    took = []
    for _ in range(5):
        started = time.perf_counter()
        session.get(srv.rest_url + c.SERVER_TIME, timeout=DEADLINE_S)
        took.append(time.perf_counter() - started)

    assert sorted(took)[2] < 0.025


def test_a_pacing_client_gets_every_answer_over_more_than_the_rate(srv: BitgetSimServer):
    client = BitgetRest(srv.rest_url, retry=QUICK)
    limit = int(c.RATE_LIMITS[c.SERVER_TIME])

    started = time.monotonic()
    times = [client.server_time() for _ in range(limit + 3)]

    assert len(times) == limit + 3
    assert time.monotonic() - started >= 1.0  # paced: the 21st waited for the first to leave the window


class FirstRequestLate(requests.Session):
    """A session whose first request reaches the venue 300 ms after it was paced (a TLS handshake
    on a distant route), while later ones arrive at once."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent += 1
        if self.sent == 1:
            time.sleep(0.3)
        return super().request(*args, **kwargs)


def test_a_pacing_client_is_never_refused_even_when_its_first_request_arrives_late(srv: BitgetSimServer):
    client = BitgetRest(srv.rest_url, CREDS, retry=RetryPolicy(attempts=1), session=FirstRequestLate())
    limit = int(c.RATE_LIMITS[c.ACCOUNT_INFO])  # 1 per second: the second request is paced a second after the first

    for _ in range(limit + 1):
        client.request("GET", c.ACCOUNT_INFO, signed=True)

    assert srv.requests[c.ACCOUNT_INFO] == limit + 1


# --- the private stream ---------------------------------------------------------------------------


def test_the_private_stream_pushes_the_fill_of_an_order_placed_over_rest(
    srv: BitgetSimServer, rest: BitgetRest, open_stream: Callable[..., tuple[Connection, Pushes]]
):
    _, seen = open_stream()
    subscribed(seen)

    buy(rest, srv, "ws-1")

    listed = [venue_fill(f) for f in rest.fills(0)]
    wait_until(lambda: len(seen.items("fill", "ws-1")) >= len(listed), what="every fill push")
    pushed = [venue_fill(i) for i in seen.items("fill", "ws-1")]
    assert [(f.trade_id, f.qty, f.price) for f in pushed] == [(f.trade_id, f.qty, f.price) for f in listed]
    assert pushed == listed


def test_the_private_stream_pushes_the_order_from_live_to_filled(
    srv: BitgetSimServer, rest: BitgetRest, open_stream: Callable[..., tuple[Connection, Pushes]]
):
    _, seen = open_stream()
    subscribed(seen)

    placed = buy(rest, srv, "ws-1")

    wait_until(lambda: any(o["status"] == "filled" for o in seen.items("orders", "ws-1")), what="the filled order")
    statuses = [o["status"] for o in seen.items("orders", "ws-1")]
    assert statuses[0] == "live"
    assert statuses[-1] == "filled"
    assert {o["orderId"] for o in seen.items("orders", "ws-1")} == {placed["orderId"]}


def test_the_private_stream_pushes_the_position_the_order_opened(
    srv: BitgetSimServer, rest: BitgetRest, open_stream: Callable[..., tuple[Connection, Pushes]]
):
    _, seen = open_stream()
    subscribed(seen)

    buy(rest, srv, "ws-1")

    wait_until(lambda: seen.count("positions") >= 2, what="a positions push")
    newest = [p for p in list(seen.pushes) if p.channel == "positions"][-1]
    (pushed,) = map(venue_position, newest.data)
    (listed,) = map(venue_position, rest.positions())
    assert (pushed.symbol, pushed.side, pushed.qty, pushed.entry) == (
        listed.symbol,
        listed.side,
        listed.qty,
        listed.entry,
    )


def test_a_positions_push_lists_each_position_once_at_its_current_size(
    srv: BitgetSimServer, rest: BitgetRest, open_stream: Callable[..., tuple[Connection, Pushes]]
):
    _, seen = open_stream()
    subscribed(seen)
    rest.set_leverage(SYMBOL, 100)

    buy(rest, srv, "walk-1", qty=20.0)  # more than any one level of the book: several fills

    assert len(venue_fills(srv, "walk-1")) >= 2
    wait_until(lambda: seen.count("positions") >= 2, what="a positions push")
    frames = [p.data for p in list(seen.pushes) if p.channel == "positions"][1:]
    for data in frames:
        held = [(d["symbol"], d["holdSide"]) for d in data]
        assert len(held) == len(set(held)), held
    assert [float(d["total"]) for d in frames[-1]] == [pytest.approx(20.0)]


def test_a_login_with_a_wrong_passphrase_gets_error_30012(
    srv: BitgetSimServer, raw_ws: Callable[[str], websocket.WebSocket]
):
    ws = raw_ws(srv.ws_private_url)

    ws.send(orjson.dumps(ws_login(Credentials(API_KEY, SECRET, "wrong-pass"), int(time.time()))).decode())

    answer = error_event(ws)
    assert (answer["event"], answer["code"]) == ("error", "30012")


def test_a_stream_refused_at_login_gets_no_private_pushes(
    srv: BitgetSimServer, rest: BitgetRest, open_stream: Callable[..., tuple[Connection, Pushes]]
):
    conn, seen = open_stream(Credentials(API_KEY, SECRET, "wrong-pass"))
    wait_until(lambda: any("30012" in e for e in list(conn.stats.errors)), what="the login refusal")

    buy(rest, srv, "ws-1")
    time.sleep(0.3)

    assert seen.pushes == []
    assert conn.stats.pushes == 0


def test_subscribing_to_fill_before_login_gets_error_30004(
    srv: BitgetSimServer, raw_ws: Callable[[str], websocket.WebSocket]
):
    ws = raw_ws(srv.ws_private_url)

    ws.send(orjson.dumps({"op": "subscribe", "args": [Channel("fill", "default").arg()]}).decode())

    answer = error_event(ws)
    assert (answer["event"], answer["code"]) == ("error", c.LOGIN_REQUIRED_CODE)
    assert answer["arg"]["channel"] == "fill"


def test_subscribing_to_fill_on_the_public_path_gets_error_30004(
    srv: BitgetSimServer, raw_ws: Callable[[str], websocket.WebSocket]
):
    ws = raw_ws(srv.ws_url)

    ws.send(orjson.dumps({"op": "subscribe", "args": [Channel("fill", "default").arg()]}).decode())

    answer = error_event(ws)
    assert (answer["event"], answer["code"]) == ("error", c.LOGIN_REQUIRED_CODE)


def test_a_refused_subscribe_delivers_no_fills(
    srv: BitgetSimServer, rest: BitgetRest, raw_ws: Callable[[str], websocket.WebSocket]
):
    ws = raw_ws(srv.ws_private_url)
    ws.send(orjson.dumps({"op": "subscribe", "args": [Channel("fill", "default").arg()]}).decode())
    error_event(ws)

    buy(rest, srv, "ws-1")

    ws.settimeout(0.3)
    with pytest.raises(websocket.WebSocketTimeoutException):
        ws.recv()


# --- faults on the stream -------------------------------------------------------------------------


def test_a_dropped_stream_reconnects_resubscribes_and_calls_on_reconnect(
    srv: BitgetSimServer, rest: BitgetRest, open_stream: Callable[..., tuple[Connection, Pushes]]
):
    conn, seen = open_stream()
    subscribed(seen)

    state = fault(srv, drop_ws=True)

    assert state["dropped"] == 1
    wait_until(lambda: seen.reconnects == 1, what="on_reconnect")
    assert conn.stats.connects == 2
    subscribed(seen, times=2)
    buy(rest, srv, "after-drop")
    wait_until(lambda: seen.items("fill", "after-drop"), what="a fill pushed after the reconnect")


def test_a_duplicate_rate_of_one_delivers_every_push_twice(
    srv: BitgetSimServer, rest: BitgetRest, open_stream: Callable[..., tuple[Connection, Pushes]]
):
    _, seen = open_stream()
    subscribed(seen)
    fault(srv, duplicate_rate=1.0)

    buy(rest, srv, "dup-1")

    trade_ids = [f["tradeId"] for f in rest.fills(0)]
    wait_until(lambda: len(seen.items("fill", "dup-1")) >= 2 * len(trade_ids), what="the duplicated fill pushes")
    time.sleep(0.2)
    pushed = [f["tradeId"] for f in seen.items("fill", "dup-1")]
    assert sorted(pushed) == sorted(trade_ids * 2)


def test_a_malformed_frame_before_every_push_is_counted_and_skipped(
    srv: BitgetSimServer, rest: BitgetRest, open_stream: Callable[..., tuple[Connection, Pushes]]
):
    conn, seen = open_stream()
    subscribed(seen)
    fault(srv, malformed_rate=1.0)
    pushes_before = conn.stats.pushes

    buy(rest, srv, "bad-1")

    trade_ids = [f["tradeId"] for f in rest.fills(0)]
    wait_until(lambda: len(seen.items("fill", "bad-1")) == len(trade_ids), what="the fill pushes")
    wait_until(lambda: conn.stats.malformed == conn.stats.pushes - pushes_before, what="one malformed frame per push")
    assert conn.stats.malformed >= len(trade_ids)
    assert conn.stats.connects == 1
    assert conn.connected


def test_a_silent_stream_is_treated_as_dropped_and_reconnected(
    srv: BitgetSimServer, rest: BitgetRest, open_stream: Callable[..., tuple[Connection, Pushes]]
):
    conn, seen = open_stream(silence_s=1.0)
    subscribed(seen)

    fault(srv, silent_s=3)

    wait_until(lambda: conn.stats.connects >= 2, timeout_s=3.0, what="a reconnect after the silence")
    wait_until(lambda: seen.reconnects == 1, timeout_s=DEADLINE_S, what="on_reconnect once the venue talks again")
    buy(rest, srv, "after-silence")
    wait_until(lambda: seen.items("fill", "after-silence"), what="a fill pushed after the silence")
