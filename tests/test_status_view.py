"""``engine status`` text: the risk part says the state, its rule, the switches on and the blocks."""

from __future__ import annotations

from engine.status_view import render

RISK = {
    "state": "HALTED",
    "code": "DRAWDOWN",
    "reason": "max drawdown: equity 8500.00 <= 8500.00 (peak 10000.00 - 15.00%)",
    "denials": {"WIDE_SPREAD": 7, "CORRELATION": 2},
    "entries": {"minute": 1, "hour": 4, "day": 9},
    "kill_switches": {"PEPEUSDT": "WIDE_SPREAD: spread 31.0 bps > 25 bps"},
    "kill_switch_count": 1,
    "blocked_pairs": [{"open": "BTCUSDT", "blocks": "ETHUSDT", "rho": 0.91}],
    "open_correlations": {"BTCUSDT": {"BTCUSDT": 1.0, "SOLUSDT": 0.42}, "SOLUSDT": {"BTCUSDT": 0.42, "SOLUSDT": 1.0}},
}


def lines() -> list[str]:
    return render({"mode": "paper", "venue": "sim", "risk": RISK}).splitlines()


def test_the_trading_state_line_names_the_rule_and_its_numbers() -> None:
    assert f"trading: HALTED [DRAWDOWN] {RISK['reason']}" in lines()


def test_entries_against_the_rate_windows_are_shown() -> None:
    assert "entries: 1 in the last minute, 4 in the last hour, 9 in the last day" in lines()


def test_each_kill_switch_on_is_listed_with_why() -> None:
    shown = lines()
    assert "kill-switches on: 1 symbols" in shown
    assert "  PEPEUSDT       WIDE_SPREAD: spread 31.0 bps > 25 bps" in shown


def test_correlation_blocks_and_open_pair_correlations_are_shown_once_per_pair() -> None:
    shown = lines()
    assert "correlation blocks: ETHUSDT (with BTCUSDT 0.91)" in shown
    assert "correlation among open positions: BTCUSDT/SOLUSDT 0.42" in shown


def test_denials_are_counted_by_code() -> None:
    assert "denials: CORRELATION 2, WIDE_SPREAD 7" in lines()
