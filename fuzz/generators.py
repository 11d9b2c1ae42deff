"""The fuzz inputs: Authorization headers, token-shaped strings, mutations and signed tokens.

Every generator is a function of a `random.Random` and a `Context` (the pool's public facts
and the tokens minted with its real keys) that returns a `Case`. The long-run script passes
`random.Random(stream)`, so a run can be replayed; the tests pass
`st.randoms(use_true_random=False)`, so Hypothesis makes, and shrinks, every choice.

A `Case` is plain data that does not depend on the keys of one run: minted tokens appear by
index, a mutation is its list of `Op`s, a signed token is its header, payload and signing key
index. A failing case therefore prints as a `Case(...)` that can be pinned with `@example`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, TypeVar

__all__ = [
    "ADMIN_GROUP",
    "BEARER",
    "CLAIM_NAMES",
    "FORBIDDEN_HEADER_PARAMS",
    "GENERATORS",
    "READ_SCOPE",
    "ROUTES",
    "ROUTE_USE",
    "SELF",
    "Case",
    "Context",
    "Known",
    "Mutated",
    "Op",
    "Signed",
    "apply_ops",
    "b64url",
    "dump",
    "gen_direct",
    "gen_header",
    "gen_mutation",
    "gen_shape",
    "gen_signed_claims",
    "gen_signed_json",
    "gen_unknown_kid",
]

T = TypeVar("T")

# -- the app's routes ---------------------------------------------------------------------

ROUTES: Final = ("/access", "/id", "/admin", "/scoped")
"""Access tokens, ID tokens, access tokens of the admin group, access tokens with api/read."""
ROUTE_USE: Final[Mapping[str, str]] = {
    "/access": "access",
    "/id": "id",
    "/admin": "access",
    "/scoped": "access",
}
ADMIN_GROUP: Final = "admin"
READ_SCOPE: Final = "api/read"

# Header parameters RFC 7515/8725 say a verifier that does not implement them must refuse:
# keys fetched from, or carried in, the token; JWS extensions; JWE members.
FORBIDDEN_HEADER_PARAMS: Final = frozenset(
    {"crit", "b64", "jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "zip", "enc", "epk", "p2c"}
)
CLAIM_NAMES: Final = (
    "sub",
    "iss",
    "token_use",
    "exp",
    "iat",
    "nbf",
    "auth_time",
    "jti",
    "origin_jti",
    "event_id",
    "client_id",
    "aud",
    "username",
    "cognito:username",
    "cognito:groups",
    "scope",
    "email",
    "custom:role",
    "payload",
    "groups",
)

# -- cases --------------------------------------------------------------------------------

SELF: Final = -1
"""In a header's parts: the case's own token (other integers are minted tokens by index)."""


class Op(NamedTuple):
    """One mutation. Positions and indexes are taken modulo what they index when applied."""

    kind: str
    seg: int = 0
    pos: int = 0
    arg: int = 0
    text: str = ""


@dataclass(frozen=True)
class Mutated:
    """Minted token number `base`, with `ops` applied in order (none: the token itself)."""

    base: int
    ops: tuple[Op, ...] = ()


@dataclass(frozen=True)
class Signed:
    """A token signed with the pool's real key number `key`.

    `header` defaults to `{"kid": <kid of that key>, "alg": "RS256"}`; dicts are serialised
    compactly, bytes are signed as they are.
    """

    payload: dict[str, Any] | bytes
    header: dict[str, Any] | bytes | None = None
    key: int = 0


TokenSpec = str | Mutated | Signed
Part = bytes | int
HeaderSpec = tuple[bytes, tuple[Part, ...]]
BEARER: Final[tuple[HeaderSpec, ...]] = ((b"authorization", (b"Bearer ", SELF)),)


@dataclass(frozen=True)
class Case:
    """One input: request `route` with `headers` (or, for "direct", verify `token` as is)."""

    category: str
    route: str
    token: TokenSpec | None = None
    headers: tuple[HeaderSpec, ...] = BEARER


@dataclass(frozen=True)
class Known:
    """A token minted with a real key: its claims, its key's index, its answer per route."""

    token: str
    claims: Mapping[str, Any]
    key: int
    expected: Mapping[str, str]


@dataclass(frozen=True)
class Context:
    """What the generators may know: the pool's public facts and the minted tokens."""

    issuer: str
    client_id: str
    kids: tuple[str, ...]
    moduli: tuple[int, ...]
    now: int
    known: tuple[Known, ...]


