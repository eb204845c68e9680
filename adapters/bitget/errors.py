"""Bitget's error codes as typed errors that say what the caller must do.

The distinction that matters most: a duplicate client order id means "the order may already
exist: query it by clientOid", never "rejected" and never "send it again". Retryable errors (rate
limits, server errors, maintenance) are marked so, so the REST client retries only those.
"""

from __future__ import annotations

from adapters.bitget.constants import (
    AUTH_CODES,
    DUPLICATE_CLIENT_OID_CODES,
    ENVIRONMENT_CODE,
    INSUFFICIENT_MARGIN_CODES,
    INVALID_PARAMETER_CODES,
    IP_CODE,
    MAINTENANCE_CODES,
    NO_POSITION_CODE,
    ORDER_NOT_FOUND_CODES,
    RATE_LIMIT_CODES,
    TIMESTAMP_CODES,
)


class BitgetError(Exception):
    """A request Bitget refused or could not answer: its code, message and HTTP status."""

    retryable = False
    hint = ""

    def __init__(self, code: str, message: str, http_status: int = 200, path: str = "") -> None:
        self.code = code
        self.message = message
        self.http_status = http_status
        self.path = path
        where = f" on {path}" if path else ""
        hint = f" ({self.hint})" if self.hint else ""
        super().__init__(f"Bitget error {code}{where}: {message}{hint}")


class AuthError(BitgetError):
    hint = "check BITGET_API_KEY, BITGET_SECRET_KEY, BITGET_PASSPHRASE and the key's permissions"


class TimestampError(BitgetError):
    hint = "the local clock is off: sync it (NTP)"


class IpNotAllowed(BitgetError):
    hint = "this machine's IP is not on the key's whitelist"


class EnvironmentMismatch(BitgetError):
    hint = "a demo key needs demo trading on, a live key needs it off"


class DuplicateClientOid(BitgetError):
    hint = "the order may exist already: query it by clientOid, never send it again"


class OrderNotFound(BitgetError):
    pass


class NoPosition(BitgetError):
    pass


class InsufficientMargin(BitgetError):
    pass


class InvalidParameter(BitgetError):
    pass


class RateLimited(BitgetError):
    retryable = True


class Maintenance(BitgetError):
    retryable = True


class ServerError(BitgetError):
    retryable = True


_BY_CODE: dict[str, type[BitgetError]] = {
    **dict.fromkeys(AUTH_CODES, AuthError),
    **dict.fromkeys(TIMESTAMP_CODES, TimestampError),
    **dict.fromkeys(DUPLICATE_CLIENT_OID_CODES, DuplicateClientOid),
    **dict.fromkeys(ORDER_NOT_FOUND_CODES, OrderNotFound),
    **dict.fromkeys(INSUFFICIENT_MARGIN_CODES, InsufficientMargin),
    **dict.fromkeys(INVALID_PARAMETER_CODES, InvalidParameter),
    **dict.fromkeys(MAINTENANCE_CODES, Maintenance),
    **dict.fromkeys(RATE_LIMIT_CODES, RateLimited),
    ENVIRONMENT_CODE: EnvironmentMismatch,
    IP_CODE: IpNotAllowed,
    NO_POSITION_CODE: NoPosition,
}


def error_for(code: str, message: str, http_status: int = 200, path: str = "") -> BitgetError:
    """The typed error of a Bitget code (HTTP 429 and 5xx win over the body's code)."""
    if http_status == 429:
        kind: type[BitgetError] = RateLimited
    elif http_status >= 500:
        kind = ServerError
    else:
        kind = _BY_CODE.get(code, BitgetError)
    return kind(code, message, http_status, path)
