"""Portfolio: stop and target exits, stop tightening, R risk from the initial stop, regimes, state v1 to v3."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.core.portfolio import STOP_REASON, TARGET_REASON, Portfolio
from engine.messages import ExitPosition, OrderFilled, PositionView, Quote, Regime, Side, TradeClosed

DAY_MS = 86_400_000
MIDNIGHT = 19_700 * DAY_MS  # 2023-12-09 00:00 UTC
BUY, SELL = Side.LONG, Side.SHORT
SYM = "BTCUSDT"


def fill(
    fill_id: str, side: Side, qty: float, price: float, fee: float = 0.0, *, ts: int = MIDNIGHT,
    stop: float = 0.0, target: float = 0.0, regime: str = "", reduce_only: bool = False,
    strategy: str = "trend", reason: str = "entry", symbol: str = SYM,
) -> OrderFilled:  # fmt: skip
    return OrderFilled(
        fill_id, f"oid-{fill_id}", symbol, ts, side, qty, price, fee, reduce_only, stop,
        strategy, reason, target, regime,
    )  # fmt: skip


def quote(mid: float, ts: int = MIDNIGHT + 1_000, symbol: str = SYM) -> Quote:
    return Quote(symbol, ts, mid - 0.1, mid + 0.1, mid)


def long_at_100(stop: float = 98.0, target: float = 104.0, regime: str = Regime.TRENDING) -> Portfolio:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", BUY, 10.0, 100.0, stop=stop, target=target, regime=regime))
    return p


def short_at_100(stop: float = 102.0, target: float = 96.0, regime: str = Regime.RANGING) -> Portfolio:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("f1", SELL, 10.0, 100.0, stop=stop, target=target, regime=regime))
    return p


def at(p: Portfolio, mid: float, ts: int = MIDNIGHT + 5_000) -> list[ExitPosition]:
    p.mark(quote(mid, ts))
    return p.exits_due()


# --- targets ------------------------------------------------------------------------------------


def test_a_long_target_is_reported_when_the_mark_reaches_it() -> None:
    p = long_at_100()
    assert at(p, 103.9) == []
    assert at(p, 104.0, MIDNIGHT + 6_000) == [ExitPosition(SYM, MIDNIGHT + 6_000, TARGET_REASON)]
    assert TARGET_REASON == "target"


def test_a_short_target_is_reported_when_the_mark_falls_to_it() -> None:
    p = short_at_100()
    assert at(p, 96.1) == []
    assert at(p, 95.0) == [ExitPosition(SYM, MIDNIGHT + 5_000, "target")]


def test_a_short_stop_is_reported_when_the_mark_rises_to_it() -> None:
    p = short_at_100()
    assert at(p, 101.9) == []
    assert at(p, 102.0) == [ExitPosition(SYM, MIDNIGHT + 5_000, STOP_REASON)]


def test_a_target_is_reported_once_per_position_state() -> None:
    p = long_at_100()
    assert len(at(p, 105.0)) == 1
    assert at(p, 106.0) == []
    assert at(p, 98.0) == []  # not even the stop: one exit is already on its way


def test_a_target_is_reported_again_after_a_fill_changes_the_position() -> None:
    p = long_at_100()
    at(p, 105.0)
    p.apply_fill(fill("f2", SELL, 4.0, 105.0, reduce_only=True, reason="target"))
    assert at(p, 105.0) == [ExitPosition(SYM, MIDNIGHT + 5_000, "target")]


def test_no_target_means_no_target_exit() -> None:
    p = long_at_100(target=0.0)
    assert at(p, 1_000.0) == []


def test_no_stop_means_no_stop_exit_but_the_target_still_counts() -> None:
    p = long_at_100(stop=0.0)
    assert at(p, 1.0) == []
    assert at(p, 104.0) == [ExitPosition(SYM, MIDNIGHT + 5_000, "target")]


# --- stop before target -------------------------------------------------------------------------


def test_the_stop_is_checked_before_the_target() -> None:
    # a stop tightened above the target (a long whose stop trailed past it): a mark beyond both is a stop
    p = long_at_100(stop=98.0, target=101.0)
    p.mark(quote(103.0))
    assert p.move_stop(SYM, 102.0) == 98.0
    assert at(p, 101.5) == [ExitPosition(SYM, MIDNIGHT + 5_000, "stop")]


def test_a_short_whose_mark_is_beyond_stop_and_target_is_stopped() -> None:
    p = short_at_100(stop=102.0, target=99.0)
    p.mark(quote(97.0))
    assert p.move_stop(SYM, 98.0) == 102.0
    assert at(p, 98.5) == [ExitPosition(SYM, MIDNIGHT + 5_000, "stop")]


def test_exits_of_several_positions_are_reported_together() -> None:
    p = Portfolio(10_000.0)
    p.apply_fill(fill("a", BUY, 1.0, 100.0, stop=98.0, target=104.0, symbol="AUSDT"))
    p.apply_fill(fill("b", SELL, 1.0, 50.0, stop=51.0, target=45.0, symbol="BUSDT"))
    p.apply_fill(fill("c", BUY, 1.0, 10.0, stop=9.0, target=11.0, symbol="CUSDT"))
    p.mark(quote(97.0, MIDNIGHT + 1, "AUSDT"))
    p.mark(quote(44.0, MIDNIGHT + 2, "BUSDT"))
    p.mark(quote(10.5, MIDNIGHT + 3, "CUSDT"))
    assert sorted(p.exits_due(), key=lambda e: e.symbol) == [
        ExitPosition("AUSDT", MIDNIGHT + 1, "stop"),
        ExitPosition("BUSDT", MIDNIGHT + 2, "target"),
    ]


# --- move_stop ----------------------------------------------------------------------------------


def test_move_stop_tightens_a_long_stop_upwards_and_returns_the_old_one() -> None:
    p = long_at_100()
    assert p.move_stop(SYM, 99.0) == 98.0
    assert p.move_stop(SYM, 99.5) == 99.0
    view = p.position(SYM)
    assert view is not None and view.stop == 99.5


def test_move_stop_tightens_a_short_stop_downwards() -> None:
    p = short_at_100()
    assert p.move_stop(SYM, 101.0) == 102.0
    view = p.position(SYM)
    assert view is not None and view.stop == 101.0


@pytest.mark.parametrize("stop", [97.0, 98.0])
def test_move_stop_never_widens_or_repeats_a_long_stop(stop: float) -> None:
    p = long_at_100()
    assert p.move_stop(SYM, stop) is None
    view = p.position(SYM)
    assert view is not None and view.stop == 98.0


@pytest.mark.parametrize("stop", [103.0, 102.0])
def test_move_stop_never_widens_or_repeats_a_short_stop(stop: float) -> None:
    p = short_at_100()
    assert p.move_stop(SYM, stop) is None
    view = p.position(SYM)
    assert view is not None and view.stop == 102.0


@pytest.mark.parametrize("stop", [0.0, -1.0, float("inf"), float("nan")])
def test_move_stop_to_a_non_positive_or_non_finite_price_is_refused(stop: float) -> None:
    p = long_at_100()
    assert p.move_stop(SYM, stop) is None
    view = p.position(SYM)
    assert view is not None and view.stop == 98.0


def test_move_stop_without_a_position_is_refused() -> None:
    assert Portfolio(10_000.0).move_stop(SYM, 99.0) is None
    assert long_at_100().move_stop("ETHUSDT", 99.0) is None


def test_a_position_without_a_stop_accepts_any_stop() -> None:
    p = long_at_100(stop=0.0)
    assert p.move_stop(SYM, 95.0) == 0.0
    view = p.position(SYM)
    assert view is not None and view.stop == 95.0


def test_a_tightened_stop_is_hit_at_its_new_level() -> None:
    p = long_at_100()
    p.move_stop(SYM, 101.0)
    assert at(p, 101.0) == [ExitPosition(SYM, MIDNIGHT + 5_000, "stop")]


def test_moving_the_stop_re_arms_the_exit_report() -> None:
    p = long_at_100()
    assert len(at(p, 97.0)) == 1  # stopped, exit on its way
    assert p.move_stop(SYM, 99.0) == 98.0
    assert p.exits_due() == [ExitPosition(SYM, MIDNIGHT + 5_000, "stop")]


def test_a_refused_stop_move_does_not_re_arm_the_exit_report() -> None:
    p = long_at_100()
    at(p, 97.0)
    assert p.move_stop(SYM, 90.0) is None
    assert p.exits_due() == []


# --- risk of a closed trade ---------------------------------------------------------------------


def test_trade_risk_is_measured_from_the_initial_stop_not_the_trailed_one() -> None:
    p = long_at_100(stop=98.0)
    p.move_stop(SYM, 99.0)
    p.move_stop(SYM, 103.0)
    (trade,) = p.apply_fill(fill("f2", SELL, 10.0, 103.0, ts=MIDNIGHT + 9_000, reduce_only=True, reason="stop"))
    assert trade.risk == pytest.approx(10.0 * 2.0)
    assert trade.pnl / trade.risk == pytest.approx(1.5)  # the R-multiple the bandit learns from


def test_short_trade_risk_is_from_the_initial_stop_above() -> None:
    p = short_at_100(stop=102.5)
    p.move_stop(SYM, 100.5)
    (trade,) = p.apply_fill(fill("f2", BUY, 10.0, 100.5, reduce_only=True))
    assert trade.risk == pytest.approx(25.0)
    assert trade.pnl == pytest.approx(-5.0)


def test_partial_closes_share_the_initial_risk_by_quantity() -> None:
    p = long_at_100(stop=98.0)
    p.move_stop(SYM, 99.5)
    (first,) = p.apply_fill(fill("f2", SELL, 4.0, 104.0, reduce_only=True))
    (second,) = p.apply_fill(fill("f3", SELL, 6.0, 99.5, reduce_only=True))
    assert (first.risk, second.risk) == pytest.approx((8.0, 12.0))


def test_a_trade_without_a_stop_has_no_risk() -> None:
    p = long_at_100(stop=0.0)
    (trade,) = p.apply_fill(fill("f2", SELL, 10.0, 99.0))
    assert trade.risk == 0.0


def test_a_trade_whose_stop_was_set_later_has_no_risk() -> None:
    # no stop at entry: nothing was risked against a stop, whatever stop came later
    p = long_at_100(stop=0.0)
    p.move_stop(SYM, 97.0)
    (trade,) = p.apply_fill(fill("f2", SELL, 10.0, 99.0))
    assert trade.risk == 0.0


def test_adding_to_a_position_resets_the_initial_stop_to_the_new_fills_stop() -> None:
    p = long_at_100(stop=98.0)
    p.apply_fill(fill("f2", BUY, 10.0, 104.0, stop=101.0))  # long 20 @ 102
    (trade,) = p.apply_fill(fill("f3", SELL, 20.0, 103.0))
    assert trade.risk == pytest.approx(20.0 * (102.0 - 101.0))


# --- regime and target carried ------------------------------------------------------------------


def test_the_fills_regime_and_target_are_kept_with_the_position() -> None:
    p = long_at_100(regime=Regime.TRENDING)
    assert p.position(SYM) == PositionView(SYM, BUY, 10.0, 100.0, 98.0, 100.0, 104.0, "trend", Regime.TRENDING)
    snapshot = p.snapshot(MIDNIGHT + 1)
    assert snapshot.positions[0].regime == "TRENDING"
    assert snapshot.positions[0].target == 104.0


def test_the_closed_trade_carries_the_entry_regime_not_the_exit_fills() -> None:
    p = long_at_100(regime=Regime.HIGH_VOLATILITY)
    (trade,) = p.apply_fill(
        fill("f2", SELL, 10.0, 101.0, ts=MIDNIGHT + 60_000, regime=Regime.RANGING, reduce_only=True, reason="x")
    )
    assert trade == TradeClosed(
        SYM, BUY, 10.0, MIDNIGHT, 100.0, MIDNIGHT + 60_000, 101.0, 10.0, 0.0, "trend", Regime.HIGH_VOLATILITY,
        "x", 20.0, "f2",
    )  # fmt: skip


def test_a_reversal_opens_the_new_position_with_the_new_fills_regime_target_and_stop() -> None:
    p = long_at_100(regime=Regime.TRENDING)
    (trade,) = p.apply_fill(
        fill("f2", SELL, 25.0, 101.0, stop=103.0, target=95.0, regime=Regime.RANGING, strategy="range")
    )
    assert (trade.regime, trade.qty) == (Regime.TRENDING, 10.0)
    assert p.position(SYM) == PositionView(SYM, SELL, 15.0, 101.0, 103.0, 101.0, 95.0, "range", Regime.RANGING)
    (second,) = p.apply_fill(fill("f3", BUY, 15.0, 100.0, reduce_only=True))
    assert (second.regime, second.risk) == (Regime.RANGING, pytest.approx(30.0))


def test_adding_keeps_the_old_target_when_the_new_fill_has_none() -> None:
    p = long_at_100(target=104.0)
    p.apply_fill(fill("f2", BUY, 10.0, 100.0, stop=98.0))
    view = p.position(SYM)
    assert view is not None and view.target == 104.0


# --- state --------------------------------------------------------------------------------------


def test_state_is_version_3_and_holds_target_regime_initial_stop_and_funding() -> None:
    p = long_at_100()
    p.move_stop(SYM, 99.0)
    p.mark(Quote(SYM, MIDNIGHT + 1_000, 99.9, 100.1, 100.0, funding_rate=0.0001))
    state = p.to_state()
    assert state["version"] == 3
    assert (state["funding"], state["next_funding"]) == (0.0, 0)
    (position,) = state["positions"]
    assert (position["target"], position["regime"], position["stop"], position["initial_stop"]) == (
        104.0,
        "TRENDING",
        99.0,
        98.0,
    )
    assert position["funding_rate"] == 0.0001


def test_a_state_round_trip_keeps_the_initial_stop_for_the_trade_risk() -> None:
    p = long_at_100()
    p.move_stop(SYM, 101.0)
    restored = Portfolio.from_state(json.loads(json.dumps(p.to_state())))
    assert restored.to_state() == p.to_state()
    close = fill("f2", SELL, 10.0, 101.0, reduce_only=True, reason="stop")
    (trade,) = restored.apply_fill(close)
    assert trade == p.apply_fill(close)[0]
    assert trade.risk == pytest.approx(20.0)


def version_1_state() -> dict[str, Any]:
    """What a portfolio of the previous release saved: positions without target, regime or initial stop."""
    return {
        "version": 1,
        "starting_equity": 10_000.0,
        "realised": 12.5,
        "fees": 1.5,
        "peak_equity": 10_020.0,
        "day_start_equity": 10_000.0,
        "day": 19_700,
        "seen_fill_ids": ["f0", "f1"],
        "positions": [
            {
                "symbol": SYM,
                "side": "long",
                "qty": 10.0,
                "entry": 100.0,
                "stop": 98.0,
                "entry_ts": MIDNIGHT,
                "strategy": "ema_cross",
                "entry_fees": 0.6,
                "mark": 101.0,
                "mark_ts": MIDNIGHT + 1_000,
                "stop_reported": False,
            }
        ],
    }


def test_a_version_1_state_is_read_with_no_target_no_regime_and_its_stop_as_initial_stop() -> None:
    p = Portfolio.from_state(version_1_state())
    assert p.position(SYM) == PositionView(SYM, BUY, 10.0, 100.0, 98.0, 101.0, 0.0, "ema_cross", "")
    assert (p.realised, p.fees, p.cash) == (12.5, 1.5, 10_011.0)
    assert p.has_fill("f1")
    state = p.to_state()
    assert state["version"] == 3
    assert (state["funding"], state["next_funding"]) == (0.0, 0)
    assert state["positions"][0] == version_1_state()["positions"][0] | {
        "target": 0.0,
        "regime": "",
        "initial_stop": 98.0,
        "funding_rate": 0.0,
    }


def test_a_version_1_position_trades_on_with_its_stop_as_the_risk() -> None:
    p = Portfolio.from_state(version_1_state())
    assert p.move_stop(SYM, 99.0) == 98.0
    assert at(p, 1_000.0) == []  # no target
    (trade,) = p.apply_fill(fill("f2", SELL, 10.0, 99.0, reduce_only=True, reason="stop"))
    assert (trade.risk, trade.regime, trade.strategy) == (20.0, "", "ema_cross")


def test_a_version_1_state_survives_a_json_round_trip_as_version_3() -> None:
    p = Portfolio.from_state(json.loads(json.dumps(version_1_state())))
    again = Portfolio.from_state(json.loads(json.dumps(p.to_state())))
    assert again.to_state() == p.to_state()


def test_the_version_1_state_given_is_not_modified() -> None:
    state = version_1_state()
    Portfolio.from_state(state)
    assert state == version_1_state()


def version_2_state() -> dict[str, Any]:
    """What a portfolio of the release before funding saved: no funding paid, no next funding time,
    positions without a funding rate."""
    v1 = version_1_state()
    position = v1["positions"][0] | {"target": 104.0, "regime": "TRENDING", "initial_stop": 97.0}
    return v1 | {"version": 2, "positions": [position]}


def test_a_version_2_state_is_read_with_no_funding_paid_and_no_rate() -> None:
    p = Portfolio.from_state(version_2_state())
    assert p.position(SYM) == PositionView(SYM, BUY, 10.0, 100.0, 98.0, 101.0, 104.0, "ema_cross", "TRENDING")
    assert (p.realised, p.fees, p.funding, p.cash) == (12.5, 1.5, 0.0, 10_011.0)
    state = p.to_state()
    assert state["version"] == 3
    assert (state["funding"], state["next_funding"]) == (0.0, 0)
    assert state["positions"][0] == version_2_state()["positions"][0] | {"funding_rate": 0.0}


def test_a_version_2_position_starts_funding_at_the_first_boundary_after_the_restart() -> None:
    p = Portfolio.from_state(version_2_state())
    p.mark(Quote(SYM, MIDNIGHT + 3_600_000, 99.9, 100.1, 100.0, funding_rate=0.0001))
    assert p.settle_funding(MIDNIGHT + 3_600_000) == []  # sets the next funding time, 08:00
    (paid,) = p.settle_funding(MIDNIGHT + 8 * 3_600_000)
    assert paid.amount == pytest.approx(-0.1)  # 10 x 100 x 0.01%, paid by the long


def test_a_version_2_position_trades_on_with_its_initial_stop_as_the_risk() -> None:
    p = Portfolio.from_state(version_2_state())
    (trade,) = p.apply_fill(fill("f2", SELL, 10.0, 99.0, reduce_only=True, reason="stop"))
    assert (trade.risk, trade.regime, trade.fill_id) == (pytest.approx(30.0), "TRENDING", "f2")


def test_a_version_2_state_survives_a_json_round_trip_as_version_3() -> None:
    p = Portfolio.from_state(json.loads(json.dumps(version_2_state())))
    again = Portfolio.from_state(json.loads(json.dumps(p.to_state())))
    assert again.to_state() == p.to_state()


def test_the_version_2_state_given_is_not_modified() -> None:
    state = version_2_state()
    Portfolio.from_state(state)
    assert state == version_2_state()


@pytest.mark.parametrize("version", [0, 4, None, "3"])
def test_other_state_versions_are_refused(version: object) -> None:
    state = version_1_state() | {"version": version}
    with pytest.raises(ValueError, match="version"):
        Portfolio.from_state(state)
