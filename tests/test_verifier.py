"""`CognitoVerifier` against the attack corpus of research/security.md §3 B-I, framework-free.

Every rejection asserts the exact exception class; header- and structure-level rejections also
assert that a cold verifier made no JWKS request. Times come from a fixed clock, never the wall.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose.backends.cryptography_backend import CryptographyRSAKey
from pydantic import Field

from fastapi_cognito_jwt import (
    CognitoClaims,
    CognitoVerifier,
    ConfigurationError,
    InvalidClaimError,
    InvalidSignatureError,
    InvalidTokenUseError,
    JWKSCache,
    KeyNotFoundError,
    MalformedTokenError,
    TokenError,
    TokenExpiredError,
    _verifier as verifier_module,
)
from fastapi_cognito_jwt.testing import LocalUserPool

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000
KID = "local-key-1"
POOL_ID = "eu-west-1_LocalPool1"
ISS = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL_ID}"
CLIENT = "localclient0000000000000000"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
TIMES = {"iat": NOW - 10, "auth_time": NOW - 10, "exp": NOW + 3600}
MISSING: Any = object()  # in a change set: remove the claim


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def verifier_for(pool: LocalUserPool, *, now: float = NOW, **overrides: Any) -> CognitoVerifier:
    return CognitoVerifier(
        pool.settings(**overrides), transport=pool.transport(), clock=lambda: now
    )


def payload_for(
    pool: LocalUserPool, token_use: str = "access", changes: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    payload = (
        pool.access_claims(claims=TIMES) if token_use == "access" else pool.id_claims(claims=TIMES)
    )
    for name, value in (changes or {}).items():
        if value is MISSING:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


def raw_payload(payload: Mapping[str, Any], drop: tuple[str, ...], members: str) -> bytes:
    """`payload` as compact JSON without the `drop` claims, plus raw `members` text."""
    kept = {name: value for name, value in payload.items() if name not in drop}
    return compact(kept)[:-1] + b"," + members.encode() + b"}"


async def rejects(
    verifier: CognitoVerifier, token: Any, expected: type[TokenError], token_use: str = "access"
) -> TokenError:
    with pytest.raises(TokenError) as info:
        await verifier.verify(token, token_use=cast("Any", token_use))
    assert info.type is expected, f"{info.type.__name__}: {info.value}"
    return info.value


@pytest.fixture(scope="module")
def attacker() -> LocalUserPool:
    """Another pool, its key unpublished in ours: the attacker's key KX."""
    return LocalUserPool(user_pool_id="eu-west-1_OtherPool1", kid="attacker-key")


@pytest.fixture
def token(pool: LocalUserPool) -> str:
    assert pool.signing_kid == KID and pool.issuer == ISS and pool.client_id == CLIENT
    return pool.sign(payload_for(pool))


