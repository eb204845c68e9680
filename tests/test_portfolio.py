"""Portfolio ledger: hand-computed PnL and fees, duplicates, stops, day roll, state round trip."""

from __future__ import annotations

import json

import pytest

from engine.core.portfolio import Portfolio
from engine.messages import (
    EquitySampled,
    ExitPosition,
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


def quote(mid: float, ts: int = MIDNIGHT + 1_000, symbol: str = "BTCUSDT") -> Quote:
    return Quote(symbol, ts, mid - 0.1, mid + 0.1, mid)


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
        trade.pnl, trade.fees, "ema_cross", "", "take profit", risk=40.0 * (102.0 - 99.0),
    )  # fmt: skip
    assert (trade.pnl, trade.fees) == pytest.approx((314.912, 5.088))
    assert p.position("BTCUSDT") == PositionView("BTCUSDT", BUY, 60.0, 102.0, 99.0, 110.0, strategy="ema_cross")
    assert p.cash == pytest.approx(10_000.0 + 320.0 - 3.0 - 3.12 - 2.64)


def test_reversal_closes_the_long_and_opens_a_short_with_the_remainder() -> None:
    p = long_100_at_102()
    # sell 160 @ 105, fee 10.08: closes 100 (exit fee 6.30), opens short 60 (entry fee 3.78)
    (trade,) = p.apply_fill(fill("f3", SELL, 160.0, 105.0, 10.08, stop=107.0, strategy="breakout",
                                 reason="opposite signal"))  # fmt: skip
    assert (trade.qty, trade.side, trade.exit_price) == (100.0, BUY, 105.0)
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


def test_unknown_state_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        Portfolio.from_state({"version": 99})
