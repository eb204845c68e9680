"""The simulated venue's matching engine (``adapters.sim.exchange.SimExchange``), pure: no server,
no threads. Books are fed by hand, the clock is fixed, and every number is checked against what
the venue's rules say it must be (fills per level, fees, realised PnL, margin, the push shapes the
Bitget parsers read back).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.bitget.parsing import venue_fill, venue_position
from adapters.sim.exchange import HEDGE, ONE_WAY, ExchangeError, SimAccount, SimExchange, SimOrder
from engine.messages import Side
from engine.ports import Instrument, UnknownSymbolError

SYMBOL = "TESTUSDT"
OTHER = "OTHERUSDT"
INSTRUMENTS = {
    SYMBOL: Instrument(SYMBOL, tick_size=0.1, lot_size=0.01, min_qty=0.02, volume_24h_usdt=1e9, funding_rate=0.0001),
    OTHER: Instrument(OTHER, tick_size=0.1, lot_size=0.01, min_qty=0.01, volume_24h_usdt=1e9, funding_rate=0.0001),
}
NOW_MS = 1_735_680_000_000
START = 100_000.0
TAKER = 0.0006
MAKER = 0.0002

ASKS = ((100.0, 1.0), (101.0, 2.0), (102.0, 5.0))
BIDS = ((99.0, 1.0), (98.0, 2.0), (97.0, 5.0))
MID = 99.5


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, now_ms: int = NOW_MS) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def instrument(symbol: str) -> Instrument:
    try:
        return INSTRUMENTS[symbol]
    except KeyError:
        raise UnknownSymbolError(symbol) from None


def exchange(balance: float = START, *, bids: Any = BIDS, asks: Any = ASKS) -> SimExchange:
    """An exchange with one account and ``SYMBOL``'s book set."""
    ex = SimExchange(instrument, Clock(), SimAccount(balance=balance, taker_fee=TAKER, maker_fee=MAKER))
    ex.on_book(SYMBOL, bids, asks)
    return ex


def market(side: str, size: float, client_oid: str, **extra: str) -> dict[str, str]:
    return {"symbol": SYMBOL, "side": side, "orderType": "market", "size": str(size), "clientOid": client_oid} | extra


def limit(side: str, size: float, price: float, client_oid: str, force: str = "gtc", **extra: str) -> dict[str, str]:
    return market(side, size, client_oid, **extra) | {"orderType": "limit", "price": str(price), "force": force}


def fills_of(ex: SimExchange, order: SimOrder) -> list[tuple[float, float]]:
    """``(price, qty)`` of each fill of ``order``, oldest first."""
    return [(f.price, f.qty) for f in reversed(ex.fills()) if f.order is order]


def position(ex: SimExchange, hold: str, symbol: str = SYMBOL) -> dict[str, Any] | None:
    found = [p for p in ex.positions() if p["symbol"] == symbol and p["holdSide"] == hold]
    return found[0] if found else None


def refused(ex: SimExchange, body: dict[str, str]) -> str:
    """The code ``place`` refuses ``body`` with."""
    with pytest.raises(ExchangeError) as info:
        ex.place(body)
    return info.value.code


# --- market orders --------------------------------------------------------------------------------


def test_a_market_buy_takes_the_asks_level_by_level_with_one_fill_per_level():
    ex = exchange()

    order = ex.place(market("buy", 2.5, "m1"))

    assert fills_of(ex, order) == [(100.0, 1.0), (101.0, 1.5)]
    assert order.status == "filled"
    assert order.filled == pytest.approx(2.5)
    assert order.item()["priceAvg"] == "100.6"  # (100 * 1 + 101 * 1.5) / 2.5


def test_a_market_sell_takes_the_bids_from_the_best_down():
    ex = exchange()

    order = ex.place(market("sell", 1.5, "m1"))

    assert fills_of(ex, order) == [(99.0, 1.0), (98.0, 0.5)]


def test_each_taker_fill_pays_its_own_qty_times_price_times_the_taker_fee():
    ex = exchange()

    ex.place(market("buy", 2.5, "m1"))

    fees = [f.fee for f in reversed(ex.fills())]
    assert fees == pytest.approx([1.0 * 100.0 * TAKER, 1.5 * 101.0 * TAKER])
    assert all(not f.maker for f in ex.fills())


