"""Portfolio ledger: hand-computed PnL, fees and funding, duplicates, stops, day roll, state round trip."""

from __future__ import annotations

import json
import math

import pytest

from engine.core.portfolio import Portfolio
from engine.messages import (
    EquitySampled,
    ExitPosition,
    FundingPaid,
    OrderFilled,
    PositionView,
    Quote,
    Side,
    TradeClosed,
)

DAY_MS = 86_400_000
MIDNIGHT = 19_700 * DAY_MS  # 2023-12-09 00:00 UTC
BUY, SELL = Side.LONG, Side.SHORT


def fill(
    fill_id: str, side: Side, qty: float, price: float, fee: float, *, ts: int = MIDNIGHT,
    stop: float = 0.0, reduce_only: bool = False, strategy: str = "ema_cross",
    reason: str = "entry",
) -> OrderFilled:  # fmt: skip
    return OrderFilled(
        fill_id, f"oid-{fill_id}", "BTCUSDT", ts, side, qty, price, fee, reduce_only, stop,
        strategy, reason,
    )  # fmt: skip


def quote(mid: float, ts: int = MIDNIGHT + 1_000, symbol: str = "BTCUSDT", funding_rate: float = 0.0) -> Quote:
    return Quote(symbol, ts, mid - 0.1, mid + 0.1, mid, funding_rate=funding_rate)


def long_100_at_102() -> Portfolio:
    """Buy 50 @ 100 (fee 3.00), add 50 @ 104 (fee 3.12): long 100 @ 102, entry fees 6.12."""
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 3.0, stop=98.0))
    p.apply_fill(fill("f2", BUY, 50.0, 104.0, 3.12, ts=MIDNIGHT + 60_000, stop=99.0))
    return p


# --- opening, adding, closing, reversing --------------------------------------------------------


def test_opening_pays_the_fee_from_cash() -> None:
    p = Portfolio(10_000.0)
    assert p.apply_fill(fill("f1", BUY, 50.0, 100.0, 3.0, stop=98.0)) == []
    assert (p.cash, p.equity) == (9_997.0, 9_997.0)
    assert p.position("BTCUSDT") == PositionView("BTCUSDT", BUY, 50.0, 100.0, 98.0, 100.0, strategy="ema_cross")


def test_mark_at_the_quote_mid_gives_unrealized_pnl() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 3.0))
    p.mark(quote(102.0))
    assert p.unrealized == pytest.approx(100.0)
    assert p.equity == pytest.approx(10_097.0)


def test_adding_averages_the_entry_and_takes_the_new_stop() -> None:
    p = long_100_at_102()
    assert p.position("BTCUSDT") == PositionView("BTCUSDT", BUY, 100.0, 102.0, 99.0, 104.0, strategy="ema_cross")
    assert p.cash == pytest.approx(9_993.88)


def test_partial_close_realises_pnl_net_of_its_share_of_both_fees() -> None:
    p = long_100_at_102()
    # sell 40 @ 110, fee 2.64: gross 8 x 40 = 320; fees 2.64 + 6.12 x 40/100 = 5.088
    (trade,) = p.apply_fill(fill("f3", SELL, 40.0, 110.0, 2.64, ts=MIDNIGHT + 120_000,
                                 reduce_only=True, reason="take profit"))  # fmt: skip
    assert trade == TradeClosed(
        "BTCUSDT", BUY, 40.0, MIDNIGHT, 102.0, MIDNIGHT + 120_000, 110.0,
        trade.pnl, trade.fees, "ema_cross", "", "take profit", risk=40.0 * (102.0 - 99.0), fill_id="f3",
    )  # fmt: skip
    assert (trade.pnl, trade.fees) == pytest.approx((314.912, 5.088))
    assert p.position("BTCUSDT") == PositionView("BTCUSDT", BUY, 60.0, 102.0, 99.0, 110.0, strategy="ema_cross")
    assert p.cash == pytest.approx(10_000.0 + 320.0 - 3.0 - 3.12 - 2.64)


def test_a_closed_trade_names_the_fill_that_closed_it() -> None:
    p = long_100_at_102()
    (trade,) = p.apply_fill(fill("f3", SELL, 100.0, 101.0, 6.06, reduce_only=True))
    assert trade.fill_id == "f3"


