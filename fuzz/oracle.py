"""How a token must be answered, stated from the rules rather than from the verifier's code.

The answers are outcomes: `OK` (200), `FORBIDDEN` (403: verified, but the route's group or
scope is missing), `EXPIRED` and `INVALID` (401 with their challenges), `NO_CREDENTIALS` (401,
bare `Bearer`) and `BAD_REQUEST` (400, several Authorization headers).

For a token signed with the pool's real key, `expected_signed` applies the rules: size, a
strict JSON header (`alg` RS256, the signing key's `kid`, no forbidden member, at most 1024
bytes), a strict JSON payload, then Cognito's claim rules in their documented order (issuer,
token use, client, the time claims, then the claim types) and the route's requirement. Any
other token is acceptable only if it is, byte for byte, one of the minted tokens.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

from .generators import ADMIN_GROUP, FORBIDDEN_HEADER_PARAMS, READ_SCOPE, ROUTE_USE

__all__ = [
    "BAD_REQUEST",
    "EXPIRED",
    "FORBIDDEN",
    "INVALID",
    "NO_CREDENTIALS",
    "OK",
    "VERIFIED",
    "expected_payload",
    "expected_signed",
    "strict_object",
]

OK: Final = "ok"
FORBIDDEN: Final = "forbidden"
EXPIRED: Final = "expired"
INVALID: Final = "invalid"
NO_CREDENTIALS: Final = "no-credentials"
BAD_REQUEST: Final = "bad-request"
VERIFIED: Final = frozenset({OK, FORBIDDEN, EXPIRED})
"""Outcomes that take a verified signature."""

MAX_TOKEN_CHARS: Final = 16 * 1024
MAX_HEADER_BYTES: Final = 1024
MAX_KID_CHARS: Final = 128
MAX_NESTING: Final = 32
IAT_SKEW: Final = 60
MAX_LIFETIME: Final = 86_400
MAX_TIMESTAMP: Final = 2**53


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member")
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def strict_object(data: bytes) -> dict[str, Any] | None:
    """`data` as a JSON object if it is exactly one unambiguous one (RFC 8259, I-JSON)."""
    try:
        value = json.loads(
            data.decode("utf-8"),  # strict UTF-8; a BOM survives and json refuses it
            object_pairs_hook=_unique,
            parse_constant=_no_constant,
            parse_float=_finite,
        )
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or _depth(value) > MAX_NESTING:
        return None
    try:
        # I-JSON: no lone surrogates (json spells them with \u escapes, which decode to them).
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def _timestamp(value: Any) -> int | None:
    if type(value) is int and 0 < value < MAX_TIMESTAMP:
        return value
    return None


def _optional(payload: Mapping[str, Any], name: str, kind: type) -> bool:
    value = payload.get(name)
    return value is None or type(value) is kind


def expected_payload(
    payload: Mapping[str, Any], route: str, *, issuer: str, client_id: str, now: float
) -> str:
    """The answer on `route` for a verified token carrying `payload`."""
    use = ROUTE_USE[route]
    get = payload.get
    if type(get("iss")) is not str or get("iss") != issuer:
        return INVALID
    if type(get("token_use")) is not str or get("token_use") != use:
        return INVALID
    client = get("client_id" if use == "access" else "aud")
    if type(client) is not str or client != client_id:
        return INVALID
    # The claims read client_id before aud and cognito:username before username: where a
    # token has both spellings, they must agree with the one the rules checked.
    if use == "id" and "client_id" in payload and get("client_id") != client:
        return INVALID
    # No resource ids are configured: an access token bound to any resource is not for us.
    if use == "access" and "aud" in payload:
        return INVALID
    if (
        use == "access"
        and "cognito:username" in payload
        and (get("cognito:username") != get("username"))
    ):
        return INVALID
    exp, iat = _timestamp(get("exp")), _timestamp(get("iat"))
    nbf = _timestamp(get("nbf")) if "nbf" in payload else 0
    if exp is None or iat is None or nbf is None:
        return INVALID
    if now >= exp:
        return EXPIRED
    if now < nbf or iat > now + IAT_SKEW or exp - iat > MAX_LIFETIME:
        return INVALID
    username = get("cognito:username") if "cognito:username" in payload else get("username")
    groups = get("cognito:groups", [])
    if (
        type(get("sub")) is not str
        or not all(_optional(payload, name, int) for name in ("auth_time",))
        or not all(_optional(payload, name, str) for name in ("jti", "origin_jti", "scope"))
        or not (username is None or type(username) is str)
        or type(groups) is not list
        or not all(type(group) is str for group in groups)
    ):
        return INVALID
    if route == "/admin" and ADMIN_GROUP not in groups:
        return FORBIDDEN
    if route == "/scoped" and READ_SCOPE not in (get("scope") or "").split(" "):
        return FORBIDDEN
    return OK


def expected_signed(
    token: str,
    header: bytes,
    payload: bytes,
    signing_kid: str,
    route: str,
    *,
    issuer: str,
    client_id: str,
    now: float,
) -> str:
    """The answer on `route` for `token`, signed over `header` and `payload` by `signing_kid`."""
    if len(token) > MAX_TOKEN_CHARS or len(header) > MAX_HEADER_BYTES:
        return INVALID
    parsed = strict_object(header)
    if (
        parsed is None
        or type(parsed.get("alg")) is not str
        or parsed["alg"] != "RS256"
        or not FORBIDDEN_HEADER_PARAMS.isdisjoint(parsed)
        or parsed.get("kid") != signing_kid
        or len(signing_kid) > MAX_KID_CHARS
    ):
        return INVALID
    claims = strict_object(payload)
    if claims is None:
        return INVALID
    return expected_payload(claims, route, issuer=issuer, client_id=client_id, now=now)
