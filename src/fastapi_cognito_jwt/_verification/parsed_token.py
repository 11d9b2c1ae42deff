"""The first step of verification: a compact JWS read strictly, before any key is touched."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from types import MappingProxyType
from typing import Any, NamedTuple

from .._exceptions import MalformedTokenError
from .._json import loads_object
from . import base64url

__all__ = [
    "FORBIDDEN_HEADER_PARAMS",
    "MAX_HEADER_BYTES",
    "MAX_KID_LENGTH",
    "ParsedToken",
    "parse_token",
    "remember_header",
]

MAX_HEADER_BYTES = 1024
MAX_KID_LENGTH = 128
# Header parameters that would make us fetch keys from, or trust keys in, the token itself,
# or that belong to JWE or to JWS extensions we do not implement (RFC 7515 §4.1.11, RFC 8725).
FORBIDDEN_HEADER_PARAMS = frozenset(
    {"crit", "b64", "jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "zip", "enc", "epk", "p2c"}
)


class ParsedToken(NamedTuple):
    """A token whose syntax, header policy and payload JSON passed; nothing is verified yet."""

    signing_input: bytes
    """`header.payload`, the bytes the signature covers."""
    signature: bytes
    header_segment: str
    header: Mapping[str, Any]
    """The JOSE header: `alg` is RS256 and `kid` a string of 1-128 characters."""
    payload: dict[str, Any]
    """The claims as sent, not yet trusted."""
    kid: str
    """The header's `kid`, which names the signing key."""


def parse_token(
    token: str, max_bytes: int, known_headers: Mapping[str, Mapping[str, Any]]
) -> ParsedToken:
    """Check the compact syntax, decode the segments, read the header and the payload.

    `known_headers` maps header segments that were already checked to their parsed form.
    Raises `MalformedTokenError`; touches no key and no network.
    """
    if len(token) > max_bytes:
        raise MalformedTokenError("token exceeds the size limit")
    try:
        compact = token.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedTokenError("token is not three canonical base64url segments") from None
    first_dot = token.find(".")
    second_dot = token.find(".", first_dot + 1)
    # The strict decoder checks every byte of the payload and the signature; a third dot
    # is a byte outside the alphabet, and so refused with them.
    try:
        if first_dot < 0 or second_dot < 0:
            raise ValueError("fewer than two dots")
        signature = base64url.decode_bytes(compact[second_dot + 1 :])
        payload_bytes = base64url.decode_bytes(compact[first_dot + 1 : second_dot])
    except ValueError:
        raise MalformedTokenError("token is not three canonical base64url segments") from None
    header_segment = token[:first_dot]
    header = known_headers.get(header_segment)
    if header is None:
        header = _parse_header(header_segment)
    try:
        payload = loads_object(payload_bytes)
    except ValueError as exc:
        raise MalformedTokenError("payload is not a strict JSON object") from exc
    return ParsedToken(
        compact[:second_dot], signature, header_segment, header, payload, header["kid"]
    )


def remember_header(
    known_headers: MutableMapping[str, Mapping[str, Any]], parsed: ParsedToken, limit: int
) -> None:
    """Keep the header of a verified token for `parse_token` to skip, if it is flat.

    Cognito signs with a handful of headers; only those of verified tokens are kept, and at
    most `limit`, so strangers cannot fill memory.
    """
    if (
        parsed.header_segment not in known_headers
        and len(known_headers) < limit
        and all(isinstance(value, str) for value in parsed.header.values())
    ):
        known_headers[parsed.header_segment] = parsed.header


def _parse_header(segment: str) -> Mapping[str, Any]:
    try:
        raw = base64url.decode(segment)
        if len(raw) > MAX_HEADER_BYTES:
            raise MalformedTokenError("header exceeds the size limit")
        header = loads_object(raw)
    except ValueError as exc:
        raise MalformedTokenError("header is not a strict JSON object") from exc
    if header.get("alg") != "RS256":
        raise MalformedTokenError("alg is not RS256")
    if not FORBIDDEN_HEADER_PARAMS.isdisjoint(header):
        raise MalformedTokenError("header carries a forbidden parameter")
    kid = header.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise MalformedTokenError("kid is missing or not a string of 1-128 characters")
    return MappingProxyType(header)
