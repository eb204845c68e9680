"""Rolling return correlations: hand-checkable cases and alignment rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.correlation import ReturnWindows

MINUTE = 60_000


def feed(windows: ReturnWindows, symbol: str, closes: list[float], start: int = 0) -> None:
    for i, close in enumerate(closes):
        windows.on_bar(symbol, start + i * MINUTE, close)


def test_a_symbol_and_its_double_correlate_perfectly_and_its_mirror_negatively() -> None:
    w = ReturnWindows(window=5)
    base = [100.0, 101.0, 99.0, 102.0, 103.0, 101.0]
    feed(w, "AUSDT", base)
    feed(w, "BUSDT", [2 * x for x in base])
    feed(w, "CUSDT", [200.0 - x for x in base])
    m = w.matrix()
    assert m.symbols == ("AUSDT", "BUSDT", "CUSDT")
    assert m.rho[0, 1] == pytest.approx(1.0)
    assert m.rho[0, 2] < -0.99
    assert m.most_correlated(1)[0][:2] == ("AUSDT", "BUSDT")


def test_symbols_without_a_full_window_are_left_out() -> None:
    w = ReturnWindows(window=5)
    feed(w, "AUSDT", [100.0, 101.0, 99.0, 102.0, 103.0, 101.0])
    feed(w, "BUSDT", [100.0, 101.0, 99.0])
    assert w.matrix().symbols == ("AUSDT",)


def test_a_symbol_whose_window_ends_earlier_is_not_compared_over_other_bars() -> None:
    w = ReturnWindows(window=3)
    feed(w, "AUSDT", [1.0, 2.0, 3.0, 4.0, 5.0])
    feed(w, "BUSDT", [1.0, 2.0, 3.0, 4.0])
    assert w.matrix().symbols == ("AUSDT",)


def test_a_window_with_a_gap_is_left_out() -> None:
    w = ReturnWindows(window=3)
    for t, close in ((0, 1.0), (MINUTE, 2.0), (3 * MINUTE, 3.0), (4 * MINUTE, 4.0)):
        w.on_bar("AUSDT", t, close)
    feed(w, "BUSDT", [1.0, 2.0, 3.0, 4.0], start=MINUTE)
    assert w.matrix().symbols == ("BUSDT",)


def test_a_repeated_or_older_bar_is_ignored() -> None:
    w = ReturnWindows(window=3)
    feed(w, "AUSDT", [1.0, 2.0, 4.0, 5.0])
    w.on_bar("AUSDT", MINUTE, 100.0)
    feed(w, "BUSDT", [1.0, 2.0, 4.0, 5.0])
    assert w.matrix().rho[0, 1] == pytest.approx(1.0)


@given(st.lists(st.floats(min_value=1.0, max_value=1e4), min_size=11, max_size=11), st.integers(2, 8))
def test_the_matrix_is_symmetric_with_a_unit_diagonal_and_bounded(closes: list[float], n: int) -> None:
    w = ReturnWindows(window=10)
    rng = np.random.default_rng(len(closes) + n)
    for k in range(n):
        feed(w, f"S{k}USDT", [c * (1 + 0.01 * rng.standard_normal()) for c in closes])
    m = w.matrix()
    assert np.allclose(m.rho, m.rho.T)
    assert np.all(np.abs(m.rho) <= 1.0 + 1e-9)
    assert np.all((np.abs(np.diag(m.rho) - 1.0) < 1e-9) | (np.diag(m.rho) == 0.0))
