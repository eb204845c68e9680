"""Control: the loopback endpoint behind ``engine status``, ``engine symbols ...`` and
``engine halt | reduce | resume``.

Requests are served on the HTTP server's threads, which are edges of the actor system: the only
place where ``ask`` is used, always with a timeout, so a busy or restarting actor makes status
say "unavailable" instead of hanging the CLI.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import psutil
import pykka
from loguru import logger

from actors.base import SingletonActor
from actors.context import CONTROL, CORRELATION, PORTFOLIO, RISK, SCANNER, SUPERVISOR, ActorContext
from engine.control import endpoint
from engine.control.server import ControlServer
from engine.messages import AddSymbol, CommandResult, GetStatus, RemoveSymbol, TradingState, TradingStateChanged

ASK_TIMEOUT_S = 5.0


class ControlActor(SingletonActor):
    role = CONTROL

    def __init__(self, ctx: ActorContext, data_dir: Path, token: str) -> None:
        super().__init__(ctx)
        self._data_dir = data_dir
        self._token = token
        self._server: ControlServer | None = None
        self._process = psutil.Process(os.getpid())

    def on_start(self) -> None:
        cfg = self.ctx.config.control
        self._server = ControlServer(cfg.host, cfg.port, self._token, self._handle)
        self._server.start()
        self._process.cpu_percent(interval=None)  # the first reading primes the counter
        endpoint.publish(self._data_dir, str(self._server.host), self._server.port)
        logger.info(
            "control endpoint on {}:{} (token in {})",
            self._server.host,
            self._server.port,
            self._data_dir / endpoint.TOKEN_FILE,
        )

    def on_receive(self, message: Any) -> Any:
        return None

    def on_stop(self) -> None:
        self._close()

    def on_failure(self, *_exc: Any) -> None:
        self._close()

    def _close(self) -> None:
        if self._server is not None:
            self._server.stop()
            endpoint.withdraw(self._data_dir)
            self._server = None

    def _ask(self, role: str, message: Any) -> Any:
        ref = self.router.singleton(role)
        if ref is None:
            return {"unavailable": f"{role} is restarting"}
        try:
            return ref.ask(message, timeout=ASK_TIMEOUT_S)
        except pykka.Timeout:
            return {"unavailable": f"{role} did not answer within {ASK_TIMEOUT_S:.0f}s"}
        except pykka.ActorDeadError:
            return {"unavailable": f"{role} is restarting"}

    def _handle(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if method == "GET" and path == "/status":
            return 200, self._status()
        if method == "GET" and path == "/symbols":
            runtime = self._ask(SUPERVISOR, GetStatus())
            return 200, {"symbols": runtime.get("symbol_list", []), "quarantined": runtime.get("quarantined", [])}
        if method == "POST" and path in ("/symbols/add", "/symbols/remove"):
            symbol = body.get("symbol")
            if not isinstance(symbol, str) or not symbol.strip():
                return 400, {"error": 'the request needs a symbol, e.g. {"symbol": "BTCUSDT"}'}
            command: Any = (
                AddSymbol(symbol)
                if path.endswith("add")
                else RemoveSymbol(symbol, bool(body.get("close_positions", True)))
            )
            result = self._ask(SUPERVISOR, command)
            if not isinstance(result, CommandResult):
                return 503, {"error": str(result.get("unavailable", result))}
            if not result.ok:
                return 400, {"error": result.message}
            return 200, {"ok": True, "message": result.message}
        if method == "POST" and path == "/trading":
            return self._trading(body)
        return 404, {"error": f"no such command: {method} {path}"}

    def _trading(self, body: dict[str, Any]) -> tuple[int, Any]:
        """Set the trading state (an operator's command), then report the state Risk ends up in."""
        try:
            state = TradingState(str(body.get("state")))
        except ValueError:
            return 400, {"error": f"state must be one of {', '.join(s.value for s in TradingState)}"}
        reason = str(body.get("reason") or "")
        done = self._ask(RISK, TradingStateChanged(state, reason))
        if isinstance(done, dict):
            return 503, {"error": str(done.get("unavailable", done))}
        risk = self._ask(RISK, GetStatus())
        if "unavailable" in risk:
            return 503, {"error": str(risk["unavailable"])}
        return 200, {"state": risk["state"], "reason": risk["reason"]}

    def _status(self) -> dict[str, Any]:
        cfg = self.ctx.config.engine
        with self._process.oneshot():
            process = {
                "pid": self._process.pid,
                "rss_mb": round(self._process.memory_info().rss / 2**20, 1),
                "threads": threading.active_count(),
                "cpu_percent": self._process.cpu_percent(interval=None),
            }
        return {
            "mode": cfg.mode,
            "venue": cfg.venue,
            "runtime": self._ask(SUPERVISOR, GetStatus()),
            "risk": self._ask(RISK, GetStatus()),
            "portfolio": self._ask(PORTFOLIO, GetStatus()),
            "scanner": self._ask(SCANNER, GetStatus()),
            "correlation": self._ask(CORRELATION, GetStatus()),
            "process": process,
        }
