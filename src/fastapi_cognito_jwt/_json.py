"""Strict JSON: one reading of a document or none, for tokens, key sets and Cognito's replies."""

from __future__ import annotations

import json
import json.scanner
import math
import sys
from collections.abc import Callable
from typing import Any, cast

from pydantic_core import from_json, to_json

__all__ = ["MAX_NESTING", "loads_object"]

MAX_NESTING = 32
# pydantic-core's own limit on an integer's digits, whatever Python's is set to.
_FAST_INT_DIGITS = 4300


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
    # Fast path for what Cognito sends (compact, canonical JSON): pydantic-core's parser, about
    # twice as fast as the standard library's, but it keeps the last of duplicate names. Its
    # reading is taken only when writing it back gives the very bytes read: a document that
    # had a duplicate name, a non-finite number or any other spelling of the same value comes
    # out different and goes to the strict parser below, which accepts or refuses it. Where
    # the app set Python's digit limit below pydantic-core's, only the strict parser knows it.
    limit = sys.get_int_max_str_digits()
    if not 0 < limit < _FAST_INT_DIGITS and _brackets_at_most(data, MAX_NESTING):
        try:
            value = from_json(data, allow_inf_nan=False, cache_strings="keys")
        except ValueError:
            value = None
        if type(value) is dict and to_json(value) == data:
            return value
    return _loads_object_strictly(data)


def _brackets_at_most(data: bytes, limit: int) -> bool:
    """Whether `data` has at most `limit` bytes that open an array or an object.

    That many brackets cannot nest deeper than `limit`. Found one by one (memchr) rather than
    counted: a token payload has a bracket or two, and counting reads every byte, twice.
    """
    found = 0
    for opener in b"[{":
        at = data.find(opener)
        while at >= 0:
            found += 1
            if found > limit:
                return False
            at = data.find(opener, at + 1)
    return True


def _loads_object_strictly(data: bytes) -> dict[str, Any]:
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
    # (RFC 7493) and cannot be encoded again: a route returning such a value would fail.
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
