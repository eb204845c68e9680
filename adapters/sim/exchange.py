"""The simulated venue's matching engine: one account's orders, fills, positions and margin.

Pure logic behind one lock (the REST threads and the market thread both call it); the server in
``bitget_server.py`` speaks the protocol around it. It behaves like Bitget's USDT-M perpetuals
where the engine depends on it:

- Orders are ``market`` or ``limit`` (``gtc``, ``ioc``, ``fok``, ``post_only``). A market order, or
  the marketable part of a limit, takes the book level by level, one fill per level, so a large
  order fills partially at several prices. A resting limit fills at its own price (maker fee) as
  the touch crosses it, at most the touching level's size each time: partial fills again.
- ``clientOid`` is unique for the account's lifetime: a second order under it is refused with
  ``40786`` and changes nothing, so the adapter's "look it up, never send again" is exercised.
- One-way mode nets a symbol into one position (``reduceOnly`` may only shrink it); hedge mode
  keeps a long and a short, and ``side`` + ``tradeSide`` name the position, as Bitget's do.
- Opening needs the margin (notional / leverage) plus the fee free in the account (``40762``).
- Funding settles ``notional x rate`` between positions and the wallet (a long pays a positive
  rate).

Every change is also queued as a private-channel push (``orders``, ``fill``, ``positions``,
``account``) that the server drains and sends to logged-in connections.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.ports import Instrument

Level = tuple[float, float]
ORDER_TYPES = ("market", "limit")
FORCES = ("gtc", "ioc", "fok", "post_only")
ONE_WAY = "one_way_mode"
HEDGE = "hedge_mode"


class ExchangeError(Exception):
    """A request the venue refuses, with the Bitget code and message it answers."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _num(value: float) -> str:
    return format(value, ".12g")


@dataclass(slots=True)
class SimOrder:
    order_id: str
    client_oid: str
    symbol: str
    side: str
    trade_side: str
    reduce_only: bool
    order_type: str
    force: str
    price: float
    size: float
    c_time: int
    leverage: int
    margin_mode: str
    pos_mode: str
    filled: float = 0.0
    notional: float = 0.0
    fee: float = 0.0
    status: str = "live"
    u_time: int = 0

    @property
    def remaining(self) -> float:
        return max(0.0, self.size - self.filled)

    @property
    def trade_sign(self) -> int:
        """+1 if the order buys, -1 if it sells (in hedge mode a close trades against ``side``)."""
        named = 1 if self.side == "buy" else -1
        return -named if self.trade_side == "close" else named

    def item(self) -> dict[str, Any]:
        avg = self.notional / self.filled if self.filled else 0.0
        return {
            "orderId": self.order_id, "clientOid": self.client_oid, "symbol": self.symbol, "instId": self.symbol,
            "size": _num(self.size), "baseVolume": _num(self.filled), "accBaseVolume": _num(self.filled),
            "priceAvg": _num(avg), "price": _num(self.price), "fee": _num(-self.fee), "side": self.side,
            "tradeSide": self.trade_side or ("close" if self.reduce_only else "open"), "orderType": self.order_type,
            "force": self.force, "state": self.status, "status": self.status, "posMode": self.pos_mode,
            "posSide": "net" if self.pos_mode == ONE_WAY else ("long" if self.side == "buy" else "short"),
            "reduceOnly": "yes" if self.reduce_only else "no", "leverage": str(self.leverage),
            "marginMode": self.margin_mode, "marginCoin": "USDT", "quoteVolume": _num(self.notional),
            "cTime": str(self.c_time), "uTime": str(self.u_time or self.c_time),
        }  # fmt: skip


@dataclass(slots=True)
class SimPosition:
    symbol: str
    hold: str
    total: float
    entry: float
    margin_mode: str
    leverage: int
    pos_mode: str
    c_time: int
    achieved: float = 0.0
    fees: float = 0.0
    u_time: int = 0

    def item(self, mark: float) -> dict[str, Any]:
        sign = 1.0 if self.hold == "long" else -1.0
        return {
            "symbol": self.symbol, "instId": self.symbol, "marginCoin": "USDT", "holdSide": self.hold,
            "total": _num(self.total), "available": _num(self.total), "locked": "0", "frozen": "0",
            "openPriceAvg": _num(self.entry), "markPrice": _num(mark), "leverage": self.leverage,
            "marginSize": _num(self.total * self.entry / self.leverage), "marginMode": self.margin_mode,
            "posMode": self.pos_mode, "unrealizedPL": _num(sign * (mark - self.entry) * self.total),
            "achievedProfits": _num(self.achieved), "totalFee": _num(-self.fees),
            "cTime": str(self.c_time), "uTime": str(self.u_time or self.c_time),
        }  # fmt: skip


