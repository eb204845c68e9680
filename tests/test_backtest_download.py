"""Candle history downloads (``engine.backtest.download``) against the simulated Bitget venue.

One in-process ``BitgetSimServer`` with 3000 1m bars of history serves every test over real HTTP,
through one ``BitgetRest`` (its pacing keeps the venue's per-second limit, so no 429 retry ever
skews a request count). The sim's clock is event time and moves on while the tests run, so each
test fixes ``now_ms`` from it and compares with the sim market's own bars of that window.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.bitget import constants as c
from adapters.bitget.rest import BitgetRest, RetryPolicy
from adapters.sim.bitget_server import BitgetSimServer
from engine.app import build_sim_feed
from engine.backtest.data import load
from engine.backtest.download import (
    HEADER,
    CorruptHistoryError,
    DownloadError,
    DownloadResult,
    download,
    history_path,
)
from engine.config import load_config
from engine.messages import BarClosed

MINUTE = 60_000
HISTORY_BARS = 3000
SYMBOL = "BTCUSDT"


@pytest.fixture(scope="module")
def srv() -> Iterator[BitgetSimServer]:
    server = BitgetSimServer(
        build_sim_feed(load_config(cli={"sim.symbols": 3, "sim.history_bars": HISTORY_BARS}, env={}))
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rest(srv: BitgetSimServer) -> BitgetRest:
    return BitgetRest(srv.rest_url)


def now_of(srv: BitgetSimServer) -> int:
    return srv.feed.market.now_ms


def candle_requests(srv: BitgetSimServer) -> int:
    return srv.requests.get(c.CANDLES, 0)


def venue_bars(srv: BitgetSimServer, symbol: str, interval: int, start: int, end: int) -> list[BarClosed]:
    """The sim market's own closed bars opening in ``[start, end)``."""
    return [b for b in srv.feed.candles(symbol, 10_000, interval) if start <= b.open_ts < end]


def rows_of(path: Path) -> list[list[str]]:
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER
    return [line.split(",") for line in lines[1:]]


def assert_same_bars(path: Path, bars: list[BarClosed]) -> None:
    rows = rows_of(path)
    assert [int(r[0]) for r in rows] == [b.open_ts for b in bars]
    got = np.array([[float(x) for x in r[1:6]] for r in rows])
    want = np.array([[b.open, b.high, b.low, b.close, b.volume] for b in bars])
    np.testing.assert_allclose(got, want, rtol=1e-9)  # the venue sends 10 significant digits


def window(now: int, days: float, interval: int = MINUTE) -> tuple[int, int]:
    end = now - now % interval
    start = int(now - days * 86_400_000)
    return start - start % interval, end


# --- a fresh download --------------------------------------------------------------------------------


def test_fresh_download_writes_every_closed_bar_of_the_window(
    srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path
) -> None:
    now = now_of(srv)
    start, end = window(now, 0.5)
    dest = history_path(tmp_path, "bitget", SYMBOL, "1m")
    calls: list[tuple[int, int]] = []
    before = dict(srv.requests)

    result = download(
        rest, SYMBOL, "1m", 0.5, dest, now_ms=now, chunk_bars=200, progress=lambda d, t: calls.append((d, t))
    )

    assert dest == tmp_path / "history" / "bitget" / "BTCUSDT-1m.csv"
    assert result == DownloadResult(
        SYMBOL, "1m", dest, added=720, total=720, first_ts=end - 720 * MINUTE, last_ts=end - MINUTE, requests=4,
        empty_chunks=0, gaps=0, missing_bars=0, rejected=0, start_ms=start, end_ms=end,
    )  # fmt: skip
    assert_same_bars(dest, venue_bars(srv, SYMBOL, MINUTE, start, end))
    assert np.all(np.diff([int(r[0]) for r in rows_of(dest)]) == MINUTE)
    assert calls == [(200, 720), (400, 720), (600, 720), (720, 720)]
    # paged in chunks of 200: four candle requests and no clock read (now_ms was given)
    assert candle_requests(srv) - before.get(c.CANDLES, 0) == 4
    assert srv.requests.get(c.SERVER_TIME, 0) == before.get(c.SERVER_TIME, 0)
    assert not list(dest.parent.glob(".*.part"))


