"""Shared fixtures of the security suite: the keys, a JWKS mock and the app of research §3.

research/security.md §3 "Attack corpus" defines the fixtures reused here:

- keys: `K1` (kid `"k1+/Ex="`) and `K2` (kid `"k2"`) are published; `KX` is the attacker's
  unpublished RSA key; `KE` is an EC P-256 key. They are generated once per session.
- the pool `us-east-1_TestPool1` and its app client `CLIENT_A`; `CLIENT_B` is another client of
  the same pool. (The research's `client-a`/`client-b` are not valid app client ids for the
  library, which allows letters, digits, `_` and `+` only, so `client_a`/`client_b` stand in.)
- `access_claims()` / `id_claims()`: the research's ACCESS and ID claim sets, at the fixed time
  `NOW` that the app's verifiers use as their clock.
- `make_app()`: a FastAPI app with exactly the four routes `/access`, `/access/scoped` (scope
  `api/read`), `/admin` (group `admin`) and `/id`, verifying against a `JWKSMock` through
  `httpx.MockTransport`. Each call makes a new `JWKSCache`, so a new app has a cold cache.
- `send()`: one request through `httpx.ASGITransport` with `raise_app_exceptions=True`, so that
  anything that would be a 500 raises in the test instead. Header values are raw bytes.
- `sign()` signs anything (JSON or raw bytes, RS256/384/512, PS256, ES256); `token_of_length`,
  `raw_payload`, `hs256_token` and `self_signed_x5c` build particular attacks.
- `assert_safe_answer()` / `assert_logs_hide()`: the answer is a fixed refusal that echoes
  nothing of the credentials sent, and no log record repeats them.

No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.
"""

import base64
import datetime
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID
from fastapi import Depends, FastAPI

from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoSettings,
    CognitoVerifier,
    JWKSCache,
    require_groups,
    require_scopes,
)
from tests.answers import (
    BAD_REQUEST,
    DENIED,
    EXPIRED,
    EXPIRED_CHALLENGE,
    FORBIDDEN,
    INVALID,
    NO_CREDENTIALS,
    UNAVAILABLE,
)

# -- the research's fixtures ----------------------------------------------------------------

NOW = 1_700_000_000
"""The verifiers' clock in `make_app` (by default): every time claim is relative to it."""
REGION = "us-east-1"
POOL = "us-east-1_TestPool1"
ISS = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
JWKS_URL = f"{ISS}/.well-known/jwks.json"
CLIENT_A = "client_a"
CLIENT_B = "client_b"
KID1 = "k1+/Ex="
KID2 = "k2"
SUB = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
JTI = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
DEFAULT_HEADER: Mapping[str, Any] = {"kid": KID1, "alg": "RS256"}
DROP: Any = object()
"""In a claim change set: remove the claim."""

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Keys:
    """The research's keys: K1 and K2 published, KX the attacker's, KE an EC P-256 key."""

    k1: rsa.RSAPrivateKey
    k2: rsa.RSAPrivateKey
    kx: rsa.RSAPrivateKey
    ke: ec.EllipticCurvePrivateKey


@pytest.fixture(scope="session")
def keys() -> Keys:
    """The four keys, generated once per session (RSA generation is the slow part)."""

    def rsa_key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    return Keys(rsa_key(), rsa_key(), rsa_key(), ec.generate_private_key(ec.SECP256R1()))


# -- encoding and signing -------------------------------------------------------------------


