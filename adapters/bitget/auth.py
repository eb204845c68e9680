"""Bitget request signing: HMAC-SHA256 over the exact bytes sent, base64 of the raw digest.

REST: ``timestamp(ms) + METHOD + path + ("?" + query if any) + body``; the query string is built
once (keys sorted) and the same string is both signed and sent, and the body is serialised once
and sent as signed. WebSocket login signs ``timestamp(seconds) + "GET" + "/user/verify"``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from adapters.bitget.constants import DEMO_HEADER, WS_LOGIN_PATH


@dataclass(frozen=True, slots=True)
class Credentials:
    """An API key; the secret and passphrase never appear in a repr."""

    api_key: str
    secret_key: str = field(repr=False)
    passphrase: str = field(repr=False)
    demo: bool = False


def query_string(params: Mapping[str, str | int | float]) -> str:
    """``a=1&b=2`` with keys in ascending order, percent-encoded: the string sent and signed."""
    return "&".join(f"{quote(key, safe='')}={quote(str(params[key]), safe='')}" for key in sorted(params))


def prehash(timestamp: str, method: str, path: str, query: str = "", body: str = "") -> str:
    """What is signed: the timestamp, the upper-case method, the path, ``?query`` if any, the body."""
    return f"{timestamp}{method.upper()}{path}{'?' + query if query else ''}{body}"


def sign(secret_key: str, message: str) -> str:
    """base64(HMAC-SHA256(secret, message)) of the raw 32-byte digest (not hex)."""
    digest = hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def rest_headers(
    creds: Credentials, timestamp_ms: int, method: str, path: str, query: str, body: str
) -> dict[str, str]:
    """Headers of a signed request; ``paptrading: 1`` only for a demo key (never on public calls)."""
    stamp = str(timestamp_ms)
    headers = {
        "ACCESS-KEY": creds.api_key,
        "ACCESS-SIGN": sign(creds.secret_key, prehash(stamp, method, path, query, body)),
        "ACCESS-TIMESTAMP": stamp,
        "ACCESS-PASSPHRASE": creds.passphrase,
        "Content-Type": "application/json",
        "locale": "en-US",
    }
    if creds.demo:
        headers[DEMO_HEADER] = "1"
    return headers


def ws_login(creds: Credentials, timestamp_s: int) -> dict[str, object]:
    """The private stream's login frame; its timestamp is in seconds and expires in about 30 s."""
    stamp = str(timestamp_s)
    return {
        "op": "login",
        "args": [
            {
                "apiKey": creds.api_key,
                "passphrase": creds.passphrase,
                "timestamp": stamp,
                "sign": sign(creds.secret_key, prehash(stamp, "GET", WS_LOGIN_PATH)),
            }
        ],
    }