def test_opening_moves_the_wallet_only_by_the_fees_paid():
    ex = exchange()

    ex.place(market("buy", 2.5, "m1"))

    assert ex.account.balance == pytest.approx(START - (100.0 * 1.0 + 101.0 * 1.5) * TAKER)


def test_the_opened_position_is_the_order_size_at_the_average_fill_price():
    ex = exchange()

    ex.place(market("buy", 2.5, "m1"))

    long = position(ex, "long")
    assert long is not None
    assert float(long["total"]) == pytest.approx(2.5)
    assert float(long["openPriceAvg"]) == pytest.approx(100.6)
    assert float(long["markPrice"]) == pytest.approx(MID)


def test_a_market_order_larger_than_the_book_fills_its_remainder_at_the_last_level():
    ex = exchange()

    order = ex.place(market("buy", 10.0, "m1"))  # 8 on the book

    assert fills_of(ex, order) == [(100.0, 1.0), (101.0, 2.0), (102.0, 7.0)]
    assert order.status == "filled"


def test_closing_realises_the_price_difference_and_moves_the_wallet_by_it_minus_fees():
    ex = exchange()
    ex.place(market("buy", 1.0, "open"))  # 1 @ 100
    ex.on_book(SYMBOL, ((110.0, 5.0),), ((111.0, 5.0),))

    ex.place(market("sell", 1.0, "close", reduceOnly="YES"))  # 1 @ 110

    close = ex.fills()[0]
    assert close.profit == pytest.approx(10.0)
    assert ex.account.balance == pytest.approx(START + 10.0 - 100.0 * TAKER - 110.0 * TAKER)
    assert ex.positions() == []


# --- limit orders ---------------------------------------------------------------------------------


def test_a_marketable_limit_takes_as_taker_up_to_its_price_and_rests_the_remainder():
    ex = exchange()

    order = ex.place(limit("buy", 5.0, 101.0, "l1"))

    assert fills_of(ex, order) == [(100.0, 1.0), (101.0, 2.0)]
    assert all(not f.maker for f in ex.fills())
    assert order.status == "partially_filled"
    assert order.remaining == pytest.approx(2.0)
    assert ex.open_orders(SYMBOL) == [order]


def test_a_resting_limit_does_not_fill_while_the_book_stays_away_from_its_price():
    ex = exchange()
    order = ex.place(limit("buy", 2.0, 95.0, "l1"))

    ex.on_book(SYMBOL, ((96.0, 5.0),), ((95.1, 5.0),))

    assert order.status == "live"
    assert ex.fills() == []


def test_a_resting_limit_fills_as_maker_at_its_own_price_when_the_book_crosses_it():
    ex = exchange()
    order = ex.place(limit("buy", 2.0, 95.0, "l1"))

    ex.on_book(SYMBOL, ((93.0, 5.0),), ((94.0, 5.0),))  # the ask crosses to 94: the order fills at 95

    assert fills_of(ex, order) == [(95.0, 2.0)]
    (fill,) = ex.fills()
    assert fill.maker
    assert fill.fee == pytest.approx(2.0 * 95.0 * MAKER)
    assert order.status == "filled"
    assert ex.open_orders() == []


def test_a_resting_limit_fills_at_most_the_touching_level_size_per_book():
    ex = exchange()
    order = ex.place(limit("buy", 2.0, 95.0, "l1"))

    ex.on_book(SYMBOL, ((93.0, 5.0),), ((94.5, 0.5), (94.6, 9.0)))
    after_first = order.status
    ex.on_book(SYMBOL, ((93.0, 5.0),), ((94.8, 9.0),))

    assert after_first == "partially_filled"
    assert fills_of(ex, order) == [(95.0, 0.5), (95.0, 1.5)]
    assert order.status == "filled"


def test_the_rest_of_a_marketable_limit_fills_as_maker_later():
    ex = exchange()
    order = ex.place(limit("sell", 4.0, 98.0, "l1"))  # takes 99 x1 and 98 x2, rests 1 @ 98

    ex.on_book(SYMBOL, ((98.5, 3.0),), ((99.5, 3.0),))

    assert fills_of(ex, order) == [(99.0, 1.0), (98.0, 2.0), (98.0, 1.0)]
    assert [f.maker for f in reversed(ex.fills())] == [False, False, True]
    assert order.status == "filled"


