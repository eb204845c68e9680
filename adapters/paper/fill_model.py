"""The paper fill model: market orders filled locally against the quote, with spread, slippage, fee.

Sides are trade directions. ``SubmitOrder.side`` and ``OrderFilled.side`` say which way the order
trades, not which position it belongs to: LONG = buy, SHORT = sell. So a reduce-only order that
closes a LONG position has ``side=Side.SHORT`` (a sell), and one that closes a SHORT is LONG (a
buy).

Invariants: a fill always costs the taker more than the mid: a buy pays the ask
(``mid + half spread``) plus ``slippage_bps`` of the mid, a sell receives the bid minus the same
slippage; the fee is ``taker_fee`` of the notional, on every fill. The model is deterministic: the
same order and quote give the same fill, so backtests and their actor replays agree.
"""

from __future__ import annotations

from engine.messages import OrderFilled, Quote, Side, SubmitOrder


class PaperFillModel:
    """Fills market orders at the touch plus slippage and charges the taker fee (both fractions)."""

    def __init__(self, taker_fee: float = 0.0006, slippage_bps: float = 2.0) -> None:
        if taker_fee < 0.0 or slippage_bps < 0.0:
            raise ValueError(f"fee {taker_fee} and slippage {slippage_bps} must not be negative")
        self.taker_fee = taker_fee
        self.slippage_bps = slippage_bps

    def fill_price(self, side_of_trade: Side, bid: float, ask: float) -> float:
        """Price a market order of direction ``side_of_trade`` (LONG = buy) gets at ``bid``/``ask``.

        Raises ``ValueError`` on a missing or crossed quote: filling at a nonsense price would
        corrupt the ledger, whereas Execution can turn the error into an ``OrderRejected``.
        """
        if bid <= 0.0 or ask < bid:
            raise ValueError(f"no valid quote to fill against: bid {bid}, ask {ask}")
        slippage = (bid + ask) / 2.0 * self.slippage_bps / 10_000.0
        return ask + slippage if side_of_trade is Side.LONG else bid - slippage

    def fee(self, qty: float, price: float) -> float:
        """Taker fee in USDT of a fill of ``qty`` at ``price``."""
        return qty * price * self.taker_fee

    def fill(self, order: SubmitOrder, quote: Quote, fill_id: str) -> OrderFilled:
        """Fill all of ``order`` against ``quote``, at the later of the two event times."""
        if order.symbol != quote.symbol:
            raise ValueError(f"quote of {quote.symbol} cannot fill an order on {order.symbol}")
        price = self.fill_price(order.side, quote.bid, quote.ask)
        return OrderFilled(
            fill_id=fill_id,
            client_oid=order.client_oid,
            symbol=order.symbol,
            ts=max(order.ts, quote.ts),
            side=order.side,
            qty=order.qty,
            price=price,
            fee=self.fee(order.qty, price),
            reduce_only=order.reduce_only,
            stop=order.stop,
            strategy=order.strategy,
            reason=order.reason,
            target=order.target,
            regime=order.regime,
        )
