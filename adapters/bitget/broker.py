"""Bitget as an ``OrderVenue``: live orders over REST, our fills over the private WebSocket.

- ``place`` sends one market order under the engine's deterministic clientOid, at most once
  (``BitgetRest.place_order``): a refusal is ``OrderRefused``, an outcome nobody can learn is
  ``OrderOutcomeUnknown``, and the stream or the next re-sync tells what became of it.
- The private stream (login, then ``fill``, ``orders``, ``positions`` and ``account``) delivers
  each fill as it happens. After every reconnect the fills since the last one seen (less a
  minute of overlap) are read over REST and delivered again, then ``on_resync`` runs (positions
  are compared there), so a fill made during the gap is never missed; duplicates are the
  receiver's to drop (by trade id).
- ``verify_key`` refuses a key that can withdraw: a trading engine never needs that right, and a
  leaked key that has it can empty the account.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import requests
from loguru import logger

from adapters.bitget import constants as c
from adapters.bitget.auth import Credentials
from adapters.bitget.errors import BitgetError, OrderNotFound
from adapters.bitget.parsing import ParseError, Push, venue_fill, venue_position
from adapters.bitget.rest import BitgetRest, OrderNotPlaced, order_body
from adapters.bitget.stream import Channel, Connection
from engine.messages import SubmitOrder, VenueFill, VenuePosition
from engine.ports import Instrument, OrderOutcomeUnknown, OrderRefused, VenueUnavailable

PRIVATE_CHANNELS = tuple(Channel(name, "default") for name in ("fill", "orders", "positions", "account"))
RESYNC_OVERLAP_MS = 60_000
_UNREACHABLE = (requests.ConnectionError, requests.Timeout)


T = TypeVar("T")


def _read(call: Callable[[], T]) -> T:
    """A REST read (already retried by the client); failing, it is ``VenueUnavailable``."""
    try:
        return call()
    except (BitgetError, *_UNREACHABLE) as exc:
        raise VenueUnavailable(str(exc)) from exc


class KeyNotAllowed(RuntimeError):
    """The API key must not be used for live trading; the message says why."""


def withdraw_rights(authorities: Any) -> list[str]:
    """The rights in a key's ``authorities`` list that allow withdrawals.

    Bitget lists a key's rights by name; which names mean "withdraw" is not in the v2 docs we
    have, so any right whose name mentions it counts, and a missing list counts as unsafe.
    """
    if not isinstance(authorities, list):
        raise KeyNotAllowed(f"the venue did not list the key's rights (authorities: {authorities!r})")
    return [str(a) for a in authorities if "withdraw" in str(a).lower()]


class BitgetBroker:
    """One Bitget account for live trading."""

    def __init__(
        self,
        rest: BitgetRest,
        ws_private_url: str,
        credentials: Credentials,
        instrument: Callable[[str], Instrument],
        *,
        margin_mode: str = "crossed",
        connection: Callable[..., Connection] = Connection,
        silence_s: float = 60.0,
    ) -> None:
        self.silence_s = silence_s
        self.rest = rest
        self.ws_private_url = ws_private_url
        self.credentials = credentials
        self.instrument = instrument
        self.margin_mode = margin_mode
        self.hedge = False
        self._connection = connection
        self._conn: Connection | None = None
        self._on_fill: Callable[[VenueFill], None] | None = None
        self._on_resync: Callable[[], None] | None = None
        self._last_fill_ms = 0
        self._leverage: Callable[[str], int] = lambda _symbol: 1
        self._ready: set[str] = set()
        self._lock = threading.Lock()
        self.parse_errors = 0

    def verify_key(self) -> None:
        """Refuse a key that can withdraw, or whose rights cannot be read."""
        info = self.rest.request("GET", c.ACCOUNT_INFO, signed=True) or {}
        rights = withdraw_rights(info.get("authorities"))
        if rights:
            raise KeyNotAllowed(
                f"the API key can withdraw ({', '.join(rights)}): create a key with trade and read rights only"
            )

    def prepare(self, symbols: Sequence[str], leverage: Callable[[str], int]) -> None:
        """Learn the account's position mode. Margin mode and leverage are set on a symbol's first
        order (two calls at 5 per second would hold a 500-symbol start for minutes)."""
        self._leverage = leverage
        account = self.rest.request("GET", c.ACCOUNTS, {"productType": c.PRODUCT_TYPE}, signed=True) or []
        modes = {str(a.get("posMode", "")) for a in account if isinstance(a, dict)}
        self.hedge = "hedge_mode" in modes
        logger.info(
            "bitget account ready: {} position mode, {} margin; {} symbols may trade",
            "hedge" if self.hedge else "one-way", self.margin_mode, len(symbols),
        )  # fmt: skip

    def _set_up(self, symbol: str) -> None:
        """Margin mode and leverage of ``symbol``, once per run, before its first order."""
        if symbol in self._ready:
            return
        try:
            self.rest.set_margin_mode(symbol, self.margin_mode)
        except BitgetError as exc:  # refused with a position open, for one: trading goes on as it is set
            logger.warning("{} margin mode left as it is ({})", symbol, exc)
        leverage = self._leverage(symbol)
        self.rest.set_leverage(symbol, leverage)
        self._ready.add(symbol)
        logger.info("{} set up for trading: {} margin, leverage {}x", symbol, self.margin_mode, leverage)

    def start(self, on_fill: Callable[[VenueFill], None], on_resync: Callable[[], None]) -> None:
        self._on_fill, self._on_resync = on_fill, on_resync
        self._last_fill_ms = self.rest.server_time()
        self._conn = self._connection(
            self.ws_private_url, list(PRIVATE_CHANNELS), self._deliver,
            credentials=self.credentials, on_reconnect=self.resync, name="bitget-private", silence_s=self.silence_s,
        )  # fmt: skip
        self._conn.start()

    def stop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.stop()

    def place(self, order: SubmitOrder) -> str:
        lot = self.instrument(order.symbol).lot_size
        try:
            self._set_up(order.symbol)
        except (BitgetError, *_UNREACHABLE) as exc:
            raise OrderRefused(f"{order.symbol} could not be set up (margin mode, leverage): {exc}") from exc
        try:
            body = order_body(
                order.symbol, order.side, order.qty, lot, order.client_oid,
                reduce_only=order.reduce_only, hedge=self.hedge, margin_mode=self.margin_mode,
            )  # fmt: skip
            placed = self.rest.place_order(body)
        except (ValueError, OrderNotPlaced) as exc:
            raise OrderRefused(str(exc)) from exc
        except BitgetError as exc:
            if exc.retryable:
                raise OrderOutcomeUnknown(str(exc)) from exc
            raise OrderRefused(str(exc)) from exc
        except _UNREACHABLE as exc:
            raise OrderOutcomeUnknown(f"the venue could not be reached to learn the outcome: {exc}") from exc
        return str(placed.get("orderId") or "")

    def order_state(self, symbol: str, client_oid: str) -> str | None:
        try:
            detail = self.rest.order_detail(symbol, client_oid)
        except OrderNotFound:
            return None
        except (BitgetError, *_UNREACHABLE) as exc:
            raise OrderOutcomeUnknown(str(exc)) from exc
        return str(detail.get("state") or detail.get("status") or "")

    def fills_since(self, since_ms: int) -> list[VenueFill]:
        fills = []
        for item in _read(lambda: self.rest.fills(since_ms)):
            try:
                fills.append(venue_fill(item))
            except ParseError as exc:
                self.parse_errors += 1
                logger.error("bitget fill skipped, unreadable: {}", exc)
        return fills

    def positions(self) -> list[VenuePosition]:
        items = _read(self.rest.positions)
        try:
            return [venue_position(item) for item in items if float(item.get("total") or 0) > 0]
        except (ParseError, TypeError, ValueError) as exc:
            raise VenueUnavailable(f"unreadable positions: {exc}") from exc

    def now_ms(self) -> int:
        return _read(self.rest.server_time)

    def resync(self) -> None:
        """Deliver every fill since the last one seen (a minute of overlap), then ``on_resync``.

        Runs on the stream's thread right after it resubscribed; if REST fails too, the stream is
        treated as lost so the next reconnect tries the whole re-sync again."""
        with self._lock:
            since = self._last_fill_ms - RESYNC_OVERLAP_MS
        try:
            fills = self.fills_since(since)
        except VenueUnavailable as exc:
            raise ConnectionError(f"re-sync over REST failed: {exc}") from exc
        logger.info("bitget private stream re-synced: {} fills since {} read over REST", len(fills), since)
        for fill in fills:
            self._emit(fill)
        if self._on_resync is not None:
            self._on_resync()

    def _deliver(self, push: Push, _recv_ns: int) -> None:
        if push.channel != "fill":
            return
        for item in push.data:
            try:
                fill = venue_fill(item)
            except ParseError as exc:
                self.parse_errors += 1
                logger.error("bitget fill push skipped, unreadable: {}", exc)
                continue
            self._emit(fill)

    def _emit(self, fill: VenueFill) -> None:
        with self._lock:
            self._last_fill_ms = max(self._last_fill_ms, fill.ts)
        if self._on_fill is not None:
            self._on_fill(fill)
