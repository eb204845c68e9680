"""What every actor shares: the settings, the dispatcher, the address table and the hooks.

Passing one context keeps actor constructors short and makes the wiring explicit: nothing is
reached through a global.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.config import Config
from engine.ports import MarketSource, OrderVenue
from engine.runtime.dispatcher import Dispatcher
from engine.runtime.faults import FaultInjector
from engine.runtime.latency import LatencyRecorder
from engine.runtime.routing import Router
from engine.runtime.stats import RuntimeStats
from engine.runtime.timers import Timers

FEED = "feed"
FEATURES = "features"
SIGNAL = "signal"
SYMBOL_ROLES = (FEED, FEATURES, SIGNAL)

SUPERVISOR = "supervisor"
MARKET_DATA = "market_data"
SCANNER = "scanner"
CORRELATION = "correlation"
RISK = "risk"
PORTFOLIO = "portfolio"
EXECUTION = "execution"
STORE = "store"
CONTROL = "control"


@dataclass(slots=True)
class ActorContext:
    config: Config
    dispatcher: Dispatcher
    router: Router
    faults: FaultInjector
    latency: LatencyRecorder
    timers: Timers
    source: MarketSource
    stats: RuntimeStats
    venue: OrderVenue | None = None
    """The account orders go to in live mode; None in paper mode (fills are modelled locally)."""
    clock: Callable[[], int] = lambda: int(time.time() * 1000)
    """Milliseconds since the epoch, for what happens before any event has a time (the first
    snapshot at start, the day of entries restored); a backtest replay sets it to event time."""
