"""Semantics of ``PooledActor``, checked against pykka's own ``ThreadingActor``.

``PooledActor`` plugs into private pykka seams (``_create_actor_inbox``, ``_create_future``,
``_start_actor_loop``, ``_handle_failure``, the actor-loop helpers), so this suite must pass on
every pykka upgrade before the pinned version moves. Most tests run the same behaviour twice, as
a ``pykka.ThreadingActor`` (the reference) and as a ``PooledActor`` on a one-worker
``Dispatcher`` (the ``spawn`` fixture), to show that the two behave the same. Tests named
``test_pooled_*`` cover what only the pooled type promises: no thread per actor, fairness between
actors sharing a worker, and never blocking that worker.

Waiting is always on an event or a future with a timeout, never on a sleep.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar, cast

import pykka
import pytest
from pykka import ActorDeadError, ActorRef, ActorRegistry

from engine.runtime.dispatcher import Dispatcher
from engine.runtime.pooled import PooledActor, ReportsCrashes

WAIT = 5.0
"""Upper bound for anything the test thread waits for; reached only when a test fails."""

A = TypeVar("A", bound=pykka.Actor)


# --- Messages ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hold:
    """Blocks the handler until the probe's gate opens, so later messages pile up behind it."""


@dataclass(frozen=True)
class Raise:
    """Makes the handler raise ``error``."""

    error: BaseException


@dataclass(frozen=True)
class Add:
    """Asks for ``a + b``."""

    a: int
    b: int


# --- Actors under test -----------------------------------------------------------------------------


class Probe:
    """What an actor reports to the test thread: a log of its life and events to wait on."""

    def __init__(
        self,
        *,
        hold_start: bool = False,
        start_error: BaseException | None = None,
        stop_error: BaseException | None = None,
    ) -> None:
        self.hold_start = hold_start
        self.start_error = start_error
        self.stop_error = stop_error
        self.gate = threading.Event()
        self.started = threading.Event()
        self.stopped = threading.Event()
        self.failed = threading.Event()
        self.crashed = threading.Event()
        self.start_thread = ""
        self._log: list[object] = []
        self._lock = threading.Lock()

    def record(self, entry: object) -> None:
        with self._lock:
            self._log.append(entry)

    def entries(self) -> list[object]:
        with self._lock:
            return list(self._log)


class Recorder(pykka.Actor):
    """Logs its life cycle and every message into a ``Probe``; an actor behaviour, no runtime.

    The ``spawn`` fixture combines it with ``pykka.ThreadingActor`` or ``PooledActor``.
    """

    def __init__(self, *args: Any, probe: Probe, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.probe = probe
        self.value = 0

    def on_start(self) -> None:
        probe = self.probe
        probe.start_thread = threading.current_thread().name
        probe.record("on_start")
        probe.started.set()
        if probe.hold_start:
            probe.gate.wait(WAIT)
        if probe.start_error is not None:
            raise probe.start_error

    def on_stop(self) -> None:
        self.probe.record("on_stop")
        self.probe.stopped.set()
        if self.probe.stop_error is not None:
            raise self.probe.stop_error

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.probe.record(("on_failure", exception_value))
        self.probe.failed.set()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Raise):
            raise message.error
        self.probe.record(message)
        if isinstance(message, Hold):
            self.probe.gate.wait(WAIT)
        if isinstance(message, Add):
            return message.a + message.b
        return message

    def add(self, a: int, b: int) -> int:
        return a + b


