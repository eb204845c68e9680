"""The two actor shells: pooled per-symbol actors and threaded singletons.

Both report every death to the Supervisor (``on_crash``), with the traceback, and never raise
while doing so: the Supervisor decides about restarts, quarantine and halting.
"""

from __future__ import annotations

import traceback as tb
from types import TracebackType
from typing import Any, ClassVar

import pykka

from actors.context import SUPERVISOR, ActorContext
from engine.messages import ActorFailed
from engine.runtime.pooled import PooledActor, ReportsCrashes


def _failure(
    actor: pykka.Actor,
    symbol: str | None,
    role: str,
    generation: int,
    exception_type: type[BaseException] | None,
    exception_value: BaseException | None,
    traceback: TracebackType | None,
) -> ActorFailed:
    text = "".join(tb.format_exception(exception_type, exception_value, traceback))
    return ActorFailed(symbol, role, repr(exception_value), text, generation, actor.actor_urn)


class SymbolActor(PooledActor):
    """One role of one symbol's pipeline, on the shared dispatcher."""

    role: ClassVar[str]

    def __init__(self, ctx: ActorContext, symbol: str, generation: int) -> None:
        super().__init__(ctx.dispatcher)
        self.ctx = ctx
        self.symbol = symbol
        self.generation = generation
        self._router = ctx.router
        self._faults = ctx.faults
        self.handled = 0

    def on_receive(self, message: Any) -> Any:
        self._faults.check(self.symbol, self.role, type(message).__name__)
        self.handled += 1
        return self.handle(message)

    def handle(self, message: Any) -> Any:
        """Translate one message into calls on the pure core."""
        raise NotImplementedError

    def on_crash(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._router.tell_singleton(
            SUPERVISOR,
            _failure(self, self.symbol, self.role, self.generation, exception_type, exception_value, traceback),
        )


class SingletonActor(ReportsCrashes, pykka.ThreadingActor):
    """A singleton on its own thread, so symbol work never starves it and it never stalls them."""

    use_daemon_thread = True
    role: ClassVar[str]

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.router = ctx.router

    def on_crash(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.router.tell_singleton(
            SUPERVISOR, _failure(self, None, self.role, 0, exception_type, exception_value, traceback)
        )