def test_an_ioc_limit_fills_what_crosses_and_cancels_the_rest():
    ex = exchange()

    order = ex.place(limit("buy", 5.0, 101.0, "l1", force="ioc"))

    assert fills_of(ex, order) == [(100.0, 1.0), (101.0, 2.0)]
    assert order.status == "canceled"
    assert ex.open_orders() == []


def test_a_fok_limit_that_the_book_cannot_fill_whole_fills_nothing():
    ex = exchange()

    order = ex.place(limit("buy", 5.0, 101.0, "l1", force="fok"))  # 3 available up to 101

    assert order.status == "canceled"
    assert ex.fills() == []
    assert ex.positions() == []
    assert ex.account.balance == START


def test_a_fok_limit_that_the_book_can_fill_fills_whole():
    ex = exchange()

    order = ex.place(limit("buy", 3.0, 101.0, "l1", force="fok"))

    assert fills_of(ex, order) == [(100.0, 1.0), (101.0, 2.0)]
    assert order.status == "filled"


def test_a_post_only_limit_that_would_take_is_canceled_without_a_fill():
    ex = exchange()

    order = ex.place(limit("buy", 1.0, 100.0, "l1", force="post_only"))

    assert order.status == "canceled"
    assert ex.fills() == []
    assert ex.open_orders() == []


def test_a_post_only_limit_that_does_not_cross_rests_on_the_book():
    ex = exchange()

    order = ex.place(limit("buy", 1.0, 99.5, "l1", force="post_only"))

    assert order.status == "live"
    assert ex.open_orders() == [order]


# --- cancel and lookup ----------------------------------------------------------------------------


def test_canceling_a_resting_order_takes_it_off_the_book():
    ex = exchange()
    order = ex.place(limit("buy", 2.0, 95.0, "l1"))

    canceled = ex.cancel(SYMBOL, client_oid="l1")

    assert canceled is order
    assert order.status == "canceled"
    assert ex.open_orders() == []
    ex.on_book(SYMBOL, ((93.0, 5.0),), ((94.0, 5.0),))
    assert ex.fills() == []


def test_canceling_by_order_id_works_like_by_client_oid():
    ex = exchange()
    order = ex.place(limit("buy", 2.0, 95.0, "l1"))

    ex.cancel(SYMBOL, order_id=order.order_id)

    assert order.status == "canceled"


def test_canceling_a_filled_order_is_refused_with_22001():
    ex = exchange()
    ex.place(market("buy", 1.0, "m1"))

    with pytest.raises(ExchangeError) as info:
        ex.cancel(SYMBOL, client_oid="m1")

    assert info.value.code == "22001"


def test_canceling_an_already_canceled_order_is_refused_with_22001():
    ex = exchange()
    ex.place(limit("buy", 2.0, 95.0, "l1"))
    ex.cancel(SYMBOL, client_oid="l1")

    with pytest.raises(ExchangeError) as info:
        ex.cancel(SYMBOL, client_oid="l1")

    assert info.value.code == "22001"


def test_finding_an_unknown_order_is_refused_with_40109():
    ex = exchange()

    with pytest.raises(ExchangeError) as info:
        ex.find(SYMBOL, client_oid="never-sent")

    assert info.value.code == "40109"


def test_finding_an_order_under_another_symbol_is_refused_with_40109():
    ex = exchange()
    order = ex.place(limit("buy", 2.0, 95.0, "l1"))

    with pytest.raises(ExchangeError) as info:
        ex.find(OTHER, order_id=order.order_id)

    assert info.value.code == "40109"


def test_canceling_an_unknown_order_is_refused_with_40109():
    ex = exchange()

    with pytest.raises(ExchangeError) as info:
        ex.cancel(SYMBOL, client_oid="never-sent")

    assert info.value.code == "40109"


# --- clientOid idempotency ------------------------------------------------------------------------


def test_a_second_order_under_the_same_client_oid_is_refused_with_40786_and_changes_nothing():
    ex = exchange()
    first = ex.place(market("buy", 1.0, "same"))
    before = (ex.account.balance, ex.positions(), len(ex.fills()))

    assert refused(ex, market("buy", 2.0, "same")) == "40786"

    assert (ex.account.balance, ex.positions(), len(ex.fills())) == before
    assert ex.find(SYMBOL, client_oid="same") is first


def test_a_duplicate_client_oid_does_not_add_a_resting_order():
    ex = exchange()
    first = ex.place(limit("buy", 1.0, 95.0, "same"))

    assert refused(ex, limit("sell", 1.0, 105.0, "same")) == "40786"

    assert ex.open_orders() == [first]