@pytest.fixture
def verify_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every RSA signature verification, by signing input."""
    calls: list[bytes] = []
    original = verifier_module._check_signature

    def counting(key: Any, signing_input: bytes, signature: bytes) -> None:
        calls.append(signing_input)
        original(key, signing_input, signature)

    monkeypatch.setattr(verifier_module, "_check_signature", counting)
    return calls


# -- B. structure and encoding ------------------------------------------------------------

JWE_HEADER = b64u(compact({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": KID, "zip": "DEF"}))
Mangle = Callable[[str, str, str], str]
STRUCTURE: list[Any] = [
    pytest.param(lambda h, p, s: "abc", id="one-segment"),
    pytest.param(lambda h, p, s: f"{h}.{p}", id="two-segments"),
    pytest.param(lambda h, p, s: f"{h}.{p}.{s}.AAAA", id="four-segments"),
    pytest.param(lambda h, p, s: f"{JWE_HEADER}.A.A.A.A", id="jwe-five-parts"),
    pytest.param(lambda h, p, s: f"{JWE_HEADER}.AAAA.AAAA.AAAA.AAAA", id="jwe-five-parts-4"),
    pytest.param(lambda h, p, s: "..", id="all-empty"),
    pytest.param(lambda h, p, s: "", id="empty-string"),
    pytest.param(lambda h, p, s: f".{p}.{s}", id="empty-header"),
    pytest.param(lambda h, p, s: f"{h}..{s}", id="empty-payload"),
    pytest.param(lambda h, p, s: f"{h}.{p}.", id="stripped-signature"),
    pytest.param(lambda h, p, s: f"{h}.{p}.{s}==", id="padding-on-token"),
    pytest.param(lambda h, p, s: f"{h}=.{p}.{s}", id="padding-on-header"),
    pytest.param(lambda h, p, s: f"{h}.{p}.{s[:9]}+{s[10:]}", id="plus-in-signature"),
    pytest.param(lambda h, p, s: f"{h}.{p}.{s[:9]}/{s[10:]}", id="slash-in-signature"),
    pytest.param(lambda h, p, s: f"{h}.{p[:5]}+{p[6:]}.{s}", id="plus-in-payload"),
    pytest.param(lambda h, p, s: f"{h}.{p[:5]}!{p[6:]}.{s}", id="bang-in-payload"),
    pytest.param(lambda h, p, s: f"{h}%2E{p}.{s}", id="percent-encoded-dot"),
    pytest.param(lambda h, p, s: f"{h}.{p} .{s}", id="space-in-token"),
    pytest.param(lambda h, p, s: f" {h}.{p}.{s}", id="leading-space"),
    pytest.param(lambda h, p, s: f"{h}.{p}.{s}\n", id="trailing-newline"),
    pytest.param(lambda h, p, s: f"{h}.{p}.{s}\x00", id="trailing-nul"),
    pytest.param(lambda h, p, s: f"{h}.{p}\t.{s}", id="tab"),
    pytest.param(lambda h, p, s: f"{h}\uff0e{p}.{s}", id="fullwidth-dot"),
    pytest.param(lambda h, p, s: f"{h}.{p}.{s[:-1]}\u00e9", id="non-ascii"),
    pytest.param(lambda h, p, s: f"{h}{'A' * ((1 - len(h)) % 4)}.{p}.{s}", id="len-mod4-1-header"),
    pytest.param(lambda h, p, s: f"{h}.{p}{'A' * ((1 - len(p)) % 4)}.{s}", id="len-mod4-1-payload"),
    pytest.param(lambda h, p, s: f"{h}.{p}.{s}{'A' * ((1 - len(s)) % 4)}", id="len-mod4-1-sig"),
    pytest.param(lambda h, p, s: f"{h[:-1]}{ALPHABET[ALPHABET.index(h[-1]) ^ 1]}.{p}.{s}",
                 id="non-canonical-header"),
    pytest.param(lambda h, p, s: "A" * (16 * 1024 + 1), id="over-default-size"),
    pytest.param(lambda h, p, s: f"{h}.{'A' * 2**20}.{s}", id="one-mib-payload"),
    pytest.param(lambda h, p, s: "A" * 2**20, id="one-mib"),
]  # fmt: skip


@pytest.mark.parametrize("mangle", STRUCTURE)
async def test_structure_rejected_without_fetch(
    pool: LocalUserPool, token: str, mangle: Mangle
) -> None:
    header, payload, signature = token.split(".")
    assert len(header) % 4 in (2, 3)  # so the non-canonical header case is meaningful
    await rejects(verifier_for(pool), mangle(header, payload, signature), MalformedTokenError)
    assert pool.jwks_requests == 0


async def test_standard_base64_alphabet_rejected(pool: LocalUserPool) -> None:
    # python-jose accepts '+' and '/' for '-' and '_'; the same bytes must not verify twice.
    for _ in range(200):
        token = pool.sign(payload_for(pool))
        signature = token.rsplit(".", 1)[1]
        if "-" in signature and "_" in signature:
            break
    swapped = token.translate(str.maketrans("-_", "+/"))
    assert b64d(signature) == base64.b64decode(swapped.rsplit(".", 1)[1] + "==")
    await rejects(verifier_for(pool), swapped, MalformedTokenError)
    padded = ".".join(base64.b64encode(b64d(part)).decode() for part in token.split("."))
    await rejects(verifier_for(pool), padded, MalformedTokenError)
    assert pool.jwks_requests == 0


def _with_payload_length(pool: LocalUserPool, remainders: tuple[int, ...]) -> str:
    for pad in range(4):
        token = pool.sign(payload_for(pool, changes={"pad": "x" * pad}))
        if len(token.split(".")[1]) % 4 in remainders:
            return token
    raise AssertionError("unreachable")


async def test_non_canonical_payload_rejected(pool: LocalUserPool) -> None:
    header, payload, signature = _with_payload_length(pool, (2, 3)).split(".")
    flipped = ALPHABET[ALPHABET.index(payload[-1]) ^ 1]
    assert b64d(payload[:-1] + flipped) == b64d(payload)
    await rejects(verifier_for(pool), f"{header}.{payload[:-1]}{flipped}.{signature}",
                  MalformedTokenError)  # fmt: skip
    assert pool.jwks_requests == 0


@pytest.mark.parametrize("low_bits", range(1, 16))
async def test_non_canonical_signature_rejected(
    pool: LocalUserPool, token: str, low_bits: int
) -> None:
    header, payload, signature = token.split(".")
    assert len(signature) % 4 == 2  # a 256-byte signature leaves 4 unused bits
    last = ALPHABET.index(signature[-1])
    assert last & 0b1111 == 0
    variant = f"{signature[:-1]}{ALPHABET[last | low_bits]}"
    assert b64d(variant) == b64d(signature)  # a lax decoder sees the same signature
    await rejects(verifier_for(pool), f"{header}.{payload}.{variant}", MalformedTokenError)
    assert pool.jwks_requests == 0


async def test_size_cap_applies_to_valid_token(pool: LocalUserPool, token: str) -> None:
    await rejects(verifier_for(pool, max_token_bytes=len(token) - 1), token, MalformedTokenError)
    assert pool.jwks_requests == 0
    claims = await verifier_for(pool, max_token_bytes=len(token)).verify(token, token_use="access")
    assert claims.username == "alice"


@pytest.mark.parametrize("value", [b"a.b.c", None, 123, ["a", "b", "c"]], ids=repr)
async def test_non_str_token_rejected(pool: LocalUserPool, token: str, value: Any) -> None:
    value = token.encode() if value == b"a.b.c" else value
    await rejects(verifier_for(pool), value, MalformedTokenError)
    assert pool.jwks_requests == 0


async def test_unknown_token_use_is_a_programming_error(pool: LocalUserPool, token: str) -> None:
    with pytest.raises(ConfigurationError, match="token_use"):
        await verifier_for(pool).verify(token, token_use=cast("Any", "refresh"))


# -- B/C/D. header ------------------------------------------------------------------------

HEADER_JSON = compact({"kid": KID, "alg": "RS256"})
HEADERS: list[Any] = [
    pytest.param(b'{alg:RS256', id="not-json"),
    pytest.param(b"\xef\xbb\xbf" + HEADER_JSON, id="utf8-bom"),
    pytest.param(b"\xff\xfe{}", id="not-utf8"),
    pytest.param(HEADER_JSON[:-1] + b',"x":"\xe9"}', id="latin1-byte"),
    pytest.param(json.dumps({"kid": KID, "alg": "RS256"}).encode("utf-16"), id="utf16"),
    pytest.param(b"[]", id="array"),
    pytest.param(b'["RS256"]', id="array-alg"),
    pytest.param(b'"RS256"', id="string"),
    pytest.param(b"null", id="null"),
    pytest.param(b"1", id="number"),
    pytest.param(b'{"alg":"none","alg":"RS256","kid":"local-key-1"}', id="duplicate-alg"),
    pytest.param(b'{"alg":"RS256","alg":"none","kid":"local-key-1"}', id="duplicate-alg-2"),
    pytest.param(b'{"alg":"RS256","kid":"x","kid":"local-key-1"}', id="duplicate-kid"),
    *(
        pytest.param({"kid": KID, "alg": alg}, id=f"alg-{alg!r}")
        for alg in ["none", "None", "NONE", "nOnE", "HS256", "RS384", "RS512", "PS256", "ES256",
                    "", "rs256", "RS256 ", ["RS256"], {"a": 1}, 256, None]
    ),
    pytest.param({"kid": KID}, id="alg-missing"),
    *(
        pytest.param({"kid": kid, "alg": "RS256"}, id=f"kid-{str(kid)[:8]!r}")
        for kid in ["", 5, True, None, [KID], {"k": KID}, "k" * 129]
    ),
    pytest.param({"alg": "RS256"}, id="kid-missing"),
    pytest.param({"kid": KID, "alg": "RS256", "crit": ["exp"], "exp": 1}, id="crit-exp"),
    pytest.param({"kid": KID, "alg": "RS256", "crit": ["b64"], "b64": False}, id="crit-b64"),
    pytest.param({"kid": KID, "alg": "RS256", "crit": []}, id="crit-empty"),
    pytest.param({"kid": KID, "alg": "RS256", "b64": False}, id="b64"),
    pytest.param({"kid": KID, "alg": "RS256", "jku": "https://attacker.test/jwks.json"}, id="jku"),
    pytest.param({"kid": KID, "alg": "RS256", "x5u": "http://169.254.169.254/"}, id="x5u"),
    pytest.param({"kid": KID, "alg": "RS256", "jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}},
                 id="jwk"),
    pytest.param({"kid": KID, "alg": "RS256", "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"]},
                 id="x5c"),
    pytest.param({"kid": KID, "alg": "RS256", "x5t": "AAAA"}, id="x5t"),
    pytest.param({"kid": KID, "alg": "RS256", "x5t#S256": "AAAA"}, id="x5t-s256"),
    pytest.param({"kid": KID, "alg": "RS256", "zip": "DEF"}, id="zip"),
    pytest.param({"kid": KID, "alg": "RS256", "enc": "A256GCM"}, id="enc"),
    pytest.param({"kid": KID, "alg": "RS256", "p2c": 1000000000}, id="p2c"),
    pytest.param({"kid": KID, "alg": "RS256", "epk": {}}, id="epk"),
    pytest.param({"kid": KID, "alg": "RS256", "pad": "A" * 5000}, id="over-1kib"),
    pytest.param(HEADER_JSON[:-1] + b',"x":' + b"[" * 3000 + b"]" * 3000 + b"}", id="nested"),
]  # fmt: skip


@pytest.mark.parametrize("header", HEADERS)
async def test_header_rejected_without_fetch(
    pool: LocalUserPool, header: Mapping[str, Any] | bytes
) -> None:
    token = pool.sign(payload_for(pool), header=header)  # validly signed with our key
    await rejects(verifier_for(pool), token, MalformedTokenError)
    assert pool.jwks_requests == 0


@pytest.mark.parametrize("signature", ["", "AAAA"], ids=["empty", "AAAA"])
async def test_alg_none_unsigned(pool: LocalUserPool, signature: str) -> None:
    header = b64u(compact({"kid": KID, "alg": "none"}))
    token = f"{header}.{b64u(compact(payload_for(pool)))}.{signature}"
    await rejects(verifier_for(pool), token, MalformedTokenError)
    assert pool.jwks_requests == 0


async def test_accepted_header_shapes(pool: LocalUserPool) -> None:
    typ = pool.sign(payload_for(pool), header={"kid": KID, "alg": "RS256", "typ": "JWT"})
    _, header, _ = await verifier_for(pool)._verify_fetching(typ, "access", CognitoClaims)
    assert dict(header) == {"kid": KID, "alg": "RS256", "typ": "JWT"}
    base = len(compact({"kid": KID, "alg": "RS256", "pad": ""}))
    at_cap = {"kid": KID, "alg": "RS256", "pad": "A" * (1024 - base)}
    assert len(compact(at_cap)) == 1024
    await verifier_for(pool).verify(pool.sign(payload_for(pool), header=at_cap), token_use="access")


def _public_key(pool: LocalUserPool) -> rsa.RSAPublicKey:
    jwk = next(key for key in pool.jwks()["keys"] if key["kid"] == KID)
    n, e = (int.from_bytes(b64d(jwk[name]), "big") for name in ("n", "e"))
    return rsa.RSAPublicNumbers(e, n).public_key()


def _hmac_secret(pool: LocalUserPool, form: str) -> bytes:
    key, enc, fmt = _public_key(pool), serialization.Encoding, serialization.PublicFormat
    jwk = next(key for key in pool.jwks()["keys"] if key["kid"] == KID)
    return {
        "pem": key.public_bytes(enc.PEM, fmt.SubjectPublicKeyInfo),
        "pem-no-newline": key.public_bytes(enc.PEM, fmt.SubjectPublicKeyInfo).rstrip(b"\n"),
        "pkcs1-pem": key.public_bytes(enc.PEM, fmt.PKCS1),
        "der": key.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo),
        "openssh": key.public_bytes(enc.OpenSSH, fmt.OpenSSH),
        "jwk-json": json.dumps(jwk).encode(),
        "raw-n": b64d(jwk["n"]),
        "empty": b"",
        "secret": b"secret",
    }[form]


@pytest.mark.parametrize(
    "form",
    [
        "pem",
        "pem-no-newline",
        "pkcs1-pem",
        "der",
        "openssh",
        "jwk-json",
        "raw-n",
        "empty",
        "secret",
    ],
)
async def test_hs256_key_confusion(pool: LocalUserPool, form: str) -> None:
    signing_input = (
        f"{b64u(compact({'kid': KID, 'alg': 'HS256'}))}.{b64u(compact(payload_for(pool)))}"
    )
    mac = hmac.new(_hmac_secret(pool, form), signing_input.encode(), hashlib.sha256).digest()
    await rejects(verifier_for(pool), f"{signing_input}.{b64u(mac)}", MalformedTokenError)
    assert pool.jwks_requests == 0


# -- D/E. keys and signatures -------------------------------------------------------------

HOSTILE_KIDS = ["attacker-key", "nope", "k" * 128, "../../../../etc/passwd", "k1' OR '1'='1",
                "local-key-1\x00", "k1\r\nX-Evil: 1", "${jndi:ldap://x.test/a}", "<script>",
                "local-key-1\u2028", "local-key-１", "LOCAL-KEY-1", "local-key-1 "]  # fmt: skip


@pytest.mark.parametrize("kid", HOSTILE_KIDS, ids=range(len(HOSTILE_KIDS)))
async def test_unknown_kid(pool: LocalUserPool, attacker: LocalUserPool, kid: str) -> None:
    token = attacker.sign(payload_for(pool), header={"kid": kid, "alg": "RS256"})
    await rejects(verifier_for(pool), token, KeyNotFoundError)
    assert pool.jwks_requests == 1
    assert attacker.jwks_requests == 0


async def test_unknown_kid_flood_is_bounded(pool: LocalUserPool, attacker: LocalUserPool) -> None:
    jwks = JWKSCache(pool.settings(), transport=pool.transport(), clock=lambda: 1000.0)
    verifier = CognitoVerifier(pool.settings(), jwks=jwks, clock=lambda: NOW)
    for number in range(20):
        forged = attacker.sign(payload_for(pool), header={"kid": f"kid-{number}", "alg": "RS256"})
        await rejects(verifier, forged, KeyNotFoundError)
    assert pool.jwks_requests <= 2
    await verifier.verify(pool.sign(payload_for(pool)), token_use="access")
    assert pool.jwks_requests <= 2


async def test_right_kid_wrong_key(pool: LocalUserPool, attacker: LocalUserPool) -> None:
    forged = attacker.sign(payload_for(pool), header={"kid": KID, "alg": "RS256"})
    await rejects(verifier_for(pool), forged, InvalidSignatureError)
    other_pool = attacker.sign(payload_for(pool, changes={"iss": attacker.issuer}),
                               header={"kid": KID, "alg": "RS256"})  # fmt: skip
    await rejects(verifier_for(pool), other_pool, InvalidSignatureError)
    assert attacker.jwks_requests == 0


async def test_kid_of_another_published_key(pool: LocalUserPool) -> None:
    other = pool.add_key("local-key-2")
    forged = pool.sign(payload_for(pool), header={"kid": other, "alg": "RS256"}, kid=KID)
    await rejects(verifier_for(pool), forged, InvalidSignatureError)
    control = pool.sign(payload_for(pool), kid=other)
    await verifier_for(pool).verify(control, token_use="access")


@pytest.mark.parametrize(
    "changes",
    [{"cognito:groups": ["admin"]}, {"sub": "someone-else"}, {"exp": NOW + 7200}],
    ids=["add-group", "change-sub", "extend-exp"],
)
async def test_tampered_payload(pool: LocalUserPool, token: str, changes: dict[str, Any]) -> None:
    header, _, signature = token.split(".")
    tampered = b64u(compact(payload_for(pool, changes=changes)))
    await rejects(verifier_for(pool), f"{header}.{tampered}.{signature}", InvalidSignatureError)


SIGNATURES: list[Any] = [
    pytest.param(lambda sig, other: sig[:-3], id="truncated-3-bytes"),
    pytest.param(lambda sig, other: sig[:-1], id="truncated-1-byte"),
    pytest.param(lambda sig, other: sig + b"\x00\x00\x00", id="extended"),
    pytest.param(lambda sig, other: bytes([sig[0] ^ 1]) + sig[1:], id="bit-flip-first"),
    pytest.param(lambda sig, other: sig[:-1] + bytes([sig[-1] ^ 0x80]), id="bit-flip-last"),
    pytest.param(lambda sig, other: other, id="other-tokens"),
    pytest.param(lambda sig, other: b"\x01", id="one-byte"),
    pytest.param(lambda sig, other: b"\x00" * 256, id="256-zero-bytes"),
    pytest.param(lambda sig, other: sig + sig, id="512-bytes"),
    pytest.param(lambda sig, other: b"\xff" * 256, id="256-ff-bytes"),
]


@pytest.mark.parametrize("mangle", SIGNATURES)
async def test_bad_signature(
    pool: LocalUserPool, token: str, mangle: Callable[[bytes, bytes], bytes]
) -> None:
    header, payload, signature = token.split(".")
    other = b64d(pool.sign(payload_for(pool)).split(".")[2])
    forged = f"{header}.{payload}.{b64u(mangle(b64d(signature), other))}"
    await rejects(verifier_for(pool), forged, InvalidSignatureError)


async def test_signature_text_truncated_or_extended(pool: LocalUserPool, token: str) -> None:
    header, payload, signature = token.split(".")
    await rejects(verifier_for(pool), f"{token}AAAA", InvalidSignatureError)
    # Cutting 4 characters leaves a 2-remainder segment: canonical or not, never accepted.
    canonical = ALPHABET.index(signature[-5]) & 0b1111 == 0
    expected = InvalidSignatureError if canonical else MalformedTokenError
    await rejects(verifier_for(pool), f"{header}.{payload}.{signature[:-4]}", expected)


# -- B. payload, correctly signed ---------------------------------------------------------

PAYLOADS: list[Any] = [
    pytest.param(lambda p: b"not json", id="not-json"),
    pytest.param(lambda p: compact(p)[:-1], id="truncated-json"),
    pytest.param(lambda p: compact(p) + b"x", id="trailing-data"),
    pytest.param(lambda p: b"[1,2]", id="array"),
    pytest.param(lambda p: b'"x"', id="string"),
    pytest.param(lambda p: b"42", id="number"),
    pytest.param(lambda p: b"null", id="null"),
    pytest.param(lambda p: compact([p]), id="wrapped-in-array"),
    pytest.param(lambda p: b"\xef\xbb\xbf" + compact(p), id="utf8-bom"),
    pytest.param(lambda p: compact(p)[:-1] + b',"x":"\xff"}', id="not-utf8"),
    pytest.param(lambda p: json.dumps(p).encode("utf-16"), id="utf16"),
    pytest.param(lambda p: raw_payload(p, ("token_use",), '"token_use":"id","token_use":"access"'),
                 id="duplicate-token-use"),
    pytest.param(lambda p: raw_payload(p, ("client_id",),
                                       f'"client_id":"otherclient","client_id":"{CLIENT}"'),
                 id="duplicate-client-id"),
    pytest.param(lambda p: raw_payload(p, ("exp",), f'"exp":{NOW - 3600},"exp":{NOW + 3600}'),
                 id="duplicate-exp"),
    pytest.param(lambda p: raw_payload(p, (), '"a":' + "[" * 3000 + "]" * 3000),
                 id="nested-3000-arrays"),
    pytest.param(lambda p: raw_payload(p, (), '"a":' + "{" * 3000 + "}" * 3000),
                 id="nested-3000-empty-objects"),
    pytest.param(lambda p: raw_payload(p, ("exp",), '"exp":1' + "0" * 5000), id="exp-5000-digits"),
    pytest.param(lambda p: raw_payload(p, ("exp",), '"exp":NaN'), id="exp-nan"),
    pytest.param(lambda p: raw_payload(p, ("exp",), '"exp":Infinity'), id="exp-infinity"),
    pytest.param(lambda p: raw_payload(p, ("exp",), '"exp":-Infinity'), id="exp-minus-infinity"),
    pytest.param(lambda p: raw_payload(p, ("exp",), '"exp":1e309'), id="exp-1e309"),
    pytest.param(lambda p: raw_payload(p, (), '"x":-1e309'), id="other-claim-minus-1e309"),
]  # fmt: skip


@pytest.mark.parametrize("build", PAYLOADS)
async def test_signed_payload_rejected(
    pool: LocalUserPool, build: Callable[[dict[str, Any]], bytes]
) -> None:
    token = pool.sign(build(payload_for(pool)))
    await rejects(verifier_for(pool), token, MalformedTokenError)


async def test_deeply_nested_objects_at_size_cap(pool: LocalUserPool) -> None:
    body = b'{"a":' * 3000 + b"1" + b"}" * 3000
    token = pool.sign(body)
    await rejects(verifier_for(pool, max_token_bytes=64 * 1024), token, MalformedTokenError)


# -- accepted shapes ----------------------------------------------------------------------


class RoleClaims(CognitoClaims):
    role: str = Field(alias="custom:role")


# -- verified-token cache -----------------------------------------------------------------


async def test_repeated_token_served_from_cache(
    pool: LocalUserPool, token: str, verify_calls: list[bytes]
) -> None:
    verifier = verifier_for(pool)
    first = await verifier.verify(token, token_use="access")
    second = await verifier.verify(token, token_use="access")  # admitted on its second sighting
    assert second is not first
    assert len(verify_calls) == 2
    for _ in range(3):
        assert await verifier.verify(token, token_use="access") is second
    assert len(verify_calls) == 2
    await verifier.verify(pool.sign(payload_for(pool)), token_use="access")
    assert len(verify_calls) == 3
    assert pool.jwks_requests == 1


async def test_token_seen_once_is_not_remembered(
    pool: LocalUserPool, verify_calls: list[bytes]
) -> None:
    verifier = verifier_for(pool, token_cache_size=2)
    hot = pool.sign(payload_for(pool))
    for _ in range(2):
        await verifier.verify(hot, token_use="access")
    for _ in range(5):  # one-off tokens pass through without evicting the remembered one
        await verifier.verify(pool.sign(payload_for(pool)), token_use="access")
    calls = len(verify_calls)
    await verifier.verify(hot, token_use="access")
    assert len(verify_calls) == calls


async def test_cache_disabled(pool: LocalUserPool, token: str, verify_calls: list[bytes]) -> None:
    verifier = verifier_for(pool, token_cache_size=0)
    for _ in range(3):
        await verifier.verify(token, token_use="access")
    assert len(verify_calls) == 3


async def test_cache_evicts_least_recent(
    pool: LocalUserPool, token: str, verify_calls: list[bytes]
) -> None:
    verifier = verifier_for(pool, token_cache_size=1)
    other = pool.sign(payload_for(pool))
    for each in (token, token, other, other):  # token admitted, then evicted by other
        await verifier.verify(each, token_use="access")
    assert len(verify_calls) == 4
    await verifier.verify(token, token_use="access")  # verified again, and readmitted at once
    assert len(verify_calls) == 5
    await verifier.verify(token, token_use="access")
    assert len(verify_calls) == 5


async def test_a_cache_hit_makes_a_token_most_recent(
    pool: LocalUserPool, verify_calls: list[bytes]
) -> None:
    verifier = verifier_for(pool, token_cache_size=2)
    first, second, third = (pool.sign(payload_for(pool)) for _ in range(3))
    for each in (first, first, second, second, first, third, third):  # third evicts second
        await verifier.verify(each, token_use="access")
    assert len(verify_calls) == 6
    await verifier.verify(first, token_use="access")
    assert len(verify_calls) == 6
    await verifier.verify(second, token_use="access")
    assert len(verify_calls) == 7


async def test_a_token_sharing_a_cached_signature_is_verified_in_full(
    pool: LocalUserPool, verify_calls: list[bytes]
) -> None:
    """The cache is found by the signature's tail, but serves only the very token it holds."""
    verifier = verifier_for(pool)
    token = pool.sign(payload_for(pool))
    for _ in range(2):
        await verifier.verify(token, token_use="access")
    header, _payload, signature = token.split(".")
    other_user = b64u(compact(payload_for(pool, changes={"username": "mallory"})))
    other_head = ("B" if signature[0] != "B" else "C") + signature[1:]
    for forged in (f"{header}.{other_user}.{signature}", f"{header}.{_payload}.{other_head}"):
        assert forged[-22:] == token[-22:]
        await rejects(verifier, forged, InvalidSignatureError)
    assert len(verify_calls) == 4
    assert (await verifier.verify(token, token_use="access")).username == "alice"
    assert len(verify_calls) == 4  # the genuine token is still cached


