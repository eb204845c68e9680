"""Simulated perpetual-futures market: a pure, deterministic generator of Bitget-like public data.

It is the market behind ``--venue sim``: a feed or server turns what ``step`` returns into a stream
and serves ``candles``; a backtest can drive it directly. It never reads a clock or does I/O, so
pacing (``speed``) belongs to the caller and the same ``SimConfig`` always gives the same output.

Invariants a caller may rely on:

- ``step`` covers the event-time window ``[now_ms, now_ms + step_ms)``, returns its events sorted by
  ``ts``, then advances ``now_ms`` by ``step_ms``. ``step_ms`` divides a minute, so a step never
  straddles a 1m bar.
- All events of a step see the market state at the end of the step (``step_ms`` is the resolution).
  A trade prints at that state's best bid or ask; a ticker's ``last`` is the newest trade at or
  before its ``ts``.
- ``candles`` holds closed 1m bars, contiguous and oldest first. History from before construction
  comes from the mid path; a live bar is the OHLCV of the trades emitted in its minute, or the mid
  path (volume 0) if there were none, so bars are never missing.
- Prices are multiples of the instrument's tick, sizes of its lot. Listings (``names``) are fixed
  for the life of the market, so the universe filter is stable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from adapters.sim.names import make_listings
from engine import ports
from engine.messages import (
    BarClosed,
    BookUpdated,
    MarketEvent,
    TickerUpdated,
    TradesReceived,
)
from engine.ports import Instrument

__all__ = ["Instrument", "SimConfig", "SimMarket", "UnknownSymbolError"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

MINUTE_MS = 60_000
REGIMES = ("trend", "range", "high_vol")
TREND, RANGE, HIGH_VOL = 0, 1, 2
VOL_MULT = np.array([1.0, 1.0, 3.0])
SPREAD_MULT = np.array([1.0, 1.0, 2.5])
MEAN_MINUTES = np.array([25.0, 35.0, 12.0])  # mean regime durations: persistent, tens of minutes
NEXT_REGIME = np.array([[RANGE, HIGH_VOL], [TREND, HIGH_VOL], [RANGE, TREND]])
P_FIRST_NEXT = np.array([0.65, 0.7, 0.6])  # chance of moving to NEXT_REGIME[r, 0] on leaving r
START_REGIME_P = (0.35, 0.5, 0.15)
MARKET_SIGMA = 0.0005  # per-minute log-return std of the common factor
RANGE_KAPPA = math.log(2) / 4  # per minute: a 4-minute half-life back to the range's anchor
HISTORY_SUBSTEPS = 12  # mid-path samples per history bar: enough for realistic highs and lows
RETAINED_BARS = 1_000  # the most a venue serves per candles request
COMPACT_BARS = 240
TRADE_SIZE_SIGMA = 1.0
LEVELS = np.arange(5, dtype=np.float64)
DEPTH_PROFILE = np.tile(1.0 + 0.3 * LEVELS, 2)  # deeper levels hold more, bids then asks


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Settings of the generator ([sim] in config/default.toml, minus ``speed``).

    symbols (500): main symbols, all at or above the minimum volume. seed (7). step_ms (100):
    event-time resolution, must divide 60_000. ticker_interval_ms (200): mean ticker gap, jittered
    uniformly over [0.5x, 1.5x]. book_interval_ms (150): books5 snapshot period. trade_rate_per_s
    (2.0): mean trades per main symbol per second, spread by volume. history_bars (300): 1m bars
    available at construction. start_ts_ms (1_767_225_600_000): event time at construction.
    min_volume_24h_usdt (50_000_000.0): the ``universe`` threshold.
    """

    symbols: int = 500
    seed: int = 7
    step_ms: int = 100
    ticker_interval_ms: int = 200
    book_interval_ms: int = 150
    trade_rate_per_s: float = 2.0
    history_bars: int = 300
    start_ts_ms: int = 1_767_225_600_000
    min_volume_24h_usdt: float = 50_000_000.0

    def __post_init__(self) -> None:
        rules = (
            (self.symbols >= 1, "symbols must be >= 1"),
            (self.step_ms >= 1 and MINUTE_MS % self.step_ms == 0, "step_ms must divide 60000"),
            (self.ticker_interval_ms >= 2, "ticker_interval_ms must be >= 2"),
            (self.book_interval_ms >= 1, "book_interval_ms must be >= 1"),
            (self.trade_rate_per_s >= 0, "trade_rate_per_s must be >= 0"),
            (self.history_bars >= 0, "history_bars must be >= 0"),
            (self.start_ts_ms >= 0, "start_ts_ms must be >= 0"),
            (self.min_volume_24h_usdt > 0, "min_volume_24h_usdt must be > 0"),
        )
        broken = [rule for ok, rule in rules if not ok]
        if broken:
            raise ValueError(f"invalid [sim] settings: {'; '.join(broken)} (got {self})")


