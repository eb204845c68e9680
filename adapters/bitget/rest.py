"""Bitget v2 REST client: paced, retried where that is safe, and never places an order twice.

- Every request waits for its endpoint's token (the documented per-endpoint limits).
- Reads retry with exponential backoff on 429, 5xx, maintenance and network errors.
- Orders carry a deterministic ``clientOid``. A place-order answered 429 is sent again (the venue
  refuses those before looking at them); one whose outcome is unknown (a timeout,
  a dropped connection, a 5xx, a duplicate-clientOid answer) is never sent again: the order is
  looked up by its clientOid, and only a venue that answers "no such order" lets the caller know
  it was not placed (``OrderNotPlaced``), after which sending it again under the same clientOid
  is still safe, since the venue refuses a second order with it.
- Prices and sizes are sent as strings truncated to the contract's precision.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

import orjson
import requests

from adapters.bitget import constants as c
from adapters.bitget.auth import Credentials, query_string, rest_headers
from adapters.bitget.errors import BitgetError, DuplicateClientOid, OrderNotFound, RateLimited, ServerError
from adapters.bitget.parsing import envelope
from adapters.rate_limiter import RateLimiter
from engine.messages import Side


class OrderNotPlaced(BitgetError):
    """The venue has no order under this clientOid: the send failed before it reached the book."""


def to_step(value: float, step: float) -> str:
    """``value`` truncated (never rounded up) to a multiple of ``step``, as a plain decimal string.

    A value within a relative 1e-9 of a multiple is that multiple: a position summed from fills
    (4.54 + 2.56 + 1.12 = 8.219999999999999) must close as 8.22, or one lot stays open for good.
    """
    quantum = Decimal(repr(step)).normalize()
    exact = Decimal(repr(value)) / quantum
    nearest = exact.to_integral_value(rounding=ROUND_HALF_EVEN)
    close = abs(exact - nearest) <= Decimal("1e-9") * max(Decimal(1), abs(nearest))
    steps = nearest if close else exact.to_integral_value(rounding=ROUND_DOWN)
    return format((steps * quantum).normalize(), "f")


def order_body(
    symbol: str, side: Side, qty: float, lot_size: float, client_oid: str, *, reduce_only: bool = False,
    hedge: bool = False, margin_mode: str = "crossed",
) -> dict[str, str]:  # fmt: skip
    """A market place-order body. ``side`` is the trade direction (LONG = buy), as everywhere in
    the engine.

    One-way mode: ``side`` buy/sell and ``reduceOnly`` YES/NO. Hedge mode names the *position*
    instead: opening trades in its direction with ``tradeSide=open``; closing a long (a sell) is
    ``side=buy, tradeSide=close``, and closing a short is ``side=sell, tradeSide=close``.
    """
    size = to_step(qty, lot_size)
    if Decimal(size) <= 0:
        raise ValueError(f"{symbol}: size {qty} is under one lot of {lot_size}")
    body = {"symbol": symbol, "marginMode": margin_mode, "size": size, "orderType": "market", "clientOid": client_oid}
    if hedge:
        position = side.opposite if reduce_only else side
        return body | {
            "side": "buy" if position is Side.LONG else "sell",
            "tradeSide": "close" if reduce_only else "open",
        }
    return body | {"side": "buy" if side is Side.LONG else "sell", "reduceOnly": "YES" if reduce_only else "NO"}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How reads are retried: ``attempts`` in all, the wait doubling from ``backoff_s`` to ``max_backoff_s``."""

    attempts: int = 4
    backoff_s: float = 0.25
    max_backoff_s: float = 4.0