async def test_token_use_is_part_of_cache_key(
    pool: LocalUserPool, token: str, verify_calls: list[bytes]
) -> None:
    verifier = verifier_for(pool)
    id_token = pool.sign(payload_for(pool, "id"))
    for cached, use, other_use in ((token, "access", "id"), (id_token, "id", "access")):
        for _ in range(3):  # admitted on the second verification, served on the third
            await verifier.verify(cached, token_use=cast("Any", use))
        calls = len(verify_calls)
        await rejects(verifier, cached, InvalidTokenUseError, token_use=other_use)
        assert len(verify_calls) == calls + 1  # verified in full, not served from the cache
    assert len(verify_calls) == 6


async def test_claims_model_is_part_of_cache_key(
    pool: LocalUserPool, verify_calls: list[bytes]
) -> None:
    verifier = verifier_for(pool)
    token = pool.sign(payload_for(pool, "id", {"custom:role": "admin"}))
    for _ in range(3):
        assert type(await verifier.verify(token, token_use="id")) is CognitoClaims
    assert len(verify_calls) == 2
    for _ in range(3):
        claims = await verifier.verify(token, token_use="id", claims_model=RoleClaims)
        assert type(claims) is RoleClaims and claims.role == "admin"
    # Verified in full once for the new model, and admitted at once: the token was seen before.
    assert len(verify_calls) == 3
    plain = pool.sign(payload_for(pool, "id"))
    for _ in range(3):
        await verifier.verify(plain, token_use="id")
    with pytest.raises(InvalidClaimError):
        await verifier.verify(plain, token_use="id", claims_model=RoleClaims)


