"""`_strict`: canonical base64url and unambiguous JSON, the decoders every token part goes through.

Both decoders raise `ValueError` (never another exception type) for anything that is not
exactly one canonical encoding.
"""

from __future__ import annotations

import base64
import json
import random
from typing import Any, cast

import pytest

from fastapi_cognito_jwt._strict import (
    B64URL_ALPHABET,
    _nesting,
    b64url_decode,
    canonical_end,
    check_canonical,
    loads_object,
)

ALPHABET = B64URL_ALPHABET.decode("ascii")


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def is_canonical(segment: str) -> bool:
    """Reference oracle: a segment is canonical when re-encoding its bytes gives it back."""
    if not segment or len(segment) % 4 == 1:
        return False
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return encode(data) == segment


# -- b64url_decode --------------------------------------------------------------------------


@pytest.mark.parametrize("length", range(1, 40))
def test_round_trip_every_length(length: int) -> None:
    data = random.Random(length).randbytes(length)
    assert b64url_decode(encode(data)) == data


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        pytest.param("AA", b"\x00", id="zero-byte"),
        pytest.param("_w", b"\xff", id="ff-byte"),
        pytest.param("__8", b"\xff\xff", id="ff-ff"),
        pytest.param("____", b"\xff\xff\xff", id="ff-ff-ff"),
        pytest.param("-_-_", b"\xfb\xff\xbf", id="url-alphabet"),
        pytest.param("eyJhbGciOiJSUzI1NiJ9", b'{"alg":"RS256"}', id="jose-header"),
    ],
)
def test_known_values(segment: str, expected: bytes) -> None:
    assert b64url_decode(segment) == expected


def test_round_trip_every_byte_value() -> None:
    data = bytes(range(256))
    assert b64url_decode(encode(data)) == data


@pytest.mark.parametrize(
    "segment",
    [
        pytest.param("", id="empty"),
        pytest.param("QQ==", id="padding-2"),
        pytest.param("QUE=", id="padding-1"),
        pytest.param("QQ=", id="padding-short"),
        pytest.param("=", id="only-padding"),
        pytest.param("QUFB====", id="padding-after-full"),
        pytest.param("+w", id="plus"),
        pytest.param("/w", id="slash"),
        pytest.param("ab+/", id="standard-alphabet"),
        pytest.param(" QUFB", id="leading-space"),
        pytest.param("QUFB ", id="trailing-space"),
        pytest.param("QU FB", id="inner-space"),
        pytest.param("QUFB\n", id="trailing-newline"),
        pytest.param("QU\nFB", id="inner-newline"),
        pytest.param("QU\tFB", id="tab"),
        pytest.param("QUFB\r\n", id="crlf"),
        pytest.param("\u00a0QUFB", id="nbsp"),
        pytest.param("Q", id="len-1"),
        pytest.param("QUFBQ", id="len-5"),
        pytest.param("QUFBQUFBQ", id="len-9"),
        pytest.param("QUFB.", id="dot"),
        pytest.param("QUF\u0661", id="non-ascii-digit"),
        pytest.param("QUFＢ", id="fullwidth-letter"),
        pytest.param("QUFB\x00", id="nul"),
        pytest.param("QQ%3D%3D", id="percent-encoded-padding"),
    ],
)
def test_rejects(segment: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(segment)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"QUFB", id="bytes"),
        pytest.param(bytearray(b"QUFB"), id="bytearray"),
        pytest.param(None, id="none"),
        pytest.param(1234, id="int"),
        pytest.param(["QUFB"], id="list"),
    ],
)
def test_rejects_non_str(value: object) -> None:
    with pytest.raises(ValueError):
        b64url_decode(cast(Any, value))


@pytest.mark.parametrize("prefix", ["Q", "QUF", "QUFBQ", "QUFBQUF"], ids=lambda p: f"len{len(p)}")
@pytest.mark.parametrize("last", list(ALPHABET))
def test_last_character_must_be_canonical(prefix: str, last: str) -> None:
    """For every 2- and 3-remainder length, all 64 last characters: only canonical ones pass."""
    segment = prefix + last
    if is_canonical(segment):
        assert encode(b64url_decode(segment)) == segment
    else:
        with pytest.raises(ValueError):
            b64url_decode(segment)


@pytest.mark.parametrize(
    ("remainder", "count"),
    [pytest.param(2, 4, id="remainder-2"), pytest.param(3, 16, id="remainder-3")],
)
def test_number_of_canonical_last_characters(remainder: int, count: int) -> None:
    prefix = "A" * (remainder - 1)
    accepted = [c for c in ALPHABET if canonical_end(remainder, c)]
    assert len(accepted) == count
    assert accepted == [c for c in ALPHABET if is_canonical(prefix + c)]


def test_full_blocks_accept_every_last_character() -> None:
    for last in ALPHABET:
        assert b64url_decode("QUF" + last)


