"""Bitget request signing (``adapters.bitget.auth``): prehash layout, HMAC signature, headers, WS login."""

from __future__ import annotations

import base64
import string
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.bitget.auth import Credentials, prehash, query_string, rest_headers, sign, ws_login
from adapters.bitget.constants import DEMO_HEADER, ORDER_DETAIL, PLACE_ORDER, WS_LOGIN_PATH

SECRET = "test-secret"
TS_MS = 1695806875837
TS_S = 1695806875

# Self-computed vectors (stdlib hmac/hashlib/base64) that pin the signing rule.
GET_QUERY = "orderId=1&productType=USDT-FUTURES&symbol=BTCUSDT"
GET_PREHASH = f"{TS_MS}GET{ORDER_DETAIL}?{GET_QUERY}"
GET_SIGN = "pxGO9FVY+1B+sLGU7kZdAZ6ghVfPh3xqF2AgbxbW30g="

POST_BODY = (
    '{"symbol":"BTCUSDT","productType":"USDT-FUTURES","marginMode":"crossed","marginCoin":"USDT",'
    '"size":"0.01","price":"25000","side":"buy","orderType":"limit","force":"gtc","clientOid":"abc123"}'
)
POST_PREHASH = f"{TS_MS}POST{PLACE_ORDER}{POST_BODY}"
POST_SIGN = "x4s6XDfJbfnYwWephwCuPI/0Sgc2jqmuse0BWwk8bSw="

WS_PREHASH = f"{TS_S}GET/user/verify"
WS_SIGN = "v6d9LAkXNXr1LRicuST3g3NN/Ktr4wJiy/bpJHiF5ok="


def creds(demo: bool = False) -> Credentials:
    return Credentials(api_key="my-key", secret_key=SECRET, passphrase="my-pass", demo=demo)


# --- test vectors ---------------------------------------------------------------------------------


def test_get_vector_prehash_is_timestamp_method_path_question_mark_query() -> None:
    assert prehash(str(TS_MS), "GET", ORDER_DETAIL, GET_QUERY) == GET_PREHASH


def test_get_vector_signature_reproduces() -> None:
    assert sign(SECRET, GET_PREHASH) == GET_SIGN


def test_get_vector_reproduces_through_rest_headers() -> None:
    headers = rest_headers(creds(), TS_MS, "GET", ORDER_DETAIL, GET_QUERY, "")
    assert headers["ACCESS-SIGN"] == GET_SIGN


def test_get_vector_query_is_what_query_string_builds_from_unsorted_params() -> None:
    params = {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "orderId": "1"}
    assert query_string(params) == GET_QUERY


def test_post_vector_prehash_appends_body_directly_after_path() -> None:
    assert prehash(str(TS_MS), "POST", PLACE_ORDER, "", POST_BODY) == POST_PREHASH


def test_post_vector_signature_reproduces() -> None:
    assert sign(SECRET, POST_PREHASH) == POST_SIGN


def test_post_vector_reproduces_through_rest_headers() -> None:
    headers = rest_headers(creds(), TS_MS, "POST", PLACE_ORDER, "", POST_BODY)
    assert headers["ACCESS-SIGN"] == POST_SIGN


def test_ws_login_vector_prehash_is_seconds_get_user_verify() -> None:
    assert prehash(str(TS_S), "GET", WS_LOGIN_PATH) == WS_PREHASH


def test_ws_login_vector_signature_reproduces() -> None:
    assert sign(SECRET, WS_PREHASH) == WS_SIGN


def test_ws_login_vector_reproduces_through_ws_login() -> None:
    frame = ws_login(creds(), TS_S)
    assert frame["args"][0]["sign"] == WS_SIGN


# --- prehash --------------------------------------------------------------------------------------


def test_prehash_matches_the_documented_worked_example() -> None:
    got = prehash("16273667805456", "GET", "/api/mix/v2/market/depth", "limit=20&symbol=BTCUSDT")
    assert got == "16273667805456GET/api/mix/v2/market/depth?limit=20&symbol=BTCUSDT"


def test_prehash_has_no_question_mark_when_query_is_empty() -> None:
    assert prehash("1", "GET", "/p") == "1GET/p"
    assert "?" not in prehash("1", "GET", "/p", "", "")


def test_prehash_inserts_question_mark_only_before_a_non_empty_query() -> None:
    assert prehash("1", "GET", "/p", "a=1") == "1GET/p?a=1"


@pytest.mark.parametrize("method", ["get", "Get", "post", "pOsT"])
def test_prehash_upper_cases_the_method(method: str) -> None:
    assert prehash("1", method, "/p") == f"1{method.upper()}/p"


def test_lower_case_method_signs_the_same_as_upper_case() -> None:
    lower = rest_headers(creds(), TS_MS, "get", ORDER_DETAIL, GET_QUERY, "")
    assert lower["ACCESS-SIGN"] == GET_SIGN


# --- query string ---------------------------------------------------------------------------------


def test_query_string_sorts_keys_ascending() -> None:
    assert query_string({"b": "2", "c": "3", "a": "1"}) == "a=1&b=2&c=3"


def test_query_string_of_no_params_is_empty() -> None:
    assert query_string({}) == ""


def test_query_string_renders_numbers_with_str() -> None:
    assert query_string({"limit": 20, "px": 0.5}) == "limit=20&px=0.5"


def test_header_signature_is_sign_of_the_exact_query_string_passed() -> None:
    query = query_string({"symbol": "ETHUSDT", "limit": 100, "productType": "USDT-FUTURES"})
    headers = rest_headers(creds(), TS_MS, "GET", "/api/v2/mix/market/candles", query, "")
    expected = sign(SECRET, f"{TS_MS}GET/api/v2/mix/market/candles?{query}")
    assert headers["ACCESS-SIGN"] == expected


