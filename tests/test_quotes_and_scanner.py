"""Newest quotes (``engine.core.quotes.QuoteBook``) and the scanner's trend component and ranking
(``engine.core.scanner``); the score itself is covered in depth by test_scanner_score.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.quotes import QuoteBook
from engine.core.scanner import ScanWeights, components, score
from engine.messages import (
    BarClosed,
    BookUpdated,
    FeaturesUpdated,
    Quote,
    TickerUpdated,
    TradesReceived,
)

T0 = 1_700_000_040_000
FUNDING = 0.0001  # every ticker's funding rate, carried into its symbol's quote
NO_BOOK = -1.0  # the depth of a quote whose symbol has had no book yet


def ticker(
    symbol: str = "BTCUSDT", ts: int = T0, bid: float = 99.0, ask: float = 101.0, last: float = 100.0,
    funding: float = FUNDING,
) -> TickerUpdated:  # fmt: skip
    return TickerUpdated(symbol, ts, last, bid, ask, volume_24h_usdt=1e9, funding_rate=funding)


def book(symbol: str = "BTCUSDT", ts: int = T0, bid: float = 99.5, ask: float = 100.5) -> BookUpdated:
    """2 units bid at ``bid`` and 3 offered at ``ask``, with more 1.0 further out on each side."""
    return BookUpdated(symbol, ts, ((bid, 2.0), (bid - 1, 5.0)), ((ask, 3.0), (ask + 1, 4.0)))


def quote(
    symbol: str, ts: int, bid: float, ask: float, last: float, depth: tuple[float, float] = (NO_BOOK, NO_BOOK),
    funding: float = FUNDING,
) -> Quote:  # fmt: skip
    """The quote expected: a ticker's funding rate and no book seen unless told."""
    return Quote(symbol, ts, bid, ask, last, depth[0], depth[1], funding)


def trade(symbol: str = "BTCUSDT", ts: int = T0, price: float = 100.2) -> TradesReceived:
    return TradesReceived(symbol, ts, price, price, price, price, 0.5)


def features(
    symbol: str = "BTCUSDT",
    ts: int = T0,
    ema_fast: float = 101.0,
    ema_slow: float = 100.0,
    atr: float = 1.0,
    warm: bool = True,
) -> FeaturesUpdated:
    """Features whose other score components (ATR expansion, momentum, volume) are the same for all."""
    return FeaturesUpdated(
        symbol,
        ts,
        last=100.0,
        bid=99.9,
        ask=100.1,
        spread_bps=2.0,
        depth_usdt=1e5,
        ema_fast=ema_fast,
        ema_slow=ema_slow,
        atr=atr,
        warm=warm,
        bar_closed=True,
        atr_median=1.0,
        momentum=0.01,
        volume_spike=1.0,
    )


# --- QuoteBook -------------------------------------------------------------------------------------


def test_empty_book_has_no_quotes() -> None:
    quotes = QuoteBook()
    assert quotes.get("BTCUSDT") is None
    assert quotes.drain_changed() == ()


def test_ticker_sets_bid_ask_last_and_ts() -> None:
    quotes = QuoteBook()
    quotes.on_event(ticker(bid=99.0, ask=101.0, last=100.0, ts=T0 + 5))
    assert quotes.get("BTCUSDT") == quote("BTCUSDT", T0 + 5, 99.0, 101.0, 100.0)


def test_newer_ticker_replaces_the_quote() -> None:
    quotes = QuoteBook()
    quotes.on_event(ticker(bid=99.0, ask=101.0, last=100.0))
    quotes.on_event(ticker(ts=T0 + 1, bid=104.0, ask=106.0, last=105.0))
    assert quotes.get("BTCUSDT") == quote("BTCUSDT", T0 + 1, 104.0, 106.0, 105.0)


def test_book_updates_bid_and_ask_from_the_top_level_and_keeps_last_and_funding() -> None:
    quotes = QuoteBook()
    quotes.on_event(ticker(bid=99.0, ask=101.0, last=100.0))
    quotes.on_event(book(ts=T0 + 10, bid=99.75, ask=99.875))
    # mid 99.8125: both top levels lie within 10 bps of it (0.0998), the next levels do not
    depth = (99.75 * 2.0, 99.875 * 3.0)
    assert quotes.get("BTCUSDT") == quote("BTCUSDT", T0 + 10, 99.75, 99.875, 100.0, depth)


def test_book_without_a_prior_quote_uses_the_mid_as_last() -> None:
    quotes = QuoteBook()
    quotes.on_event(book(bid=99.0, ask=101.0))
    # no ticker yet: no funding rate; a book seen with nothing within 10 bps of the mid: depth 0
    assert quotes.get("BTCUSDT") == quote("BTCUSDT", T0, 99.0, 101.0, 100.0, (0.0, 0.0), funding=0.0)


