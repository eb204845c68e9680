"""Session-wide set-up shared by every test module."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core.indicators import adx, atr, bollinger, ema, rolling_median, sma, volume_spike


@pytest.fixture(autouse=True, scope="session")
def _batch_kernels_loaded() -> None:
    """Have numba compile, or load from its cache, every batch indicator kernel once, up front.

    The first batch call imports numba and loads its kernel: half a second with a warm cache,
    several without. Inside a hypothesis test that first example would overrun the 200 ms
    deadline, whichever module happens to call a batch function first. numba compiles read-only
    arrays (candles are frozen) apart from writable ones, hence both.
    """
    writable = np.linspace(1.0, 2.0, 8)
    frozen = writable.copy()
    frozen.flags.writeable = False
    for x in (writable, frozen):
        ema(x, 2)
        atr(x, x, x, 2)
        sma(x, 2)
        adx(x, x, x, 2)
        bollinger(x, 2)
        volume_spike(x, 2)
        rolling_median(x, 2)
