"""Pipeline benchmark: N symbols, events offered at an aggregate rate R through the real engine.

The whole engine runs (pooled Feed/Features/Signal per symbol, Risk, Portfolio, Execution, Store);
only the venue is replaced by a source that offers pre-generated simulated events at a fixed
wall-clock rate, so generating events does not compete with the pipeline for the GIL. Each event
is stamped with its offer time; latency is measured from that stamp to the Signal decision.

    python bench/pipeline.py                       # 600 symbols, 20,000 events/s, 10 s
    python bench/pipeline.py --rate 100000         # 5x overload: conflation must bound the queues
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.context import FEED, SIGNAL
from adapters.sim.feed import SimFeed
from adapters.sim.market import SimConfig, SimMarket
from engine.app import Engine
from engine.config import load_config
from engine.logs import setup_logging
from engine.messages import MarketEvent
from engine.ports import EventSink
from engine.runtime.pooled import pooled_inbox

TICK_S = 0.002
CHUNK = 64


class OfferedSource(SimFeed):
    """The simulated venue, except that the stream offers a pre-generated list at ``rate`` per second."""

    def __init__(self, market: SimMarket, events: list[MarketEvent], rate: float) -> None:
        super().__init__(market)
        self.events = events
        self.rate = rate
        self.offered = 0
        self.done = threading.Event()
        self.connected = threading.Event()
        self._sink: EventSink = lambda _events: None

    def start(self, sink: EventSink) -> None:
        self._sink = sink
        self.connected.set()

    def go(self) -> None:
        self.connected.wait(60)
        threading.Thread(target=self._offer, name="bench-offer", daemon=True).start()

    def _offer(self) -> None:
        """Offer what is due, in chunks stamped just before they are routed (like frames read off a socket)."""
        sink, events, rate = self._sink, self.events, self.rate
        start = time.perf_counter()
        while self.offered < len(events):
            due = min(len(events), int((time.perf_counter() - start) * rate))
            while self.offered < due:
                chunk = events[self.offered : min(due, self.offered + CHUNK)]
                now = time.perf_counter_ns()
                for event in chunk:
                    object.__setattr__(event, "recv_ns", now)  # arrival stamp on the pre-built event
                sink(chunk)
                self.offered += len(chunk)
            time.sleep(TICK_S)
        self.done.set()


def generate(market: SimMarket, count: int) -> list[MarketEvent]:
    """``count`` events of the symbols the engine trades (the universe), in time order."""
    universe = set(market.universe())
    events: list[MarketEvent] = []
    while len(events) < count:
        events.extend(e for e in market.step() if e.symbol in universe)
    return events[:count]


def start_offered_engine(
    tmp: Path, symbols: int, rate: float, seconds: float, settings: dict[str, Any]
) -> tuple[Engine, OfferedSource]:
    """A real engine over ``symbols`` simulated symbols whose stream offers ``rate`` events/s for ``seconds``."""
    config = load_config(
        cli={"engine.data_dir": str(tmp / "data"), "engine.log_dir": str(tmp / "logs"), "sim.symbols": symbols}
        | settings,
        env={},
    )
    market = SimMarket(SimConfig(symbols=symbols, history_bars=300))
    t0 = time.perf_counter()
    events = generate(market, int(rate * seconds))
    print(f"generated {len(events):,} events for {symbols} symbols in {time.perf_counter() - t0:.1f}s")
    source = OfferedSource(market, events, rate)
    gc.freeze()
    engine = Engine(config, source=source)
    engine.start()
    return engine, source


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=600)
    parser.add_argument("--rate", type=float, default=20_000, help="aggregate events offered per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="dispatcher threads")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    setup_logging(tmp / "logs", "WARNING")
    engine, source = start_offered_engine(
        tmp, args.symbols, args.rate, args.seconds, {"runtime.dispatcher_workers": args.workers}
    )
    assert engine.ctx is not None
    ctx = engine.ctx
    process = psutil.Process()
    depths: list[int] = []
    rss: list[float] = []
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            depths.append(max((len(pooled_inbox(ref) or ()) for _, _, ref in ctx.router.symbol_refs()), default=0))
            rss.append(process.memory_info().rss / 2**20)
            time.sleep(0.1)

    ctx.latency.reset()
    cpu0 = process.cpu_times()
    wall0 = time.perf_counter()
    threading.Thread(target=sample, daemon=True).start()
    source.go()
    source.done.wait(args.seconds * 3 + 30)
    offer_s = time.perf_counter() - wall0
    refs = ctx.router.symbol_refs()
    while (
        any(len(pooled_inbox(ref) or ()) for _, _, ref in refs) and time.perf_counter() - wall0 < args.seconds * 4 + 30
    ):
        time.sleep(0.01)
    wall = time.perf_counter() - wall0
    cpu1 = process.cpu_times()
    sampling.set()
    feed_handled = sum(ref.proxy().handled.get(timeout=5) for _, role, ref in refs if role == FEED)
    signal_handled = sum(ref.proxy().handled.get(timeout=5) for _, role, ref in refs if role == SIGNAL)
    status = engine.status()
    latency = ctx.latency.percentiles_us((50.0, 99.0, 99.9))
    threads = threading.active_count()
    engine.stop()

    cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall
    quarter = max(1, len(rss) // 4)
    print(f"symbols {args.symbols}, offered {source.offered:,} events at {args.rate:,.0f}/s over {offer_s:.1f}s")
    print(f"achieved: {source.offered / wall:,.0f} events/s into the pipeline (drained after {wall:.1f}s)")
    print(
        f"  Feed handled {feed_handled:,}, conflated in inboxes {status['conflated_events']:,}, "
        f"Signal decisions {signal_handled:,} ({signal_handled / wall:,.0f}/s)"
    )
    print(
        f"latency event->Signal decision: p50 {latency['p50'] / 1000:.2f} ms, p99 {latency['p99'] / 1000:.2f} ms, "
        f"p99.9 {latency['p99.9'] / 1000:.2f} ms"
    )
    print(
        f"deepest mailbox: {max(depths, default=0)} (median of samples {statistics.median(depths or [0]):.0f}), "
        f"high water {status['mailbox_high_water']}, undelivered {status['undelivered']}"
    )
    print(
        f"RSS MB: first quarter {statistics.mean(rss[:quarter]):.0f}, "
        f"last quarter {statistics.mean(rss[-quarter:]):.0f}, "
        f"max {max(rss):.0f}; threads {threads}; CPU {cpu:.0%} of one core"
    )


if __name__ == "__main__":
    main()
