"""Feed benchmark: the whole simulated universe streamed over loopback WebSockets through the Bitget
adapter into the engine's actors, at Bitget's real push rates.

The venue is ``engine sim serve`` (``BitgetSimServer``: Bitget v2's public REST and WebSocket
protocol on 127.0.0.1) in a separate process, so this process's CPU is the adapter and the actors
alone. The engine runs in paper mode on ``--venue bitget`` pointed at it: ``BitgetSource`` over
``BitgetRest``, one ``Connection`` per 50 channels (all read by one shared reader thread), each
symbol streaming ``ticker``, ``books5`` and ``trade``. Push rates follow
``../shared/venues/bitget.md`` section 7.3: ticker
"every 100-300 ms" (200 ms here), futures ``books5`` every 150 ms; the ``trade`` push rate is not
documented, so trades arrive at ``--trade-rate`` per symbol per second (default 2, the simulator's
default; it spreads them by volume). The default universe is the simulator's full one
(``sim.symbols`` = 500, about the number of USDT-FUTURES contracts Bitget lists). The backfill
before the measurement is paced at Bitget's documented REST limits, as the adapter always is, so
500 symbols take about half a minute.

After the backfill and a ``--warmup``, for ``--seconds`` it measures:

- frames received and events parsed and handed to the engine's sink, per second (the sink is
  wrapped; a frame may carry several items; the expected rate is symbols x (1000/200 + 1000/150 +
  trade rate)), and the share of the expected rate that arrived on each channel;
- latency from frame arrival to the Signal decision, from the engine's ``LatencyRecorder`` (reset
  after warm-up): ``recv_ns`` is stamped when the reader thread reads the socket, before the
  JSON is parsed, and the Signal actor records on each ``FeaturesUpdated``. Also, per event, from
  the push's ``ts`` (the simulator's wall clock in ms when it built the frame) to the Signal
  decision on this host's wall clock, and from that ``ts`` to frame arrival;
- CPU as a fraction of one core (CPU seconds over wall seconds): thread CPU
  (``time.thread_time_ns``) inside the stream threads' frame handler, i.e. JSON decode, ``events_of``
  and routing into the symbols' inboxes (split into parse and route); each thread group's CPU
  (psutil: stream threads including the reader's socket reads and frame decoding,
  dispatcher workers running Feed/Features/Signal, the rest); the whole engine process; the
  simulated venue's process; every other process on the machine (a busy machine inflates all of it).

The issue's target, the whole universe at Bitget's real push rates with parsing and routing under
half of one core, is printed as PASS/FAIL (not asserted), for the frame handler and for the stream
threads as a whole. When less than 95% of the expected rate got through (a simulator that cannot
produce it, or an engine that cannot read it), the figures are scaled linearly to the full rate
and the verdict says so.

    python bench/feed.py                            # 500 symbols, 30 s
    python bench/feed.py --symbols 200 --seconds 20
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar
from unittest import mock

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import engine.app as engine_app  # noqa: E402 (after the path set-up, like the other benches)
from adapters.bitget.parsing import Push  # noqa: E402
from adapters.bitget.rest import BitgetRest  # noqa: E402
from adapters.bitget.source import BitgetSource  # noqa: E402
from adapters.bitget.stream import Connection  # noqa: E402
from engine.app import Engine  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.logs import setup_logging  # noqa: E402
from engine.messages import BookUpdated, MarketEvent, TickerUpdated, TradesReceived  # noqa: E402
from engine.ports import EventSink  # noqa: E402
from engine.runtime.latency import LatencyRecorder  # noqa: E402

TICKER_INTERVAL_MS = 200  # bitget.md 7.3: ticker "every 100-300 ms"
BOOK_INTERVAL_MS = 150  # bitget.md 7.3: futures books5 every 150 ms
TARGET_CORES = 0.5
OTHERS_BUSY_CORES = 0.2
QUEUED_MS = 250.0
CHANNEL_OF: dict[type, str] = {TickerUpdated: "ticker", BookUpdated: "books5", TradesReceived: "trade"}
URL = re.compile(r"^(REST|WebSocket) (\S+)$")
SIM_START_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 60.0
STREAM_PREFIX = "bitget-public"
DISPATCHER_PREFIX = "dispatcher"
# perf_counter_ns -> wall-clock ns, fixed once so stamps and decisions convert alike.
WALL_MINUS_PERF_NS = time.time_ns() - time.perf_counter_ns()


# --- instrumented adapter --------------------------------------------------------------------------


@dataclass(slots=True)
class HandleMeter:
    """One stream thread's frame handler: frames, thread CPU and wall time inside it (only it writes)."""

    frames: int = 0
    cpu_ns: int = 0
    wall_ns: int = 0