def test_value_with_space_is_percent_encoded() -> None:
    assert query_string({"note": "a b"}) == "note=a%20b"


def test_value_with_ampersand_is_percent_encoded_so_it_cannot_split_the_query() -> None:
    query = query_string({"note": "x&y=z", "symbol": "BTCUSDT"})
    assert query == "note=x%26y%3Dz&symbol=BTCUSDT"
    assert parse_qsl(query, strict_parsing=True) == [("note", "x&y=z"), ("symbol", "BTCUSDT")]


def test_signed_query_is_byte_identical_to_the_query_of_the_url_sent() -> None:
    query = query_string({"clientOid": "my id&1", "symbol": "BTCUSDT"})
    url = f"https://api.bitget.com{ORDER_DETAIL}?{query}"
    sent = urlsplit(url)
    headers = rest_headers(creds(), TS_MS, "GET", ORDER_DETAIL, query, "")
    assert sent.query == query
    assert headers["ACCESS-SIGN"] == sign(SECRET, f"{TS_MS}GET{sent.path}?{sent.query}")


_ALNUM = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=12)


@given(st.dictionaries(_ALNUM, _ALNUM, min_size=1, max_size=8))
def test_query_string_of_alphanumeric_params_is_sorted_and_round_trips(params: dict[str, str]) -> None:
    query = query_string(params)
    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    assert "?" not in query
    assert [key for key, _ in pairs] == sorted(params)
    assert dict(pairs) == params


@given(st.dictionaries(_ALNUM, st.text(max_size=12), min_size=1, max_size=8))
def test_query_string_of_any_text_values_round_trips(params: dict[str, str]) -> None:
    pairs = parse_qsl(query_string(params), keep_blank_values=True, strict_parsing=True)
    assert dict(pairs) == params


# --- REST headers ---------------------------------------------------------------------------------


def test_rest_headers_carry_key_sign_timestamp_passphrase_and_json_content_type() -> None:
    headers = rest_headers(creds(), TS_MS, "GET", ORDER_DETAIL, GET_QUERY, "")
    assert headers["ACCESS-KEY"] == "my-key"
    assert headers["ACCESS-SIGN"] == GET_SIGN
    assert headers["ACCESS-TIMESTAMP"] == "1695806875837"
    assert headers["ACCESS-PASSPHRASE"] == "my-pass"
    assert headers["Content-Type"] == "application/json"


def test_rest_headers_timestamp_is_the_millisecond_string_that_was_signed() -> None:
    headers = rest_headers(creds(), TS_MS, "GET", ORDER_DETAIL, GET_QUERY, "")
    stamp = headers["ACCESS-TIMESTAMP"]
    assert isinstance(stamp, str)
    assert stamp == str(TS_MS)
    assert len(stamp) == 13
    assert headers["ACCESS-SIGN"] == sign(SECRET, prehash(stamp, "GET", ORDER_DETAIL, GET_QUERY))


def test_rest_headers_of_a_live_key_have_no_demo_header() -> None:
    headers = rest_headers(creds(demo=False), TS_MS, "GET", ORDER_DETAIL, GET_QUERY, "")
    assert DEMO_HEADER not in headers
    assert "paptrading" not in headers


def test_rest_headers_of_a_demo_key_have_paptrading_1() -> None:
    headers = rest_headers(creds(demo=True), TS_MS, "GET", ORDER_DETAIL, GET_QUERY, "")
    assert headers["paptrading"] == "1"


def test_demo_header_does_not_change_the_signature() -> None:
    live = rest_headers(creds(demo=False), TS_MS, "POST", PLACE_ORDER, "", POST_BODY)
    demo = rest_headers(creds(demo=True), TS_MS, "POST", PLACE_ORDER, "", POST_BODY)
    assert live["ACCESS-SIGN"] == demo["ACCESS-SIGN"] == POST_SIGN


# --- WS login -------------------------------------------------------------------------------------


def test_ws_login_frame_is_op_login_with_one_arg() -> None:
    frame = ws_login(creds(), TS_S)
    assert frame["op"] == "login"
    assert len(frame["args"]) == 1


def test_ws_login_uses_field_name_api_key_in_camel_case() -> None:
    arg = ws_login(creds(), TS_S)["args"][0]
    assert arg["apiKey"] == "my-key"
    assert "api_key" not in arg
    assert set(arg) == {"apiKey", "passphrase", "timestamp", "sign"}


def test_ws_login_timestamp_is_a_seconds_string() -> None:
    arg = ws_login(creds(), TS_S)["args"][0]
    assert arg["timestamp"] == "1695806875"
    assert len(arg["timestamp"]) == 10


def test_ws_login_carries_the_passphrase() -> None:
    assert ws_login(creds(), TS_S)["args"][0]["passphrase"] == "my-pass"


# --- credentials and signature shape --------------------------------------------------------------


def test_credentials_repr_hides_secret_and_passphrase() -> None:
    c = Credentials(api_key="visible-key", secret_key="s3cr3t-value", passphrase="pa55-value")
    text = repr(c)
    assert "visible-key" in text
    assert "s3cr3t-value" not in text
    assert "pa55-value" not in text


def test_credentials_default_to_live() -> None:
    assert Credentials(api_key="k", secret_key="s", passphrase="p").demo is False


@given(st.text(min_size=1, max_size=40), st.text(max_size=200))
def test_signature_is_44_base64_chars_of_a_32_byte_digest(secret: str, message: str) -> None:
    signature = sign(secret, message)
    assert len(signature) == 44
    assert len(base64.b64decode(signature, validate=True)) == 32
