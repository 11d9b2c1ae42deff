"""The attack corpus: hostile requests through a real FastAPI app, one case per attack.

Each case goes to a new app (cold key cache) through `httpx2.ASGITransport` with
`raise_app_exceptions=True`, so a 500 would raise. `test_attack` asserts the exact answer, the
exact exception the library logged (and the claim it names), that nothing of the token or the
pool is echoed in the answer or the logs, that no request went anywhere but the JWKS URL, and
that a request refused before any key is needed left the JWKS unfetched. No `from __future__
import annotations`: FastAPI reads the route signatures at runtime.
"""

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, cast
from unittest.mock import AsyncMock

import httpx2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import Depends, FastAPI

import fastapi_cognito_jwt as fcj
from tests import helpers
from tests.helpers import Expected, assert_echoes_nothing, assert_logs_hide, b64d, b64u, compact

pytestmark = [pytest.mark.security, pytest.mark.anyio]

NOW = 1_700_000_000
POOL = "us-east-1_TestPool1"
ISS = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
JWKS_URL = f"{ISS}/.well-known/jwks.json"
ISS_B = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool"
CLIENT_A, CLIENT_B = "client_a", "client_b"
KID1, KID2 = "k1+/Ex=", "k2"  # K1's kid holds base64 characters: it is a name, never decoded
SUB = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
JTI = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
HEADER: Mapping[str, Any] = {"kid": KID1, "alg": "RS256"}
HIDDEN = (KID1, CLIENT_A, ISS, POOL, SUB, JTI)  # no answer may contain these
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
DAY = 86_400
DROP: Any = object()  # in a claim change set: remove the claim
Headers = list[tuple[bytes, bytes]]


class Keys(NamedTuple):
    """K1 and K2 are published; KX is the attacker's RSA key; KE an EC P-256 key."""

    k1: rsa.RSAPrivateKey
    k2: rsa.RSAPrivateKey
    kx: rsa.RSAPrivateKey
    ke: ec.EllipticCurvePrivateKey


@pytest.fixture(scope="session")
def keys() -> Keys:
    k1, k2, kx = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in "123")
    return Keys(k1, k2, kx, ec.generate_private_key(ec.SECP256R1()))


Build = Callable[[Keys], Headers]


def claims(kind: str = "access", changes: Mapping[str, Any] | None = None, /, **more: Any) -> Any:
    """Cognito's access (or ID) claims at `NOW`, changed by `changes`/`more` (DROP removes)."""
    payload: dict[str, Any] = {"sub": SUB, "iss": ISS, "iat": NOW - 10, "exp": NOW + 3600}
    if kind == "access":
        payload |= {"client_id": CLIENT_A, "token_use": "access", "scope": "openid api/read",
                    "auth_time": NOW - 10, "jti": JTI, "username": "alice"}  # fmt: skip
    else:
        payload |= {"aud": CLIENT_A, "token_use": "id", "cognito:username": "alice"}
    payload["cognito:groups"] = ["users"]
    payload |= {**(changes or {}), **more}
    return {name: value for name, value in payload.items() if value is not DROP}