class UnknownSymbolError(ports.UnknownSymbolError, KeyError):
    """An unlisted symbol: the engine's venue error, and a KeyError for mapping-style callers.

    The message is the port's ("X is not listed on this venue"), not KeyError's quoted repr.
    """


class SimMarket:
    """All listed symbols' prices, regimes, books, trades and candles, advanced together.

    Per-symbol state lives in numpy arrays so a step costs a fixed number of vectorised operations
    whatever the number of symbols; Python only builds the event objects.
    """

    def __init__(self, cfg: SimConfig | None = None) -> None:
        self.cfg = cfg = cfg or SimConfig()
        # Separate streams, so e.g. changing event intervals leaves the price path unchanged.
        params_seq, path_seq, event_seq = np.random.SeedSequence(cfg.seed).spawn(3)
        self._path_rng = np.random.default_rng(path_seq)
        self._event_rng = np.random.default_rng(event_seq)
        params_rng = np.random.default_rng(params_seq)
        self._listings = listings = make_listings(cfg.symbols, cfg.min_volume_24h_usdt, params_rng)
        self._symbols = listings.symbols
        self._index = {symbol: i for i, symbol in enumerate(self._symbols)}
        self._m = len(self._symbols)
        self._idx = np.arange(self._m)
        self._tscale, self._lscale = listings.tick_scale, listings.lot_scale
        self._volume_list = [i.volume_24h_usdt for i in listings.instruments]
        self._funding_list = [i.funding_rate for i in listings.instruments]
        self._init_dynamics(params_rng)
        self._now = cfg.start_ts_ms
        self._bars = np.empty((self._m, max(cfg.history_bars, RETAINED_BARS) + COMPACT_BARS, 5))
        self._n_bars = 0
        open_ts = cfg.start_ts_ms - cfg.start_ts_ms % MINUTE_MS
        self._first_open = open_ts - cfg.history_bars * MINUTE_MS
        self._simulate_history()
        self._quote()
        self._last = self._mid.copy()
        self._reset_bar()
        phase = self._event_rng.integers
        self._next_ticker = cfg.start_ts_ms + phase(0, cfg.ticker_interval_ms, self._m)
        self._next_book = cfg.start_ts_ms + phase(0, cfg.book_interval_ms, self._m)

    # --- public API -------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        """Event time: the start of the next step's window."""
        return self._now

    def listed(self) -> list[str]:
        """Every symbol that has market data: the main universe, then the thin extra listings."""
        return list(self._symbols)

    def universe(self) -> list[str]:
        """Listed symbols at or above the minimum 24h volume, by rank: what ``--symbols all`` takes."""
        keep = (self._listings.volume >= self.cfg.min_volume_24h_usdt).tolist()
        return [symbol for symbol, ok in zip(self._symbols, keep, strict=True) if ok]

    def instrument(self, symbol: str) -> Instrument:
        """Contract spec of a listed symbol; raises UnknownSymbolError otherwise."""
        return self._listings.instruments[self._i(symbol)]

    def regime(self, symbol: str) -> str:
        """Current regime ("trend", "range" or "high_vol"): ground truth for testing detectors."""
        return REGIMES[int(self._regime[self._i(symbol)])]

    def candles(self, symbol: str, limit: int) -> list[BarClosed]:
        """The last ``limit`` closed 1m bars of a symbol (at most ``RETAINED_BARS``), oldest first."""
        i = self._i(symbol)
        first = self._n_bars - max(0, min(limit, self._n_bars))
        return [
            BarClosed(symbol, MINUTE_MS, self._first_open + (first + j) * MINUTE_MS, o, h, low, c, v)
            for j, (o, h, low, c, v) in enumerate(self._bars[i, first : self._n_bars].tolist())
        ]

    def history(self, symbol: str) -> tuple[I64, F64]:
        """Every 1m bar still held for ``symbol``: open times and an (n, 5) array of OHLCV, oldest
        first. Unlike ``candles`` it is not capped at what a venue serves per request: a backtest on
        the simulated market takes the whole history it was built with (``history_bars``)."""
        i = self._i(symbol)
        n = self._n_bars
        return self._first_open + np.arange(n, dtype=np.int64) * MINUTE_MS, self._bars[i, :n].copy()

    def step(self, recv_ns: int = 0) -> list[MarketEvent]:
        """Advance event time by ``step_ms``; return that window's events in ``ts`` order.

        ``recv_ns`` is stamped on every event: the caller's arrival time, as this core reads no clock.
        """
        t0 = self._now
        t1 = t0 + self.cfg.step_ms
        self._advance(self.cfg.step_ms)
        self._quote()
        np.maximum(self._mid_bar[:, 1], self._mid, out=self._mid_bar[:, 1])
        np.minimum(self._mid_bar[:, 2], self._mid, out=self._mid_bar[:, 2])
        self._mid_bar[:, 3] = self._mid
        events = self._events(t0, t1, recv_ns)
        self._now = t1
        if t1 % MINUTE_MS == 0:
            bar = self._trade_bar
            ohlc = np.where(bar[:, 5:] > 0, bar[:, :4], self._mid_bar)
            self._append_bar(np.column_stack([ohlc, np.rint(bar[:, 4] * self._lscale) / self._lscale]))
            self._reset_bar()
        return events

    # --- construction -----------------------------------------------------------------------

    def _i(self, symbol: str) -> int:
        try:
            return self._index[symbol]
        except KeyError:
            raise UnknownSymbolError(symbol) from None

    def _init_dynamics(self, rng: np.random.Generator) -> None:
        """Per-symbol process, spread, depth and trade-flow parameters (scaled by volume rank) and
        the starting state: small coins are noisier, thinner, wider and trade less often."""
        m, n_main, volume = self._m, self.cfg.symbols, self._listings.volume
        self._beta = rng.uniform(0.6, 1.4, m)
        rank = np.minimum(self._idx / max(n_main - 1, 1), 1.0)
        self._sig_e = 0.0004 + 0.0003 * rank + rng.uniform(0.0, 0.0001, m)
        self._sig_tot = np.hypot(self._beta * MARKET_SIGMA, self._sig_e)
        self._spread_bps = np.clip(0.8 * (1e9 / volume) ** 0.4, 0.2, 15.0)
        weight = np.sqrt(volume)
        self._lam = self.cfg.trade_rate_per_s * weight / weight[:n_main].mean()
        # Mean trade size such that the trades add up to the listed 24h volume.
        self._trade_notional = np.divide(volume / 86_400.0, self._lam, out=np.zeros(m), where=self._lam > 0)
        self._level_notional = volume * 3e-5
        self._x = np.log(self._listings.price)
        self._regime = np.zeros(m, dtype=np.int64)
        self._vol_beta, self._vol_idio = np.zeros(m), np.zeros(m)
        self._exit_rate, self._range_k = np.zeros(m), np.zeros(m)
        self._drift, self._pull = np.zeros(m), np.zeros(m)
        start = self._path_rng.choice(3, size=m, p=START_REGIME_P)
        self._set_regime(self._idx, start, self._path_rng.random(m))

    def _simulate_history(self) -> None:
        """Walk the process through the history minute by minute, recording the mid path.

        Sub-steps give realistic highs and lows; regimes switch only at minute ends here, which
        does not matter for regimes lasting tens of minutes and keeps construction fast.
        """
        sub, rng = HISTORY_SUBSTEPS, self._path_rng
        steps = np.arange(1.0, sub + 1)[:, None]
        for _ in range(self.cfg.history_bars):
            incr = self._increments(MINUTE_MS // sub, rng.standard_normal((sub, self._m + 1)))
            # x_k = keep * x_(k-1) + incr_k for all k at once: x_k = keep^k (x_0 + sum incr_j / keep^j)
            power = (1.0 - self._range_k / sub) ** steps
            path = power * (self._x + np.cumsum(incr / power, axis=0))
            x_open, self._x = self._x, path[-1].copy()
            x_high, x_low = np.maximum(x_open, path.max(axis=0)), np.minimum(x_open, path.min(axis=0))
            self._regime_exits(MINUTE_MS, rng.random(self._m))
            o, h, low, c = (self._round_price(np.exp(v)) for v in (x_open, x_high, x_low, self._x))
            notional = rng.poisson(self._lam * 60.0) * self._trade_notional
            volume = self._round_qty(notional * rng.lognormal(-0.045, 0.3, self._m) / c)
            self._append_bar(np.stack([o, h, low, c, volume], axis=1))

    # --- price process ----------------------------------------------------------------------

    def _increments(self, dt_ms: int, z: F64) -> F64:
        """Log-mid increments for rows of normals: beta x market + idiosyncratic + drift/anchor pull.

        ``z[:, 0]`` drives the common factor, ``z[:, 1:]`` each symbol. The range's mean reversion
        is completed by the caller scaling x by ``1 - range_k * dt`` (an Euler OU step).
        """
        dtm = dt_ms / MINUTE_MS
        noise = math.sqrt(dtm) * z
        incr: F64 = noise[:, :1] * self._vol_beta + noise[:, 1:] * self._vol_idio + self._pull * dtm
        return incr

    def _advance(self, dt_ms: int) -> None:
        """One live step of the log-mid process, then regime exits."""
        incr = self._increments(dt_ms, self._path_rng.standard_normal((1, self._m + 1)))[0]
        self._x *= 1.0 - self._range_k * (dt_ms / MINUTE_MS)
        self._x += incr
        self._regime_exits(dt_ms, self._path_rng.random(self._m))

    def _regime_exits(self, dt_ms: int, u: F64) -> None:
        """Markov chain: leave with probability dt / mean duration, to one of the other two."""
        leaving = np.flatnonzero(u < self._exit_rate * dt_ms)
        if leaving.size:
            draws = self._path_rng.random((2, leaving.size))
            old = self._regime[leaving]
            new = np.where(draws[0] < P_FIRST_NEXT[old], NEXT_REGIME[old, 0], NEXT_REGIME[old, 1])
            self._set_regime(leaving, new, draws[1])

    def _set_regime(self, idx: I64, regime: I64, u: F64) -> None:
        """Enter a regime: a trend draws a drift of random sign, a range anchors at the current mid."""
        vol_mult = VOL_MULT[regime]
        self._regime[idx] = regime
        self._vol_beta[idx] = vol_mult * self._beta[idx] * MARKET_SIGMA
        self._vol_idio[idx] = vol_mult * self._sig_e[idx]
        self._exit_rate[idx] = 1.0 / (MEAN_MINUTES[regime] * MINUTE_MS)
        self._range_k[idx] = np.where(regime == RANGE, RANGE_KAPPA, 0.0)
        signed = 2.0 * u - 1.0
        strength = np.sign(signed) * (0.3 + 0.5 * np.abs(signed)) * self._sig_tot[idx]
        self._drift[idx] = np.where(regime == TREND, strength, 0.0)
        self._pull[idx] = self._drift[idx] + self._range_k[idx] * self._x[idx]

    def _round_price(self, price: F64) -> F64:
        """Round to the tick: ticks / 10**d is the float nearest the decimal, with no 0.30000000004."""
        rounded: F64 = np.rint(price * self._tscale) / self._tscale
        return rounded

    def _round_qty(self, qty: F64, idx: I64 | None = None) -> F64:
        """Round to the lot, at least one lot: a size the venue would accept."""
        scale = self._lscale if idx is None else self._lscale[idx]
        rounded: F64 = np.maximum(np.rint(qty * scale), 1.0) / scale
        return rounded

    def _quote(self) -> None:
        """Best bid/ask in whole ticks around the mid, the spread widened in high volatility."""
        mid = np.exp(self._x)
        half = mid * self._spread_bps * SPREAD_MULT[self._regime] * 0.5e-4
        self._bid_t = np.floor((mid - half) * self._tscale)
        self._ask_t = np.maximum(self._bid_t + 1.0, np.ceil((mid + half) * self._tscale))
        self._gap_t = np.maximum(1.0, np.rint((self._ask_t - self._bid_t) * 0.5))
        self._bid = self._bid_t / self._tscale
        self._ask = self._ask_t / self._tscale
        self._mid = self._round_price(mid)

    # --- events -----------------------------------------------------------------------------

    def _due(self, nxt: I64, t1: int, lo: int, hi: int) -> tuple[I64, I64]:
        """Symbols whose next push falls before ``t1`` (several times if the period is short)."""
        syms: list[I64] = [np.empty(0, dtype=np.int64)]
        stamps: list[I64] = [np.empty(0, dtype=np.int64)]
        while (idx := np.flatnonzero(nxt < t1)).size:
            syms.append(idx)
            stamps.append(nxt[idx])
            nxt[idx] += lo if lo == hi else self._event_rng.integers(lo, hi + 1, idx.size)
        return np.concatenate(syms), np.concatenate(stamps)

    def _events(self, t0: int, t1: int, recv_ns: int) -> list[MarketEvent]:
        """Trades (Poisson), tickers (jittered) and books (periodic) of ``[t0, t1)``, merged by ts."""
        cfg, rng, names = self.cfg, self._event_rng, self._symbols
        t_sym = np.repeat(self._idx, rng.poisson(self._lam * (cfg.step_ms / 1000.0)))
        t_ts = t0 + rng.integers(0, cfg.step_ms, t_sym.size)
        order = np.lexsort((t_ts, t_sym))
        t_sym, t_ts = t_sym[order], t_ts[order]
        # Trend regimes lean the order flow toward the drift, as real trends are driven by it.
        buy = rng.random(t_sym.size) < 0.5 + 0.1 * np.sign(self._drift[t_sym])
        t_px = np.where(buy, self._ask[t_sym], self._bid[t_sym])
        size_noise = rng.lognormal(-0.5 * TRADE_SIZE_SIGMA**2, TRADE_SIZE_SIGMA, t_sym.size)
        t_qty = self._round_qty(self._trade_notional[t_sym] * size_noise / t_px, t_sym)
        interval, half = cfg.ticker_interval_ms, cfg.ticker_interval_ms // 2
        k_sym, k_ts = self._due(self._next_ticker, t1, interval - half, interval + half)
        b_sym, b_ts = self._due(self._next_book, t1, cfg.book_interval_ms, cfg.book_interval_ms)
        k_last = self._ticker_last(t_sym, t_ts, t_px, k_sym, k_ts)
        self._add_trades_to_bar(t_sym, t_px, t_qty)

        trades: list[MarketEvent] = [
            TradesReceived(names[s], t, p, p, p, p, q, 1, recv_ns)
            for s, t, p, q in zip(t_sym.tolist(), t_ts.tolist(), t_px.tolist(), t_qty.tolist(), strict=True)
        ]
        vol, fund = self._volume_list, self._funding_list
        tickers: list[MarketEvent] = [
            TickerUpdated(names[s], t, last, b, a, vol[s], fund[s], recv_ns)
            for s, t, last, b, a in zip(
                k_sym.tolist(),
                k_ts.tolist(),
                k_last.tolist(),
                self._bid[k_sym].tolist(),
                self._ask[k_sym].tolist(),
                strict=True,
            )
        ]
        everything = trades + tickers + self._books(b_sym, b_ts, recv_ns)
        kinds = np.repeat([0, 1, 2], [t_sym.size, k_sym.size, b_sym.size])
        syms, stamps = np.concatenate([t_sym, k_sym, b_sym]), np.concatenate([t_ts, k_ts, b_ts])
        return [everything[i] for i in np.lexsort((syms, kinds, stamps)).tolist()]

    def _ticker_last(self, t_sym: I64, t_ts: I64, t_px: F64, k_sym: I64, k_ts: I64) -> F64:
        """Newest trade price at or before each ticker's ts, else the newest before this step.

        Sorts trades and tickers by (symbol, ts, trades first) and forward-fills trade positions.
        """
        n_trades = t_sym.size
        sym = np.concatenate([t_sym, k_sym])
        is_ticker = np.arange(sym.size) >= n_trades
        order = np.lexsort((is_ticker, np.concatenate([t_ts, k_ts]), sym))
        sym, is_ticker = sym[order], is_ticker[order]
        pos = np.maximum.accumulate(np.where(is_ticker, -1, np.arange(sym.size)))
        src = np.maximum(pos, 0)
        own_trade = (pos >= 0) & (sym[src] == sym)
        px = np.concatenate([t_px, np.zeros(k_sym.size)])[order]
        last = np.where(own_trade, px[src], self._last[sym])
        result = np.empty(k_sym.size)
        result[order[is_ticker] - n_trades] = last[is_ticker]
        return result

    def _books(self, b_sym: I64, b_ts: I64, recv_ns: int) -> list[MarketEvent]:
        """books5 snapshots: levels one gap apart, sizes a lognormal share of the symbol's depth.

        Built from flat lists: nested ``tolist`` output would be hundreds of short-lived containers
        per step, which is what makes the garbage collector expensive here.
        """
        if not b_sym.size:
            return []
        gap = self._gap_t[b_sym, None] * LEVELS
        scale = self._tscale[b_sym, None]
        bids = (self._bid_t[b_sym, None] - gap) / scale
        prices = np.concatenate([bids, (self._ask_t[b_sym, None] + gap) / scale], axis=1)
        depth = self._level_notional[b_sym, None] * DEPTH_PROFILE
        noise = self._event_rng.lognormal(-0.125, 0.5, (b_sym.size, 10))
        sizes = self._round_qty(depth * noise / self._mid[b_sym, None], b_sym[:, None])
        levels = tuple(zip(prices.ravel().tolist(), sizes.ravel().tolist(), strict=True))  # tuple slices: no copy
        names = self._symbols
        return [
            BookUpdated(names[s], t, levels[j : j + 5], levels[j + 5 : j + 10], recv_ns)
            for j, s, t in zip(range(0, 10 * b_sym.size, 10), b_sym.tolist(), b_ts.tolist(), strict=True)
        ]

    # --- bars -------------------------------------------------------------------------------

    def _add_trades_to_bar(self, t_sym: I64, t_px: F64, t_qty: F64) -> None:
        """Fold a step's trades (grouped by symbol, time-ordered) into the forming bar."""
        if not t_sym.size:
            return
        starts = np.flatnonzero(np.diff(t_sym, prepend=-1))
        ends = np.append(starts[1:], t_sym.size) - 1
        s, bar = t_sym[starts], self._trade_bar
        bar[s, 0] = np.where(bar[s, 5] == 0, t_px[starts], bar[s, 0])
        bar[s, 1] = np.maximum(bar[s, 1], np.maximum.reduceat(t_px, starts))
        bar[s, 2] = np.minimum(bar[s, 2], np.minimum.reduceat(t_px, starts))
        bar[s, 3] = self._last[s] = t_px[ends]
        bar[s, 4] += np.add.reduceat(t_qty, starts)
        bar[s, 5] += ends - starts + 1

    def _reset_bar(self) -> None:
        """Start a minute: mid-path OHLC from the current mid; trade OHLCV and count empty."""
        self._mid_bar = np.repeat(self._mid[:, None], 4, axis=1)
        self._trade_bar = np.zeros((self._m, 6))
        self._trade_bar[:, 1] = -np.inf
        self._trade_bar[:, 2] = np.inf

    def _append_bar(self, bar: F64) -> None:
        """Store one bar per symbol; drop the oldest ``COMPACT_BARS`` when full (amortised cheap)."""
        if self._n_bars == self._bars.shape[1]:
            self._bars[:, :-COMPACT_BARS] = self._bars[:, COMPACT_BARS:].copy()
            self._n_bars -= COMPACT_BARS
            self._first_open += COMPACT_BARS * MINUTE_MS
        self._bars[:, self._n_bars] = bar
        self._n_bars += 1
