"""``PooledActor``: a real pykka actor that runs on a shared ``Dispatcher`` instead of its own thread.

It keeps everything a pykka user relies on (``ActorRef``, ``tell``, ``ask``, proxies, the
registry, ``on_start``/``on_stop``/``on_failure``) by implementing the three seams pykka offers
new actor types: ``_create_actor_inbox``, ``_create_future`` and ``_start_actor_loop``. Message
handling is the same as ``ThreadingActor``'s loop, one envelope at a time, with two deliberate
differences, both to keep one worker from blocking every other actor:

- a ``BaseException`` stops every actor *without* waiting for them (pykka waits, which would
  deadlock a worker that must run those very actors);
- ``on_start`` runs on the actor's first turn on a worker, not on a thread of its own.

Rules for code in a pooled actor: never block. No ``ask(...).get()``, no blocking ``stop()``, no
sleep, no I/O. Use ``tell``.

``ReportsCrashes`` adds one hook, ``on_crash``, that runs on every unhandled failure, including
the ones pykka does not pass to ``on_failure`` (an exception in ``on_start`` or ``on_stop``), so a
supervisor hears of every death. It runs *before* the actor is marked dead, so the report is
always on its way before anyone can see the actor dead.
"""

from __future__ import annotations

import logging
import sys
from types import TracebackType
from typing import Any

import pykka
from pykka import ActorRegistry
from pykka import messages as pykka_messages
from pykka._envelope import Envelope

from engine.runtime.dispatcher import Dispatcher
from engine.runtime.inbox import PooledInbox

logger = logging.getLogger("pykka")

_PYKKA_MESSAGES = frozenset(
    {pykka_messages._ActorStop, pykka_messages.ProxyCall, pykka_messages.ProxyGetAttr, pykka_messages.ProxySetAttr}
)
"""Messages pykka itself handles; anything else goes straight to ``on_receive`` (the common case)."""


def pooled_inbox(ref: pykka.ActorRef[Any]) -> PooledInbox | None:
    """The inbox behind ``ref`` if it is a pooled actor's: depth and conflation counts for status."""
    inbox = ref.actor_inbox
    return inbox if isinstance(inbox, PooledInbox) else None


class ReportsCrashes(pykka.Actor):
    """Calls ``on_crash`` whenever pykka handles an unhandled failure of this actor."""

    def _handle_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.on_crash(exception_type, exception_value, traceback)
        except Exception:
            logger.exception(f"on_crash of {self} raised")
        super()._handle_failure(exception_type, exception_value, traceback)

    def on_crash(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Hook: the actor has died of an exception. Must not raise or block."""


class PooledActor(ReportsCrashes):
    """A pykka actor scheduled on a ``Dispatcher``: an inbox and a turn, no thread of its own."""

    actor_inbox: PooledInbox

    def __init__(self, dispatcher: Dispatcher, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._dispatcher = dispatcher
        self._started = False
        self.actor_inbox.bind(self._schedule)

    @staticmethod
    def _create_actor_inbox() -> PooledInbox:
        return PooledInbox()

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return pykka.ThreadingFuture()

    def _start_actor_loop(self) -> None:
        self.actor_inbox.kick()

    def _schedule(self) -> None:
        self._dispatcher.submit(self)

    def _run_turn(self, batch_size: int) -> bool:
        """One turn on a worker: up to ``batch_size`` messages, then yield the worker."""
        inbox = self.actor_inbox
        stopped = self.actor_stopped
        try:
            if not self._started:
                self._started = True
                self._actor_loop_setup()
            for _ in range(batch_size):
                if stopped.is_set():
                    break
                envelope = inbox.pop()
                if envelope is None:
                    break
                self._handle_envelope(envelope)
        except BaseException:
            self._escaped(*sys.exc_info())
        if stopped.is_set():
            self._actor_loop_teardown()
            return False
        return inbox.end_turn()

    def _escaped(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """What pykka lets escape (a BaseException in a hook, a failing ``on_crash``) kills this
        actor only: the worker must survive it, or every actor on the dispatcher would stall."""
        try:
            self._handle_failure(exception_type, exception_value, traceback)
        except BaseException:
            logger.exception(f"failure handling of {self} raised")
            ActorRegistry.unregister(self.actor_ref)
            self.actor_stopped.set()
        if not isinstance(exception_value, Exception):
            ActorRegistry.stop_all(block=False)

    def _handle_envelope(self, envelope: Envelope[Any]) -> None:
        try:
            message = envelope.message
            if message.__class__ in _PYKKA_MESSAGES:
                response = self._handle_receive(message)
            else:
                response = self.on_receive(message)
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)
        except Exception:
            if envelope.reply_to is not None:
                logger.info(f"Exception returned from {self} to caller:", exc_info=sys.exc_info())
                envelope.reply_to.set_exception()
            else:
                self._handle_failure(*sys.exc_info())
                try:
                    self.on_failure(*sys.exc_info())
                except Exception:
                    self._handle_failure(*sys.exc_info())
        except BaseException:
            logger.debug(f"{sys.exc_info()[1]!r} in {self}. Stopping all actors.")
            self._stop()
            ActorRegistry.stop_all(block=False)
