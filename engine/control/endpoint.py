"""Where a running engine's control endpoint is, and the token that guards it.

The engine writes ``control.json`` (host, port, pid) and ``control.token`` (0600, readable by
the user only) into its data folder; the CLI reads both to reach it. The token keeps other local
users and stray browser requests out of an endpoint that can remove symbols and close positions.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import orjson

CONTROL_FILE = "control.json"
TOKEN_FILE = "control.token"


class EngineNotRunning(RuntimeError):
    """No running engine's control endpoint was found in the data folder."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    pid: int
    token: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def load_or_create_token(data_dir: Path) -> str:
    """The engine's token, created once with mode 0600 and reused across restarts."""
    path = data_dir / TOKEN_FILE
    if path.exists():
        token = path.read_text().strip()
        if token:
            os.chmod(path, 0o600)
            return token
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    os.chmod(path, 0o600)
    return token


def publish(data_dir: Path, host: str, port: int) -> None:
    (data_dir / CONTROL_FILE).write_bytes(orjson.dumps({"host": host, "port": port, "pid": os.getpid()}))


def withdraw(data_dir: Path) -> None:
    """Remove the endpoint file on a clean stop, so the CLI says 'not running' instead of timing out."""
    path = data_dir / CONTROL_FILE
    try:
        if orjson.loads(path.read_bytes()).get("pid") == os.getpid():
            path.unlink()
    except (FileNotFoundError, orjson.JSONDecodeError):
        pass


def discover(data_dir: Path) -> Endpoint:
    try:
        info = orjson.loads((data_dir / CONTROL_FILE).read_bytes())
        token = (data_dir / TOKEN_FILE).read_text().strip()
    except FileNotFoundError:
        raise EngineNotRunning(
            f"no running engine found: {data_dir / CONTROL_FILE} does not exist "
            "(start one with 'engine start', or pass the same --data-dir it uses)"
        ) from None
    except orjson.JSONDecodeError as exc:
        raise EngineNotRunning(f"{data_dir / CONTROL_FILE} is not valid JSON: {exc}") from None
    return Endpoint(str(info["host"]), int(info["port"]), int(info["pid"]), token)
