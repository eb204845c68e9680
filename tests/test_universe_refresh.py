"""A running ``--symbols all`` engine follows the venue's listing: new contracts are added, delisted
ones removed; a symbol that only dipped below the volume minimum stays."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.sim.feed import SimFeed
from engine.app import Engine, build_sim_feed
from engine.config import load_config
from engine.universe import UniverseChange, universe_change


def test_new_listings_above_the_minimum_are_added() -> None:
    change = universe_change(["BTCUSDT"], ["BTCUSDT", "NEWUSDT"], {"BTCUSDT", "NEWUSDT", "THINUSDT"})

    assert change == UniverseChange(add=("NEWUSDT",), remove=())


def test_delisted_symbols_are_removed_and_thin_listed_ones_kept() -> None:
    change = universe_change(["BTCUSDT", "GONEUSDT", "THINUSDT"], ["BTCUSDT"], {"BTCUSDT", "THINUSDT"})

    assert change == UniverseChange(add=(), remove=("GONEUSDT",))


def test_a_quarantined_symbol_counted_as_present_is_not_added_again() -> None:
    assert universe_change(["BADUSDT"], ["BADUSDT"], {"BADUSDT"}) == UniverseChange((), ())


class ListingFeed(SimFeed):
    """The simulated market with a listing a test can change: ``hidden`` symbols are not listed."""

    hidden: set[str]

    def listed(self) -> list[str]:
        return [s for s in super().listed() if s not in self.hidden]

    def universe(self, min_volume_24h_usdt: float) -> list[str]:
        return [s for s in super().universe(min_volume_24h_usdt) if s not in self.hidden]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[Engine, ListingFeed]]:
    config = load_config(
        cli={"sim.symbols": 8, "sim.history_bars": 300, "engine.data_dir": str(tmp_path / "data"),
             "engine.log_dir": str(tmp_path / "logs"), "risk.min_volume_24h_usdt": 1},
        env={},
    )  # fmt: skip
    base = build_sim_feed(config)
    feed = ListingFeed(base.market, base.speed)
    feed.hidden = set(feed.market.universe()[-2:])
    running = Engine(config, source=feed)
    running.start()
    try:
        yield running, feed
    finally:
        running.stop()


def test_a_refresh_adds_a_new_listing_and_removes_a_delisting_while_running(
    engine: tuple[Engine, ListingFeed],
) -> None:
    running, feed = engine
    new = sorted(feed.hidden)
    delisted = feed.universe(1)[0]
    assert running.status()["symbol_list"] == sorted(feed.universe(1))

    feed.hidden = {delisted}
    change = running.refresh_universe()

    assert change == UniverseChange(add=tuple(new), remove=(delisted,))
    assert running.status()["symbol_list"] == sorted(feed.universe(1))
    assert delisted not in running.status()["symbol_list"]
    assert running.refresh_universe() == UniverseChange((), ())
