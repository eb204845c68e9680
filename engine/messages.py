"""Every message the actors exchange, in one place.

Messages are frozen, slotted dataclasses so they are cheap, immutable once sent, and encodable with
orjson (``encode``) for recording, replay and a future cross-process transport. Commands are verbs
(``SubmitOrder``), events are past tense (``OrderFilled``). All times are event time in
milliseconds since the epoch (``ts``); ``recv_ns`` is the local monotonic arrival time
(``time.perf_counter_ns``) used only to measure latency, never for decisions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from enum import StrEnum
from typing import Any, TypeVar, dataclass_transform

import orjson

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def message(cls: type[T]) -> type[T]:
    """A frozen, slotted dataclass whose constructor is about twice as fast.

    The ``__init__`` a frozen dataclass generates sets every field through
    ``object.__setattr__``; on the hot path (one book update builds two messages per hop) that
    is most of an event's cost. This one stores each argument through the field's slot
    descriptor instead. The instances are the same: immutable afterwards
    (``FrozenInstanceError``), equal, hashable and encodable as before.
    """
    frozen: Any = dataclass(frozen=True, slots=True)(cls)
    names = [f.name for f in fields(frozen)]
    namespace: dict[str, Any] = {f"_set_{n}": frozen.__dict__[n].__set__ for n in names}
    params = []
    for f in fields(frozen):
        if f.default is not MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        else:
            params.append(f.name)
    body = "\n".join(f"    _set_{n}(self, {n})" for n in names) or "    pass"
    exec(f"def __init__(self, {', '.join(params)}):\n{body}\n", namespace)
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{frozen.__qualname__}.__init__"
    frozen.__init__ = init
    return frozen  # type: ignore[no-any-return]


class Side(StrEnum):
    """Direction of a position or order."""

    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        return 1 if self is Side.LONG else -1

    @property
    def opposite(self) -> Side:
        return Side.SHORT if self is Side.LONG else Side.LONG


class Regime(StrEnum):
    """Market regime of a symbol on one timeframe; it picks the strategy in ``regime`` mode.

    UNKNOWN until ADX and the ATR median are warm: no regime is guessed from too little history.
    """

    TRENDING = "TRENDING"
    RANGING = "RANGING"
    HIGH_VOLATILITY = "HIGH_VOLATILITY"
    UNKNOWN = "UNKNOWN"


class TradingState(StrEnum):
    """Whether the engine may open new positions."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


Level = tuple[float, float]
"""One order-book level: (price, size in base units)."""


# --- Market data (venue -> MarketData -> Feed) -------------------------------------------------


@message
class TickerUpdated:
    """Latest ticker of a symbol. Conflatable: the newest one wins."""

    symbol: str
    ts: int
    last: float
    bid: float
    ask: float
    volume_24h_usdt: float
    funding_rate: float
    recv_ns: int = 0


@message
class BookUpdated:
    """Top-of-book snapshot (books5). Conflatable: the newest one wins."""

    symbol: str
    ts: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    recv_ns: int = 0


@message
class TradesReceived:
    """One trade, or several trades of the same bar merged by conflation.

    A single trade has ``open == high == low == close`` and ``count == 1``. Merging keeps the first
    open, the extremes, the last close and the summed volume, so bars built from merged trades are
    identical to bars built from the individual trades (conflation never merges across a bar).
    """

    symbol: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    count: int = 1
    recv_ns: int = 0


@message
class BarClosed:
    """A finished candle. Never conflated and never dropped."""

    symbol: str
    interval_ms: int
    open_ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    recv_ns: int = 0

    @property
    def ts(self) -> int:
        """Event time of the close: the end of the candle."""
        return self.open_ts + self.interval_ms


@message
class BarsBackfilled:
    """History loaded from the venue on start, restart or hot add, oldest first."""

    symbol: str
    bars: tuple[BarClosed, ...]
    interval_ms: int = 60_000


