"""Execution (paper): fills approved orders with the paper model against the newest quote.

The quote comes from the batched ``QuotesUpdated`` stream; an order on a symbol with no quote yet
is rejected (and Risk releases its reservation) rather than filled at a guessed price.

An order is on disk before it is filled (an ``ask`` to the Store), and its fill reaches the Store
before the Portfolio, so after a crash the Store knows every order sent and every fill made. An
order recorded with no fill was never filled by the paper venue (it fills at once, and the fill is
written before anything acts on it): on start it is marked rejected, and the log says so.
"""

from __future__ import annotations

from typing import Any

import pykka
from loguru import logger

from actors.base import SingletonActor
from actors.context import EXECUTION, PORTFOLIO, RISK, STORE, ActorContext
from adapters.paper.fill_model import PaperFillModel
from engine.messages import LoadOpenOrders, OrderRejected, Quote, QuotesUpdated, RecordOrder, SubmitOrder

STORE_TIMEOUT_S = 10.0


class ExecutionActor(SingletonActor):
    role = EXECUTION

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        paper = ctx.config.paper
        self.model = PaperFillModel(paper.taker_fee, paper.slippage_bps)
        self.quotes: dict[str, Quote] = {}

    def on_start(self) -> None:
        store = self.router.singleton(STORE)
        if store is None:
            return
        orders: list[SubmitOrder] = store.ask(LoadOpenOrders(), block=True, timeout=STORE_TIMEOUT_S)
        for order in orders:
            logger.warning(
                "{} order {} ({} {} {:.6g}) was recorded before the last stop but never filled: marked rejected",
                order.symbol, order.client_oid, order.strategy, order.side.value, order.qty,
            )  # fmt: skip
            store.tell(OrderRejected(order.client_oid, order.symbol, order.ts, "not filled before a restart"))

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, QuotesUpdated):
            for quote in message.quotes:
                self.quotes[quote.symbol] = quote
        elif isinstance(message, SubmitOrder):
            self._execute(message)
        return None

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
        quote = self.quotes.get(order.symbol)
        try:
            if quote is None:
                raise ValueError("no quote received yet")
            fill = self.model.fill(order, quote, f"{order.client_oid}-1")
        except ValueError as exc:
            self._reject(order, str(exc))
            return
        logger.info(
            "{} filled {} {:.6g} @ {:.6g} fee {:.4f} ({})",
            order.symbol,
            "buy" if fill.side.sign > 0 else "sell",
            fill.qty,
            fill.price,
            fill.fee,
            order.reason,
        )
        self.router.tell_singleton(STORE, fill)
        self.router.tell_singleton(PORTFOLIO, fill)

    def _reject(self, order: SubmitOrder, why: str) -> None:
        rejected = OrderRejected(order.client_oid, order.symbol, order.ts, why)
        logger.warning("{} order {} rejected: {}", order.symbol, order.client_oid, why)
        self.router.tell_singleton(RISK, rejected)
        self.router.tell_singleton(STORE, rejected)
