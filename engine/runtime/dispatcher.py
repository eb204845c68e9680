"""A shared dispatcher: a few worker threads that run many pooled actors.

Why: an OS thread per actor costs a thread wake-up (20-30 us) per message and collapses at about
10,000 events/s for 600 symbols x 3 actors on two cores. Here a ``tell`` only appends to the
actor's inbox and, if the actor is idle, puts the actor once on the ready queue; a worker then
drains up to ``batch_size`` messages of that actor before moving on, so no thread wakes per
message and one busy symbol cannot hold a worker for long. One or two workers are best: more only
fight over the GIL.

An actor scheduled by a worker itself (Feed telling Features, Features telling Signal) runs next
on that worker, before the shared queue: an event then crosses its symbol's whole pipeline in one
pass instead of waiting a full round of the ready queue at every hop, which under load is the
difference between one round and three of latency. Such chains end (Signal only talks to
threaded singletons), and an actor that used its whole batch goes to the back of the shared
queue, so no symbol can monopolise a worker.
"""

from __future__ import annotations

import queue
import threading
from typing import Protocol

from loguru import logger


class Runnable(Protocol):
    def _run_turn(self, batch_size: int) -> bool:
        """Handle up to ``batch_size`` messages; True if the actor has more waiting."""
        ...


class Dispatcher:
    """Worker threads around one ready queue of actors."""

    def __init__(self, workers: int = 1, batch_size: int = 64, name: str = "dispatcher") -> None:
        if workers < 1 or batch_size < 1:
            raise ValueError("a dispatcher needs at least one worker and a batch size of at least 1")
        self.batch_size = batch_size
        self._ready: queue.SimpleQueue[Runnable | None] = queue.SimpleQueue()
        self._local = threading.local()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, actor: Runnable) -> None:
        """Put an actor on the ready queue (its inbox guarantees it is there at most once)."""
        local: list[Runnable] | None = getattr(self._local, "next", None)
        if local is not None:
            local.append(actor)
        else:
            self._ready.put(actor)

    def ready_depth(self) -> int:
        """Actors waiting for a worker: a lagging dispatcher shows here first."""
        return self._ready.qsize()

    @property
    def threads(self) -> int:
        return len(self._threads)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the workers after the actors already queued have had their turn."""
        for _ in self._threads:
            self._ready.put(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def _work(self) -> None:
        ready = self._ready
        batch = self.batch_size
        local: list[Runnable] = []
        self._local.next = local
        while True:
            actor = local.pop() if local else ready.get()
            if actor is None:
                return
            try:
                again = actor._run_turn(batch)
            except BaseException:
                logger.exception("{!r} raised out of its turn; it is not scheduled again", actor)
                continue
            if again:
                ready.put(actor)