def test_book_depth_is_the_usdt_within_10_bps_of_the_mid_on_each_side() -> None:
    quotes = QuoteBook()
    # mid 100, so the band is 99.9 to 100.1: the first two levels of each side lie in it
    bids = ((99.95, 10.0), (99.91, 20.0), (99.85, 1_000.0))
    asks = ((100.05, 30.0), (100.09, 40.0), (100.2, 1_000.0))
    quotes.on_event(BookUpdated("BTCUSDT", T0, bids, asks))
    q = quotes.get("BTCUSDT")
    assert q is not None
    assert (q.bid_depth_usdt, q.ask_depth_usdt) == pytest.approx((99.95 * 10 + 99.91 * 20, 100.05 * 30 + 100.09 * 40))


def test_a_newer_book_replaces_the_depth_and_a_ticker_keeps_it() -> None:
    quotes = QuoteBook()
    quotes.on_event(book(bid=99.75, ask=99.875))
    quotes.on_event(book(ts=T0 + 1, bid=99.0, ask=101.0))
    quotes.on_event(ticker(ts=T0 + 2, bid=99.0, ask=101.0, last=100.5))
    assert quotes.get("BTCUSDT") == quote("BTCUSDT", T0 + 2, 99.0, 101.0, 100.5, (0.0, 0.0))


def test_a_newer_ticker_replaces_the_funding_rate() -> None:
    quotes = QuoteBook()
    quotes.on_event(ticker(funding=0.0001))
    quotes.on_event(ticker(ts=T0 + 1, funding=-0.0003))
    q = quotes.get("BTCUSDT")
    assert q is not None and q.funding_rate == -0.0003


@pytest.mark.parametrize(
    "empty",
    [
        BookUpdated("BTCUSDT", T0 + 1, (), ((101.0, 1.0),)),
        BookUpdated("BTCUSDT", T0 + 1, ((99.0, 1.0),), ()),
        BookUpdated("BTCUSDT", T0 + 1, (), ()),
    ],
)
def test_book_with_an_empty_side_is_ignored(empty: BookUpdated) -> None:
    quotes = QuoteBook()
    quotes.on_event(ticker())
    quotes.drain_changed()
    quotes.on_event(empty)
    assert quotes.get("BTCUSDT") == quote("BTCUSDT", T0, 99.0, 101.0, 100.0)
    assert quotes.drain_changed() == ()


def test_trade_before_any_quote_is_ignored() -> None:
    quotes = QuoteBook()
    quotes.on_event(trade(price=100.2))
    assert quotes.get("BTCUSDT") is None
    assert quotes.drain_changed() == ()


def test_trade_after_a_quote_updates_last_only() -> None:
    quotes = QuoteBook()
    quotes.on_event(ticker(bid=99.0, ask=101.0, last=100.0))
    quotes.on_event(trade(ts=T0 + 20, price=100.7))
    assert quotes.get("BTCUSDT") == quote("BTCUSDT", T0 + 20, 99.0, 101.0, 100.7)


def test_trade_uses_the_close_of_merged_trades_as_last() -> None:
    quotes = QuoteBook()
    quotes.on_event(ticker())
    quotes.on_event(TradesReceived("BTCUSDT", T0 + 30, 100.0, 102.0, 98.0, 101.5, 3.0, count=4))
    quote = quotes.get("BTCUSDT")
    assert quote is not None
    assert quote.last == 101.5


def test_events_of_one_symbol_do_not_touch_another() -> None:
    quotes = QuoteBook()
    quotes.on_event(ticker("BTCUSDT", bid=99.0, ask=101.0, last=100.0))
    quotes.on_event(ticker("ETHUSDT", bid=9.0, ask=11.0, last=10.0))
    quotes.on_event(trade("ETHUSDT", price=10.5))
    assert quotes.get("BTCUSDT") == quote("BTCUSDT", T0, 99.0, 101.0, 100.0)
    assert quotes.get("ETHUSDT") == quote("ETHUSDT", T0, 9.0, 11.0, 10.5)


def test_trade_for_a_symbol_without_a_quote_is_ignored_even_when_others_have_quotes() -> None:
    quotes = QuoteBook()
    quotes.on_event(ticker("BTCUSDT"))
    quotes.on_event(trade("ETHUSDT"))
    assert quotes.get("ETHUSDT") is None


def test_bar_closed_is_ignored() -> None:
    quotes = QuoteBook()
    quotes.on_event(BarClosed("BTCUSDT", 60_000, T0, 100.0, 101.0, 99.0, 100.5, 1.0))
    assert quotes.get("BTCUSDT") is None
    assert quotes.drain_changed() == ()


