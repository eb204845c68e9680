"""The simulated market as a venue market-data source, paced in (sped-up) real time.

A stream thread steps the pure ``SimMarket`` and hands each step's events of the subscribed
symbols to the engine's sink, stamped with their arrival time, exactly as a websocket client
would. Event time advances ``speed`` times faster than wall time; if the engine cannot keep up
the generator simply runs late (it never skips event time), and ``lag_s`` shows by how much.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from loguru import logger

from adapters.sim.market import SimMarket
from engine.messages import BarClosed
from engine.ports import EventSink, Instrument

MINUTE_MS = 60_000
SLICE_MS = 10


def resample(bars: list[BarClosed], interval_ms: int) -> list[BarClosed]:
    """``interval_ms`` candles from 1m candles; only buckets with every minute present are kept."""
    if interval_ms == MINUTE_MS:
        return bars
    buckets: dict[int, list[BarClosed]] = {}
    for bar in bars:
        buckets.setdefault(bar.open_ts - bar.open_ts % interval_ms, []).append(bar)
    return [
        BarClosed(
            group[0].symbol,
            interval_ms,
            start,
            group[0].open,
            max(b.high for b in group),
            min(b.low for b in group),
            group[-1].close,
            sum(b.volume for b in group),
        )
        for start, group in buckets.items()
        if len(group) == interval_ms // MINUTE_MS
    ]


class SimFeed:
    """``MarketSource`` over a ``SimMarket``; thread-safe, restartable."""

    def __init__(self, market: SimMarket, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"sim.speed must be > 0, got {speed}")
        self.market = market
        self.speed = speed
        self.lag_s = 0.0
        self._lock = threading.Lock()
        self._subscribed: frozenset[str] = frozenset()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        """The simulated universe is fixed for a run: nothing is listed or delisted."""

    def listed(self) -> list[str]:
        return self.market.listed()

    def universe(self, min_volume_24h_usdt: float) -> list[str]:
        return [s for s in self.market.listed() if self.market.instrument(s).volume_24h_usdt >= min_volume_24h_usdt]

    def instrument(self, symbol: str) -> Instrument:
        return self.market.instrument(symbol)

    def candles(self, symbol: str, limit: int, interval_ms: int) -> list[BarClosed]:
        per_bar = interval_ms // MINUTE_MS
        with self._lock:
            minute_bars = self.market.candles(symbol, (limit + 1) * per_bar)
        return resample(minute_bars, interval_ms)[-limit:]

    def subscribe(self, symbol: str) -> None:
        self.market.instrument(symbol)
        with self._lock:
            self._subscribed = self._subscribed | {symbol}

    def unsubscribe(self, symbol: str) -> None:
        with self._lock:
            self._subscribed = self._subscribed - {symbol}

    def start(self, sink: EventSink) -> None:
        self.stop()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(sink, self._stop), name="sim-stream", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)
        self._thread = None

    def _run(self, sink: EventSink, stop: threading.Event) -> None:
        """Generate a step, then deliver its events slice by slice as their event time comes due.

        Generating in whole steps keeps the numpy work (which drops and retakes the GIL many times
        per call) to a few calls per second; delivering in ``SLICE_MS`` slices spreads the events
        over time as a venue's pushes are. Each slice is stamped with its delivery time.
        """
        market = self.market
        wall0 = time.monotonic()
        event0 = market.now_ms
        while not stop.is_set():
            with self._lock:
                events = market.step()
                subscribed = self._subscribed
            start = 0
            while start < len(events) and not stop.is_set():
                slice_end = events[start].ts - events[start].ts % SLICE_MS + SLICE_MS
                end = start
                while end < len(events) and events[end].ts < slice_end:
                    end += 1
                self._wait_until(wall0 + (slice_end - event0) / 1000.0 / self.speed, stop)
                now = time.perf_counter_ns()
                batch = [replace(e, recv_ns=now) for e in events[start:end] if e.symbol in subscribed]
                start = end
                if batch:
                    try:
                        sink(batch)
                    except Exception:
                        logger.exception("sim stream: routing a batch of {} events failed; streaming on", len(batch))
            self._wait_until(wall0 + (market.now_ms - event0) / 1000.0 / self.speed, stop)

    def _wait_until(self, due: float, stop: threading.Event) -> None:
        delay = due - time.monotonic()
        self.lag_s = max(0.0, -delay)
        if delay > 0:
            stop.wait(delay)
