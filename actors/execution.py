"""Execution: approved orders become fills, modelled locally (paper) or made by the venue (live).

Either way an order is on disk before it is filled or sent (an ``ask`` to the Store), and each
fill reaches the Store before the Portfolio, so after a crash the Store knows every order sent and
every fill booked.

Paper: fills are the paper model's, against the newest batched quote; an order on a symbol with no
quote yet is rejected rather than filled at a guessed price. An order recorded with no fill was
never filled (paper fills at once, and the fill is written first): on start it is marked rejected.

Live: the order is sent once to the ``OrderVenue``; its fills come back from the venue's stream
(``VenueFillReceived``), each booked once by trade id. On start, and after every stream gap, the
engine reconciles with the venue: orders recorded with no fill are looked up (missing ones are
rejected), venue fills the store lacks are booked, then the venue's positions replace any local
position that differs (only with no order in flight, so a fill on its way is not counted twice).
An order whose outcome is unknown stays in flight and is looked up again every ``Tick``.
"""

from __future__ import annotations

from typing import Any

import pykka
from loguru import logger

from actors.base import SingletonActor
from actors.context import EXECUTION, PORTFOLIO, RISK, STORE, ActorContext
from adapters.paper.fill_model import PaperFillModel
from engine.core.order_tracker import OrderTracker, UnknownOrder
from engine.messages import (
    GetStatus,
    LoadFills,
    LoadOpenOrders,
    LoadOrders,
    OrderFilled,
    OrderRejected,
    PositionView,
    Quote,
    QuotesUpdated,
    ReconcilePositions,
    RecordEvent,
    RecordOrder,
    SubmitOrder,
    Tick,
    VenueFill,
    VenueFillReceived,
    VenueResynced,
)
from engine.ports import OrderOutcomeUnknown, OrderRefused, OrderVenue, VenueUnavailable

STORE_TIMEOUT_S = 10.0
LOOKUP_AFTER_MS = 10_000
HOUR_MS = 3_600_000