MarketEvent = TickerUpdated | BookUpdated | TradesReceived | BarClosed


# --- Features and signals (Feed -> Features -> Signal -> Risk) ---------------------------------


@message
class FeaturesUpdated:
    """Indicator and order-book state of one symbol after an event.

    Conflatable unless ``bar_closed``: a lagging Signal only needs the newest book view, but every
    bar close is a decision point. The indicator fields are those of the ``interval_ms`` timeframe:
    the bar's own on a bar close, the strategy timeframe's on a book or ticker. ``high``/``low``
    are that bar's; ``momentum`` is the rate of change over the momentum period (a fraction,
    0.01 = +1%); ``volume_spike`` the bar's volume over the mean of the bars before it;
    ``imbalance`` the order-book imbalance within 10 bps of mid, in [-1, 1] (positive = more bids).
    Unknown values are NaN.
    """

    symbol: str
    ts: int
    last: float
    bid: float
    ask: float
    spread_bps: float
    depth_usdt: float
    ema_fast: float
    ema_slow: float
    atr: float
    warm: bool
    bar_closed: bool
    recv_ns: int = 0
    interval_ms: int = 60_000
    high: float = math.nan
    low: float = math.nan
    adx: float = math.nan
    plus_di: float = math.nan
    minus_di: float = math.nan
    bb_upper: float = math.nan
    bb_middle: float = math.nan
    bb_lower: float = math.nan
    atr_median: float = math.nan
    momentum: float = math.nan
    volume_spike: float = math.nan
    imbalance: float = math.nan
    regime: str = Regime.UNKNOWN


@message
class EnterPosition:
    """Signal asks Risk to open a position; Risk answers by approving (SubmitOrder) or denying.

    ``target`` 0 means none (the strategy exits by its own rule). ``size_scale`` shrinks the
    risk-based size (0.5 in high volatility); ``notional`` > 0 asks for that position value instead
    (the long-dip budget steps), which Risk still caps at the risk budget. ``regime`` is the
    symbol's regime at the decision, kept with the position for the journal.
    """

    symbol: str
    ts: int
    side: Side
    price: float
    stop: float
    strategy: str
    reason: str
    target: float = 0.0
    regime: str = ""
    size_scale: float = 1.0
    notional: float = 0.0


@message
class ExitPosition:
    """Close the whole position of a symbol (opposite signal, stop hit, symbol removed, ...)."""

    symbol: str
    ts: int
    reason: str


# --- Orders and fills (Risk -> Execution -> Portfolio -> Store) --------------------------------


@message
class SubmitOrder:
    """A sized, approved market order. ``reduce_only`` orders only ever shrink a position."""

    client_oid: str
    symbol: str
    ts: int
    side: Side
    qty: float
    stop: float
    reduce_only: bool
    strategy: str
    reason: str
    target: float = 0.0
    regime: str = ""


@message
class OrderFilled:
    """A fill. ``fill_id`` is unique per venue trade, so applying it twice can be detected."""

    fill_id: str
    client_oid: str
    symbol: str
    ts: int
    side: Side
    qty: float
    price: float
    fee: float
    reduce_only: bool
    stop: float
    strategy: str
    reason: str
    target: float = 0.0
    regime: str = ""


@message
class OrderRejected:
    """Execution could not fill an order (no quote, unknown symbol, venue error)."""

    client_oid: str
    symbol: str
    ts: int
    reason: str


@message
class Quote:
    """Best bid/ask and last price of one symbol at ``ts``, with what Risk's kill-switches and
    Portfolio's funding need: the USDT resting within 10 bps of the mid on each side of the newest
    book (-1 until a book arrives) and the venue's current funding rate per 8 hours.
    """

    symbol: str
    ts: int
    bid: float
    ask: float
    last: float
    bid_depth_usdt: float = -1.0
    ask_depth_usdt: float = -1.0
    funding_rate: float = 0.0


@message
class QuotesUpdated:
    """Newest quotes of many symbols at once: singletons take market data in batches."""

    quotes: tuple[Quote, ...]


