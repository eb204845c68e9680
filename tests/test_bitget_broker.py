"""The Bitget broker against the simulated exchange on loopback: orders placed once, fills from the
private stream, the gap of a dropped stream replayed over REST, keys that can withdraw refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial

import pytest
import requests

from adapters.bitget.auth import Credentials
from adapters.bitget.broker import BitgetBroker, KeyNotAllowed, withdraw_rights
from adapters.bitget.rest import BitgetRest, RetryPolicy
from adapters.bitget.stream import Backoff, Connection
from adapters.sim.bitget_server import BitgetSimServer
from adapters.sim.signature_check import SimKey
from engine.app import build_sim_feed
from engine.config import load_config
from engine.messages import Side, SubmitOrder, VenueFill
from engine.ports import OrderOutcomeUnknown, OrderRefused
from tests.test_cli import wait_for

KEY = SimKey("broker-key-1", "broker-secret-1", "broker-pass-1")
CREDS = Credentials(KEY.api_key, KEY.secret_key, KEY.passphrase)


@pytest.fixture
def server() -> Iterator[BitgetSimServer]:
    srv = BitgetSimServer(build_sim_feed(load_config(cli={"sim.symbols": 4}, env={})), key=KEY)
    srv.start()
    wait_for(lambda: srv.exchange.mark("BTCUSDT") > 0.0, 10, "a BTCUSDT book", interval=0.02)
    try:
        yield srv
    finally:
        srv.stop()


class Fills:
    """What the broker delivered, from its stream thread."""

    def __init__(self) -> None:
        self.items: list[VenueFill] = []
        self.resyncs = 0
        self.lock = threading.Lock()

    def on_fill(self, fill: VenueFill) -> None:
        with self.lock:
            self.items.append(fill)

    def on_resync(self) -> None:
        self.resyncs += 1

    def ids(self) -> set[str]:
        with self.lock:
            return {f.trade_id for f in self.items}


@pytest.fixture
def broker(server: BitgetSimServer) -> Iterator[tuple[BitgetBroker, Fills]]:
    rest = BitgetRest(server.rest_url, CREDS, timeout_s=1.0, retry=RetryPolicy(attempts=3, backoff_s=0.05))
    connection = partial(Connection, backoff=Backoff(initial_s=0.5, max_s=1.0))
    b = BitgetBroker(rest, server.ws_private_url, CREDS, server.feed.instrument, connection=connection)
    b.prepare(["BTCUSDT"], lambda _s: 5)
    fills = Fills()
    b.start(fills.on_fill, fills.on_resync)
    conn = b._conn
    assert conn is not None
    wait_for(lambda: conn.connected and conn._subscribed, 10, "the private stream", interval=0.02)
    try:
        yield b, fills
    finally:
        b.stop()


def order(client_oid: str, side: Side = Side.LONG, qty: float = 0.01, reduce_only: bool = False) -> SubmitOrder:
    return SubmitOrder(client_oid, "BTCUSDT", 0, side, qty, 1.0, reduce_only, "trend", "test")


def test_an_order_is_placed_once_and_its_fills_arrive_on_the_private_stream(
    server: BitgetSimServer, broker: tuple[BitgetBroker, Fills]
) -> None:
    b, fills = broker

    order_id = b.place(order("oid-stream-1"))

    venue_fills = [f for f in server.exchange.fills() if f.order.client_oid == "oid-stream-1"]
    assert order_id == venue_fills[0].order.order_id
    wait_for(lambda: fills.ids() == {f.trade_id for f in venue_fills}, 10, "the fills on the stream")
    delivered = fills.items[0]
    assert (delivered.client_oid, delivered.side, delivered.closing) == ("oid-stream-1", Side.LONG, False)
    assert sum(f.qty for f in fills.items) == pytest.approx(0.01)
    assert server.exchange.account.leverage["BTCUSDT"] == 5


def test_fills_made_while_the_stream_is_down_are_replayed_after_the_reconnect(
    server: BitgetSimServer, broker: tuple[BitgetBroker, Fills]
) -> None:
    b, fills = broker
    b.place(order("oid-before"))
    wait_for(lambda: len(fills.ids()) >= 1, 10, "the first fill")

    assert server.drop_connections() == 1
    b.place(order("oid-during-gap", side=Side.SHORT, reduce_only=True))

    made = {f.trade_id for f in server.exchange.fills()}
    wait_for(lambda: fills.ids() == made, 10, "every fill after the reconnect")
    assert fills.resyncs == 1
    assert b._conn is not None and b._conn.stats.connects == 2


def test_an_order_the_venue_refuses_is_order_refused(broker: tuple[BitgetBroker, Fills]) -> None:
    b, _ = broker

    with pytest.raises(OrderRefused, match="22002"):  # reduce-only with no position
        b.place(order("oid-refused", side=Side.SHORT, reduce_only=True))


def test_an_order_under_one_lot_is_refused_without_a_request(
    server: BitgetSimServer, broker: tuple[BitgetBroker, Fills]
) -> None:
    b, _ = broker
    before = server.requests.get("/api/v2/mix/order/place-order", 0)

    with pytest.raises(OrderRefused, match="under one lot"):
        b.place(order("oid-tiny", qty=0.00001))

    assert server.requests.get("/api/v2/mix/order/place-order", 0) == before


def test_an_answer_lost_after_the_venue_accepted_still_gives_exactly_one_order(
    server: BitgetSimServer, broker: tuple[BitgetBroker, Fills]
) -> None:
    b, _ = broker
    requests.post(server.rest_url + "/sim/faults", json={"hold_after_accept": 1, "hold_s": 1.5}, timeout=5)

    order_id = b.place(order("oid-held"))

    held = [f.order for f in server.exchange.fills() if f.order.client_oid == "oid-held"]
    assert {o.order_id for o in held} == {order_id}
    assert b.order_state("BTCUSDT", "oid-held") == "filled"


def test_an_unreachable_venue_makes_the_outcome_unknown(broker: tuple[BitgetBroker, Fills]) -> None:
    b, _ = broker
    b.place(order("oid-set-up"))  # margin mode and leverage are set on a symbol's first order
    b.rest.base_url = "http://127.0.0.1:9"

    with pytest.raises(OrderOutcomeUnknown):
        b.place(order("oid-lost"))


def test_positions_and_the_order_state_come_from_the_venue(broker: tuple[BitgetBroker, Fills]) -> None:
    b, _ = broker
    b.place(order("oid-pos", qty=0.02))

    [position] = b.positions()

    assert (position.symbol, position.side, position.qty) == ("BTCUSDT", Side.LONG, pytest.approx(0.02))
    assert b.order_state("BTCUSDT", "oid-pos") == "filled"
    assert b.order_state("BTCUSDT", "oid-never-sent") is None


def test_a_key_that_can_withdraw_is_refused(server: BitgetSimServer) -> None:
    server.key = SimKey(KEY.api_key, KEY.secret_key, KEY.passphrase, authorities=("readonly", "trade", "withdraw"))
    b = BitgetBroker(BitgetRest(server.rest_url, CREDS), server.ws_private_url, CREDS, server.feed.instrument)

    with pytest.raises(KeyNotAllowed, match="can withdraw"):
        b.verify_key()


def test_a_trade_and_read_key_is_accepted(server: BitgetSimServer) -> None:
    BitgetBroker(BitgetRest(server.rest_url, CREDS), server.ws_private_url, CREDS, server.feed.instrument).verify_key()


@pytest.mark.parametrize(
    ("authorities", "withdrawing"),
    [(["readonly", "trade"], []), (["trade", "wallet_withdraw"], ["wallet_withdraw"]), (["Withdraw"], ["Withdraw"])],
)
def test_withdraw_rights_are_any_right_that_names_withdrawing(authorities: list[str], withdrawing: list[str]) -> None:
    assert withdraw_rights(authorities) == withdrawing


def test_a_key_whose_rights_are_not_listed_counts_as_unsafe() -> None:
    with pytest.raises(KeyNotAllowed, match="did not list"):
        withdraw_rights(None)
