"""Bitget v2 REST client (``adapters.bitget.rest``) against a loopback HTTP stub on 127.0.0.1.

The stub records every request exactly as it arrived (method, path, raw query, headers, raw body)
and answers from a per-test script. Clocks are fixed and every sleep is recorded, never slept.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from adapters.bitget import constants as c
from adapters.bitget.auth import Credentials, prehash, sign
from adapters.bitget.errors import (
    BitgetError,
    InsufficientMargin,
    InvalidParameter,
    RateLimited,
    ServerError,
)
from adapters.bitget.rest import BitgetRest, OrderNotPlaced, RetryPolicy, order_body, to_step
from adapters.rate_limiter import RateLimiter
from engine.messages import Side

SECRET = "test-secret"
CREDS = Credentials(api_key="my-key", secret_key=SECRET, passphrase="my-pass")
DEMO_CREDS = Credentials(api_key="my-key", secret_key=SECRET, passphrase="my-pass", demo=True)
NOW_MS = 1_695_806_875_837
MINUTE = 60_000
ACCESS_HEADERS = ("access-key", "access-sign", "access-timestamp", "access-passphrase")


# --- the loopback stub ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request as the stub received it; header names lower-cased."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.query, keep_blank_values=True).items()}

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    def signature_ok(self, secret: str = SECRET) -> bool:
        """Recompute ACCESS-SIGN from the bytes that arrived."""
        message = prehash(self.headers["access-timestamp"], self.method, self.path, self.query, self.body.decode())
        return sign(secret, message) == self.headers["access-sign"]


CLOSE = object()
"""Script entry: drop the connection without answering."""

Reply = tuple[int, Any] | object
"""``(status, body)`` (a dict/list is sent as JSON, bytes as is) or ``CLOSE``."""


def ok(data: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"code": c.SUCCESS, "msg": "success", "requestTime": NOW_MS, "data": data}


def err(code: str, status: int = 200) -> tuple[int, dict[str, Any]]:
    return status, {"code": code, "msg": f"error {code}", "requestTime": NOW_MS, "data": None}


UNAVAILABLE = (503, b"<html><body>503 Service Unavailable</body></html>")


class Stub:
    """What the server saw, and what it answers: a queue of replies or a handler function."""

    def __init__(self) -> None:
        self.url = ""
        self.seen: list[Seen] = []
        self.replies: deque[Reply] = deque()
        self.handler: Callable[[Seen], Reply] | None = None
        self.release = threading.Event()
        self._lock = threading.Lock()

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def answer(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            if self.handler is not None:
                return self.handler(seen)
            if not self.replies:
                return 599, {"code": "script-exhausted", "msg": f"unscripted {seen.method} {seen.path}"}
            return self.replies.popleft()

    def calls(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]


def handler_for(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = stub.answer(Seen(self.command, path, query, headers, body))
            if callable(reply):
                reply = reply()
            if reply is CLOSE:
                self.close_connection = True
                return
            status, payload = reply
            raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def stub() -> Iterator[Stub]:
    fake = Stub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield fake
    fake.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(stub: Stub, sleeps: list[float]) -> Callable[..., BitgetRest]:
    def make(credentials: Credentials | None = CREDS, **kwargs: Any) -> BitgetRest:
        session = requests.Session()
        session.trust_env = False  # no proxy from the environment: loopback only
        kwargs.setdefault("timeout_s", 5.0)
        kwargs.setdefault("limiter", RateLimiter(c.RATE_LIMITS, sleep=lambda _s: None))
        return BitgetRest(
            stub.url,
            credentials,
            session=session,
            clock_ms=lambda: NOW_MS,
            sleep=sleeps.append,
            **kwargs,
        )

    return make


@pytest.fixture
def client(make_client: Callable[..., BitgetRest]) -> BitgetRest:
    return make_client()


def an_order(client_oid: str = "oid-1") -> dict[str, str]:
    return order_body("BTCUSDT", Side.LONG, 0.01, 0.001, client_oid)


# --- signing --------------------------------------------------------------------------------------


def test_a_signed_get_carries_a_signature_over_the_exact_query_it_sent(stub, client):
    stub.script(ok({"orderId": "1", "clientOid": "oid:1/x y"}))

    client.order_detail("BTCUSDT", "oid:1/x y")

    (seen,) = stub.seen
    assert seen.query  # the signature covers a non-empty, percent-encoded query
    assert seen.params == {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "clientOid": "oid:1/x y"}
    assert seen.signature_ok()


def test_a_signed_post_carries_a_signature_over_the_exact_body_it_sent(stub, client):
    stub.script(ok({"symbol": "BTCUSDT"}))

    client.set_leverage("BTCUSDT", 7)

    (seen,) = stub.seen
    assert seen.query == ""
    assert seen.json == {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginCoin": "USDT", "leverage": "7"}
    assert seen.signature_ok()


def test_a_signed_request_sends_key_passphrase_and_the_injected_clock_as_timestamp(stub, client):
    stub.script(ok({}))

    client.account("BTCUSDT")

    headers = stub.seen[0].headers
    assert headers["access-key"] == "my-key"
    assert headers["access-passphrase"] == "my-pass"
    assert headers["access-timestamp"] == str(NOW_MS)


def test_a_live_key_sends_no_paptrading_header(stub, client):
    stub.script(ok({}))

    client.account("BTCUSDT")

    assert c.DEMO_HEADER not in stub.seen[0].headers


def test_a_demo_key_sends_paptrading_1_on_signed_requests(stub, make_client):
    stub.script(ok({}))

    make_client(DEMO_CREDS).account("BTCUSDT")

    assert stub.seen[0].headers[c.DEMO_HEADER] == "1"


def test_public_calls_carry_no_access_or_paptrading_headers_even_with_a_demo_key(stub, make_client):
    stub.script(ok([]), ok([]))
    demo = make_client(DEMO_CREDS)

    demo.tickers()
    demo.contracts()

    for seen in stub.seen:
        assert not {*ACCESS_HEADERS, c.DEMO_HEADER} & set(seen.headers), seen.headers


def test_a_signed_call_without_credentials_raises_40001_without_sending(stub, make_client, sleeps):
    anonymous = make_client(None)

    with pytest.raises(BitgetError) as raised:
        anonymous.account("BTCUSDT")

    assert raised.value.code == "40001"
    assert stub.seen == []
    assert sleeps == []


def test_a_non_ascii_body_is_sent_as_the_utf8_bytes_that_were_signed(stub, client):
    stub.script(ok({"orderId": "9", "clientOid": "ordré-1"}))

    client.place_order(an_order("ordré-1"))

    (seen,) = stub.seen
    assert seen.json["clientOid"] == "ordré-1"
    assert seen.signature_ok()


# --- envelope -------------------------------------------------------------------------------------


def test_a_success_envelope_returns_its_data(stub, client):
    stub.script(ok([{"symbol": "BTCUSDT", "lastPr": "27000.5"}]))

    assert client.tickers() == [{"symbol": "BTCUSDT", "lastPr": "27000.5"}]
    assert stub.seen[0].params == {"productType": "USDT-FUTURES"}


def test_insufficient_margin_is_raised_without_any_retry(stub, client, sleeps):
    stub.script(err("40762"), ok({}))

    with pytest.raises(InsufficientMargin) as raised:
        client.account("BTCUSDT")

    assert raised.value.code == "40762"
    assert len(stub.seen) == 1
    assert sleeps == []


# --- retries --------------------------------------------------------------------------------------


def test_two_429s_then_success_takes_three_requests_and_doubling_backoff(stub, make_client, sleeps):
    stub.script(err("429", status=429), err("429", status=429), ok([{"symbol": "BTCUSDT"}]))
    client = make_client(retry=RetryPolicy(attempts=4, backoff_s=0.1, max_backoff_s=10.0))

    assert client.tickers() == [{"symbol": "BTCUSDT"}]
    assert len(stub.seen) == 3
    assert sleeps == [pytest.approx(0.1), pytest.approx(0.2)]


def test_backoff_doubles_up_to_max_backoff(stub, make_client, sleeps):
    stub.handler = lambda _seen: UNAVAILABLE
    client = make_client(retry=RetryPolicy(attempts=6, backoff_s=1.0, max_backoff_s=3.0))

    with pytest.raises(ServerError):
        client.tickers()

    assert sleeps == [1.0, 2.0, 3.0, 3.0, 3.0]


def test_a_server_that_keeps_answering_503_gets_retry_attempts_requests_then_server_error(stub, client, sleeps):
    stub.handler = lambda _seen: UNAVAILABLE

    with pytest.raises(ServerError) as raised:
        client.tickers()

    assert raised.value.http_status == 503
    assert len(stub.seen) == RetryPolicy().attempts
    assert sleeps == [0.25, 0.5, 1.0]


def test_a_non_retryable_error_is_sent_exactly_once(stub, client, sleeps):
    stub.handler = lambda _seen: err("40017")

    with pytest.raises(InvalidParameter):
        client.depth("BTCUSDT")

    assert len(stub.seen) == 1
    assert sleeps == []


def test_a_dropped_connection_on_a_read_is_retried(stub, client, sleeps):
    stub.script(CLOSE, ok([{"symbol": "BTCUSDT"}]))

    assert client.tickers() == [{"symbol": "BTCUSDT"}]
    assert len(stub.seen) == 2
    assert sleeps == [0.25]


def test_every_request_is_paced_by_its_endpoint_path(stub, make_client):
    taken: list[str] = []

    class Recording(RateLimiter):
        def _reserve(self, key: str) -> tuple[float, float]:
            taken.append(key)
            return super()._reserve(key)

    stub.script(UNAVAILABLE, ok([]), ok({}))
    client = make_client(limiter=Recording(c.RATE_LIMITS))

    client.tickers()
    client.account("BTCUSDT")

    assert taken == [c.TICKERS, c.TICKERS, c.ACCOUNT]


# --- place_order ----------------------------------------------------------------------------------


def test_place_order_sends_one_post_with_product_type_margin_coin_and_client_oid(stub, client):
    stub.script(ok({"orderId": "111", "clientOid": "oid-1"}))

    result = client.place_order(an_order("oid-1"))

    assert result == {"orderId": "111", "clientOid": "oid-1"}
    (seen,) = stub.seen
    assert (seen.method, seen.path) == ("POST", c.PLACE_ORDER)
    body = seen.json
    assert body["productType"] == "USDT-FUTURES"
    assert body["marginCoin"] == "USDT"
    assert body["clientOid"] == "oid-1"
    assert body["size"] == "0.01"
    assert seen.signature_ok()


@pytest.mark.parametrize("client_oid", [None, ""])
def test_place_order_without_a_client_oid_is_refused_before_sending(stub, client, client_oid):
    order = an_order()
    order.pop("clientOid")
    if client_oid is not None:
        order["clientOid"] = client_oid

    with pytest.raises(ValueError, match="clientOid"):
        client.place_order(order)

    assert stub.seen == []


def detail_for(order_id: str) -> Callable[[Seen], Reply]:
    """A detail lookup that finds ``order_id`` under the clientOid it was asked for."""

    def answer_detail(seen: Seen) -> Reply:
        return ok({"orderId": order_id, "clientOid": seen.params["clientOid"], "state": "filled"})

    return answer_detail


def scripted_post_then_detail(stub: Stub, post_reply: Reply, detail: Reply | None = None) -> None:
    def handle(seen: Seen) -> Reply:
        if seen.path == c.PLACE_ORDER:
            return post_reply
        if detail is not None:
            return detail
        return detail_for("222")(seen)

    stub.handler = handle


@pytest.mark.parametrize(
    "post_reply",
    [UNAVAILABLE, err("50000", status=500), CLOSE, err("40786")],
    ids=["503", "500", "connection-closed", "duplicate-clientOid"],
)
def test_an_unknown_place_order_outcome_is_looked_up_by_client_oid_never_resent(stub, client, post_reply):
    scripted_post_then_detail(stub, post_reply)

    result = client.place_order(an_order("oid-7"))

    assert result == {"orderId": "222", "clientOid": "oid-7"}
    assert len(stub.calls("POST", c.PLACE_ORDER)) == 1
    (lookup,) = stub.calls("GET", c.ORDER_DETAIL)
    assert lookup.params == {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "clientOid": "oid-7"}
    assert lookup.signature_ok()


def test_a_timed_out_place_order_is_looked_up_by_client_oid_never_resent(stub, make_client):
    client = make_client(timeout_s=0.2)

    def hang_until_released() -> Reply:
        stub.release.wait(timeout=5)
        return ok({"orderId": "late", "clientOid": "oid-8"})

    scripted_post_then_detail(stub, hang_until_released)

    result = client.place_order(an_order("oid-8"))

    assert result == {"orderId": "222", "clientOid": "oid-8"}
    assert len(stub.calls("POST", c.PLACE_ORDER)) == 1
    assert len(stub.calls("GET", c.ORDER_DETAIL)) == 1


def test_an_accepted_order_answered_without_an_order_id_is_looked_up_by_client_oid(stub, client):
    scripted_post_then_detail(stub, ok({"clientOid": "oid-11"}))

    assert client.place_order(an_order("oid-11")) == {"orderId": "222", "clientOid": "oid-11"}
    assert len(stub.calls("POST", c.PLACE_ORDER)) == 1


def test_a_cancel_is_sent_once_even_when_the_venue_fails(stub, client):
    stub.script(UNAVAILABLE, UNAVAILABLE)

    with pytest.raises(ServerError):
        client.cancel_order("BTCUSDT", "oid-12")

    assert len(stub.calls("POST", c.CANCEL_ORDER)) == 1


def test_an_order_the_venue_does_not_know_raises_order_not_placed_after_one_post(stub, client):
    scripted_post_then_detail(stub, UNAVAILABLE, detail=err("40109"))

    with pytest.raises(OrderNotPlaced) as raised:
        client.place_order(an_order("oid-9"))

    assert raised.value.code == "40109"
    assert len(stub.calls("POST", c.PLACE_ORDER)) == 1
    assert len(stub.calls("GET", c.ORDER_DETAIL)) == 1


def test_a_duplicate_client_oid_that_is_not_on_the_venue_raises_order_not_placed(stub, client):
    scripted_post_then_detail(stub, err("40786"), detail=err("40109"))

    with pytest.raises(OrderNotPlaced):
        client.place_order(an_order("oid-10"))

    assert len(stub.calls("POST", c.PLACE_ORDER)) == 1


def test_a_rejected_place_order_is_raised_without_a_lookup_or_resend(stub, client):
    stub.handler = lambda _seen: err("40762")

    with pytest.raises(InsufficientMargin):
        client.place_order(an_order("oid-11"))

    assert [(s.method, s.path) for s in stub.seen] == [("POST", c.PLACE_ORDER)]


def test_a_place_order_refused_with_429_is_sent_again_after_a_backoff(stub, client, sleeps):
    answers = iter([err("429", status=429), ok({"orderId": "77", "clientOid": "oid-12"})])
    stub.handler = lambda _seen: next(answers)

    placed = client.place_order(an_order("oid-12"))

    assert placed == {"orderId": "77", "clientOid": "oid-12"}
    assert len(stub.calls("POST", c.PLACE_ORDER)) == 2
    assert stub.calls("GET", c.ORDER_DETAIL) == []
    assert len(sleeps) == 1


def test_a_place_order_rate_limited_on_every_attempt_raises_after_the_retry_budget(stub, client, sleeps):
    stub.handler = lambda _seen: err("429", status=429)

    with pytest.raises(RateLimited):
        client.place_order(an_order("oid-13"))

    assert len(stub.calls("POST", c.PLACE_ORDER)) == client.retry.attempts
    assert len(sleeps) == client.retry.attempts - 1


# --- candles --------------------------------------------------------------------------------------


def candle_venue(
    first_ts: int, interval_ms: int, *, newest_first: bool = True, end_inclusive: bool = False
) -> Callable[[Seen], Reply]:
    """A venue with one candle per interval from ``first_ts`` on, answering the newest ``limit``
    rows from ``startTime`` to before ``endTime`` (the doc: "the chart data before this time stamp"),
    or up to and including it."""

    def answer(seen: Seen) -> Reply:
        p = seen.params
        start, end, limit = int(p["startTime"]), int(p["endTime"]), int(p["limit"])
        assert limit <= c.CANDLES_MAX_LIMIT, f"page of {limit} rows"
        lo = max(start, first_ts)
        lo += (-(lo - first_ts)) % interval_ms
        stamps = list(range(lo, end + 1 if end_inclusive else end, interval_ms))[-limit:]
        rows = [[str(ts), "1", "2", "0.5", "1.5", "10", "15"] for ts in stamps]
        return ok(rows[::-1] if newest_first else rows)

    return answer


def test_candles_page_back_from_end_in_pages_of_at_most_1000_until_limit(stub, client):
    end_ms = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE
    stub.handler = candle_venue(end_ms - 10_000 * MINUTE, MINUTE)

    rows = client.candles("BTCUSDT", MINUTE, limit=2500, end_ms=end_ms)

    stamps = [int(r[0]) for r in rows]
    assert stamps == list(range(end_ms - 2500 * MINUTE, end_ms, MINUTE))
    pages = [s.params for s in stub.seen]
    assert [int(p["limit"]) for p in pages] == [1000, 1000, 501]  # one spare row: endTime may be inclusive
    assert [int(p["endTime"]) for p in pages] == [end_ms, end_ms - 1000 * MINUTE, end_ms - 2000 * MINUTE]
    assert all(p["symbol"] == "BTCUSDT" and p["productType"] == "USDT-FUTURES" for p in pages)


def test_candles_are_returned_oldest_first_whatever_order_the_venue_uses(stub, client):
    end_ms = 1_000 * MINUTE
    stub.handler = candle_venue(0, MINUTE, newest_first=False)

    rows = client.candles("BTCUSDT", MINUTE, limit=30, end_ms=end_ms)

    assert [int(r[0]) for r in rows] == list(range(end_ms - 30 * MINUTE, end_ms, MINUTE))


def test_candles_stop_when_a_page_brings_nothing_new(stub, client):
    same = [[str(ts), "1", "1", "1", "1", "1", "1"] for ts in (3 * MINUTE, 2 * MINUTE, MINUTE)]
    stub.handler = lambda _seen: ok(same)

    rows = client.candles("BTCUSDT", MINUTE, limit=5000, end_ms=10 * MINUTE)

    assert [int(r[0]) for r in rows] == [MINUTE, 2 * MINUTE, 3 * MINUTE]
    assert len(stub.seen) == 2


def test_candles_stop_when_history_runs_out(stub, client):
    end_ms = 2_000 * MINUTE
    stub.handler = candle_venue(end_ms - 1_200 * MINUTE, MINUTE)

    rows = client.candles("BTCUSDT", MINUTE, limit=5000, end_ms=end_ms)

    stamps = [int(r[0]) for r in rows]
    assert stamps == list(range(end_ms - 1_200 * MINUTE, end_ms, MINUTE))
    assert len(stamps) == len(set(stamps))


def test_candles_reach_the_limit_when_the_venue_includes_the_end_time_candle(stub, client):
    end_ms = 1_000 * MINUTE
    stub.handler = candle_venue(0, MINUTE, end_inclusive=True)

    rows = client.candles("BTCUSDT", MINUTE, limit=30, end_ms=end_ms)

    assert [int(r[0]) for r in rows] == list(range(end_ms - 30 * MINUTE, end_ms, MINUTE))


def test_candles_with_an_unsupported_interval_are_refused_before_sending(stub, client):
    with pytest.raises(ValueError, match="granularity"):
        client.candles("BTCUSDT", 7 * MINUTE, limit=10, end_ms=NOW_MS)

    assert stub.seen == []


@pytest.mark.parametrize(
    ("interval_ms", "granularity"),
    [(MINUTE, "1m"), (15 * MINUTE, "15m"), (60 * MINUTE, "1H"), (4 * 60 * MINUTE, "4H"), (24 * 60 * MINUTE, "1D")],
)
def test_candles_send_the_futures_granularity_strings(stub, client, interval_ms, granularity):
    stub.handler = lambda _seen: ok([])

    client.candles("BTCUSDT", interval_ms, limit=10, end_ms=NOW_MS)

    assert stub.seen[0].params["granularity"] == granularity


# --- fills and open orders ------------------------------------------------------------------------


def fill(trade_id: str, c_time: int) -> dict[str, str]:
    return {"tradeId": trade_id, "orderId": "o", "price": "100", "baseVolume": "1", "cTime": str(c_time)}


def test_fills_page_with_id_less_than_end_id_until_a_short_page(stub, client):
    stub.script(
        ok({"fillList": [fill("9", 900), fill("8", 800), fill("7", 700)], "endId": "7"}),
        ok({"fillList": [fill("6", 600), fill("5", 500), fill("4", 400)], "endId": "4"}),
        ok({"fillList": [fill("3", 300)], "endId": "3"}),
    )

    found = client.fills(since_ms=100, limit=3)

    assert [f["tradeId"] for f in found] == ["3", "4", "5", "6", "7", "8", "9"]
    assert [s.params.get("idLessThan") for s in stub.seen] == [None, "7", "4"]
    assert all(s.params["startTime"] == "100" and s.params["limit"] == "3" for s in stub.seen)
    assert all(s.signature_ok() for s in stub.seen)


def test_fills_are_deduplicated_by_trade_id_and_sorted_by_ctime(stub, client):
    stub.script(
        ok({"fillList": [fill("b", 200), fill("a", 300)], "endId": "a"}),
        ok({"fillList": [fill("a", 300), fill("c", 100)], "endId": "c"}),
        ok({"fillList": [], "endId": None}),
    )

    found = client.fills(since_ms=0, limit=2)

    assert [f["tradeId"] for f in found] == ["c", "b", "a"]


def test_fills_stop_on_an_empty_first_page(stub, client):
    stub.script(ok({"fillList": None, "endId": None}))

    assert client.fills(since_ms=0) == []
    assert len(stub.seen) == 1


def test_open_orders_is_empty_when_entrusted_list_is_null(stub, client):
    stub.script(ok({"entrustedList": None, "endId": ""}))

    assert client.open_orders() == []
    assert stub.seen[0].params == {"productType": "USDT-FUTURES"}


def test_open_orders_returns_the_entrusted_list(stub, client):
    orders = [{"orderId": "1", "clientOid": "a", "status": "live"}]
    stub.script(ok({"entrustedList": orders, "endId": "1"}))

    assert client.open_orders() == orders


# --- to_step --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "step", "expected"),
    [
        (0.0129, 0.001, "0.012"),
        (0.0019999, 0.001, "0.001"),
        (0.00003, 0.00001, "0.00003"),
        (0.000039, 0.00001, "0.00003"),
        (0.3, 0.1, "0.3"),
        (0.7, 0.1, "0.7"),
        (1.0, 0.1, "1"),
        (27123.456, 0.5, "27123"),
        (123.0, 10.0, "120"),
        (0.0004, 0.001, "0"),
        (4.54 + 2.56 + 1.12, 0.01, "8.22"),  # 8.219999999999999: a sum of fills is the lot it means
        (8.2199, 0.01, "8.21"),
    ],
)
def test_to_step_truncates_to_a_plain_decimal_string(value, step, expected):
    assert to_step(value, step) == expected


def test_to_step_never_uses_exponent_notation():
    assert "e" not in to_step(3e-05, 1e-05).lower()
    assert "e" not in to_step(1.5e7, 1.0).lower()


steps = st.builds(
    lambda mantissa, exponent: float(f"{mantissa}e{exponent}"),
    st.sampled_from([1, 2, 5, 25]),
    st.integers(min_value=-8, max_value=2),
)


@given(value=st.floats(min_value=0.0, max_value=1e7, allow_nan=False, allow_infinity=False), step=steps)
def test_to_step_is_the_largest_multiple_of_step_not_above_value_but_for_float_noise(value, step):
    result = Decimal(to_step(value, step))
    exact_value, exact_step = Decimal(repr(value)), Decimal(repr(step))

    assert result % exact_step == 0
    assert result > exact_value - exact_step
    noise = exact_step * Decimal("1e-9") * max(Decimal(1), result / exact_step)
    assert result <= exact_value + noise


# --- order_body -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("intent", "trade", "reduce_only", "side"),
    [
        ("open long", Side.LONG, False, "buy"),
        ("open short", Side.SHORT, False, "sell"),
        ("close long", Side.SHORT, True, "sell"),
        ("close short", Side.LONG, True, "buy"),
    ],
)
def test_order_body_one_way_mode_follows_the_mapping_table(intent, trade, reduce_only, side):
    body = order_body("BTCUSDT", trade, 0.01, 0.001, "oid", reduce_only=reduce_only)

    assert body["side"] == side, intent
    assert body["reduceOnly"] == ("YES" if reduce_only else "NO")
    assert "tradeSide" not in body


@pytest.mark.parametrize(
    ("intent", "trade", "reduce_only", "side", "trade_side"),
    [
        ("open long", Side.LONG, False, "buy", "open"),
        ("open short", Side.SHORT, False, "sell", "open"),
        ("close long", Side.SHORT, True, "buy", "close"),
        ("close short", Side.LONG, True, "sell", "close"),
    ],
)
def test_order_body_hedge_mode_follows_the_mapping_table(intent, trade, reduce_only, side, trade_side):
    body = order_body("BTCUSDT", trade, 0.01, 0.001, "oid", reduce_only=reduce_only, hedge=True)

    assert (body["side"], body["tradeSide"]) == (side, trade_side), intent
    assert "reduceOnly" not in body


def test_order_body_is_a_market_order_with_symbol_margin_mode_and_client_oid():
    body = order_body("ETHUSDT", Side.LONG, 1.0, 0.01, "oid-x", margin_mode="isolated")

    assert body["orderType"] == "market"
    assert body["symbol"] == "ETHUSDT"
    assert body["marginMode"] == "isolated"
    assert body["clientOid"] == "oid-x"
    assert "price" not in body


def test_order_body_truncates_the_size_to_the_lot():
    assert order_body("BTCUSDT", Side.LONG, 0.0129, 0.001, "oid")["size"] == "0.012"


@pytest.mark.parametrize("qty", [0.0009, 0.0, -1.0])
def test_order_body_refuses_a_size_under_one_lot(qty):
    with pytest.raises(ValueError, match="under one lot"):
        order_body("BTCUSDT", Side.LONG, qty, 0.001, "oid")


# --- the remaining endpoints: each asks its documented path with its parameters -------------------


def test_server_time_is_the_venues_clock_in_ms(stub, client):
    stub.script(ok({"serverTime": "1735680000123"}))

    assert client.server_time() == 1735680000123
    assert stub.seen[0].path == c.SERVER_TIME


def test_funding_rates_of_every_usdt_perpetual_are_asked_in_one_call(stub, client):
    stub.script(ok([{"symbol": "BTCUSDT", "fundingRate": "0.0001"}]))

    assert client.funding_rates() == [{"symbol": "BTCUSDT", "fundingRate": "0.0001"}]
    (seen,) = stub.seen
    assert (seen.path, seen.params) == (c.FUNDING_RATE, {"productType": "USDT-FUTURES"})


def test_open_interest_is_asked_per_symbol(stub, client):
    data = {"openInterestList": [{"symbol": "BTCUSDT", "size": "34278.06"}], "ts": "1735680000000"}
    stub.script(ok(data))

    assert client.open_interest("BTCUSDT") == data
    assert stub.seen[0].params == {"symbol": "BTCUSDT", "productType": "USDT-FUTURES"}


def test_the_margin_mode_is_set_signed_with_bitgets_own_words(stub, client):
    stub.script(ok({"symbol": "BTCUSDT", "marginMode": "isolated"}))

    client.set_margin_mode("BTCUSDT", "isolated")

    (seen,) = stub.seen
    assert seen.json == {
        "symbol": "BTCUSDT",
        "productType": "USDT-FUTURES",
        "marginCoin": "USDT",
        "marginMode": "isolated",
    }
    assert seen.signature_ok()


def test_a_margin_mode_bitget_does_not_know_is_refused_before_sending(stub, client):
    with pytest.raises(ValueError, match="crossed"):
        client.set_margin_mode("BTCUSDT", "cross")

    assert stub.seen == []


def test_positions_are_asked_signed_for_the_usdt_margin_coin(stub, client):
    stub.script(ok([{"symbol": "BTCUSDT", "holdSide": "long", "total": "0.004"}]))

    assert client.positions() == [{"symbol": "BTCUSDT", "holdSide": "long", "total": "0.004"}]
    (seen,) = stub.seen
    assert (seen.path, seen.params) == (c.POSITIONS, {"productType": "USDT-FUTURES", "marginCoin": "USDT"})
    assert seen.signature_ok()
