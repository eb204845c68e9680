"""Conflation under overload, through a symbol's real Feed/Features/Signal actors.

The shared worker is held busy (a stalled symbol) while a flood of market data arrives for
BTCUSDT: its inboxes must stay bounded, conflations must be counted, and every bar close must
still come out right once the worker is free.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors.context import FEED, SCANNER, ActorContext
from adapters.sim.feed import SimFeed
from adapters.sim.market import SimConfig, SimMarket
from engine.app import spawn_pipeline
from engine.config import load_config
from engine.messages import BarsBackfilled, BookUpdated, FeaturesUpdated, TickerUpdated, TradesReceived
from engine.runtime.dispatcher import Dispatcher
from engine.runtime.faults import FaultInjector
from engine.runtime.inbox import PooledInbox
from engine.runtime.latency import LatencyRecorder
from engine.runtime.pooled import pooled_inbox
from engine.runtime.routing import Router
from engine.runtime.stats import RuntimeStats
from engine.runtime.timers import Timers

SYMBOL = "BTCUSDT"
T0 = 1_767_225_600_000  # a minute boundary
FLOOD = 20_000


class Recorder(pykka.ThreadingActor):
    """Stands in for the Scanner: keeps every closed-bar features update it is sent."""

    def __init__(self) -> None:
        super().__init__()
        self.bars: list[FeaturesUpdated] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, FeaturesUpdated):
            self.bars.append(message)
        return list(self.bars)


class Stall:
    """A turn that holds the only worker until released: every other actor must wait."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def _run_turn(self, batch_size: int) -> bool:
        self.entered.set()
        self.release.wait(30)
        return False


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ActorContext]:
    config = load_config(cli={"engine.data_dir": str(tmp_path), "engine.log_dir": str(tmp_path)}, env={})
    context = ActorContext(
        config=config,
        dispatcher=Dispatcher(workers=1, batch_size=64),
        router=Router(),
        faults=FaultInjector(),
        latency=LatencyRecorder(),
        timers=Timers(),
        source=SimFeed(SimMarket(SimConfig(symbols=3, history_bars=0))),
        stats=RuntimeStats(),
    )
    yield context
    pykka.ActorRegistry.stop_all(timeout=10)
    context.timers.stop()
    context.dispatcher.shutdown()


def book(ts: int, mid: float) -> BookUpdated:
    return BookUpdated(SYMBOL, ts, ((mid - 0.5, 1.0),), ((mid + 0.5, 1.0),))


def ticker(ts: int, price: float) -> TickerUpdated:
    return TickerUpdated(SYMBOL, ts, price, price - 0.5, price + 0.5, 1e9, 0.0001)


def trade(ts: int, price: float) -> TradesReceived:
    return TradesReceived(SYMBOL, ts, price, price, price, price, 0.01)


def flood() -> list[Any]:
    """FLOOD events over three minutes: books, tickers and trades interleaved, prices rising."""
    events: list[Any] = []
    for i in range(FLOOD):
        ts = T0 + i * (180_000 // FLOOD)
        price = 100.0 + i * 0.001
        events.append((book, ticker, trade)[i % 3](ts, price))
    return events


def expected_bars(events: list[Any]) -> list[tuple[int, float, float, float, float, float]]:
    """OHLCV of each minute that a later event closes, from the single trades."""
    minutes: dict[int, list[TradesReceived]] = {}
    for e in events:
        if isinstance(e, TradesReceived):
            minutes.setdefault(e.ts - e.ts % 60_000, []).append(e)
    last_ts = events[-1].ts
    return [
        (m, ts[0].open, max(t.high for t in ts), min(t.low for t in ts), ts[-1].close, sum(t.volume for t in ts))
        for m, ts in sorted(minutes.items())
        if m + 60_000 <= last_ts
    ]


def start_pipeline(
    ctx: ActorContext,
) -> tuple[dict[str, pykka.ActorRef[Any]], PooledInbox, pykka.ActorRef[Recorder]]:
    """BTCUSDT's Feed, Features and Signal, bound and running, with a Recorder as the Scanner."""
    recorder = Recorder.start()
    ctx.router.bind_singleton(SCANNER, recorder)
    refs = spawn_pipeline(ctx, SYMBOL, 1)
    for role, ref in refs.items():
        ctx.router.bind(SYMBOL, role, ref)
    feed_inbox = pooled_inbox(refs[FEED])
    assert feed_inbox is not None
    return refs, feed_inbox, recorder


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_lagging_symbol_conflates_into_a_bounded_inbox_and_keeps_every_bar_close(ctx: ActorContext) -> None:
    refs, feed_inbox, recorder = start_pipeline(ctx)
    ctx.router.tell(SYMBOL, FEED, BarsBackfilled(SYMBOL, ()))
    wait_until(lambda: len(feed_inbox) == 0)
    stall = Stall()
    ctx.dispatcher.submit(stall)
    assert stall.entered.wait(10)

    events = flood()
    for event in events:
        assert ctx.router.tell(SYMBOL, FEED, event)
    depth_while_stalled = len(feed_inbox)
    conflated_while_stalled = feed_inbox.conflated
    stall.release.set()
    wait_until(lambda: all(len(pooled_inbox(r) or ()) == 0 for r in refs.values()))
    wait_until(lambda: len(recorder.ask("bars", timeout=5)) == len(expected_bars(events)))

    # one pending book, one ticker and one trade slot per minute, whatever the flood's size
    assert depth_while_stalled <= 5
    assert conflated_while_stalled == FLOOD - depth_while_stalled
    bars = recorder.ask("bars", timeout=5)
    got = [(f.ts - 60_000, f.last) for f in bars]
    assert got == [(m, c) for m, _, _, _, c, _ in expected_bars(events)]
    assert all(f.bar_closed for f in bars)


def test_a_symbol_that_keeps_up_sees_every_event_unconflated(ctx: ActorContext) -> None:
    refs, feed_inbox, _ = start_pipeline(ctx)
    ctx.router.tell(SYMBOL, FEED, BarsBackfilled(SYMBOL, ()))
    events = flood()[:300]
    for event in events:
        ctx.router.tell(SYMBOL, FEED, event)
        wait_until(lambda: len(feed_inbox) == 0)
    assert feed_inbox.conflated == 0
    assert refs[FEED].proxy().handled.get(timeout=5) == len(events) + 1


def test_a_feed_ignores_live_events_until_its_history_arrives(ctx: ActorContext) -> None:
    refs, feed_inbox, recorder = start_pipeline(ctx)
    early = [trade(T0 + 1_000, 100.0), trade(T0 + 61_000, 101.0), book(T0 + 121_000, 101.0)]
    later = [BarsBackfilled(SYMBOL, ()), trade(T0 + 122_000, 102.0), book(T0 + 181_000, 102.0)]
    for event in early + later:  # one at a time, so nothing is conflated
        ctx.router.tell(SYMBOL, FEED, event)
        wait_until(lambda: len(feed_inbox) == 0)
    wait_until(lambda: refs[FEED].proxy().handled.get(timeout=5) == 6)
    assert refs[FEED].proxy().ignored_before_history.get(timeout=5) == 3
    wait_until(lambda: len(recorder.ask("bars", timeout=5)) == 1)
    assert [(f.ts, f.last) for f in recorder.ask("bars", timeout=5)] == [(T0 + 180_000, 102.0)]
