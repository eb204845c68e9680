"""The simulated market core: determinism, listings, candles, books, event rates and dynamics."""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sim.market import (
    COMPACT_BARS,
    MINUTE_MS,
    RETAINED_BARS,
    SimConfig,
    SimMarket,
    UnknownSymbolError,
)
from adapters.sim.names import EXTRA_LISTINGS, REAL_BASES, main_symbols
from engine import ports
from engine.messages import BookUpdated, MarketEvent, TickerUpdated, TradesReceived

SMALL = SimConfig(symbols=20, history_bars=30)
RUN_STEPS = 700  # 70 s of event time: one live minute closes
EXTRAS = [symbol for symbol, _, _ in EXTRA_LISTINGS]
NAMES_2000 = main_symbols(2_000)
Run = tuple[SimMarket, list[MarketEvent]]


@pytest.fixture(scope="module")
def full() -> SimMarket:
    return SimMarket()


@pytest.fixture(scope="module")
def history_closes(full: SimMarket) -> np.ndarray:
    """Closes of the 120 largest symbols over the whole history, one row per symbol."""
    return np.array([[bar.close for bar in full.candles(s, 300)] for s in full.universe()[:120]])


@pytest.fixture(scope="module")
def run() -> Run:
    market = SimMarket(SMALL)
    return market, [event for _ in range(RUN_STEPS) for event in market.step()]


def quiet(**changes: int) -> SimConfig:
    """For tests of the price process only: no trades and rare pushes make steps nearly free."""
    rare = MINUTE_MS
    return SimConfig(trade_rate_per_s=0.0, ticker_interval_ms=rare, book_interval_ms=rare, **changes)


def on_tick(prices: np.ndarray, ticks: np.ndarray) -> bool:
    return bool((np.abs(prices / ticks - np.rint(prices / ticks)) < 1e-6).all())


def ema(values: np.ndarray, period: int) -> np.ndarray:
    alpha, out = 2.0 / (period + 1), np.empty_like(values)
    out[0] = values[0]
    for i in range(1, values.size):
        out[i] = alpha * values[i] + (1 - alpha) * out[i - 1]
    return out


# --- determinism and listings -----------------------------------------------------------------


def test_same_config_gives_identical_events_and_candles() -> None:
    cfg = SimConfig(symbols=20, history_bars=20)
    a, b = SimMarket(cfg), SimMarket(cfg)
    other = SimMarket(SimConfig(symbols=20, history_bars=20, seed=8))
    events_a = [e for _ in range(60) for e in a.step()]
    events_b = [e for _ in range(60) for e in b.step()]
    assert events_a == events_b and len(events_a) > 500
    assert [e for _ in range(60) for e in other.step()] != events_a
    for symbol in a.listed():
        assert a.candles(symbol, 100) == b.candles(symbol, 100)
        assert a.regime(symbol) == b.regime(symbol)


def test_names_are_unique_real_first_then_pronounceable() -> None:
    names = NAMES_2000
    assert len(set(names)) == 2_000
    assert names[:7] == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "BNBUSDT", "ADAUSDT"]
    assert len(REAL_BASES) >= 120 and names[: len(REAL_BASES)] == [b + "USDT" for b, _ in REAL_BASES]
    made_up = [n.removesuffix("USDT") for n in names[len(REAL_BASES) :]]
    assert all(3 <= len(base) <= 5 and base.isalpha() and base.isupper() for base in made_up)
    assert not set(names) & set(EXTRAS)


@settings(max_examples=30)
@given(st.integers(min_value=0, max_value=2_000))
def test_names_are_prefix_stable(n: int) -> None:
    assert main_symbols(n) == NAMES_2000[:n]


def test_universe_keeps_main_symbols_and_excludes_thin_listings(full: SimMarket) -> None:
    listed, universe = full.listed(), full.universe()
    assert listed == main_symbols(500) + EXTRAS
    assert universe == main_symbols(500)
    volumes = [full.instrument(s).volume_24h_usdt for s in listed]
    assert all(v >= 50_000_000 for v in volumes[:500]) and all(v < 50_000_000 for v in volumes[500:])
    assert max(volumes) == volumes[0] and all(a > b for a, b in pairwise(volumes[:500]))
    new = full.instrument("NEWUSDT")
    assert new.symbol == "NEWUSDT" and new.tick_size > 0 and new.min_qty >= new.lot_size


def test_extra_listings_generate_market_data(run: Run) -> None:
    market, events = run
    kinds = Counter(type(e).__name__ for e in events if e.symbol == "NEWUSDT")
    assert kinds["TickerUpdated"] > 300 and kinds["BookUpdated"] > 400
    assert len(market.candles("NEWUSDT", 1_000)) == SMALL.history_bars + 1


