"""The first step of verification: strict base64url and JSON (`ValueError` for anything but one
canonical encoding) and `parse_token` (`MalformedTokenError`). Hostile tokens through the whole
app are in tests/security/test_attack_corpus.py."""

from __future__ import annotations

import base64
import json
import random
import sys
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, cast

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from fastapi_cognito_jwt import MalformedTokenError, _json
from fastapi_cognito_jwt._json import _nesting, loads_object
from fastapi_cognito_jwt._verification import base64url, parsed_token
from fastapi_cognito_jwt._verification.parsed_token import parse_token, remember_header
from tests.helpers import b64u, compact

ALPHABET = base64url.B64URL_ALPHABET.decode()


DECODED = [("AA", b"\x00"), ("_w", b"\xff"), ("__8", b"\xff\xff"), ("____", b"\xff\xff\xff"),
           ("-_-_", b"\xfb\xff\xbf"), ("eyJhbGciOiJSUzI1NiJ9", b'{"alg":"RS256"}')]  # fmt: skip
ROUND_TRIPS = [random.Random(n).randbytes(n) for n in range(1, 40)] + [bytes(range(256))]


def fast_decoder() -> Callable[[bytes, None, bool], bytes]:
    """pybase64's decoder; the test is skipped where the `speedups` extra is not installed."""
    if base64url._fast_b64decode is None:
        pytest.skip("the speedups extra (pybase64 with its C extension) is not installed")
    return base64url._fast_b64decode


@pytest.fixture(params=["pybase64", "binascii"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each base64url test runs with both decoders: the `speedups` extra's and the fallback."""
    if request.param == "pybase64":
        fast_decoder()
    else:
        monkeypatch.setattr(base64url, "_fast_b64decode", None)


def decode_with_each(segment: bytes) -> list[bytes | None]:
    """`decode_bytes(segment)` with pybase64, then with binascii; None where it is refused."""
    outcomes: list[bytes | None] = []
    for decoder in (fast_decoder(), None):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(base64url, "_fast_b64decode", decoder)
            try:
                outcomes.append(base64url.decode_bytes(segment))
            except ValueError:
                outcomes.append(None)
    return outcomes


@pytest.mark.usefixtures("decoder")
@pytest.mark.parametrize(
    ("segment", "expected"), DECODED + [(b64u(data), data) for data in ROUND_TRIPS], ids=repr
)
def test_decode(segment: str, expected: bytes) -> None:
    assert base64url.decode(segment) == expected


# Segments the attack corpus does not already send (padding, '+', '/', spaces, control
# characters, impossible lengths and non-canonical endings go through the whole app there).
REFUSED_SEGMENTS = {
    "padding-short": "QQ=", "nbsp": "\u00a0QUFB", "non-ascii-digit": "QUF\u0661",
    "fullwidth-letter": "QUF\uff22", "percent-encoded-padding": "QQ%3D%3D", "bytes": b"QUFB",
    "bytearray": bytearray(b"QUFB"), "none": None, "int": 1234, "list": ["QUFB"],
}  # fmt: skip


@pytest.mark.usefixtures("decoder")
@pytest.mark.parametrize("segment", REFUSED_SEGMENTS.values(), ids=REFUSED_SEGMENTS)
def test_decode_refuses(segment: object) -> None:
    with pytest.raises(ValueError):
        base64url.decode(cast(Any, segment))


@pytest.mark.usefixtures("decoder")
@pytest.mark.parametrize("prefix", ["Q", "QUF", "QUFBQ", "QUFBQUF"], ids=len)
@pytest.mark.parametrize("last", ALPHABET)
def test_only_a_canonical_last_character_passes(prefix: str, last: str) -> None:
    """Every last character after 1, 3, 5 and 7 characters, against an oracle (re-encoding the
    bytes gives the segment back): 4 of 64 can end a segment of 2 (mod 4) characters, 16 of 3."""
    segment = prefix + last
    if b64u(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))) == segment:
        assert base64url.decode(segment) == base64.urlsafe_b64decode(segment + "==")
    else:
        with pytest.raises(ValueError):
            base64url.decode(segment)


# Bytes outside base64url that either decoder could take differently.
ODD_BYTES = list(b"+/=! \t\n\r\x00.\x7f\x80\xff")


