"""The control endpoint: loopback only, token required, token file private, errors as sentences."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from engine.control import endpoint
from engine.control.client import ControlError, call
from engine.control.endpoint import EngineNotRunning
from engine.control.server import ControlServer


def handler(method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    if path == "/echo":
        return 200, {"method": method, "body": body}
    if path == "/refuse":
        return 400, {"error": "XRPUSDT is not in the engine's symbols"}
    return 404, {"error": f"no such command: {method} {path}"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ControlServer, str]]:
    token = endpoint.load_or_create_token(tmp_path)
    srv = ControlServer("127.0.0.1", 0, token, handler)
    srv.start()
    endpoint.publish(tmp_path, srv.host, srv.port)
    yield srv, token
    srv.stop()


def test_the_token_file_is_readable_by_its_owner_only_and_reused(tmp_path: Path) -> None:
    first = endpoint.load_or_create_token(tmp_path)
    mode = stat.S_IMODE((tmp_path / endpoint.TOKEN_FILE).stat().st_mode)
    assert mode == 0o600
    assert endpoint.load_or_create_token(tmp_path) == first
    assert len(first) >= 32


def test_a_request_without_the_token_is_refused(server: tuple[ControlServer, str]) -> None:
    srv, _ = server
    response = requests.get(f"http://127.0.0.1:{srv.port}/echo", timeout=5)
    assert response.status_code == 401
    assert "token" in response.json()["error"]


def test_a_request_with_a_wrong_token_is_refused(server: tuple[ControlServer, str]) -> None:
    srv, _ = server
    headers = {"Authorization": "Bearer not-the-token"}
    assert requests.get(f"http://127.0.0.1:{srv.port}/echo", headers=headers, timeout=5).status_code == 401


def test_the_client_reaches_the_engine_with_the_published_token(
    tmp_path: Path, server: tuple[ControlServer, str]
) -> None:
    assert call(tmp_path, "POST", "/echo", {"symbol": "BTCUSDT"}) == {"method": "POST", "body": {"symbol": "BTCUSDT"}}


def test_an_engine_error_reaches_the_user_as_its_sentence(tmp_path: Path, server: tuple[ControlServer, str]) -> None:
    with pytest.raises(ControlError, match=r"^XRPUSDT is not in the engine's symbols$"):
        call(tmp_path, "POST", "/refuse", {})


def test_a_body_that_is_not_a_json_object_is_a_bad_request(server: tuple[ControlServer, str]) -> None:
    srv, token = server
    response = requests.post(
        f"http://127.0.0.1:{srv.port}/echo", data=b"[1, 2]", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert response.status_code == 400
    assert "JSON object" in response.json()["error"]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_a_non_loopback_address_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        ControlServer(host, 0, "token", handler)


def test_the_client_says_no_engine_runs_when_nothing_was_published(tmp_path: Path) -> None:
    with pytest.raises(EngineNotRunning, match="no running engine found"):
        call(tmp_path, "GET", "/status")


def test_withdrawing_removes_only_this_processes_endpoint(tmp_path: Path) -> None:
    endpoint.publish(tmp_path, "127.0.0.1", 1234)
    endpoint.withdraw(tmp_path)
    assert not (tmp_path / endpoint.CONTROL_FILE).exists()