class MeteredConnection(Connection):
    """A ``Connection`` whose frame handler (JSON decode, ``events_of``, the sink) is timed on its own thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meter = HandleMeter()

    def _handle(self, text: str | bytes, recv_ns: int) -> None:
        cpu0 = time.thread_time_ns()
        wall0 = time.perf_counter_ns()
        super()._handle(text, recv_ns)
        meter = self.meter
        meter.wall_ns += time.perf_counter_ns() - wall0
        meter.cpu_ns += time.thread_time_ns() - cpu0
        meter.frames += 1


class MeteredSource(BitgetSource):
    """``BitgetSource`` that counts what it hands to the sink, times the sink (routing), and keeps
    each push's ``ts`` by its arrival stamp so the Signal decision can be timed from it."""

    def __init__(self, rest: BitgetRest, ws_url: str, push_ts: dict[int, int]) -> None:
        super().__init__(rest, ws_url, connection=MeteredConnection)
        self.push_ts = push_ts
        self.arrival_ms: array[float] = array("d")
        self.recording = False
        self.events = 0
        self.route_cpu_ns = 0
        self.by_channel: Counter[str] = Counter()

    def start(self, sink: EventSink) -> None:
        def metered(events: Sequence[MarketEvent]) -> None:
            # Called under the source's lock (one connection at a time), so the counters need no other.
            cpu0 = time.thread_time_ns()
            sink(events)
            self.route_cpu_ns += time.thread_time_ns() - cpu0
            self.events += len(events)
            self.by_channel.update(CHANNEL_OF.get(type(e), "other") for e in events)

        super().start(metered)

    def _deliver(self, push: Push, recv_ns: int) -> None:
        if self.recording and push.ts:
            self.push_ts[recv_ns] = push.ts
            self.arrival_ms.append((recv_ns + WALL_MINUS_PERF_NS) / 1e6 - push.ts)
        super()._deliver(push, recv_ns)

    def connections(self) -> list[MeteredConnection]:
        return [conn for conn in self._connections if isinstance(conn, MeteredConnection)]

    def handled(self) -> HandleMeter:
        total = HandleMeter()
        for conn in self.connections():
            total.frames += conn.meter.frames
            total.cpu_ns += conn.meter.cpu_ns
            total.wall_ns += conn.meter.wall_ns
        return total


class VenueLatency(LatencyRecorder):
    """The engine's recorder, also timing each decision from its push's ``ts`` (wall clock, ms)."""

    push_ts: ClassVar[dict[int, int]] = {}

    def __init__(self, capacity: int = 65_536) -> None:
        super().__init__(capacity)
        self.venue_ms: array[float] = array("d")

    def record_since(self, recv_ns: int) -> None:
        super().record_since(recv_ns)
        ts = self.push_ts.get(recv_ns)
        if ts is not None:
            self.venue_ms.append((time.perf_counter_ns() + WALL_MINUS_PERF_NS) / 1e6 - ts)

    def reset(self) -> None:
        super().reset()
        del self.venue_ms[:]


# --- the venue process -----------------------------------------------------------------------------


@dataclass(slots=True)
class Venue:
    proc: subprocess.Popen[str]
    rest_url: str
    ws_url: str


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


