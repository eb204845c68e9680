"""Bitget error codes as typed errors (``adapters.bitget.errors``): mapping, retryability, messages."""

from __future__ import annotations

import pytest

from adapters.bitget import constants as c
from adapters.bitget.errors import (
    AuthError,
    BitgetError,
    DuplicateClientOid,
    EnvironmentMismatch,
    InsufficientMargin,
    InvalidParameter,
    IpNotAllowed,
    Maintenance,
    NoPosition,
    OrderNotFound,
    RateLimited,
    ServerError,
    TimestampError,
    error_for,
)

GROUPS: list[tuple[frozenset[str], type[BitgetError]]] = [
    (c.AUTH_CODES, AuthError),
    (c.TIMESTAMP_CODES, TimestampError),
    (c.DUPLICATE_CLIENT_OID_CODES, DuplicateClientOid),
    (c.ORDER_NOT_FOUND_CODES, OrderNotFound),
    (c.INSUFFICIENT_MARGIN_CODES, InsufficientMargin),
    (c.INVALID_PARAMETER_CODES, InvalidParameter),
    (c.MAINTENANCE_CODES, Maintenance),
    (c.RATE_LIMIT_CODES, RateLimited),
    (frozenset({c.ENVIRONMENT_CODE}), EnvironmentMismatch),
    (frozenset({c.IP_CODE}), IpNotAllowed),
    (frozenset({c.NO_POSITION_CODE}), NoPosition),
]

CODE_CASES = [
    pytest.param(code, kind, id=f"{code}-{kind.__name__}") for codes, kind in GROUPS for code in sorted(codes)
]

ALL_CLASSES: list[type[BitgetError]] = [BitgetError, *(kind for _, kind in GROUPS), ServerError]
RETRYABLE = {RateLimited, Maintenance, ServerError}
UNKNOWN_CODE = "99999"


# --- code -> class --------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "kind"), CODE_CASES)
def test_each_known_code_maps_to_its_group_class(code: str, kind: type[BitgetError]) -> None:
    assert type(error_for(code, "msg")) is kind


def test_no_code_belongs_to_two_groups() -> None:
    seen: list[str] = [code for codes, _ in GROUPS for code in codes]
    assert len(seen) == len(set(seen))


def test_success_code_is_not_in_any_error_group() -> None:
    assert all(c.SUCCESS not in codes for codes, _ in GROUPS)


def test_unknown_code_is_a_plain_bitget_error() -> None:
    err = error_for(UNKNOWN_CODE, "something odd")
    assert type(err) is BitgetError


def test_unknown_code_is_not_retryable() -> None:
    assert error_for(UNKNOWN_CODE, "something odd").retryable is False


@pytest.mark.parametrize("code", [UNKNOWN_CODE, "40786", c.IP_CODE, c.SUCCESS])
def test_http_429_is_rate_limited_whatever_the_code(code: str) -> None:
    assert type(error_for(code, "msg", http_status=429)) is RateLimited


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599])
@pytest.mark.parametrize("code", [UNKNOWN_CODE, "40786", "40001", c.NO_POSITION_CODE])
def test_http_5xx_is_server_error_whatever_the_code(status: int, code: str) -> None:
    assert type(error_for(code, "msg", http_status=status)) is ServerError


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404])
def test_non_429_non_5xx_status_maps_by_code(status: int) -> None:
    assert type(error_for("40786", "msg", http_status=status)) is DuplicateClientOid


def test_every_error_class_is_a_bitget_error() -> None:
    assert all(issubclass(kind, BitgetError) for kind in ALL_CLASSES)
    assert issubclass(BitgetError, Exception)


# --- retryable ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_CLASSES, ids=lambda k: k.__name__)
def test_retryable_only_for_rate_limit_maintenance_and_server_error(kind: type[BitgetError]) -> None:
    assert kind("1", "msg").retryable is (kind in RETRYABLE)


def test_duplicate_client_oid_is_never_retryable() -> None:
    for code in c.DUPLICATE_CLIENT_OID_CODES:
        assert error_for(code, "dup").retryable is False


# --- message and attributes -----------------------------------------------------------------------


def test_message_names_the_code_the_path_and_the_text() -> None:
    text = str(error_for(UNKNOWN_CODE, "weird failure", path="/api/v2/mix/order/detail"))
    assert UNKNOWN_CODE in text
    assert "/api/v2/mix/order/detail" in text
    assert "weird failure" in text


def test_message_without_path_does_not_mention_a_path() -> None:
    assert str(error_for(UNKNOWN_CODE, "weird failure")) == f"Bitget error {UNKNOWN_CODE}: weird failure"


def test_duplicate_client_oid_message_says_to_query_by_client_oid() -> None:
    text = str(error_for("40786", "Duplicate clientOid", path=c.PLACE_ORDER))
    assert "40786" in text
    assert c.PLACE_ORDER in text
    assert "query it by clientOid" in text
    assert "never send it again" in text


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("40006", "BITGET_API_KEY"),
        ("40008", "clock"),
        (c.IP_CODE, "whitelist"),
        (c.ENVIRONMENT_CODE, "demo"),
    ],
)
def test_message_carries_the_hint_of_its_class(code: str, fragment: str) -> None:
    err = error_for(code, "msg", path="/p")
    assert err.hint
    assert fragment in err.hint
    assert f"({err.hint})" in str(err)


@pytest.mark.parametrize("kind", [BitgetError, OrderNotFound, RateLimited, ServerError], ids=lambda k: k.__name__)
def test_class_without_hint_adds_no_parenthesis(kind: type[BitgetError]) -> None:
    assert str(kind("1", "msg", path="/p")) == "Bitget error 1 on /p: msg"


def test_attributes_code_message_status_and_path_are_kept() -> None:
    err = error_for("40762", "balance too low", http_status=400, path=c.PLACE_ORDER)
    assert err.code == "40762"
    assert err.message == "balance too low"
    assert err.http_status == 400
    assert err.path == c.PLACE_ORDER


def test_attributes_are_kept_when_status_overrides_the_code() -> None:
    err = error_for("40786", "upstream down", http_status=503, path=c.PLACE_ORDER)
    assert isinstance(err, ServerError)
    assert (err.code, err.message, err.http_status, err.path) == ("40786", "upstream down", 503, c.PLACE_ORDER)


def test_http_status_defaults_to_200_and_path_to_empty() -> None:
    err = error_for(UNKNOWN_CODE, "msg")
    assert err.http_status == 200
    assert err.path == ""


def test_error_can_be_raised_and_caught_as_bitget_error() -> None:
    with pytest.raises(BitgetError) as info:
        raise error_for("40762", "balance too low")
    assert isinstance(info.value, InsufficientMargin)