# -- canonical_end / check_canonical --------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "last", "expected"),
    [
        pytest.param(0, "", False, id="empty"),
        pytest.param(0, "A", False, id="zero-length"),
        pytest.param(1, "A", False, id="len-1"),
        pytest.param(5, "A", False, id="len-5"),
        pytest.param(4, "B", True, id="len-4-any"),
        pytest.param(4, "_", True, id="len-4-underscore"),
        pytest.param(8, "z", True, id="len-8-any"),
        pytest.param(2, "A", True, id="len-2-A"),
        pytest.param(2, "Q", True, id="len-2-Q"),
        pytest.param(2, "g", True, id="len-2-g"),
        pytest.param(2, "w", True, id="len-2-w"),
        pytest.param(2, "B", False, id="len-2-B"),
        pytest.param(2, "R", False, id="len-2-R"),
        pytest.param(2, "_", False, id="len-2-underscore"),
        pytest.param(6, "x", False, id="len-6-x"),
        pytest.param(3, "A", True, id="len-3-A"),
        pytest.param(3, "E", True, id="len-3-E"),
        pytest.param(3, "8", True, id="len-3-8"),
        pytest.param(3, "F", False, id="len-3-F"),
        pytest.param(3, "-", False, id="len-3-dash"),
        pytest.param(3, "_", False, id="len-3-underscore"),
        pytest.param(7, "H", False, id="len-7-H"),
    ],
)
def test_canonical_end(length: int, last: str, expected: bool) -> None:
    assert canonical_end(length, last) is expected


@pytest.mark.parametrize("segment", ["", "Q", "QR", "QUF", "QUFBQ"])
def test_check_canonical_rejects(segment: str) -> None:
    with pytest.raises(ValueError):
        check_canonical(segment)


@pytest.mark.parametrize("segment", ["QQ", "QUE", "QUFB", "QUFBQQ"])
def test_check_canonical_accepts(segment: str) -> None:
    check_canonical(segment)


# -- loads_object ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"{}", {}, id="empty"),
        pytest.param(b'{"a":1}', {"a": 1}, id="compact"),
        pytest.param(
            b'{"s":"x","n":null,"t":true,"f":false,"l":[1,2.5,"y"],"o":{"k":-1}}',
            {"s": "x", "n": None, "t": True, "f": False, "l": [1, 2.5, "y"], "o": {"k": -1}},
            id="all-types",
        ),
        pytest.param(b'  {"a":1}', {"a": 1}, id="leading-spaces"),
        pytest.param(b'{"a":1}  ', {"a": 1}, id="trailing-spaces"),
        pytest.param(b' \t\r\n{ "a" : 1 } \t\r\n', {"a": 1}, id="json-whitespace"),
        pytest.param('{"é":"ü"}'.encode(), {"é": "ü"}, id="utf-8"),
        pytest.param(b'{"a":"\\u00e9"}', {"a": "é"}, id="escape"),
        pytest.param(b'{"a":"\\ud83d\\ude00"}', {"a": "\U0001f600"}, id="surrogate-pair"),
        pytest.param(b'{"a":"\\\\ud800"}', {"a": "\\ud800"}, id="escaped-backslash-u"),
        pytest.param(b'{"a":1e308}', {"a": 1e308}, id="large-float"),
        pytest.param(b'{"a":-1e308}', {"a": -1e308}, id="large-negative-float"),
        pytest.param(b'{"a":1e-400}', {"a": 0.0}, id="underflow"),
        pytest.param(b'{"a":{"a":1}}', {"a": {"a": 1}}, id="same-name-nested-levels"),
        pytest.param(b'{"a":[{"b":1},{"b":2}]}', {"a": [{"b": 1}, {"b": 2}]}, id="same-name-items"),
        pytest.param(b'{"a":' + b"9" * 4000 + b"}", {"a": int("9" * 4000)}, id="4000-digits"),
    ],
)
def test_loads_object_accepts(data: bytes, expected: dict[str, Any]) -> None:
    assert loads_object(data) == expected


def nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def nested_arrays(depth: int) -> bytes:
    return b'{"a":' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'{"a":1,"a":2}', id="duplicate-top"),
        pytest.param(b'{"a":1,"a":1}', id="duplicate-same-value"),
        pytest.param(b'{"a":1,"b":2,"a":1}', id="duplicate-not-adjacent"),
        pytest.param(b'{"a":{"b":1,"b":2}}', id="duplicate-nested"),
        pytest.param(b'{"a":[{"b":1,"b":2}]}', id="duplicate-in-array"),
        pytest.param(b'{"a":1,"\\u0061":2}', id="duplicate-escaped"),
        pytest.param(b'{"a":NaN}', id="nan"),
        pytest.param(b'{"a":Infinity}', id="infinity"),
        pytest.param(b'{"a":-Infinity}', id="minus-infinity"),
        pytest.param(b'{"a":[NaN]}', id="nan-in-array"),
        pytest.param(b'{"a":1e309}', id="1e309"),
        pytest.param(b'{"a":-1e309}', id="minus-1e309"),
        pytest.param(b'{"a":1.5E400}', id="1.5E400"),
        pytest.param(b'\xef\xbb\xbf{"a":1}', id="bom"),
        pytest.param(b'{"a":"\xff"}', id="invalid-utf-8"),
        pytest.param(b'{"a":"\xc0\xaf"}', id="overlong-utf-8"),
        pytest.param(b'{"a":"\xed\xa0\x80"}', id="utf-8-surrogate"),
        pytest.param('{"a":1}'.encode("utf-16"), id="utf-16-bom"),
        pytest.param('{"a":1}'.encode("utf-16-le"), id="utf-16-le"),
        pytest.param('{"a":1}'.encode("utf-16-be"), id="utf-16-be"),
        pytest.param('{"a":1}'.encode("utf-32"), id="utf-32"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'[{"a":1}]', id="array-of-object"),
        pytest.param(b'"a"', id="string"),
        pytest.param(b"1", id="number"),
        pytest.param(b"1.5", id="float"),
        pytest.param(b"null", id="null"),
        pytest.param(b"true", id="true"),
        pytest.param(b"", id="empty"),
        pytest.param(b"   ", id="only-whitespace"),
        pytest.param(b'{"a":1}x', id="trailing-garbage"),
        pytest.param(b'{"a":1}{}', id="two-objects"),
        pytest.param(b'{"a":1} ,', id="trailing-comma"),
        pytest.param(b'{"a":1}\x00', id="trailing-nul"),
        pytest.param(b'{"a":1}\x0c', id="trailing-form-feed"),
        pytest.param('{"a":1}\u00a0'.encode(), id="trailing-nbsp"),
        pytest.param(b'\x0c{"a":1}', id="leading-form-feed"),
        pytest.param(b'{"a":1,}', id="object-trailing-comma"),
        pytest.param(b"{'a':1}", id="single-quotes"),
        pytest.param(b"{a:1}", id="unquoted-name"),
        pytest.param(b'{"a":01}', id="leading-zero"),
        pytest.param(b'{"a":"\x01"}', id="control-character"),
        pytest.param(b'{"a":1', id="truncated"),
        pytest.param(nested_objects(3000), id="3000-deep-objects"),
        pytest.param(nested_arrays(3000), id="3000-deep-arrays"),
        pytest.param(nested_objects(100_000), id="100000-deep-objects"),
        pytest.param(b'{"a":' + b"1" * 5000 + b"}", id="5000-digit-integer"),
        pytest.param(b'{"a":-' + b"1" * 5000 + b"}", id="5000-digit-negative"),
        pytest.param(b'{"a":"\\ud800x"}', id="lone-high-surrogate"),
        pytest.param(b'{"a":"\\udc00"}', id="lone-low-surrogate"),
        pytest.param(b'{"a":"\\ude00\\ud83d"}', id="surrogates-in-wrong-order"),
        pytest.param(b'{"\\udfff":1}', id="lone-surrogate-in-a-name"),
        pytest.param(b'{"a":[1,{"b":["\\ud800"]}]}', id="lone-surrogate-nested"),
    ],
)
def test_loads_object_rejects(data: bytes) -> None:
    with pytest.raises(ValueError):
        loads_object(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(nested_objects(3000), id="objects"),
        pytest.param(nested_arrays(3000), id="arrays"),
    ],
)
def test_deep_nesting_is_value_error_not_recursion_error(data: bytes) -> None:
    with pytest.raises(ValueError) as info:
        loads_object(data)
    assert not isinstance(info.value, RecursionError)
    assert isinstance(info.value.__cause__, RecursionError) or "nested" in str(info.value)


def test_loads_object_agrees_with_json_on_plain_input() -> None:
    payload = {"sub": "abc", "exp": 1_700_000_000, "scope": "a b", "cognito:groups": ["x"]}
    data = json.dumps(payload, separators=(",", ":")).encode()
    assert loads_object(data) == payload
    assert loads_object(json.dumps(payload, indent=2).encode()) == payload


def test_loads_object_result_is_a_plain_dict() -> None:
    assert type(loads_object(b'{"a":{"b":1}}')["a"]) is dict


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        pytest.param('{"a": [[1]]}', 3, id="plain"),
        pytest.param('{"a": "[[[[{{{{"}', 1, id="brackets-in-a-string"),
        pytest.param('{"a": "\\\\"}', 1, id="escaped-backslash-closes-the-string"),
        pytest.param('{"a": "\\"[[[["}', 1, id="escaped-quote-stays-in-the-string"),
        pytest.param('{"a": "\\\\", "b": [[[]]]}', 4, id="after-an-escaped-backslash"),
        pytest.param("[]", 1, id="array"),
        pytest.param("", 0, id="empty"),
    ],
)
def test_nesting_depth_skips_strings(text: str, depth: int) -> None:
    assert _nesting(text) == depth


def test_nesting_cap_counts_only_real_brackets() -> None:
    inside_a_string = '{"a": "' + "[" * 100 + '"}'
    assert loads_object(inside_a_string.encode()) == {"a": "[" * 100}
    exactly_the_cap = '{"a": ' + "[" * 31 + "]" * 31 + "}"
    assert loads_object(exactly_the_cap.encode())["a"]
    with pytest.raises(ValueError, match="nested"):
        loads_object(('{"a": ' + "[" * 32 + "]" * 32 + "}").encode())
