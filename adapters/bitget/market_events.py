"""Public pushes -> the engine's market events: tickers, books, trades and closed candles.

Bitget's candle channel has no "closed" flag: it pushes the forming candle again and again, and a
candle is known to be closed only when a row with a later open time arrives. ``CandleCloser``
turns that into exactly one ``BarClosed`` per candle, in order, never the forming one.
"""

from __future__ import annotations

from adapters.bitget import constants as c
from adapters.bitget.parsing import ParseError, Push, book, candles, ticker, trades
from engine.messages import BarClosed, MarketEvent

CANDLE_PREFIX = "candle"
_INTERVAL_BY_CHANNEL = {f"{CANDLE_PREFIX}{g}": ms for ms, g in c.GRANULARITY.items()}


class CandleCloser:
    """The newest forming candle per (symbol, channel); a later open time closes it."""

    def __init__(self) -> None:
        self._forming: dict[tuple[str, str], BarClosed] = {}

    def on_push(self, push: Push) -> list[BarClosed]:
        """Bars this push closes, oldest first.

        The first push of a channel only sets the forming candle (its older rows are history the
        engine backfills over REST); after that every row with a later open time closes the one
        before it, and a row with the same open time updates the forming candle.
        """
        interval = _INTERVAL_BY_CHANNEL.get(push.channel)
        if interval is None:
            raise ParseError(f"not a candle channel: {push.channel}")
        rows = candles(push.data, push.symbol, interval)
        key = (push.symbol, push.channel)
        forming = self._forming.get(key)
        if not rows:
            return []
        if forming is None:
            self._forming[key] = rows[-1]
            return []
        closed = []
        for row in rows:
            if row.open_ts > forming.open_ts:
                closed.append(forming)
                forming = row
            elif row.open_ts == forming.open_ts:
                forming = row
        self._forming[key] = forming
        return closed


def events_of(push: Push, closer: CandleCloser, recv_ns: int = 0) -> list[MarketEvent]:
    """The engine's events for one public push; an unknown channel gives none."""
    channel = push.channel
    if channel == "ticker":
        return [ticker(item, recv_ns) for item in push.data]
    if channel.startswith("books"):
        return [book(item, push.symbol, recv_ns) for item in push.data]
    if channel == "trade":
        return list(trades(push.data, push.symbol, recv_ns))
    if channel.startswith(CANDLE_PREFIX):
        return list(closer.on_push(push))
    return []