@hypothesis_settings(max_examples=300)
@given(
    # Short segments, and long ones that reach libbase64's vector loop (45 bytes and more).
    st.binary(max_size=40) | st.binary(min_size=40, max_size=1100),
    st.integers(min_value=0),
    st.sampled_from([None, *ODD_BYTES]),
    st.booleans(),
)
def test_both_decoders_take_and_refuse_the_same_segments(
    data: bytes, position: int, odd: int | None, insert: bool
) -> None:
    """A canonical segment, or one with a byte outside the alphabet put in or in place of one."""
    segment = b64u(data).encode()
    if odd is not None:
        at = position % (len(segment) + 1)
        segment = segment[:at] + bytes([odd]) + segment[at + (not insert) :]
    expected = data if segment == b64u(data).encode() and data else None
    assert decode_with_each(segment) == [expected, expected]


@pytest.mark.parametrize("size", [256, 470], ids=["signature", "payload"])
def test_an_odd_byte_anywhere_in_a_long_segment_is_refused_by_both(size: int) -> None:
    data = random.Random(size).randbytes(size)
    segment = b64u(data).encode()
    assert decode_with_each(segment) == [data, data]
    for at in range(len(segment) + 1):
        for odd in bytes(ODD_BYTES):
            put_in = segment[:at] + bytes([odd]) + segment[at:]
            in_place = segment[:at] + bytes([odd]) + segment[at + 1 :]
            assert decode_with_each(put_in) == decode_with_each(in_place) == [None, None]


def test_pybase64_decodes_only_with_its_c_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    pybase64 = pytest.importorskip("pybase64")
    assert base64url._fast_decoder() is pybase64.b64decode
    assert base64url.DECODER == "pybase64"
    # Built without it, pybase64 runs Python code slower than binascii.
    monkeypatch.setattr(pybase64, "get_version", lambda: "1.5.1 (C extension inactive)")
    assert base64url._fast_decoder() is None
    monkeypatch.setitem(sys.modules, "pybase64", None)  # not installed: its import fails
    assert base64url._fast_decoder() is None


def nested(depth: int, opening: bytes = b"[") -> bytes:
    """An object holding `depth - 1` levels of arrays (or objects): `depth` levels in all."""
    closing, inner = (b"]", b"[]") if opening == b"[" else (b"}", b'{"a":1}')
    return b'{"a":' + opening * (depth - 2) + inner + closing * (depth - 2) + b"}"


# Accepted documents read as the standard library reads them.
ACCEPTED_JSON = {
    "empty": b"{}", "all-types": b'{"s":"x","n":null,"t":true,"f":false,"l":[1,2.5],"o":{"k":-1}}',
    "json-whitespace": b' \t\r\n{ "a" : 1 } \t\r\n', "utf-8": '{"é":"ü"}'.encode(),
    "escape": b'{"a":"\\u00e9"}', "surrogate-pair": b'{"a":"\\ud83d\\ude00"}',
    "escaped-backslash-u": b'{"a":"\\\\ud800"}', "large-floats": b'{"a":1e308,"b":-1e308}',
    "underflow": b'{"a":1e-400}', "same-name-at-two-levels": b'{"a":{"a":1}}',
    "same-name-in-two-items": b'{"a":[{"b":1},{"b":2}]}',
    "4000-digits": b'{"a":' + b"9" * 4000 + b"}",
    "indented": json.dumps({"a": [1, {"b": "c"}]}, indent=2).encode(),
    "brackets-in-a-string": b'{"a":"' + b"[" * 100 + b'"}', "32-levels": nested(32),
}  # fmt: skip


@pytest.mark.parametrize("data", ACCEPTED_JSON.values(), ids=ACCEPTED_JSON)
def test_loads_object_accepts(data: bytes) -> None:
    value = loads_object(data)
    assert value == json.loads(data) and type(value) is dict  # plain dicts, nested ones too
    assert all(type(item) is dict for item in value.values() if isinstance(item, dict))