class BitgetRest:
    """One account's REST connection (public calls work without credentials)."""

    def __init__(
        self,
        base_url: str = c.REST_HOST,
        credentials: Credentials | None = None,
        *,
        timeout_s: float = 10.0,
        retry: RetryPolicy = RetryPolicy(),
        session: requests.Session | None = None,
        limiter: RateLimiter | None = None,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.timeout_s = timeout_s
        self.retry = retry
        self.session = session or requests.Session()
        self.limiter = limiter or RateLimiter(c.RATE_LIMITS)
        self._clock_ms = clock_ms
        self._sleep = sleep

    # --- transport ---------------------------------------------------------------------------

    def request(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Mapping[str, Any] | None = None,
        *, signed: bool = False, retry: bool = True,
    ) -> Any:  # fmt: skip
        """Send one request (retried if ``retry`` and the failure is retryable); its ``data``."""
        query = query_string({k: v for k, v in (params or {}).items() if v is not None})
        text = orjson.dumps(body).decode() if body is not None else ""
        attempts = self.retry.attempts if retry else 1
        delay = self.retry.backoff_s
        for attempt in range(1, attempts + 1):
            try:
                return self._send(method, path, query, text, signed)
            except (BitgetError, requests.ConnectionError, requests.Timeout) as exc:
                transient = not isinstance(exc, BitgetError) or exc.retryable
                if not transient or attempt == attempts:
                    raise
                self._sleep(delay)
                delay = min(delay * 2.0, self.retry.max_backoff_s)
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, query: str, body: str, signed: bool) -> Any:
        if signed and self.credentials is None:
            raise BitgetError("40001", "this call needs API credentials", 0, path)
        url = f"{self.base_url}{path}{'?' + query if query else ''}"
        with self.limiter.slot(path):
            headers = {"Content-Type": "application/json"}
            if self.credentials is not None and signed:
                headers = rest_headers(self.credentials, self._clock_ms(), method, path, query, body)
            response = self.session.request(method, url, data=body or None, headers=headers, timeout=self.timeout_s)
        return envelope(response.status_code, response.content, path)

    # --- public ------------------------------------------------------------------------------

    def server_time(self) -> int:
        """The venue's clock in ms (candle windows are asked in the venue's time, not ours)."""
        data = self.request("GET", c.SERVER_TIME) or {}
        return int(data["serverTime"])

    def contracts(self) -> list[dict[str, Any]]:
        return list(self.request("GET", c.CONTRACTS, {"productType": c.PRODUCT_TYPE}) or [])

    def tickers(self) -> list[dict[str, Any]]:
        return list(self.request("GET", c.TICKERS, {"productType": c.PRODUCT_TYPE}) or [])

    def candles(self, symbol: str, interval_ms: int, limit: int, end_ms: int | None = None) -> list[list[Any]]:
        """Up to ``limit`` candle rows ending before ``end_ms``, paging back 1000 rows at a time."""
        granularity = c.GRANULARITY.get(interval_ms)
        if granularity is None:
            raise ValueError(f"no Bitget granularity for a {interval_ms} ms candle")
        rows: dict[int, list[Any]] = {}
        end = end_ms if end_ms is not None else self._clock_ms()
        while len(rows) < limit:
            page = min(c.CANDLES_MAX_LIMIT, limit - len(rows) + 1)  # +1: the venue may count the row at endTime
            start = end - page * interval_ms
            params = {"symbol": symbol, "productType": c.PRODUCT_TYPE, "granularity": granularity,
                      "startTime": start, "endTime": end, "limit": page}  # fmt: skip
            got = self.request("GET", c.CANDLES, params) or []
            fresh = {int(row[0]): row for row in got if int(row[0]) < end and int(row[0]) not in rows}
            if not fresh:
                break
            rows.update(fresh)
            end = min(fresh)
        return [rows[ts] for ts in sorted(rows)][-limit:]

    def depth(self, symbol: str, limit: int = 5) -> dict[str, Any]:
        params = {"symbol": symbol, "productType": c.PRODUCT_TYPE, "limit": limit}
        return dict(self.request("GET", c.DEPTH, params) or {})

    def funding_rates(self) -> list[dict[str, Any]]:
        return list(self.request("GET", c.FUNDING_RATE, {"productType": c.PRODUCT_TYPE}) or [])

    def open_interest(self, symbol: str) -> dict[str, Any]:
        return dict(self.request("GET", c.OPEN_INTEREST, {"symbol": symbol, "productType": c.PRODUCT_TYPE}) or {})

    # --- private -----------------------------------------------------------------------------

    def account(self, symbol: str) -> dict[str, Any]:
        params = {"symbol": symbol, "productType": c.PRODUCT_TYPE, "marginCoin": c.MARGIN_COIN}
        return dict(self.request("GET", c.ACCOUNT, params, signed=True) or {})

    def set_leverage(self, symbol: str, leverage: int) -> dict[str, Any]:
        body = {"symbol": symbol, "productType": c.PRODUCT_TYPE, "marginCoin": c.MARGIN_COIN, "leverage": str(leverage)}
        return dict(self.request("POST", c.SET_LEVERAGE, body=body, signed=True) or {})

    def set_margin_mode(self, symbol: str, mode: str) -> dict[str, Any]:
        if mode not in ("crossed", "isolated"):
            raise ValueError(f"margin mode must be 'crossed' or 'isolated', not {mode!r}")
        body = {"symbol": symbol, "productType": c.PRODUCT_TYPE, "marginCoin": c.MARGIN_COIN, "marginMode": mode}
        return dict(self.request("POST", c.SET_MARGIN_MODE, body=body, signed=True) or {})

    def place_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """Place ``order`` (a place-order body with a ``clientOid``) at most once.

        The send is never retried. When its outcome is unknown, or the answer carries no orderId
        (the venue does that for a reduce-only order it had to reconcile), the order is looked up
        by clientOid; ``OrderNotPlaced`` says the venue has no such order.
        """
        client_oid = str(order.get("clientOid") or "")
        if not client_oid:
            raise ValueError("an order needs a clientOid: without one a lost answer could mean a second order")
        body = {"productType": c.PRODUCT_TYPE, "marginCoin": c.MARGIN_COIN, **order}
        try:
            placed = self._send_order(body)
            if placed.get("orderId"):
                return placed
        except (DuplicateClientOid, ServerError, requests.ConnectionError, requests.Timeout):
            pass
        try:
            detail = self.order_detail(str(order["symbol"]), client_oid)
        except OrderNotFound as exc:
            raise OrderNotPlaced(
                exc.code, f"no order {client_oid} on the venue", exc.http_status, c.PLACE_ORDER
            ) from exc
        return {"orderId": detail.get("orderId"), "clientOid": detail.get("clientOid", client_oid)}

    def _send_order(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a place-order; sent again only after a 429, which the venue answers before it
        looks at the order, so the first one was certainly not placed."""
        delay = self.retry.backoff_s
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return dict(self.request("POST", c.PLACE_ORDER, body=body, signed=True, retry=False) or {})
            except RateLimited:
                if attempt == self.retry.attempts:
                    raise
                self._sleep(delay)
                delay = min(delay * 2.0, self.retry.max_backoff_s)
        raise AssertionError("unreachable")

    def cancel_order(self, symbol: str, client_oid: str) -> dict[str, Any]:
        """Cancel once (not retried: a retry of a cancel that went through would answer "no such
        order"); on an error the caller looks the order up to learn its state."""
        body = {"symbol": symbol, "productType": c.PRODUCT_TYPE, "marginCoin": c.MARGIN_COIN, "clientOid": client_oid}
        return dict(self.request("POST", c.CANCEL_ORDER, body=body, signed=True, retry=False) or {})

    def order_detail(self, symbol: str, client_oid: str) -> dict[str, Any]:
        params = {"symbol": symbol, "productType": c.PRODUCT_TYPE, "clientOid": client_oid}
        return dict(self.request("GET", c.ORDER_DETAIL, params, signed=True) or {})

    def open_orders(self) -> list[dict[str, Any]]:
        data = self.request("GET", c.OPEN_ORDERS, {"productType": c.PRODUCT_TYPE}, signed=True) or {}
        return list(data.get("entrustedList") or [])

    def fills(self, since_ms: int, limit: int = 100) -> list[dict[str, Any]]:
        """Account fills since ``since_ms``, oldest first, paging with ``idLessThan``."""
        found: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        while True:
            params = {"productType": c.PRODUCT_TYPE, "startTime": since_ms, "limit": limit, "idLessThan": cursor}
            data = self.request("GET", c.FILLS, params, signed=True) or {}
            page = list(data.get("fillList") or [])
            new = {str(f["tradeId"]): f for f in page if str(f["tradeId"]) not in found}
            found.update(new)
            cursor = str(data.get("endId") or "")
            if len(page) < limit or not new or not cursor:
                break
        return sorted(found.values(), key=lambda f: (int(f.get("cTime", 0)), str(f["tradeId"])))

    def positions(self) -> list[dict[str, Any]]:
        params = {"productType": c.PRODUCT_TYPE, "marginCoin": c.MARGIN_COIN}
        return list(self.request("GET", c.POSITIONS, params, signed=True) or [])