def test_a_client_oid_stays_taken_after_its_order_is_canceled():
    ex = exchange()
    ex.place(limit("buy", 1.0, 95.0, "same"))
    ex.cancel(SYMBOL, client_oid="same")

    assert refused(ex, limit("buy", 1.0, 95.0, "same")) == "40786"


def test_a_refused_order_does_not_take_its_client_oid():
    ex = exchange(balance=10.0)
    assert refused(ex, market("buy", 5.0, "retry-me")) == "40762"
    ex.account.balance = START

    order = ex.place(market("buy", 5.0, "retry-me"))

    assert order.status == "filled"


# --- one-way mode ---------------------------------------------------------------------------------


def test_one_way_a_sell_bigger_than_the_long_closes_it_and_opens_a_short_of_the_rest():
    ex = exchange()
    ex.place(market("buy", 1.0, "open"))  # long 1 @ 100
    ex.on_book(SYMBOL, ((110.0, 5.0),), ((111.0, 5.0),))

    ex.place(market("sell", 3.0, "flip"))  # 3 @ 110: closes 1, opens short 2

    flip = ex.fills()[0]
    assert flip.qty == pytest.approx(3.0)
    assert flip.profit == pytest.approx(10.0)
    assert position(ex, "long") is None
    short = position(ex, "short")
    assert short is not None
    assert float(short["total"]) == pytest.approx(2.0)
    assert float(short["openPriceAvg"]) == pytest.approx(110.0)
    assert ex.account.balance == pytest.approx(START + 10.0 - 100.0 * TAKER - 330.0 * TAKER)


def test_one_way_adding_to_a_position_averages_its_entry():
    ex = exchange()
    ex.place(market("buy", 1.0, "a"))  # 1 @ 100
    ex.on_book(SYMBOL, BIDS, ((104.0, 5.0),))

    ex.place(market("buy", 3.0, "b"))  # 3 @ 104

    long = position(ex, "long")
    assert long is not None
    assert float(long["total"]) == pytest.approx(4.0)
    assert float(long["openPriceAvg"]) == pytest.approx(103.0)


def test_reduce_only_is_clipped_to_the_position_and_never_flips_it():
    ex = exchange()
    ex.place(market("buy", 1.0, "open"))

    order = ex.place(market("sell", 3.0, "close", reduceOnly="YES"))

    assert sum(q for _, q in fills_of(ex, order)) == pytest.approx(1.0)
    assert order.status == "filled"
    assert ex.positions() == []


def test_reduce_only_limit_is_clipped_to_the_position():
    ex = exchange()
    ex.place(market("buy", 1.0, "open"))

    order = ex.place(limit("sell", 3.0, 97.0, "close", force="ioc", reduceOnly="YES"))

    assert sum(q for _, q in fills_of(ex, order)) == pytest.approx(1.0)
    assert ex.positions() == []


def test_reduce_only_without_a_position_is_refused_with_22002():
    ex = exchange()

    assert refused(ex, market("sell", 1.0, "close", reduceOnly="YES")) == "22002"

    assert ex.fills() == []


def test_reduce_only_in_the_direction_of_the_position_is_refused_with_22002():
    ex = exchange()
    ex.place(market("buy", 1.0, "open"))

    assert refused(ex, market("buy", 1.0, "more", reduceOnly="YES")) == "22002"


def test_a_clipped_reduce_only_order_reports_its_end_once():
    ex = exchange()
    ex.place(market("buy", 1.0, "open"))
    ex.drain()

    ex.place(market("sell", 5.0, "close", reduceOnly="YES"))  # 3 levels on the bid, 1 to close

    finals = [d for ch, data in ex.drain() if ch == "orders" for d in data if d["status"] == "filled"]
    assert len(finals) == 1


# --- hedge mode -----------------------------------------------------------------------------------


def hedge_exchange() -> SimExchange:
    ex = exchange()
    ex.set_position_mode(HEDGE)
    return ex


def test_the_position_mode_can_change_while_flat():
    ex = exchange()

    ex.set_position_mode(HEDGE)

    assert ex.account.pos_mode == HEDGE
    assert ex.account_item()["posMode"] == HEDGE


