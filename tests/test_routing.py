"""Stable addresses (``engine.runtime.routing.Router``) over real pykka ``ThreadingActor``s.

Every actor records what it receives; a blocking ``ask`` (processed after every earlier ``tell`` in
the same mailbox) reads the record back, so no test waits on wall time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

from engine.messages import BarClosed, Tick, TickerUpdated
from engine.runtime.routing import Router

ASK_TIMEOUT_S = 5.0
"""Only a guard against a hung test: every ask is answered as soon as the mailbox drains."""


class _Received:
    """Ask message: reply with the messages received so far."""


class Recorder(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.received: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Received):
            return list(self.received)
        self.received.append(message)
        return None


Ref = pykka.ActorRef[Any]


@pytest.fixture
def start() -> Iterator[Callable[[], Ref]]:
    """Start ``Recorder`` actors; every one still alive is stopped after the test."""
    refs: list[Ref] = []

    def _start() -> Ref:
        ref = Recorder.start()
        refs.append(ref)
        return ref

    yield _start
    for ref in refs:
        if ref.is_alive():
            ref.stop(timeout=ASK_TIMEOUT_S)


def received(ref: Ref) -> list[Any]:
    return ref.ask(_Received(), timeout=ASK_TIMEOUT_S)  # type: ignore[no-any-return]


def _bar(symbol: str = "BTCUSDT", open_ts: int = 1_700_000_040_000) -> BarClosed:
    return BarClosed(symbol, 60_000, open_ts, 100.0, 101.0, 99.0, 100.5, 12.0)


def _ticker(symbol: str = "BTCUSDT") -> TickerUpdated:
    return TickerUpdated(symbol, 1_700_000_040_000, 100.0, 99.9, 100.1, 1e9, 0.0001)


# --- Symbol addresses ------------------------------------------------------------------------------


def test_tell_to_a_bound_live_actor_delivers_and_returns_true(start: Callable[[], Ref]) -> None:
    router = Router()
    ref = start()
    router.bind("BTCUSDT", "feed", ref)
    message = _bar()
    assert router.tell("BTCUSDT", "feed", message) is True
    assert received(ref) == [message]
    assert router.undelivered == 0


def test_tell_delivers_messages_in_the_order_sent(start: Callable[[], Ref]) -> None:
    router = Router()
    ref = start()
    router.bind("BTCUSDT", "feed", ref)
    messages = [_bar(open_ts=1_700_000_040_000 + i * 60_000) for i in range(20)]
    for message in messages:
        router.tell("BTCUSDT", "feed", message)
    assert received(ref) == messages


def test_tell_reaches_only_the_actor_at_that_symbol_and_role(start: Callable[[], Ref]) -> None:
    router = Router()
    btc_feed, btc_signal, eth_feed = start(), start(), start()
    router.bind("BTCUSDT", "feed", btc_feed)
    router.bind("BTCUSDT", "signal", btc_signal)
    router.bind("ETHUSDT", "feed", eth_feed)
    router.tell("BTCUSDT", "signal", _ticker())
    assert received(btc_signal) == [_ticker()]
    assert received(btc_feed) == []
    assert received(eth_feed) == []


def test_tell_to_an_unbound_address_returns_false_and_counts_it() -> None:
    router = Router()
    assert router.tell("BTCUSDT", "feed", _bar()) is False
    assert router.undelivered == 1
    assert router.undelivered_by_symbol["BTCUSDT"] == 1


def test_undelivered_is_counted_per_symbol() -> None:
    router = Router()
    for _ in range(3):
        router.tell("BTCUSDT", "feed", _bar())
    router.tell("ETHUSDT", "signal", _ticker("ETHUSDT"))
    assert router.undelivered == 4
    assert router.undelivered_by_symbol == {"BTCUSDT": 3, "ETHUSDT": 1}


def test_tell_to_a_bound_symbol_with_another_role_is_undelivered(start: Callable[[], Ref]) -> None:
    router = Router()
    router.bind("BTCUSDT", "feed", start())
    assert router.tell("BTCUSDT", "signal", _ticker()) is False
    assert router.undelivered_by_symbol["BTCUSDT"] == 1


def test_tell_to_a_stopped_actor_returns_false_without_raising(start: Callable[[], Ref]) -> None:
    router = Router()
    ref = start()
    router.bind("BTCUSDT", "feed", ref)
    ref.stop(timeout=ASK_TIMEOUT_S)
    assert not ref.is_alive()
    assert router.tell("BTCUSDT", "feed", _bar()) is False  # must not raise ActorDeadError
    assert router.undelivered == 1
    assert router.undelivered_by_symbol["BTCUSDT"] == 1


def test_a_stopped_actor_raises_actor_dead_error_when_told_directly(start: Callable[[], Ref]) -> None:
    """The premise of the previous test: pykka itself raises, so the Router is what absorbs it."""
    ref = start()
    ref.stop(timeout=ASK_TIMEOUT_S)
    with pytest.raises(pykka.ActorDeadError):
        ref.tell(_bar())


def test_unbind_makes_the_address_undelivered(start: Callable[[], Ref]) -> None:
    router = Router()
    ref = start()
    router.bind("BTCUSDT", "feed", ref)
    router.unbind("BTCUSDT", "feed")
    assert router.ref("BTCUSDT", "feed") is None
    assert router.tell("BTCUSDT", "feed", _bar()) is False
    assert received(ref) == []


def test_unbind_of_an_unknown_address_is_a_no_op() -> None:
    router = Router()
    router.unbind("BTCUSDT", "feed")
    assert router.symbol_refs() == []


def test_rebinding_an_address_redirects_messages_to_the_new_actor(start: Callable[[], Ref]) -> None:
    router = Router()
    old, new = start(), start()
    router.bind("BTCUSDT", "feed", old)
    first, second = _bar(open_ts=1_700_000_040_000), _bar(open_ts=1_700_000_100_000)
    router.tell("BTCUSDT", "feed", first)
    router.bind("BTCUSDT", "feed", new)
    router.tell("BTCUSDT", "feed", second)
    assert received(old) == [first]
    assert received(new) == [second]
    assert router.ref("BTCUSDT", "feed") is new


def test_restart_swap_dead_then_rebound_delivers_again(start: Callable[[], Ref]) -> None:
    router = Router()
    old = start()
    router.bind("BTCUSDT", "feed", old)
    old.stop(timeout=ASK_TIMEOUT_S)
    assert router.tell("BTCUSDT", "feed", _bar()) is False
    new = start()
    router.bind("BTCUSDT", "feed", new)
    assert router.tell("BTCUSDT", "feed", _bar()) is True
    assert received(new) == [_bar()]
    assert router.undelivered == 1


def test_ref_returns_the_bound_actor_or_none(start: Callable[[], Ref]) -> None:
    router = Router()
    ref = start()
    router.bind("BTCUSDT", "feed", ref)
    assert router.ref("BTCUSDT", "feed") is ref
    assert router.ref("BTCUSDT", "signal") is None
    assert router.ref("ETHUSDT", "feed") is None


def test_symbol_refs_lists_every_binding(start: Callable[[], Ref]) -> None:
    router = Router()
    a, b = start(), start()
    router.bind("BTCUSDT", "feed", a)
    router.bind("ETHUSDT", "signal", b)
    assert sorted(router.symbol_refs(), key=lambda row: row[:2]) == [("BTCUSDT", "feed", a), ("ETHUSDT", "signal", b)]


# --- Singletons ------------------------------------------------------------------------------------


def test_tell_singleton_to_a_bound_live_actor_delivers(start: Callable[[], Ref]) -> None:
    router = Router()
    ref = start()
    router.bind_singleton("portfolio", ref)
    assert router.tell_singleton("portfolio", Tick(5)) is True
    assert received(ref) == [Tick(5)]
    assert router.singleton("portfolio") is ref


def test_tell_singleton_to_an_unbound_role_returns_false_and_counts_it() -> None:
    router = Router()
    assert router.tell_singleton("risk", Tick(1)) is False
    assert router.undelivered == 1
    assert sum(router.undelivered_by_symbol.values()) == 0


def test_tell_singleton_to_a_stopped_actor_returns_false_without_raising(start: Callable[[], Ref]) -> None:
    router = Router()
    ref = start()
    router.bind_singleton("risk", ref)
    ref.stop(timeout=ASK_TIMEOUT_S)
    assert router.tell_singleton("risk", Tick(1)) is False
    assert router.undelivered == 1


def test_rebinding_a_singleton_redirects_messages_to_the_new_actor(start: Callable[[], Ref]) -> None:
    router = Router()
    old, new = start(), start()
    router.bind_singleton("execution", old)
    router.tell_singleton("execution", Tick(1))
    router.bind_singleton("execution", new)
    router.tell_singleton("execution", Tick(2))
    assert received(old) == [Tick(1)]
    assert received(new) == [Tick(2)]


def test_unbind_singleton_makes_the_role_undelivered(start: Callable[[], Ref]) -> None:
    router = Router()
    ref = start()
    router.bind_singleton("store", ref)
    router.unbind_singleton("store")
    assert router.singleton("store") is None
    assert router.tell_singleton("store", Tick(1)) is False
    assert received(ref) == []


def test_singleton_and_symbol_addresses_are_separate_tables(start: Callable[[], Ref]) -> None:
    router = Router()
    ref = start()
    router.bind_singleton("feed", ref)
    assert router.ref("BTCUSDT", "feed") is None
    assert router.tell("BTCUSDT", "feed", _bar()) is False
    assert received(ref) == []