# -- helpers ------------------------------------------------------------------------------

B64URL: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
ALPHABETS: Final = (
    B64URL,
    B64URL,
    B64URL[:62] + "+/=",
    B64URL + "+/=.",
    "".join(map(chr, range(0x20, 0x7F))),
    "\x00\t\n\r\x0b\x0c\x1b\x7f .",
    "".join(map(chr, range(0xA0, 0x100))),
    "äöüß€漢字\u200b\ufeff\u2028\xa0ｂｅａｒｅｒ\U0001f600\ud800\udfff.",
    "AB.=",
)


_TO_STANDARD: Final = str.maketrans("-_", "+/")


def b64url(data: bytes) -> str:
    """Canonical unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(segment: str) -> bytes | None:
    """Decode base64url leniently as to padding, strictly as to the alphabet; None if not."""
    try:
        standard = segment.translate(_TO_STANDARD).encode("ascii")
        return base64.b64decode(standard + b"=" * (-len(standard) % 4), validate=True)
    except (ValueError, binascii.Error):
        return None


def _escaped_name(name: str) -> bytes:
    """`name` as a JSON string with every character spelt as a \\u escape."""
    spelt = (
        f"\\u{ord(char):04x}" if ord(char) < 0x10000 else dump(char)[1:-1].decode() for char in name
    )
    return ('"' + "".join(spelt) + '"').encode()


def dump(value: Any) -> bytes:
    """Compact JSON, as Cognito and `LocalUserPool.sign` serialise."""
    return json.dumps(value, separators=(",", ":")).encode()


def _chance(rng: random.Random, p: float) -> bool:
    return rng.random() < p


def _pick(rng: random.Random, options: Sequence[T]) -> T:
    return options[rng.randrange(len(options))]


def _chars(rng: random.Random, alphabet: str, n: int) -> str:
    # One draw for the whole string: cheap under Hypothesis, and it shrinks to alphabet[0].
    return "".join(alphabet[byte % len(alphabet)] for byte in rng.randbytes(n))


def _length(rng: random.Random) -> int:
    bucket = rng.randrange(6)
    if bucket == 0:
        return rng.randrange(6)
    if bucket == 1:
        return _pick(rng, (22, 342, 341, 343, 344, 4, 5, 8, 9))
    if bucket == 2:
        return rng.randrange(6, 64)
    return rng.randrange(64, 600)


def _route(rng: random.Random) -> str:
    return _pick(rng, ROUTES)


def _random_key(rng: random.Random) -> str:
    if _chance(rng, 0.3):
        return _pick(rng, CLAIM_NAMES)
    return _chars(rng, _pick(rng, ALPHABETS), rng.randrange(0, 12))


# -- JSON values ----------------------------------------------------------------------------

_INTS: Final = (0, 1, -1, 2**31, 2**53 - 1, 2**53, 2**63, -(2**63), 2**64, 10**20)
_FLOATS: Final = (0.0, -0.0, 0.5, 1e-300, 1e300, 1.7976931348623157e308, 5e-324, math.nan)
_FLOATS_INF: Final = (math.inf, -math.inf)


def json_value(rng: random.Random, ctx: Context, depth: int = 2) -> Any:
    """A random JSON value (NaN and infinities included, which JSON proper refuses)."""
    kind = rng.randrange(10 if depth > 0 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return bool(rng.randrange(2))
    if kind == 2:
        return _pick(rng, _INTS) if _chance(rng, 0.5) else rng.randrange(-(2**40), 2**40)
    if kind == 3:
        if _chance(rng, 0.2):
            return _pick(rng, _FLOATS_INF)
        return _pick(rng, _FLOATS) if _chance(rng, 0.5) else rng.random() * 10 ** rng.randrange(20)
    if kind == 4:
        return _chars(rng, _pick(rng, ALPHABETS), rng.randrange(0, 24))
    if kind == 5:
        return _pick(
            rng,
            (
                ctx.issuer,
                ctx.client_id,
                "access",
                "id",
                ADMIN_GROUP,
                READ_SCOPE,
                *ctx.kids,
                "",
                "RS256",
                "null",
                "\x00",
                '"}',
            ),
        )
    if kind == 6:
        return ctx.now + rng.randrange(-100_000, 100_000)
    if kind in (7, 8):
        return [json_value(rng, ctx, depth - 1) for _ in range(rng.randrange(5))]
    return {_random_key(rng): json_value(rng, ctx, depth - 1) for _ in range(rng.randrange(5))}


def near_miss(rng: random.Random, ctx: Context, name: str) -> Any:
    """A value for claim `name`: right, nearly right, or of the wrong type."""
    now, iss, client = ctx.now, ctx.issuer, ctx.client_id
    if name in ("exp", "iat", "nbf", "auth_time") and _chance(rng, 0.3):
        return now + rng.randrange(-2 * 86_400, 2 * 86_400)
    options: tuple[Any, ...]
    if name == "iss":
        options = (
            iss,
            iss + "/",
            iss.upper(),
            iss.replace("https://", "http://"),
            iss + "\x00",
            iss[:-1],
            " " + iss,
            [iss],
            None,
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other",
        )
    elif name == "token_use":
        options = ("access", "id", "Access", "access ", "ID", ["access"], None, "refresh", "")
    elif name in ("client_id", "aud"):
        options = (client, client + "x", client.upper(), [client], "", None, "otherclient")
    elif name == "exp":
        options = (now, now + 1, now - 1, now + 86_400, now + 86_401, now + 3600, True)
        options += (float(now + 100), str(now + 100), 0, -1, 2**53, 2**53 - 1, 2**64, None)
        options += (now + 0.5,)
    elif name == "iat":
        options = (now, now + 60, now + 61, now - 1, now - 86_400, now - 90_000, True)
        options += (float(now), 0, -5, 2**53, None, str(now))
    elif name == "nbf":
        options = (now, now + 1, now - 1, float(now), True, str(now), 0, None, 2**53)
    elif name == "auth_time":
        options = (now, now - 10, float(now), True, "x", None, -1, 2**64)
    elif name in ("jti", "origin_jti", "event_id", "email", "custom:role"):
        options = ("x", "", None, 5, ["x"], {"a": 1})
    elif name == "sub":
        options = ("x", "", None, 5, ["x"], client)
    elif name in ("username", "cognito:username"):
        options = ("alice", "bob", "", None, 5, ["alice"], "alice ")
    elif name in ("cognito:groups", "groups"):
        options = ([ADMIN_GROUP], [ADMIN_GROUP, "staff"], ADMIN_GROUP, ["Admin"])
        options += ([ADMIN_GROUP, 1], [], None, [[ADMIN_GROUP]], {ADMIN_GROUP: True})
        options += ([ADMIN_GROUP + " "], ["staff"], [None])
    elif name == "scope":
        options = (READ_SCOPE, f"{READ_SCOPE} aws.cognito.signin.user.admin", " " + READ_SCOPE)
        options += (f"{READ_SCOPE}\tother", READ_SCOPE.upper(), [READ_SCOPE], None)
        options += (READ_SCOPE + "x", f"{READ_SCOPE}  other", "", "api/write")
    else:
        return json_value(rng, ctx)
    return _pick(rng, options)


def _perturb_claims(rng: random.Random, ctx: Context, payload: dict[str, Any]) -> None:
    if _chance(rng, 0.25):  # the time claims have the most boundaries
        name = _pick(rng, ("exp", "iat", "nbf"))
        payload[name] = near_miss(rng, ctx, name)
        return
    name = _pick(rng, CLAIM_NAMES) if _chance(rng, 0.85) else _random_key(rng)
    action = rng.randrange(4)
    if action == 0:
        payload.pop(name, None)
    elif action == 1:
        payload[name] = near_miss(rng, ctx, name)
    elif action == 2:
        payload[name] = json_value(rng, ctx)
    else:
        payload[_random_key(rng)] = json_value(rng, ctx)


def random_payload(rng: random.Random, ctx: Context) -> dict[str, Any]:
    """A dict of random claims: Cognito's names with random-typed values, and random names."""
    payload: dict[str, Any] = {}
    for _ in range(rng.randrange(10)):
        if _chance(rng, 0.6):
            name = _pick(rng, CLAIM_NAMES)
            payload[name] = near_miss(rng, ctx, name)
        else:
            payload[_random_key(rng)] = json_value(rng, ctx)
    return payload


