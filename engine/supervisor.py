"""The Supervisor: owns every actor, restarts what dies, quarantines what keeps dying.

Invariants:
- one_for_one per symbol: a failure in any of a symbol's actors stops and restarts that symbol's
  whole pipeline (Feed, Features, Signal) after an exponential backoff with jitter, and touches no
  other symbol; more than ``max_restarts`` failures within ``window_s`` quarantines the symbol:
  its actors are stopped, it is unsubscribed, the last traceback is logged and kept for status,
  and it is never restarted in a loop (``engine symbols add`` re-enables it explicitly);
- a restarted pipeline gets a new generation; reports from an older generation are ignored;
- a singleton that dies is restarted from its stored state; a singleton crash loop halts new
  entries (HALTED, with the reason) while the singleton keeps being restarted at the longest
  backoff, because exits must stay possible;
- addresses (symbol, role) stay stable: the router is rebound on every restart, so nobody ever
  holds a stale ref; a periodic sweep of ``is_alive`` catches any death that was not reported.

The Supervisor is a ThreadingActor that never dies of a bad message: every handler error is
logged and the Supervisor carries on.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pykka
from loguru import logger

from actors.context import MARKET_DATA, RISK, STORE, SYMBOL_ROLES, ActorContext
from engine.core.risk import CRASH_LOOP
from engine.messages import (
    ActorFailed,
    AddSymbol,
    BackfillSymbol,
    CommandResult,
    ExitPosition,
    GetStatus,
    RecordEvent,
    RemoveSymbol,
    RestartDue,
    RestartSingleton,
    SubscribeSymbol,
    Tick,
    TradingState,
    TradingStateChanged,
    UnsubscribeSymbol,
)
from engine.ports import UnknownSymbolError
from engine.runtime.pooled import pooled_inbox
from engine.runtime.supervision import GiveUp, RestartPolicy, RestartTracker

PipelineFactory = Callable[[ActorContext, str, int], dict[str, pykka.ActorRef[Any]]]
SingletonFactory = Callable[[bool], pykka.ActorRef[Any]]
"""Starts a singleton; the flag says whether this is a restart after a crash."""

RUNNING = "running"
RESTARTING = "restarting"
QUARANTINED = "quarantined"


@dataclass(slots=True)
class Pipeline:
    symbol: str
    tracker: RestartTracker
    generation: int = 0
    state: str = RUNNING
    refs: dict[str, pykka.ActorRef[Any]] = field(default_factory=dict)
    restarts: int = 0
    last_error: str = ""
    last_traceback: str = ""


@dataclass(slots=True)
class Singleton:
    role: str
    factory: SingletonFactory
    tracker: RestartTracker
    ref: pykka.ActorRef[Any] | None = None
    restarts: int = 0
    last_error: str = ""


def _now_ms() -> int:
    return int(time.time() * 1000)


class Supervisor(pykka.ThreadingActor):
    use_daemon_thread = True

    def __init__(
        self,
        ctx: ActorContext,
        spawn_pipeline: PipelineFactory,
        singletons: Mapping[str, SingletonFactory],
        rng: random.Random | None = None,
    ) -> None:
        super().__init__()
        self.ctx = ctx
        self.router = ctx.router
        self._spawn_pipeline = spawn_pipeline
        self._rng = rng or random.Random()
        sup = ctx.config.supervision
        self._symbol_policy = RestartPolicy(
            sup.max_restarts, sup.window_s, sup.backoff_initial_ms / 1000, sup.backoff_max_ms / 1000, sup.backoff_jitter
        )
        self._singleton_policy = RestartPolicy(
            sup.singleton_max_restarts,
            sup.window_s,
            sup.backoff_initial_ms / 1000,
            sup.backoff_max_ms / 1000,
            sup.backoff_jitter,
        )
        self.pipelines: dict[str, Pipeline] = {}
        self.singletons = {
            role: Singleton(role, factory, RestartTracker(self._singleton_policy, self._rng))
            for role, factory in singletons.items()
        }
        self.halted_reason = ""
        self._stopping = False
        self._suspects: set[str] = set()

    # --- lifecycle ---------------------------------------------------------------------------

    def start_singletons(self, roles: list[str]) -> None:
        """Start these singletons in this order (the caller starts Store first, MarketData last)."""
        for role in roles:
            self._start_singleton(self.singletons[role], restart=False)

    def start_symbols(self, symbols: list[str]) -> None:
        """Spawn pipelines for the initial universe; MarketData backfills and subscribes them."""
        for symbol in symbols:
            self._start_pipeline(self._pipeline(symbol))

    def begin_shutdown(self) -> None:
        """From now on deaths are expected: nothing is restarted, swept or quarantined."""
        self._stopping = True

    def shutdown_symbols(self) -> None:
        for pipeline in self.pipelines.values():
            self._stop_pipeline(pipeline)

    # --- messages ----------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        try:
            return self._dispatch(message)
        except Exception:
            logger.exception("supervisor: error handling {}; carrying on", type(message).__name__)
            return None

    def _dispatch(self, message: Any) -> Any:
        if self._stopping and isinstance(message, (ActorFailed, RestartDue, RestartSingleton, Tick)):
            return None
        if isinstance(message, ActorFailed):
            if message.symbol is None:
                self._singleton_failed(message.role, message.error, message.traceback, message.actor_urn)
            else:
                self._symbol_failed(message)
        elif isinstance(message, RestartDue):
            self._restart_symbol(message.symbol, message.generation)
        elif isinstance(message, RestartSingleton):
            self._restart_singleton(message.role)
        elif isinstance(message, Tick):
            self._sweep()
        elif isinstance(message, AddSymbol):
            return self._add(message.symbol)
        elif isinstance(message, RemoveSymbol):
            return self._remove(message.symbol, message.close_positions)
        elif isinstance(message, GetStatus):
            return self.status()
        return None

    # --- symbols -----------------------------------------------------------------------------

    def _pipeline(self, symbol: str) -> Pipeline:
        pipeline = self.pipelines.get(symbol)
        if pipeline is None:
            pipeline = Pipeline(symbol, RestartTracker(self._symbol_policy, self._rng))
            self.pipelines[symbol] = pipeline
        return pipeline

    def _start_pipeline(self, pipeline: Pipeline) -> None:
        pipeline.generation += 1
        pipeline.refs = self._spawn_pipeline(self.ctx, pipeline.symbol, pipeline.generation)
        for role, ref in pipeline.refs.items():
            self.router.bind(pipeline.symbol, role, ref)
        pipeline.state = RUNNING

    def _stop_pipeline(self, pipeline: Pipeline) -> None:
        for role in SYMBOL_ROLES:
            self.router.unbind(pipeline.symbol, role)
        for ref in pipeline.refs.values():
            if ref.is_alive():
                ref.stop(block=False)
        pipeline.refs = {}

    def _symbol_failed(self, report: ActorFailed) -> None:
        assert report.symbol is not None
        pipeline = self.pipelines.get(report.symbol)
        if pipeline is None or pipeline.state != RUNNING or report.generation != pipeline.generation:
            return
        pipeline.last_error = report.error
        pipeline.last_traceback = report.traceback
        self._stop_pipeline(pipeline)
        decision = pipeline.tracker.on_failure(time.monotonic())
        if isinstance(decision, GiveUp):
            pipeline.state = QUARANTINED
            self.router.tell_singleton(MARKET_DATA, UnsubscribeSymbol(pipeline.symbol))
            logger.error(
                "{} quarantined: {} failures within {:.0f}s (limit {}); last error in {}: {}\n{}",
                pipeline.symbol,
                decision.failures_in_window,
                self._symbol_policy.window_s,
                self._symbol_policy.max_restarts,
                report.role,
                report.error,
                report.traceback.rstrip(),
            )
            self._record("quarantine", pipeline.symbol, f"{report.role}: {report.error}")
            return
        pipeline.state = RESTARTING
        logger.warning(
            "{} {} failed ({}); restarting its pipeline in {:.0f} ms (failure {} of {} allowed in {:.0f}s)",
            pipeline.symbol,
            report.role,
            report.error,
            decision.delay_s * 1000,
            decision.failures_in_window,
            self._symbol_policy.max_restarts,
            self._symbol_policy.window_s,
        )
        generation = pipeline.generation
        me = self.actor_ref
        self.ctx.timers.after(decision.delay_s, lambda: _tell(me, RestartDue(pipeline.symbol, generation)))

    def _restart_symbol(self, symbol: str, generation: int) -> None:
        pipeline = self.pipelines.get(symbol)
        if pipeline is None or pipeline.state != RESTARTING or pipeline.generation != generation:
            return
        self._start_pipeline(pipeline)
        pipeline.restarts += 1
        self.router.tell_singleton(MARKET_DATA, BackfillSymbol(symbol))
        self._record("restart", symbol, pipeline.last_error)
        logger.info("{} pipeline restarted (generation {}, backfilled)", symbol, pipeline.generation)

    def _add(self, symbol: str) -> CommandResult:
        symbol = symbol.strip().upper()
        try:
            instrument = self.ctx.source.instrument(symbol)
        except UnknownSymbolError as exc:
            return CommandResult(False, f"cannot add {symbol}: {exc}")
        pipeline = self.pipelines.get(symbol)
        if pipeline is not None and pipeline.state in (RUNNING, RESTARTING):
            return CommandResult(False, f"{symbol} is already trading ({pipeline.state})")
        pipeline = self._pipeline(symbol)
        pipeline.tracker = RestartTracker(self._symbol_policy, self._rng)
        self._start_pipeline(pipeline)
        self.router.tell_singleton(MARKET_DATA, SubscribeSymbol(symbol))
        note = ""
        if instrument.volume_24h_usdt < self.ctx.config.risk.min_volume_24h_usdt:
            note = (
                f" (note: 24h volume {instrument.volume_24h_usdt:,.0f} USDT is below "
                f"min_volume_24h_usdt {self.ctx.config.risk.min_volume_24h_usdt:,.0f})"
            )
        logger.info("{} added: subscribed, backfilling, then trading{}", symbol, note)
        self._record("symbol_added", symbol, note.strip())
        return CommandResult(True, f"{symbol} added: backfilling history, then trading{note}")

    def _remove(self, symbol: str, close_positions: bool) -> CommandResult:
        symbol = symbol.strip().upper()
        pipeline = self.pipelines.pop(symbol, None)
        if pipeline is None:
            return CommandResult(False, f"cannot remove {symbol}: it is not in the engine's symbols")
        self._stop_pipeline(pipeline)
        if close_positions:
            self.router.tell_singleton(RISK, ExitPosition(symbol, _now_ms(), "symbol removed"))
        self.router.tell_singleton(MARKET_DATA, UnsubscribeSymbol(symbol))
        what = "its position (if any) is being closed" if close_positions else "its position (if any) is kept"
        logger.info("{} removed: actors stopped, unsubscribed; {}", symbol, what)
        self._record("symbol_removed", symbol, what)
        return CommandResult(True, f"{symbol} removed; {what}")

    # --- singletons --------------------------------------------------------------------------

    def _start_singleton(self, singleton: Singleton, restart: bool) -> None:
        singleton.ref = singleton.factory(restart)
        self.router.bind_singleton(singleton.role, singleton.ref)
        if singleton.role == RISK and self.halted_reason:
            singleton.ref.tell(TradingStateChanged(TradingState.HALTED, self.halted_reason, CRASH_LOOP))

    def _singleton_failed(self, role: str, error: str, traceback: str, actor_urn: str) -> None:
        singleton = self.singletons.get(role)
        if singleton is None or singleton.ref is None or actor_urn != singleton.ref.actor_urn:
            return
        self.router.unbind_singleton(role)
        if singleton.ref.is_alive():
            singleton.ref.stop(block=False)
        singleton.ref = None
        singleton.last_error = error
        decision = singleton.tracker.on_failure(time.monotonic())
        if isinstance(decision, GiveUp):
            delay = self._singleton_policy.backoff_max_s
            if not self.halted_reason:
                self.halted_reason = (
                    f"{role} crash loop: {decision.failures_in_window} failures within "
                    f"{self._singleton_policy.window_s:.0f}s; last error {error}"
                )
                logger.critical("HALTED: no new entries. {}\n{}", self.halted_reason, traceback.rstrip())
                self.router.tell_singleton(
                    RISK, TradingStateChanged(TradingState.HALTED, self.halted_reason, CRASH_LOOP)
                )
                self._record("halted", "", self.halted_reason)
        else:
            delay = decision.delay_s
            logger.error(
                "{} failed ({}); restarting it from stored state in {:.0f} ms\n{}",
                role,
                error,
                delay * 1000,
                traceback.rstrip(),
            )
        me = self.actor_ref
        self.ctx.timers.after(delay, lambda: _tell(me, RestartSingleton(role)))

    def _restart_singleton(self, role: str) -> None:
        singleton = self.singletons.get(role)
        if singleton is None or singleton.ref is not None:
            return
        self._start_singleton(singleton, restart=True)
        singleton.restarts += 1
        self._record("restart", "", role)
        logger.info("{} restarted", role)

    # --- liveness and status -----------------------------------------------------------------

    def _sweep(self) -> None:
        """Catch deaths nobody reported (pykka facts: some failures skip every hook).

        An actor found dead is only failed if it is still dead and unreported on the next sweep:
        a crash report is sent before the actor is marked dead, so by then it has been handled,
        with its real error and traceback, and the sweep's guess is dropped.
        """
        dead: set[str] = set()
        for pipeline in list(self.pipelines.values()):
            if pipeline.state != RUNNING:
                continue
            for role, ref in pipeline.refs.items():
                if not ref.is_alive():
                    dead.add(ref.actor_urn)
                    if ref.actor_urn in self._suspects:
                        self._symbol_failed(
                            ActorFailed(
                                pipeline.symbol,
                                role,
                                "died without reporting (found by the liveness sweep)",
                                "",
                                pipeline.generation,
                                ref.actor_urn,
                            )
                        )
                    break
        for singleton in self.singletons.values():
            current = singleton.ref
            if current is not None and not current.is_alive():
                dead.add(current.actor_urn)
                if current.actor_urn in self._suspects:
                    self._singleton_failed(
                        singleton.role, "died without reporting (found by the liveness sweep)", "", current.actor_urn
                    )
        self._suspects = dead

    def _record(self, kind: str, symbol: str, detail: str) -> None:
        self.router.tell_singleton(STORE, RecordEvent(_now_ms(), kind, symbol, detail))

    def status(self) -> dict[str, Any]:
        counts = {RUNNING: 0, RESTARTING: 0, QUARANTINED: 0}
        conflated = deepest = high_water = 0
        for pipeline in self.pipelines.values():
            counts[pipeline.state] += 1
            for ref in pipeline.refs.values():
                inbox = pooled_inbox(ref)
                if inbox is not None:
                    conflated += inbox.conflated
                    deepest = max(deepest, len(inbox))
                    high_water = max(high_water, inbox.high_water)
        return {
            "symbols": counts,
            "symbol_list": sorted(s for s, p in self.pipelines.items() if p.state != QUARANTINED),
            "quarantined": [
                {"symbol": p.symbol, "error": p.last_error, "traceback": p.last_traceback}
                for p in self.pipelines.values()
                if p.state == QUARANTINED
            ],
            "restarts": {s: p.restarts for s, p in self.pipelines.items() if p.restarts},
            "singletons": {
                role: {
                    "alive": s.ref is not None and s.ref.is_alive(),
                    "restarts": s.restarts,
                    "last_error": s.last_error,
                }
                for role, s in self.singletons.items()
            },
            "halted_reason": self.halted_reason,
            "conflated_events": conflated,
            "deepest_mailbox": deepest,
            "mailbox_high_water": high_water,
            "undelivered": self.router.undelivered,
            "dispatcher_ready": self.ctx.dispatcher.ready_depth(),
            "latency_us": self.ctx.latency.percentiles_us(),
            "events_routed": self.ctx.stats.events_routed,
            "uptime_s": round(time.monotonic() - self.ctx.stats.started, 1),
        }


def _tell(ref: pykka.ActorRef[Any], message: Any) -> None:
    with contextlib.suppress(pykka.ActorDeadError):
        ref.tell(message)
