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
from adapters.bitget.auth import Credentials
from adapters.bitget.broker import BitgetBroker, KeyNotAllowed
from adapters.bitget.errors import BitgetError
from adapters.bitget.rest import BitgetRest
from adapters.bitget.source import BitgetSource
from adapters.sim.bitget_server import BitgetSimServer
from adapters.sim.feed import SimFeed
from adapters.sim.market import SimConfig, SimMarket
from adapters.sim.signature_check import SimKey
from engine.config import Config
from engine.control.endpoint import TOKEN_FILE, load_or_create_token
from engine.messages import AddSymbol, GetStatus, RemoveSymbol, Tick, VenueFill, VenueFillReceived, VenueResynced
from engine.ports import MarketSource
from engine.runtime.dispatcher import Dispatcher
from engine.runtime.faults import FaultInjector
from engine.runtime.latency import LatencyRecorder
from engine.runtime.routing import Router
from engine.runtime.stats import RuntimeStats
from engine.runtime.timers import Timers
from engine.store.recovery import StateUnusable, check_state
from engine.strategy_plan import risk_limits
from engine.supervisor import SingletonFactory, Supervisor
from engine.universe import UniverseChange, universe_change

DB_FILE = "engine.sqlite"
SWEEP_INTERVAL_S = 0.25
STOP_TIMEOUT_S = 10.0
LIVE_CHECK_INTERVAL_S = 5.0
DRAIN_TIMEOUT_S = 20.0
DRAIN_POLL_S = 0.5


class EngineStartError(RuntimeError):
    """The engine cannot start; the message says why and what to do."""


@dataclass(slots=True)
class Venue:
    """What the engine trades through: market data, the live account (None on paper) and, for the
    ``sim`` venue, the embedded simulated exchange they both talk to."""

    source: MarketSource
    account: BitgetBroker | None = None
    server: BitgetSimServer | None = None

    def stop(self) -> None:
        account, server, self.account, self.server = self.account, self.server, None, None
        if account is not None:
            account.stop()
        if server is not None:
            server.stop()


def build_venue(config: Config) -> Venue:
    """The configured venue: the embedded simulator (``sim``) or Bitget, both through the Bitget
    adapter; in live mode also the account, after the start-up checks (confirmation, keys, a key
    that cannot withdraw)."""
    venue, live = config.engine.venue, config.engine.mode == "live"
    if venue not in ("sim", "bitget"):
        raise EngineStartError(f"venue {venue!r} is not available yet: 'sim' (the simulated exchange) and 'bitget' are")
    credentials = _credentials(config) if live else None
    server = None
    if venue == "sim":
        key = (
            None if credentials is None else SimKey(credentials.api_key, credentials.secret_key, credentials.passphrase)
        )
        server = BitgetSimServer(build_sim_feed(config), key=key)
        try:
            server.start()
        except (OSError, RuntimeError) as exc:
            raise EngineStartError(f"cannot start the simulated exchange: {exc}") from None
        urls = (server.rest_url, server.ws_url, server.ws_private_url)
    else:
        urls = (config.bitget.rest_url, config.bitget.ws_public_url, config.bitget.ws_private_url)
    try:
        return _connect(config, urls, credentials, server)
    except EngineStartError:
        if server is not None:
            server.stop()
        raise


def _credentials(config: Config) -> Credentials:
    secrets = config.secrets
    if not config.live.confirm:
        raise EngineStartError(
            "live mode sends real orders: confirm with --confirm-live (or live.confirm = true); nothing was started"
        )
    missing = [name for name, value in (("BITGET_API_KEY", secrets.api_key), ("BITGET_SECRET_KEY", secrets.secret_key),
                                        ("BITGET_PASSPHRASE", secrets.passphrase)) if not value]  # fmt: skip
    if missing:
        raise EngineStartError(f"live mode needs {', '.join(missing)} in the environment or .env")
    return Credentials(secrets.api_key, secrets.secret_key, secrets.passphrase, demo=config.bitget.demo)