async def test_non_canonical_twins_of_a_cached_token(
    pool: LocalUserPool, verify_calls: list[bytes]
) -> None:
    # A payload segment whose last character carries unused bits: it has twins that decode to
    # the same bytes and keep the signature, so the cache's lookup key, unchanged.
    token = next(
        candidate
        for candidate in (pool.sign(payload_for(pool, changes={"jti": "x" * n})) for n in range(4))
        if len(candidate.split(".")[1]) % 4 in (2, 3)
    )
    verifier = verifier_for(pool)
    for _ in range(3):
        await verifier.verify(token, token_use="access")
    assert len(verify_calls) == 2
    header, payload, signature = token.split(".")
    last = ALPHABET.index(payload[-1])
    twin = f"{header}.{payload[:-1]}{ALPHABET[last | 1]}.{signature}"
    assert twin[-22:] == token[-22:] and b64d(twin.split(".")[1]) == b64d(payload)
    await rejects(verifier, twin, MalformedTokenError)
    last = ALPHABET.index(token[-1])
    await rejects(verifier, token[:-1] + ALPHABET[last | 1], MalformedTokenError)
    await rejects(verifier, token + "==", MalformedTokenError)
    assert len(verify_calls) == 2
    await verifier.verify(token, token_use="access")
    assert len(verify_calls) == 2