class CrashRecorder(Recorder, ReportsCrashes):
    """A ``Recorder`` that also logs the ``on_crash`` hook of ``ReportsCrashes``."""

    def on_crash(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.probe.record(("on_crash", exception_value))
        self.probe.crashed.set()


class PooledRecorder(Recorder, PooledActor):
    """A ``Recorder`` on a dispatcher, for the pooled-only tests."""


class InboxWatcher(PooledActor):
    """Answers any message with how many messages another pooled actor still has waiting."""

    def __init__(self, dispatcher: Dispatcher, watched: ActorRef[Any]) -> None:
        super().__init__(dispatcher)
        self.watched = watched

    def on_receive(self, message: Any) -> int:
        return len(cast(Any, self.watched.actor_inbox))


class Tally:
    """Collects the messages of many actors; ``done`` is set when ``expected`` have arrived."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.received: dict[int, list[int]] = {}
        self.done = threading.Event()
        self._count = 0
        self._lock = threading.Lock()

    def record(self, index: int, message: int) -> None:
        with self._lock:
            self.received.setdefault(index, []).append(message)
            self._count += 1
            if self._count == self.expected:
                self.done.set()


class Counter(PooledActor):
    """A pooled actor that reports each message it handles to a shared ``Tally``."""

    def __init__(self, dispatcher: Dispatcher, index: int, tally: Tally) -> None:
        super().__init__(dispatcher)
        self.index = index
        self.tally = tally

    def on_receive(self, message: Any) -> None:
        self.tally.record(self.index, message)


class RaisingTurn:
    """A ``Runnable`` whose turn raises, as any escape from ``PooledActor._run_turn`` would."""

    def _run_turn(self, batch_size: int) -> bool:
        raise SystemExit("escaped from a turn")


class SignallingTurn:
    """A ``Runnable`` that sets an event when it gets its turn."""

    def __init__(self) -> None:
        self.ran = threading.Event()

    def _run_turn(self, batch_size: int) -> bool:
        self.ran.set()
        return False


# --- Fixtures --------------------------------------------------------------------------------------


@functools.cache
def _runtime_class(behaviour: Callable[..., pykka.Actor], runtime: type) -> type[pykka.Actor]:
    """``behaviour`` combined with a runtime: the concrete actor class that gets started."""
    name = f"{runtime.__name__}{getattr(behaviour, '__name__', 'Actor')}"
    return cast(type[pykka.Actor], type(name, (cast(type, behaviour), runtime), {}))


class Spawner:
    """Starts an actor behaviour as a ``ThreadingActor`` or as a ``PooledActor`` on a dispatcher."""

    def __init__(self, dispatcher: Dispatcher | None) -> None:
        self.dispatcher = dispatcher

    def __call__(self, behaviour: Callable[..., A], **kwargs: Any) -> ActorRef[A]:
        """Start ``behaviour`` (a ``pykka.Actor`` subclass without a runtime) on this runtime."""
        if self.dispatcher is None:
            actor_class = _runtime_class(behaviour, pykka.ThreadingActor)
            return cast(ActorRef[A], actor_class.start(**kwargs))
        actor_class = _runtime_class(behaviour, PooledActor)
        return cast(ActorRef[A], actor_class.start(self.dispatcher, **kwargs))


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    yield
    ActorRegistry.stop_all(timeout=WAIT)


@pytest.fixture
def dispatchers() -> Iterator[Callable[..., Dispatcher]]:
    """Makes dispatchers; stops every actor, then the dispatchers, after the test."""
    created: list[Dispatcher] = []

    def make(workers: int = 1, batch_size: int = 64) -> Dispatcher:
        dispatcher = Dispatcher(workers=workers, batch_size=batch_size, name="test-dispatcher")
        created.append(dispatcher)
        return dispatcher

    yield make
    ActorRegistry.stop_all(timeout=WAIT)
    for dispatcher in created:
        dispatcher.shutdown(WAIT)


@pytest.fixture(params=["threading", "pooled"])
def spawn(request: pytest.FixtureRequest, dispatchers: Callable[..., Dispatcher]) -> Spawner:
    """The same behaviour as a pykka ``ThreadingActor`` and as a ``PooledActor`` (one worker)."""
    return Spawner(dispatchers(workers=1) if request.param == "pooled" else None)


def call_within(seconds: float, action: Callable[[], object]) -> None:
    """Run a call that pykka blocks on without a timeout; fail instead of hanging the suite."""
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(seconds), f"call did not return within {seconds} s"
    if errors:
        raise errors[0]


# --- Life cycle and registry -----------------------------------------------------------------------


def test_start_registers_the_actor_and_stop_unregisters_it(spawn: Spawner) -> None:
    ref = spawn(Recorder, probe=Probe())
    assert ActorRegistry.get_by_urn(ref.actor_urn) is ref
    assert ref.is_alive()

    assert ref.stop(timeout=WAIT) is True

    assert ActorRegistry.get_by_urn(ref.actor_urn) is None
    assert not ref.is_alive()


def test_stopping_an_already_stopped_actor_returns_false(spawn: Spawner) -> None:
    ref = spawn(Recorder, probe=Probe())
    ref.stop(timeout=WAIT)

    assert ref.stop(timeout=WAIT) is False


def test_on_start_runs_before_the_first_message(spawn: Spawner) -> None:
    probe = Probe(hold_start=True)
    ref = spawn(Recorder, probe=probe)
    ref.tell("first")
    answer = ref.ask("second", block=False)
    probe.gate.set()

    answer.get(timeout=WAIT)

    assert probe.entries() == ["on_start", "first", "second"]


def test_on_stop_runs_after_the_messages_sent_before_stop(spawn: Spawner) -> None:
    probe = Probe()
    ref = spawn(Recorder, probe=probe)
    ref.tell("a")
    ref.tell("b")

    ref.stop(timeout=WAIT)

    assert probe.entries() == ["on_start", "a", "b", "on_stop"]


def test_pooled_on_start_runs_on_a_dispatcher_worker_not_in_the_caller(
    dispatchers: Callable[..., Dispatcher],
) -> None:
    probe = Probe()
    PooledRecorder.start(dispatchers(workers=1), probe=probe)

    assert probe.started.wait(WAIT)
    assert probe.start_thread.startswith("test-dispatcher-")


# --- tell, ask, proxies ----------------------------------------------------------------------------


def test_tells_are_handled_in_the_order_they_were_sent(spawn: Spawner) -> None:
    probe = Probe()
    ref = spawn(Recorder, probe=probe)
    for n in range(500):
        ref.tell(n)

    ref.ask("sync", timeout=WAIT)

    assert probe.entries() == ["on_start", *range(500), "sync"]


def test_ask_returns_the_handler_result(spawn: Spawner) -> None:
    ref = spawn(Recorder, probe=Probe())

    assert ref.ask(Add(2, 3), timeout=WAIT) == 5


def test_ask_reraises_a_handler_exception_in_the_caller_and_the_actor_stays_alive(
    spawn: Spawner,
) -> None:
    probe = Probe()
    ref = spawn(Recorder, probe=probe)

    with pytest.raises(ValueError, match="bad request"):
        ref.ask(Raise(ValueError("bad request")), timeout=WAIT)

    assert ref.ask(Add(1, 1), timeout=WAIT) == 2
    assert ref.is_alive()
    assert not probe.failed.is_set()


def test_ask_with_a_timeout_on_a_blocked_actor_raises_timeout(spawn: Spawner) -> None:
    probe = Probe()
    ref = spawn(Recorder, probe=probe)
    ref.tell(Hold())

    with pytest.raises(pykka.Timeout):
        ref.ask("stuck behind Hold", timeout=0.05)

    probe.gate.set()
    assert ref.ask(Add(1, 2), timeout=WAIT) == 3


def test_a_proxy_method_call_returns_the_result(spawn: Spawner) -> None:
    proxy = spawn(Recorder, probe=Probe()).proxy()

    assert proxy.add(2, 3).get(timeout=WAIT) == 5


def test_a_proxy_gets_and_sets_an_attribute(spawn: Spawner) -> None:
    proxy = spawn(Recorder, probe=Probe()).proxy()
    assert proxy.value.get(timeout=WAIT) == 0

    call_within(WAIT, lambda: setattr(proxy, "value", 7))

    assert proxy.value.get(timeout=WAIT) == 7


# --- Failures --------------------------------------------------------------------------------------


def test_an_exception_in_a_tell_handler_calls_on_failure_and_stops_and_unregisters_the_actor(
    spawn: Spawner,
) -> None:
    probe = Probe()
    ref = spawn(Recorder, probe=probe)
    error = ValueError("bad tick")

    ref.tell(Raise(error))

    assert probe.failed.wait(WAIT)
    assert probe.entries() == ["on_start", ("on_failure", error)]
    assert not ref.is_alive()
    assert ActorRegistry.get_by_urn(ref.actor_urn) is None


def test_messages_queued_behind_a_failing_tell_are_dropped_and_pending_asks_get_actor_dead_error(
    spawn: Spawner,
) -> None:
    probe = Probe()
    ref = spawn(Recorder, probe=probe)
    ref.tell(Hold())
    ref.tell(Raise(ValueError("bad tick")))
    ref.tell("dropped")
    pending = ref.ask("never answered", block=False)

    probe.gate.set()

    with pytest.raises(ActorDeadError):
        pending.get(timeout=WAIT)
    assert "dropped" not in probe.entries()


def test_an_exception_in_on_start_stops_the_actor_without_calling_on_failure(
    spawn: Spawner,
) -> None:
    probe = Probe(hold_start=True, start_error=ValueError("no config"))
    ref = spawn(Recorder, probe=probe)
    pending = ref.ask("never answered", block=False)

    probe.gate.set()

    with pytest.raises(ActorDeadError):
        pending.get(timeout=WAIT)
    assert probe.entries() == ["on_start"]
    assert not ref.is_alive()
    assert ActorRegistry.get_by_urn(ref.actor_urn) is None


def test_on_crash_is_called_when_on_start_raises(spawn: Spawner) -> None:
    error = ValueError("no config")
    probe = Probe(start_error=error)
    ref = spawn(CrashRecorder, probe=probe)

    assert probe.crashed.wait(WAIT)
    assert probe.entries() == ["on_start", ("on_crash", error)]
    assert ref.actor_stopped.wait(WAIT)  # on_crash runs before the actor is marked dead


def test_on_crash_is_called_before_on_failure_when_a_tell_handler_raises(
    spawn: Spawner,
) -> None:
    error = ValueError("bad tick")
    probe = Probe()
    ref = spawn(CrashRecorder, probe=probe)

    ref.tell(Raise(error))

    assert probe.failed.wait(WAIT)
    assert probe.entries() == ["on_start", ("on_crash", error), ("on_failure", error)]


def test_on_crash_is_called_when_on_stop_raises(spawn: Spawner) -> None:
    error = ValueError("cannot flush")
    probe = Probe(stop_error=error)
    ref = spawn(CrashRecorder, probe=probe)

    ref.stop(timeout=WAIT)

    assert probe.crashed.wait(WAIT)
    assert probe.entries() == ["on_start", "on_stop", ("on_crash", error)]


def test_telling_a_stopped_actor_raises_actor_dead_error(spawn: Spawner) -> None:
    ref = spawn(Recorder, probe=Probe())
    ref.stop(timeout=WAIT)

    with pytest.raises(ActorDeadError):
        ref.tell("late")


def test_asking_a_stopped_actor_raises_actor_dead_error(spawn: Spawner) -> None:
    ref = spawn(Recorder, probe=Probe())
    ref.stop(timeout=WAIT)

    with pytest.raises(ActorDeadError):
        ref.ask("late", timeout=WAIT)


def test_a_base_exception_in_a_handler_stops_every_actor(spawn: Spawner) -> None:
    """For pooled actors all on one worker this also shows that stopping them does not block."""
    probes = [Probe() for _ in range(4)]
    refs = [spawn(Recorder, probe=probe) for probe in probes]

    refs[0].tell(Raise(SystemExit("operator quit")))

    for ref, probe in zip(refs, probes, strict=True):
        assert ref.actor_stopped.wait(WAIT)
        assert probe.stopped.wait(WAIT), "on_stop was not called"
    assert ActorRegistry.get_all() == []


def test_pooled_a_base_exception_in_on_start_stops_the_actor_and_keeps_the_worker_running(
    dispatchers: Callable[..., Dispatcher],
) -> None:
    dispatcher = dispatchers(workers=1)
    probe = Probe(start_error=SystemExit("bad start"))
    broken = PooledRecorder.start(dispatcher, probe=probe)
    after_broken = SignallingTurn()
    # One worker: the marker runs only once the broken actor's turn is over.
    dispatcher.submit(after_broken)
    try:
        assert after_broken.ran.wait(0.5), "the dispatcher worker died"
        assert not broken.is_alive()
        assert ActorRegistry.get_by_urn(broken.actor_urn) is None
    finally:
        if broken.is_alive():
            ActorRegistry.unregister(broken)


def test_pooled_a_dispatcher_worker_survives_a_turn_that_raises(
    dispatchers: Callable[..., Dispatcher],
) -> None:
    dispatcher = dispatchers(workers=1)
    after = SignallingTurn()

    dispatcher.submit(RaisingTurn())
    dispatcher.submit(after)

    assert after.ran.wait(0.5)


# --- Scheduling: no thread per actor, fairness ------------------------------------------------------


def test_pooled_two_thousand_actors_on_one_worker_start_no_threads_and_get_every_message(
    dispatchers: Callable[..., Dispatcher],
) -> None:
    dispatcher = dispatchers(workers=1)
    threads_before = threading.active_count()
    actors, messages = 2_000, 5
    tally = Tally(expected=actors * messages)
    refs = [Counter.start(dispatcher, index=i, tally=tally) for i in range(actors)]

    for n in range(messages):
        for ref in refs:
            ref.tell(n)

    assert tally.done.wait(WAIT)
    assert threading.active_count() <= threads_before
    assert tally.received == {i: list(range(messages)) for i in range(actors)}


def test_pooled_a_flooded_actor_does_not_starve_a_quiet_one(
    dispatchers: Callable[..., Dispatcher],
) -> None:
    dispatcher = dispatchers(workers=1, batch_size=8)
    probe = Probe()
    flooded = PooledRecorder.start(dispatcher, probe=probe)
    flooded.tell(Hold())
    for n in range(20_000):
        flooded.tell(n)
    quiet = InboxWatcher.start(dispatcher, watched=flooded)
    answer = quiet.ask("how many are waiting?", block=False)

    probe.gate.set()

    assert answer.get(timeout=WAIT) > 19_000