def b64u(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(segment: str) -> bytes:
    """Decode unpadded base64url (leniently: for building attacks, not for checking)."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def encode_json(value: Any) -> bytes:
    """Compact JSON of `value`; bytes are used as they are (malformed or raw JSON)."""
    if isinstance(value, bytes):
        return value
    return json.dumps(value, separators=(",", ":")).encode()


def signing_input(header: Any, payload: Any) -> str:
    """`b64u(header).b64u(payload)`, each JSON-encoded unless given as bytes."""
    return f"{b64u(encode_json(header))}.{b64u(encode_json(payload))}"


_RSA_HASHES: Mapping[str, Callable[[], hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}


def signature_for(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, data: bytes, alg: str = "RS256"
) -> bytes:
    """The JWS signature of `data` under `alg` (RS256/384/512, PS256 or ES256)."""
    if alg == "ES256":
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert isinstance(key, rsa.RSAPrivateKey)
    if alg == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return key.sign(data, pss, hashes.SHA256())
    return key.sign(data, padding.PKCS1v15(), _RSA_HASHES[alg]())


def sign(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    header: Any = DEFAULT_HEADER,
    payload: Any = None,
    alg: str = "RS256",
) -> str:
    """A compact JWS of `payload` (default: `access_claims()`) signed with `key` under `alg`."""
    text = signing_input(header, access_claims() if payload is None else payload)
    return f"{text}.{b64u(signature_for(key, text.encode('ascii'), alg))}"


def _apply(claims: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    for name, value in changes.items():
        if value is DROP:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def access_claims(changes: Mapping[str, Any] | None = None, /, **more: Any) -> dict[str, Any]:
    """The research's ACCESS claims at `NOW`; `changes`/`more` override (`DROP` removes)."""
    claims: dict[str, Any] = {
        "sub": SUB,
        "iss": ISS,
        "client_id": CLIENT_A,
        "token_use": "access",
        "scope": "openid api/read",
        "auth_time": NOW - 10,
        "iat": NOW - 10,
        "exp": NOW + 3600,
        "jti": JTI,
        "username": "alice",
        "cognito:groups": ["users"],
    }
    return _apply(claims, {**(changes or {}), **more})


def id_claims(changes: Mapping[str, Any] | None = None, /, **more: Any) -> dict[str, Any]:
    """The research's ID claims at `NOW`; `changes`/`more` override (`DROP` removes)."""
    claims: dict[str, Any] = {
        "sub": SUB,
        "iss": ISS,
        "iat": NOW - 10,
        "exp": NOW + 3600,
        "aud": CLIENT_A,
        "token_use": "id",
        "cognito:username": "alice",
        "email": "a@x.test",
        "cognito:groups": ["users"],
    }
    return _apply(claims, {**(changes or {}), **more})


def bearer(token: str | bytes) -> Headers:
    """An `Authorization: Bearer <token>` header, as raw bytes."""
    raw = token if isinstance(token, bytes) else token.encode("latin-1")
    return [(b"authorization", b"Bearer " + raw)]


# -- attack building blocks ------------------------------------------------------------------


RS256_2048_SIGNATURE_CHARS = 342  # 256 bytes, unpadded base64url


def token_of_length(k: Keys, length: int) -> str:
    """A K1-signed, otherwise valid access token exactly `length` characters long.

    Padded with two extra claims: base64url grows by 1 or 2 characters per byte, so one
    padding claim alone cannot reach every length.
    """
    header, tail = DEFAULT_HEADER, 1 + RS256_2048_SIGNATURE_CHARS
    base = len(signing_input(header, access_claims(pad="", padx=""))) + tail
    for pad in range(max(0, (length - base) * 3 // 4 - 8), (length - base) * 3 // 4 + 8):
        for extra in range(3):
            payload = access_claims(pad="x" * pad, padx="y" * extra)
            if len(signing_input(header, payload)) + tail == length:
                return sign(k.k1, header, payload)
    raise AssertionError(f"no token of length {length}")  # pragma: no cover


def raw_payload(claims: Mapping[str, Any], members: str) -> bytes:
    """`claims` as compact JSON, plus raw `members` text before the closing brace."""
    return encode_json(claims)[:-1] + b"," + members.encode() + b"}"


def hs256_token(k: Keys, form: str) -> str:
    """An HS256 token whose HMAC secret is K1's public key in `form` (or a plain secret)."""
    public = k.k1.public_key()
    enc, fmt = Encoding, PublicFormat
    jwk = rsa_jwk(k.k1, KID1)
    secret = {
        "spki-pem": public.public_bytes(enc.PEM, fmt.SubjectPublicKeyInfo),
        "spki-pem-no-newline": public.public_bytes(enc.PEM, fmt.SubjectPublicKeyInfo).rstrip(),
        "pkcs1-pem": public.public_bytes(enc.PEM, fmt.PKCS1),
        "spki-der": public.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo),
        "openssh": public.public_bytes(enc.OpenSSH, fmt.OpenSSH),
        "jwk-json": json.dumps(jwk).encode(),
        "raw-n": b64d(jwk["n"]),
        "empty": b"",
        "secret": b"secret",
    }[form]
    text = signing_input({"kid": KID1, "alg": "HS256"}, access_claims())
    return f"{text}.{b64u(hmac.new(secret, text.encode(), hashlib.sha256).digest())}"


def self_signed_x5c(k: Keys) -> list[str]:
    """`x5c` with a self-signed certificate of the attacker's key KX."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker.test")])
    start = datetime.datetime(2023, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(k.kx.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(k.kx, hashes.SHA256())
    )
    return [base64.b64encode(cert.public_bytes(Encoding.DER)).decode()]


# -- the JWKS mock --------------------------------------------------------------------------


def rsa_jwk(
    key: rsa.RSAPrivateKey | rsa.RSAPublicKey, kid: str, **overrides: Any
) -> dict[str, Any]:
    """`JWK(K)` of the research: `{"kty":"RSA","alg":"RS256","use":"sig","kid",n,e}`."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    numbers = public.public_numbers()
    jwk = {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": kid,
        "n": b64u(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64u(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
    }
    return {**jwk, **overrides}


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    """An ES256 JWK of an EC P-256 key."""
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "alg": "ES256",
        "use": "sig",
        "crv": "P-256",
        "kid": kid,
        "x": b64u(numbers.x.to_bytes(32, "big")),
        "y": b64u(numbers.y.to_bytes(32, "big")),
    }


def baseline_jwks(keys: Keys) -> dict[str, Any]:
    """The research's baseline JWKS: `{"keys": [JWK(K1), JWK(K2)]}`."""
    return {"keys": [rsa_jwk(keys.k1, KID1), rsa_jwk(keys.k2, KID2)]}


Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]
Document = Mapping[str, Any] | bytes | Handler


class JWKSMock:
    """JWKS documents served by URL through `httpx.MockTransport`, with every request recorded.

    A document is a JSON mapping, raw bytes (sent as they are, with status 200) or a handler
    returning the response. Any other URL gets 404, and is recorded too: `requests` lists the
    URL of every request the library made, so a test can assert it never went elsewhere.
    While `gate` is set and not yet released, every response waits on it (after the request
    is recorded): a test can hold a fetch in flight.
    """

    def __init__(self, documents: Mapping[str, Document] | None = None) -> None:
        self.documents: dict[str, Document] = dict(documents or {})
        self.requests: list[str] = []
        self.gate: anyio.Event | None = None

    def hits(self, url: str = JWKS_URL) -> int:
        """How many requests went to `url`."""
        return self.requests.count(url)

    def transport(self) -> httpx.MockTransport:
        """The transport to give to a `JWKSCache`."""
        return httpx.MockTransport(self._handle)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append(url)
        if self.gate is not None:
            await self.gate.wait()
        document = self.documents.get(url)
        if request.method != "GET" or document is None:
            return httpx.Response(404)
        if isinstance(document, bytes):
            return httpx.Response(200, content=document)
        if isinstance(document, Mapping):
            return httpx.Response(200, json=document)
        response = document(request)
        return response if isinstance(response, httpx.Response) else await response


@pytest.fixture
def jwks(keys: Keys) -> JWKSMock:
    """A JWKS mock serving the baseline JWKS at `JWKS_URL`."""
    return JWKSMock({JWKS_URL: baseline_jwks(keys)})


# -- the app --------------------------------------------------------------------------------


def fixed_clock() -> float:
    return float(NOW)


def corpus_settings(**overrides: Any) -> CognitoSettings:
    """Settings for the pool `POOL` and app client `CLIENT_A`; `overrides` replace fields."""
    fields: dict[str, Any] = {"user_pool_id": POOL, "client_ids": [CLIENT_A]}
    return CognitoSettings(**{**fields, **overrides})


@dataclass
class CorpusApp:
    """An app of the four corpus routes, its JWKS mock, its (shared) key cache and settings."""

    app: FastAPI
    jwks: JWKSMock
    cache: JWKSCache
    settings: CognitoSettings
    access: CognitoBearer
    id: CognitoBearer


ROUTES = ("/access", "/access/scoped", "/admin", "/id")


def make_app(
    jwks: JWKSMock,
    *,
    clock: Callable[[], float] = fixed_clock,
    cache_clock: Callable[[], float] = time.monotonic,
    **overrides: Any,
) -> CorpusApp:
    """A new app with a cold key cache, around `jwks`; `overrides` go to the settings.

    `/access` needs an access token, `/access/scoped` also scope `api/read`, `/admin` also
    group `admin`, `/id` an ID token. A route answers `{"route": <path>}`. Both bearers share
    one `JWKSCache`, so the mock's hit count is the app's. `clock` is the verifiers' wall
    clock (default: the fixed `NOW`); `cache_clock` the cache's monotonic clock.
    """
    settings = corpus_settings(**overrides)
    cache = JWKSCache(settings, transport=jwks.transport(), clock=cache_clock)
    access = CognitoBearer(
        token_use="access", verifier=CognitoVerifier(settings, jwks=cache, clock=clock)
    )
    id_auth = CognitoBearer(
        token_use="id", verifier=CognitoVerifier(settings, jwks=cache, clock=clock)
    )
    app = FastAPI()

    @app.get("/access", dependencies=[Depends(access)])
    async def access_route() -> dict[str, str]:
        return {"route": "/access"}

    @app.get("/access/scoped", dependencies=[Depends(require_scopes(access, "api/read"))])
    async def scoped_route() -> dict[str, str]:
        return {"route": "/access/scoped"}

    @app.get("/admin", dependencies=[Depends(require_groups(access, "admin"))])
    async def admin_route() -> dict[str, str]:
        return {"route": "/admin"}

    @app.get("/id", dependencies=[Depends(id_auth)])
    async def id_route() -> dict[str, str]:
        return {"route": "/id"}

    return CorpusApp(app, jwks, cache, settings, access, id_auth)


@pytest.fixture
def corpus(jwks: JWKSMock) -> CorpusApp:
    """A new corpus app (cold cache) around the baseline JWKS mock."""
    return make_app(jwks)


@asynccontextmanager
async def asgi_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling `app` in process; an exception in the app raises here."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def send(
    app: FastAPI, path: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> httpx.Response:
    """One GET of `path` with raw `headers`; raises instead of answering 500."""
    async with asgi_client(app) as client:
        return await client.get(path, headers=list(headers))


# -- what every answer must look like (research §3.J) -----------------------------------------

FIXED_CHALLENGES = frozenset(
    {NO_CREDENTIALS[1], INVALID[1], EXPIRED_CHALLENGE, FORBIDDEN[1], BAD_REQUEST[1]}
)
"""Every `WWW-Authenticate` value the library may send."""
FIXED_BODIES = (
    NO_CREDENTIALS[2],
    INVALID[2],
    EXPIRED[2],
    DENIED,
    BAD_REQUEST[2],
    UNAVAILABLE,
)
"""Every error body the library may send."""


def credential_of(value: bytes) -> str:
    """The credential part of an `Authorization` value (after the scheme), as latin-1 text."""
    return value.decode("latin-1").partition(" ")[2]


def token_needles(credential: str) -> set[str]:
    """What of a sent credential must never come back: the credential, its dot-separated
    segments, and every string in segments that decode to JSON objects (5+ characters).

    Unlike `tests.answers.token_secrets`, decoding never fails: the corpus sends segments
    that are not base64, not UTF-8, or JSON nested far beyond the recursion limit.
    """
    needles = {credential, *credential.split(".")}
    for segment in credential.split(".")[:2]:
        try:
            decoded = json.loads(b64d(segment))
        except (ValueError, RecursionError):
            continue
        if isinstance(decoded, dict):
            for value in decoded.values():
                items = value if isinstance(value, list) else [value]
                needles.update(item for item in items if isinstance(item, str))
    return {needle for needle in needles if len(needle) >= 5}


def assert_echoes_nothing(response: httpx.Response, credential: str, *values: str) -> None:
    """Neither the body nor any header contains `token_needles(credential)` or `values`."""
    exposed = response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    for needle in token_needles(credential) | {value for value in values if value}:
        assert needle not in exposed, f"response echoes {needle[:40]!r}"


def assert_safe_answer(
    response: httpx.Response, headers: Sequence[tuple[bytes, bytes]], *values: str
) -> None:
    """A refusal with fixed texts only, echoing none of the credentials sent nor `values`.

    Never a 500; a fixed `WWW-Authenticate` (none only on 503); a fixed body; no credential,
    segment, header or claim string of the `Authorization` values sent (5+ characters), nor
    any of `values`, in the body or the headers.
    """
    assert response.status_code in (400, 401, 403, 503), response.status_code
    challenges = response.headers.get_list("www-authenticate")
    assert set(challenges) <= FIXED_CHALLENGES and len(challenges) <= 1, challenges
    assert challenges or response.status_code == 503
    assert response.json() in FIXED_BODIES
    credentials = [credential_of(v) for n, v in headers if n.lower() == b"authorization"]
    for credential in credentials or [""]:
        assert_echoes_nothing(response, credential, *values)


def assert_logs_hide(records: Iterable[logging.LogRecord], *needles: str) -> None:
    """No log record's message contains any of `needles` (empty ones are skipped)."""
    for record in records:
        message = record.getMessage()
        for needle in needles:
            assert not needle or needle not in message, f"log echoes {needle[:40]!r}"