def test_instruments_have_realistic_specs_and_prices(full: SimMarket) -> None:
    btc, eth = full.instrument("BTCUSDT"), full.instrument("ETHUSDT")
    assert (btc.tick_size, btc.lot_size, eth.tick_size) == (0.1, 0.0001, 0.01)
    assert 70_000 < full.candles("BTCUSDT", 1)[0].close < 115_000
    assert 2_300 < full.candles("ETHUSDT", 1)[0].close < 3_800
    assert 110 < full.candles("SOLUSDT", 1)[0].close < 190
    made_up_opens = [full.candles(s, 300)[0].open for s in full.listed()[len(REAL_BASES) : 500 : 4]]
    assert min(made_up_opens) >= 0.01 and max(made_up_opens) <= 10.0
    funding = np.array([full.instrument(s).funding_rate for s in full.listed()])
    assert np.median(np.abs(funding)) < 2e-4 and np.abs(funding).max() <= 2e-3


def test_unknown_symbol_raises_a_clear_error(full: SimMarket) -> None:
    for call in (full.instrument, full.regime, lambda s: full.candles(s, 5)):
        with pytest.raises(UnknownSymbolError) as info:
            call("NOPEUSDT")
        assert isinstance(info.value, KeyError) and isinstance(info.value, ports.UnknownSymbolError)
        assert str(info.value) == "NOPEUSDT is not listed on this venue"


def test_config_rejects_impossible_settings() -> None:
    with pytest.raises(ValueError, match="step_ms must divide 60000"):
        SimConfig(step_ms=70)
    with pytest.raises(ValueError, match="symbols must be >= 1"):
        SimConfig(symbols=0)


# --- candles ----------------------------------------------------------------------------------


def test_history_is_available_at_start_and_contiguous(full: SimMarket) -> None:
    for symbol in ("BTCUSDT", "DOGEUSDT", full.listed()[321], "NEWUSDT"):
        bars = full.candles(symbol, 10_000)
        assert len(bars) == 300
        assert [b.open_ts for b in bars] == [full.now_ms - (300 - i) * MINUTE_MS for i in range(300)]
        assert all(b.interval_ms == MINUTE_MS and b.symbol == symbol for b in bars)
        assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in bars)
        assert all(b.volume > 0 for b in bars)
        assert all(a.close == b.open for a, b in pairwise(bars))
        assert full.candles(symbol, 10) == bars[-10:] and full.candles(symbol, 0) == []


def test_live_candles_are_the_ohlcv_of_the_emitted_trades(run: Run) -> None:
    market, events = run
    trades: dict[tuple[str, int], list[TradesReceived]] = defaultdict(list)
    for e in events:
        if isinstance(e, TradesReceived):
            trades[(e.symbol, e.ts - e.ts % MINUTE_MS)].append(e)
    for symbol in market.listed():
        bars = market.candles(symbol, 1_000)
        assert len(bars) == SMALL.history_bars + 1
        assert [b.open_ts for b in bars][-2:] == [SMALL.start_ts_ms - MINUTE_MS, SMALL.start_ts_ms]
        live, minute = bars[-1], trades[(symbol, SMALL.start_ts_ms)]
        assert minute  # even the thinnest listing trades a few times a minute
        assert (live.open, live.close) == (minute[0].open, minute[-1].close)
        assert (live.high, live.low) == (max(t.high for t in minute), min(t.low for t in minute))
        assert live.volume == pytest.approx(sum(t.volume for t in minute), rel=1e-9)


def test_minutes_without_trades_still_close_a_bar_from_the_mid_path() -> None:
    market = SimMarket(quiet(symbols=3, history_bars=5, step_ms=1_000))
    for _ in range(180):
        assert not any(isinstance(e, TradesReceived) for e in market.step())
    bars = market.candles("ETHUSDT", 10)
    assert [b.ts for b in bars[-4:]] == [market.now_ms - k * MINUTE_MS for k in (3, 2, 1, 0)]
    assert all(b.volume == 0 and b.low <= min(b.open, b.close) < b.high for b in bars[-3:])
    assert all(a.close == b.open for a, b in pairwise(bars))


def test_candles_are_retained_and_compacted_over_a_long_run() -> None:
    market = SimMarket(quiet(symbols=3, history_bars=RETAINED_BARS, step_ms=MINUTE_MS))
    for _ in range(COMPACT_BARS + 50):
        market.step()
    bars = market.candles("BTCUSDT", 5_000)
    assert RETAINED_BARS <= len(bars) <= RETAINED_BARS + COMPACT_BARS
    assert bars[-1].ts == market.now_ms
    assert all(b.open_ts - a.open_ts == MINUTE_MS for a, b in pairwise(bars))


def test_unaligned_start_keeps_bars_on_minute_boundaries() -> None:
    market = SimMarket(quiet(symbols=5, history_bars=5, start_ts_ms=SMALL.start_ts_ms + 12_300))
    assert market.candles("BTCUSDT", 5)[-1].ts == SMALL.start_ts_ms <= market.now_ms
    while market.now_ms < SMALL.start_ts_ms + MINUTE_MS:
        market.step()
    assert market.candles("BTCUSDT", 1)[0].open_ts == SMALL.start_ts_ms


