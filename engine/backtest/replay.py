"""The parity check: the same history replayed through the engine's actors, on a simulated clock.

The fast backtest (``driver``) calls the cores directly. This replays the same bars and quotes as
messages to the real actors, wired as the engine wires them: Features and Signal per symbol on the
pooled dispatcher; Scanner, Correlation, Risk, Execution, Portfolio and Store as threaded
singletons, all addressed through a ``Router``, with a state database of their own. What the venue
side would do (the Feed's bars, MarketData's quote batches, the timers' ticks) is done here, on
event time, in the order ``driver`` documents; after each delivery the replay waits until no
message is in flight (every actor has answered a ``Ping`` and no new message was delivered).

Equal trade lists (``report.fingerprint``) from both show that the fast path makes the decisions
the actors would make on the same data.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pykka

from actors.context import CORRELATION, EXECUTION, FEATURES, PORTFOLIO, RISK, SCANNER, SIGNAL, STORE, ActorContext
from actors.correlation import CorrelationActor
from actors.execution import ExecutionActor
from actors.features import FeaturesActor
from actors.portfolio import PortfolioActor
from actors.risk import RiskActor
from actors.scanner import ScannerActor
from actors.signal import SignalActor
from actors.store import StoreActor
from engine.backtest.driver import BacktestError, Costs, Series, event_order, funding_at, quote_at
from engine.backtest.intrabar import exit_in_bar
from engine.config import Config
from engine.messages import BarClosed, BarsBackfilled, GetStatus, Ping, Quote, QuotesUpdated, Side, Tick, TradeClosed
from engine.ports import EventSink, Instrument, UnknownSymbolError
from engine.runtime.dispatcher import Dispatcher
from engine.runtime.faults import FaultInjector
from engine.runtime.latency import LatencyRecorder
from engine.runtime.routing import Router
from engine.runtime.stats import RuntimeStats
from engine.runtime.timers import Timers
from engine.store.sqlite_store import StateStore
from engine.strategy_plan import timeframes_of
from engine.timeframes import interval_ms

ASK_TIMEOUT_S = 30.0
SINGLETONS = (STORE, PORTFOLIO, RISK, EXECUTION, SCANNER, CORRELATION)


@dataclass(slots=True)
class _Clock:
    now: int = 0

    def __call__(self) -> int:
        return self.now


@dataclass(slots=True)
class _Listing:
    """The instruments of the replayed symbols: all the actors ask the venue side for."""

    lots: dict[str, float] = field(default_factory=dict)

    def refresh(self) -> None:
        return None

    def listed(self) -> list[str]:
        return sorted(self.lots)

    def universe(self, min_volume_24h_usdt: float) -> list[str]:
        return self.listed()

    def instrument(self, symbol: str) -> Instrument:
        if symbol not in self.lots:
            raise UnknownSymbolError(f"{symbol} is not in the replayed data")
        return Instrument(symbol, 0.0, self.lots[symbol], self.lots[symbol], 0.0, 0.0)

    def candles(self, symbol: str, limit: int, interval_ms: int) -> list[BarClosed]:
        return []

    def start(self, sink: EventSink) -> None:
        return None

    def stop(self) -> None:
        return None

    def subscribe(self, symbol: str) -> None:
        return None

    def unsubscribe(self, symbol: str) -> None:
        return None


class ActorReplay:
    """One replay; ``run`` returns the closed trades as the actors' Store journaled them."""

    def __init__(self, config: Config, costs: Costs | None = None, folder: Path | None = None) -> None:
        self.config = config
        self.costs = costs = costs if costs is not None else Costs()
        self.folder = folder
        self.interval = interval_ms(config.strategy.timeframe)
        self._half_spread = costs.spread_bps / 20_000.0

    def run(self, series: Sequence[Series], start_ms: int | None = None) -> list[TradeClosed]:
        if self.folder is not None:
            return self._run(series, start_ms, self.folder)
        with tempfile.TemporaryDirectory(prefix="replay-") as tmp:
            return self._run(series, start_ms, Path(tmp))

    def _run(self, series: Sequence[Series], start_ms: int | None, folder: Path) -> list[TradeClosed]:
        config = self.config
        for s in series:
            if s.candles.interval_ms != self.interval:
                raise BacktestError(f"{s.candles.symbol}: bars of {s.candles.interval_ms} ms, not {self.interval}")
        symbols = sorted(series, key=lambda s: s.candles.symbol)
        first = -1 if start_ms is None else start_ms
        clock = _Clock()
        ctx = ActorContext(
            config=config,
            dispatcher=Dispatcher(1, config.runtime.batch_size, name="replay"),
            router=Router(),
            faults=FaultInjector(()),
            latency=LatencyRecorder(),
            timers=Timers(),
            source=_Listing({s.candles.symbol: s.lot_size for s in symbols}),
            stats=RuntimeStats(),
            clock=clock,
        )
        starts = {s.candles.symbol: int(np.searchsorted(s.candles.ts, first, side="left")) for s in symbols}
        opens = [
            int(s.candles.ts[starts[s.candles.symbol]]) for s in symbols if starts[s.candles.symbol] < len(s.candles)
        ]
        clock.now = min(opens) if opens else 0
        refs = self._start(ctx, folder, [s.candles.symbol for s in symbols])
        try:
            self._backfill(ctx, symbols, starts)
            self._settle(ctx, refs)
            ctx.router.tell_singleton(CORRELATION, Tick(clock.now))
            self._settle(ctx, refs)
            self._replay(ctx, refs, symbols, starts, clock)
        finally:
            self._stop(refs, ctx)
        store = StateStore(folder / "engine.sqlite")
        try:
            return store.trades()
        finally:
            store.close()

    # --- wiring ----------------------------------------------------------------------------------

    def _start(self, ctx: ActorContext, folder: Path, symbols: list[str]) -> list[pykka.ActorRef[Any]]:
        folder.mkdir(parents=True, exist_ok=True)
        factories: dict[str, Callable[[], pykka.ActorRef[Any]]] = {
            STORE: lambda: StoreActor.start(ctx, folder / "engine.sqlite", folder),
            PORTFOLIO: lambda: PortfolioActor.start(ctx),
            RISK: lambda: RiskActor.start(ctx),
            EXECUTION: lambda: ExecutionActor.start(ctx),
            SCANNER: lambda: ScannerActor.start(ctx),
            CORRELATION: lambda: CorrelationActor.start(ctx),
        }
        refs: list[pykka.ActorRef[Any]] = []
        for role in SINGLETONS:
            ref = factories[role]()
            ctx.router.bind_singleton(role, ref)
            refs.append(ref)
            ref.ask(GetStatus(), timeout=ASK_TIMEOUT_S)  # its on_start is done
        for symbol in symbols:
            for role, actor in ((SIGNAL, SignalActor), (FEATURES, FeaturesActor)):
                ref = actor.start(ctx, symbol, 0)
                ctx.router.bind(symbol, role, ref)
                refs.append(ref)
        return refs

    @staticmethod
    def _stop(refs: list[pykka.ActorRef[Any]], ctx: ActorContext) -> None:
        for ref in reversed(refs):
            ref.stop(block=False)
        for ref in refs:
            ref.actor_stopped.wait(ASK_TIMEOUT_S)
        ctx.timers.stop()

    @staticmethod
    def _settle(ctx: ActorContext, refs: list[pykka.ActorRef[Any]]) -> None:
        """Wait until nothing is in flight: a full round of pings during which no message was
        delivered to any inbox means every inbox was empty when its actor answered."""
        router = ctx.router
        while True:
            before = router.delivered
            for ref in refs:
                ref.ask(Ping(), timeout=ASK_TIMEOUT_S)
            if router.delivered == before:
                return

    # --- the venue side, on event time -----------------------------------------------------------

    def _backfill(self, ctx: ActorContext, symbols: Sequence[Series], starts: dict[str, int]) -> None:
        for s in symbols:
            name = s.candles.symbol
            warm = s.candles.between(None, int(s.candles.ts[starts[name]]) if starts[name] < len(s.candles) else None)
            for interval in timeframes_of(self.config, name):
                bars = tuple(b for b in warm.resample(interval).bars())
                ctx.router.tell(name, FEATURES, BarsBackfilled(name, bars, interval))

    def _quote(self, series: Series, price: float, ts: int) -> Quote:
        rate = funding_at(series.funding, ts, self.costs.funding_rate)
        return quote_at(series.candles.symbol, price, ts, self._half_spread, rate)

    def _replay(
        self,
        ctx: ActorContext,
        refs: list[pykka.ActorRef[Any]],
        symbols: Sequence[Series],
        starts: dict[str, int],
        clock: _Clock,
    ) -> None:
        router = ctx.router
        corr_every = self.config.engine.correlation_interval_s * 1000
        next_corr = clock.now - clock.now % corr_every + corr_every
        portfolio = router.singleton(PORTFOLIO)
        assert portfolio is not None
        extra = {
            s.candles.symbol: {b.ts: b for i in timeframes_of(self.config, s.candles.symbol)[1:]
                               for b in s.candles.resample(i).bars()}
            for s in symbols
        }  # fmt: skip
        for t, bars in _steps(symbols, starts, self.interval):
            clock.now = t
            status = cast(dict[str, Any], portfolio.ask(GetStatus(), timeout=ASK_TIMEOUT_S))
            held = {p["symbol"]: p for p in status["positions"]}
            inside = []
            for s, i in bars:
                c, p = s.candles, held.get(s.candles.symbol)
                if p is not None:
                    hit = exit_in_bar(Side(p["side"]), p["stop"], p["target"], float(c.open[i]), float(c.high[i]),
                                      float(c.low[i]))  # fmt: skip
                    if hit is not None:
                        inside.append(self._quote(s, hit[0], t - self.interval // 2))
            if inside:
                self._deliver(ctx, refs, inside, inside)
            fill_at = [self._quote(s, _next_price(s, i), t) for s, i in bars]
            self._deliver(ctx, refs, fill_at, [self._quote(s, float(s.candles.close[i]), t) for s, i in bars])
            for s, i in bars:
                name, c = s.candles.symbol, s.candles
                bar = BarClosed(name, self.interval, int(c.ts[i]), float(c.open[i]), float(c.high[i]),
                                float(c.low[i]), float(c.close[i]), float(c.volume[i]))  # fmt: skip
                router.tell(name, FEATURES, bar)
                self._settle(ctx, refs)
                longer = extra[name].get(t)
                if longer is not None:
                    router.tell(name, FEATURES, longer)
                    self._settle(ctx, refs)
            for role in (PORTFOLIO, SCANNER):
                router.tell_singleton(role, Tick(t))
                self._settle(ctx, refs)
            if t >= next_corr:
                router.tell_singleton(CORRELATION, Tick(t))
                self._settle(ctx, refs)
                next_corr = t - t % corr_every + corr_every

    def _deliver(
        self, ctx: ActorContext, refs: list[pykka.ActorRef[Any]], fill_at: list[Quote], marks: list[Quote]
    ) -> None:
        """One batch, as MarketData sends them: Execution gets the quotes orders fill at, Risk and
        Portfolio the ones positions are marked at."""
        router = ctx.router
        router.tell_singleton(EXECUTION, QuotesUpdated(tuple(fill_at)))
        router.tell_singleton(RISK, QuotesUpdated(tuple(marks)))
        router.tell_singleton(PORTFOLIO, QuotesUpdated(tuple(marks)))
        self._settle(ctx, refs)


def _next_price(s: Series, i: int) -> float:
    """The first price after bar ``i`` closes: the next bar's open (the last bar's close at the end)."""
    c = s.candles
    return float(c.close[i] if i + 1 == len(c) else c.open[i + 1])


def _steps(
    symbols: Sequence[Series], starts: dict[str, int], interval: int
) -> Iterator[tuple[int, list[tuple[Series, int]]]]:
    """Bar close times in order, each with the (series, bar index) closing then, by symbol: the
    fast path's ``event_order``, grouped by step."""
    names = [s.candles.symbol for s in symbols]
    close, who, index = event_order(
        [s.candles.ts[starts[n] :].tolist() for s, n in zip(symbols, names, strict=True)],
        [starts[n] for n in names],
        interval,
    )
    step: list[tuple[Series, int]] = []
    for k, (t, w, i) in enumerate(zip(close.tolist(), who.tolist(), index.tolist(), strict=True)):
        step.append((symbols[w], i))
        if k + 1 == len(close) or close[k + 1] != t:
            yield t, step
            step = []
