"""How the simulated venue checks a signed request, with the codes Bitget answers.

The signature is recomputed over the exact query string and body bytes received, so a client that
signs something other than what it sends is refused here as it would be by Bitget.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from adapters.bitget.auth import prehash, sign
from adapters.bitget.constants import DEMO_HEADER, WS_LOGIN_PATH
from adapters.sim.exchange import ExchangeError

TIMESTAMP_WINDOW_MS = 30_000


@dataclass(frozen=True, slots=True)
class SimKey:
    """The one API key the simulated account has; ``authorities`` as Bitget lists a key's rights."""

    api_key: str
    secret_key: str = field(repr=False)
    passphrase: str = field(repr=False)
    authorities: tuple[str, ...] = ("readonly", "trade")
    demo: bool = False


def check_rest(
    key: SimKey, headers: Mapping[str, str], method: str, path: str, query: str, body: str, now_ms: int
) -> None:
    """Raise ``ExchangeError`` unless the request is signed by ``key`` within 30 s of ``now_ms``."""
    given = {name.upper(): value for name, value in headers.items()}
    for header, code in (("ACCESS-KEY", "40001"), ("ACCESS-SIGN", "40003"), ("ACCESS-TIMESTAMP", "40005"),
                         ("ACCESS-PASSPHRASE", "40011")):  # fmt: skip
        if not given.get(header):
            raise ExchangeError(code, f"header {header} is missing or empty")
    if given["ACCESS-KEY"] != key.api_key:
        raise ExchangeError("40006", "invalid ACCESS_KEY")
    stamp = given["ACCESS-TIMESTAMP"]
    if not stamp.isdigit():
        raise ExchangeError("40005", f"invalid ACCESS_TIMESTAMP {stamp!r}")
    if abs(int(stamp) - now_ms) > TIMESTAMP_WINDOW_MS:
        raise ExchangeError("40008", f"request timestamp expired: {int(stamp) - now_ms:+d} ms from server time")
    if not hmac.compare_digest(given["ACCESS-PASSPHRASE"], key.passphrase):
        raise ExchangeError("40012", "apikey/passphrase is incorrect")
    expected = sign(key.secret_key, prehash(stamp, method, path, query, body))
    if not hmac.compare_digest(given["ACCESS-SIGN"], expected):
        raise ExchangeError("40009", "sign signature error")
    if (given.get(DEMO_HEADER.upper()) == "1") != key.demo:
        raise ExchangeError("40099", "exchange environment is incorrect")


def check_login(key: SimKey, arg: Mapping[str, object], now_s: float) -> None:
    """Raise ``ExchangeError`` unless ``arg`` is a valid WebSocket login (timestamp in seconds)."""
    stamp = str(arg.get("timestamp", ""))
    if arg.get("apiKey") != key.api_key:
        raise ExchangeError("30011", "invalid ACCESS_KEY")
    if not stamp.isdigit() or abs(int(stamp) - now_s) > TIMESTAMP_WINDOW_MS / 1000:
        raise ExchangeError("30014", f"request timestamp expired or invalid: {stamp!r}")
    if arg.get("passphrase") != key.passphrase:
        raise ExchangeError("30012", "invalid ACCESS_PASSPHRASE")
    if arg.get("sign") != sign(key.secret_key, prehash(stamp, "GET", WS_LOGIN_PATH)):
        raise ExchangeError("30013", "invalid ACCESS_SIGN")