def test_numbers_are_written_exactly_as_the_venue_sent_them(
    srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path
) -> None:
    now = now_of(srv)
    start, end = window(now, 0.1)
    dest = tmp_path / "BTCUSDT-1m.csv"
    download(rest, SYMBOL, "1m", 0.1, dest, now_ms=now, chunk_bars=50)
    params = {"symbol": SYMBOL, "productType": c.PRODUCT_TYPE, "granularity": "1m", "startTime": start,
              "endTime": end, "limit": 1000}  # fmt: skip
    sent = rest.request("GET", c.CANDLES, params)
    assert rows_of(dest) == [row[:6] for row in sent]


def test_the_forming_candle_is_never_written(srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path) -> None:
    now = now_of(srv) - 90_500  # half a minute into a candle that has since closed on the venue
    dest = tmp_path / "BTCUSDT-1m.csv"
    result = download(rest, SYMBOL, "1m", 0.05, dest, now_ms=now, chunk_bars=200)
    forming = now - now % MINUTE
    assert result.last_ts == forming - MINUTE
    assert int(rows_of(dest)[-1][0]) == forming - MINUTE


def test_the_file_loads_with_the_backtest_loader(srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path) -> None:
    now = now_of(srv)
    start, end = window(now, 0.5)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        download(rest, symbol, "1m", 0.5, history_path(tmp_path, "bitget", symbol, "1m"), now_ms=now)

    candles = load(history_path(tmp_path, "bitget", "ETHUSDT", "1m"))
    assert (candles.symbol, candles.interval_ms, len(candles)) == ("ETHUSDT", MINUTE, 720)
    assert list(candles.bars()) == venue_bars(srv, "ETHUSDT", MINUTE, start, end)
    # a folder of several symbols' files, picked by name
    from_folder = load(tmp_path / "history" / "bitget", symbol="BTCUSDT", timeframe="1m")
    assert list(from_folder.bars()) == venue_bars(srv, "BTCUSDT", MINUTE, start, end)
    assert from_folder.gaps() == []


def test_a_5m_download(srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path) -> None:
    now = now_of(srv)
    start, end = window(now, 0.5, 300_000)
    dest = history_path(tmp_path, "bitget", SYMBOL, "5m")
    result = download(rest, SYMBOL, "5m", 0.5, dest, now_ms=now, chunk_bars=50)
    bars = venue_bars(srv, SYMBOL, 300_000, start, end)
    assert dest.name == "BTCUSDT-5m.csv"
    assert (result.added, result.total, result.requests, result.timeframe) == (144, 144, 3, "5m")
    assert len(bars) == 144
    assert_same_bars(dest, bars)
    candles = load(dest)
    assert (candles.symbol, candles.interval_ms) == (SYMBOL, 300_000)
    assert candles.ts.tolist() == [b.open_ts for b in bars]
    # the venue sends 10 significant digits; a 5m volume summed from 1m bars has more
    np.testing.assert_allclose(candles.volume, [b.volume for b in bars], rtol=1e-9)
    np.testing.assert_array_equal(candles.close, [b.close for b in bars])


# --- the cache ---------------------------------------------------------------------------------------


def test_a_second_run_with_the_same_arguments_fetches_nothing(
    srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path
) -> None:
    now = now_of(srv)
    dest = tmp_path / "BTCUSDT-1m.csv"
    first = download(rest, SYMBOL, "1m", 0.5, dest, now_ms=now, chunk_bars=200)
    content = dest.read_bytes()
    before = candle_requests(srv)

    again = download(rest, SYMBOL, "1m", 0.5, dest, now_ms=now, chunk_bars=200)

    assert (again.added, again.total, again.requests) == (0, 720, 0)
    assert (again.first_ts, again.last_ts) == (first.first_ts, first.last_ts)
    assert candle_requests(srv) == before
    assert dest.read_bytes() == content