def test_hedge_mode_holds_a_long_and_a_short_at_once():
    ex = hedge_exchange()

    ex.place(market("buy", 1.0, "long", tradeSide="open"))
    ex.place(market("sell", 2.0, "short", tradeSide="open"))

    long, short = position(ex, "long"), position(ex, "short")
    assert long is not None and float(long["total"]) == pytest.approx(1.0)
    assert short is not None and float(short["total"]) == pytest.approx(2.0)
    assert long["posMode"] == short["posMode"] == HEDGE


def test_hedge_mode_closing_a_long_is_buy_close_and_trades_as_a_sell():
    ex = hedge_exchange()
    ex.place(market("buy", 1.0, "long", tradeSide="open"))  # 1 @ 100
    ex.place(market("sell", 1.0, "short", tradeSide="open"))  # 1 @ 99
    ex.on_book(SYMBOL, ((110.0, 5.0),), ((111.0, 5.0),))

    order = ex.place(market("buy", 1.0, "close-long", tradeSide="close"))

    assert fills_of(ex, order) == [(110.0, 1.0)]  # took the bid: a sell
    assert ex.fills()[0].profit == pytest.approx(10.0)
    assert position(ex, "long") is None
    assert position(ex, "short") is not None


def test_hedge_mode_closing_a_short_is_sell_close_and_trades_as_a_buy():
    ex = hedge_exchange()
    ex.place(market("sell", 1.0, "short", tradeSide="open"))  # 1 @ 99
    ex.on_book(SYMBOL, ((90.0, 5.0),), ((91.0, 5.0),))

    order = ex.place(market("sell", 1.0, "close-short", tradeSide="close"))

    assert fills_of(ex, order) == [(91.0, 1.0)]  # took the ask: a buy
    assert ex.fills()[0].profit == pytest.approx(8.0)
    assert ex.positions() == []


def test_hedge_mode_a_close_is_clipped_to_its_position():
    ex = hedge_exchange()
    ex.place(market("buy", 1.0, "long", tradeSide="open"))

    order = ex.place(market("buy", 4.0, "close-long", tradeSide="close"))

    assert sum(q for _, q in fills_of(ex, order)) == pytest.approx(1.0)
    assert ex.positions() == []


def test_hedge_mode_closing_a_side_that_is_not_held_is_refused_with_22002():
    ex = hedge_exchange()
    ex.place(market("buy", 1.0, "long", tradeSide="open"))

    assert refused(ex, market("sell", 1.0, "close-short", tradeSide="close")) == "22002"


def test_hedge_mode_without_trade_side_is_refused_with_40774():
    ex = hedge_exchange()

    assert refused(ex, market("buy", 1.0, "m1")) == "40774"


def test_one_way_mode_with_a_trade_side_is_refused_with_40774():
    ex = exchange()

    assert refused(ex, market("buy", 1.0, "m1", tradeSide="open")) == "40774"


def test_the_position_mode_cannot_change_with_a_position_open():
    ex = exchange()
    ex.place(market("buy", 1.0, "m1"))

    with pytest.raises(ExchangeError) as info:
        ex.set_position_mode(HEDGE)

    assert info.value.code == "40017"
    assert ex.account.pos_mode == ONE_WAY


def test_the_position_mode_cannot_change_with_an_order_resting():
    ex = exchange()
    ex.place(limit("buy", 1.0, 95.0, "l1"))

    with pytest.raises(ExchangeError):
        ex.set_position_mode(HEDGE)

    assert ex.account.pos_mode == ONE_WAY


# --- margin and size ------------------------------------------------------------------------------


def test_an_order_needing_more_than_the_free_margin_is_refused_with_40762():
    ex = exchange(balance=1_000.0)  # 10x: a limit at 95 needs 9.5 + 0.057 per unit

    assert refused(ex, limit("buy", 105.0, 95.0, "big")) == "40762"  # needs 1003.49
    assert ex.place(limit("buy", 104.0, 95.0, "fits")).status == "live"  # needs 993.93


def test_a_market_order_is_margined_at_the_mid():
    ex = exchange(balance=1_000.0)  # 100 x 99.5 / 10 + 100 x 99.5 x 0.0006 = 1000.97

    assert refused(ex, market("buy", 100.0, "big")) == "40762"


def test_resting_orders_use_up_free_margin():
    ex = exchange(balance=1_000.0)
    ex.place(limit("buy", 100.0, 95.0, "first"))  # 950 of margin now in use

    assert refused(ex, limit("buy", 10.0, 95.0, "second")) == "40762"


