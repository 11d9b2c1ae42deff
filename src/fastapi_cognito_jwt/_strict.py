"""Strict base64url and JSON decoding shared by the token parser and the JWKS parser.

Both raise `ValueError` for anything that is not exactly one canonical encoding; callers
translate that into their own error type.
"""

from __future__ import annotations

import binascii
import json
import json.scanner
import math
import re
import sys
from collections.abc import Callable
from typing import Any, cast

__all__ = [
    "B64URL_ALPHABET",
    "b64url_decode",
    "check_canonical",
    "canonical_end",
    "decode_checked",
    "decodes_strictly",
    "loads_object",
]

B64URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Last characters that leave unused bits set, by segment length modulo 4 (RFC 4648 §3.5).
_NONCANONICAL_LAST = {
    0: frozenset(),
    1: frozenset(),
    2: frozenset(chr(c) for i, c in enumerate(B64URL_ALPHABET) if i & 0b1111),
    3: frozenset(chr(c) for i, c in enumerate(B64URL_ALPHABET) if i & 0b11),
}
_SEGMENT = re.compile("[A-Za-z0-9_-]+")
# base64url to base64; '+', '/' and '=' are not base64url, so they become a byte the strict
# decoder refuses.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"", b"==", b"=")
# Python 3.11's strict decoder refuses any byte outside the alphabet; earlier decoders skip
# such bytes, so callers there must check the alphabet first.
decodes_strictly = sys.version_info >= (3, 11)


def check_canonical(segment: str) -> None:
    """Refuse a base64url segment that has more than one spelling of its bytes.

    The caller has already checked the alphabet. What is left are a length that no byte
    string encodes to, and unused low bits in the last character: without this check a
    signature could be re-spelt 15 ways and slip past caches and denylists.
    """
    if not canonical_end(len(segment), segment[-1:]):
        raise ValueError("base64url segment is empty, of impossible length or not canonical")


def canonical_end(length: int, last: str) -> bool:
    """Whether a non-empty segment of `length` ending in `last` can be canonical."""
    return length % 4 != 1 and length != 0 and last not in _NONCANONICAL_LAST[length % 4]


def b64url_decode(segment: str) -> bytes:
    """Decode one canonical, unpadded base64url segment."""
    if not isinstance(segment, str) or not _SEGMENT.fullmatch(segment):
        raise ValueError("not a base64url segment")
    check_canonical(segment)
    return decode_checked(segment.encode("ascii"))


if decodes_strictly:

    def decode_checked(segment: bytes) -> bytes:
        """Decode a segment whose length and last character passed `canonical_end`.

        Raises `ValueError` (binascii.Error) for any byte outside the base64url alphabet.
        """
        return binascii.a2b_base64(
            segment.translate(_TO_STANDARD) + _PADDING[len(segment) % 4], strict_mode=True
        )

else:  # pragma: no cover - Python 3.10

    def decode_checked(segment: bytes) -> bytes:
        """Decode a segment whose bytes, length and last character were checked."""
        return binascii.a2b_base64(segment.translate(_TO_STANDARD) + _PADDING[len(segment) % 4])


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("JSON number out of range")
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_object,
    parse_constant=_reject_constant,
    parse_float=_finite_float,
)
_SCAN: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(cast(Any, _DECODER))


MAX_NESTING = 32


def _nesting(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON `text` (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def loads_object(data: bytes) -> dict[str, Any]:
    """Parse UTF-8 JSON whose top level is an object, refusing anything ambiguous.

    Duplicate member names, `NaN`/`Infinity`, numbers beyond float range, a byte-order mark,
    invalid UTF-8, lone surrogates, nesting deeper than 32 levels and integers beyond Python's
    digit limit all raise `ValueError`.
    """
    text = data.decode("utf-8")
    # Counting brackets is cheap; the exact depth is measured only when it could matter. Deep
    # nesting is refused so that neither the parser nor a later copy of a claim recurses
    # without bound.
    if text.count("[") + text.count("{") > MAX_NESTING and _nesting(text) > MAX_NESTING:
        raise ValueError("JSON nested too deeply")
    try:
        # The C scanner itself: JSONDecoder.decode adds two regex passes for whitespace that
        # a compact token payload does not have.
        value, end = _SCAN(text, 0)
    except StopIteration:
        value, end = _DECODER.decode(text), len(text)  # raises the precise JSON error
    if end != len(text) and text[end:].strip(" \t\n\r"):
        raise ValueError("trailing data after the JSON value")
    if not isinstance(value, dict):
        raise ValueError("JSON value is not an object")
    # A `\u` escape can spell half a surrogate pair, which is valid JSON but not I-JSON
    # (RFC 7493) and cannot be encoded again: a route returning such a claim would fail.
    if "\\u" in text and not _encodable(value):
        raise ValueError("JSON string with a lone surrogate")
    return value


def _encodable(value: Any) -> bool:
    """Whether every string in `value`, keys included, can be encoded as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_encodable(key) and _encodable(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_encodable(item) for item in value)
    return True