def test_a_second_run_on_the_venue_clock_costs_at_most_two_requests(
    srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path
) -> None:
    dest = tmp_path / "BTCUSDT-1m.csv"
    download(rest, SYMBOL, "1m", 0.2, dest)
    before = sum(srv.requests.values())

    again = download(rest, SYMBOL, "1m", 0.2, dest)

    assert again.requests <= 2  # the server time, and the candle that may have closed meanwhile
    assert sum(srv.requests.values()) - before == again.requests
    assert again.added <= 1
    end = now_of(srv) - now_of(srv) % MINUTE
    assert again.last_ts is not None and again.last_ts >= end - 2 * MINUTE


def test_later_runs_append_only_the_new_bars(srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path) -> None:
    now = now_of(srv)
    dest = tmp_path / "BTCUSDT-1m.csv"
    download(rest, SYMBOL, "1m", 0.5, dest, now_ms=now - 30 * MINUTE, chunk_bars=200)

    later = download(rest, SYMBOL, "1m", 0.5, dest, now_ms=now, chunk_bars=200)

    # the file keeps its older start: nothing is ever dropped, only added
    start, _ = window(now - 30 * MINUTE, 0.5)
    assert (later.added, later.total, later.requests) == (30, 750, 1)
    assert_same_bars(dest, venue_bars(srv, SYMBOL, MINUTE, start, now - now % MINUTE))
    assert load(dest).gaps() == []


# --- interruption and resumption ---------------------------------------------------------------------


def stop_after_first_chunk(done: int, total: int) -> None:
    raise KeyboardInterrupt


def test_an_interrupted_download_keeps_its_chunks_and_resumes(
    srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path
) -> None:
    now = now_of(srv)
    reference = tmp_path / "whole" / "BTCUSDT-1m.csv"
    download(rest, SYMBOL, "1m", 0.5, reference, now_ms=now, chunk_bars=200)
    dest = tmp_path / "BTCUSDT-1m.csv"

    with pytest.raises(KeyboardInterrupt):
        download(rest, SYMBOL, "1m", 0.5, dest, now_ms=now, chunk_bars=200, progress=stop_after_first_chunk)

    assert len(load(dest)) == 200  # a valid file holding the first chunk
    assert dest.read_text().splitlines() == reference.read_text().splitlines()[:201]
    before = candle_requests(srv)
    resumed = download(rest, SYMBOL, "1m", 0.5, dest, now_ms=now, chunk_bars=200)
    assert (resumed.added, resumed.total, resumed.requests) == (520, 720, 3)
    assert candle_requests(srv) - before == 3
    assert dest.read_bytes() == reference.read_bytes()


def test_a_torn_last_line_is_cut_off_and_fetched_again(srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path) -> None:
    now = now_of(srv)
    reference = tmp_path / "whole" / "BTCUSDT-1m.csv"
    download(rest, SYMBOL, "1m", 0.5, reference, now_ms=now, chunk_bars=200)
    lines = reference.read_bytes().splitlines(keepends=True)
    dest = tmp_path / "BTCUSDT-1m.csv"
    dest.write_bytes(b"".join(lines[:301]) + lines[301][:20])  # killed in the middle of a write

    resumed = download(rest, SYMBOL, "1m", 0.5, dest, now_ms=now, chunk_bars=200)

    assert (resumed.added, resumed.total) == (420, 720)
    assert dest.read_bytes() == reference.read_bytes()


def test_an_interrupted_backward_walk_keeps_what_it_fetched(
    srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path
) -> None:
    now = now_of(srv)
    reference = tmp_path / "whole" / "BTCUSDT-1m.csv"
    download(rest, SYMBOL, "1m", 1.0, reference, now_ms=now, chunk_bars=200)
    dest = tmp_path / "BTCUSDT-1m.csv"
    download(rest, SYMBOL, "1m", 0.5, dest, now_ms=now, chunk_bars=200)

    with pytest.raises(KeyboardInterrupt):
        download(rest, SYMBOL, "1m", 1.0, dest, now_ms=now, chunk_bars=200, progress=stop_after_first_chunk)

    assert len(load(dest)) == 920  # the newest older chunk was joined in front
    assert dest.read_text().splitlines()[1:] == reference.read_text().splitlines()[521:]
    download(rest, SYMBOL, "1m", 1.0, dest, now_ms=now, chunk_bars=200)
    assert dest.read_bytes() == reference.read_bytes()


