"""Portfolio funding: 8-hour UTC boundaries, who pays whom, once per boundary, state versions, and the
cash identity once flat."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.portfolio import Portfolio
from engine.messages import FundingPaid, OrderFilled, Quote, Side

DAY_MS = 86_400_000
HOUR = 3_600_000
MIDNIGHT = 19_700 * DAY_MS  # 2023-12-09 00:00 UTC
H08, H16, H24 = MIDNIGHT + 8 * HOUR, MIDNIGHT + 16 * HOUR, MIDNIGHT + 24 * HOUR
RATE = 0.0001
BUY, SELL = Side.LONG, Side.SHORT


def fill(
    fill_id: str, side: Side, qty: float, price: float, *, ts: int, symbol: str = "BTCUSDT",
    fee: float = 0.0, reduce_only: bool = False,
) -> OrderFilled:  # fmt: skip
    return OrderFilled(
        fill_id, f"oid-{fill_id}", symbol, ts, side, qty, price, fee, reduce_only, 0.0, "ema_cross", "entry",
    )  # fmt: skip


def quote(mid: float, rate: float, *, ts: int, symbol: str = "BTCUSDT") -> Quote:
    """A quote whose mid is exactly ``mid`` (bid and ask half a unit either side)."""
    return Quote(symbol, ts, mid - 0.5, mid + 0.5, mid, funding_rate=rate)


def holding(side: Side, qty: float = 2.0, mark: float = 110.0, rate: float = RATE) -> Portfolio:
    """A position opened at 01:00 and marked at 02:00; funding clock started at 01:00 (next 08:00)."""
    p = Portfolio(10_000.0)
    p.settle_funding(MIDNIGHT + HOUR)
    p.apply_fill(fill("open", side, qty, 100.0, ts=MIDNIGHT + HOUR))
    p.mark(quote(mark, rate, ts=MIDNIGHT + 2 * HOUR))
    return p


def version_2(state: dict[str, Any]) -> dict[str, Any]:
    """The same state as version 2 wrote it: no funding, no next boundary, no rate per position."""
    old = {k: v for k, v in state.items() if k not in ("funding", "next_funding")}
    positions = [{k: v for k, v in d.items() if k != "funding_rate"} for d in state["positions"]]
    return old | {"version": 2, "positions": positions}


# --- the funding clock --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "boundary"),
    [(MIDNIGHT + HOUR, H08), (MIDNIGHT + 9 * HOUR, H16), (MIDNIGHT + 23 * HOUR, H24), (H08 - 1, H08)],
)
def test_first_settlement_only_sets_the_next_8_hour_utc_boundary(now: int, boundary: int) -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("open", BUY, 2.0, 100.0, ts=now - 10 * HOUR))
    p.mark(quote(110.0, RATE, ts=now - 1))
    assert p.settle_funding(now) == []
    assert p.to_state()["next_funding"] == boundary
    assert p.funding == 0.0
    assert p.settle_funding(boundary - 1) == []
    assert [f.ts for f in p.settle_funding(boundary)] == [boundary]


def test_long_pays_a_positive_rate_at_the_boundary() -> None:
    p = holding(BUY, qty=2.0, mark=110.0)
    (paid,) = p.settle_funding(H08)
    assert paid == FundingPaid("BTCUSDT", H08, BUY, 2.0, 110.0, RATE, paid.amount)
    assert paid.amount == pytest.approx(-2.0 * 110.0 * RATE, rel=1e-12)


@pytest.mark.parametrize(
    ("side", "rate", "received"),
    [(BUY, RATE, -0.022), (SELL, RATE, 0.022), (BUY, -RATE, 0.022), (SELL, -RATE, -0.022)],
    ids=["long-pays-positive", "short-receives-positive", "long-receives-negative", "short-pays-negative"],
)
def test_amount_is_minus_qty_times_mark_times_rate_signed_by_side(side: Side, rate: float, received: float) -> None:
    p = holding(side, qty=2.0, mark=110.0, rate=rate)
    (paid,) = p.settle_funding(H08 + 1)
    assert (paid.side, paid.rate) == (side, rate)
    assert paid.amount == pytest.approx(received, rel=1e-12)


def test_cash_and_equity_change_by_exactly_the_amount() -> None:
    p = holding(BUY, qty=2.0, mark=110.0)
    cash, equity, unrealized = p.cash, p.equity, p.unrealized
    (paid,) = p.settle_funding(H08)
    assert p.funding == paid.amount
    assert p.cash == pytest.approx(cash + paid.amount, rel=1e-15)
    assert p.equity == pytest.approx(equity + paid.amount, rel=1e-15)
    assert p.unrealized == unrealized


def test_settling_the_same_time_again_pays_nothing() -> None:
    p = holding(BUY)
    assert len(p.settle_funding(H08 + 5)) == 1
    funding = p.funding
    assert p.settle_funding(H08 + 5) == []
    assert p.settle_funding(H08) == []
    assert p.funding == funding


def test_no_position_pays_nothing_at_the_boundary() -> None:
    p = Portfolio(10_000.0)
    p.settle_funding(MIDNIGHT + HOUR)
    assert p.settle_funding(H08) == []
    assert p.to_state()["next_funding"] == H16
    assert p.cash == 10_000.0


def test_zero_rate_pays_nothing_and_records_nothing() -> None:
    p = holding(BUY, rate=0.0)
    assert p.settle_funding(H08) == []
    assert p.funding == 0.0


def test_position_opened_after_the_boundary_pays_nothing_at_it() -> None:
    p = Portfolio(10_000.0)
    p.settle_funding(MIDNIGHT + HOUR)
    p.apply_fill(fill("eth", BUY, 1.0, 2_000.0, ts=H08 - HOUR, symbol="ETHUSDT"))
    p.apply_fill(fill("btc", BUY, 2.0, 100.0, ts=H08 + HOUR))
    p.mark(quote(2_000.0, RATE, ts=H08 + 2 * HOUR, symbol="ETHUSDT"))
    p.mark(quote(110.0, RATE, ts=H08 + 2 * HOUR))
    assert [f.symbol for f in p.settle_funding(H08 + 2 * HOUR)] == ["ETHUSDT"]


def test_position_opened_exactly_at_the_boundary_pays_nothing_at_it() -> None:
    p = Portfolio(10_000.0)
    p.settle_funding(MIDNIGHT + HOUR)
    p.apply_fill(fill("btc", BUY, 2.0, 100.0, ts=H08))
    p.mark(quote(110.0, RATE, ts=H08 + 1))
    assert p.settle_funding(H08 + 1) == []


def test_crossing_two_boundaries_at_once_settles_both() -> None:
    p = Portfolio(10_000.0)
    p.settle_funding(MIDNIGHT + HOUR)
    p.apply_fill(fill("btc", BUY, 2.0, 100.0, ts=MIDNIGHT + 2 * HOUR))
    p.apply_fill(fill("eth", SELL, 1.0, 2_000.0, ts=H08 + 2 * HOUR, symbol="ETHUSDT"))
    p.mark(quote(110.0, RATE, ts=H16 + HOUR))
    p.mark(quote(2_000.0, RATE, ts=H16 + HOUR, symbol="ETHUSDT"))
    paid = p.settle_funding(H16 + HOUR)
    assert [(f.symbol, f.ts) for f in paid] == [("BTCUSDT", H08), ("BTCUSDT", H16), ("ETHUSDT", H16)]
    assert [f.amount for f in paid] == pytest.approx([-0.022, -0.022, 0.2], rel=1e-12)
    assert p.funding == pytest.approx(-0.022 - 0.022 + 0.2, rel=1e-12)
    assert p.to_state()["next_funding"] == H24


def test_rate_and_mark_come_from_the_newest_quote() -> None:
    p = holding(BUY, qty=2.0, mark=110.0, rate=RATE)
    p.mark(quote(120.0, -0.0003, ts=H08 - HOUR))
    p.mark(quote(999.0, 0.01, ts=H08 - HOUR, symbol="ETHUSDT"))
    (paid,) = p.settle_funding(H08)
    assert (paid.mark, paid.rate) == (120.0, -0.0003)
    assert paid.amount == pytest.approx(2.0 * 120.0 * 0.0003, rel=1e-12)


# --- state --------------------------------------------------------------------------------------


def test_state_round_trip_keeps_funding_and_the_next_boundary() -> None:
    p = holding(SELL)
    p.settle_funding(H08)
    restored = Portfolio.from_state(json.loads(json.dumps(p.to_state())))
    assert restored.funding == p.funding != 0.0
    assert restored.to_state() == p.to_state()
    assert restored.to_state()["next_funding"] == H16


def test_restored_portfolio_does_not_pay_the_same_boundary_again() -> None:
    p = holding(SELL)
    p.settle_funding(H08)
    restored = Portfolio.from_state(json.loads(json.dumps(p.to_state())))
    assert restored.settle_funding(H08 + HOUR) == []
    assert restored.settle_funding(H16) == p.settle_funding(H16)
    assert restored.funding == p.funding


def test_version_2_state_loads_with_no_funding_and_an_unset_clock() -> None:
    p = holding(BUY)
    p.settle_funding(H08)
    restored = Portfolio.from_state(version_2(p.to_state()))
    assert restored.funding == 0.0
    assert restored.cash == pytest.approx(p.cash - p.funding, rel=1e-15)
    assert restored.position("BTCUSDT") == p.position("BTCUSDT")
    assert restored.settle_funding(H08 + HOUR) == []
    assert restored.to_state()["next_funding"] == H16


def test_version_2_position_pays_funding_only_once_a_quote_gives_its_rate() -> None:
    restored = Portfolio.from_state(version_2(holding(BUY).to_state()))
    restored.settle_funding(MIDNIGHT + 3 * HOUR)
    assert restored.settle_funding(H08) == []
    restored.mark(quote(110.0, RATE, ts=H08 + HOUR))
    assert [f.ts for f in restored.settle_funding(H16)] == [H16]


def test_book_funding_adds_the_amount_and_moves_the_next_boundary_past_it() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("btc", BUY, 2.0, 100.0, ts=MIDNIGHT + HOUR))
    p.mark(quote(110.0, RATE, ts=MIDNIGHT + 2 * HOUR))
    p.book_funding(FundingPaid("BTCUSDT", H08, BUY, 2.0, 110.0, RATE, -0.022))
    assert p.funding == -0.022
    assert p.cash == pytest.approx(10_000.0 - 0.022, rel=1e-15)
    assert p.to_state()["next_funding"] == H16
    assert p.settle_funding(H08 + HOUR) == []
    assert [f.ts for f in p.settle_funding(H16)] == [H16]


def test_book_funding_of_an_older_payment_does_not_move_the_boundary_back() -> None:
    p = Portfolio(10_000.0)
    p.book_funding(FundingPaid("BTCUSDT", H16, BUY, 2.0, 110.0, RATE, -0.022))
    p.book_funding(FundingPaid("BTCUSDT", H08, BUY, 2.0, 105.0, RATE, -0.021))
    assert p.funding == pytest.approx(-0.043, rel=1e-12)
    assert p.to_state()["next_funding"] == H24


def test_reset_peak_makes_the_next_snapshot_peak_the_current_equity() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("btc", BUY, 10.0, 100.0, ts=MIDNIGHT + HOUR))
    p.mark(quote(150.0, 0.0, ts=MIDNIGHT + 2 * HOUR))
    assert p.snapshot(MIDNIGHT + 2 * HOUR).peak_equity == 10_500.0
    p.mark(quote(80.0, 0.0, ts=MIDNIGHT + 3 * HOUR))
    assert p.snapshot(MIDNIGHT + 3 * HOUR).peak_equity == 10_500.0
    p.reset_peak()
    snap = p.snapshot(MIDNIGHT + 4 * HOUR)
    assert (snap.peak_equity, snap.equity) == (9_800.0, 9_800.0)


# --- property: the cash identity holds with funding ---------------------------------------------

SYMBOLS = ("BTCUSDT", "ETHUSDT")
rates = st.floats(min_value=-0.003, max_value=0.003, allow_subnormal=False)

step = st.one_of(
    st.tuples(
        st.just("fill"),
        st.sampled_from(SYMBOLS),
        st.sampled_from((BUY, SELL)),
        st.floats(min_value=0.01, max_value=20.0),
        st.floats(min_value=50.0, max_value=150.0),
        st.floats(min_value=0.0, max_value=2.0),
        st.booleans(),
        rates,
    ),
    st.tuples(
        st.just("quote"),
        st.sampled_from(SYMBOLS),
        st.floats(min_value=50.0, max_value=150.0),
        rates,
    ),
    st.tuples(st.just("wait"), st.integers(min_value=1, max_value=20).map(lambda hours: hours * HOUR - 1)),
)
"""A fill (then a quote at its price with a funding rate), a quote, or time passing with settlement."""


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(step, min_size=6, max_size=40), exit_price=st.floats(min_value=50.0, max_value=150.0))
def test_once_flat_cash_is_starting_equity_plus_trade_pnl_plus_funding(
    steps: list[tuple[Any, ...]], exit_price: float
) -> None:
    p = Portfolio(100_000.0)
    ts = MIDNIGHT + HOUR
    trades, payments = [], p.settle_funding(ts)
    for i, (kind, *args) in enumerate(steps):
        if kind == "fill":
            symbol, side, qty, price, fee, reduce_only, rate = args
            booked = fill(f"f{i}", side, qty, price, ts=ts, symbol=symbol, fee=fee, reduce_only=reduce_only)
            trades += p.apply_fill(booked)
            p.mark(quote(price, rate, ts=ts, symbol=symbol))
        elif kind == "quote":
            symbol, mid, rate = args
            p.mark(quote(mid, rate, ts=ts, symbol=symbol))
        else:
            ts += args[0]
            payments += p.settle_funding(ts)
    for symbol in SYMBOLS:
        open_ = p.position(symbol)
        if open_ is not None:
            close = fill(f"close-{symbol}", open_.side.opposite, open_.qty, exit_price, ts=ts, symbol=symbol, fee=0.5)
            trades += p.apply_fill(close)
    assert p.position("BTCUSDT") is None
    assert p.position("ETHUSDT") is None
    assert p.funding == pytest.approx(sum(f.amount for f in payments), rel=1e-9, abs=1e-12)
    expected = 100_000.0 + sum(t.pnl for t in trades) + p.funding
    assert p.cash == pytest.approx(expected, rel=1e-9)
    assert p.equity == p.cash