def test_drain_changed_returns_each_changed_symbol_once_with_its_newest_quote() -> None:
    quotes = QuoteBook()
    quotes.on_event(ticker("BTCUSDT", last=100.0))
    quotes.on_event(trade("BTCUSDT", ts=T0 + 1, price=100.3))
    quotes.on_event(trade("BTCUSDT", ts=T0 + 2, price=100.4))
    quotes.on_event(ticker("ETHUSDT", bid=9.0, ask=11.0, last=10.0))
    drained = quotes.drain_changed()
    assert sorted(drained, key=lambda q: q.symbol) == [
        quote("BTCUSDT", T0 + 2, 99.0, 101.0, 100.4),
        quote("ETHUSDT", T0, 9.0, 11.0, 10.0),
    ]


def test_drain_changed_returns_nothing_when_nothing_changed_since() -> None:
    quotes = QuoteBook()
    quotes.on_event(ticker())
    assert len(quotes.drain_changed()) == 1
    assert quotes.drain_changed() == ()


def test_drain_changed_reports_only_symbols_changed_since_the_last_drain() -> None:
    quotes = QuoteBook()
    quotes.on_event(ticker("BTCUSDT"))
    quotes.on_event(ticker("ETHUSDT"))
    quotes.drain_changed()
    quotes.on_event(trade("ETHUSDT", ts=T0 + 1, price=100.9))
    assert quotes.drain_changed() == (quote("ETHUSDT", T0 + 1, 99.0, 101.0, 100.9),)


def test_drain_keeps_the_quotes_readable() -> None:
    quotes = QuoteBook()
    quotes.on_event(ticker())
    quotes.drain_changed()
    assert quotes.get("BTCUSDT") == quote("BTCUSDT", T0, 99.0, 101.0, 100.0)


@given(
    events=st.lists(
        st.tuples(st.sampled_from(["AUSDT", "BUSDT", "CUSDT"]), st.sampled_from(["ticker", "book", "trade"])),
        max_size=30,
    )
)
def test_drain_changed_holds_exactly_the_symbols_whose_quote_was_set(events: list[tuple[str, str]]) -> None:
    quotes = QuoteBook()
    expected: set[str] = set()
    for i, (symbol, kind) in enumerate(events):
        if kind == "ticker":
            quotes.on_event(ticker(symbol, ts=T0 + i))
            expected.add(symbol)
        elif kind == "book":
            quotes.on_event(book(symbol, ts=T0 + i))
            expected.add(symbol)
        else:
            quotes.on_event(trade(symbol, ts=T0 + i))
            if quotes.get(symbol) is not None:
                expected.add(symbol)
    drained = quotes.drain_changed()
    assert len(drained) == len({q.symbol for q in drained})
    assert {q.symbol for q in drained} == expected
    assert all(quotes.get(q.symbol) == q for q in drained)
    assert quotes.drain_changed() == ()


# --- the trend component -------------------------------------------------------------------------
# Only trend strength differs between the features below, so the score orders them by it alone.
TREND_ONLY = ScanWeights(trend=1.0, atr_expansion=0.0, momentum=0.0, volume=0.0)


def trend_strength(f: FeaturesUpdated) -> float | None:
    values = components(f)
    return None if values is None else values[0]


def ranked(latest: dict[str, FeaturesUpdated], max_age_ms: int = 60_000) -> list[str]:
    return [s.symbol for s in score(latest, ScanWeights(), max_age_ms)]


def test_trend_strength_is_ema_distance_in_atrs() -> None:
    assert trend_strength(features(ema_fast=103.0, ema_slow=100.0, atr=2.0)) == pytest.approx(1.5)


def test_trend_strength_is_symmetric_for_down_trends() -> None:
    up = trend_strength(features(ema_fast=103.0, ema_slow=100.0, atr=2.0))
    down = trend_strength(features(ema_fast=97.0, ema_slow=100.0, atr=2.0))
    assert up == pytest.approx(down)


def test_cold_features_have_no_components() -> None:
    assert components(features(ema_fast=110.0, ema_slow=100.0, atr=1.0, warm=False)) is None


@pytest.mark.parametrize("atr", [0.0, -1.0])
def test_features_with_non_positive_atr_have_no_components(atr: float) -> None:
    assert components(features(ema_fast=110.0, ema_slow=100.0, atr=atr)) is None


# --- score: ranking ------------------------------------------------------------------------------


def test_score_of_nothing_is_empty() -> None:
    assert score({}, ScanWeights(), max_age_ms=60_000) == []