# --- extending the window back -----------------------------------------------------------------------


def test_extending_days_prepends_the_older_part(srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path) -> None:
    now = now_of(srv)
    dest = tmp_path / "BTCUSDT-1m.csv"
    download(rest, SYMBOL, "1m", 0.5, dest, now_ms=now, chunk_bars=200)
    calls: list[tuple[int, int]] = []
    before = candle_requests(srv)

    longer = download(
        rest, SYMBOL, "1m", 1.0, dest, now_ms=now, chunk_bars=200, progress=lambda d, t: calls.append((d, t))
    )

    start, end = window(now, 1.0)
    assert (longer.added, longer.total, longer.first_ts, longer.requests) == (720, 1440, start, 4)
    assert candle_requests(srv) - before == 4
    assert calls == [(200, 720), (400, 720), (600, 720), (720, 720)]
    assert_same_bars(dest, venue_bars(srv, SYMBOL, MINUTE, start, end))
    fresh = tmp_path / "fresh" / "BTCUSDT-1m.csv"
    download(rest, SYMBOL, "1m", 1.0, fresh, now_ms=now, chunk_bars=200)
    assert dest.read_bytes() == fresh.read_bytes()
    assert not list(tmp_path.glob(".*.part"))


def test_going_back_stops_where_the_venue_has_nothing_older(
    srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path
) -> None:
    now = now_of(srv)
    history = venue_bars(srv, SYMBOL, MINUTE, 0, now - now % MINUTE)
    dest = tmp_path / "BTCUSDT-1m.csv"
    download(rest, SYMBOL, "1m", 0.5, dest, now_ms=now, chunk_bars=200)
    before = candle_requests(srv)

    longer = download(rest, SYMBOL, "1m", 10.0, dest, now_ms=now, chunk_bars=200)

    older = len(history) - 720
    assert (longer.added, longer.total, longer.first_ts) == (older, len(history), history[0].open_ts)
    assert longer.empty_chunks == 1
    assert longer.requests == -(-older // 200) + 1  # the walk back, then one empty chunk
    assert candle_requests(srv) - before == longer.requests
    assert_same_bars(dest, history)


def test_a_fresh_window_older_than_the_venue_history_finds_where_it_starts(
    srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path
) -> None:
    now = now_of(srv)
    start, end = window(now, 10.0)
    history = venue_bars(srv, SYMBOL, MINUTE, start, end)
    assert len(history) < (end - start) // MINUTE  # the venue has ~3000 bars of the 14400 asked for
    dest = tmp_path / "BTCUSDT-1m.csv"
    chunks = -(-(end - start) // (200 * MINUTE))

    result = download(rest, SYMBOL, "1m", 10.0, dest, now_ms=now, chunk_bars=200)

    assert (result.total, result.first_ts, result.last_ts) == (len(history), history[0].open_ts, end - MINUTE)
    assert_same_bars(dest, history)
    # the empty chunks before the history are skipped by bisection, not asked for one by one
    first_with_data = (history[0].open_ts - start) // (200 * MINUTE)
    assert result.empty_chunks == first_with_data > 0
    assert result.requests <= (chunks - first_with_data) + 1 + chunks.bit_length() < chunks
    assert result.gaps == 0

    before = candle_requests(srv)
    again = download(rest, SYMBOL, "1m", 11.0, dest, now_ms=now, chunk_bars=200)
    assert (again.added, again.requests, again.empty_chunks) == (0, 1, 1)  # one look further back: nothing
    assert candle_requests(srv) - before == 1


# --- errors ------------------------------------------------------------------------------------------


def test_an_unknown_symbol_is_a_clear_error(rest: BitgetRest, srv: BitgetSimServer, tmp_path: Path) -> None:
    dest = history_path(tmp_path, "bitget", "NOPEUSDT", "1m")
    with pytest.raises(DownloadError, match=r"NOPEUSDT.*(listed|refused)"):
        download(rest, "NOPEUSDT", "1m", 0.1, dest, now_ms=now_of(srv))
    assert not dest.exists()
    assert not dest.parent.exists() or not any(dest.parent.iterdir())


def test_an_unreachable_venue_names_the_symbol_and_says_how_to_resume(
    srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path
) -> None:
    now = now_of(srv)
    dest = tmp_path / "BTCUSDT-1m.csv"
    download(rest, SYMBOL, "1m", 0.1, dest, now_ms=now - 10 * MINUTE)
    content = dest.read_bytes()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    offline = BitgetRest(f"http://127.0.0.1:{port}", retry=RetryPolicy(attempts=1), timeout_s=2.0)

    with pytest.raises(DownloadError, match=r"BTCUSDT.*run again to resume"):
        download(offline, SYMBOL, "1m", 0.1, dest, now_ms=now)
    with pytest.raises(DownloadError, match="BTCUSDT"):
        download(offline, SYMBOL, "1m", 0.1, tmp_path / "other.csv")  # the clock read fails first
    assert dest.read_bytes() == content


GOOD = "1700000040000,10,11,9,10.5,3\n1700000100000,10.5,12,10,11,4\n"
CORRUPT = {
    "unsorted": f"{HEADER}\n1700000100000,10.5,12,10,11,4\n1700000040000,10,11,9,10.5,3\n",
    "repeated": f"{HEADER}\n1700000040000,10,11,9,10.5,3\n1700000040000,10,11,9,10.5,3\n",
    "not a number": f"{HEADER}\n1700000040000,10,11,9,10.5,3\n1700000100000,ten,12,10,11,4\n",
    "missing cells": f"{HEADER}\n1700000040000,10,11,9\n",
    "extra cells": f"{HEADER}\n{GOOD}1700000160000,10,11,9,10.5,3,7\n",
    "another layout": "open_time,open,high,low,close,volume,close_time\n1700000040000,10,11,9,10.5,3,1700000099999\n",
    "no header": GOOD,
    "not csv": "\x00\x01garbage\nmore garbage\n",
    "off the grid": f"{HEADER}\n1700000040000,10,11,9,10.5,3\n1700000130000,10.5,12,10,11,4\n",
    "impossible bar": f"{HEADER}\n1700000040000,10,9,11,10.5,3\n",
    "coarser bars": f"{HEADER}\n1700000100000,10,11,9,10.5,3\n1700000400000,10.5,12,10,11,4\n",
}


@pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_corrupt_file_is_an_error_and_is_left_untouched(
    content: str, srv: BitgetSimServer, rest: BitgetRest, tmp_path: Path
) -> None:
    dest = tmp_path / "BTCUSDT-1m.csv"
    dest.write_text(content)
    before = dict(srv.requests)
    with pytest.raises(CorruptHistoryError, match=r"BTCUSDT-1m\.csv.*delete it") as caught:
        download(rest, SYMBOL, "1m", 0.1, dest, now_ms=now_of(srv))
    assert caught.value.path == dest
    assert dest.read_text() == content
    assert srv.requests == before  # checked before asking the venue anything


def test_bad_arguments(rest: BitgetRest, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Bitget has no 2m candles"):
        download(rest, SYMBOL, "2m", 1, tmp_path / "x.csv", now_ms=0)
    with pytest.raises(ValueError, match="days"):
        download(rest, SYMBOL, "1m", 0, tmp_path / "x.csv", now_ms=0)
    with pytest.raises(ValueError, match="chunk_bars"):
        download(rest, SYMBOL, "1m", 1, tmp_path / "x.csv", now_ms=0, chunk_bars=0)


def test_history_path() -> None:
    data = Path("data")
    assert history_path(data, "bitget", "BTCUSDT", "1m") == Path("data/history/bitget/BTCUSDT-1m.csv")
    assert history_path(data, "bitget", "1000PEPEUSDT", "60m").name == "1000PEPEUSDT-1h.csv"
    for venue, symbol in (("bitget", "BTC/USDT"), ("bitget", "../x"), ("../x", "BTCUSDT"), ("", "BTCUSDT")):
        with pytest.raises(ValueError):
            history_path(data, venue, symbol, "1m")


# --- what the venue sends ----------------------------------------------------------------------------


class CannedRest(BitgetRest):
    """A venue whose candle answer is given: rows out of order, repeated, as JSON numbers, and one
    that cannot be a candle."""

    def __init__(self, rows: list[list[Any]]) -> None:
        super().__init__("http://127.0.0.1:9")
        self.rows = rows
        self.params: list[dict[str, Any]] = []

    def request(self, method: str, path: str, params: Any = None, body: Any = None, **_: Any) -> Any:
        if path == c.CONTRACTS:
            return []
        assert path == c.CANDLES
        self.params.append(dict(params))
        return self.rows


def test_venue_rows_are_sorted_deduplicated_checked_and_kept_verbatim(tmp_path: Path) -> None:
    t0 = 1_700_000_040_000 - 1_700_000_040_000 % MINUTE
    now = t0 + 5 * MINUTE + 1_000
    rows: list[list[Any]] = [
        [str(t0 + 2 * MINUTE), "10.50", "11", "10", "10.7", "1.0e-3", "1"],
        [t0, 10.1, 10.3, 9.9, 10.2, 5, 50.5],  # JSON numbers
        [str(t0 + MINUTE), "10.2", "10.6", "10.1", "10.5", "2", "20"],
        [str(t0 + MINUTE), "10.2", "10.6", "10.1", "10.5", "2", "20"],  # repeated
        [str(t0 + 3 * MINUTE), "10.7", "10.6", "10.8", "10.7", "1", "1"],  # high below low: not written
        [str(t0 + 4 * MINUTE), "10.7", "10.9", "10.6", "10.8", "1", "1"],
        [str(t0 + 5 * MINUTE), "10.8", "10.9", "10.6", "10.8", "1", "1"],  # forming at now
        [str(t0 - MINUTE), "10", "10.2", "9.8", "10.1", "1", "1"],  # before the window
    ]
    venue = CannedRest(rows)
    dest = tmp_path / "X-1m.csv"
    result = download(venue, "XUSDT", "1m", 5 * MINUTE / 86_400_000, dest, now_ms=now)
    assert dest.read_text().splitlines() == [
        HEADER,
        f"{t0},10.1,10.3,9.9,10.2,5",
        f"{t0 + MINUTE},10.2,10.6,10.1,10.5,2",
        f"{t0 + 2 * MINUTE},10.50,11,10,10.7,1.0e-3",
        f"{t0 + 4 * MINUTE},10.7,10.9,10.6,10.8,1",
    ]
    assert (result.added, result.rejected, result.gaps, result.missing_bars) == (4, 1, 1, 1)
    assert venue.params == [
        {"symbol": "XUSDT", "productType": c.PRODUCT_TYPE, "granularity": "1m", "startTime": t0,
         "endTime": t0 + 5 * MINUTE, "limit": 6}
    ]  # fmt: skip
    assert len(load(dest)) == 4


def test_a_request_never_asks_for_more_than_the_venue_serves(tmp_path: Path) -> None:
    venue = CannedRest([])
    day = 86_400_000
    with pytest.raises(DownloadError):  # nothing anywhere: then the contract list is read, which this venue lacks
        download(venue, "XUSDT", "1D", 400, tmp_path / "X-1d.csv", now_ms=1_700_000_000_000)
    spans = [p["endTime"] - p["startTime"] for p in venue.params]
    assert max(spans) <= 90 * day  # Bitget's longest query window
    assert all(p["limit"] <= 1000 for p in venue.params)
