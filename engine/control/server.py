"""A loopback-only HTTP endpoint with a bearer token, serving JSON.

It knows nothing about the engine: a handler maps (method, path, body) to (status, JSON body).
Requests from a non-loopback peer or without the right token are refused before the handler runs.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from loguru import logger

Handler = Callable[[str, str, dict[str, Any]], tuple[int, Any]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ControlServer:
    def __init__(self, host: str, port: int, token: str, handler: Handler) -> None:
        if not is_loopback(host):
            raise ValueError(f"control.host {host!r} is not a loopback address; refusing to listen on it")
        self._token = token.encode()
        self._handler = handler
        server = self

        class _Request(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._serve(self, "GET")

            def do_POST(self) -> None:
                server._serve(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer((host, port), _Request)
        self._httpd.daemon_threads = True
        self.host, self.port = self._httpd.server_address[0], int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="control-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _serve(self, request: BaseHTTPRequestHandler, method: str) -> None:
        if not is_loopback(request.client_address[0]):
            self._reply(request, 403, {"error": "control accepts loopback clients only"})
            return
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").encode()
        if not hmac.compare_digest(sent, self._token):
            self._reply(request, 401, {"error": "missing or wrong control token"})
            return
        try:
            length = int(request.headers.get("Content-Length") or 0)
            body = orjson.loads(request.rfile.read(length)) if length else {}
            if not isinstance(body, dict):
                raise ValueError("the request body must be a JSON object")
        except ValueError as exc:
            self._reply(request, 400, {"error": f"bad request body: {exc}"})
            return
        try:
            status, payload = self._handler(method, request.path, body)
        except Exception as exc:
            logger.exception("control: {} {} failed", method, request.path)
            status, payload = 500, {"error": f"{type(exc).__name__}: {exc}"}
        self._reply(request, status, payload)

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