async def test_a_token_whose_key_must_be_fetched_is_parsed_once(
    pool: LocalUserPool, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = verifier_for(pool)
    parses: list[str] = []
    parse = verifier._parse

    def counting(candidate: str) -> Any:
        parses.append(candidate)
        return parse(candidate)

    monkeypatch.setattr(verifier, "_parse", counting)
    await verifier.verify(token, token_use="access")  # a cold JWKS: fetched first
    assert (parses, pool.jwks_requests) == ([token], 1)
    unknown = pool.sign(payload_for(pool), header={"kid": "unknown", "alg": "RS256"})
    await rejects(verifier, unknown, KeyNotFoundError)
    assert parses == [token, unknown]


async def test_expiry_rechecked_on_cache_hit(
    pool: LocalUserPool, verify_calls: list[bytes]
) -> None:
    now = [float(NOW)]
    verifier = CognitoVerifier(
        pool.settings(leeway=10), transport=pool.transport(), clock=lambda: now[0]
    )
    token = pool.sign(payload_for(pool, changes={"exp": NOW + 60}))
    for _ in range(2):
        await verifier.verify(token, token_use="access")
    now[0] = NOW + 69.5  # expired, but inside the leeway: still served from the cache
    await verifier.verify(token, token_use="access")
    assert len(verify_calls) == 2
    now[0] = NOW + 70
    await rejects(verifier, token, TokenExpiredError)


async def test_cached_entry_dropped_when_kid_leaves_jwks(
    pool: LocalUserPool, verify_calls: list[bytes]
) -> None:
    monotonic = [1000.0]
    jwks = JWKSCache(pool.settings(), transport=pool.transport(), clock=lambda: monotonic[0])
    verifier = CognitoVerifier(pool.settings(), jwks=jwks, clock=lambda: NOW)
    token = pool.sign(payload_for(pool))
    for _ in range(2):
        await verifier.verify(token, token_use="access")
    pool.rotate_key(keep_old=False)
    monotonic[0] += 300  # within jwks_ttl: the known key and the cached token stay good
    await verifier.verify(token, token_use="access")
    assert (pool.jwks_requests, len(verify_calls)) == (1, 2)
    monotonic[0] += 301  # past jwks_ttl: the next use refreshes and the kid is gone
    await rejects(verifier, token, KeyNotFoundError)
    assert pool.jwks_requests == 2
    await verifier.verify(pool.sign(payload_for(pool)), token_use="access")


async def test_cached_entry_reverified_after_refresh_when_kid_stays(
    pool: LocalUserPool, verify_calls: list[bytes]
) -> None:
    monotonic = [1000.0]
    jwks = JWKSCache(pool.settings(), transport=pool.transport(), clock=lambda: monotonic[0])
    verifier = CognitoVerifier(pool.settings(), jwks=jwks, clock=lambda: NOW)
    token = pool.sign(payload_for(pool))
    for _ in range(2):
        await verifier.verify(token, token_use="access")
    monotonic[0] += 601
    await verifier.verify(token, token_use="access")
    assert (pool.jwks_requests, len(verify_calls)) == (2, 3)
    await verifier.verify(token, token_use="access")
    assert len(verify_calls) == 3


async def test_admission_memory_is_bounded(
    pool: LocalUserPool, verify_calls: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = verifier_for(pool, token_cache_size=1)
    monkeypatch.setattr(verifier, "_seen_limit", 3)
    tokens = [pool.sign(payload_for(pool)) for _ in range(4)]
    for token in tokens:  # the fourth first sighting finds the memory full and starts afresh
        await verifier.verify(token, token_use="access")
    assert len(verifier._seen) == 1
    await verifier.verify(tokens[0], token_use="access")  # forgotten: a first sighting again
    await verifier.verify(tokens[0], token_use="access")  # now admitted
    calls = len(verify_calls)
    await verifier.verify(tokens[0], token_use="access")
    assert len(verify_calls) == calls == 6


async def test_a_crashing_signature_check_is_an_invalid_signature(
    pool: LocalUserPool, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verifier_module, "_PKCS1V15", object())  # cryptography raises TypeError
    error = await rejects(verifier_for(pool), token, InvalidSignatureError)
    assert str(error) == "signature could not be verified"
    assert isinstance(error.__cause__, TypeError)


async def test_signature_check_agrees_with_python_jose(pool: LocalUserPool) -> None:
    """The verifier checks RS256 with cryptography directly; python-jose's Key.verify agrees."""
    verifier = verifier_for(pool)
    await verifier.jwks.refresh()
    key = verifier.jwks.lookup(pool.signing_kid)
    assert isinstance(key, CryptographyRSAKey)
    header, payload, signature = pool.access_token().split(".")
    signing_input, raw = f"{header}.{payload}".encode(), b64d(signature)
    flipped = bytes([raw[0] ^ 1]) + raw[1:]
    other = f"{header}.{b64u(compact(payload_for(pool)))}".encode()
    cases = ((signing_input, raw), (signing_input, flipped), (other, raw))
    jose_verify = cast("Callable[[bytes, bytes], bool]", key.verify)
    assert [jose_verify(message, candidate) for message, candidate in cases] == [
        True,
        False,
        False,
    ]
    verifier_module._check_signature(key, *cases[0])
    for message, candidate in cases[1:]:
        with pytest.raises(InvalidSignatureError, match="^signature does not match$"):
            verifier_module._check_signature(key, message, candidate)


class Preferences(CognitoClaims):
    prefs: dict[str, int]


async def test_claims_model_failure_names_only_the_claim(pool: LocalUserPool) -> None:
    secret_key = "alice@example.com-SECRET"
    token = pool.sign(payload_for(pool, changes={"prefs": {secret_key: "not an int"}}))
    with pytest.raises(InvalidClaimError) as info:
        await verifier_for(pool).verify(token, token_use="access", claims_model=Preferences)
    assert info.value.claim == "prefs"
    assert secret_key not in str(info.value)


async def test_deeply_nested_claim_is_refused_before_it_can_recurse(pool: LocalUserPool) -> None:
    deep = b"[" * 900 + b"]" * 900
    raw = json.dumps(payload_for(pool)).encode()[:-1] + b', "x": ' + deep + b"}"
    await rejects(verifier_for(pool), pool.sign(raw), MalformedTokenError)
    shallow = b"[" * 30 + b"]" * 30
    ok = json.dumps(payload_for(pool)).encode()[:-1] + b', "x": ' + shallow + b"}"
    claims = await verifier_for(pool).verify(pool.sign(ok), token_use="access")
    assert len(claims.get("x")) == 1


@pytest.mark.parametrize("claim", ["x-note", "email", "custom:role"])
async def test_lone_surrogate_in_a_signed_claim_is_refused(pool: LocalUserPool, claim: str) -> None:
    # Valid JSON but not I-JSON: a route that returned such a claim could not encode it.
    raw = json.dumps(payload_for(pool)).encode()[:-1] + f', "{claim}": "\\ud800x"}}'.encode()
    await rejects(verifier_for(pool), pool.sign(raw), MalformedTokenError)
    paired = json.dumps(payload_for(pool)).encode()[:-1] + b', "emoji": "\\ud83d\\ude00"}'
    claims = await verifier_for(pool).verify(pool.sign(paired), token_use="access")
    assert claims.get("emoji") == "\U0001f600"
