"""The portfolio ledger: one-way positions, cash, equity and round trips, built from fills.

A fill's ``side`` is the trade direction (LONG = buy, SHORT = sell), so a SHORT fill shrinks, closes
or reverses a LONG position. Invariants:

- Each symbol has at most one position (one-way mode); its signed quantity is the signed sum of the
  fills booked on it. A reduce-only fill never grows or flips a position, as on the venue: the part
  beyond the open quantity is not booked and pays no fee (so a stop exit racing a signal exit is
  harmless). A fill within a relative 1e-9 of the open quantity closes it exactly (no float dust).
- ``cash = starting_equity + realised - fees + funding`` and ``equity = cash + unrealized``. Fees
  are paid when a fill is booked; a round trip's ``pnl`` is net of its share of both the entry and
  exit fees, so once flat, ``cash == starting_equity + sum(trade.pnl) + funding``.
- Funding is settled at every 8-hour boundary of UTC event time (00:00, 08:00, 16:00) on each
  position opened before it, at the position's mark and the venue's newest funding rate: a long
  pays a positive rate, a short receives it. Each boundary is settled once.
- A ``fill_id`` is booked at most once: replaying a fill changes nothing.
- A position is marked at the mid of its newest quote, or at its newest fill's price (the latest
  trade). A stop or target crossed by the mark is reported by ``exits_due`` once per position
  state: again only after a fill or a stop move changes the position.
- A stop only ever tightens (``move_stop``): no message can widen the risk Risk approved. The
  trade's ``risk`` is measured from the initial stop, so trailing does not inflate R-multiples.
- ``day_start_equity`` is the equity at the first snapshot of each UTC day of event time;
  ``peak_equity`` is the highest equity seen by a snapshot.
- ``Portfolio.from_state(p.to_state())`` behaves exactly like ``p``, through a JSON round trip.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from engine.messages import (
    EquitySampled,
    ExitPosition,
    FundingPaid,
    OrderFilled,
    PortfolioUpdated,
    PositionChanged,
    PositionView,
    Quote,
    Side,
    TradeClosed,
)

DAY_MS = 86_400_000
FUNDING_INTERVAL_MS = 8 * 3_600_000
STOP_REASON = "stop"
TARGET_REASON = "target"
_STATE_VERSION = 3
_DUST = 1e-9


def utc_day(ts: int) -> int:
    """Days since the epoch of an event time in ms: the UTC day that ``ts`` falls in."""
    return ts // DAY_MS


@dataclass(slots=True)
class _Position:
    symbol: str
    side: Side
    qty: float
    entry: float
    stop: float
    entry_ts: int
    strategy: str
    entry_fees: float
    mark: float
    mark_ts: int
    stop_reported: bool = False
    target: float = 0.0
    regime: str = ""
    initial_stop: float = 0.0
    funding_rate: float = 0.0


class Portfolio:
    """Positions, cash and equity of one account; the single source of truth for exposure."""

    def __init__(self, starting_equity: float) -> None:
        self.starting_equity = starting_equity
        self.realised = 0.0
        self.fees = 0.0
        self.funding = 0.0
        self._next_funding = 0
        self._positions: dict[str, _Position] = {}
        self._seen: set[str] = set()
        self._peak = starting_equity
        self._day_start = starting_equity
        self._day: int | None = None

    @property
    def cash(self) -> float:
        """Starting equity plus realised PnL and funding received, minus every fee paid."""
        return self.starting_equity + self.realised - self.fees + self.funding

    @property
    def unrealized(self) -> float:
        """PnL of the open positions at their marks, before exit fees."""
        return sum((p.mark - p.entry) * p.qty * p.side.sign for p in self._positions.values())

    @property
    def equity(self) -> float:
        return self.cash + self.unrealized

    def position(self, symbol: str) -> PositionView | None:
        """The open position of ``symbol``, if any (e.g. to size a reduce-only exit)."""
        p = self._positions.get(symbol)
        return None if p is None else _view(p)

    def has_fill(self, fill_id: str) -> bool:
        """Whether this fill was applied already (replays and duplicates are recognised by id)."""
        return fill_id in self._seen

    def apply_fill(self, f: OrderFilled) -> list[TradeClosed]:
        """Book a fill: open, add to, reduce, close or reverse a position; return closed trades."""
        if f.fill_id in self._seen:
            return []
        if not (0.0 < f.qty < math.inf and 0.0 < f.price < math.inf):
            raise ValueError(f"fill {f.fill_id} needs a positive qty and price, both finite: {f}")
        self._seen.add(f.fill_id)
        pos = self._positions.get(f.symbol)
        if pos is None or pos.side is f.side:
            if not f.reduce_only:
                self.fees += f.fee
                self._open_or_add(pos, f, f.qty, f.fee)
            return []
        closing = pos.qty if f.qty >= pos.qty * (1.0 - _DUST) else f.qty
        booked = closing if f.reduce_only else f.qty
        fee = f.fee * min(1.0, booked / f.qty)
        self.fees += fee
        opening = booked - closing
        if opening <= pos.qty * _DUST:
            return [self._close(pos, closing, f, fee)]
        exit_fee = fee * closing / booked
        trade = self._close(pos, closing, f, exit_fee)
        self._open_or_add(None, f, opening, fee - exit_fee)
        return [trade]

    def mark(self, quote: Quote) -> None:
        """Mark the symbol's position at the quote's mid (its last price if a side is missing)."""
        p = self._positions.get(quote.symbol)
        if p is None:
            return
        two_sided = quote.bid > 0.0 and quote.ask > 0.0
        p.mark = (quote.bid + quote.ask) / 2.0 if two_sided else quote.last
        p.mark_ts = quote.ts
        p.funding_rate = quote.funding_rate

    def settle_funding(self, ts: int) -> list[FundingPaid]:
        """Funding of every boundary up to ``ts`` not settled yet, on positions opened before it."""
        if self._next_funding == 0:
            self._next_funding = (ts // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
            return []
        paid: list[FundingPaid] = []
        while ts >= self._next_funding:
            boundary = self._next_funding
            for p in self._positions.values():
                if p.entry_ts < boundary and p.funding_rate != 0.0:
                    amount = -p.side.sign * p.qty * p.mark * p.funding_rate
                    paid.append(FundingPaid(p.symbol, boundary, p.side, p.qty, p.mark, p.funding_rate, amount))
            self._next_funding += FUNDING_INTERVAL_MS
        for payment in paid:
            self.funding += payment.amount
        return paid

    def book_funding(self, payment: FundingPaid) -> None:
        """Re-apply a recorded payment while rebuilding from the ledger; later boundaries stay due."""
        self.funding += payment.amount
        self._next_funding = max(self._next_funding, payment.ts + FUNDING_INTERVAL_MS)

    def reset_peak(self) -> None:
        """Measure drawdown from the equity now (an operator acknowledged a drawdown halt)."""
        self._peak = self.equity

    def exits_due(self) -> list[ExitPosition]:
        """Exits for positions whose mark crossed their stop or target, once per position state.

        The stop is checked first: a mark that (after a gap) lies beyond both cannot be both.
        """
        exits: list[ExitPosition] = []
        for p in self._positions.values():
            if p.stop_reported:
                continue
            sign = p.side.sign
            if p.stop > 0.0 and sign * (p.mark - p.stop) <= 0.0:
                reason = STOP_REASON
            elif p.target > 0.0 and sign * (p.mark - p.target) >= 0.0:
                reason = TARGET_REASON
            else:
                continue
            p.stop_reported = True
            exits.append(ExitPosition(p.symbol, p.mark_ts, reason))
        return exits

    def move_stop(self, symbol: str, stop: float) -> float | None:
        """Tighten the stop of ``symbol``'s position to ``stop``; the old stop, or None if refused.

        Refused when there is no position, the stop is not positive and finite, or it would not
        be tighter than the current one (further from the entry side of the position).
        """
        p = self._positions.get(symbol)
        if p is None or not 0.0 < stop < math.inf:
            return None
        old = p.stop
        if old > 0.0 and p.side.sign * (stop - old) <= 0.0:
            return None
        p.stop = stop
        p.stop_reported = False
        return old

    def correct(self, venue: PositionView | None, symbol: str, ts: int, stop_pct: float) -> str:
        """Make ``symbol``'s position the venue's (``venue`` None: flat); what changed, or ''.

        Live reconciliation: the venue's book is the truth. A quantity or side that differs is set
        to the venue's, with its average entry; a local position the venue does not hold is
        dropped; a venue position the engine does not know is adopted with a protective stop
        ``stop_pct`` from its entry (the engine never holds a position without a stop). Cash is not
        changed: PnL the engine did not see is not in its ledger, and the log says so.
        """
        p = self._positions.get(symbol)
        if venue is None:
            if p is None:
                return ""
            del self._positions[symbol]
            return f"local {p.side.value} {p.qty:.6g} @ {p.entry:.6g} dropped: the venue holds nothing"
        if p is not None and p.side is venue.side and abs(p.qty - venue.qty) <= venue.qty * 1e-6:
            return ""
        if p is None or p.side is not venue.side:
            stop = venue.entry * (1.0 - venue.side.sign * stop_pct)
            was = "none" if p is None else f"{p.side.value} {p.qty:.6g}"
            self._positions[symbol] = _Position(
                symbol, venue.side, venue.qty, venue.entry, stop, ts, "adopted", 0.0, venue.mark or venue.entry, ts,
                initial_stop=stop,
            )  # fmt: skip
            held = f"{venue.side.value} {venue.qty:.6g} @ {venue.entry:.6g}"
            return f"adopted the venue's {held} (was {was}), stop {stop:.6g}"
        old_qty = p.qty
        p.qty, p.entry, p.stop_reported = venue.qty, venue.entry, False
        return f"{p.side.value} {old_qty:.6g} -> {venue.qty:.6g} @ {venue.entry:.6g} (the venue's)"

    def snapshot(self, ts: int) -> PortfolioUpdated:
        """State for Risk at ``ts``; the first snapshot of a new UTC day resets the day start."""
        view = self.peek(ts)
        self._day = max(utc_day(ts), self._day if self._day is not None else utc_day(ts))
        self._day_start, self._peak = view.day_start_equity, view.peak_equity
        return view

    def peek(self, ts: int) -> PortfolioUpdated:
        """What ``snapshot(ts)`` would return, changing nothing: a status query must not move the
        day's start or the peak that Risk's loss limits measure from."""
        equity = self.equity
        day = utc_day(ts)
        new_day = self._day is None or day > self._day
        views = tuple(_view(self._positions[s]) for s in sorted(self._positions))
        day_start = equity if new_day else self._day_start
        return PortfolioUpdated(ts, equity, self.cash, day_start, max(self._peak, equity), views)

    def equity_point(self, ts: int) -> EquitySampled:
        """One point of the equity curve."""
        return EquitySampled(ts, self.equity, self.cash, self.unrealized, len(self._positions))

    def to_state(self) -> dict[str, Any]:
        """Everything needed to resume exactly, as JSON-serialisable plain data."""
        return {
            "version": _STATE_VERSION,
            "starting_equity": self.starting_equity,
            "realised": self.realised,
            "fees": self.fees,
            "funding": self.funding,
            "next_funding": self._next_funding,
            "peak_equity": self._peak,
            "day_start_equity": self._day_start,
            "day": self._day,
            "seen_fill_ids": sorted(self._seen),
            "positions": [asdict(p) | {"side": p.side.value} for p in self._positions.values()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Portfolio:
        """Rebuild a portfolio saved by ``to_state`` (of this or the previous version)."""
        state = cls._upgrade(state)
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"unknown portfolio state version {state.get('version')}")
        p = cls(float(state["starting_equity"]))
        p.realised = float(state["realised"])
        p.fees = float(state["fees"])
        p.funding = float(state["funding"])
        p._next_funding = int(state["next_funding"])
        p._peak = float(state["peak_equity"])
        p._day_start = float(state["day_start_equity"])
        p._day = None if state["day"] is None else int(state["day"])
        p._seen = set(state["seen_fill_ids"])
        for d in state["positions"]:
            pos = _Position(**(d | {"side": Side(d["side"])}))
            p._positions[pos.symbol] = pos
        return p

    @staticmethod
    def _upgrade(state: dict[str, Any]) -> dict[str, Any]:
        """An older state as the current version.

        Version 1 had no targets and regimes (no target, the stop as the initial one); version 2
        had no funding (none paid, the next boundary set by the first quote).
        """
        if state.get("version") == 1:
            positions = [d | {"target": 0.0, "regime": "", "initial_stop": d["stop"]} for d in state["positions"]]
            state = state | {"version": 2, "positions": positions}
        if state.get("version") == 2:
            positions = [d | {"funding_rate": 0.0} for d in state["positions"]]
            state = state | {"version": 3, "funding": 0.0, "next_funding": 0, "positions": positions}
        return state

    def _open_or_add(self, pos: _Position | None, f: OrderFilled, qty: float, fee: float) -> None:
        """Open a position of ``qty`` at the fill, or add to ``pos`` at the average entry price."""
        if pos is None:
            self._positions[f.symbol] = _Position(
                f.symbol, f.side, qty, f.price, f.stop, f.ts, f.strategy, fee, f.price, f.ts,
                target=f.target, regime=f.regime, initial_stop=f.stop,
            )  # fmt: skip
            return
        total = pos.qty + qty
        pos.entry = (pos.entry * pos.qty + f.price * qty) / total
        pos.qty = total
        pos.entry_fees += fee
        pos.stop = f.stop if f.stop > 0.0 else pos.stop
        pos.initial_stop = pos.stop
        pos.target = f.target if f.target > 0.0 else pos.target
        pos.mark, pos.mark_ts, pos.stop_reported = f.price, f.ts, False

    def _close(self, pos: _Position, qty: float, f: OrderFilled, exit_fee: float) -> TradeClosed:
        """Realise ``qty`` of ``pos`` at the fill price; it carries its share of the entry fees."""
        full = qty >= pos.qty
        entry_fee = pos.entry_fees if full else pos.entry_fees * qty / pos.qty
        gross = (f.price - pos.entry) * qty * pos.side.sign
        self.realised += gross
        if full:
            del self._positions[pos.symbol]
        else:
            pos.qty -= qty
            pos.entry_fees -= entry_fee
            pos.mark, pos.mark_ts, pos.stop_reported = f.price, f.ts, False
        fees = entry_fee + exit_fee
        risk = qty * abs(pos.entry - pos.initial_stop) if pos.initial_stop > 0.0 else 0.0
        return TradeClosed(
            pos.symbol,
            pos.side,
            qty,
            pos.entry_ts,
            pos.entry,
            f.ts,
            f.price,
            gross - fees,
            fees,
            pos.strategy,
            pos.regime,
            f.reason,
            risk,
            f.fill_id,
        )


def _view(p: _Position) -> PositionView:
    return PositionView(p.symbol, p.side, p.qty, p.entry, p.stop, p.mark, p.target, p.strategy, p.regime)


def position_changed(symbol: str, position: PositionView | None) -> PositionChanged:
    """What a symbol's Signal is told after its position changed (``None``: it is flat)."""
    if position is None:
        return PositionChanged(symbol, None)
    return PositionChanged(symbol, position.side, position.entry, position.stop, position.target, position.strategy)