@contextlib.contextmanager
def sim_venue(tmp: Path, symbols: int, trade_rate: float) -> Iterator[Venue]:
    """``engine sim serve`` in its own process; its REST and WebSocket URLs; terminated on exit."""
    settings = {
        "sim.symbols": symbols,
        "sim.speed": 1.0,
        "sim.ticker_interval_ms": TICKER_INTERVAL_MS,
        "sim.book_interval_ms": BOOK_INTERVAL_MS,
        "sim.trade_rate_per_s": trade_rate,
    }
    cmd = [sys.executable, "-c", "from engine.cli import main; main()", "sim", "serve"]
    for key, value in settings.items():
        cmd += ["--set", f"{key}={value}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGINE_") and k != "TRADING_MODE"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    stderr_path = tmp / "venue.stderr"
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        assert proc.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines), name="venue-stdout", daemon=True).start()
        urls: dict[str, str] = {}
        deadline = time.monotonic() + SIM_START_TIMEOUT_S
        while len(urls) < 2:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the simulated venue did not start:\n{stderr_path.read_text()[-2000:]}")
            with contextlib.suppress(queue.Empty):
                match = URL.match(lines.get(timeout=0.2).strip())
                if match:
                    urls[match.group(1)] = match.group(2)
        yield Venue(proc, urls["REST"], urls["WebSocket"])
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


# --- measuring -------------------------------------------------------------------------------------


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) of this process's threads, summed by group."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    groups: dict[str, float] = {"stream": 0.0, "dispatcher": 0.0, "other": 0.0}
    for t in psutil.Process().threads():
        name = names.get(t.id, "")
        group = "other"
        if name.startswith(STREAM_PREFIX):
            group = "stream"
        elif name.startswith(DISPATCHER_PREFIX):
            group = "dispatcher"
        groups[group] += t.user_time + t.system_time
    return groups


