"""What the engine needs from a venue, whatever the venue: market data, and (live) orders.

``adapters/<venue>`` implements these; nothing outside ``adapters/`` knows a venue's wire format.
The sink is called on the adapter's own stream thread with a batch of parsed events, which is
how websocket clients deliver; the engine routes them from there without another thread hop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.messages import BarClosed, MarketEvent, SubmitOrder, VenueFill, VenuePosition


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
    def refresh(self) -> None:
        """Read the venue's listing again: new contracts, delistings, 24h volumes."""
        ...

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


class OrderRefused(Exception):
    """The venue does not have the order: it refused it, or it never arrived. Safe to reject."""


class VenueUnavailable(Exception):
    """The venue could not be asked (network, server error, rate limit): try again later."""


class OrderOutcomeUnknown(VenueUnavailable):
    """The order may or may not be on the venue (the venue could not be asked): keep watching it."""


class OrderVenue(Protocol):
    """A venue account that live mode sends orders to.

    Fills arrive on ``on_fill`` (a stream thread); a fill may arrive twice (a re-sync replays the
    gap), so receivers recognise fills by ``trade_id``. After a stream gap the venue replays the
    fills since the last one seen and then calls ``on_resync`` so positions can be compared.
    """

    def start(self, on_fill: Callable[[VenueFill], None], on_resync: Callable[[], None]) -> None: ...

    def stop(self) -> None: ...

    def prepare(self, symbols: Sequence[str], leverage: Callable[[str], int]) -> None:
        """Set the account up for ``symbols`` (margin mode, leverage) before trading them."""
        ...

    def place(self, order: SubmitOrder) -> str:
        """Send a market order once; the venue's order id. Raises ``OrderRefused`` or
        ``OrderOutcomeUnknown``."""
        ...

    def order_state(self, symbol: str, client_oid: str) -> str | None:
        """The order's state on the venue (``live``, ``partially_filled``, ``filled``,
        ``canceled``), or None if the venue has no such order. Raises ``OrderOutcomeUnknown``."""
        ...

    def fills_since(self, since_ms: int) -> list[VenueFill]:
        """Our fills since ``since_ms`` (venue time), oldest first. Raises ``VenueUnavailable``."""
        ...

    def positions(self) -> list[VenuePosition]:
        """The open positions. Raises ``VenueUnavailable``."""
        ...

    def now_ms(self) -> int:
        """The venue's clock. Raises ``VenueUnavailable``."""
        ...
