"""Supervision of a running engine: restarts, isolation, quarantine, liveness sweep, singletons.

Each test starts a small in-process engine (8 simulated symbols, sped-up time, short backoffs),
injects a failure, and waits for the supervisor's reaction with a polling helper (generous
deadline, no fixed sleeps), because the test machines are slow and noisy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pykka
import pytest

from actors.context import FEATURES, FEED, PORTFOLIO, RISK, SCANNER, SIGNAL, SYMBOL_ROLES
from actors.features import FeaturesActor
from actors.portfolio import PortfolioActor
from engine.app import Engine
from engine.config import load_config
from engine.messages import EnterPosition, GetStatus, OrderFilled, Side

T = TypeVar("T")

DEADLINE_S = 20.0
SYMBOL = "BTCUSDT"
"""The symbol whose actors fail in these tests (the first of the simulated universe)."""
OTHER = "ETHUSDT"

BASE_SETTINGS: dict[str, Any] = {
    "sim.symbols": 8,
    "sim.speed": 20,
    "sim.ticker_interval_ms": 1000,
    "sim.book_interval_ms": 1000,
    "sim.trade_rate_per_s": 1.0,
    "supervision.backoff_initial_ms": 10,
    "supervision.backoff_max_ms": 200,
    # Indicators that never warm up (1000 bars > warmup_bars): no signal trades behind a test's
    # back, so the portfolio and Risk hold exactly what a test put there.
    "strategy.ema_slow": 1000,
}


# --- helpers -------------------------------------------------------------------------------------


def poll(get: Callable[[], T], ok: Callable[[T], object], what: str, timeout: float = DEADLINE_S) -> T:
    """Call ``get`` until ``ok`` accepts its value (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if ok(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last value: {value!r})")
        time.sleep(0.05)


def wait_for(condition: Callable[[], object], what: str, timeout: float = DEADLINE_S) -> None:
    """Poll ``condition`` until it is truthy or the deadline passes."""
    poll(condition, bool, what, timeout)


def handled(ref: pykka.ActorRef[Any]) -> int:
    """How many messages a symbol actor has handled."""
    count: int = ref.proxy().handled.get(timeout=5)
    return count


def pipeline_refs(engine: Engine, symbol: str) -> dict[str, pykka.ActorRef[Any] | None]:
    assert engine.ctx is not None
    return {role: engine.ctx.router.ref(symbol, role) for role in SYMBOL_ROLES}


def wait_for_stopped(refs: dict[str, pykka.ActorRef[Any] | None], what: str) -> None:
    assert all(ref is not None for ref in refs.values())
    wait_for(lambda: not any(ref is not None and ref.is_alive() for ref in refs.values()), what)


def wait_until_handling(ref: pykka.ActorRef[Any], more_than: int, what: str) -> int:
    return poll(lambda: handled(ref), lambda n: n > more_than, what)


def wait_for_restarts(engine: Engine, symbol: str, count: int) -> dict[str, Any]:
    return poll(
        engine.status,
        lambda s: s["restarts"].get(symbol) == count and s["symbols"]["restarting"] == 0,
        f"{symbol} restarted {count} time(s) and running",
    )


def last_price(engine: Engine, symbol: str) -> float:
    return engine.source.candles(symbol, 1, 60_000)[-1].close


def portfolio_status(engine: Engine) -> dict[str, Any]:
    assert engine.ctx is not None
    ref = engine.ctx.router.singleton(PORTFOLIO)
    assert ref is not None
    status: dict[str, Any] = ref.ask(GetStatus(), timeout=5)  # type: ignore[assignment]
    return status


def risk_status(engine: Engine) -> dict[str, Any] | None:
    assert engine.ctx is not None
    ref = engine.ctx.router.singleton(RISK)
    if ref is None:
        return None
    try:
        status: dict[str, Any] = ref.ask(GetStatus(), timeout=5)  # type: ignore[assignment]
    except pykka.ActorDeadError:
        return None
    return status


def fill(fill_id: str, symbol: str, price: float, qty: float = 0.01, side: Side = Side.LONG) -> OrderFilled:
    now = int(time.time() * 1000)
    stop = price * 0.5 if side is Side.LONG else price * 1.5  # far away: no stop exit during the test
    fee = price * qty * 0.0006
    return OrderFilled(fill_id, f"oid-{fill_id}", symbol, now, side, qty, price, fee, False, stop, "test", "test")


def crash_portfolio(engine: Engine, n: int) -> pykka.ActorRef[Any]:
    """Kill the current Portfolio with a fill its core rejects (qty 0: ValueError in a tell)."""
    assert engine.ctx is not None
    ref = engine.ctx.router.singleton(PORTFOLIO)
    assert ref is not None
    ref.tell(fill(f"bad-{n}", OTHER, 100.0, qty=0.0))
    wait_for(lambda: not ref.is_alive(), "the Portfolio to die of the bad fill")
    return ref


def position_views(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Positions without their mark (marks move with every quote, they are not persisted state)."""
    return [{k: v for k, v in p.items() if k != "mark"} for p in status["positions"]]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def start_engine(tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """Start an engine with the small test settings (plus overrides); every one is stopped after."""
    engines: list[Engine] = []

    def start(**overrides: Any) -> Engine:
        n = len(engines)
        cli = {
            **BASE_SETTINGS,
            "engine.data_dir": str(tmp_path / f"data{n}"),
            "engine.log_dir": str(tmp_path / f"logs{n}"),
            **{key.replace("__", "."): value for key, value in overrides.items()},
        }
        engine = Engine(load_config(cli=cli, env={}))
        engines.append(engine)
        engine.start()
        assert engine.ctx is not None
        # Every symbol streams before a test injects anything.
        for symbol in (SYMBOL, OTHER):
            ref = engine.ctx.router.ref(symbol, FEATURES)
            assert ref is not None
            wait_until_handling(ref, 0, f"{symbol} features handling events after start")
        return engine

    yield start
    for engine in reversed(engines):
        engine.stop()


# --- symbol pipelines: one_for_one restart --------------------------------------------------------


def test_failing_symbol_actor_gets_its_pipeline_restarted_with_a_new_generation(
    start_engine: Callable[..., Engine],
) -> None:
    engine = start_engine()
    assert engine.ctx is not None
    before = pipeline_refs(engine, SYMBOL)
    generation = before[FEATURES].proxy().generation.get(timeout=5)  # type: ignore[union-attr]

    engine.ctx.faults.arm(f"{SYMBOL}:features:BookUpdated:1")
    status = wait_for_restarts(engine, SYMBOL, 1)

    after = pipeline_refs(engine, SYMBOL)
    for role in SYMBOL_ROLES:
        assert after[role] is not None and after[role] is not before[role], role
        assert after[role].proxy().generation.get(timeout=5) == generation + 1  # type: ignore[union-attr]
    wait_for_stopped(before, "the old generation stopped")
    assert engine.ctx.faults.fired == 1
    assert status["symbols"] == {"running": 8, "restarting": 0, "quarantined": 0}
    assert SYMBOL in status["symbol_list"]

    # The new generation handles events again, and nothing restarts it a second time.
    wait_until_handling(after[FEATURES], 5, "the restarted features actor handling events")  # type: ignore[arg-type]
    wait_until_handling(after[SIGNAL], 5, "the restarted signal actor handling events")  # type: ignore[arg-type]
    assert engine.status()["restarts"] == {SYMBOL: 1}


def test_restarted_pipeline_is_backfilled_and_warm_without_a_live_warm_up(start_engine: Callable[..., Engine]) -> None:
    engine = start_engine(strategy__ema_slow=21)  # warm from the 200 backfilled bars
    assert engine.ctx is not None
    old = engine.ctx.router.ref(SYMBOL, FEATURES)

    engine.ctx.faults.arm(f"{SYMBOL}:features:BookUpdated:1")
    wait_for_restarts(engine, SYMBOL, 1)

    new = engine.ctx.router.ref(SYMBOL, FEATURES)
    assert new is not None and new is not old
    # 21 live 1m bars would take over a minute of wall time at speed 20: warm soon means backfilled.
    wait_for(lambda: new.proxy().engine.get(timeout=5).warm, "the restarted features to be warm from the backfill")


def test_a_failing_symbol_never_touches_the_other_symbols(start_engine: Callable[..., Engine]) -> None:
    engine = start_engine()
    assert engine.ctx is not None
    others = [s for s in engine.symbols if s != SYMBOL]
    assert len(others) >= 3
    refs_before = {s: pipeline_refs(engine, s) for s in others}
    handled_before = {s: handled(refs_before[s][FEED]) for s in others}  # type: ignore[arg-type]

    engine.ctx.faults.arm(f"{SYMBOL}:features:BookUpdated:1")
    status = wait_for_restarts(engine, SYMBOL, 1)

    assert status["restarts"] == {SYMBOL: 1}
    for symbol in others:
        for role in SYMBOL_ROLES:
            ref = engine.ctx.router.ref(symbol, role)
            assert ref is refs_before[symbol][role], (symbol, role)
            assert ref is not None and ref.is_alive(), (symbol, role)
        wait_until_handling(refs_before[symbol][FEED], handled_before[symbol] + 5, f"{symbol} still handling events")  # type: ignore[arg-type]
    leaked = {s: n for s, n in engine.ctx.router.undelivered_by_symbol.items() if s != SYMBOL}
    assert leaked == {}


# --- quarantine ----------------------------------------------------------------------------------


def test_symbol_failing_more_than_max_restarts_within_the_window_is_quarantined(
    start_engine: Callable[..., Engine],
) -> None:
    engine = start_engine(supervision__max_restarts=2)
    assert engine.ctx is not None
    router = engine.ctx.router
    first = pipeline_refs(engine, SYMBOL)
    other_feed = router.ref(OTHER, FEED)
    assert other_feed is not None

    engine.ctx.faults.arm(f"{SYMBOL}:features:BookUpdated")  # fails on every book, for ever
    status = poll(engine.status, lambda s: s["symbols"]["quarantined"] == 1, f"{SYMBOL} quarantined")

    assert status["symbols"] == {"running": 7, "restarting": 0, "quarantined": 1}
    assert SYMBOL not in status["symbol_list"]
    assert len(status["quarantined"]) == 1
    entry = status["quarantined"][0]
    assert entry["symbol"] == SYMBOL
    assert "InjectedFault" in entry["error"]
    assert "InjectedFault" in entry["traceback"] and "Traceback" in entry["traceback"]
    assert status["restarts"] == {SYMBOL: 2}
    # Its actors are stopped and unbound: the first generation's and the last one's.
    assert pipeline_refs(engine, SYMBOL) == {role: None for role in SYMBOL_ROLES}
    wait_for_stopped(first, "the first generation stopped")
    # One failure per generation: 2 restarts, then the 3rd failure quarantines.
    assert engine.ctx.faults.fired == 3

    # Time passes (the others keep handling events) and it is never restarted again.
    seen = handled(other_feed)
    wait_until_handling(other_feed, seen + 30, f"{OTHER} still handling events")
    later = engine.status()
    assert later["restarts"] == {SYMBOL: 2}
    assert later["symbols"] == {"running": 7, "restarting": 0, "quarantined": 1}
    assert pipeline_refs(engine, SYMBOL) == {role: None for role in SYMBOL_ROLES}
    assert engine.ctx.faults.fired == 3


def test_quarantined_symbol_is_unsubscribed_from_market_data(start_engine: Callable[..., Engine]) -> None:
    engine = start_engine(supervision__max_restarts=1)
    assert engine.ctx is not None
    router = engine.ctx.router
    other_feed = router.ref(OTHER, FEED)
    assert other_feed is not None

    engine.ctx.faults.arm(f"{SYMBOL}:features:BookUpdated")
    wait_for(lambda: engine.status()["symbols"]["quarantined"] == 1, f"{SYMBOL} quarantined")
    # Let events already in flight drain, then no more events are routed to the quarantined symbol.
    wait_until_handling(other_feed, handled(other_feed) + 20, f"{OTHER} handling events")
    dropped = router.undelivered_by_symbol[SYMBOL]
    wait_until_handling(other_feed, handled(other_feed) + 30, f"{OTHER} handling more events")
    assert router.undelivered_by_symbol[SYMBOL] == dropped


def test_tell_to_a_quarantined_symbol_returns_false_and_never_raises(start_engine: Callable[..., Engine]) -> None:
    engine = start_engine(supervision__max_restarts=1)
    assert engine.ctx is not None
    router = engine.ctx.router

    engine.ctx.faults.arm(f"{SYMBOL}:features:BookUpdated")
    wait_for(lambda: engine.status()["symbols"]["quarantined"] == 1, f"{SYMBOL} quarantined")

    before_symbol, before_total = router.undelivered_by_symbol[SYMBOL], router.undelivered
    results = [router.tell(SYMBOL, role, object()) for role in SYMBOL_ROLES]
    assert results == [False, False, False]
    assert router.undelivered_by_symbol[SYMBOL] >= before_symbol + 3
    assert router.undelivered >= before_total + 3


def test_tell_to_a_restarting_symbol_returns_false_and_never_raises(start_engine: Callable[..., Engine]) -> None:
    # A long backoff keeps the symbol in "restarting" for the whole test.
    engine = start_engine(supervision__backoff_initial_ms=30_000, supervision__backoff_max_ms=30_000)
    assert engine.ctx is not None
    router = engine.ctx.router

    engine.ctx.faults.arm(f"{SYMBOL}:features:BookUpdated:1")
    status = poll(engine.status, lambda s: s["symbols"]["restarting"] == 1, f"{SYMBOL} restarting")

    assert SYMBOL in status["symbol_list"]  # restarting is not quarantined
    before = router.undelivered_by_symbol[SYMBOL]
    assert [router.tell(SYMBOL, role, object()) for role in SYMBOL_ROLES] == [False, False, False]
    assert router.undelivered_by_symbol[SYMBOL] >= before + 3
    assert engine.status()["restarts"] == {}


def test_tell_to_a_dead_but_still_bound_actor_returns_false_and_never_raises(
    start_engine: Callable[..., Engine],
) -> None:
    engine = start_engine()
    assert engine.ctx is not None
    router = engine.ctx.router
    ref = router.ref(SYMBOL, FEED)
    assert ref is not None

    ref.stop(block=True, timeout=5)
    # Whether or not the sweep has unbound it yet, the sender gets False, not ActorDeadError.
    assert router.tell(SYMBOL, FEED, object()) is False


# --- liveness sweep ------------------------------------------------------------------------------


def test_liveness_sweep_restarts_a_pipeline_whose_actor_died_without_reporting(
    start_engine: Callable[..., Engine],
) -> None:
    engine = start_engine()
    assert engine.ctx is not None
    before = pipeline_refs(engine, SYMBOL)
    other_refs = pipeline_refs(engine, OTHER)

    # A plain stop reports nothing to the supervisor: only the is_alive sweep can notice it.
    before[FEATURES].stop(block=True, timeout=5)  # type: ignore[union-attr]
    wait_for_restarts(engine, SYMBOL, 1)

    after = pipeline_refs(engine, SYMBOL)
    for role in SYMBOL_ROLES:
        assert after[role] is not None and after[role] is not before[role], role
    wait_for_stopped(before, "the old generation stopped")
    wait_until_handling(after[FEATURES], 5, "the restarted features handling events")  # type: ignore[arg-type]
    assert pipeline_refs(engine, OTHER) == other_refs
    assert engine.status()["restarts"] == {SYMBOL: 1}


def test_exception_in_a_symbol_actors_on_start_is_reported_and_restarted(
    start_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = start_engine()
    assert engine.ctx is not None
    raised: list[int] = []

    def failing_on_start(self: FeaturesActor) -> None:
        # Generation 2 (the first restart) fails in on_start, once: pykka skips on_failure there.
        if self.symbol == SYMBOL and self.generation == 2 and not raised:
            raised.append(self.generation)
            raise RuntimeError("on_start failed on purpose")

    monkeypatch.setattr(FeaturesActor, "on_start", failing_on_start)
    engine.ctx.faults.arm(f"{SYMBOL}:features:BookUpdated:1")

    wait_for_restarts(engine, SYMBOL, 2)
    assert raised == [2]
    features = engine.ctx.router.ref(SYMBOL, FEATURES)
    assert features is not None
    assert features.proxy().generation.get(timeout=5) == 3
    wait_until_handling(features, 5, "generation 3 handling events")


def test_liveness_sweep_restarts_a_singleton_that_died_without_reporting(start_engine: Callable[..., Engine]) -> None:
    engine = start_engine()
    assert engine.ctx is not None
    old = engine.ctx.router.singleton(SCANNER)
    assert old is not None

    old.stop(block=True, timeout=5)

    def restarted() -> bool:
        info = engine.status()["singletons"][SCANNER]
        return bool(info["restarts"] == 1 and info["alive"])

    wait_for(restarted, "the scanner restarted by the sweep")
    new = engine.ctx.router.singleton(SCANNER)
    assert new is not None and new is not old and new.is_alive()
    assert engine.status()["halted_reason"] == ""


# --- singletons ----------------------------------------------------------------------------------

SLOW_SINGLETON_BACKOFF = {"supervision__backoff_initial_ms": 300, "supervision__backoff_max_ms": 300}
"""Backoff long enough that a test sees the singleton down before it comes back."""


def test_crashed_portfolio_is_restarted_with_the_state_it_had_before(start_engine: Callable[..., Engine]) -> None:
    engine = start_engine(**SLOW_SINGLETON_BACKOFF)
    assert engine.ctx is not None
    router = engine.ctx.router
    price = last_price(engine, OTHER)
    original = router.singleton(PORTFOLIO)
    assert original is not None

    original.tell(fill("f-1", OTHER, price, qty=0.5))
    before = poll(lambda: portfolio_status(engine), lambda s: s["positions"], "the position booked")
    assert [(p["symbol"], p["side"], p["qty"]) for p in before["positions"]] == [(OTHER, "long", 0.5)]

    crash_portfolio(engine, 1)

    def restarted() -> bool:
        info = engine.status()["singletons"][PORTFOLIO]
        ref = router.singleton(PORTFOLIO)
        return info["restarts"] == 1 and info["alive"] and ref is not None and ref is not original

    wait_for(restarted, "the Portfolio restarted")
    after = portfolio_status(engine)
    assert position_views(after) == position_views(before)
    for key in ("cash", "realised", "fees"):
        assert after[key] == before[key], key
    assert engine.status()["halted_reason"] == ""

    # The restored ledger still knows the fill: replaying it books nothing twice.
    router.singleton(PORTFOLIO).tell(fill("f-1", OTHER, price, qty=0.5))  # type: ignore[union-attr]
    assert position_views(portfolio_status(engine)) == position_views(before)


def test_singleton_crash_loop_halts_new_entries(start_engine: Callable[..., Engine]) -> None:
    engine = start_engine(supervision__singleton_max_restarts=1, **SLOW_SINGLETON_BACKOFF)
    assert engine.ctx is not None
    router = engine.ctx.router

    crash_portfolio(engine, 1)
    wait_for(lambda: engine.status()["singletons"][PORTFOLIO]["restarts"] == 1, "the first restart")
    assert engine.status()["halted_reason"] == ""
    crash_portfolio(engine, 2)  # 2 failures within the window > singleton_max_restarts = 1

    status = poll(engine.status, lambda s: s["halted_reason"], "halted_reason set")
    assert PORTFOLIO in status["halted_reason"]
    risk = poll(lambda: risk_status(engine), lambda r: r is not None and r["state"] == "HALTED", "Risk halted")
    assert risk is not None
    assert risk["reason"] == status["halted_reason"]

    denied_before = risk["denials"].get("HALTED", 0)  # signals may send intents of their own
    price = last_price(engine, OTHER)
    intent = EnterPosition(OTHER, int(time.time() * 1000), Side.LONG, price, price * 0.98, "test", "test")
    router.singleton(RISK).tell(intent)  # type: ignore[union-attr]
    risk = poll(
        lambda: risk_status(engine),
        lambda r: r is not None and r["denials"].get("HALTED", 0) > denied_before,
        "the entry denied HALTED",
    )
    assert risk is not None and OTHER not in risk["pending"]

    # Exits must stay possible: the Portfolio keeps being restarted (at the longest backoff).
    wait_for(lambda: engine.status()["singletons"][PORTFOLIO]["alive"], "the Portfolio restarted after the halt")
    assert engine.status()["halted_reason"] == status["halted_reason"]


def test_restarted_risk_stays_halted_after_a_crash_loop(start_engine: Callable[..., Engine]) -> None:
    engine = start_engine(supervision__singleton_max_restarts=1, **SLOW_SINGLETON_BACKOFF)
    assert engine.ctx is not None
    router = engine.ctx.router
    crash_portfolio(engine, 1)
    wait_for(lambda: engine.status()["singletons"][PORTFOLIO]["restarts"] == 1, "the first restart")
    crash_portfolio(engine, 2)
    reason = poll(lambda: engine.status()["halted_reason"], bool, "halted_reason set")

    old_risk = router.singleton(RISK)
    assert old_risk is not None
    old_risk.stop(block=True, timeout=5)  # the sweep restarts it

    def new_risk_status() -> dict[str, Any] | None:
        ref = router.singleton(RISK)
        return None if ref is None or ref is old_risk else risk_status(engine)

    risk = poll(new_risk_status, lambda r: r is not None and r["state"] == "HALTED", "the restarted Risk halted")
    assert risk is not None and risk["reason"] == reason


# --- fault rules from config, fills while the Portfolio is down, late crash reports ----------------


def test_config_accepts_fault_rules_with_a_times_limit(tmp_path: Path) -> None:
    cfg = load_config(cli={"supervision.fault_inject": f"{SYMBOL}:features:BookUpdated:1"}, env={})
    assert cfg.supervision.fault_inject == (f"{SYMBOL}:features:BookUpdated:1",)


def test_fill_arriving_while_portfolio_restarts_is_not_lost(start_engine: Callable[..., Engine]) -> None:
    # Long backoff: the Portfolio stays down while Execution reports a fill, as it can in a crash loop.
    engine = start_engine(supervision__backoff_initial_ms=1_500, supervision__backoff_max_ms=1_500)
    assert engine.ctx is not None
    router = engine.ctx.router
    price = last_price(engine, OTHER)

    crash_portfolio(engine, 1)
    wait_for(lambda: router.singleton(PORTFOLIO) is None, "the Portfolio unbound while it restarts")
    # What ExecutionActor._execute does with every fill: Store first, then Portfolio.
    late = fill("f-late", OTHER, price, qty=0.5)
    assert router.tell_singleton("store", late)
    router.tell_singleton(PORTFOLIO, late)  # returns False: dropped

    wait_for(lambda: engine.status()["singletons"][PORTFOLIO]["alive"], "the Portfolio restarted")
    positions = portfolio_status(engine)["positions"]
    assert [(p["symbol"], p["qty"]) for p in positions] == [(OTHER, 0.5)]


SLOW_REPORT_S = 1.5
"""How long a dying actor's thread is descheduled between being marked dead and reporting (CPU steal)."""


def test_a_slow_crash_report_is_still_one_failure_with_its_error(
    start_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    reported = threading.Event()
    original = PortfolioActor.on_crash

    def slow_on_crash(self: PortfolioActor, *exc: Any) -> None:
        time.sleep(SLOW_REPORT_S)  # the report is late, as with a descheduled thread
        original(self, *exc)
        reported.set()

    monkeypatch.setattr(PortfolioActor, "on_crash", slow_on_crash)
    engine = start_engine()
    assert engine.ctx is not None
    router = engine.ctx.router
    first = crash_portfolio(engine, 1)
    # The report is sent before the actor counts as dead, so the sweep cannot get there first.
    assert reported.wait(DEADLINE_S)
    wait_for(lambda: (ref := router.singleton(PORTFOLIO)) not in (None, first) and ref.is_alive(), "restarted")
    successor = router.singleton(PORTFOLIO)
    status = engine.status()
    assert successor is not None and successor.is_alive()
    assert status["singletons"][PORTFOLIO]["restarts"] == 1
    assert "ValueError" in status["singletons"][PORTFOLIO]["last_error"]


def test_symbol_death_seen_first_by_the_sweep_keeps_its_error_and_traceback(
    start_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = FeaturesActor.on_crash

    def slow_on_crash(self: FeaturesActor, *exc: Any) -> None:
        time.sleep(SLOW_REPORT_S)  # stalls the dispatcher too, as a descheduled worker would
        original(self, *exc)

    monkeypatch.setattr(FeaturesActor, "on_crash", slow_on_crash)
    engine = start_engine(supervision__max_restarts=1)
    assert engine.ctx is not None
    engine.ctx.faults.arm(f"{SYMBOL}:features:BookUpdated:2")

    status = poll(engine.status, lambda s: s["symbols"]["quarantined"] == 1, f"{SYMBOL} quarantined")
    entry = status["quarantined"][0]
    assert "InjectedFault" in entry["error"]
    assert "InjectedFault" in entry["traceback"]