def test_canceling_frees_the_margin_of_a_resting_order():
    ex = exchange(balance=1_000.0)
    ex.place(limit("buy", 100.0, 95.0, "first"))
    ex.cancel(SYMBOL, client_oid="first")

    assert ex.place(limit("buy", 100.0, 95.0, "second")).status == "live"


def test_higher_leverage_needs_less_margin():
    ex = exchange(balance=1_000.0)
    ex.set_leverage(SYMBOL, 20)

    order = ex.place(limit("buy", 200.0, 95.0, "big"))  # 200 x 95 / 20 + fee = 961.4

    assert order.status == "live"
    assert order.leverage == 20


def test_lower_leverage_needs_more_margin():
    ex = exchange(balance=1_000.0)
    ex.set_leverage(SYMBOL, 1)

    assert refused(ex, limit("buy", 11.0, 95.0, "big")) == "40762"  # 11 x 95 / 1 = 1045
    assert ex.place(limit("buy", 10.0, 95.0, "fits")).status == "live"


def test_leverage_outside_1_to_125_is_refused():
    ex = exchange()

    with pytest.raises(ExchangeError) as info:
        ex.set_leverage(SYMBOL, 126)

    assert info.value.code == "40017"


def test_reduce_only_needs_no_free_margin():
    ex = exchange(balance=1_000.0)
    ex.place(market("buy", 90.0, "open"))  # uses ~ 900 of margin

    order = ex.place(market("sell", 90.0, "close", reduceOnly="YES"))

    assert order.status == "filled"


def test_a_size_off_the_lot_grid_is_refused_with_40808():
    ex = exchange()

    assert refused(ex, market("buy", 0.125, "m1")) == "40808"


def test_a_size_under_the_minimum_is_refused_with_40808():
    ex = exchange()

    assert refused(ex, market("buy", 0.01, "m1")) == "40808"  # one lot, under min 0.02


def test_a_limit_price_off_the_tick_grid_is_refused():
    ex = exchange()

    assert refused(ex, limit("buy", 1.0, 95.05, "l1")) in ("40808", "41103")  # tick 0.1


def test_the_margin_mode_cannot_change_with_a_position_open():
    ex = exchange()
    ex.place(market("buy", 1.0, "m1"))

    with pytest.raises(ExchangeError) as info:
        ex.set_margin_mode(SYMBOL, "isolated")

    assert info.value.code == "40017"


def test_the_margin_mode_cannot_change_with_an_order_resting():
    ex = exchange()
    ex.place(limit("buy", 1.0, 95.0, "l1"))

    with pytest.raises(ExchangeError):
        ex.set_margin_mode(SYMBOL, "isolated")


def test_an_unlisted_symbol_is_refused_with_40034():
    ex = exchange()

    assert refused(ex, market("buy", 1.0, "m1") | {"symbol": "NOPEUSDT"}) == "40034"


def test_a_market_order_without_a_book_is_refused():
    ex = exchange()

    assert refused(ex, market("buy", 1.0, "m1") | {"symbol": OTHER}) == "40017"


# --- funding --------------------------------------------------------------------------------------


def test_a_long_pays_funding_of_notional_times_rate():
    ex = exchange()
    ex.place(market("buy", 2.0, "long"))
    before = ex.account.balance

    paid = ex.settle_funding(SYMBOL, 0.001)

    assert paid == pytest.approx(2.0 * MID * 0.001)
    assert ex.account.balance == pytest.approx(before - 2.0 * MID * 0.001)


def test_a_short_receives_funding_of_notional_times_rate():
    ex = exchange()
    ex.place(market("sell", 2.0, "short"))
    before = ex.account.balance

    paid = ex.settle_funding(SYMBOL, 0.001)

    assert paid == pytest.approx(-2.0 * MID * 0.001)
    assert ex.account.balance == pytest.approx(before + 2.0 * MID * 0.001)


def test_a_negative_rate_pays_longs():
    ex = exchange()
    ex.place(market("buy", 2.0, "long"))
    before = ex.account.balance

    ex.settle_funding(SYMBOL, -0.001)

    assert ex.account.balance == pytest.approx(before + 2.0 * MID * 0.001)


def test_funding_without_a_position_moves_nothing():
    ex = exchange()

    assert ex.settle_funding(SYMBOL, 0.001) == 0.0
    assert ex.account.balance == START
    assert ex.drain() == []


