"""Restart benchmark: how fast a crashed symbol trades again, and what the crash costs the others.

The whole engine runs as in ``bench/pipeline.py`` (N symbols, pre-generated simulated events
offered at a steady aggregate rate). While events flow, a one-shot fault is armed every
``--spacing`` seconds in one actor (Feed, Features or Signal) of a randomly chosen symbol. For each
crash the benchmark polls every millisecond and times, from the moment the fault fires:

- the Supervisor reacting (the symbol's address is unbound),
- the new pipeline being bound (after the backoff, which is read from the Supervisor's log line),
- the new Signal deciding on a live event again (its ``handled`` > 0): the recovery time.

Afterwards, for every symbol that never crashed, nothing may have been lost: no undelivered
message, and every event offered to it either handled by its Feed or conflated in its Feed inbox.

    python bench/restart.py                        # 200 symbols, 10,000 events/s, 30 crashes 0.3 s apart
    python bench/restart.py --crashes 100 --backoff-ms 5
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import random
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import psutil
import pykka
from loguru import logger

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ has no __init__: its scripts import as top level

from pipeline import OfferedSource, percentile, start_offered_engine

from actors.context import FEATURES, FEED, SIGNAL, ActorContext
from engine.config import load_config
from engine.logs import setup_logging
from engine.messages import BookUpdated, MarketEvent, TickerUpdated
from engine.runtime.inbox import PooledInbox

if TYPE_CHECKING:
    from loguru import Message

POLL_S = 0.001
FIRE_TIMEOUT_S = 3.0
RECOVERY_TIMEOUT_S = 5.0
ASK_TIMEOUT_S = 1.0
WARMUP_S = 2.0
TAIL_S = 3.0
BACKFILLS_PER_FEED = 1
"""A Feed that never crashed handled exactly one non-market message: its start-up ``BarsBackfilled``."""

TRIGGER = {FEED: "BookUpdated", FEATURES: "BookUpdated", SIGNAL: "FeaturesUpdated"}
"""The message that trips the fault in each role: Signal never sees a BookUpdated, only what Features makes of it."""

DECISION_EVENTS = (BookUpdated, TickerUpdated)
"""Market events that reach the Signal at once (a trade only does when it closes a bar)."""

_RESTART_LINE = re.compile(r"^(\S+) (\S+) failed \(.*?\); restarting its pipeline in (\d+) ms", re.DOTALL)
_EXPECTED = ("InjectedFault", "restarting its pipeline", "pipeline restarted")


class LogWatch:
    """A loguru sink: the backoff the Supervisor chose for each restart, and anything unexpected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.backoff_ms: dict[str, list[float]] = {}
        self.unexpected: list[str] = []

    def __call__(self, message: Message) -> None:
        record = message.record
        text = record["message"]
        match = _RESTART_LINE.match(text)
        with self._lock:
            if match:
                self.backoff_ms.setdefault(match.group(1), []).append(float(match.group(3)))
            elif not any(expected in text for expected in _EXPECTED):
                self.unexpected.append(f"{record['level'].name}: {text.splitlines()[0] if text else ''}")

    def backoff(self, symbol: str, index: int) -> float | None:
        with self._lock:
            delays = self.backoff_ms.get(symbol, [])
            return delays[index] if index < len(delays) else None


@dataclass(slots=True)
class Crash:
    symbol: str
    role: str
    armed: float
    fired: float | None = None
    unbound: float | None = None
    bound: float | None = None
    recovered: float | None = None
    backoff_ms: float | None = None
    offered_at_bound: int = 0
    market_wait_ms: float | None = None
    """From the rebinding to the offer of the symbol's next book or ticker (what the new Signal decides on)."""

    @property
    def recovery_ms(self) -> float | None:
        if self.fired is None or self.recovered is None:
            return None
        return (self.recovered - self.fired) * 1000