@dataclass(slots=True)
class SimFill:
    trade_id: str
    order: SimOrder
    price: float
    qty: float
    fee: float
    profit: float
    maker: bool
    ts: int

    def item(self) -> dict[str, Any]:
        o = self.order
        return {
            "tradeId": self.trade_id, "orderId": o.order_id, "clientOid": o.client_oid, "symbol": o.symbol,
            "side": o.side, "tradeSide": o.trade_side or ("close" if o.reduce_only else "open"),
            "orderType": o.order_type, "posMode": o.pos_mode, "price": _num(self.price),
            "baseVolume": _num(self.qty), "quoteVolume": _num(self.qty * self.price), "profit": _num(self.profit),
            "tradeScope": "maker" if self.maker else "taker",
            "feeDetail": [{"feeCoin": "USDT", "deduction": "no", "totalDeductionFee": "0",
                           "totalFee": _num(-self.fee)}],
            "cTime": str(self.ts), "uTime": str(self.ts),
        }  # fmt: skip


@dataclass(slots=True)
class Book:
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()

    @property
    def mid(self) -> float:
        if self.bids and self.asks:
            return (self.bids[0][0] + self.asks[0][0]) / 2.0
        return 0.0


@dataclass(slots=True)
class SimAccount:
    """Fees as fractions; ``balance`` is the wallet (realised PnL, fees and funding move it)."""

    balance: float = 100_000.0
    taker_fee: float = 0.0006
    maker_fee: float = 0.0002
    default_leverage: int = 10
    pos_mode: str = ONE_WAY
    leverage: dict[str, int] = field(default_factory=dict)
    margin_mode: dict[str, str] = field(default_factory=dict)


