"""Signals benchmark: what one bar costs a symbol, and what one scanner cycle costs the engine.

1. Per-bar cost of the full Features + Signal update of one symbol: ``FeatureEngine.on_bar``
   (EMA 9/21, ATR, ADX/DI, Bollinger, ATR median, momentum, volume spike, regime) followed by
   ``SignalEngine.on_features`` running the default ``regime`` strategy (trend, range and
   high-volatility rules all updated every bar), over real 1m candles when ``../shared/data/real``
   is present, else over the simulated market's candles. The long-dip strategy on 15m bars is
   timed the same way.
2. One Scanner cycle over 600 symbols: scoring (four components, percentile-normalised) and
   picking the top N, from each symbol's newest closed-bar features.

Figures are medians of ``--repeats`` runs, printed as microseconds per unit.

    python bench/signals.py
    python bench/signals.py --bars 20000 --symbols 600 --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from adapters.sim.market import SimConfig, SimMarket
from engine.config import load_config
from engine.core.features import FeatureEngine
from engine.core.scanner import ScanWeights, score
from engine.core.signal import SignalEngine
from engine.messages import BarClosed, FeaturesUpdated
from engine.strategy_plan import build_strategy, feature_settings

REAL_1M = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "bybit_linear" / "BTCUSDT_1m.csv.gz"
MINUTE_MS = 60_000


def real_bars(limit: int) -> tuple[str, list[BarClosed]] | None:
    path = REAL_1M
    if not path.is_file():
        return None
    frame = pd.read_csv(path).tail(limit)
    opens = (pd.to_datetime(frame["timestamp"]).astype("int64") // 1_000_000).tolist()
    rows = frame[["open", "high", "low", "close", "volume"]].to_numpy().tolist()
    bars = [BarClosed("BTCUSDT", MINUTE_MS, t, *r) for t, r in zip(opens, rows, strict=True)]
    return f"real BTCUSDT 1m ({path.name})", bars


def sim_bars(limit: int) -> tuple[str, list[BarClosed]]:
    market = SimMarket(SimConfig(symbols=1, history_bars=limit))
    symbol = market.listed()[0]
    return f"simulated {symbol} 1m", market.candles(symbol, limit)


def resample(bars: list[BarClosed], minutes: int) -> list[BarClosed]:
    out = []
    for i in range(0, len(bars) - minutes + 1, minutes):
        group = bars[i : i + minutes]
        out.append(
            BarClosed(
                group[0].symbol, minutes * MINUTE_MS, group[0].open_ts, group[0].open,
                max(b.high for b in group), min(b.low for b in group), group[-1].close, sum(b.volume for b in group),
            )
        )  # fmt: skip
    return out


def median_us(run: Callable[[], int], repeats: int) -> tuple[float, int]:
    """Median microseconds per unit of ``run`` (which returns how many units it processed)."""
    times = []
    units = 0
    for _ in range(repeats):
        start = time.perf_counter_ns()
        units = run()
        times.append((time.perf_counter_ns() - start) / 1000 / units)
    return statistics.median(times), units


def per_bar(bars: list[BarClosed], symbol_config: str, repeats: int) -> tuple[float, int, int]:
    config = load_config(cli={"strategy.mode": symbol_config})
    intervals = (bars[0].interval_ms,) if symbol_config != "long_dip" else (MINUTE_MS, bars[0].interval_ms)
    intents = 0

    def run() -> int:
        nonlocal intents
        features = FeatureEngine("BTCUSDT", feature_settings(config), intervals)
        signal = SignalEngine("BTCUSDT", build_strategy(config, "BTCUSDT"), selected=True)
        for bar in bars:
            signal.on_features(features.on_bar(bar))
        intents = signal.intents
        return len(bars)

    us, n = median_us(run, repeats)
    return us, n, intents


def scanner_cycle(symbols: int, repeats: int) -> float:
    rng = np.random.default_rng(1)
    base = FeaturesUpdated("X", 0, 100.0, 99.99, 100.01, 2.0, 1e6, 100.0, 100.0, 1.0, True, True)
    latest = {
        f"S{i:03d}USDT": replace(
            base,
            symbol=f"S{i:03d}USDT",
            ts=1_000_000 - int(rng.integers(0, 3)) * MINUTE_MS,
            ema_fast=100.0 + float(rng.normal(0, 2)),
            atr=float(rng.uniform(0.5, 2.0)),
            atr_median=1.0,
            momentum=float(rng.normal(0, 0.01)),
            volume_spike=float(rng.lognormal(0, 0.5)),
        )
        for i in range(symbols)
    }
    weights = ScanWeights()

    def run() -> int:
        ranked = score(latest, weights, 2 * MINUTE_MS)
        assert ranked[:5]
        return 1

    return median_us(run, repeats)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=40_000, help="1m bars for the per-bar figure")
    parser.add_argument("--symbols", type=int, default=600, help="symbols in one scanner cycle")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    source, bars = real_bars(args.bars) or sim_bars(min(args.bars, 1_000))
    print(f"data: {source}, {len(bars):,} bars")
    us, n, intents = per_bar(bars, "regime", args.repeats)
    print(f"features + signal (regime strategy, 1m): {us:.1f} us per bar over {n:,} bars, {intents} intents")
    fifteen = resample(bars, 15)
    us, n, intents = per_bar(fifteen, "long_dip", args.repeats)
    print(f"features + signal (long dip, 15m):       {us:.1f} us per bar over {n:,} bars, {intents} intents")
    cycle = scanner_cycle(args.symbols, args.repeats)
    per_symbol = cycle / args.symbols
    print(f"scanner cycle over {args.symbols} symbols:        {cycle / 1000:.2f} ms ({per_symbol:.1f} us per symbol)")


if __name__ == "__main__":
    main()