def _since(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else (end - start) * 1000


def _inbox(ref: pykka.ActorRef[Any]) -> PooledInbox:
    return cast(PooledInbox, ref.actor_inbox)


def _handled(ref: pykka.ActorRef[Any]) -> int:
    """The actor's ``handled`` count through its proxy (an ask, answered on the actor's turn)."""
    count: int = ref.proxy().handled.get(timeout=ASK_TIMEOUT_S)
    return count


def inject(
    ctx: ActorContext, source: OfferedSource, symbol: str, role: str, crashes_so_far: int, watch: LogWatch
) -> Crash:
    """Arm a one-shot fault in ``symbol``'s ``role`` and follow the symbol until it decides again."""
    router, faults = ctx.router, ctx.faults
    old = router.ref(symbol, SIGNAL)
    fired_before = faults.fired
    crash = Crash(symbol, role, armed=time.perf_counter())
    faults.arm(f"{symbol}:{role}:{TRIGGER[role]}:1")
    deadline = crash.armed + FIRE_TIMEOUT_S
    while faults.fired == fired_before:
        if time.perf_counter() > deadline:
            faults.clear()
            if faults.fired == fired_before:
                return crash
            break
        time.sleep(POLL_S)
    crash.fired = time.perf_counter()
    deadline = crash.fired + RECOVERY_TIMEOUT_S
    while time.perf_counter() < deadline:
        ref = router.ref(symbol, SIGNAL)
        now = time.perf_counter()
        if ref is None:
            if crash.unbound is None:
                crash.unbound = now
        elif ref is not old:
            if crash.bound is None:
                crash.bound = now
                crash.offered_at_bound = source.offered
            try:
                if _handled(ref) > 0:
                    crash.recovered = time.perf_counter()
                    break
            except (pykka.ActorDeadError, pykka.Timeout):
                pass
        time.sleep(POLL_S)
    crash.backoff_ms = watch.backoff(symbol, crashes_so_far)
    return crash


def _market_wait_ms(crash: Crash, events: Sequence[MarketEvent], rate: float) -> float | None:
    """When the first book or ticker of the symbol after the rebinding was offered, counted from the rebinding.

    The source offers event ``i`` about ``i / rate`` seconds after it started, so the offer time
    follows from how many events had been offered when the new pipeline was bound.
    """
    if crash.bound is None:
        return None
    for i in range(crash.offered_at_bound, len(events)):
        event = events[i]
        if event.symbol == crash.symbol and isinstance(event, DECISION_EVENTS):
            return max(0.0, (i - crash.offered_at_bound) / rate * 1000)
    return None


def _opt(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def _ms(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    return f"p50 {percentile(values, 50):.1f}, p99 {percentile(values, 99):.1f}, max {max(values):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10_000, help="aggregate events offered per second")
    parser.add_argument("--crashes", type=int, default=30)
    parser.add_argument("--spacing", type=float, default=0.3, help="seconds between injected crashes")
    parser.add_argument("--backoff-ms", type=int, default=20, help="supervision.backoff_initial_ms")
    parser.add_argument("--max-restarts", type=int, default=1000, help="supervision.max_restarts")
    parser.add_argument("--workers", type=int, default=1, help="dispatcher threads")
    parser.add_argument("--seed", type=int, default=1, help="choice of crashed symbols and roles")
    parser.add_argument(
        "--switch-ms", type=float, default=None, help="sys.setswitchinterval in ms (default: leave Python's 5 ms)"
    )
    args = parser.parse_args()
    if args.switch_ms is not None:
        sys.setswitchinterval(args.switch_ms / 1000)

    tmp = Path(tempfile.mkdtemp(prefix="bench-restart-"))
    # Every crash logs a traceback and a restart: keep them in files, not on the console.
    console = (tmp / "console.log").open("w", encoding="utf-8")
    with contextlib.redirect_stderr(console):
        setup_logging(tmp / "logs", "WARNING")
    watch = LogWatch()
    logger.add(watch, level="WARNING", format="{message}")
    settings = {
        "runtime.dispatcher_workers": args.workers,
        "supervision.backoff_initial_ms": args.backoff_ms,
        "supervision.max_restarts": args.max_restarts,
    }
    config = load_config(cli=settings, env={})
    sup = config.supervision
    load0 = os.getloadavg()[0]
    # Half a spacing of slack per crash: a crash whose recovery overruns its slot delays the next one.
    seconds = WARMUP_S + args.crashes * args.spacing * 1.5 + TAIL_S
    print(
        f"parameters: {args.symbols} symbols, {args.rate:,.0f} events/s for {seconds:.0f}s, {args.crashes} crashes "
        f"every {args.spacing:.2f}s (Feed/Features/Signal at random, seed {args.seed}), {args.workers} worker(s), "
        f"GIL switch interval {sys.getswitchinterval() * 1000:g} ms"
    )
    print(
        f"supervision: backoff_initial_ms {sup.backoff_initial_ms} (jitter +/-{sup.backoff_jitter:.0%}), "
        f"backoff_max_ms {sup.backoff_max_ms}, max_restarts {sup.max_restarts} in {sup.window_s:.0f}s; logs in {tmp}"
    )
    engine, source = start_offered_engine(tmp, args.symbols, args.rate, seconds, settings)
    events = source.events
    assert engine.ctx is not None
    ctx = engine.ctx
    rng = random.Random(args.seed)
    symbols = list(engine.symbols)
    picks = rng.sample(symbols, args.crashes) if args.crashes <= len(symbols) else rng.choices(symbols, k=args.crashes)
    crashes_of: Counter[str] = Counter()
    crashes: list[Crash] = []

    gc.freeze()
    process = psutil.Process()
    cpu0, machine0 = process.cpu_times(), psutil.cpu_times()
    wall0 = time.perf_counter()
    source.go()
    time.sleep(WARMUP_S)
    phase0 = time.perf_counter()
    for i, symbol in enumerate(picks):
        time.sleep(max(0.0, phase0 + i * args.spacing - time.perf_counter()))
        if source.done.is_set():
            print(f"events ran out after {i} crashes")
            break
        crash = inject(ctx, source, symbol, rng.choice((FEED, FEATURES, SIGNAL)), crashes_of[symbol], watch)
        crashes.append(crash)
        if crash.fired is not None:
            crashes_of[symbol] += 1
    source.done.wait(seconds * 3 + 30)
    refs = ctx.router.symbol_refs()
    while any(len(_inbox(ref)) for _, _, ref in refs) and time.perf_counter() - wall0 < seconds * 4 + 30:
        time.sleep(0.01)
    time.sleep(0.2)  # let the last tells settle
    wall = time.perf_counter() - wall0
    cpu1, machine1 = process.cpu_times(), psutil.cpu_times()
    mine = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall
    busy = sum(machine1) - machine1.idle - machine1.iowait - (sum(machine0) - machine0.idle - machine0.iowait)
    others = max(0.0, busy / wall - mine)

    offered = Counter(event.symbol for event in events[: source.offered])
    clean = [s for s in symbols if s not in crashes_of]
    lost_clean = sum(ctx.router.undelivered_by_symbol[s] for s in clean)
    lost_crashed = sum(ctx.router.undelivered_by_symbol[s] for s in crashes_of)
    mismatches: list[str] = []
    for symbol in clean:
        ref = ctx.router.ref(symbol, FEED)
        if ref is None:
            mismatches.append(f"{symbol}: no Feed")
            continue
        handled = _handled(ref) - BACKFILLS_PER_FEED
        conflated = _inbox(ref).conflated
        if handled + conflated != offered[symbol]:
            mismatches.append(f"{symbol}: offered {offered[symbol]}, handled {handled} + conflated {conflated}")
    status = engine.status()
    engine.stop()
    logger.complete()
    logger.remove()
    console.close()
    for crash in crashes:
        crash.market_wait_ms = _market_wait_ms(crash, events, args.rate)

    fired = [c for c in crashes if c.fired is not None]
    recovered = [c for c in fired if c.recovered is not None]
    recovery = [c.recovery_ms for c in recovered if c.recovery_ms is not None]
    backoffs = [c.backoff_ms for c in recovered if c.backoff_ms is not None]
    net = [r - b for c in recovered if (r := c.recovery_ms) is not None and (b := c.backoff_ms) is not None]
    react = [v for c in recovered if (v := _since(c.fired, c.unbound)) is not None]
    rebind = [v for c in recovered if (v := _since(c.unbound, c.bound)) is not None]
    first = [v for c in recovered if (v := _since(c.bound, c.recovered)) is not None]
    waits = [c.market_wait_ms for c in recovered if c.market_wait_ms is not None]
    engine_only = [
        r - b - w
        for c in recovered
        if (r := c.recovery_ms) is not None and (b := c.backoff_ms) is not None and (w := c.market_wait_ms) is not None
    ]
    to_fire = [v for c in fired if (v := _since(c.armed, c.fired)) is not None]
    roles = Counter(c.role for c in fired)

    print(
        f"offered {source.offered:,} events over {wall:.1f}s; {len(crashes)} crashes armed, {len(fired)} fired "
        f"({', '.join(f'{r} {n}' for r, n in sorted(roles.items()))}), {len(recovered)} recovered "
        f"within {RECOVERY_TIMEOUT_S:.0f}s; arm->fire {_ms(to_fire)}"
    )
    p99 = percentile(recovery, 99)
    verdict = "OK" if recovery and p99 <= 100 and len(recovered) == len(fired) else "MISSED"
    print(
        f"recovery fault->first Signal decision of the new pipeline: {_ms(recovery)} (target p99 <= 100 ms: {verdict})"
    )
    share = sum(backoffs) / sum(recovery) if backoffs and recovery else 0.0
    print(f"  backoff chosen by the Supervisor: {_ms(backoffs)}; {share:.0%} of the total recovery time")
    print(f"  recovery minus backoff: {_ms(net)}")
    print(
        f"  waiting for the symbol's next book/ticker after rebinding: {_ms(waits)}; "
        f"recovery minus backoff and that wait: {_ms(engine_only)}"
    )
    print(
        f"  fault->unbound {_ms(react)} | unbound->new pipeline bound {_ms(rebind)} | "
        f"bound->first decision {_ms(first)}"
    )
    for c in sorted(recovered, key=lambda c: c.recovery_ms or 0.0, reverse=True)[:3]:
        print(
            f"  slowest: {c.symbol} {c.role} {c.recovery_ms:.1f} ms = fault->unbound "
            f"{_opt(_since(c.fired, c.unbound))} + ->bound {_opt(_since(c.unbound, c.bound))} "
            f"(backoff {_opt(c.backoff_ms)}) + ->decision {_opt(_since(c.bound, c.recovered))} "
            f"(market wait {_opt(c.market_wait_ms)})"
        )
    print(
        f"other symbols ({len(clean)} never crashed): undelivered {lost_clean} (target 0); conservation "
        f"Feed handled + conflated == offered: {len(mismatches)} mismatches (target 0)"
    )
    for line in mismatches[:5]:
        print(f"  {line}")
    print(
        f"crashed symbols ({len(crashes_of)}): {lost_crashed:,} events undelivered while down "
        f"({lost_crashed / max(1, len(crashes_of)):.1f} per crash)"
    )
    print(
        f"status: symbols {status['symbols']}, restarts {sum(status['restarts'].values())}, "
        f"quarantined {len(status['quarantined'])}, conflated {status['conflated_events']:,}, "
        f"latency p99 {status['latency_us'].get('p99', 0) / 1000:.2f} ms"
    )
    print(
        f"CPU: this process {mine:.0%} of one core, other processes {others:.0%} of one core, on "
        f"{os.cpu_count()} cores; load average {load0:.2f} before, {os.getloadavg()[0]:.2f} after "
        f"(other processes competing for the CPU inflate every figure)"
    )
    if watch.unexpected:
        print(f"unexpected log records: {len(watch.unexpected)}, first: {watch.unexpected[0]}")
    if recovery and not backoffs:
        print("note: no backoff found in the Supervisor's log; the backoff share could not be measured")


if __name__ == "__main__":
    main()