def sign(key: Any, header: Any = HEADER, payload: Any = None, alg: str = "RS256") -> str:
    """A compact JWS of `payload` (JSON, or bytes as they are) signed under `alg`."""
    parts = [part if isinstance(part, bytes) else compact(part) for part in (header, payload)]
    text = f"{b64u(parts[0])}.{b64u(compact(claims()) if payload is None else parts[1])}"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(text.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        signature = key.sign(text.encode(), pss, hashes.SHA256())
    else:
        digest = {"RS256": hashes.SHA256(), "RS384": hashes.SHA384(), "RS512": hashes.SHA512()}
        signature = key.sign(text.encode(), padding.PKCS1v15(), digest[alg])
    return f"{text}.{b64u(signature)}"


def bearer(token: str) -> Headers:
    return [(b"authorization", f"Bearer {token}".encode())]


def tok(header: Any = HEADER, payload: Any = None, key: str = "k1", alg: str = "RS256") -> Build:
    """A bearer token signed with the key named `key` under `alg`."""
    return lambda k: bearer(sign(getattr(k, key), header, payload, alg))


def acc(changes: Mapping[str, Any] | None = None, /, **more: Any) -> Build:
    return tok(payload=claims("access", changes, **more))


def idt(changes: Mapping[str, Any] | None = None, /, **more: Any) -> Build:
    return tok(payload=claims("id", changes, **more))


def auth(*values: bytes) -> Build:
    """Raw `Authorization` values; `{t}` in one stands for a valid token."""
    return lambda k: [(b"authorization", v.replace(b"{t}", sign(k.k1).encode())) for v in values]


def mangle(template: str) -> Build:
    """A token made of a valid token's segments `{h}`, `{p}` and `{s}` by `template`."""
    return lambda k: bearer(template.format(**dict(zip("hps", sign(k.k1).split("."), strict=True))))


def at(index: int, edit: Callable[[str], str], payload: Any = None) -> Build:
    """A valid token whose segment `index` is edited."""

    def build(k: Keys) -> Headers:
        parts = sign(k.k1, payload=payload).split(".")
        return bearer(".".join([*parts[:index], edit(parts[index]), *parts[index + 1 :]]))

    return build


def edit(index: int, text: str, drop: int = 0) -> Callable[[str], str]:
    """Put `text` at `index` of a segment, in place of `drop` characters."""
    return lambda segment: segment[:index] + text + segment[index + drop :]


def flip(bits: int) -> Callable[[str], str]:
    """Set unused low bits of a segment's last character: a lax decoder reads the same bytes
    (else the case fails: the bytes changed, so did the signature check)."""
    return lambda segment: segment[:-1] + ALPHABET[ALPHABET.index(segment[-1]) | bits]


def tampered(changes: Mapping[str, Any]) -> Build:
    """A valid token's header and signature around another payload."""
    return at(1, lambda _: b64u(compact(claims("access", changes))))


def sig_bytes(change: Callable[[bytes, bytes], bytes]) -> Build:
    """A valid token whose signature is `change(signature, another token's signature)`."""

    def build(k: Keys) -> Headers:
        other = b64d(sign(k.k1, payload=claims(jti="another")).split(".")[2])
        return at(2, lambda s: b64u(change(b64d(s), other)))(k)

    return build


def raw_payload(changes: Mapping[str, Any], members: str) -> bytes:
    """Access claims as compact JSON, plus raw `members` text before the closing brace."""
    return compact(claims("access", changes))[:-1] + b"," + members.encode() + b"}"


def sized(length: int) -> Build:
    """A valid access token exactly `length` characters long (two padding claims: base64url
    grows by one or two characters a byte)."""
    fixed = len(b64u(compact(HEADER))) + 344  # two dots and a 342-character signature
    for pad in range((length - fixed) * 3 // 4 - 400, (length - fixed) * 3 // 4):
        for extra in range(3):
            payload = claims(pad="x" * pad, padx="y" * extra)
            if fixed + len(b64u(compact(payload))) == length:
                return tok(payload=payload)
    raise AssertionError(f"no token of length {length}")  # pragma: no cover


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str, **overrides: Any) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    n, e = (v.to_bytes((v.bit_length() + 7) // 8, "big") for v in (numbers.n, numbers.e))
    return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": b64u(n), "e": b64u(e),
            **overrides}  # fmt: skip


def baseline(k: Keys, **k1: Any) -> dict[str, Any]:
    """The pool's JWKS, K1 (its entry changed by `k1`) and K2, at `JWKS_URL`."""
    return {JWKS_URL: {"keys": [rsa_jwk(k.k1, KID1, **k1), rsa_jwk(k.k2, KID2)]}}


def ke_as_k1(k: Keys) -> dict[str, Any]:
    """A JWKS whose K1 entry is the EC key KE, as ES256."""
    xy = {name: b64u(getattr(k.ke.public_key().public_numbers(), name).to_bytes(32, "big"))
          for name in "xy"}  # fmt: skip
    ec_jwk = {"kty": "EC", "alg": "ES256", "use": "sig", "crv": "P-256", "kid": KID1, **xy}
    return {JWKS_URL: {"keys": [ec_jwk, rsa_jwk(k.k2, KID2)]}}


def with_documents(*urls: str, kid: str = "kx") -> Callable[[Keys], dict[str, Any]]:
    """The baseline, plus KX published under `kid` at each of `urls` (another pool, a host)."""
    return lambda k: baseline(k) | {url: {"keys": [rsa_jwk(k.kx, kid)]} for url in urls}


def hs256(form: str) -> Build:
    """An HS256 token whose HMAC secret is K1's public key in `form`, or a plain secret."""

    def build(k: Keys) -> Headers:
        key, jwk, spki = k.k1.public_key(), rsa_jwk(k.k1, KID1), PublicFormat.SubjectPublicKeyInfo
        pem = key.public_bytes(Encoding.PEM, spki)
        secret = {"spki-pem": pem, "spki-pem-no-newline": pem.rstrip(), "empty": b"",
                  "pkcs1-pem": key.public_bytes(Encoding.PEM, PublicFormat.PKCS1),
                  "spki-der": key.public_bytes(Encoding.DER, spki), "secret": b"secret",
                  "openssh": key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH),
                  "jwk-json": json.dumps(jwk).encode(), "raw-n": b64d(jwk["n"])}[form]  # fmt: skip
        text = f"{b64u(compact({'kid': KID1, 'alg': 'HS256'}))}.{b64u(compact(claims()))}"
        return bearer(f"{text}.{b64u(hmac.new(secret, text.encode(), hashlib.sha256).digest())}")

    return build


def make_app(documents: Mapping[str, Any], **overrides: Any) -> tuple[FastAPI, list[str]]:
    """Routes `/access`, `/access/scoped` (scope `api/read`), `/admin` (group `admin`), `/id`
    (an ID token), each answering its path; and the URLs its new key cache requests."""
    requests: list[str] = []

    def serve(request: httpx2.Request) -> httpx2.Response:
        requests.append(str(request.url))
        document = documents.get(str(request.url))
        return httpx2.Response(404) if document is None else httpx2.Response(200, json=document)

    settings = fcj.CognitoSettings(**{"user_pool_id": POOL, "client_ids": [CLIENT_A], **overrides})
    cache = fcj.JWKSCache(settings, transport=httpx2.MockTransport(serve))
    verifier = fcj.CognitoVerifier(settings, jwks=cache, clock=lambda: NOW)  # for both kinds
    access = fcj.CognitoBearer(token_use="access", verifier=verifier)
    routes: dict[str, Callable[..., Any]] = {
        "/access": access, "/access/scoped": fcj.require_scopes(access, "api/read"),
        "/admin": fcj.require_groups(access, "admin"),
        "/id": fcj.CognitoBearer(token_use="id", verifier=verifier),
    }  # fmt: skip
    app = FastAPI()
    for path, dependency in routes.items():
        app.add_api_route(path, answering(path), dependencies=[Depends(dependency)])
    return app, requests


def answering(path: str) -> Callable[[], dict[str, str]]:
    return lambda: {"route": path}


async def send(app: FastAPI, path: str, headers: Headers) -> httpx2.Response:
    transport = httpx2.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get(path, headers=headers)


Expect = type[fcj.CognitoJWTError] | Expected | None


class Case(NamedTuple):
    """One attack: `expect` is the exception the library must raise (its HTTP answer follows),
    a fixed answer given before any token is read, or None for a control that gets 200."""

    id: str
    build: Build
    expect: Expect
    claim: str | None = None
    path: str = "/access"
    jwks: Callable[[Keys], Mapping[str, Any]] | None = None
    settings: Mapping[str, Any] = MappingProxyType({})
    echo: tuple[str, ...] = ()
    max_seconds: float | None = None


def answer_for(expect: Expect) -> Expected | None:
    if expect is None or isinstance(expect, tuple):
        return expect
    answers = {fcj.TokenExpiredError: helpers.EXPIRED, fcj.PermissionDeniedError: helpers.FORBIDDEN}
    return answers.get(expect, helpers.INVALID)


# fmt: off
HOSTILE_KIDS = {
    "unknown": "nope", "path-traversal": "../../../../etc/passwd", "sql": "k1' OR '1'='1",
    "nul-suffix": f"{KID1}\x00", "crlf": "k1\r\nX-Evil: 1", "jndi": "${jndi:ldap://x.test/a}",
    "script": "<script>", "line-separator": f"{KID1}\u2028", "homoglyph": "k\uff11+/Ex=",
    "uppercase": KID1.upper(), "trailing-space": f"{KID1} ", "128-characters": "k" * 128,
}
ISSUERS: dict[str, Any] = {
    "other-pool": ISS_B, "other-region": ISS.replace("us-east-1.", "us-west-2."),
    "http": ISS.replace("https://", "http://"), "trailing-slash": ISS + "/",
    "uppercase-host": ISS.replace("cognito-idp", "COGNITO-IDP"),
    "lowercase-pool": ISS.replace("TestPool1", "testpool1"), "host-only": ISS.rsplit("/", 1)[0],
    "prefix": "http", "empty": "", "suffix-x": ISS + "x", "question-mark": ISS + "?",
    "dot-dot": ISS + "/../us-east-1_OtherPool", "space": ISS + " ",
    "zero-width-space": ISS + "\u200b", "list": [ISS], "null": None, "missing": DROP,
}
CANARY = {"sub": "CANARY-sub-0001", "username": "CANARY-user", "jti": "CANARY-jti-0001",
          "scope": "openid api/read CANARY/scope", "cognito:groups": ["users", "CANARY-group"],
          "custom:note": "CANARY-custom"}
AT_CAP = {**HEADER, "pad": "A" * (1024 - len(compact({**HEADER, "pad": ""})))}
NESTED = b'{"a":' * 3000 + b"1" + b"}" * 3000
POOL_B_JWKS = ISS_B + "/.well-known/jwks.json"
ATTACKER, METADATA = "https://attacker.test/jwks.json", "http://169.254.169.254/latest/"
# The exceptions each case expects, by short names.
Malformed, KeyNotFound, BadSignature = (
    fcj.MalformedTokenError, fcj.KeyNotFoundError, fcj.InvalidSignatureError)
Expired, NotYetValid, Denied = (
    fcj.TokenExpiredError, fcj.TokenNotYetValidError, fcj.PermissionDeniedError)
BadClaim, BadIssuer = fcj.InvalidClaimError, fcj.InvalidIssuerError
API = {"resource_ids": ["https://api.test"]}
BadUse, BadClient = fcj.InvalidTokenUseError, fcj.InvalidClientError
STANDARD = str.maketrans("-_", "+/")
ES256 = {"kid": KID1, "alg": "ES256"}
BOTH_CLIENTS = {"client_ids": [CLIENT_A, CLIENT_B]}
FORBIDDEN_PARAMETERS: dict[str, dict[str, Any]] = {
    "crit-exp": {"crit": ["exp"], "exp": 1}, "crit-empty": {"crit": []}, "b64": {"b64": False},
    "crit-b64-false": {"crit": ["b64"], "b64": False}, "zip": {"zip": "DEF"},
    "enc": {"enc": "A256GCM"}, "p2c": {"p2c": 1_000_000_000}, "epk": {"epk": {}},
    "x5t": {"x5t": "AAAA"}, "x5t-s256": {"x5t#S256": "AAAA"},
}

CASES: list[Case] = [
    # -- the Authorization header
    Case("auth-none", auth(), helpers.NO_CREDENTIALS),
    *(Case(f"auth-scheme-{name}", auth(value), helpers.NO_CREDENTIALS) for name, value in [
        ("basic", b"Basic dXNlcjpwYXNz"), ("token", b"Token {t}"), ("jwt", b"JWT {t}"),
        ("bearer-alone", b"Bearer"), ("bearer-space", b"Bearer "),
        ("bearer-spaces", b"Bearer    ")]),
    Case("auth-trailing-word", auth(b"Bearer {t} extra"), Malformed),
    *(Case(f"auth-{name}-in-token", at(0, edit(20, c)), Malformed)
      for name, c in [("tab", "\t"), ("lf", "\n"), ("cr", "\r"), ("nul", "\0")]),
    Case("auth-non-ascii-bytes", auth(b"Bearer \xc3\xa9{t}"), Malformed),
    Case("auth-fullwidth-dots", mangle("{h}\uff0e{p}\uff0e{s}"), Malformed),
    Case("size-one-mebibyte", auth(b"Bearer " + b"A" * 2**20), Malformed, max_seconds=0.5),
    Case("size-limit-plus-one", sized(16 * 1024 + 1), Malformed, max_seconds=0.5),
    Case("size-limit-accepted", sized(16 * 1024), None),
    Case("size-larger-limit-accepted", sized(16385), None, settings={"max_token_bytes": 32768}),

    # -- structure and encoding
    *(Case(f"structure-{name}", mangle(template), Malformed) for name, template in [
        ("one-segment", "abc"), ("two-segments", "{h}.{p}"), ("four-segments", "{h}.{p}.{s}.x"),
        ("all-empty", ".."), ("jwe-five-parts", "{h}.A.A.A.A"), ("empty-header", ".{p}.{s}"),
        ("empty-payload", "{h}..{s}"), ("signature-stripped", "{h}.{p}."),
        ("space-before-signature", "{h}.{p} .{s}"), ("padding-after-token", "{h}.{p}.{s}=="),
        ("padding-on-header", "{h}=.{p}.{s}"), ("percent-2e-separator", "{h}%2E{p}.{s}")]),
    # The same bytes to a lax decoder (a signature has neither '-' nor '_' once in 50,000).
    Case("structure-standard-alphabet", at(2, lambda s: s.translate(STANDARD)), Malformed),
    *(Case(f"structure-{name}-in-{segment}", at(i, edit(5, c, 1)), Malformed)
      for name, c in [("plus", "+"), ("slash", "/"), ("equals", "="), ("bang", "!"),
                      ("percent-2e", "%2E"), ("space", " ")]
      for i, segment in enumerate(("header", "payload", "signature"))),
    *(Case(f"structure-signature-last-char-low-bits-{bits}", at(2, flip(bits)), Malformed)
      for bits in range(1, 16)),
    Case("structure-header-last-char-low-bits", at(0, flip(1)), Malformed),
    Case("structure-payload-last-char-low-bits", at(1, flip(1), claims(pad="x")), Malformed),
    *(Case(f"structure-{segment}-length-1-mod-4", at(i, lambda p: p + "A" * ((1 - len(p)) % 4)),
           Malformed) for i, segment in enumerate(("header", "payload", "signature"))),

    # -- the header's JSON and size
    *(Case(f"header-{name}", tok(header=raw), Malformed) for name, raw in [
        ("not-json", b"{alg:RS256"), ("not-utf8", b"\xff\xfe{}"),
        ("utf8-bom", b"\xef\xbb\xbf" + compact(HEADER)),
        ("utf16", json.dumps(HEADER).encode("utf-16")),
        ("utf16-le-no-bom", json.dumps(HEADER).encode("utf-16-le")), ("empty-array", b"[]"),
        ("array", b'["RS256"]'), ("string", b'"RS256"'), ("null", b"null"), ("number", b"1"),
        ("duplicate-alg-none-first", b'{"alg":"none","alg":"RS256","kid":"k1+/Ex="}'),
        ("arrays-nested-3000", compact(HEADER)[:-1] + b',"x":' + b"[" * 3000 + b"]" * 3000 + b"}"),
        ("arrays-nested-490", compact(HEADER)[:-1] + b',"x":' + b"[" * 490 + b"]" * 490 + b"}")]),
    Case("header-over-1kib", tok(header={**HEADER, "pad": "A" * 5000}), Malformed),
    Case("header-at-1kib-accepted", tok(header=AT_CAP), None),
    Case("header-typ-jwt-accepted", tok(header={**HEADER, "typ": "JWT"}), None),

    # -- the payload's JSON, correctly signed
    *(Case(f"payload-{name}", tok(payload=raw), Malformed) for name, raw in [
        ("not-json", b"not json"), ("truncated", compact(claims())[:-1]),
        ("array", b"[1,2]"), ("string", b'"x"'), ("number", b"42"),
        ("objects-nested-3000", NESTED),
        ("arrays-nested-5000", raw_payload({}, '"x":' + "[" * 5000 + "]" * 5000)),
        ("exp-with-5000-digits", raw_payload({"exp": DROP}, '"exp":1' + "0" * 5000)),
        ("duplicate-token-use",
         raw_payload({"token_use": DROP}, '"token_use":"id","token_use":"access"')),
        ("duplicate-client-id",
         raw_payload({"client_id": DROP}, '"client_id":"client_b","client_id":"client_a"')),
        ("exp-nan", raw_payload({"exp": DROP}, '"exp":NaN')),
        ("exp-infinity", raw_payload({"exp": DROP}, '"exp":Infinity')),
        ("exp-minus-infinity", raw_payload({"exp": DROP}, '"exp":-Infinity')),
        ("exp-1e309", raw_payload({"exp": DROP}, '"exp":1e309')),
        ("lone-surrogate", raw_payload({}, '"custom:role":"\\ud800x"'))]),
    Case("payload-objects-nested-3000-at-64kib-limit", tok(payload=NESTED), Malformed,
         settings={"max_token_bytes": 64 * 1024}),

    # -- the algorithm
    *(Case(f"alg-{alg}-signature-{label}",
           mangle(b64u(compact({"kid": KID1, "alg": alg})) + ".{p}." + sig), Malformed)
      for alg in ("none", "None", "NONE", "nOnE")
      for label, sig in [("empty", ""), ("aaaa", "AAAA")]),
    Case("alg-missing", tok(header={"kid": KID1}), Malformed),
    *(Case(f"alg-{name}", tok(header={"kid": KID1, "alg": alg}), Malformed) for name, alg in [
        ("empty", ""), ("lowercase", "rs256"), ("trailing-space", "RS256 "), ("list", ["RS256"]),
        ("object", {"a": 1}), ("number", 256), ("null", None)]),
    *(Case(f"alg-hs256-secret-{form}", hs256(form), Malformed) for form in [
        "spki-pem", "spki-pem-no-newline", "pkcs1-pem", "spki-der", "openssh", "jwk-json", "raw-n",
        "empty", "secret"]),
    *(Case(f"alg-{alg.lower()}-signed-with-k1", tok({"kid": KID1, "alg": alg}, alg=alg),
           Malformed) for alg in ("RS384", "RS512", "PS256")),
    Case("alg-ps256-signature-under-rs256-header", tok(alg="PS256"), BadSignature),
    Case("alg-es256-signed-with-ke", tok(ES256, key="ke"), Malformed),
    Case("alg-es256-ke-as-k1", tok(ES256, key="ke"), Malformed, jwks=ke_as_k1),
    Case("alg-rs256-header-ke-as-k1", tok(key="ke"), KeyNotFound, jwks=ke_as_k1),
    Case("alg-k1-for-rs512", tok(), KeyNotFound, jwks=lambda k: baseline(k, alg="RS512")),
    Case("alg-k1-for-encryption", tok(), KeyNotFound, jwks=lambda k: baseline(k, use="enc")),

    # -- key selection, and the header parameters that would bring keys of their own
    Case("kid-missing", tok(header={"alg": "RS256"}), Malformed),
    *(Case(f"kid-{name}", tok(header={"kid": kid, "alg": "RS256"}), Malformed) for name, kid in [
        ("empty", ""), ("number", 5), ("true", True), ("null", None), ("list", [KID1]),
        ("object", {"k": KID1})]),
    *(Case(f"kid-{name}-signed-with-kx", tok({"kid": kid, "alg": "RS256"}, key="kx"),
           KeyNotFound, echo=(kid,)) for name, kid in HOSTILE_KIDS.items()),
    *(Case(f"kid-{n}-characters", tok({"kid": "k" * n, "alg": "RS256"}, key="kx"), Malformed,
           echo=("k" * 129,)) for n in (129, 10_000)),
    Case("kid-k1-signed-with-kx", tok(key="kx"), BadSignature),
    Case("kid-k2-signed-with-k1", tok({"kid": KID2, "alg": "RS256"}), BadSignature),
    Case("kid-k2-signed-with-k2-accepted", tok({"kid": KID2, "alg": "RS256"}, key="k2"), None),
    Case("header-jku-and-x5u", tok({"alg": "RS256", "kid": "kx", "jku": ATTACKER, "x5u": METADATA},
         key="kx"), Malformed, jwks=with_documents(ATTACKER, METADATA)),
    Case("header-jku", tok({"alg": "RS256", "kid": "kx", "jku": ATTACKER}, key="kx"), Malformed,
         jwks=with_documents(ATTACKER)),
    Case("header-x5u-with-k1-kid", tok({**HEADER, "x5u": METADATA}, key="kx"), Malformed,
         jwks=with_documents(METADATA)),
    Case("header-embedded-jwk-of-kx",
         lambda k: bearer(sign(k.kx, {**HEADER, "jwk": rsa_jwk(k.kx, KID1)})), Malformed),
    Case("header-embedded-x5c", tok({**HEADER, "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"]},
         key="kx"), Malformed),
    *(Case(f"header-{name}", tok(header={**HEADER, **extra}), Malformed)
      for name, extra in FORBIDDEN_PARAMETERS.items()),

    # -- the signature
    *(Case(f"signature-{name}", sig_bytes(change), BadSignature) for name, change in [
        ("truncated-3-bytes", lambda s, o: s[:-3]), ("truncated-1-byte", lambda s, o: s[:-1]),
        ("extended-3-bytes", lambda s, o: s + b"\0\0\0"),
        ("first-bit-flipped", lambda s, o: bytes([s[0] ^ 1]) + s[1:]),
        ("last-bit-flipped", lambda s, o: s[:-1] + bytes([s[-1] ^ 0x80])),
        ("of-another-token", lambda s, o: o), ("one-byte", lambda s, o: b"\x01"),
        ("256-zero-bytes", lambda s, o: b"\0" * 256), ("256-ff-bytes", lambda s, o: b"\xff" * 256),
        ("512-bytes", lambda s, o: s + o)]),
    Case("signature-extended-aaaa", at(2, lambda s: s + "AAAA"), BadSignature),
    Case("signature-over-tampered-groups", tampered({"cognito:groups": ["users", "admin"]}),
         BadSignature, path="/admin"),
    Case("signature-over-tampered-sub", tampered({"sub": "someone-else"}), BadSignature,
         echo=("someone-else",)),
    Case("signature-over-tampered-exp", tampered({"exp": NOW + 7200}), BadSignature),

    # -- the time claims
    Case("time-exp-one-second-ago", acc(exp=NOW - 1), Expired),
    Case("time-exp-now", acc(exp=NOW), Expired),
    Case("time-exp-one-second-ago-id", idt(exp=NOW - 1), Expired, path="/id"),
    Case("time-exp-in-five-seconds-accepted", acc(exp=NOW + 5), None),
    *(Case(f"time-exp-{name}", acc(exp=value), BadClaim, "exp") for name, value in [
        ("missing", DROP), ("string", "9999999999"), ("fraction", NOW + 3600.5),
        ("whole-float", float(NOW + 3600)), ("true", True), ("false", False), ("null", None),
        ("empty-list", []), ("empty-object", {}), ("zero", 0), ("minus-one", -1),
        ("2-pow-53", 2**53)]),
    *(Case(f"time-exp-literal-{name}", tok(payload=raw_payload({"exp": DROP}, f'"exp":{text}')),
           BadClaim, "exp")
      for name, text in [("10-pow-400", str(10**400)), ("1e308", "1e308")]),
    Case("time-nbf-in-an-hour", acc(nbf=NOW + 3600), NotYetValid),
    Case("time-nbf-next-second", acc(nbf=NOW + 1), NotYetValid),
    Case("time-nbf-string", acc(nbf="0"), BadClaim, "nbf"),
    Case("time-nbf-null", acc(nbf=None), BadClaim, "nbf"),
    Case("time-nbf-now-accepted", acc(nbf=NOW), None),
    Case("time-iat-a-million-seconds-ahead", acc(iat=NOW + 10**6), NotYetValid),
    Case("time-iat-61-seconds-ahead", acc(iat=NOW + 61), NotYetValid),
    *(Case(f"time-iat-{s}-seconds-ahead-accepted", acc(iat=NOW + s), None) for s in (30, 60)),
    *(Case(f"time-iat-{name}", acc(iat=value), BadClaim, "iat") for name, value in [
        ("missing", DROP), ("string", "abc"), ("list", [1]), ("null", None), ("true", True),
        ("float", float(NOW)), ("zero", 0)]),
    Case("time-lifetime-two-days", acc(exp=NOW + 2 * DAY), BadClaim, "exp"),
    Case("time-lifetime-a-day-and-a-second", acc(exp=NOW - 10 + DAY + 1), BadClaim, "exp"),
    Case("time-lifetime-two-days-id", idt(exp=NOW + 2 * DAY), BadClaim, "exp", path="/id"),
    Case("time-lifetime-one-day-accepted", acc(exp=NOW - 10 + DAY), None),

    # -- the issuer
    *(Case(f"issuer-{name}", acc(iss=value), BadIssuer, "iss") for name, value in ISSUERS.items()),
    Case("issuer-trailing-slash-id", idt(iss=ISS + "/"), BadIssuer, "iss", path="/id"),
    Case("issuer-other-pool-access-token", tok({"kid": "kb", "alg": "RS256"}, claims(iss=ISS_B),
         key="kx"), BadIssuer, jwks=with_documents(POOL_B_JWKS, kid="kb")),
    Case("issuer-other-pool-id-token", tok({"kid": "kb", "alg": "RS256"}, claims("id", iss=ISS_B),
         key="kx"), BadIssuer, path="/id", jwks=with_documents(POOL_B_JWKS, kid="kb")),
    Case("issuer-other-pool-token-under-k1-kid", tok(payload=claims(iss=ISS_B), key="kx"),
         BadIssuer, jwks=with_documents(POOL_B_JWKS, kid=KID1)),

    # -- the token's kind and its client
    Case("use-admin-id-token", idt({"cognito:groups": ["admin"]}), BadUse),
    Case("use-admin-id-token-on-admin", idt({"cognito:groups": ["admin"]}), BadUse, path="/admin"),
    Case("use-id-token-on-scoped", idt(), BadUse, path="/access/scoped"),
    Case("use-access-token-on-id", acc(), BadUse, path="/id"),
    Case("use-id-token-on-id-accepted", idt(), None, path="/id"),
    *(Case(f"use-{name}", acc(token_use=value), BadUse) for name, value in [
        ("missing", DROP), ("empty", ""), ("uppercase", "ACCESS"), ("trailing-space", "access "),
        ("zero-width-space", "acc\u200bess"), ("list", ["access"]), ("refresh", "refresh"),
        ("id", "id"), ("null", None)]),
    *(Case(f"client-id-{name}", acc(client_id=value), BadClient, "client_id")
      for name, value in [("other-client", CLIENT_B), ("missing", DROP), ("list", [CLIENT_A]),
                          ("trailing-space", CLIENT_A + " "), ("null", None), ("empty", "")]),
    *(Case(f"client-aud-ours-client-id-{name}", acc(aud=CLIENT_A, client_id=value),
           BadClient, "client_id") for name, value in [("other", CLIENT_B), ("no", DROP)]),
    # resource binding: an access token's aud names an API; with none configured it is refused
    *(Case(f"audience-{name}", acc(aud=value), fcj.InvalidAudienceError, "aud", settings=API)
      for name, value in [("other-client", CLIENT_B), ("other-api", "https://other.test"),
                          ("api-prefix", "https://api.test/"), ("null", None), ("number", 1),
                          ("empty-list", cast(Any, []))]),
    *(Case(f"audience-{name}-none-configured", acc(aud=value), fcj.InvalidAudienceError, "aud")
      for name, value in [("our-client", CLIENT_A), ("our-api", "https://api.test")]),
    Case("audience-ours-accepted", acc(aud="https://api.test"), None, settings=API),
    Case("audience-ours-in-a-list-accepted", acc(aud=["x", "https://api.test"]), None,
         settings=API),
    *(Case(f"client-id-token-aud-{name}", idt(aud=value), BadClient, "aud", path="/id")
      for name, value in [("other-client", CLIENT_B), ("missing", DROP), ("list", [CLIENT_A]),
                          ("list-with-extra", [CLIENT_A, "x"]), ("trailing-space", CLIENT_A + " "),
                          ("null", None)]),
    Case("client-id-token-client-id-ours-aud-other", idt(client_id=CLIENT_A, aud=CLIENT_B),
         BadClient, "aud", path="/id"),
    Case("client-id-token-aud-ours-client-id-other", idt(client_id=CLIENT_B), BadClient,
         "client_id", path="/id"),
    Case("client-second-accepted", acc(client_id=CLIENT_B), None, settings=BOTH_CLIENTS),
    Case("client-second-id-token", idt(aud=CLIENT_B), None, path="/id", settings=BOTH_CLIENTS),
    Case("client-access-cognito-username-disagrees", acc({"cognito:username": "bob"}),
         BadClaim, "username"),

    # -- groups and scopes
    Case("groups-users-on-admin", acc(), Denied, path="/admin"),
    Case("groups-missing-on-admin", acc({"cognito:groups": DROP}), Denied, path="/admin"),
    Case("groups-with-admin-accepted", acc({"cognito:groups": ["users", "admin"]}), None,
         path="/admin"),
    *(Case(f"groups-{name}", acc({"cognito:groups": value}), BadClaim, "cognito:groups",
           path="/admin") for name, value in [
        ("string-admin", "admin"), ("string-superadmin", "superadmin"),
        ("string-not-admin", "not-admin"), ("list-with-number", ["admin", 5]),
        ("object", {"admin": True}), ("null", None)]),
    *(Case(f"groups-{name}", acc({"cognito:groups": value}), Denied, path="/admin")
      for name, value in [("capitalised", ["Admin"]), ("trailing-space", ["admin "]),
                          ("superadmin", ["superadmin"])]),
    *(Case(f"scope-{name}", acc(scope=value), BadClaim, "scope", path="/access/scoped")
      for name, value in [("list", ["api/read"]), ("number", 5)]),
    *(Case(f"scope-{name}", acc(scope=value), Denied, path="/access/scoped")
      for name, value in [("suffix", "api/readx"), ("prefix", "xapi/read"),
                          ("dotted", "api/read.write"), ("tab-separated", "openid\tapi/read"),
                          ("empty", ""), ("missing", DROP)]),
    Case("scope-double-space-accepted", acc(scope="openid  api/read"), None, path="/access/scoped"),
    Case("scope-accepted", acc(), None, path="/access/scoped"),

    # -- canaries: claim values and a kid that no answer or log may contain
    Case("leak-forbidden", acc(CANARY), Denied, path="/admin", echo=("CANARY",)),
    Case("leak-other-client", acc(CANARY, client_id="CANARYclient"), BadClient,
         "client_id", echo=("CANARY",)),
    Case("leak-expired", acc(CANARY, exp=NOW - 1), Expired, echo=("CANARY",)),
    Case("leak-unknown-kid", tok({"kid": "CANARY-kid", "alg": "RS256"}, claims("access", CANARY),
         key="kx"), KeyNotFound, echo=("CANARY",)),
    Case("leak-claims-model-error", acc(CANARY, **{"cognito:groups": {"CANARY-key": ["CANARY"]}}),
         BadClaim, "cognito:groups", path="/admin", echo=("CANARY",)),
]
# fmt: on


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
async def test_attack(case: Case, keys: Keys, library_logs: pytest.LogCaptureFixture) -> None:
    app, requests = make_app(case.jwks(keys) if case.jwks else baseline(keys), **case.settings)
    headers = case.build(keys)
    sent = [value.decode("latin-1").partition(" ")[2] for _, value in headers]
    started = time.perf_counter()
    response = await send(app, case.path, headers)
    elapsed = time.perf_counter() - started

    expected = answer_for(case.expect)
    if expected is None:
        assert (response.status_code, response.json()) == (200, {"route": case.path})
    else:
        status, challenge, body = expected
        assert (response.status_code, response.json()) == (status, body)
        assert response.headers.get_list("www-authenticate") == [challenge]
        for credential in sent or [""]:
            try:
                assert_echoes_nothing(response, credential, *HIDDEN, *case.echo)
            except RecursionError:  # a segment nested past json's reach: check the raw text
                assert_echoes_nothing(response, "", *credential.split("."), *HIDDEN, *case.echo)
    if case.max_seconds is not None:
        assert elapsed < case.max_seconds, f"took {elapsed:.3f} s"
    assert set(requests) <= {JWKS_URL}, requests  # never jku, x5u, another pool
    segments = [part for text in sent for part in text.split(".") if len(part) >= 8]
    assert_logs_hide(library_logs.records, *sent, *segments, *case.echo)

    # Every refusal is logged with its exception as an argument.
    args = [record.args for record in library_logs.records if isinstance(record.args, tuple)]
    errors = [arg for group in args for arg in group if isinstance(arg, fcj.CognitoJWTError)]
    raised = case.expect if isinstance(case.expect, type) else None
    assert [type(error) for error in errors] == ([raised] if raised else []), errors
    if case.claim is not None:
        assert isinstance(errors[0], fcj.InvalidClaimError) and errors[0].claim == case.claim
    if raised is fcj.MalformedTokenError or isinstance(case.expect, tuple):
        assert requests == [], "refused before any key was needed, yet fetched the JWKS"
        control = await send(app, "/access", bearer(sign(keys.k2, {"kid": KID2, "alg": "RS256"})))
        assert (control.status_code, requests) == (200, [JWKS_URL]), "the cache was warm"


async def test_the_harness_raises_instead_of_answering_500(
    keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash inside the app raises in the test, so no case above can pass on a 500."""
    monkeypatch.setattr(fcj.CognitoVerifier, "verify", AsyncMock(side_effect=RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        await send(make_app(baseline(keys))[0], "/access", bearer(sign(keys.k1)))


def test_every_challenge_is_a_fixed_rfc_6750_string() -> None:
    """Fixed error codes; an error_description of %x20-21 / %x23-5B / %x5D-7E only."""
    grammar = re.compile(r'Bearer( error="(invalid_request|invalid_token|insufficient_scope)"'
                         r'(, error_description="[\x20\x21\x23-\x5b\x5d-\x7e]*")?)?')  # fmt: skip
    answers = (helpers.NO_CREDENTIALS, helpers.INVALID, helpers.EXPIRED, helpers.FORBIDDEN,
               helpers.BAD_REQUEST)  # fmt: skip
    assert all(grammar.fullmatch(challenge) for _, challenge, _ in answers)
    reached = {answer[1] for case in CASES if (answer := answer_for(case.expect)) is not None}
    assert len(reached) == 4 and len({case.id for case in CASES}) == len(CASES)
