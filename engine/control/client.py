"""The CLI's side of the control endpoint: find the engine, send a command, explain failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from engine.control.endpoint import EngineNotRunning, discover


class ControlError(RuntimeError):
    """The engine answered with an error, or could not be reached."""


def call(data_dir: Path, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
    endpoint = discover(data_dir)
    try:
        response = requests.request(
            method,
            endpoint.url + path,
            json=body,
            headers={"Authorization": f"Bearer {endpoint.token}"},
            timeout=timeout,
        )
    except requests.ConnectionError:
        raise EngineNotRunning(
            f"engine (pid {endpoint.pid}) does not answer at {endpoint.url}: is it still running?"
        ) from None
    except requests.Timeout:
        raise ControlError(f"engine at {endpoint.url} did not answer within {timeout:.0f}s") from None
    payload = response.json()
    if response.status_code >= 400:
        raise ControlError(str(payload.get("error", payload)))
    return payload
