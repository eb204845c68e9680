"""Paper fill model: the taker pays the spread, slippage and the fee; sides are trade directions."""

from __future__ import annotations

import pytest

from adapters.paper.fill_model import PaperFillModel
from engine.messages import OrderFilled, Quote, Side, SubmitOrder

# bid 99.90 / ask 100.10: mid 100.00, half spread 0.10, 2 bps slippage of mid = 0.02
BID, ASK = 99.9, 100.1
QUOTE = Quote("BTCUSDT", 1_700_000_000_500, BID, ASK, 100.0)


def order(side: Side, reduce_only: bool = False, ts: int = 1_700_000_000_000) -> SubmitOrder:
    return SubmitOrder("oid-1", "BTCUSDT", ts, side, 50.0, 98.0, reduce_only, "ema_cross", "entry")


def test_buy_pays_the_ask_plus_slippage_of_mid() -> None:
    assert PaperFillModel().fill_price(Side.LONG, BID, ASK) == pytest.approx(100.12, abs=1e-12)


def test_sell_receives_the_bid_minus_slippage_of_mid() -> None:
    assert PaperFillModel().fill_price(Side.SHORT, BID, ASK) == pytest.approx(99.88, abs=1e-12)


def test_zero_slippage_fills_at_the_touch() -> None:
    model = PaperFillModel(slippage_bps=0.0)
    assert (model.fill_price(Side.LONG, BID, ASK), model.fill_price(Side.SHORT, BID, ASK)) == (
        ASK,
        BID,
    )


def test_fee_is_taker_fee_of_notional() -> None:
    assert PaperFillModel().fee(50.0, 100.12) == pytest.approx(3.0036, abs=1e-12)


def test_crossed_quote_is_refused() -> None:
    with pytest.raises(ValueError, match="no valid quote"):
        PaperFillModel().fill_price(Side.LONG, 100.2, 100.1)


def test_missing_bid_is_refused() -> None:
    with pytest.raises(ValueError, match="no valid quote"):
        PaperFillModel().fill_price(Side.SHORT, 0.0, 100.1)


def test_fill_copies_the_order_and_prices_it_against_the_quote() -> None:
    f = PaperFillModel().fill(order(Side.LONG), QUOTE, "fill-1")
    expected = OrderFilled(
        "fill-1", "oid-1", "BTCUSDT", QUOTE.ts, Side.LONG, 50.0, f.price, f.fee, False, 98.0,
        "ema_cross", "entry",
    )  # fmt: skip
    assert f == expected
    assert (f.price, f.fee) == pytest.approx((100.12, 3.0036))


def test_reduce_only_sell_closing_a_long_fills_at_the_bid_side() -> None:
    f = PaperFillModel().fill(order(Side.SHORT, reduce_only=True), QUOTE, "fill-2")
    assert (f.side, f.reduce_only) == (Side.SHORT, True)
    assert f.price == pytest.approx(99.88)


def test_fill_time_is_the_order_time_when_the_quote_is_older() -> None:
    f = PaperFillModel().fill(order(Side.LONG, ts=QUOTE.ts + 250), QUOTE, "fill-3")
    assert f.ts == QUOTE.ts + 250


def test_quote_of_another_symbol_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot fill"):
        PaperFillModel().fill(order(Side.LONG), Quote("ETHUSDT", 0, BID, ASK, 100.0), "fill-4")
