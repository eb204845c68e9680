"""The inbox of a pooled actor: FIFO, conflating, and the trigger that schedules its actor.

A ``put`` appends the envelope (or conflates it into a pending one, see ``conflation``) and, if
the actor is not already waiting on the dispatcher's ready queue, puts it there. The flag is
only cleared by the worker that finds the inbox empty at the end of a turn, under the same lock,
so an actor is never on the ready queue twice and never forgotten with messages waiting.

A conflated message takes the place of the newest arrival: it moves to the back of the queue, so
messages stay in the order of their newest content and time never runs backwards for the actor.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from pykka._envelope import Envelope

from engine.runtime.conflation import conflate, conflation_key


class PooledInbox:
    """Implements pykka's ``ActorInbox`` protocol (put/get/empty) without blocking."""

    __slots__ = ("_items", "_lock", "_schedule", "_scheduled", "_seq", "conflated", "high_water")

    def __init__(self) -> None:
        self._items: OrderedDict[Hashable, Envelope[Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._scheduled = False
        self._schedule: Callable[[], None] | None = None
        self._seq = itertools.count()
        self.conflated = 0
        self.high_water = 0

    def bind(self, schedule: Callable[[], None]) -> None:
        """Attach the callback that puts the owning actor on the ready queue."""
        self._schedule = schedule

    def kick(self) -> None:
        """Schedule the actor once even with an empty inbox: its first turn runs ``on_start``."""
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        if self._schedule is not None:
            self._schedule()

    def put(self, envelope: Envelope[Any], /) -> None:
        key = conflation_key(envelope.message) if envelope.reply_to is None else None
        with self._lock:
            items = self._items
            if key is None:
                items[next(self._seq)] = envelope
            else:
                pending = items.get(key)
                if pending is None:
                    items[key] = envelope
                else:
                    items[key] = Envelope(conflate(pending.message, envelope.message))
                    items.move_to_end(key)
                    self.conflated += 1
            depth = len(items)
            if depth > self.high_water:
                self.high_water = depth
            if self._scheduled:
                return
            self._scheduled = True
        if self._schedule is not None:
            self._schedule()

    def get(self) -> Envelope[Any]:
        """Next envelope; only called when ``empty()`` is False (pykka's teardown drain)."""
        with self._lock:
            return self._items.popitem(last=False)[1]

    def pop(self) -> Envelope[Any] | None:
        """Next envelope, or None when the inbox is empty."""
        with self._lock:
            if not self._items:
                return None
            return self._items.popitem(last=False)[1]

    def empty(self) -> bool:
        return not self._items

    def __len__(self) -> int:
        return len(self._items)

    def end_turn(self) -> bool:
        """Called by the worker after a batch: True if the actor must go back on the ready queue.

        Returning False clears the scheduled flag, so the next ``put`` schedules the actor again.
        """
        with self._lock:
            if self._items:
                return True
            self._scheduled = False
            return False