def test_reversal_closes_the_long_and_opens_a_short_with_the_remainder() -> None:
    p = long_100_at_102()
    # sell 160 @ 105, fee 10.08: closes 100 (exit fee 6.30), opens short 60 (entry fee 3.78)
    (trade,) = p.apply_fill(fill("f3", SELL, 160.0, 105.0, 10.08, stop=107.0, strategy="breakout",
                                 reason="opposite signal"))  # fmt: skip
    assert (trade.qty, trade.side, trade.exit_price, trade.fill_id) == (100.0, BUY, 105.0, "f3")
    assert trade.fees == pytest.approx(6.12 + 6.30)
    assert trade.pnl == pytest.approx(300.0 - 12.42)
    assert p.position("BTCUSDT") == PositionView("BTCUSDT", SELL, 60.0, 105.0, 107.0, 105.0, strategy="breakout")


def test_closing_a_reversed_short_charges_it_only_its_own_entry_fee() -> None:
    p = long_100_at_102()
    p.apply_fill(fill("f3", SELL, 160.0, 105.0, 10.08, stop=107.0, strategy="breakout"))
    # buy 60 @ 100, fee 3.60: gross (105 - 100) x 60 = 300; fees 3.78 + 3.60
    (trade,) = p.apply_fill(fill("f4", BUY, 60.0, 100.0, 3.6, reduce_only=True, reason="stop"))
    assert (trade.side, trade.entry_price, trade.strategy) == (SELL, 105.0, "breakout")
    assert trade.pnl == pytest.approx(300.0 - 7.38)
    assert p.position("BTCUSDT") is None


def test_once_flat_cash_is_starting_equity_plus_the_sum_of_trade_pnl() -> None:
    p = long_100_at_102()
    trades = p.apply_fill(fill("f3", SELL, 40.0, 110.0, 2.64))
    trades += p.apply_fill(fill("f4", SELL, 160.0, 105.0, 10.08))
    trades += p.apply_fill(fill("f5", BUY, 100.0, 100.0, 6.0))
    assert p.position("BTCUSDT") is None
    assert p.cash == pytest.approx(10_000.0 + sum(t.pnl for t in trades))
    assert p.equity == p.cash


def test_same_fill_id_twice_changes_nothing() -> None:
    p = long_100_at_102()
    before = p.to_state()
    assert p.apply_fill(fill("f2", BUY, 50.0, 104.0, 3.12)) == []
    assert p.to_state() == before


def test_reduce_only_beyond_the_position_books_only_the_position_and_its_fee_share() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 3.0))
    (trade,) = p.apply_fill(fill("f2", SELL, 100.0, 100.0, 6.0, reduce_only=True))
    assert trade.qty == 50.0
    assert p.position("BTCUSDT") is None
    assert p.cash == pytest.approx(10_000.0 - 3.0 - 3.0)


def test_reduce_only_without_a_position_books_nothing() -> None:
    p = Portfolio(10_000.0)
    assert p.apply_fill(fill("f1", SELL, 50.0, 100.0, 3.0, reduce_only=True)) == []
    assert (p.position("BTCUSDT"), p.cash) == (None, 10_000.0)


def test_fill_without_qty_is_an_error() -> None:
    with pytest.raises(ValueError, match="positive qty"):
        Portfolio(10_000.0).apply_fill(fill("f1", BUY, 0.0, 100.0, 0.0))


@pytest.mark.parametrize(("qty", "price"), [(math.nan, 100.0), (50.0, math.nan), (50.0, math.inf)])
def test_fill_with_a_qty_or_price_that_is_not_finite_is_an_error(qty: float, price: float) -> None:
    p = Portfolio(10_000.0)
    with pytest.raises(ValueError, match="positive qty"):
        p.apply_fill(fill("f1", BUY, qty, price, 0.0))
    assert (p.position("BTCUSDT"), p.equity) == (None, 10_000.0)


# --- stops --------------------------------------------------------------------------------------


