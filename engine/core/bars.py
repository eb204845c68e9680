"""OHLCV bars from trades, on event time.

A bar is emitted only once an event at or after its end proves no more trades can belong to it, so
strategies never see a half-finished candle and replays close bars exactly where live did. Any
market event advances event time (tickers and books arrive several times a second), so a bar
closes promptly even when its successor minute has no trades yet. Minutes without trades are not
emitted: a flat bar with zero volume is a fiction that would distort ATR and volume features.
"""

from __future__ import annotations

from engine.messages import BarClosed, TradesReceived


class BarAggregator:
    """Builds one symbol's bars of ``interval_ms``, aligned to multiples of the interval.

    Event time only moves forward: the bar holding the newest event time seen is the current
    one, and a trade older than it is late, since its bar has been emitted or skipped. Late trades
    are dropped and counted rather than used to rewrite history the strategy has already acted
    on. Ordering and staleness of the venue's timestamps are the Feed's concern; one far-future
    timestamp here would make every later trade late.
    """

    __slots__ = (
        "_close",
        "_floor",
        "_high",
        "_low",
        "_open",
        "_open_ts",
        "_volume",
        "interval_ms",
        "late_trades",
        "symbol",
    )

    def __init__(self, symbol: str, interval_ms: int) -> None:
        if interval_ms <= 0:
            raise ValueError(f"interval_ms must be positive, got {interval_ms}")
        self.symbol = symbol
        self.interval_ms = interval_ms
        self.late_trades = 0
        self._floor: int | None = None
        self._open_ts: int | None = None
        self._open = self._high = self._low = self._close = self._volume = 0.0

    def seed(self, last_bar: BarClosed) -> None:
        """Continue live aggregation after a backfilled ``last_bar``.

        Trades inside or before that bar (``ts < last_bar.ts``) are already counted in the
        backfill, so they are ignored (and counted as late); a partial bar that started inside the
        backfill is dropped for the same reason. A trade at exactly ``last_bar.ts`` opens the next
        bar, which the backfill does not hold.
        """
        if last_bar.interval_ms != self.interval_ms:
            raise ValueError(f"seed bar interval {last_bar.interval_ms} ms != aggregator {self.interval_ms} ms")
        end = last_bar.ts
        if self._floor is None or end > self._floor:
            self._floor = end
        if self._open_ts is not None and self._open_ts < end:
            self._open_ts = None

    def on_time(self, ts: int, recv_ns: int = 0) -> list[BarClosed]:
        """Advance event time from a non-trade event (ticker, book); the bar it closes, if any."""
        return self._advance(ts, recv_ns)

    def on_trade(self, t: TradesReceived) -> list[BarClosed]:
        """Add one trade or a merged run of trades; the bar its timestamp closes, if any."""
        ts = t.ts
        closed = self._advance(ts, t.recv_ns)
        if self._floor is not None and ts < self._floor:
            self.late_trades += 1
            return closed
        if self._open_ts is None:
            self._open_ts = ts - ts % self.interval_ms
            self._open = t.open
            self._high = t.high
            self._low = t.low
            self._close = t.close
            self._volume = t.volume
            return closed
        self._high = max(self._high, t.high)
        self._low = min(self._low, t.low)
        self._close = t.close
        self._volume += t.volume
        return closed

    def _advance(self, ts: int, recv_ns: int) -> list[BarClosed]:
        closed: list[BarClosed] = []
        open_ts = self._open_ts
        if open_ts is not None and ts >= open_ts + self.interval_ms:
            closed.append(
                BarClosed(
                    symbol=self.symbol,
                    interval_ms=self.interval_ms,
                    open_ts=open_ts,
                    open=self._open,
                    high=self._high,
                    low=self._low,
                    close=self._close,
                    volume=self._volume,
                    recv_ns=recv_ns,
                )
            )
            self._open_ts = None
        start = ts - ts % self.interval_ms
        if self._floor is None or start > self._floor:
            self._floor = start
        return closed