# JSON the attack corpus does not already send in a header or a payload.
REFUSED_JSON = {
    "duplicate-same-value": b'{"a":1,"a":1}', "duplicate-not-adjacent": b'{"a":1,"b":2,"a":1}',
    "duplicate-nested": b'{"a":{"b":1,"b":2}}', "duplicate-in-array": b'{"a":[{"b":1,"b":2}]}',
    "duplicate-escaped": b'{"a":1,"\\u0061":2}', "nan-in-array": b'{"a":[NaN]}',
    "minus-1e309": b'{"a":-1e309}', "1.5E400": b'{"a":1.5E400}',
    "overlong-utf-8": b'{"a":"\xc0\xaf"}', "utf-8-surrogate": b'{"a":"\xed\xa0\x80"}',
    "utf-16-be": '{"a":1}'.encode("utf-16-be"), "utf-32": '{"a":1}'.encode("utf-32"),
    "array-of-object": b'[{"a":1}]', "float": b"1.5", "true": b"true", "empty": b"",
    "only-whitespace": b"   ", "trailing-garbage": b'{"a":1}x', "two-objects": b'{"a":1}{}',
    "trailing-comma": b'{"a":1} ,', "trailing-nul": b'{"a":1}\x00',
    "trailing-form-feed": b'{"a":1}\x0c', "trailing-nbsp": '{"a":1}\u00a0'.encode(),
    "leading-form-feed": b'\x0c{"a":1}', "object-trailing-comma": b'{"a":1,}',
    "single-quotes": b"{'a':1}", "unquoted-name": b"{a:1}", "leading-zero": b'{"a":01}',
    "control-character": b'{"a":"\x01"}', "5000-digit-negative": b'{"a":-' + b"1" * 5000 + b"}",
    "lone-low-surrogate": b'{"a":"\\udc00"}', "lone-surrogate-in-a-name": b'{"\\udfff":1}',
    "surrogates-in-wrong-order": b'{"a":"\\ude00\\ud83d"}',
    "lone-surrogate-nested": b'{"a":[1,{"b":["\\ud800"]}]}',
}  # fmt: skip


@pytest.mark.parametrize("data", REFUSED_JSON.values(), ids=REFUSED_JSON)
def test_loads_object_refuses(data: bytes) -> None:
    with pytest.raises(ValueError):
        loads_object(data)


def test_only_a_document_written_back_byte_for_byte_skips_the_strict_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The fast parser keeps the last of duplicate names and reads 1e400 as infinity: its
    # reading may be taken only for the one spelling it writes back itself.
    strict: list[bytes] = []
    real = _json._loads_object_strictly

    def spy(data: bytes) -> dict[str, Any]:
        strict.append(data)
        return real(data)

    monkeypatch.setattr(_json, "_loads_object_strictly", spy)
    canonical = [
        *(ACCEPTED_JSON[name] for name in ("all-types", "utf-8", "32-levels")),
        compact({"sub": "s", "cognito:groups": ["a", "b"], "exp": 2**40, "x": -0.5}),
        b'{"a":"' + b"[" * 15 + b"{" * 16 + b'"}',  # 32 brackets, where they cannot nest
    ]
    for data in canonical:
        assert loads_object(data) == json.loads(data)
    assert strict == []
    spelt_otherwise = [ACCEPTED_JSON["json-whitespace"], ACCEPTED_JSON["escape"], b'{"a":1e5}']
    spelt_otherwise += [b'{"a":"\\/"}', b'{"a":-0}']
    spelt_otherwise += [b'{"a":"' + b"[" * 16 + b"{" * 16 + b'"}']  # 33 brackets: counted only
    for data in spelt_otherwise:
        assert loads_object(data) == json.loads(data)
    refused = [REFUSED_JSON[name] for name in ("duplicate-same-value", "duplicate-nested")]
    refused += [REFUSED_JSON["minus-1e309"], b'{"a":[1e400]}', b'{"a":"\\ud800"}']
    for data in refused:
        with pytest.raises(ValueError):
            loads_object(data)
    assert strict == spelt_otherwise + refused


def test_a_lowered_digit_limit_is_kept() -> None:
    # pydantic-core reads integers of up to 4300 digits whatever Python's limit is set to.
    document, limit = b'{"a":1' + b"0" * 1000 + b"}", sys.get_int_max_str_digits()
    assert loads_object(document)["a"] == 10**1000
    sys.set_int_max_str_digits(640)
    try:
        with pytest.raises(ValueError, match="digits"):
            loads_object(document)
    finally:
        sys.set_int_max_str_digits(limit)


@pytest.mark.parametrize("data", [nested(33), nested(33, b"{")], ids=["arrays", "objects"])
def test_33_levels_are_refused_before_the_parser_recurses(data: bytes) -> None:
    with pytest.raises(ValueError, match="^JSON nested too deeply$"):
        loads_object(data)


