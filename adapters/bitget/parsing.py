"""Bitget v2 JSON -> the engine's messages: REST envelopes, contracts, tickers, candles, books,
trades, and WebSocket frames.

Bitget sends almost every number as a string, a few as numbers, and some empty lists as ``null``;
every reader here accepts both forms. A malformed item raises ``ParseError`` naming what was
wrong, so the stream can count and skip it instead of dying or trading on a half-read message.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from adapters.bitget.constants import SUCCESS
from adapters.bitget.errors import error_for
from engine.messages import BarClosed, BookUpdated, Level, Side, TickerUpdated, TradesReceived, VenueFill, VenuePosition
from engine.ports import Instrument

CHECKSUM_LEVELS = 25
__all__ = ["VenueFill", "VenuePosition"]  # re-exported: the parsers below return them


class ParseError(ValueError):
    """A message or item that does not have the documented shape."""


def _num(item: Mapping[str, Any], key: str) -> float:
    try:
        return float(item[key])
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"field {key!r} is missing or not a number in {item!r}") from exc


def _object(item: Any, what: str) -> None:
    if not isinstance(item, Mapping):
        raise ParseError(f"{what} item is not an object: {item!r}")


def _int(item: Mapping[str, Any], key: str) -> int:
    return int(_num(item, key))


def _opt(item: Mapping[str, Any], key: str, default: float = 0.0) -> float:
    value = item.get(key)
    return default if value in (None, "") else _num(item, key)


def envelope(http_status: int, body: bytes, path: str = "") -> Any:
    """The ``data`` of a REST response, or the typed error its status or ``code`` stands for."""
    try:
        decoded = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        decoded = {}
    if not isinstance(decoded, dict):
        decoded = {}
    code = str(decoded.get("code", "") or (http_status if http_status != 200 else "no code"))
    if http_status != 200 or code != SUCCESS:
        message = str(decoded.get("msg") or body[:200].decode(errors="replace") or "empty response")
        raise error_for(code, message, http_status, path)
    return decoded.get("data")


def instruments(contracts: Sequence[Mapping[str, Any]], tickers: Sequence[Mapping[str, Any]]) -> list[Instrument]:
    """Tradeable perpetual contracts with their 24h USDT volume and funding rate, by symbol.

    Price tick = ``priceEndStep`` x 10^-``pricePlace``; size step = ``sizeMultiplier``; minimum
    size = ``minTradeNum`` (base coin: USDT-M sizes have no contract multiplier). Contracts that
    are not ``normal`` or not perpetual are left out.
    """
    by_symbol = {str(t.get("symbol") or t.get("instId")): t for t in tickers}
    listed = []
    for c in contracts:
        if c.get("symbolStatus") != "normal" or c.get("symbolType", "perpetual") != "perpetual":
            continue
        symbol = str(c.get("symbol") or "")
        if not symbol:
            raise ParseError(f"contract without a symbol: {c!r}")
        ticker = by_symbol.get(symbol, {})
        listed.append(
            Instrument(
                symbol,
                _num(c, "priceEndStep") * 10.0 ** -_int(c, "pricePlace"),
                _num(c, "sizeMultiplier"),
                _num(c, "minTradeNum"),
                _opt(ticker, "usdtVolume", _opt(ticker, "quoteVolume")),
                _opt(ticker, "fundingRate"),
            )
        )
    return sorted(listed, key=lambda i: i.symbol)


def ticker(item: Mapping[str, Any], recv_ns: int = 0) -> TickerUpdated:
    """A REST ticker or a ``ticker`` channel item (``symbol`` or ``instId``)."""
    _object(item, "ticker")
    symbol = str(item.get("instId") or item.get("symbol") or "")
    if not symbol:
        raise ParseError(f"ticker without a symbol: {item!r}")
    return TickerUpdated(
        symbol,
        _int(item, "ts"),
        _num(item, "lastPr"),
        _num(item, "bidPr"),
        _num(item, "askPr"),
        _opt(item, "usdtVolume", _opt(item, "quoteVolume")),
        _opt(item, "fundingRate"),
        recv_ns,
    )


def candles(rows: Sequence[Sequence[Any]], symbol: str, interval_ms: int) -> list[BarClosed]:
    """Candle rows ``[ts, open, high, low, close, baseVolume, quoteVolume, ...]``, oldest first,
    one per open time (the row order Bitget uses is not documented)."""
    bars: dict[int, BarClosed] = {}
    for row in rows:
        if not isinstance(row, list | tuple):
            raise ParseError(f"candle row of {symbol} is not a list: {row!r}")
        if len(row) < 6:
            raise ParseError(f"candle row of {symbol} has {len(row)} fields, needs 6: {row!r}")
        try:
            ts, o, h, low, c, v = int(row[0]), *(float(x) for x in row[1:6])
        except (TypeError, ValueError) as exc:
            raise ParseError(f"candle row of {symbol} is not numeric: {row!r}") from exc
        bars[ts] = BarClosed(symbol, interval_ms, ts, o, h, low, c, v)
    return [bars[ts] for ts in sorted(bars)]


def _levels(raw: Any, side: str) -> tuple[Level, ...]:
    try:
        return tuple((float(price), float(size)) for price, size in raw or ())
    except (TypeError, ValueError) as exc:
        raise ParseError(f"book {side} are not [price, size] pairs: {raw!r}") from exc


def book(item: Mapping[str, Any], symbol: str, recv_ns: int = 0) -> BookUpdated:
    """A ``books5`` / ``books15`` snapshot (or a REST depth), best levels first."""
    _object(item, "book")
    return BookUpdated(
        symbol, _int(item, "ts"), _levels(item.get("bids"), "bids"), _levels(item.get("asks"), "asks"), recv_ns
    )


def trades(items: Sequence[Mapping[str, Any]], symbol: str, recv_ns: int = 0) -> list[TradesReceived]:
    """``trade`` channel items, oldest first."""
    parsed = []
    for item in items:
        price = _num(item, "price")
        parsed.append(
            TradesReceived(symbol, _int(item, "ts"), price, price, price, price, _num(item, "size"), 1, recv_ns)
        )
    return sorted(parsed, key=lambda t: t.ts)


def checksum(bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> int:
    """The signed CRC32 Bitget sends with a ``books`` push, over the exact strings received.

    Levels interleave bid then ask for the first 25 of each side, ``price:size`` joined by ``:``;
    a side that runs out is skipped.
    """
    parts: list[str] = []
    for i in range(CHECKSUM_LEVELS):
        for side in (bids, asks):
            if i < len(side):
                parts.extend((str(side[i][0]), str(side[i][1])))
    value = zlib.crc32(":".join(parts).encode())
    return value - (1 << 32) if value >= 1 << 31 else value


@dataclass(frozen=True, slots=True)
class Push:
    """A data push: its channel, symbol (``instId``), ``snapshot`` or ``update``, and items."""

    channel: str
    symbol: str
    action: str
    data: list[Any]
    ts: int


@dataclass(frozen=True, slots=True)
class Event:
    """A control answer: ``subscribe``/``unsubscribe``/``login`` acks, or an ``error`` with its code."""

    event: str
    code: str
    message: str
    arg: dict[str, Any]


PONG = "pong"


def frame(text: str | bytes) -> Push | Event | str:
    """Classify one WebSocket text frame: the ``pong`` heartbeat, a control event, or a push."""
    if text in (PONG, b"pong"):
        return PONG
    try:
        decoded = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"frame is not JSON: {text[:200]!r}") from exc
    if not isinstance(decoded, dict):
        raise ParseError(f"frame is not a JSON object: {text[:200]!r}")
    if "event" in decoded:
        arg = decoded.get("arg")
        return Event(str(decoded["event"]), str(decoded.get("code", "")), str(decoded.get("msg", "")), arg or {})
    arg = decoded.get("arg")
    data = decoded.get("data")
    if not isinstance(arg, dict) or not isinstance(data, list) or "channel" not in arg:
        raise ParseError(f"push without arg.channel or a data list: {text[:200]!r}")
    symbol = str(arg.get("instId") or arg.get("coin") or "")
    try:
        ts = int(decoded.get("ts") or 0)
    except (TypeError, ValueError) as exc:
        raise ParseError(f"push with a ts that is not a number: {text[:200]!r}") from exc
    return Push(str(arg["channel"]), symbol, str(decoded.get("action", "snapshot")), data, ts)


def venue_fill(item: Mapping[str, Any]) -> VenueFill:
    """A fill item. In hedge mode ``side`` names the position, as in orders (closing a long is
    ``buy`` + ``close``), so the trade direction is the opposite of ``side`` on a close; in one-way
    mode ``side`` is the trade direction."""
    trade_id = str(item.get("tradeId") or "")
    if not trade_id:
        raise ParseError(f"fill without a tradeId: {item!r}")
    named = _side(item.get("side"))
    closing = "close" in str(item.get("tradeSide", "")).lower()
    hedge = item.get("posMode") == "hedge_mode"
    fees = item.get("feeDetail") or []
    try:
        paid = -sum(float(f.get("totalFee") or f.get("fee") or 0.0) for f in fees)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ParseError(f"fill {trade_id} has an unreadable feeDetail: {fees!r}") from exc
    return VenueFill(
        trade_id,
        str(item.get("orderId") or ""),
        str(item.get("clientOid") or item.get("clientOId") or ""),
        str(item.get("symbol") or item.get("instId") or ""),
        _int(item, "cTime"),
        named.opposite if hedge and closing else named,
        _num(item, "baseVolume"),
        _num(item, "price"),
        paid,
        closing,
    )


def venue_position(item: Mapping[str, Any]) -> VenuePosition:
    """A position item (REST ``all-position`` or the ``positions`` channel)."""
    hold = str(item.get("holdSide", "")).lower()
    if hold not in ("long", "short"):
        raise ParseError(f"position without holdSide long/short: {item!r}")
    return VenuePosition(
        str(item.get("symbol") or item.get("instId") or ""),
        Side.LONG if hold == "long" else Side.SHORT,
        _num(item, "total"),
        _num(item, "openPriceAvg"),
        _opt(item, "markPrice"),
    )


def _side(value: Any) -> Side:
    text = str(value).lower()
    if text not in ("buy", "sell"):
        raise ParseError(f"side must be buy or sell, not {value!r}")
    return Side.LONG if text == "buy" else Side.SHORT