# --- fills listing --------------------------------------------------------------------------------


def test_fills_are_listed_newest_first_and_page_below_an_id():
    ex = exchange()
    ex.place(market("buy", 2.5, "m1"))
    ex.place(market("sell", 1.5, "m2"))
    oldest_first = [f.trade_id for f in reversed(ex.fills())]

    first = ex.fills(limit=2)
    rest = ex.fills(id_less_than=first[-1].trade_id, limit=2)

    assert [f.trade_id for f in first + rest] == oldest_first[::-1]
    assert ex.fills(id_less_than=rest[-1].trade_id) == []


def test_fills_are_filtered_by_time():
    clock = Clock()
    ex = SimExchange(instrument, clock, SimAccount(balance=START))
    ex.on_book(SYMBOL, BIDS, ASKS)
    ex.place(market("buy", 1.0, "early"))
    clock.now_ms += 60_000
    ex.place(market("buy", 1.0, "late"))

    late = ex.fills(since_ms=NOW_MS + 1)

    assert [f.order.client_oid for f in late] == ["late"]


# --- private pushes -------------------------------------------------------------------------------


def test_a_market_order_queues_order_fill_position_and_account_pushes_in_order():
    ex = exchange()

    ex.place(market("buy", 1.5, "m1"))  # two levels: two fills

    channels = [channel for channel, _ in ex.drain()]
    assert channels == [
        "orders",
        "fill", "orders", "positions", "account",
        "fill", "orders", "positions", "account",
    ]  # fmt: skip


def test_drain_empties_the_queue():
    ex = exchange()
    ex.place(market("buy", 1.5, "m1"))
    ex.drain()

    assert ex.drain() == []


def test_the_order_pushes_follow_the_order_from_live_to_filled():
    ex = exchange()

    ex.place(market("buy", 1.5, "m1"))

    orders = [d for ch, data in ex.drain() if ch == "orders" for d in data]
    assert [o["status"] for o in orders] == ["live", "partially_filled", "filled"]
    assert [o["accBaseVolume"] for o in orders] == ["0", "1", "1.5"]
    assert {o["clientOid"] for o in orders} == {"m1"}


def test_fill_pushes_parse_back_to_the_fills_numbers():
    ex = exchange()

    ex.place(market("buy", 1.5, "m1"))

    pushed = [venue_fill(d) for ch, data in ex.drain() if ch == "fill" for d in data]
    expected = list(reversed(ex.fills()))
    assert [(p.trade_id, p.qty, p.price, p.ts, p.client_oid) for p in pushed] == [
        (f.trade_id, f.qty, f.price, NOW_MS, "m1") for f in expected
    ]
    assert [p.fee for p in pushed] == pytest.approx([f.fee for f in expected])
    assert all(p.side is Side.LONG and not p.closing for p in pushed)


def test_a_reduce_only_fill_push_parses_as_a_closing_fill_in_the_trade_direction():
    ex = exchange()
    ex.place(market("buy", 1.0, "open"))
    ex.drain()

    ex.place(market("sell", 1.0, "close", reduceOnly="YES"))

    (fill,) = [venue_fill(d) for ch, data in ex.drain() if ch == "fill" for d in data]
    assert fill.side is Side.SHORT
    assert fill.closing


def test_a_hedge_close_fill_push_parses_to_the_trade_direction():
    ex = hedge_exchange()
    ex.place(market("buy", 1.0, "long", tradeSide="open"))
    ex.drain()

    ex.place(market("buy", 1.0, "close-long", tradeSide="close"))

    (fill,) = [venue_fill(d) for ch, data in ex.drain() if ch == "fill" for d in data]
    assert fill.side is Side.SHORT  # side=buy + close: the trade sells
    assert fill.closing
    assert fill.price == 99.0


def test_position_pushes_parse_back_to_the_position():
    ex = exchange()

    ex.place(market("buy", 2.5, "m1"))

    last = [data for ch, data in ex.drain() if ch == "positions"][-1]
    (parsed,) = [venue_position(d) for d in last]
    assert parsed.symbol == SYMBOL
    assert parsed.side is Side.LONG
    assert parsed.qty == pytest.approx(2.5)
    assert parsed.entry == pytest.approx(100.6)
    assert parsed.mark == pytest.approx(MID)
    assert [venue_position(p) for p in ex.positions()] == [parsed]


