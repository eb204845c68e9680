"""Risk benchmark: what the gate costs per decision, and what the correlation matrix costs per cycle.

1. ``RiskGate.evaluate`` of one entry intent with the whole universe quoted (600 symbols), a full
   correlation matrix over them and ``max_concurrent_positions`` positions open: every check runs
   (kill-switch, rate limits, correlation against each open position, heat, budgets, margin).
   Intents are denied or approved and then released, so the gate's state stays the same.
2. ``RiskGate.on_quotes`` of one batch of 600 quotes (what Risk takes every ``quote_batch_ms``).
3. One correlation cycle over 600 symbols x 50 returns: ``ReturnWindows.matrix`` (numpy) plus
   building the ``CorrelationUpdated`` message and ``RiskGate.on_correlation`` taking it.
4. ``RiskGate.blocks`` over 600 quotes (what ``engine status`` asks for).

Figures are medians of ``--repeats`` runs.

    python bench/risk.py
    python bench/risk.py --symbols 600 --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable

import numpy as np

from engine.core.correlation import ReturnWindows
from engine.core.limits import RiskLimits
from engine.core.risk import Approved, RiskGate
from engine.messages import EnterPosition, PortfolioUpdated, PositionView, Quote, Side

NOW = 1_800_000_000_000
MINUTE_MS = 60_000


def _median_s(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _universe(n: int, rng: np.random.Generator) -> tuple[list[str], list[Quote]]:
    symbols = [f"S{i:04d}USDT" for i in range(n)]
    prices = rng.uniform(0.01, 50_000.0, n)
    quotes = [
        Quote(s, NOW, p * 0.9999, p * 1.0001, p, float(rng.uniform(2e4, 2e6)), float(rng.uniform(2e4, 2e6)), 1e-4)
        for s, p in zip(symbols, prices, strict=True)
    ]
    return symbols, quotes


def _windows(symbols: list[str], rng: np.random.Generator, window: int) -> ReturnWindows:
    windows = ReturnWindows(window)
    market = np.cumsum(rng.normal(0.0, 1e-3, window + 1))
    for s in symbols:
        path = 100.0 * np.exp(0.6 * market + np.cumsum(rng.normal(0.0, 1e-3, window + 1)))
        for k, close in enumerate(path):
            windows.on_bar(s, NOW - (window - k) * MINUTE_MS, float(close))
    return windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=600)
    parser.add_argument("--intents", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    symbols, quotes = _universe(args.symbols, rng)
    limits = RiskLimits(max_entries_per_minute=10**9, max_entries_per_hour=10**9, max_entries_per_day=10**9)
    gate = RiskGate(limits)
    gate.on_quotes(tuple(quotes))
    held = symbols[: limits.max_concurrent_positions - 1]
    positions = tuple(
        PositionView(q.symbol, Side.LONG, 0.001, q.last, q.last * 0.99, q.last) for q in quotes[: len(held)]
    )
    gate.on_portfolio(PortfolioUpdated(NOW, 10_000.0, 10_000.0, 10_000.0, 10_000.0, positions))
    windows = _windows(symbols, rng, 50)

    def correlation_cycle() -> None:
        gate.on_correlation(windows.matrix().to_message())

    correlation_s = _median_s(correlation_cycle, args.repeats)
    by_symbol = {q.symbol: q for q in quotes}
    intents = [
        EnterPosition(s, NOW, Side.SHORT, by_symbol[s].last, by_symbol[s].last * 1.01, "trend", "bench")
        for s in (symbols[len(held) + i % (len(symbols) - len(held))] for i in range(args.intents))
    ]
    verdicts: Counter[str] = Counter()

    def evaluate_all() -> None:
        for intent in intents:
            verdict = gate.evaluate(intent)
            verdicts["approved" if isinstance(verdict, Approved) else verdict.code] += 1
            if isinstance(verdict, Approved):
                gate.release(intent.symbol)

    evaluate_s = _median_s(evaluate_all, args.repeats)
    batch = tuple(quotes)
    quotes_s = _median_s(lambda: gate.on_quotes(batch), args.repeats)
    blocks_s = _median_s(gate.blocks, args.repeats)
    print(f"universe: {args.symbols} symbols quoted, {len(held)} positions open, correlation over all of them")
    print(f"evaluate one entry intent (every check):    {evaluate_s / len(intents) * 1e6:8.1f} us")
    print("  verdicts: " + ", ".join(f"{code} {n // args.repeats}" for code, n in verdicts.most_common()) + " per run")
    print(f"take one batch of {args.symbols} quotes:          {quotes_s * 1e3:8.3f} ms")
    print(f"correlation cycle ({args.symbols} x 50 returns):   {correlation_s * 1e3:8.1f} ms")
    print(f"kill-switch scan for status:              {blocks_s * 1e3:8.3f} ms")


if __name__ == "__main__":
    main()
