"""What the engine needs from a venue's market data, whatever the venue.

``adapters/<venue>`` implements these; nothing outside ``adapters/`` knows a venue's wire format.
The sink is called on the adapter's own stream thread with a batch of parsed events, which is
how websocket clients deliver; the engine routes them from there without another thread hop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.messages import BarClosed, MarketEvent


class UnknownSymbolError(LookupError):
    """The venue does not list this symbol."""

    def __init__(self, symbol: str) -> None:
        super().__init__(f"{symbol} is not listed on this venue")
        self.symbol = symbol

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class Instrument:
    """Contract facts that orders and sizing must respect."""

    symbol: str
    tick_size: float
    lot_size: float
    min_qty: float
    volume_24h_usdt: float
    funding_rate: float


EventSink = Callable[[Sequence[MarketEvent]], None]


class MarketSource(Protocol):
    def listed(self) -> list[str]:
        """Every symbol the venue lists, tradeable or not."""
        ...

    def universe(self, min_volume_24h_usdt: float) -> list[str]:
        """Listed symbols with at least this 24h volume: what ``--symbols all`` trades."""
        ...

    def instrument(self, symbol: str) -> Instrument:
        """Contract facts; raises ``UnknownSymbolError`` for an unlisted symbol."""
        ...

    def candles(self, symbol: str, limit: int, interval_ms: int) -> list[BarClosed]:
        """The newest ``limit`` closed candles of ``interval_ms``, oldest first (backfill)."""
        ...

    def start(self, sink: EventSink) -> None:
        """Start streaming subscribed symbols' events to ``sink``."""
        ...

    def stop(self) -> None: ...

    def subscribe(self, symbol: str) -> None: ...

    def unsubscribe(self, symbol: str) -> None: ...