_ALGS: Final = (
    "RS256",
    "rs256",
    "RS256 ",
    "none",
    "None",
    "HS256",
    "RS384",
    "ES256",
    "PS256",
    "",
    None,
    256,
    ["RS256"],
    {"alg": "RS256"},
    True,
)


def perturbed_header(rng: random.Random, ctx: Context, key: int) -> dict[str, Any]:
    """The default header with one to three changes: alg, kid, forbidden or extra members."""
    kid = ctx.kids[key]
    header: dict[str, Any] = {"kid": kid, "alg": "RS256"}
    for _ in range(_pick(rng, (1, 1, 2, 3))):
        action = rng.randrange(6)
        if action == 0:
            header["alg"] = _pick(rng, _ALGS)
        elif action == 1:
            header["kid"] = _pick(
                rng,
                (
                    *ctx.kids,
                    "unknown-kid",
                    "",
                    "k" * 128,
                    "k" * 129,
                    5,
                    None,
                    [kid],
                    kid + " ",
                    kid.upper(),
                    _chars(rng, _pick(rng, ALPHABETS), rng.randrange(1, 20)),
                ),
            )
        elif action == 2:
            header.pop(_pick(rng, ("alg", "kid")), None)
        elif action == 3:
            header[_pick(rng, sorted(FORBIDDEN_HEADER_PARAMS))] = json_value(rng, ctx, 1)
        elif action == 4:
            header[_pick(rng, ("typ", "cty", "x-fuzz", _random_key(rng)))] = json_value(rng, ctx)
        else:
            # Around the 1024-byte limit of the decoded header.
            header["x-pad"] = "x" * _pick(rng, (960, 980, 985, 990, 1000, 1024, 2000))
    return header