class ExecutionActor(SingletonActor):
    role = EXECUTION

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        paper = ctx.config.paper
        self.model = PaperFillModel(paper.taker_fee, paper.slippage_bps)
        self.quotes: dict[str, Quote] = {}
        self.venue: OrderVenue | None = ctx.venue
        self.tracker = OrderTracker()
        self.reconcile_due = ""
        self.foreign: set[str] = set()
        self.start_sync: list[SubmitOrder] | None = None

    def on_start(self) -> None:
        store = self.router.singleton(STORE)
        if store is None:
            return
        orders: list[SubmitOrder] = store.ask(LoadOpenOrders(), block=True, timeout=STORE_TIMEOUT_S)
        if self.venue is None:
            for order in orders:
                logger.warning(
                    "{} order {} ({} {} {:.6g}) was recorded before the last stop but never filled: marked rejected",
                    order.symbol, order.client_oid, order.strategy, order.side.value, order.qty,
                )  # fmt: skip
                store.tell(OrderRejected(order.client_oid, order.symbol, order.ts, "not filled before a restart"))
            return
        self.start_sync = orders
        self._reconcile_on_start()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, QuotesUpdated):
            for quote in message.quotes:
                self.quotes[quote.symbol] = quote
        elif isinstance(message, SubmitOrder):
            self._execute(message)
        elif isinstance(message, VenueFillReceived):
            self._on_venue_fill(message.fill)
        elif isinstance(message, VenueResynced):
            self.reconcile_due = "stream re-sync"
            self._check_in_flight()
        elif isinstance(message, Tick):
            if self.start_sync is not None:
                self._reconcile_on_start()
            self._check_in_flight()
        elif isinstance(message, GetStatus):
            return {
                "mode": "paper" if self.venue is None else "live",
                "in_flight": len(self.tracker.in_flight()),
                "duplicate_fills": self.tracker.duplicates,
                "foreign_fills": len(self.foreign),
            }
        return None

    # --- both modes ----------------------------------------------------------------------------

    def _execute(self, order: SubmitOrder) -> None:
        store = self.router.singleton(STORE)
        if store is None:
            self._reject(order, "the store is restarting: an order is never sent before it is recorded")
            return
        try:
            recorded = store.ask(RecordOrder(order), block=True, timeout=STORE_TIMEOUT_S)
        except (pykka.Timeout, pykka.ActorDeadError):
            recorded = False
        if recorded is not True:
            self._reject(order, "the store could not record it: an order is never sent before it is recorded")
            return
        if self.venue is None:
            self._fill_on_paper(order)
        else:
            self._send(order, self.venue)

    def _book(self, fill: OrderFilled, note: str) -> None:
        logger.info(
            "{} filled {} {:.6g} @ {:.6g} fee {:.4f} ({}){}",
            fill.symbol, "buy" if fill.side.sign > 0 else "sell", fill.qty, fill.price, fill.fee, fill.reason, note,
        )  # fmt: skip
        self.router.tell_singleton(STORE, fill)
        self.router.tell_singleton(PORTFOLIO, fill)

    def _reject(self, order: SubmitOrder, why: str) -> None:
        rejected = OrderRejected(order.client_oid, order.symbol, order.ts, why)
        logger.warning("{} order {} rejected: {}", order.symbol, order.client_oid, why)
        self.router.tell_singleton(RISK, rejected)
        self.router.tell_singleton(STORE, rejected)

    # --- paper ---------------------------------------------------------------------------------

    def _fill_on_paper(self, order: SubmitOrder) -> None:
        quote = self.quotes.get(order.symbol)
        try:
            if quote is None:
                raise ValueError("no quote received yet")
            fill = self.model.fill(order, quote, f"{order.client_oid}-1")
        except ValueError as exc:
            self._reject(order, str(exc))
            return
        self._book(fill, "")

    # --- live ----------------------------------------------------------------------------------

    def _send(self, order: SubmitOrder, venue: OrderVenue) -> None:
        if order.reduce_only and self.tracker.exit_in_flight(order.symbol):
            self._reject(order, "an exit of this position is already in flight")
            return
        self.tracker.track(order, self.ctx.source.instrument(order.symbol).lot_size, order.ts)
        try:
            order_id = venue.place(order)
        except OrderRefused as exc:
            self.tracker.finish(order.client_oid)
            self._reject(order, f"the venue refused it: {exc}")
            return
        except OrderOutcomeUnknown as exc:
            logger.warning(
                "{} order {} outcome unknown ({}): watching for its fills and looking it up again",
                order.symbol, order.client_oid, exc,
            )  # fmt: skip
            return
        logger.info(
            "{} order {} sent: {} {:.6g} ({}) -> venue order {}",
            order.symbol, order.client_oid, "buy" if order.side.sign > 0 else "sell", order.qty, order.reason,
            order_id or "?",
        )  # fmt: skip

    def _on_venue_fill(self, fill: VenueFill, note: str = "") -> None:
        try:
            booked = self.tracker.book(fill)
        except UnknownOrder as exc:
            if fill.trade_id not in self.foreign:
                self.foreign.add(fill.trade_id)
                logger.warning("{} {}: not booked; positions are reconciled with the venue", fill.symbol, exc)
                self.router.tell_singleton(STORE, RecordEvent(fill.ts, "foreign_fill", fill.symbol, str(exc)))
                self.reconcile_due = self.reconcile_due or "a fill of an unknown order"
            return
        if booked is not None:
            self._book(booked, note)

    def _reconcile_on_start(self) -> None:
        """Book what happened on the venue while the engine was away; retried every ``Tick``
        until the venue answers (orders are still sent meanwhile)."""
        store, venue, unfilled = self.router.singleton(STORE), self.venue, self.start_sync
        if store is None or venue is None or unfilled is None:
            return
        lookback_h = self.ctx.config.live.reconcile_lookback_h
        try:
            now = venue.now_ms()
            since = now - lookback_h * HOUR_MS
            fills = venue.fills_since(since)
        except VenueUnavailable as exc:
            logger.error("reconciliation with the venue failed ({}); trying again", exc)
            return
        known: list[SubmitOrder] = store.ask(LoadOrders(since), block=True, timeout=STORE_TIMEOUT_S)
        booked: list[OrderFilled] = store.ask(LoadFills(), block=True, timeout=STORE_TIMEOUT_S)
        self.tracker.know(known)
        self.tracker.seen(f.fill_id for f in booked)
        for order in unfilled:
            self.tracker.track(order, self.ctx.source.instrument(order.symbol).lot_size, order.ts)
        self.start_sync = None
        before = len(self.foreign)
        for fill in fills:
            self._on_venue_fill(fill, " [reconciled: made while the engine was away]")
        logger.info(
            "reconciling with the venue: {} orders had no recorded fill, {} venue fills in the last {} h, "
            "{} of them of orders this engine did not send",
            len(unfilled), len(fills), lookback_h, len(self.foreign) - before,
        )  # fmt: skip
        self.reconcile_due = "start"
        still_open = {o.client_oid for o, _, _ in self.tracker.in_flight()}
        for order in unfilled:
            if order.client_oid in still_open:
                self._look_up_safely(venue, order)
        self._check_in_flight(now)

    def _check_in_flight(self, now: int | None = None) -> None:
        """Look up orders in flight for a while: missing ones are rejected, finished ones closed.
        Then, with nothing in flight, compare positions if a reconciliation is due."""
        venue = self.venue
        if venue is None or self.start_sync is not None or not (self.reconcile_due or self.tracker.in_flight()):
            return
        try:
            now = venue.now_ms() if now is None else now
            for order, sent_ms, filled in self.tracker.in_flight():
                if now - sent_ms >= LOOKUP_AFTER_MS:
                    self._look_up(venue, order, filled)
            if not self.reconcile_due or self.tracker.in_flight():
                return
            positions = venue.positions()
        except VenueUnavailable as exc:
            logger.warning("venue unreachable while checking orders in flight ({}); trying again", exc)
            return
        views = tuple(PositionView(p.symbol, p.side, p.qty, p.entry, 0.0, p.mark) for p in positions)
        self.router.tell_singleton(PORTFOLIO, ReconcilePositions(now, views, self.reconcile_due))
        self.reconcile_due = ""

    def _look_up_safely(self, venue: OrderVenue, order: SubmitOrder) -> None:
        try:
            self._look_up(venue, order, 0.0)
        except VenueUnavailable as exc:
            logger.warning("{} order {} could not be looked up ({}); trying again", order.symbol, order.client_oid, exc)

    def _look_up(self, venue: OrderVenue, order: SubmitOrder, filled: float) -> None:
        state = venue.order_state(order.symbol, order.client_oid)
        if state is None:
            self.tracker.finish(order.client_oid)
            self._reject(order, "the venue has no such order: it never arrived")
        elif state in ("filled", "canceled"):
            for fill in venue.fills_since(order.ts - LOOKUP_AFTER_MS):
                if fill.client_oid == order.client_oid:
                    self._on_venue_fill(fill, " [found by lookup]")
            self.tracker.finish(order.client_oid)
            if filled == 0.0 and state == "canceled":
                self._reject(order, "the venue canceled it unfilled")