def test_long_stop_is_hit_once_when_the_mark_reaches_it() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 3.0, stop=98.0))
    p.mark(quote(98.5))
    assert p.exits_due() == []
    p.mark(quote(98.0, ts=MIDNIGHT + 5_000))
    assert p.exits_due() == [ExitPosition("BTCUSDT", MIDNIGHT + 5_000, "stop")]
    p.mark(quote(97.0, ts=MIDNIGHT + 6_000))
    assert p.exits_due() == []


def test_short_stop_is_hit_when_the_mark_rises_to_it() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", SELL, 50.0, 100.0, 3.0, stop=102.0))
    p.mark(quote(102.5))
    assert [e.symbol for e in p.exits_due()] == ["BTCUSDT"]


def test_stop_is_reported_again_after_a_fill_changes_the_position() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 3.0, stop=98.0))
    p.mark(quote(97.0))
    p.exits_due()
    p.apply_fill(fill("f2", SELL, 20.0, 97.0, 1.0, reduce_only=True))
    assert len(p.exits_due()) == 1


# --- funding ------------------------------------------------------------------------------------

EIGHT_HOURS = 8 * 3_600_000


def test_the_first_settlement_only_sets_the_next_funding_time() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 0.0))
    p.mark(quote(102.0, funding_rate=0.0001))
    assert p.settle_funding(MIDNIGHT + 1_000) == []
    assert p.settle_funding(MIDNIGHT + EIGHT_HOURS - 1) == []
    assert p.funding == 0.0


def test_a_long_pays_a_positive_rate_at_the_boundary_on_its_mark() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 3.0))
    p.mark(quote(102.0, funding_rate=0.0001))
    p.settle_funding(MIDNIGHT + 1_000)
    # 50 x 102 x 0.01% = 0.51 USDT paid
    (paid,) = p.settle_funding(MIDNIGHT + EIGHT_HOURS)
    assert paid == FundingPaid("BTCUSDT", MIDNIGHT + EIGHT_HOURS, BUY, 50.0, 102.0, 0.0001, paid.amount)
    assert paid.amount == pytest.approx(-0.51)
    assert p.funding == pytest.approx(-0.51)
    assert p.cash == pytest.approx(10_000.0 - 3.0 - 0.51)
    assert p.equity == pytest.approx(p.cash + 100.0)


def test_a_short_receives_a_positive_rate() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", SELL, 50.0, 100.0, 0.0))
    p.mark(quote(100.0, funding_rate=0.0001))
    p.settle_funding(MIDNIGHT + 1_000)
    (paid,) = p.settle_funding(MIDNIGHT + EIGHT_HOURS)
    assert paid.amount == pytest.approx(0.5)


def test_each_boundary_is_settled_once_even_when_several_passed() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 0.0))
    p.mark(quote(100.0, funding_rate=0.0001))
    p.settle_funding(MIDNIGHT + 1_000)
    paid = p.settle_funding(MIDNIGHT + 2 * EIGHT_HOURS + 5)
    assert [f.ts for f in paid] == [MIDNIGHT + EIGHT_HOURS, MIDNIGHT + 2 * EIGHT_HOURS]
    assert p.settle_funding(MIDNIGHT + 2 * EIGHT_HOURS + 6) == []
    assert p.funding == pytest.approx(-1.0)


def test_a_position_opened_after_a_boundary_pays_nothing_for_it() -> None:
    p = Portfolio(10_000.0)
    p.settle_funding(MIDNIGHT + 1_000)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 0.0, ts=MIDNIGHT + EIGHT_HOURS))
    p.mark(quote(100.0, ts=MIDNIGHT + EIGHT_HOURS, funding_rate=0.0001))
    assert p.settle_funding(MIDNIGHT + EIGHT_HOURS) == []


def test_a_zero_rate_pays_nothing() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 0.0))
    p.mark(quote(100.0))
    p.settle_funding(MIDNIGHT + 1_000)
    assert p.settle_funding(MIDNIGHT + EIGHT_HOURS) == []