@message
class PositionView:
    """An open position as Risk and status see it."""

    symbol: str
    side: Side
    qty: float
    entry: float
    stop: float
    mark: float
    target: float = 0.0
    strategy: str = ""
    regime: str = ""


@message
class PortfolioUpdated:
    """Portfolio state after a change: what Risk needs to size and cap the next entry."""

    ts: int
    equity: float
    cash: float
    day_start_equity: float
    peak_equity: float
    positions: tuple[PositionView, ...]


@message
class TradeClosed:
    """A round trip, as written to the trade journal.

    ``risk`` is the loss the initial stop allowed (qty x |entry - initial stop|), so ``pnl / risk``
    is the trade's R-multiple: the outcome the bandit learns from. 0 when there was no stop.
    ``fill_id`` is the fill that closed it: a fill closes at most one trade, so the journal keeps a
    trade once even if its fill is booked again while rebuilding after a crash.
    """

    symbol: str
    side: Side
    qty: float
    entry_ts: int
    entry_price: float
    exit_ts: int
    exit_price: float
    pnl: float
    fees: float
    strategy: str
    regime: str
    reason: str
    risk: float = 0.0
    fill_id: str = ""


@message
class EquitySampled:
    """One point of the equity curve."""

    ts: int
    equity: float
    cash: float
    unrealized: float
    open_positions: int


# --- Orchestration (Control <-> Supervisor, Supervisor <-> actors) -----------------------------


@message
class AddSymbol:
    symbol: str


@message
class RemoveSymbol:
    symbol: str
    close_positions: bool = True


@message
class SubscribeSymbol:
    """MarketData: start streaming a symbol and backfill its history to its Feed."""

    symbol: str


@message
class UnsubscribeSymbol:
    symbol: str


@message
class BackfillSymbol:
    """MarketData: send a restarted pipeline its history so it trades again without a warm-up."""

    symbol: str


@message
class PositionChanged:
    """Portfolio tells a symbol's Signal what it holds now (``side`` None when flat).

    The entry, stop, target and opening strategy let a restarted Signal resume managing the
    position (trailing its stop, exiting at the middle band) without any state of its own.
    """

    symbol: str
    side: Side | None
    entry: float = 0.0
    stop: float = 0.0
    target: float = 0.0
    strategy: str = ""


@message
class MoveStop:
    """Signal asks Portfolio to move a position's stop (a trailing stop).

    Portfolio only ever tightens a stop (towards the mark); a move that would widen it is ignored,
    so no message can increase the risk Risk approved.
    """

    symbol: str
    ts: int
    stop: float
    reason: str


@message
class SymbolSelected:
    """Scanner tells a symbol's Signal whether it is in the top N this cycle (entries need it)."""

    symbol: str
    ts: int
    selected: bool
    rank: int = 0
    score: float = 0.0


@message
class ActorFailed:
    """An actor died of an exception; the supervisor decides what happens next."""

    symbol: str | None
    role: str
    error: str
    traceback: str
    generation: int = 0
    actor_urn: str = ""


@message
class RestartDue:
    """Timer message: the backoff before restarting a symbol's pipeline has elapsed."""

    symbol: str
    generation: int


@message
class RestartSingleton:
    """Timer message: the backoff before restarting a singleton has elapsed."""

    role: str


@message
class Ping:
    """Answered with nothing once everything sent to the actor before it is handled: the barrier
    the backtest replay waits on (every actor ignores it)."""


@message
class GetStatus:
    """Ask an actor for its part of ``engine status`` (a JSON-ready dict)."""


@message
class CommandResult:
    """Answer to a control command: whether it was done, and a sentence saying what happened."""

    ok: bool
    message: str


@message
class FundingPaid:
    """A funding payment booked on a position at a funding time (every 8 hours, UTC).

    ``amount`` is what the account received in USDT: negative when it paid. A long pays a
    positive ``rate``, a short receives it.
    """

    symbol: str
    ts: int
    side: Side
    qty: float
    mark: float
    rate: float
    amount: float


