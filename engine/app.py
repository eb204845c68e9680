"""Assembles and runs one engine: venue source, dispatcher, supervisor, singletons, pipelines.

Start order: Store (state must be readable first), Portfolio (restores from it), Risk, Execution,
Scanner, Control, then every symbol's pipeline, and MarketData last, which backfills each symbol
and only then starts streaming. Everything built during start-up (histories, instruments, actors)
lives as long as the engine, so it is moved out of the garbage collector's reach (``gc.freeze``):
a full collection would otherwise walk it and stall every symbol for tens of milliseconds. Stop
order is the reverse, ending with the Store so every write sent before the stop is on disk.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka
import requests
from loguru import logger

from actors.context import (
    CONTROL,
    CORRELATION,
    EXECUTION,
    FEATURES,
    FEED,
    MARKET_DATA,
    PORTFOLIO,
    RISK,
    SCANNER,
    SIGNAL,
    STORE,
    SUPERVISOR,
    ActorContext,
)
from actors.control import ControlActor
from actors.correlation import CorrelationActor
from actors.execution import ExecutionActor
from actors.features import FeaturesActor
from actors.feed import FeedActor
from actors.market_data import MarketDataActor
from actors.portfolio import PortfolioActor
from actors.risk import RiskActor
from actors.scanner import ScannerActor
from actors.signal import SignalActor
from actors.store import StoreActor
from adapters.bitget.errors import BitgetError
from adapters.bitget.rest import BitgetRest
from adapters.bitget.source import BitgetSource
from adapters.sim.feed import SimFeed
from adapters.sim.market import SimConfig, SimMarket
from engine.config import Config
from engine.control.endpoint import TOKEN_FILE, load_or_create_token
from engine.messages import GetStatus, Tick
from engine.ports import MarketSource
from engine.runtime.dispatcher import Dispatcher
from engine.runtime.faults import FaultInjector
from engine.runtime.latency import LatencyRecorder
from engine.runtime.routing import Router
from engine.runtime.stats import RuntimeStats
from engine.runtime.timers import Timers
from engine.store.recovery import StateUnusable, check_state
from engine.supervisor import SingletonFactory, Supervisor

DB_FILE = "engine.sqlite"
SWEEP_INTERVAL_S = 0.25
STOP_TIMEOUT_S = 10.0


class EngineStartError(RuntimeError):
    """The engine cannot start; the message says why and what to do."""


def build_source(config: Config) -> MarketSource:
    """The market-data source for the configured venue: the simulator, or Bitget's public data."""
    venue = config.engine.venue
    if venue == "bitget":
        return _bitget_source(config)
    if venue != "sim":
        raise EngineStartError(f"venue {venue!r} is not available yet: 'sim' (the simulated market) and 'bitget' are")
    return build_sim_feed(config)


def build_sim_feed(config: Config) -> SimFeed:
    """The [sim] market, paced at ``sim.speed``, starting at the current minute."""
    s = config.sim
    now_ms = int(time.time() * 1000)
    market = SimMarket(
        SimConfig(
            symbols=s.symbols,
            seed=s.seed,
            step_ms=s.step_ms,
            ticker_interval_ms=s.ticker_interval_ms,
            book_interval_ms=s.book_interval_ms,
            trade_rate_per_s=s.trade_rate_per_s,
            history_bars=s.history_bars,
            start_ts_ms=now_ms - now_ms % 60_000,
            min_volume_24h_usdt=config.risk.min_volume_24h_usdt,
        )
    )
    return SimFeed(market, s.speed)


def _bitget_source(config: Config) -> MarketSource:
    """Bitget's public REST and WebSocket data (paper trading needs no keys); the contract list is
    read now, so an unreachable venue stops start-up with the reason instead of a silent engine."""
    source = BitgetSource(BitgetRest(config.bitget.rest_url), config.bitget.ws_public_url)
    try:
        source.refresh()
    except (BitgetError, requests.RequestException) as exc:
        raise EngineStartError(f"cannot read Bitget's contracts from {config.bitget.rest_url}: {exc}") from None
    return source


def resolve_symbols(config: Config, source: MarketSource) -> list[str]:
    """``all`` is the venue's universe above the minimum volume; a list must be all listed."""
    wanted = config.symbol_list()
    if wanted is None:
        return source.universe(config.risk.min_volume_24h_usdt)
    listed = set(source.listed())
    unknown = [s for s in wanted if s not in listed]
    if unknown:
        raise EngineStartError(f"unknown symbol(s) on venue {config.engine.venue}: {', '.join(unknown)}")
    return wanted


def spawn_pipeline(ctx: ActorContext, symbol: str, generation: int) -> dict[str, pykka.ActorRef[Any]]:
    """A symbol's Signal, Features and Feed (downstream first, so nothing is sent to a missing actor)."""
    return {
        SIGNAL: SignalActor.start(ctx, symbol, generation),
        FEATURES: FeaturesActor.start(ctx, symbol, generation),
        FEED: FeedActor.start(ctx, symbol, generation),
    }


@dataclass(slots=True)
class Paths:
    data_dir: Path
    log_dir: Path

    @property
    def db(self) -> Path:
        return self.data_dir / DB_FILE