# --- events -----------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.sampled_from([50, 100, 250]))
def test_steps_are_time_ordered_and_inside_their_window(seed: int, symbols: int, step_ms: int) -> None:
    market = SimMarket(SimConfig(symbols=symbols, seed=seed, step_ms=step_ms, history_bars=2))
    for _ in range(8):
        t0 = market.now_ms
        events = market.step(recv_ns=42)
        assert market.now_ms == t0 + step_ms
        stamps = [e.ts for e in events]
        assert stamps == sorted(stamps) and all(t0 <= t < t0 + step_ms for t in stamps)
        assert all(e.recv_ns == 42 for e in events)


def test_books_and_quotes_are_sane(run: Run) -> None:
    market, events = run
    tick = {s: market.instrument(s).tick_size for s in market.listed()}
    books = [e for e in events if isinstance(e, BookUpdated)]
    assert all(len(b.bids) == len(b.asks) == 5 for b in books)
    levels = np.array([b.bids + b.asks for b in books])  # book x (5 bids, 5 asks) x (price, size)
    prices, sizes = levels[:, :, 0], levels[:, :, 1]
    assert (np.diff(prices[:, :5]) < 0).all() and (np.diff(prices[:, 5:]) > 0).all()
    assert (prices[:, 4] < prices[:, 5]).all() and (sizes > 0).all()
    assert ((prices[:, 5] - prices[:, 4]) / prices[:, 4]).max() < 50e-4
    assert on_tick(prices, np.array([tick[b.symbol] for b in books])[:, None])
    btc = np.array([b.symbol == "BTCUSDT" for b in books])
    depth = (prices[btc, :5] * sizes[btc, :5]).sum(axis=1)
    assert 2e5 < np.median(depth) < 5e6  # BTC: hundreds of thousands to millions of USDT
    tickers = [e for e in events if isinstance(e, TickerUpdated)]
    assert all(e.bid < e.ask for e in tickers)
    assert on_tick(np.array([e.last for e in tickers]), np.array([tick[e.symbol] for e in tickers]))
    trades = [e for e in events if isinstance(e, TradesReceived)]
    assert all(e.open == e.high == e.low == e.close and e.count == 1 for e in trades)
    assert on_tick(np.array([e.close for e in trades]), np.array([tick[e.symbol] for e in trades]))
    assert all(e.volume >= market.instrument(e.symbol).lot_size for e in trades)


def test_ticker_last_is_the_newest_trade_so_far(run: Run) -> None:
    _, events = run
    newest: dict[str, float] = {}
    compared = 0
    for e in events:
        if isinstance(e, TradesReceived):
            newest[e.symbol] = e.close
        elif isinstance(e, TickerUpdated) and e.symbol in newest:
            assert e.last == newest[e.symbol]
            compared += 1
    assert compared > 5_000


def test_event_rates_match_the_config(run: Run) -> None:
    market, events = run
    seconds = RUN_STEPS * SMALL.step_ms / 1000
    per_symbol = len(market.listed()) * seconds
    counts = Counter(type(e).__name__ for e in events)
    tickers, books = counts["TickerUpdated"] / per_symbol, counts["BookUpdated"] / per_symbol
    assert tickers == pytest.approx(1000 / SMALL.ticker_interval_ms, rel=0.03)
    assert books == pytest.approx(1000 / SMALL.book_interval_ms, rel=0.01)
    main = set(market.universe())
    main_trades = sum(1 for e in events if isinstance(e, TradesReceived) and e.symbol in main)
    assert main_trades / (len(main) * seconds) == pytest.approx(SMALL.trade_rate_per_s, rel=0.06)
    by_symbol = Counter(e.symbol for e in events if isinstance(e, TradesReceived))
    assert by_symbol["BTCUSDT"] > 3 * by_symbol[market.universe()[-1]]
    assert 12 < len(events) / per_symbol < 16


# --- dynamics ---------------------------------------------------------------------------------


def test_returns_are_positively_correlated_through_the_market_factor(history_closes: np.ndarray) -> None:
    returns = np.diff(np.log(history_closes), axis=1)
    corr = np.corrcoef(returns)[np.triu_indices(120, 1)]
    assert 0.2 < np.median(corr) < 0.7
    assert (corr > 0).mean() > 0.95


def test_volatility_and_ema_crossovers_are_realistic(history_closes: np.ndarray) -> None:
    returns = np.diff(np.log(history_closes), axis=1)
    assert 0.0005 < np.median(returns.std(axis=1)) < 0.0015
    bars_per_cross = []
    for row in history_closes:
        side = np.sign(ema(row, 9) - ema(row, 21))[21:]
        bars_per_cross.append(side.size / max(1, np.count_nonzero(np.diff(side))))
    assert 10 <= np.median(bars_per_cross) <= 40


def test_all_regimes_occur_and_persist(full: SimMarket) -> None:
    shares = Counter(full.regime(s) for s in full.listed())
    assert set(shares) == {"trend", "range", "high_vol"}
    assert min(shares.values()) > 0.05 * len(full.listed())
    market = SimMarket(quiet(symbols=300, history_bars=5, step_ms=1_000))
    before = [market.regime(s) for s in market.listed()]
    for _ in range(120):
        market.step()
    kept = sum(a == market.regime(s) for a, s in zip(before, market.listed(), strict=False))
    assert 0.9 * len(before) < kept < len(before)