@message
class SaveState:
    """Store: keep an actor's state blob so a restarted actor resumes from it.

    ``records`` (closed trades, funding payments) are written in the same transaction as the
    state, so a crash can never keep one without the other: a trade is in the journal exactly
    when the state that produced it is.
    """

    key: str
    value: dict[str, Any]
    records: tuple[TradeClosed | FundingPaid, ...] = ()


@message
class RecordOrder:
    """Store (ask): record an order before it is sent, so a crash cannot forget it was sent."""

    order: SubmitOrder


@message
class LoadFunding:
    """Store (ask): every funding payment recorded, by time."""


@message
class LoadOpenOrders:
    """Store (ask): orders recorded as submitted that have neither a fill nor a final status."""


@message
class LoadEntryTimes:
    """Store (ask): event times of the entry orders since ``since_ts``, oldest first."""

    since_ts: int


@message
class SaveLock:
    """Store (ask): the engine-wide trading state, durable before it takes effect."""

    state: TradingState
    code: str
    reason: str
    ts: int


@message
class LoadLock:
    """Store (ask): the last saved ``SaveLock``, or None."""


@message
class LoadState:
    """Store (ask): the state blob saved under ``key``, or None."""

    key: str


@message
class LoadFills:
    """Store (ask): every fill recorded, in the order recorded."""


@message
class LoadOrders:
    """Store (ask): the orders recorded since ``since_ts``, whatever became of them, oldest first
    (live reconciliation books a venue fill against the order it belongs to)."""

    since_ts: int


@message
class RecordEvent:
    """Store: an event worth keeping (denial, restart, quarantine, state change)."""

    ts: int
    kind: str
    symbol: str
    detail: str


@message
class TradingStateChanged:
    """The trading state changed (from Risk) or is to change (to Risk, from Control/Supervisor).

    ``code`` names the rule behind it (DAILY_LOSS, DRAWDOWN, PNL_STOP, MANUAL, CRASH_LOOP).
    """

    state: TradingState
    reason: str
    code: str = ""


@message
class CorrelationUpdated:
    """Correlation -> Risk: the newest return correlation matrix, row-major, over ``symbols``."""

    ts: int
    symbols: tuple[str, ...]
    rho: tuple[float, ...]


@message
class ResetPeak:
    """Risk -> Portfolio: measure drawdown from the current equity (an operator resumed after a
    drawdown halt, acknowledging the loss)."""

    ts: int


@message
class Tick:
    """Periodic wake-up for singletons that sample or sweep (equity, liveness)."""

    ts: int = 0


def encode(message: Any) -> bytes:
    """Encode a message as ``{"type": ..., "data": ...}`` JSON bytes."""
    return orjson.dumps({"type": type(message).__name__, "data": message})


@message
class VenueFill:
    """One execution of ours as the venue reports it (stream or REST).

    ``side`` is the trade direction (LONG = buy) as everywhere in the engine; ``fee`` is what was
    paid (positive), ``closing`` whether it reduced a position.
    """

    trade_id: str
    order_id: str
    client_oid: str
    symbol: str
    ts: int
    side: Side
    qty: float
    price: float
    fee: float
    closing: bool


@message
class VenuePosition:
    """An open position on the venue: what reconciliation compares the local book with."""

    symbol: str
    side: Side
    qty: float
    entry: float
    mark: float


@message
class VenueFillReceived:
    """Execution (live): a fill the venue reported, on its stream or in a re-sync."""

    fill: VenueFill


@message
class VenueResynced:
    """Execution (live): the venue's stream came back and its gap was replayed: compare positions."""


@message
class ReconcilePositions:
    """Portfolio: the venue's open positions (all of them); make the local book match, logging each
    correction."""

    ts: int
    positions: tuple[PositionView, ...]
    why: str