def test_once_flat_cash_is_starting_equity_plus_trade_pnl_plus_funding() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 3.0))
    p.mark(quote(100.0, funding_rate=0.0002))
    p.settle_funding(MIDNIGHT + 1_000)
    p.settle_funding(MIDNIGHT + EIGHT_HOURS)
    (trade,) = p.apply_fill(fill("f2", SELL, 50.0, 104.0, 3.12, ts=MIDNIGHT + EIGHT_HOURS + 1, reduce_only=True))
    assert p.cash == pytest.approx(10_000.0 + trade.pnl + p.funding)
    assert p.funding == pytest.approx(-1.0)
    assert p.equity == p.cash


def test_booking_a_recorded_payment_applies_it_and_leaves_later_boundaries_due() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 0.0))
    p.book_funding(FundingPaid("BTCUSDT", MIDNIGHT + EIGHT_HOURS, BUY, 50.0, 100.0, 0.0001, -0.5))
    assert p.funding == -0.5
    p.mark(quote(100.0, ts=MIDNIGHT + EIGHT_HOURS + 1, funding_rate=0.0001))
    assert p.settle_funding(MIDNIGHT + EIGHT_HOURS + 1) == []
    assert [f.ts for f in p.settle_funding(MIDNIGHT + 2 * EIGHT_HOURS)] == [MIDNIGHT + 2 * EIGHT_HOURS]


# --- snapshots, day roll, equity curve ----------------------------------------------------------


def test_day_start_resets_at_the_first_snapshot_of_a_new_utc_day() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 3.0))
    assert p.snapshot(MIDNIGHT + 1).day_start_equity == 9_997.0
    p.mark(quote(110.0))
    assert p.snapshot(MIDNIGHT + DAY_MS - 1).day_start_equity == 9_997.0
    assert p.snapshot(MIDNIGHT + DAY_MS).day_start_equity == pytest.approx(10_497.0)


def test_peak_equity_keeps_the_highest_snapshot() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 3.0))
    p.mark(quote(110.0))
    p.snapshot(MIDNIGHT + 1)
    p.mark(quote(90.0))
    snap = p.snapshot(MIDNIGHT + 2)
    assert (snap.peak_equity, snap.equity) == pytest.approx((10_497.0, 9_497.0))


def test_equity_point_splits_equity_into_cash_and_unrealized() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 3.0))
    p.mark(quote(102.0))
    assert p.equity_point(MIDNIGHT + 9) == EquitySampled(MIDNIGHT + 9, 10_097.0, 9_997.0, 100.0, 1)


# --- state --------------------------------------------------------------------------------------


def test_state_round_trip_through_json_resumes_exactly() -> None:
    p = long_100_at_102()
    p.apply_fill(fill("f3", SELL, 40.0, 110.0, 2.64))
    p.mark(quote(97.0, ts=MIDNIGHT + 200_000))
    p.exits_due()
    p.snapshot(MIDNIGHT + 200_000)
    restored = Portfolio.from_state(json.loads(json.dumps(p.to_state())))
    assert restored.to_state() == p.to_state()
    assert restored.snapshot(MIDNIGHT + DAY_MS) == p.snapshot(MIDNIGHT + DAY_MS)
    assert restored.exits_due() == []
    assert restored.apply_fill(fill("f3", SELL, 40.0, 110.0, 2.64)) == []
    close = fill("f4", SELL, 60.0, 96.0, 3.456, reason="stop")
    assert restored.apply_fill(close) == p.apply_fill(close)


def test_state_round_trip_keeps_funding_paid_and_the_next_funding_time() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 50.0, 100.0, 0.0))
    p.mark(quote(100.0, funding_rate=0.0001))
    p.settle_funding(MIDNIGHT + 1_000)
    p.settle_funding(MIDNIGHT + EIGHT_HOURS)
    restored = Portfolio.from_state(json.loads(json.dumps(p.to_state())))
    assert restored.to_state() == p.to_state()
    assert (restored.funding, restored.cash) == (p.funding, p.cash)
    assert restored.settle_funding(MIDNIGHT + EIGHT_HOURS + 1) == []
    assert restored.settle_funding(MIDNIGHT + 2 * EIGHT_HOURS) == p.settle_funding(MIDNIGHT + 2 * EIGHT_HOURS)


def test_unknown_state_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        Portfolio.from_state({"version": 99})