@pytest.mark.parametrize(
    ("text", "depth"),
    [('{"a": [[1]]}', 3), ('{"a": "[[[[{{{{"}', 1), ('{"a": "\\\\"}', 1), ('{"a": "\\"[[[["}', 1),
     ('{"a": "\\\\", "b": [[[]]]}', 4), ("[]", 1), ("", 0)],
    ids=["plain", "brackets-in-a-string", "escaped-backslash-closes-the-string",
         "escaped-quote-stays-in-the-string", "after-an-escaped-backslash", "array", "empty"],
)  # fmt: skip
def test_nesting_depth_skips_strings(text: str, depth: int) -> None:
    assert _nesting(text) == depth


HEADER = {"kid": "k1", "alg": "RS256"}


def token_of(header: Any = HEADER, payload: Any = None, signature: bytes = b"sig") -> str:
    """A compact token of JSON (or raw bytes) parts; nothing here needs it signed."""
    parts = [p if isinstance(p, bytes) else compact(p) for p in (header, payload or {"a": 1})]
    return ".".join([b64u(parts[0]), b64u(parts[1]), b64u(signature)])


def test_parse_token_reads_every_part() -> None:
    token = token_of(payload={"sub": "x", "n": [1]}, signature=b"\x00" * 256)
    header, payload, _ = token.split(".")
    parsed = parse_token(token, 16 * 1024, {})
    assert tuple(parsed) == (f"{header}.{payload}".encode(), b"\x00" * 256, header, HEADER,
                             {"sub": "x", "n": [1]}, "k1")  # fmt: skip
    assert type(parsed.payload) is dict
    with pytest.raises(TypeError):
        parsed.header["alg"] = "none"  # type: ignore[index]


def test_size_is_checked_before_any_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    spied = {"decode_bytes": base64url, "loads_object": parsed_token}  # all decoding
    for name, owner in spied.items():
        original = getattr(owner, name)

        def spy(*args: Any, _name: str = name, _original: Any = original) -> Any:
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(owner, name, spy)
    token = token_of()
    with pytest.raises(MalformedTokenError, match="size limit"):
        parse_token(token, len(token) - 1, {})
    assert calls == []
    parse_token(token, len(token), {})
    assert set(calls) == set(spied)


@pytest.mark.parametrize(
    "token", ["abc", "a.QUFB", "", "..", "eyJ9..QUFB", "eyJ9.QUFB.", "eyJ9.QUFB.QUFB.QUFB",
              "eyJ9.QUFB.QUF", "eyJ9.QR.QUFB", "eyJ9.é.QUFB"],
)  # fmt: skip
def test_a_token_not_of_three_canonical_segments_has_one_message(token: str) -> None:
    with pytest.raises(MalformedTokenError, match="^token is not three canonical base64url"):
        parse_token(token, 16 * 1024, {})


def test_the_payload_is_read_before_any_key_or_signature() -> None:
    """A payload that is not a strict JSON object is refused here, whatever the signature."""
    for payload in (b"not json", b"[1]", b'{"exp":1,"exp":2}'):
        with pytest.raises(MalformedTokenError, match="payload"):
            parse_token(token_of(payload=payload, signature=b"\x00"), 16 * 1024, {})


def test_a_known_header_segment_skips_the_header_checks_only() -> None:
    token = token_of(header={"alg": "none"})
    with pytest.raises(MalformedTokenError, match="alg"):
        parse_token(token, 16 * 1024, {})
    known = MappingProxyType({"kid": "k1", "alg": "RS256"})
    assert parse_token(token, 16 * 1024, {token.split(".")[0]: known}).header is known
    bad_payload = token_of(header={"alg": "none"}, payload=b"[]")
    with pytest.raises(MalformedTokenError, match="payload"):
        parse_token(bad_payload, 16 * 1024, {token.split(".")[0]: known})


def test_remember_header_keeps_flat_headers_up_to_the_limit() -> None:
    def parsed(**extra: Any) -> parsed_token.ParsedToken:
        return parse_token(token_of(header={**HEADER, **extra}), 16 * 1024, {})

    known: dict[str, Any] = {}
    remember_header(known, parsed(x={"a": "b"}), 2)  # not flat: never kept
    remember_header(known, parsed(typ=None), 2)
    assert known == {}
    first, second, third = parsed(typ="JWT"), parsed(), parsed(cty="x")
    for each in (first, second, third, first._replace(header={"alg": "other"})):
        remember_header(known, each, 2)
    assert known == {first.header_segment: first.header, second.header_segment: second.header}
