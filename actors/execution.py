"""Execution (paper): fills approved orders with the paper model against the newest quote.

The quote comes from the batched ``QuotesUpdated`` stream; an order on a symbol with no quote yet
is rejected (and Risk releases its reservation) rather than filled at a guessed price.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from actors.base import SingletonActor
from actors.context import EXECUTION, PORTFOLIO, RISK, STORE, ActorContext
from adapters.paper.fill_model import PaperFillModel
from engine.messages import OrderRejected, Quote, QuotesUpdated, SubmitOrder


class ExecutionActor(SingletonActor):
    role = EXECUTION

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        paper = ctx.config.paper
        self.model = PaperFillModel(paper.taker_fee, paper.slippage_bps)
        self.quotes: dict[str, Quote] = {}

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, QuotesUpdated):
            for quote in message.quotes:
                self.quotes[quote.symbol] = quote
        elif isinstance(message, SubmitOrder):
            self._execute(message)
        return None

    def _execute(self, order: SubmitOrder) -> None:
        self.router.tell_singleton(STORE, order)
        quote = self.quotes.get(order.symbol)
        try:
            if quote is None:
                raise ValueError("no quote received yet")
            fill = self.model.fill(order, quote, f"{order.client_oid}-1")
        except ValueError as exc:
            rejected = OrderRejected(order.client_oid, order.symbol, order.ts, str(exc))
            logger.warning("{} order {} rejected: {}", order.symbol, order.client_oid, exc)
            self.router.tell_singleton(RISK, rejected)
            self.router.tell_singleton(STORE, rejected)
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
