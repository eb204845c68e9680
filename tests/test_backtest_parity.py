"""The fast backtest makes the decisions the actors make: the same bars replayed through the real
actors (simulated clock) give the identical trade list, on real and on simulated history."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.backtest.command import Request, load_series
from engine.backtest.data import load
from engine.backtest.driver import Backtest, Costs, Series
from engine.backtest.replay import ActorReplay
from engine.backtest.report import fingerprint
from engine.config import load_config

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "binance_usdm_freqtrade"
MINUTE = 60_000
START = 1_746_489_600_000  # 2025-05-06 00:00 UTC


def _both(config_overrides: dict[str, object], series: list[Series], start_ms: int) -> tuple[list, list]:
    config = load_config(cli=config_overrides)
    fast = Backtest(config).run(series, start_ms).trades
    replayed = ActorReplay(config).run(series, start_ms)
    return fast, replayed


def _rows(trades: list) -> list[tuple]:
    return [(t.symbol, t.side, t.qty, t.entry_ts, t.entry_price, t.exit_ts, t.exit_price, t.reason) for t in trades]


@pytest.mark.skipif(not REAL.is_dir(), reason=f"real market data not present at {REAL} (only beside the project)")
def test_actor_replay_trades_exactly_like_the_fast_path_on_real_btc_and_eth() -> None:
    series = [Series(load(REAL, symbol, "1m").between(START - 200 * MINUTE, START + 720 * MINUTE))
              for symbol in ("BTCUSDT", "ETHUSDT")]  # fmt: skip
    fast, replayed = _both({"logging.level": "WARNING"}, series, START)
    assert len(fast) >= 5
    assert _rows(replayed) == _rows(fast)
    assert fingerprint(replayed) == fingerprint(fast)


def _simulated(symbols: tuple[str, ...], days: float, overrides: dict[str, object]) -> list[Series]:
    config = load_config(cli={"sim.symbols": 20, **overrides})
    request = Request(symbols, None, "sim", None, None, Costs(), Path("unused"), sim_days=days)
    return load_series(request, config)


def test_actor_replay_matches_on_the_simulated_market_with_scanner_and_correlation_in_force() -> None:
    overrides: dict[str, object] = {"engine.top_n_symbols": 2, "risk.max_correlation": 0.5}
    series = _simulated(("BTCUSDT", "ETHUSDT", "SOLUSDT"), 0.4, overrides)
    start = int(series[0].candles.ts[200])
    fast, replayed = _both({"sim.symbols": 20, **overrides}, series, start)
    assert len(fast) >= 5
    assert _rows(replayed) == _rows(fast)


def test_actor_replay_matches_for_long_dip_with_targets_and_trailing_stops() -> None:
    overrides: dict[str, object] = {"strategy.mode": "long_dip", "long_dip.entry_multiplier": 0.3}
    series = _simulated(("BTCUSDT", "ETHUSDT"), 1.0, overrides)
    start = int(series[0].candles.ts[300])
    fast, replayed = _both({"sim.symbols": 20, **overrides}, series, start)
    assert {t.reason for t in fast} & {"target", "stop"}
    assert _rows(replayed) == _rows(fast)
