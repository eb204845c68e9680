"""Which messages a lagging actor may conflate, and how.

Rules (the invariant the rest of the engine relies on):
- the newest ticker, book and non-closing features update of a symbol replace an older pending one;
- trades aggregate into one pending ``TradesReceived`` per minute bucket, so a merged trade never
  spans two bars and bars built from merged trades equal bars built from the single trades;
- everything else (bar closes above all, commands, replies) is never conflated or dropped.

Conflation only ever happens to messages still waiting in an inbox, so a pipeline that keeps up
sees every event; one that lags sees fewer, newer events and its inbox stays bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from engine.messages import BookUpdated, FeaturesUpdated, TickerUpdated, TradesReceived

_MINUTE_MS = 60_000


def merge_trades(older: TradesReceived, newer: TradesReceived) -> TradesReceived:
    """One trade print standing for both: first open, extremes, last close, summed volume."""
    return TradesReceived(
        symbol=newer.symbol,
        ts=newer.ts,
        open=older.open,
        high=max(older.high, newer.high),
        low=min(older.low, newer.low),
        close=newer.close,
        volume=older.volume + newer.volume,
        count=older.count + newer.count,
        recv_ns=min((t for t in (older.recv_ns, newer.recv_ns) if t), default=0),
    )


def _newest(_older: Any, newer: Any) -> Any:
    return newer


def _features_key(message: FeaturesUpdated) -> Hashable | None:
    return None if message.bar_closed else FeaturesUpdated


_KEYS: dict[type, Callable[[Any], Hashable | None]] = {
    TickerUpdated: lambda _m: TickerUpdated,
    BookUpdated: lambda _m: BookUpdated,
    TradesReceived: lambda m: (TradesReceived, m.ts // _MINUTE_MS),
    FeaturesUpdated: _features_key,
}

_MERGES: dict[type, Callable[[Any, Any], Any]] = {
    TickerUpdated: _newest,
    BookUpdated: _newest,
    TradesReceived: merge_trades,
    FeaturesUpdated: _newest,
}


def conflation_key(message: Any) -> Hashable | None:
    """The slot a message shares with older messages of its kind, or None if it must stay whole."""
    keyer = _KEYS.get(type(message))
    return None if keyer is None else keyer(message)


def conflate(older: Any, newer: Any) -> Any:
    """Combine two messages that share a conflation key into the one that is kept."""
    return _MERGES[type(newer)](older, newer)