class Engine:
    """One running engine. ``start``, then ``wait``, then ``stop`` (also on errors)."""

    def __init__(self, config: Config, source: MarketSource | None = None, start_flat: bool = False) -> None:
        self.config = config
        self.start_flat = start_flat
        self.paths = Paths(Path(config.engine.data_dir), Path(config.engine.log_dir))
        self.source = source if source is not None else build_source(config)
        self.faults = FaultInjector(config.supervision.fault_inject)
        self.stopped = threading.Event()
        self.ctx: ActorContext | None = None
        self.supervisor: pykka.ActorRef[Supervisor] | None = None
        self.symbols: list[str] = []

    def start(self) -> None:
        cfg = self.config
        self.paths.data_dir.mkdir(parents=True, exist_ok=True)
        self.paths.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            note = check_state(self.paths.db, self.paths.data_dir / TOKEN_FILE, self.start_flat)
        except StateUnusable as exc:
            raise EngineStartError(str(exc)) from None
        if note:
            logger.warning(note)
        self.symbols = resolve_symbols(cfg, self.source)
        token = load_or_create_token(self.paths.data_dir)
        ctx = ActorContext(
            config=cfg,
            dispatcher=Dispatcher(cfg.runtime.dispatcher_workers, cfg.runtime.batch_size),
            router=Router(),
            faults=self.faults,
            latency=LatencyRecorder(),
            timers=Timers(),
            source=self.source,
            stats=RuntimeStats(),
        )
        self.ctx = ctx
        singletons: dict[str, SingletonFactory] = {
            STORE: lambda _restart: StoreActor.start(ctx, self.paths.db, self.paths.log_dir),
            PORTFOLIO: lambda _restart: PortfolioActor.start(ctx),
            RISK: lambda _restart: RiskActor.start(ctx),
            EXECUTION: lambda _restart: ExecutionActor.start(ctx),
            SCANNER: lambda _restart: ScannerActor.start(ctx),
            CORRELATION: lambda _restart: CorrelationActor.start(ctx),
            CONTROL: lambda _restart: ControlActor.start(ctx, self.paths.data_dir, token),
            MARKET_DATA: lambda restart: MarketDataActor.start(ctx, backfill_on_start=not restart),
        }
        logger.info(
            "starting: mode {}, venue {}, {} symbols, risk {:.2%} per trade, heat cap {:.2%}, max {} positions",
            cfg.engine.mode,
            cfg.engine.venue,
            len(self.symbols),
            cfg.risk.risk_per_trade_pct,
            cfg.risk.portfolio_heat_cap_pct,
            cfg.risk.max_concurrent_positions,
        )
        supervisor = Supervisor.start(ctx, spawn_pipeline, singletons)
        self.supervisor = supervisor
        ctx.router.bind_singleton(SUPERVISOR, supervisor)
        proxy = supervisor.proxy()
        proxy.start_singletons([r for r in singletons if r != MARKET_DATA]).get(timeout=60)
        proxy.start_symbols(self.symbols).get(timeout=60)
        proxy.start_singletons([MARKET_DATA]).get(timeout=60)
        for role in singletons:
            ref = ctx.router.singleton(role)
            if ref is not None:
                ref.ask(GetStatus(), timeout=300)  # answered once on_start (backfill for MarketData) is done
        ctx.timers.every(SWEEP_INTERVAL_S, lambda: _tell_role(ctx, SUPERVISOR))
        ctx.timers.every(cfg.engine.equity_sample_s, lambda: _tell_role(ctx, PORTFOLIO))
        _tell_role(ctx, CORRELATION)  # the backfilled windows are full: block correlated entries from the start
        ctx.timers.every(cfg.engine.correlation_interval_s, lambda: _tell_role(ctx, CORRELATION))
        ctx.timers.every(cfg.scanner.interval_s, lambda: _tell_role(ctx, SCANNER))
        gc.freeze()
        logger.info("engine running: {} symbols streaming", len(self.symbols))

    def status(self) -> dict[str, Any]:
        assert self.supervisor is not None
        result: dict[str, Any] = self.supervisor.ask(GetStatus(), block=True, timeout=10)
        return result

    def wait(self, duration_s: float | None = None) -> None:
        """Block until ``duration_s`` has passed or ``stopped`` is set (Ctrl-C, SIGTERM)."""
        self.stopped.wait(duration_s)

    def stop(self) -> None:
        """Stop streaming, then pipelines, then singletons, flushing the Store last."""
        ctx, supervisor = self.ctx, self.supervisor
        if ctx is None or supervisor is None:
            return
        self.stopped.set()
        supervisor.proxy().begin_shutdown().get(timeout=STOP_TIMEOUT_S)
        router = ctx.router
        market_data = router.singleton(MARKET_DATA)
        if market_data is not None:
            _stop(market_data)
        supervisor.proxy().shutdown_symbols().get(timeout=STOP_TIMEOUT_S)
        portfolio = router.singleton(PORTFOLIO)
        if portfolio is not None:
            portfolio.tell(Tick())
        for role in (CONTROL, CORRELATION, SCANNER, EXECUTION, RISK, PORTFOLIO, STORE):
            ref = router.singleton(role)
            if ref is not None:
                _stop(ref)
        _stop(supervisor)
        ctx.timers.stop()
        ctx.dispatcher.shutdown()
        self.ctx = None
        logger.info("engine stopped")


def _tell_role(ctx: ActorContext, role: str) -> None:
    ctx.router.tell_singleton(role, Tick())


def _stop(ref: pykka.ActorRef[Any]) -> None:
    try:
        ref.stop(block=True, timeout=STOP_TIMEOUT_S)
    except (pykka.Timeout, pykka.ActorDeadError):
        logger.warning("{} did not stop within {:.0f}s", ref, STOP_TIMEOUT_S)