def raw_json(rng: random.Random, ctx: Context, value: dict[str, Any]) -> bytes:
    """`value` as JSON bytes with one twist: valid respellings and invalid or ambiguous JSON."""
    compact = dump(value)
    trick = rng.randrange(17)
    if trick == 0:  # valid: non-ASCII as UTF-8 (lone surrogates become invalid UTF-8)
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    if trick == 1:  # whitespace: JSON's own is valid, the others are not
        indent = _pick(rng, (None, 0, 1, "\t"))
        separators = _pick(rng, ((", ", ": "), (",", ":"), (" , ", " : ")))
        body = json.dumps(value, indent=indent, separators=separators)
        spaces = (" ", "\n", "\r\n", "\t", "", "\x0c", "\xa0", "\u2028")
        return (_pick(rng, spaces) + body + _pick(rng, spaces)).encode()
    if trick == 2:  # trailing data
        return compact + _pick(rng, (b"x", b"{}", b",", b"\x00", b"}", b" //", b"\n\n"))
    if trick == 3:  # byte-order mark
        return b"\xef\xbb\xbf" + compact
    if trick == 4:  # duplicate member
        name = _pick(rng, sorted(value) or ["iss"])
        member = dump(name) + b":" + dump(near_miss(rng, ctx, name))
        if len(compact) == 2:
            return b"{" + member + b"," + member + b"}"
        if _chance(rng, 0.5):
            return b"{" + member + b"," + compact[1:]
        return compact[:-1] + b"," + member + b"}"
    if trick == 5:  # NaN and the infinities
        name = _pick(rng, ("exp", "iat", "auth_time", "sub", "x"))
        return json.dumps({**value, name: _pick(rng, (math.nan, math.inf, -math.inf))}).encode()
    if trick == 6:  # invalid UTF-8, inside the first string
        bad = _pick(rng, (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80"))
        return compact[:2] + bad + compact[2:]
    if trick == 7:  # not an object
        return _pick(rng, (b"[" + compact + b"]", dump(compact.decode()), b"null", b"1", b"", b" "))
    if trick == 8:  # nesting around the 32-level limit
        depth = _pick(rng, (30, 31, 32, 33, 40, 200))
        nested = b"[" * (depth - 1) + b"]" * (depth - 1)
        return compact[:-1] + (b"," if len(compact) > 2 else b"") + b'"deep":' + nested + b"}"
    if trick == 9:  # number spellings: out of range, too long, not JSON, or floats
        name = _pick(rng, ("exp", "iat", "nbf", "auth_time", "x"))
        rest = {key: item for key, item in value.items() if key != name}
        number = _pick(
            rng,
            (b"1e400", b"-1e400", b"1" + b"0" * 5000, b"1.0", b"-0", b"0x10", b"01", b"+1"),
        )
        number = _pick(rng, (number, f"{ctx.now + 60}.0".encode(), f"{ctx.now + 60}e0".encode()))
        others = dump(rest)
        return others[:-1] + (b"," if len(others) > 2 else b"") + dump(name) + b":" + number + b"}"
    if trick == 10:  # invalid (I-JSON): a lone surrogate escape in a string claim
        name = _pick(rng, ("jti", "origin_jti", "sub", "x-extra", "event_id"))
        return dump({**value, name: "\ud800x"})
    if trick in (11, 12):  # a member name spelt with a \u escape; 12 adds it as a duplicate
        name = _pick(rng, sorted(value) or ["iss"])
        escaped = _escaped_name(name)
        if trick == 11 and name in value:
            members = [
                (escaped if key == name else dump(key)) + b":" + dump(item)
                for key, item in value.items()
            ]
            return b"{" + b",".join(members) + b"}"
        member = escaped + b":" + dump(near_miss(rng, ctx, name))
        return compact[:-1] + (b"," if len(compact) > 2 else b"") + member + b"}"
    if trick == 13:  # other encodings
        return json.dumps(value).encode(_pick(rng, ("utf-16", "utf-16-le", "utf-32")))
    if trick == 14:  # truncated
        return compact[: rng.randrange(len(compact))]
    if trick == 15:  # valid: every slash escaped
        return compact.replace(b"/", b"\\/")
    return compact


# -- generators ---------------------------------------------------------------------------

_SCHEMES: Final = (
    b"Bearer",
    b"Bearer",
    b"bearer",
    b"BEARER",
    b"bEaReR",
    b"Bearer:",
    b"Basic",
    b"Token",
    b"JWT",
    b"Bear",
    b"Bearerx",
    b"",
    b"Bearer\x00",
    b"B\xe9arer",
    b"\xef\xbb\xbfBearer",
)
_SEPARATORS: Final = (
    b" ",
    b" ",
    b"  ",
    b"     ",
    b"\t",
    b"",
    b" \t",
    b"\t ",
    b"\xa0",
    b",",
    b"=",
    b"\r\n ",
    b"\n",
)
_SUFFIXES: Final = (b"", b"", b"", b"", b" ", b"  ", b"\t", b",", b", Bearer x", b" x", b"\x00")
_SUFFIXES_MORE: Final = (b"\n", b"\r\n", b";", b".")
_AUTH_NAMES: Final = (b"authorization", b"authorization", b"Authorization", b"AUTHORIZATION")
_OTHER_NAMES: Final = (
    b"x-authorization",
    b"authorisation",
    b"proxy-authorization",
    b"cookie",
    b"www-authenticate",
)


def _authorization_value(rng: random.Random, ctx: Context) -> tuple[Part, ...]:
    if _chance(rng, 0.15):
        return (rng.randbytes(rng.randrange(64)),)
    token: Part
    kind = rng.randrange(10)
    if kind < 5:
        token = rng.randrange(len(ctx.known))
    elif kind < 7:
        token = _shape(rng, ctx).encode("utf-8", "surrogatepass")
    elif kind < 8:
        token = b""
    else:
        token = rng.randbytes(rng.randrange(1, 40))
    suffix = _pick(rng, _SUFFIXES + _SUFFIXES_MORE)
    return (_pick(rng, _SCHEMES) + _pick(rng, _SEPARATORS), token, suffix)


def gen_header(rng: random.Random, ctx: Context) -> Case:
    """Authorization headers: schemes, separators, suffixes, raw bytes, none or several."""
    count = _pick(rng, (1, 1, 1, 1, 1, 1, 0, 2, 2, 3))
    headers = [(_pick(rng, _AUTH_NAMES), _authorization_value(rng, ctx)) for _ in range(count)]
    if _chance(rng, 0.3):
        other = (_pick(rng, _OTHER_NAMES), _authorization_value(rng, ctx))
        headers.insert(rng.randrange(len(headers) + 1), other)
    return Case("header", _route(rng), headers=tuple(headers))


def _signature_bytes(rng: random.Random, ctx: Context) -> bytes:
    modulus = _pick(rng, ctx.moduli)
    size = (modulus.bit_length() + 7) // 8
    kind = rng.randrange(8)
    if kind == 0:
        return b"\x00" * size
    if kind == 1:
        return b"\xff" * size
    if kind == 2:
        return (modulus + _pick(rng, (-1, 0, 1))).to_bytes(size + 1, "big").lstrip(b"\x00")
    if kind == 3:
        return rng.randbytes(_pick(rng, (0, 1, size - 1, size + 1, 2 * size)))
    return rng.randbytes(size)


def _shape(rng: random.Random, ctx: Context) -> str:
    mode = rng.randrange(6)
    if mode <= 1:  # segments of random alphabets and lengths
        count = _pick(rng, (3, 3, 3, 3, 1, 2, 4, 5))
        return ".".join(_chars(rng, _pick(rng, ALPHABETS), _length(rng)) for _ in range(count))
    if mode == 2:  # a real header (and maybe payload) with a random signature: RSA runs
        header, payload, _ = _pick(rng, ctx.known).token.split(".")
        if _chance(rng, 0.5):
            payload = b64url(rng.randbytes(_length(rng)))
        return f"{header}.{payload}.{b64url(_signature_bytes(rng, ctx))}"
    if mode == 3:  # around the 16 KiB size limit
        size = _pick(rng, (16_382, 16_383, 16_384, 16_385, 16_386, 40_000))
        chunk = _chars(rng, B64URL, 64)
        head, body, tail = _pick(rng, ctx.known).token.split(".")
        filler = (chunk * (size // 64 + 1))[: max(0, size - len(head) - len(tail) - 2)]
        return f"{head}.{filler}.{tail}"
    if mode == 4:  # one alphabet, any length, dots included
        return _chars(rng, _pick(rng, ALPHABETS), _length(rng))
    return ".".join(b64url(rng.randbytes(_length(rng))) for _ in range(3))


def gen_shape(rng: random.Random, ctx: Context) -> Case:
    """Token-shaped strings: base64url-ish segments from many alphabets, sizes and counts."""
    return Case("shape", _route(rng), token=_shape(rng, ctx))


_LAYOUTS: Final = ("021", "102", "120", "201", "210", "01", "12", "0", "0122", "0012", "")
_LAYOUTS_MORE: Final = ("01201", "012012", "0112", "2", "011")
_OP_KINDS: Final = (
    "flip",
    "flip",
    "flip",
    "setbyte",
    "insbyte",
    "delbyte",
    "swap",
    "swap",
    "layout",
    "pad",
    "std",
    "noncanon",
    "noncanon",
    "truncate",
    "extend",
    "case",
    "insert",
    "delete",
    "replace",
    "rejson",
    "rejson",
    "header",
    "sigmod",
)


def random_op(rng: random.Random, ctx: Context) -> Op:
    """One mutation, its parameters drawn without looking at the token."""
    kind = _pick(rng, _OP_KINDS)
    text = ""
    if kind == "layout":
        text = _pick(rng, _LAYOUTS + _LAYOUTS_MORE)
    elif kind in ("extend", "insert", "replace"):
        text = _chars(rng, _pick(rng, ALPHABETS), rng.randrange(1, 4))
    return Op(kind, rng.randrange(3), rng.randrange(1 << 16), rng.randrange(256), text)


def gen_mutation(rng: random.Random, ctx: Context) -> Case:
    """A minted token with one to four mutations, sent mostly where the original is accepted."""
    base = rng.randrange(len(ctx.known))
    ops = tuple(random_op(rng, ctx) for _ in range(_pick(rng, (1, 1, 1, 2, 2, 3, 4))))
    accepted_on = [route for route in ROUTES if ctx.known[base].expected[route] == "ok"]
    route = _pick(rng, accepted_on) if accepted_on and _chance(rng, 0.8) else _route(rng)
    return Case("mutation", route, token=Mutated(base, ops))


def gen_signed_claims(rng: random.Random, ctx: Context) -> Case:
    """A minted token's claims with up to three changes, signed with a real key."""
    base = _pick(rng, ctx.known)
    payload = dict(base.claims)
    for _ in range(_pick(rng, (0, 0, 1, 1, 1, 2, 3))):
        _perturb_claims(rng, ctx, payload)
    key = base.key if _chance(rng, 0.9) else rng.randrange(len(ctx.kids))
    header = None if _chance(rng, 0.85) else perturbed_header(rng, ctx, key)
    return Case("signed-claims", _route(rng), token=Signed(payload, header, key))


def gen_signed_json(rng: random.Random, ctx: Context) -> Case:
    """Random JSON headers and payloads, and JSON respelt or broken, signed with a real key."""
    key = rng.randrange(len(ctx.kids))
    header: dict[str, Any] | bytes | None
    mode = rng.randrange(10)
    if mode < 5:
        header = None
    elif mode < 7:
        header = perturbed_header(rng, ctx, key)
    elif mode < 8:
        header = random_payload(rng, ctx)
    else:
        header = raw_json(rng, ctx, {"kid": ctx.kids[key], "alg": "RS256"})
    payload: dict[str, Any] | bytes
    mode = rng.randrange(20)
    if mode < 9:
        payload = random_payload(rng, ctx)
    elif mode < 17:
        claims = dict(_pick(rng, ctx.known).claims)
        if _chance(rng, 0.3):
            _perturb_claims(rng, ctx, claims)
        payload = raw_json(rng, ctx, claims)
    else:
        payload = dump(json_value(rng, ctx))
    return Case("signed-json", _route(rng), token=Signed(payload, header, key))


def gen_unknown_kid(rng: random.Random, ctx: Context) -> Case:
    """A valid access token whose header names a kid the JWKS does not have."""
    kid = _chars(rng, _pick(rng, ALPHABETS[:5]), rng.randrange(1, 129))
    if kid in ctx.kids:
        kid = kid[:-1] + "!"
    base = next(known for known in ctx.known if known.expected["/access"] == "ok")
    return Case(
        "unknown-kid", "/access", token=Signed(dict(base.claims), {"kid": kid, "alg": "RS256"})
    )


def gen_direct(rng: random.Random, ctx: Context) -> Case:
    """A `str` for `CognitoVerifier.verify` itself: any code point, no HTTP in between."""
    route = _pick(rng, ("/access", "/id"))
    kind = rng.randrange(10)
    token: TokenSpec
    if kind < 4:
        token = _shape(rng, ctx)
    elif kind < 8:
        token = gen_mutation(rng, ctx).token or ""
    elif kind < 9:
        token = Mutated(rng.randrange(len(ctx.known)))
    else:
        token = _chars(rng, _pick(rng, ALPHABETS[-3:]), _length(rng))
    return Case("direct", route, token=token)


GENERATORS: Final[Mapping[str, Callable[[random.Random, Context], Case]]] = {
    "header": gen_header,
    "shape": gen_shape,
    "mutation": gen_mutation,
    "signed-claims": gen_signed_claims,
    "signed-json": gen_signed_json,
    "direct": gen_direct,
}
"""The long run's categories (unknown kids run in the tests, against a frozen JWKS clock)."""


# -- mutations ----------------------------------------------------------------------------


def _attack_headers(ctx: Context) -> tuple[dict[str, Any], ...]:
    kid, other = ctx.kids[0], ctx.kids[-1]
    return (
        {"alg": "none", "kid": kid},
        {"alg": "none"},
        {"alg": "HS256", "kid": kid},
        {"alg": "RS256", "kid": other},
        {"alg": "RS256", "kid": "unknown"},
        {"alg": "RS256", "kid": kid, "jku": "https://evil.example/jwks.json"},
        {"alg": "RS256", "kid": kid, "jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}},
        {"alg": "RS256", "kid": kid, "crit": ["exp"]},
        {"alg": "RS256", "kid": kid, "b64": False},
        {"alg": "rs256", "kid": kid},
        {"kid": kid, "alg": "RS256"},
        {"alg": "RS256", "kid": kid},
        {"alg": "RS256", "kid": kid, "typ": "JWT"},
        {"alg": ["RS256"], "kid": kid},
    )


def _rejson(raw: bytes, style: int) -> bytes | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    style %= 10
    if style == 0:
        return json.dumps(value).encode()
    if style == 1:
        return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    if style == 2:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    if style == 3:
        return dump(dict(reversed(value.items())))
    if style == 4:
        return dump(value) + b" "
    if style == 5:
        return b"\n" + dump(value)
    if style == 6:
        return json.dumps(value, indent=1).encode()
    if style == 7 and value:
        first = next(iter(value))
        return dump(value)[:-1] + b"," + dump(first) + b":" + dump(value[first]) + b"}"
    if style == 8 and value:
        members = [_escaped_name(key) + b":" + dump(item) for key, item in value.items()]
        return b"{" + b",".join(members) + b"}"
    return dump(value).replace(b"/", b"\\/")


def _signature_variant(signature: bytes, modulus: int, variant: int) -> bytes:
    value = int.from_bytes(signature, "big")
    variant %= 5
    if variant == 0:  # s + n: the same residue, one byte longer
        total = value + modulus
        return total.to_bytes((total.bit_length() + 7) // 8, "big")
    if variant == 1:  # a leading zero byte
        return b"\x00" + signature
    if variant == 2:  # leading zeros dropped, or the first byte
        stripped = signature.lstrip(b"\x00")
        return stripped if stripped != signature else signature[1:]
    if variant == 3:  # n - s
        return (modulus - value % modulus).to_bytes((modulus.bit_length() + 7) // 8, "big")
    return signature + b"\x00"


def _apply(token: str, op: Op, ctx: Context) -> str:
    segments = token.split(".")
    index = op.seg % len(segments)
    kind = op.kind
    if kind in ("flip", "setbyte", "insbyte", "delbyte"):
        raw = _b64decode(segments[index])
        if raw is None:  # not base64url any more: work on the characters
            text = segments[index]
            if text:
                at = op.pos % len(text)
                text = text[:at] + chr(ord(text[at]) ^ (1 << op.arg % 7)) + text[at + 1 :]
            segments[index] = text
            return ".".join(segments)
        data = bytearray(raw)
        if kind == "flip":
            if data:
                data[op.pos % len(data)] ^= 1 << op.arg % 8
            else:
                data.append(1 << op.arg % 8)
        elif kind == "setbyte" and data:
            data[op.pos % len(data)] = op.arg
        elif kind == "delbyte" and data:
            del data[op.pos % len(data)]
        else:
            data.insert(op.pos % (len(data) + 1), op.arg)
        segments[index] = b64url(bytes(data))
        return ".".join(segments)
    if kind == "swap":
        other = ctx.known[op.pos % len(ctx.known)].token.split(".")
        segments[index] = other[op.arg % len(other)]
        return ".".join(segments)
    if kind == "layout":
        return ".".join(segments[int(digit) % len(segments)] for digit in op.text)
    if kind == "pad":
        segments[index] += "=" * (1 + op.arg % 3)
    elif kind == "std":
        segments[index] = segments[index].translate(_TO_STANDARD)
    elif kind == "noncanon":
        text = segments[index]
        unused = {2: 0b1111, 3: 0b11}.get(len(text) % 4)
        if unused and text[-1] in B64URL:
            value = B64URL.index(text[-1]) ^ (1 + op.arg % unused)
            segments[index] = text[:-1] + B64URL[value]
        else:  # nothing unused to set: a character too many instead
            segments[index] = text + B64URL[op.arg % 64]
    elif kind == "truncate":
        return token[: op.pos % (len(token) + 1)]
    elif kind == "extend":
        return token + op.text
    elif kind == "case":
        if op.arg % 3 == 0 and token:
            at = op.pos % len(token)
            return token[:at] + token[at].swapcase() + token[at + 1 :]
        segments[index] = segments[index].upper() if op.arg % 3 == 1 else segments[index].lower()
    elif kind == "insert":
        at = op.pos % (len(token) + 1)
        return token[:at] + op.text + token[at:]
    elif kind == "delete":
        if not token:
            return token
        at = op.pos % len(token)
        return token[:at] + token[at + 1 + op.arg % 4 :]
    elif kind == "replace":
        if not token:
            return op.text
        at = op.pos % len(token)
        return token[:at] + op.text + token[at + 1 :]
    elif kind == "rejson":
        index = op.seg % min(2, len(segments))
        raw = _b64decode(segments[index])
        respelt = None if raw is None else _rejson(raw, op.arg)
        if respelt is not None:
            segments[index] = b64url(respelt)
    elif kind == "header":
        attacks = _attack_headers(ctx)
        segments[0] = b64url(dump(attacks[op.arg % len(attacks)]))
    elif kind == "sigmod":
        raw = _b64decode(segments[-1])
        if raw is not None:
            modulus = ctx.moduli[op.pos % len(ctx.moduli)]
            segments[-1] = b64url(_signature_variant(raw, modulus, op.arg))
    else:
        raise ValueError(f"unknown mutation {kind!r}")
    return ".".join(segments)


def apply_ops(token: str, ops: Sequence[Op], ctx: Context) -> str:
    """Apply `ops` to `token` in order."""
    for op in ops:
        token = _apply(token, op, ctx)
    return token