def machine_busy_s() -> float:
    """CPU seconds all cores have spent on anything but idling, since boot."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def process_cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


@dataclass(slots=True)
class Snapshot:
    wall: float
    handled: HandleMeter
    route_cpu_ns: int
    events: int
    threads: dict[str, float]
    engine_cpu: float
    venue_cpu: float
    parse_errors: int
    conflated: int
    by_channel: Counter[str]
    machine_busy: float


def snapshot(engine: Engine, source: MeteredSource, venue: psutil.Process) -> Snapshot:
    status = engine.status()
    return Snapshot(
        time.perf_counter(),
        source.handled(),
        source.route_cpu_ns,
        source.events,
        thread_cpu_s(),
        process_cpu_s(psutil.Process()),
        process_cpu_s(venue),
        source.parse_errors,
        int(status["conflated_events"]),
        Counter(source.by_channel),
        machine_busy_s(),
    )


def ms_percentiles(values: array[float], qs: tuple[float, ...] = (50.0, 99.0)) -> list[float]:
    if not values:
        return [float("nan")] * len(qs)
    return [float(v) for v in np.percentile(np.frombuffer(values, dtype=np.float64), qs)]


def wait_connected(source: MeteredSource, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        conns = source.connections()
        if conns and all(conn.connected for conn in conns):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the streams did not all connect within {timeout_s:.0f}s")


def verdict(cores: float) -> str:
    return f"{'PASS' if cores < TARGET_CORES else 'FAIL'} ({cores:.2f} of one core, target < {TARGET_CORES})"


def report(
    args: argparse.Namespace,
    symbols: int,
    connections: int,
    start_s: float,
    a: Snapshot,
    b: Snapshot,
    latency: dict[str, float],
    decisions: int,
    held: int,
    venue_ms: array[float],
    arrival_ms: array[float],
) -> None:
    wall = b.wall - a.wall
    frames = b.handled.frames - a.handled.frames
    events = b.events - a.events
    handle_cpu = (b.handled.cpu_ns - a.handled.cpu_ns) / 1e9
    handle_wall = (b.handled.wall_ns - a.handled.wall_ns) / 1e9
    route_cpu = (b.route_cpu_ns - a.route_cpu_ns) / 1e9
    parse_cpu = handle_cpu - route_cpu
    expected = symbols * (1000 / TICKER_INTERVAL_MS + 1000 / BOOK_INTERVAL_MS + args.trade_rate)
    threads = {k: (b.threads[k] - a.threads.get(k, 0.0)) / wall for k in b.threads}
    engine_cores = (b.engine_cpu - a.engine_cpu) / wall
    venue_cores = (b.venue_cpu - a.venue_cpu) / wall
    (v50, v99), (r50, r99) = ms_percentiles(venue_ms), ms_percentiles(arrival_ms)
    per_symbol = {"ticker": 1000 / TICKER_INTERVAL_MS, "books5": 1000 / BOOK_INTERVAL_MS, "trade": args.trade_rate}
    got = {
        ch: (b.by_channel[ch] - a.by_channel[ch]) / wall / max(symbols * rate, 1e-9) for ch, rate in per_symbol.items()
    }
    print(
        f"venue: engine sim serve (own process), ticker {TICKER_INTERVAL_MS} ms, books5 {BOOK_INTERVAL_MS} ms, "
        f"trades {args.trade_rate:g}/s per symbol: expected {expected:,.0f} events/s"
    )
    print(
        f"engine: paper, venue bitget on loopback, {symbols} symbols streaming over {connections} WebSocket "
        f"connections (ready after {start_s:.1f}s incl. backfill), then {args.warmup:g}s warm-up"
    )
    print(f"measured over {wall:.1f}s:")
    print(
        f"  frames received {frames:,} ({frames / wall:,.0f}/s); events parsed and delivered to the sink "
        f"{events:,} ({events / wall:,.0f}/s, {events / wall / expected:.0%} of expected); "
        f"parse errors {b.parse_errors - a.parse_errors}"
    )
    print(
        "  share of the expected rate by channel: "
        + ", ".join(f"{ch} {share:.0%} of {symbols * per_symbol[ch]:,.0f}/s" for ch, share in got.items())
    )
    print(
        f"  Signal decisions {decisions:,} ({decisions / wall:,.0f}/s); "
        f"conflated in inboxes {b.conflated - a.conflated:,}"
    )
    print(
        f"latency frame arrival (recv_ns, stamped when the reader reads the socket, before JSON parsing) "
        f"-> Signal decision, engine LatencyRecorder ({held:,} newest of {decisions:,} samples): "
        f"p50 {latency['p50'] / 1000:.2f} ms, p99 {latency['p99'] / 1000:.2f} ms"
    )
    print(
        f"latency push ts (venue wall clock when the frame was built, ms resolution) -> Signal decision "
        f"({len(venue_ms):,} samples): p50 {v50:.2f} ms, p99 {v99:.2f} ms"
    )
    print(f"latency push ts -> frame arrival ({len(arrival_ms):,} frames): p50 {r50:.2f} ms, p99 {r99:.2f} ms")
    receive = threads["stream"] - handle_cpu / wall
    print("CPU, as a fraction of one core (CPU s / wall s):")
    print(
        f"  parsing and routing (thread CPU inside the stream threads' frame handler): {handle_cpu / wall:.3f} "
        f"= parse (JSON decode + events_of) {parse_cpu / wall:.3f} + route (sink: inboxes, quotes) "
        f"{route_cpu / wall:.3f}; per frame {handle_cpu / max(frames, 1) * 1e6:.1f} us CPU, "
        f"{handle_wall / max(frames, 1) * 1e6:.1f} us wall (the rest waits for the source's lock or the GIL)"
    )
    print(
        f"  threads: stream {threads['stream']:.3f} (= the handler + the reader's receive and decode {receive:.3f}: "
        f"socket reads, framing), dispatcher (Feed/Features/Signal) {threads['dispatcher']:.3f}, "
        f"other {threads['other']:.3f}"
    )
    others = (b.machine_busy - a.machine_busy) / wall - engine_cores - venue_cores
    print(
        f"  engine process {engine_cores:.3f}; simulated venue process {venue_cores:.3f}; "
        f"other processes on this {psutil.cpu_count()}-core machine {max(others, 0.0):.3f}"
        + (" (a busy machine: figures are inflated by contention)" if others > OTHERS_BUSY_CORES else "")
    )
    rate = events / wall
    parse_route, stream = handle_cpu / wall, threads["stream"]
    label = "measured"
    if rate < 0.95 * expected:
        print(
            f"  NOTE: only {rate / expected:.0%} of Bitget's push rates got through: "
            + "; ".join(bottlenecks(engine_cores, venue_cores, others, r50, got))
        )
        scale = expected / max(rate, 1.0)
        parse_route, stream = parse_route * scale, stream * scale
        label = f"extrapolated linearly from {rate / expected:.0%} of the rate"
        print(
            f"  at the full {expected:,.0f} events/s: parsing and routing ~{parse_route:.2f} core, "
            f"stream threads ~{stream:.2f} core, engine process ~{engine_cores * scale:.2f} core"
        )
    print(f"target, parsing and routing of {symbols} symbols at Bitget's push rates: {verdict(parse_route)}, {label}")
    print(f"        the same with the reader's receive and decode (all stream threads): {verdict(stream)}, {label}")


def bottlenecks(
    engine_cores: float, venue_cores: float, others: float, arrival_p50_ms: float, got: dict[str, float]
) -> list[str]:
    """Why the rate fell short, as far as the figures tell."""
    found = []
    cores = psutil.cpu_count() or 1
    if engine_cores + venue_cores + others >= 0.9 * cores:
        found.append(
            f"every core was busy ({engine_cores + venue_cores + others:.2f} of {cores}, "
            f"{max(others, 0.0):.2f} of it other processes)"
        )
    quotes = min(got["ticker"], got["books5"])
    if got["trade"] >= 0.95 and quotes < 0.95:
        found.append(
            "the trades all arrived but not the tickers and books: a venue that replaces a symbol's pending "
            "ticker or book with a newer one (conflation) sent fewer than it generated"
        )
    if engine_cores >= 0.8:
        found.append(f"the engine process is GIL-bound ({engine_cores:.2f} core of Python threads)")
    if venue_cores >= 0.85:
        found.append(f"the venue process is saturated ({venue_cores:.2f} core)")
    if arrival_p50_ms > QUEUED_MS:
        found.append(
            f"frames queue {arrival_p50_ms / 1000:.1f}s (p50) between the venue building and the engine reading them"
        )
    return found or ["no process near one core"]


def run(args: argparse.Namespace, tmp: Path) -> None:
    push_ts: dict[int, int] = {}
    with contextlib.ExitStack() as stack:
        venue = stack.enter_context(sim_venue(tmp, args.symbols, args.trade_rate))
        venue_process = psutil.Process(venue.proc.pid)
        stack.enter_context(mock.patch.object(engine_app, "LatencyRecorder", VenueLatency))
        stack.enter_context(mock.patch.object(VenueLatency, "push_ts", push_ts))
        config = load_config(
            cli={
                "engine.mode": "paper",
                "engine.venue": "bitget",
                "engine.symbols": "all",
                "engine.data_dir": str(tmp / "data"),
                "engine.log_dir": str(tmp / "logs"),
                "bitget.rest_url": venue.rest_url,
                "bitget.ws_public_url": venue.ws_url,
                "runtime.dispatcher_workers": args.workers,
            },
            env={},
        )
        rest = BitgetRest(venue.rest_url)
        source = MeteredSource(rest, venue.ws_url, push_ts)
        engine = Engine(config, source=source)
        t0 = time.perf_counter()
        try:
            engine.start()
            wait_connected(source, CONNECT_TIMEOUT_S)
            start_s = time.perf_counter() - t0
            assert engine.ctx is not None
            recorder = engine.ctx.latency
            assert isinstance(recorder, VenueLatency)
            time.sleep(args.warmup)

            source.recording = True
            recorder.reset()
            a = snapshot(engine, source, venue_process)
            time.sleep(args.seconds)
            b = snapshot(engine, source, venue_process)
            source.recording = False
            latency = recorder.percentiles_us((50.0, 99.0))
            decisions, held = recorder.count, min(recorder.count, 65_536)
            venue_ms, arrival_ms = array("d", recorder.venue_ms), array("d", source.arrival_ms)
            connections = len(source.connections())
        finally:
            engine.stop()
        report(args, len(engine.symbols), connections, start_s, a, b, latency, decisions, held, venue_ms, arrival_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=500, help="simulated universe (sim.symbols)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds streaming before the window")
    parser.add_argument("--trade-rate", type=float, default=2.0, help="mean trades per symbol per second")
    parser.add_argument("--workers", type=int, default=1, help="dispatcher threads")
    args = parser.parse_args()
    if args.symbols < 1 or args.seconds <= 0 or args.warmup < 0 or args.trade_rate < 0 or args.workers < 1:
        parser.error("--symbols and --workers must be >= 1, --seconds > 0, --warmup and --trade-rate >= 0")
    tmp = Path(tempfile.mkdtemp(prefix="bench-feed-"))
    setup_logging(tmp / "logs", "WARNING")
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
