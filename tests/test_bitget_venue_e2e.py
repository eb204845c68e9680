"""End to end: `engine sim serve` is a venue speaking Bitget's public protocol on loopback, and
`engine start --venue bitget` trades on it through the Bitget adapter (REST history, WebSocket data).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_cli import ENGINE_CMD, clean_env, engines, run_cli, stop_process, wait_for  # noqa: F401 (fixture)

URL = re.compile(r"^(REST|WebSocket) (\S+)$", re.MULTILINE)


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A running `engine sim serve`: its REST and WebSocket URLs."""
    out = tmp_path / "venue.stdout"
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [*ENGINE_CMD, "sim", "serve"], cwd=tmp_path, env=clean_env(), stdout=stdout, stderr=subprocess.STDOUT
        )
    try:
        wait_for(lambda: len(URL.findall(out.read_text())) == 2 or proc.poll() is not None, 60, "the venue's URLs")
        urls = dict(URL.findall(out.read_text()))
        assert set(urls) == {"REST", "WebSocket"}, out.read_text()
        yield urls
    finally:
        stop_process(proc)


def _status(tmp_path: Path) -> dict:
    result = run_cli(tmp_path, "status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_an_engine_on_the_bitget_venue_backfills_streams_and_ranks_every_symbol(
    tmp_path: Path,
    venue: dict[str, str],
    engines,  # noqa: F811
) -> None:
    engine = engines(
        "--venue", "bitget", "--symbols", "all",
        "--set", f"bitget.rest_url={venue['REST']}", "--set", f"bitget.ws_public_url={venue['WebSocket']}",
        "--set", "scanner.interval_s=1",
    )  # fmt: skip
    engine.wait_running()

    def streaming() -> bool:
        status = _status(tmp_path)
        return status["runtime"]["events_routed"] > 500 and bool(status["scanner"].get("top"))

    wait_for(streaming, 120, "events routed from the Bitget stream and a scanner ranking")
    status = _status(tmp_path)
    assert status["venue"] == "bitget"
    assert status["runtime"]["symbols"]["running"] == 12
    assert status["risk"]["kill_switch_count"] < 12
    log = (tmp_path / "logs" / "trading_engine.log").read_text()
    assert "market data: streaming 12 symbols (backfilled" in log
    assert "Traceback" not in engine.output()


def test_an_unreachable_bitget_venue_stops_start_up_with_the_reason(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "start", "--venue", "bitget", "--set", "bitget.rest_url=http://127.0.0.1:9")
    assert result.returncode == 2
    assert "cannot read Bitget's contracts from http://127.0.0.1:9" in result.stdout + result.stderr