def test_a_closed_position_is_pushed_as_an_empty_list():
    ex = exchange()
    ex.place(market("buy", 1.0, "open"))
    ex.drain()

    ex.place(market("sell", 1.0, "close", reduceOnly="YES"))

    assert [data for ch, data in ex.drain() if ch == "positions"][-1] == []


def test_account_pushes_carry_the_equity_after_each_fill():
    ex = exchange()

    ex.place(market("buy", 1.0, "m1"))  # 1 @ 100, marked at 99.5

    (account,) = [data for ch, data in ex.drain() if ch == "account"][-1]
    balance = START - 100.0 * TAKER
    assert float(account["equity"]) == pytest.approx(balance - 0.5)
    assert float(account["unrealizedPL"]) == pytest.approx(-0.5)
    assert float(account["available"]) == pytest.approx(balance - 0.5 - 100.0 / 10)
    assert account["marginCoin"] == "USDT"


def test_a_cancel_pushes_the_canceled_order():
    ex = exchange()
    ex.place(limit("buy", 1.0, 95.0, "l1"))
    ex.drain()

    ex.cancel(SYMBOL, client_oid="l1")

    assert [(ch, data[0]["status"]) for ch, data in ex.drain()] == [("orders", "canceled")]


def test_funding_pushes_the_account():
    ex = exchange()
    ex.place(market("buy", 2.0, "long"))
    ex.drain()

    ex.settle_funding(SYMBOL, 0.001)

    assert [ch for ch, _ in ex.drain()] == ["account"]


# --- accounting properties ------------------------------------------------------------------------

FIXED_ASKS = ((100.0, 0.5), (100.5, 1.0), (101.0, 3.0))
FIXED_BIDS = ((99.5, 0.5), (99.0, 1.0), (98.5, 3.0))
FIXED_MID = 99.75

orders = st.lists(
    st.tuples(st.sampled_from(["buy", "sell"]), st.integers(min_value=2, max_value=600), st.booleans()),
    min_size=1,
    max_size=25,
)


@settings(max_examples=100, deadline=None)
@given(orders)
def test_one_way_market_orders_keep_positions_and_the_wallet_consistent_with_the_fills(
    sequence: list[tuple[str, int, bool]],
) -> None:
    ex = exchange(balance=1_000_000.0, bids=FIXED_BIDS, asks=FIXED_ASKS)
    for i, (side, lots, reduce_only) in enumerate(sequence):
        body = market(side, round(lots * 0.01, 2), f"p{i}", reduceOnly="YES" if reduce_only else "NO")
        try:
            ex.place(body)
        except ExchangeError as exc:
            assert exc.code == "22002" and reduce_only

    fills = ex.fills()
    assert all(f.qty > 0.0 for f in fills)
    signed = sum(f.qty * f.order.trade_sign for f in fills)
    long, short = position(ex, "long"), position(ex, "short")
    assert long is None or short is None
    held = float(long["total"]) if long else -float(short["total"]) if short else 0.0
    assert held == pytest.approx(signed, abs=1e-9)
    assert ex.account.balance == pytest.approx(1_000_000.0 + sum(f.profit for f in fills) - sum(f.fee for f in fills))
    # realised + unrealised = the cash flows of every fill valued at the mark
    cash = sum(f.order.trade_sign * f.qty * (FIXED_MID - f.price) for f in fills)
    assert ex.equity() == pytest.approx(1_000_000.0 + cash - sum(f.fee for f in fills))


@settings(max_examples=60, deadline=None)
@given(orders)
def test_a_reduce_only_order_never_grows_or_flips_a_position(sequence: list[tuple[str, int, bool]]) -> None:
    ex = exchange(balance=1_000_000.0, bids=FIXED_BIDS, asks=FIXED_ASKS)
    for i, (side, lots, reduce_only) in enumerate(sequence):
        before = sum(p.qty * p.side.sign for p in map(venue_position, ex.positions()))
        body = market(side, round(lots * 0.01, 2), f"p{i}", reduceOnly="YES" if reduce_only else "NO")
        try:
            ex.place(body)
        except ExchangeError:
            continue
        after = sum(p.qty * p.side.sign for p in map(venue_position, ex.positions()))
        if reduce_only:
            assert abs(after) <= abs(before) + 1e-9
            assert after * before >= -1e-12