class SimExchange:
    """One account on the simulated venue. Every public method is thread-safe."""

    def __init__(
        self,
        instrument: Callable[[str], Instrument],
        clock_ms: Callable[[], int],
        account: SimAccount | None = None,
    ) -> None:
        self._instrument = instrument
        self._clock_ms = clock_ms
        self.account = account or SimAccount()
        self._lock = threading.RLock()
        self._ids = itertools.count(1_000_000_000_001)
        self._orders: dict[str, SimOrder] = {}
        self._by_client: dict[str, SimOrder] = {}
        self._open: dict[str, SimOrder] = {}
        self._fills: list[SimFill] = []
        self._positions: dict[tuple[str, str], SimPosition] = {}
        self._books: dict[str, Book] = {}
        self._pushes: list[tuple[str, list[dict[str, Any]]]] = []

    # --- market ------------------------------------------------------------------------------

    def on_book(self, symbol: str, bids: Sequence[Level], asks: Sequence[Level]) -> None:
        """A new book: resting limits it crosses fill (maker) against the touching level."""
        with self._lock:
            book = self._books.setdefault(symbol, Book())
            book.bids, book.asks = tuple(bids), tuple(asks)
            for order in [o for o in self._open.values() if o.symbol == symbol]:
                self._fill_resting(order, book)

    def mark(self, symbol: str) -> float:
        with self._lock:
            book = self._books.get(symbol)
            return book.mid if book is not None else 0.0

    def settle_funding(self, symbol: str, rate: float) -> float:
        """Move ``notional x rate`` from longs to the wallet (and to shorts); the total paid."""
        with self._lock:
            paid = 0.0
            mark = self.mark(symbol)
            for hold in ("long", "short"):
                pos = self._positions.get((symbol, hold))
                if pos is None or mark <= 0.0:
                    continue
                amount = pos.total * mark * rate * (1.0 if hold == "long" else -1.0)
                self.account.balance -= amount
                paid += amount
            if paid:
                self._push_account()
            return paid

    # --- account -----------------------------------------------------------------------------

    def set_leverage(self, symbol: str, leverage: int) -> None:
        if not 1 <= leverage <= 125:
            raise ExchangeError("40017", f"leverage {leverage} must be between 1 and 125")
        with self._lock:
            self._instrument(symbol)
            self.account.leverage[symbol] = leverage

    def set_margin_mode(self, symbol: str, mode: str) -> None:
        if mode not in ("crossed", "isolated"):
            raise ExchangeError("40017", f"marginMode must be crossed or isolated, not {mode!r}")
        with self._lock:
            self._instrument(symbol)
            if any(p.symbol == symbol for p in self._positions.values()) or any(
                o.symbol == symbol for o in self._open.values()
            ):
                raise ExchangeError("40017", f"{symbol} has a position or an open order: the margin mode cannot change")
            self.account.margin_mode[symbol] = mode

    def set_position_mode(self, mode: str) -> None:
        if mode not in (ONE_WAY, HEDGE):
            raise ExchangeError("40017", f"posMode must be {ONE_WAY} or {HEDGE}, not {mode!r}")
        with self._lock:
            if self._positions or self._open:
                raise ExchangeError("40017", "the position mode cannot change with positions or open orders")
            self.account.pos_mode = mode

    def equity(self) -> float:
        with self._lock:
            return self.account.balance + sum(self._upl(p) for p in self._positions.values())

    def account_item(self) -> dict[str, Any]:
        with self._lock:
            equity = self.equity()
            available = equity - self._used_margin()
            return {
                "marginCoin": "USDT", "locked": "0", "frozen": "0", "available": _num(available),
                "crossedMaxAvailable": _num(available), "maxOpenPosAvailable": _num(available),
                "maxTransferOut": _num(available), "accountEquity": _num(equity), "equity": _num(equity),
                "usdtEquity": _num(equity), "unrealizedPL": _num(equity - self.account.balance),
                "posMode": self.account.pos_mode,
            }  # fmt: skip

    # --- orders ------------------------------------------------------------------------------

    def place(self, body: Mapping[str, Any]) -> SimOrder:
        """Accept ``body`` (a place-order request) and fill what it can at once."""
        with self._lock:
            order = self._validate(body)
            self._orders[order.order_id] = order
            self._by_client[order.client_oid] = order
            self._push_order(order)
            book = self._books.get(order.symbol) or Book()
            self._take(order, book)
            if order.remaining > 0.0 and order.status in ("live", "partially_filled"):
                if order.order_type == "limit" and order.force in ("gtc", "post_only"):
                    self._open[order.order_id] = order
                else:
                    self._finish(order, "filled" if order.filled > 0.0 and order.order_type == "market" else "canceled")
            return order

    def cancel(self, symbol: str, order_id: str = "", client_oid: str = "") -> SimOrder:
        with self._lock:
            order = self.find(symbol, order_id, client_oid)
            if order.order_id not in self._open:
                raise ExchangeError("22001", f"no order to cancel: {order.client_oid} is {order.status}")
            self._finish(order, "canceled")
            return order

    def find(self, symbol: str, order_id: str = "", client_oid: str = "") -> SimOrder:
        with self._lock:
            order = self._orders.get(order_id) if order_id else self._by_client.get(client_oid)
            if order is None or order.symbol != symbol:
                raise ExchangeError("40109", f"order {order_id or client_oid} does not exist")
            return order

    def open_orders(self, symbol: str = "") -> list[SimOrder]:
        with self._lock:
            return [o for o in self._open.values() if not symbol or o.symbol == symbol]

    def fills(
        self, since_ms: int = 0, until_ms: int = 2**62, id_less_than: str = "", limit: int = 100, symbol: str = ""
    ) -> list[SimFill]:
        """Fills newest first (as the venue lists them), below ``id_less_than`` when paging."""
        with self._lock:
            bound = int(id_less_than) if id_less_than else 2**63
            picked = [
                f
                for f in reversed(self._fills)
                if since_ms <= f.ts <= until_ms and int(f.trade_id) < bound and (not symbol or f.order.symbol == symbol)
            ]
            return picked[: max(1, min(limit, 100))]

    def positions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [p.item(self.mark(p.symbol) or p.entry) for p in self._positions.values()]

    def drain(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Private pushes (channel, data) queued since the last drain, oldest first."""
        with self._lock:
            pushes, self._pushes = self._pushes, []
            return pushes

    # --- internals ---------------------------------------------------------------------------

    def _validate(self, body: Mapping[str, Any]) -> SimOrder:
        try:
            symbol = str(body["symbol"])
            side = str(body["side"]).lower()
            order_type = str(body["orderType"]).lower()
            size = float(body["size"])
            price = float(body.get("price") or 0.0)
        except (KeyError, TypeError, ValueError) as exc:
            raise ExchangeError("40017", f"parameter verification failed: {exc}") from None
        client_oid = str(body.get("clientOid") or "") or f"sim{next(self._ids)}"
        if client_oid in self._by_client:
            raise ExchangeError("40786", f"Duplicate clientOid {client_oid}")
        try:
            instrument = self._instrument(symbol)
        except LookupError:
            raise ExchangeError("40034", f"symbol {symbol} does not exist") from None
        force = str(body.get("force") or "gtc").lower()
        if side not in ("buy", "sell") or order_type not in ORDER_TYPES or force not in FORCES:
            raise ExchangeError("40017", f"side {side!r}, orderType {order_type!r}, force {force!r} not accepted")
        if order_type == "limit" and price <= 0.0:
            raise ExchangeError("40017", "a limit order needs a positive price")
        ticks = price / instrument.tick_size
        if order_type == "limit" and abs(ticks - round(ticks)) > 1e-6:
            raise ExchangeError("41103", f"price {body['price']} is not a multiple of the tick {instrument.tick_size}")
        steps = size / instrument.lot_size
        if size < instrument.min_qty or abs(steps - round(steps)) > 1e-6:
            raise ExchangeError("40808", f"size {body['size']} is not a multiple of {instrument.lot_size} "
                                f"at least {instrument.min_qty}")  # fmt: skip
        mode = self.account.pos_mode
        trade_side = str(body.get("tradeSide") or "").lower()
        reduce_only = str(body.get("reduceOnly") or "NO").upper() == "YES"
        if mode == HEDGE:
            if trade_side not in ("open", "close"):
                raise ExchangeError("40774", "hedge mode needs tradeSide open or close")
            reduce_only = trade_side == "close"
        elif trade_side:
            raise ExchangeError("40774", "the order type must match the account's one-way position mode")
        now = self._clock_ms()
        order = SimOrder(
            str(next(self._ids)), client_oid, symbol, side, trade_side if mode == HEDGE else "", reduce_only,
            order_type, force, price, size, now, self.account.leverage.get(symbol, self.account.default_leverage),
            self.account.margin_mode.get(symbol, str(body.get("marginMode") or "crossed")), mode,
        )  # fmt: skip
        if reduce_only and self._closable(order) <= 0.0:
            raise ExchangeError("22002", f"no position to close on {symbol}")
        if not reduce_only:
            book = self._books.get(symbol)
            ref = price if order_type == "limit" else (book.mid if book else 0.0)
            if ref <= 0.0:
                raise ExchangeError("40017", f"{symbol} has no market price yet")
            need = size * ref / order.leverage + size * ref * self.account.taker_fee
            if need > self.equity() - self._used_margin():
                raise ExchangeError("40762", f"the order amount exceeds the balance: needs {need:.2f} USDT")
        return order

    def _take(self, order: SimOrder, book: Book) -> None:
        """Fill as taker against ``book``'s opposite side, up to a limit price if any."""
        levels = book.asks if order.trade_sign > 0 else book.bids
        limit = order.price if order.order_type == "limit" else 0.0
        crossing = [lv for lv in levels if not limit or (lv[0] <= limit if order.trade_sign > 0 else lv[0] >= limit)]
        if order.force == "post_only" and crossing:
            self._finish(order, "canceled")
            return
        if order.force == "fok" and sum(q for _, q in crossing) < order.size:
            self._finish(order, "canceled")
            return
        for i, (price, qty) in enumerate(crossing):
            if order.remaining <= 0.0 or order.status not in ("live", "partially_filled"):
                break
            last = i == len(crossing) - 1 and order.order_type == "market"
            self._fill(order, price, order.remaining if last else min(qty, order.remaining), maker=False)

    def _fill_resting(self, order: SimOrder, book: Book) -> None:
        touch = (book.asks if order.trade_sign > 0 else book.bids)[:1]
        if not touch:
            return
        price, qty = touch[0]
        if (order.trade_sign > 0 and price <= order.price) or (order.trade_sign < 0 and price >= order.price):
            self._fill(order, order.price, min(qty, order.remaining), maker=True)

    def _closable(self, order: SimOrder) -> float:
        if order.pos_mode == HEDGE:
            pos = self._positions.get((order.symbol, "long" if order.side == "buy" else "short"))
        else:
            pos = self._positions.get((order.symbol, "short" if order.side == "buy" else "long"))
        return pos.total if pos is not None else 0.0

    def _fill(self, order: SimOrder, price: float, qty: float, *, maker: bool) -> None:
        if order.reduce_only:
            qty = min(qty, self._closable(order))
        if qty <= 0.0:
            self._finish(order, "filled" if order.filled > 0.0 else "canceled")
            return
        now = self._clock_ms()
        fee = qty * price * (self.account.maker_fee if maker else self.account.taker_fee)
        profit = self._apply(order, price, qty, fee, now)
        fill = SimFill(str(next(self._ids)), order, price, qty, fee, profit, maker, now)
        self._fills.append(fill)
        order.filled += qty
        order.notional += qty * price
        order.fee += fee
        order.u_time = now
        self.account.balance += profit - fee
        self._pushes.append(("fill", [fill.item()]))
        if order.remaining <= 1e-12 * max(1.0, order.size):
            self._finish(order, "filled")
        else:
            order.status = "partially_filled"
            self._push_order(order)
        self._push_positions()
        self._push_account()

    def _apply(self, order: SimOrder, price: float, qty: float, fee: float, now: int) -> float:
        """Move positions by one fill; the realised PnL it produces."""
        sign = order.trade_sign
        if order.pos_mode == HEDGE:
            hold = "long" if order.side == "buy" else "short"
            if order.trade_side == "close":
                return self._reduce(order.symbol, hold, price, qty, now)
            self._add(order, hold, price, qty, fee, now)
            return 0.0
        opposite = "short" if sign > 0 else "long"
        profit = 0.0
        held = self._positions.get((order.symbol, opposite))
        if held is not None:
            closing = min(qty, held.total)
            profit = self._reduce(order.symbol, opposite, price, closing, now)
            qty -= closing
        if qty > 1e-12 and not order.reduce_only:
            self._add(order, "long" if sign > 0 else "short", price, qty, fee, now)
        return profit

    def _add(self, order: SimOrder, hold: str, price: float, qty: float, fee: float, now: int) -> None:
        key = (order.symbol, hold)
        pos = self._positions.get(key)
        if pos is None:
            pos = SimPosition(order.symbol, hold, 0.0, price, order.margin_mode, order.leverage, order.pos_mode, now)
            self._positions[key] = pos
        pos.entry = (pos.entry * pos.total + price * qty) / (pos.total + qty)
        pos.total += qty
        pos.fees += fee
        pos.u_time = now

    def _reduce(self, symbol: str, hold: str, price: float, qty: float, now: int) -> float:
        pos = self._positions[(symbol, hold)]
        qty = min(qty, pos.total)
        profit = (price - pos.entry) * qty * (1.0 if hold == "long" else -1.0)
        pos.total -= qty
        pos.achieved += profit
        pos.u_time = now
        if pos.total <= 1e-12 * max(1.0, qty):
            del self._positions[(symbol, hold)]
        return profit

    def _finish(self, order: SimOrder, status: str) -> None:
        order.status = status
        order.u_time = self._clock_ms()
        self._open.pop(order.order_id, None)
        self._push_order(order)

    def _upl(self, pos: SimPosition) -> float:
        mark = self.mark(pos.symbol) or pos.entry
        return (mark - pos.entry) * pos.total * (1.0 if pos.hold == "long" else -1.0)

    def _used_margin(self) -> float:
        held = sum(p.total * p.entry / p.leverage for p in self._positions.values())
        resting = sum(o.remaining * o.price / o.leverage for o in self._open.values() if not o.reduce_only)
        return held + resting

    def _push_order(self, order: SimOrder) -> None:
        self._pushes.append(("orders", [order.item()]))

    def _push_positions(self) -> None:
        self._pushes.append(("positions", self.positions()))

    def _push_account(self) -> None:
        self._pushes.append(("account", [self.account_item()]))