def test_score_orders_strongest_trend_first() -> None:
    latest = {
        "AUSDT": features("AUSDT", ema_fast=101.0, atr=1.0),  # 1.0
        "BUSDT": features("BUSDT", ema_fast=103.0, atr=1.0),  # 3.0
        "CUSDT": features("CUSDT", ema_fast=98.0, atr=1.0),  # 2.0
    }
    scored = score(latest, ScanWeights(), max_age_ms=60_000)
    assert [s.symbol for s in scored] == ["BUSDT", "CUSDT", "AUSDT"]
    # trend percentile 1, 0.5, 0; every other component ties at 0.5
    assert [s.score for s in scored] == pytest.approx([0.35 + 0.65 * 0.5, 0.35 * 0.5 + 0.65 * 0.5, 0.65 * 0.5])
    assert [s.trend for s in scored] == pytest.approx([3.0, 2.0, 1.0])


def test_score_normalizes_trend_by_atr_so_price_scale_does_not_matter() -> None:
    latest = {
        "BTCUSDT": features("BTCUSDT", ema_fast=90_300.0, ema_slow=90_000.0, atr=200.0),  # 1.5
        "DOGEUSDT": features("DOGEUSDT", ema_fast=0.1004, ema_slow=0.1000, atr=0.0002),  # 2.0
    }
    assert ranked(latest) == ["DOGEUSDT", "BTCUSDT"]


def test_score_breaks_ties_by_symbol_name() -> None:
    latest = {s: features(s, ema_fast=102.0, atr=1.0) for s in ("CUSDT", "AUSDT", "BUSDT")}
    scored = score(latest, ScanWeights(), max_age_ms=60_000)
    assert [s.symbol for s in scored] == ["AUSDT", "BUSDT", "CUSDT"]
    assert [s.score for s in scored] == pytest.approx([0.5, 0.5, 0.5])


def test_score_excludes_cold_features() -> None:
    latest = {
        "AUSDT": features("AUSDT", ema_fast=101.0),
        "BUSDT": features("BUSDT", ema_fast=120.0, warm=False),
    }
    assert ranked(latest) == ["AUSDT"]


def test_score_excludes_features_older_than_max_age_behind_the_newest() -> None:
    latest = {
        "AUSDT": features("AUSDT", ts=T0 + 120_000, ema_fast=101.0),
        "BUSDT": features("BUSDT", ts=T0 + 60_000, ema_fast=105.0),  # exactly max_age behind: kept
        "CUSDT": features("CUSDT", ts=T0 + 59_999, ema_fast=110.0),  # one ms too old
    }
    assert ranked(latest) == ["BUSDT", "AUSDT"]


def test_score_returns_every_eligible_symbol_the_caller_takes_the_top_n() -> None:
    latest = {f"S{i:02d}USDT": features(f"S{i:02d}USDT", ema_fast=100.0 + i) for i in range(10)}
    scored = score(latest, ScanWeights(), max_age_ms=60_000)
    assert len(scored) == 10
    assert [s.symbol for s in scored[:3]] == ["S09USDT", "S08USDT", "S07USDT"]


_feature_rows = st.dictionaries(
    keys=st.text(alphabet="ABCDEFGHIJ", min_size=1, max_size=3).map(lambda s: s + "USDT"),
    values=st.tuples(
        st.integers(min_value=0, max_value=300_000),  # ts offset
        st.floats(min_value=-50.0, max_value=50.0, allow_nan=False),  # ema_fast - ema_slow
        st.floats(min_value=0.01, max_value=10.0),  # atr
        st.booleans(),  # warm
    ),
    max_size=15,
)


@given(rows=_feature_rows, max_age_ms=st.integers(0, 300_000))
def test_trend_only_score_matches_a_reference_sort_of_eligible_symbols(
    rows: dict[str, tuple[int, float, float, bool]], max_age_ms: int
) -> None:
    latest = {
        s: features(s, ts=T0 + dt, ema_fast=100.0 + diff, ema_slow=100.0, atr=atr, warm=warm)
        for s, (dt, diff, atr, warm) in rows.items()
    }
    scored = score(latest, TREND_ONLY, max_age_ms=max_age_ms)

    newest = max((f.ts for f in latest.values()), default=0)
    eligible = {s for s, f in latest.items() if f.warm and newest - f.ts <= max_age_ms}
    assert {s.symbol for s in scored} == eligible
    for s in scored:
        assert s.trend == trend_strength(latest[s.symbol])
    strengths = {s.symbol: s.trend for s in scored}
    for s in scored:
        below = sum(v < s.trend for v in strengths.values())
        ties = sum(v == s.trend for v in strengths.values()) - 1
        expected = 0.5 if len(scored) == 1 else (below + ties / 2) / (len(scored) - 1)
        assert s.score == pytest.approx(expected)
    keys = [(-s.score, s.symbol) for s in scored]
    assert keys == sorted(keys)