def _connect(
    config: Config, urls: tuple[str, str, str], credentials: Credentials | None, server: BitgetSimServer | None
) -> Venue:
    rest_url, ws_public, ws_private = urls
    rest = BitgetRest(rest_url, credentials, timeout_s=config.bitget.timeout_s)
    source = BitgetSource(rest, ws_public, silence_s=config.bitget.ws_silence_s)
    try:
        source.refresh()
    except (BitgetError, requests.RequestException) as exc:
        raise EngineStartError(f"cannot read Bitget's contracts from {rest_url}: {exc}") from None
    if credentials is None:
        return Venue(source, None, server)
    account = BitgetBroker(
        rest, ws_private, credentials, source.instrument,
        margin_mode=config.live.margin_mode, silence_s=config.bitget.ws_silence_s,
    )  # fmt: skip
    try:
        account.verify_key()
    except (KeyNotAllowed, BitgetError, requests.RequestException) as exc:
        raise EngineStartError(f"the API key cannot be used for live trading: {exc}") from None
    return Venue(source, account, server)


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
        self.venue = Venue(source) if source is not None else build_venue(config)
        self.source = self.venue.source
        self._undelivered: list[VenueFill] = []
        self._refreshing = threading.Lock()
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
        account = self.venue.account
        if account is not None:
            leverage = risk_limits(cfg).leverage_of
            try:
                account.prepare(self.symbols, lambda symbol: round(leverage(symbol)))
            except (BitgetError, requests.RequestException) as exc:
                raise EngineStartError(f"cannot set the account up for trading: {exc}") from None
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
            venue=account,
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
        if account is not None:  # stream first: Execution's reconciliation then covers every fill
            account.start(self._on_venue_fill, lambda: _tell_role(ctx, EXECUTION, VenueResynced()))
            ctx.timers.every(LIVE_CHECK_INTERVAL_S, self._live_tick)
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
        if cfg.symbol_list() is None and cfg.engine.universe_refresh_s > 0:
            ctx.timers.every(cfg.engine.universe_refresh_s, self._refresh_in_background)
        gc.freeze()
        logger.info("engine running: {} symbols streaming", len(self.symbols))

    def refresh_universe(self) -> UniverseChange:
        """Read the venue's listing again; add new listings that pass the volume minimum and remove
        delisted symbols (closing their positions). Logged; the change is returned."""
        supervisor = self.supervisor
        assert supervisor is not None
        self.source.refresh()
        status = supervisor.ask(GetStatus(), block=True, timeout=10)
        current = [*status["symbol_list"], *(q["symbol"] for q in status["quarantined"])]
        change = universe_change(
            current, self.source.universe(self.config.risk.min_volume_24h_usdt), set(self.source.listed())
        )
        for symbol in change.add:
            supervisor.ask(AddSymbol(symbol), block=True, timeout=30)
        for symbol in change.remove:
            supervisor.ask(RemoveSymbol(symbol, close_positions=True), block=True, timeout=30)
        if change.add or change.remove:
            logger.info(
                "universe refreshed: {} new listings added ({}), {} delisted removed ({})",
                len(change.add), ", ".join(change.add) or "-", len(change.remove), ", ".join(change.remove) or "-",
            )  # fmt: skip
        return change

    def _refresh_in_background(self) -> None:
        """On a timer: the REST reads run on their own thread so the timers never wait for them."""
        if not self._refreshing.acquire(blocking=False):
            return

        def run() -> None:
            try:
                self.refresh_universe()
            except Exception as exc:  # a venue error must not end the refresh schedule
                logger.warning("universe refresh failed ({}); the next one is in {}s", exc,
                               self.config.engine.universe_refresh_s)  # fmt: skip
            finally:
                self._refreshing.release()

        threading.Thread(target=run, name="universe-refresh", daemon=True).start()

    def _on_venue_fill(self, fill: VenueFill) -> None:
        """On the venue's stream thread: hand the fill to Execution, or keep it while Execution
        is restarting (``_live_tick`` hands it over later; Execution drops duplicates)."""
        ctx = self.ctx
        if ctx is None or not ctx.router.tell_singleton(EXECUTION, VenueFillReceived(fill)):
            self._undelivered.append(fill)

    def _live_tick(self) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        held, self._undelivered = self._undelivered, []
        for fill in held:
            self._on_venue_fill(fill)
        ctx.router.tell_singleton(EXECUTION, Tick())

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
            self.venue.stop()
            return
        self.stopped.set()
        ctx.timers.stop()  # no more rebalances, samples or sweeps: nothing new starts from here
        supervisor.proxy().begin_shutdown().get(timeout=STOP_TIMEOUT_S)
        router = ctx.router
        market_data = router.singleton(MARKET_DATA)
        if market_data is not None:
            _stop(market_data)
        supervisor.proxy().shutdown_symbols().get(timeout=STOP_TIMEOUT_S)
        portfolio = router.singleton(PORTFOLIO)
        if portfolio is not None:
            portfolio.tell(Tick())
        for role in (CONTROL, CORRELATION, SCANNER, RISK):  # no order is approved after this
            ref = router.singleton(role)
            if ref is not None:
                _stop(ref)
        self._drain_orders()
        for role in (EXECUTION, PORTFOLIO, STORE):
            ref = router.singleton(role)
            if ref is not None:
                _stop(ref)
        _stop(supervisor)
        ctx.dispatcher.shutdown()
        self.venue.stop()
        self.ctx = None
        logger.info("engine stopped")

    def _drain_orders(self) -> None:
        """Live: wait (bounded) for the orders in flight to fill or be looked up, with the venue's
        stream still delivering, so a clean stop leaves no fill for the next start to find."""
        ctx = self.ctx
        execution = None if ctx is None else ctx.router.singleton(EXECUTION)
        if self.venue.account is None or execution is None:
            return
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while True:
            try:
                status: dict[str, Any] = execution.ask(GetStatus(), block=True, timeout=STOP_TIMEOUT_S) or {}
                in_flight = int(status.get("in_flight", 0))
            except (pykka.Timeout, pykka.ActorDeadError):
                return
            if in_flight == 0:
                return
            if time.monotonic() > deadline:
                logger.warning("{} orders still in flight at the stop: the next start reconciles them", in_flight)
                return
            logger.info("stopping: waiting for {} orders in flight", in_flight)
            self._live_tick()
            time.sleep(DRAIN_POLL_S)


def _tell_role(ctx: ActorContext, role: str, message: Any = None) -> None:
    ctx.router.tell_singleton(role, Tick() if message is None else message)


def _stop(ref: pykka.ActorRef[Any]) -> None:
    try:
        ref.stop(block=True, timeout=STOP_TIMEOUT_S)
    except (pykka.Timeout, pykka.ActorDeadError):
        logger.warning("{} did not stop within {:.0f}s", ref, STOP_TIMEOUT_S)
