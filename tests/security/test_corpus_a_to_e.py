"""The attack corpus of research/security.md §3, groups A-E, through a real FastAPI app.

A (the Authorization header), B (structure and encoding), C (algorithm), D (key selection) and
E (signature). Each `Case` is one variant of one numbered research case; its id starts with
the group letter and the case number ("A5-tab-in-token"). `run_case` sends it to a new app
with a cold key cache and asserts the status, the exact `WWW-Authenticate` challenge, the
fixed body, that nothing of the token is echoed in the answer or the logs, that no request
left for anything but the configured JWKS URL, and, for the header-level cases (J.62), that
the JWKS was not fetched although a valid token right after does fetch it. Requests go through
`httpx.ASGITransport(raise_app_exceptions=True)`: a 500 would raise (J.59).

Cases that need more than one request (27-29) have their own tests; `DEDICATED` names them.
Groups F-J, the config-time case 47, the hygiene cases 59-62 and the coverage count are in
test_corpus_f_to_j.py.
"""

from __future__ import annotations

import json
import random
import re
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest

import fastapi_cognito_jwt._verifier as verifier_module
from tests.answers import BAD_REQUEST, INVALID, NO_CREDENTIALS, Expected
from tests.security.conftest import (
    CLIENT_A,
    DEFAULT_HEADER,
    DROP,
    ISS,
    JTI,
    JWKS_URL,
    KID1,
    KID2,
    POOL,
    SUB,
    Document,
    Headers,
    JWKSMock,
    Keys,
    access_claims,
    asgi_client,
    assert_logs_hide,
    assert_safe_answer,
    b64d,
    b64u,
    baseline_jwks,
    bearer,
    credential_of,
    ec_jwk,
    encode_json,
    hs256_token,
    make_app,
    raw_payload,
    rsa_jwk,
    self_signed_x5c,
    send,
    sign,
    token_of_length,
)

pytestmark = pytest.mark.security

Build = Callable[[Keys], Headers]
JWKSVariant = Callable[[Keys], Mapping[str, Document]]
CASE_ID = re.compile(r"(?P<group>[A-J])(?P<number>[1-9][0-9]?)-[a-z0-9][a-z0-9-]*")
GROUPS = {
    "A": range(1, 9),
    "B": range(9, 20),
    "C": range(20, 25),
    "D": range(25, 35),
    "E": range(35, 38),
    "F": range(38, 45),
    "G": range(45, 48),
    "H": range(48, 56),
    "I": range(56, 59),
    "J": range(59, 63),
}
# Configuration and identities that no answer may contain, whatever the case.
HIDDEN = (KID1, CLIENT_A, ISS, POOL, SUB, JTI)
MAX_TOKEN_BYTES = 16 * 1024  # the library's default max_token_bytes
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(frozen=True)
class Case:
    """One variant of a numbered research case, sent as one request to a new app.

    `expected` is the exact answer, or None for a control that must get 200. `nofetch`: the
    JWKS must not be fetched (and a valid token sent next must fetch it: the cache was cold).
    `jwks` replaces the documents the mock serves (default: the baseline JWKS at `JWKS_URL`);
    `settings` overrides settings; `echo` lists more values no answer or log may contain;
    `max_seconds` bounds the request's duration.
    """

    id: str
    build: Build
    expected: Expected | None
    path: str = "/access"
    nofetch: bool = False
    jwks: JWKSVariant | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    echo: tuple[str, ...] = ()
    max_seconds: float | None = None

    @property
    def number(self) -> int:
        """The research's case number."""
        match = CASE_ID.fullmatch(self.id)
        assert match, f"bad case id {self.id!r}"
        return int(match["number"])


async def run_case(case: Case, keys: Keys, logs: pytest.LogCaptureFixture) -> httpx.Response:
    """Send `case` to a new app (cold cache) and check everything research §3 asks of it."""
    documents = case.jwks(keys) if case.jwks else {JWKS_URL: baseline_jwks(keys)}
    mock = JWKSMock(documents)
    corpus = make_app(mock, **case.settings)
    headers = case.build(keys)
    started = time.perf_counter()
    response = await send(corpus.app, case.path, headers)
    elapsed = time.perf_counter() - started

    if case.expected is None:
        assert response.status_code == 200, response.text
        assert response.json() == {"route": case.path}
    else:
        status, challenge, body = case.expected
        assert (response.status_code, response.json()) == (status, body)
        assert response.headers.get_list("www-authenticate") == [challenge]
        assert_safe_answer(response, headers, *HIDDEN, *case.echo)
    if case.max_seconds is not None:
        assert elapsed < case.max_seconds, f"took {elapsed:.3f} s"
    # Never any request but to the configured JWKS URL (jku, x5u, another pool's JWKS...).
    assert set(mock.requests) <= {JWKS_URL}, mock.requests
    sent = [credential_of(value) for name, value in headers if name.lower() == b"authorization"]
    segments = [part for text in sent for part in text.split(".") if len(part) >= 8]
    assert_logs_hide(logs.records, *sent, *segments, *case.echo)
    if (
        case.expected is not None
        and case.expected[0] in (401, 403)
        and case.expected[1] != "Bearer"
    ):
        # A token was judged: the library logged why (so the check above saw its reason).
        assert any(record.name == "fastapi_cognito_jwt" for record in logs.records)

    if case.nofetch:
        assert mock.requests == [], "a header-level rejection fetched the JWKS"
        control = await send(corpus.app, "/access", bearer(sign(keys.k1)))
        assert control.status_code == 200, "the control token was refused"
        assert mock.hits() == 1, "the cache was not cold: the control made no fetch"
    return response


# -- building requests --------------------------------------------------------------------


def tok(
    header: Any = DEFAULT_HEADER, payload: Any = None, key: str = "k1", alg: str = "RS256"
) -> Build:
    """A bearer token signed with the key named `key` (`k1`, `k2`, `kx`, `ke`) under `alg`."""
    return lambda k: bearer(sign(getattr(k, key), header, payload, alg))


def acc(changes: Mapping[str, Any] | None = None, /, **more: Any) -> Build:
    """A K1-signed access token with the claims changed."""
    return tok(payload=access_claims(changes, **more))


def auth(value: bytes | Callable[[bytes], bytes]) -> Build:
    """One raw `Authorization` value; a callable gets a valid access token."""
    if isinstance(value, bytes):
        return lambda k: [(b"authorization", value)]
    return lambda k: [(b"authorization", value(sign(k.k1).encode("ascii")))]


def mangle(change: Callable[[str, str, str], str]) -> Build:
    """`Bearer <change(header, payload, signature)>` of a valid access token."""

    def build(k: Keys) -> Headers:
        header, payload, signature = sign(k.k1).split(".")
        return [(b"authorization", b"Bearer " + change(header, payload, signature).encode())]

    return build


def several(*values: str) -> Build:
    """Several `Authorization` headers; `{valid}` in a value is a valid access token."""

    def build(k: Keys) -> Headers:
        valid = sign(k.k1)
        return [(b"authorization", value.format(valid=valid).encode()) for value in values]

    return build


def unsigned(alg: str, signature: str) -> Build:
    """A valid token's payload under a `{"kid": K1, "alg": alg}` header, with `signature`."""

    def build(k: Keys) -> Headers:
        header = b64u(encode_json({"kid": KID1, "alg": alg}))
        return bearer(f"{header}.{sign(k.k1).split('.')[1]}.{signature}")

    return build


def spliced(char: bytes) -> Build:
    """A valid token with `char` inserted at position 20."""

    def build(k: Keys) -> Headers:
        token = sign(k.k1).encode()
        return [(b"authorization", b"Bearer " + token[:20] + char + token[20:])]

    return build


def in_segment(index: int, char: str) -> Build:
    """A valid token whose segment `index` has its 6th character replaced by `char`."""

    def build(k: Keys) -> Headers:
        parts = sign(k.k1).split(".")
        parts[index] = replace_at(parts[index], char)
        return bearer(".".join(parts))

    return build


def length_mod4_is_1(index: int) -> Build:
    """A valid token whose segment `index` is lengthened to a length of 1 modulo 4."""

    def build(k: Keys) -> Headers:
        parts = sign(k.k1).split(".")
        parts[index] += "A" * ((1 - len(parts[index])) % 4)
        return bearer(".".join(parts))

    return build


def replace_at(segment: str, char: str, index: int = 5) -> str:
    return segment[:index] + char + segment[index + 1 :]


def jwks_with(**documents: Callable[[Keys], Any]) -> JWKSVariant:
    """The baseline JWKS plus more documents by URL (keyword names are placeholders)."""
    urls = {
        "attacker": "https://attacker.test/jwks.json",
        "metadata": "http://169.254.169.254/latest/meta-data/",
    }
    return lambda k: {JWKS_URL: baseline_jwks(k)} | {urls[n]: d(k) for n, d in documents.items()}


def k1_published_as(**overrides: Any) -> JWKSVariant:
    """A JWKS whose entry for K1 has `overrides` (e.g. `alg`, `use`)."""
    return lambda k: {JWKS_URL: {"keys": [rsa_jwk(k.k1, KID1, **overrides), rsa_jwk(k.k2, KID2)]}}


def hs256(form: str) -> Build:
    """An HS256 token (kid K1) whose HMAC secret is K1's public key in `form`."""
    return lambda k: bearer(hs256_token(k, form))


def signature_bytes(change: Callable[[bytes, bytes], bytes]) -> Build:
    """A valid token whose signature bytes are `change(signature, another token's signature)`."""

    def build(k: Keys) -> Headers:
        header, payload, signature = sign(k.k1).split(".")
        other = b64d(sign(k.k1, payload=access_claims(jti="another-token")).split(".")[2])
        return bearer(f"{header}.{payload}.{b64u(change(b64d(signature), other))}")

    return build


def tampered(path_claims: Mapping[str, Any]) -> Build:
    """A valid token's header and signature around a payload with `path_claims` changed."""

    def build(k: Keys) -> Headers:
        header, _, signature = sign(k.k1).split(".")
        return bearer(f"{header}.{b64u(encode_json(access_claims(path_claims)))}.{signature}")

    return build


def non_canonical_last(low_bits: int) -> Build:
    """A valid token whose signature's last character has unused bits set (same bytes)."""

    def build(k: Keys) -> Headers:
        token = sign(k.k1)
        assert len(token.split(".")[2]) % 4 == 2  # 256 bytes: the last character has 4 spare bits
        index = ALPHABET.index(token[-1])
        return bearer(token[:-1] + ALPHABET[(index & 0b110000) | low_bits])

    return build


def std_alphabet_signature(k: Keys) -> Headers:
    """A valid token with the signature in standard base64 (`-`->`+`, `_`->`/`)."""
    for jti in range(100):
        header, payload, signature = sign(k.k1, payload=access_claims(jti=str(jti))).split(".")
        if "-" in signature and "_" in signature:
            standard = signature.translate(str.maketrans("-_", "+/"))
            return bearer(f"{header}.{payload}.{standard}")
    raise AssertionError("no signature with both '-' and '_'")  # pragma: no cover


JWE_HEADER = b64u(encode_json({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": KID1, "zip": "DEF"}))
HEADER_JSON = encode_json(DEFAULT_HEADER)
HOSTILE_KIDS = {
    "path-traversal": "../../../../etc/passwd",
    "sql-injection": "k1' OR '1'='1",
    "nul-suffix": "k1+/Ex=\u0000",
    "crlf-header-injection": "k1\r\nX-Evil: 1",
    "jndi": "${jndi:ldap://x.test/a}",
    "script-tag": "<script>",
    "line-separator": "k1+/Ex=\u2028",
    "homoglyph": "k\uff11+/Ex=",
    "128-characters": "k" * 128,
}
NONE_ALGS = {"none": "lower", "None": "title", "NONE": "upper", "nOnE": "mixed"}
BAD_ALGS = {
    "empty": "",
    "lowercase": "rs256",
    "trailing-space": "RS256 ",
    "list": ["RS256"],
    "object": {"a": 1},
    "number": 256,
    "null": None,
}
BAD_KIDS = {
    "empty": "",
    "number": 5,
    "true": True,
    "null": None,
    "list": [KID1],
    "object": {"k": KID1},
}
HS256_FORMS = ["spki-pem", "spki-pem-no-newline", "pkcs1-pem", "spki-der", "openssh",
               "jwk-json", "raw-n", "empty", "secret"]  # fmt: skip
# A header at exactly the 1 KiB cap.
HEADER_AT_CAP = {
    **DEFAULT_HEADER,
    "pad": "A" * (1024 - len(encode_json({**DEFAULT_HEADER, "pad": ""}))),
}


def kx_document(k: Keys) -> dict[str, Any]:
    """A JWKS publishing the attacker's key KX (as the attacker's own server would)."""
    return {"keys": [rsa_jwk(k.kx, "kx")]}


# fmt: off
CASES: list[Case] = [
    # -- A. the Authorization header
    Case("A1-no-authorization-header", lambda k: [], NO_CREDENTIALS, nofetch=True),
    Case("A2-basic-scheme", auth(b"Basic dXNlcjpwYXNz"), NO_CREDENTIALS, nofetch=True),
    Case("A2-token-scheme", auth(lambda t: b"Token " + t), NO_CREDENTIALS, nofetch=True),
    Case("A2-jwt-scheme", auth(lambda t: b"JWT " + t), NO_CREDENTIALS, nofetch=True),
    Case("A3-lowercase-bearer-accepted", auth(lambda t: b"bearer " + t), None),
    Case("A3-uppercase-bearer-accepted", auth(lambda t: b"BEARER " + t), None),
    Case("A3-canonical-bearer-accepted", auth(lambda t: b"Bearer " + t), None),
    Case("A4-bearer-alone", auth(b"Bearer"), NO_CREDENTIALS, nofetch=True),
    Case("A4-bearer-space", auth(b"Bearer "), NO_CREDENTIALS, nofetch=True),
    Case("A4-bearer-spaces", auth(b"Bearer    "), NO_CREDENTIALS, nofetch=True),
    Case("A5-trailing-word", auth(lambda t: b"Bearer " + t + b" extra"), INVALID, nofetch=True),
    Case("A5-space-before-signature", mangle(lambda h, p, s: f"{h}.{p} .{s}"), INVALID,
         nofetch=True),
    *(Case(f"A5-{name}-in-token", spliced(char), INVALID,
           nofetch=True)
      for name, char in [("tab", b"\t"), ("lf", b"\n"), ("cr", b"\r"), ("nul", b"\x00")]),
    Case("A6-valid-then-valid", several("Bearer {valid}", "Bearer {valid}"), BAD_REQUEST,
         nofetch=True),
    Case("A6-valid-then-junk", several("Bearer {valid}", "Bearer junk"), BAD_REQUEST,
         nofetch=True),
    Case("A6-junk-then-valid", several("Bearer junk", "Bearer {valid}"), BAD_REQUEST,
         nofetch=True),
    Case("A7-non-ascii-utf8-bytes", auth(lambda t: b"Bearer \xc3\xa9" + t), INVALID,
         nofetch=True),
    Case("A7-fullwidth-dot-separator",
         auth(lambda t: b"Bearer " + t.decode().replace(".", "\uff0e").encode()), INVALID,
         nofetch=True),
    Case("A8-one-mebibyte-token", auth(b"Bearer " + b"A" * 2**20), INVALID, nofetch=True,
         max_seconds=0.5),
    Case("A8-max-token-bytes-plus-one", lambda k: bearer(token_of_length(k, MAX_TOKEN_BYTES + 1)),
         INVALID, nofetch=True, max_seconds=0.5),
    Case("A8-max-token-bytes-accepted", lambda k: bearer(token_of_length(k, MAX_TOKEN_BYTES)),
         None),

    # -- B. structure and encoding
    Case("B9-one-segment", auth(b"Bearer abc"), INVALID, nofetch=True),
    Case("B9-two-segments", mangle(lambda h, p, s: f"{h}.{p}"), INVALID, nofetch=True),
    Case("B9-four-segments", mangle(lambda h, p, s: f"{h}.{p}.{s}.x"), INVALID, nofetch=True),
    Case("B9-jwe-five-parts", auth(f"Bearer {JWE_HEADER}.A.A.A.A".encode()), INVALID,
         nofetch=True),
    Case("B10-all-segments-empty", auth(b"Bearer .."), INVALID, nofetch=True),
    Case("B10-empty-header", mangle(lambda h, p, s: f".{p}.{s}"), INVALID, nofetch=True),
    Case("B10-empty-payload", mangle(lambda h, p, s: f"{h}..{s}"), INVALID, nofetch=True),
    Case("B10-signature-stripped", mangle(lambda h, p, s: f"{h}.{p}."), INVALID, nofetch=True),
    *(Case(f"B11-{name}-in-{segment}",
           in_segment(index, char),
           INVALID, nofetch=True)
      for name, char in [("plus", "+"), ("slash", "/"), ("equals", "="), ("bang", "!"),
                         ("percent-2e", "%2E"), ("space", " ")]
      for index, segment in enumerate(["header", "payload", "signature"])),
    Case("B11-padding-after-token", mangle(lambda h, p, s: f"{h}.{p}.{s}=="), INVALID,
         nofetch=True),
    Case("B11-padding-on-header", mangle(lambda h, p, s: f"{h}=.{p}.{s}"), INVALID,
         nofetch=True),
    Case("B11-percent-2e-as-separator", mangle(lambda h, p, s: f"{h}%2E{p}.{s}"), INVALID,
         nofetch=True),
    Case("B11-standard-alphabet-signature", std_alphabet_signature, INVALID, nofetch=True),
    *(Case(f"B12-signature-last-char-low-bits-{bits}", non_canonical_last(bits), INVALID,
           nofetch=True) for bits in range(1, 16)),
    *(Case(f"B12-{segment}-length-mod4-is-1",
           length_mod4_is_1(index),
           INVALID, nofetch=True)
      for index, segment in enumerate(["header", "payload", "signature"])),
    *(Case(f"B13-header-{name}", tok(header=raw), INVALID, nofetch=True)
      for name, raw in [("not-json", b"{alg:RS256"), ("not-utf8", b"\xff\xfe{}"),
                        ("utf8-bom", b"\xef\xbb\xbf" + HEADER_JSON),
                        ("utf16", json.dumps(DEFAULT_HEADER).encode("utf-16")),
                        ("utf16-le-no-bom", json.dumps(DEFAULT_HEADER).encode("utf-16-le"))]),
    *(Case(f"B14-header-json-{name}", tok(header=raw), INVALID, nofetch=True)
      for name, raw in [("empty-array", b"[]"), ("array", b'["RS256"]'),
                        ("string", b'"RS256"'), ("null", b"null"), ("number", b"1")]),
    *(Case(f"B15-signed-payload-{name}", tok(payload=raw), INVALID)
      for name, raw in [("array", b"[1,2]"), ("string", b'"x"'), ("number", b"42"),
                        ("not-json", b"not json"), ("truncated-object", b'{"sub":"x"')]),
    Case("B16-payload-objects-nested-3000-at-64k-limit",
         tok(payload=b'{"a":' * 3000 + b"1" + b"}" * 3000), INVALID,
         settings={"max_token_bytes": 64 * 1024}),
    Case("B16-payload-objects-nested-3000-default-limit",
         tok(payload=b'{"a":' * 3000 + b"1" + b"}" * 3000), INVALID),
    Case("B16-payload-arrays-nested-5000-in-valid-claims",
         tok(payload=raw_payload(access_claims(), '"x":' + "[" * 5000 + "]" * 5000)), INVALID),
    Case("B16-header-arrays-nested-3000",
         tok(header=HEADER_JSON[:-1] + b',"x":' + b"[" * 3000 + b"]" * 3000 + b"}"), INVALID),
    Case("B16-header-arrays-nested-490-within-1kib",
         tok(header=HEADER_JSON[:-1] + b',"x":' + b"[" * 490 + b"]" * 490 + b"}"), INVALID),
    Case("B17-exp-with-5000-zeros",
         tok(payload=raw_payload(access_claims(exp=DROP), '"exp":1' + "0" * 5000)), INVALID),
    Case("B18-duplicate-alg-in-header",
         tok(header=b'{"alg":"none","alg":"RS256","kid":"k1+/Ex="}'), INVALID),
    Case("B18-duplicate-token-use",
         tok(payload=raw_payload(access_claims(token_use=DROP),
                                 '"token_use":"id","token_use":"access"')), INVALID),
    Case("B18-duplicate-client-id",
         tok(payload=raw_payload(access_claims(client_id=DROP),
                                 '"client_id":"client_b","client_id":"client_a"')), INVALID),
    Case("B19-header-over-1kib", tok(header={**DEFAULT_HEADER, "pad": "A" * 5000}), INVALID,
         nofetch=True),
    Case("B19-header-at-1kib-accepted", tok(header=HEADER_AT_CAP), None),

    # -- C. algorithm
    *(Case(f"C20-alg-{spelling}-none-signature-{label}",
           unsigned(alg, sig), INVALID, nofetch=True)
      for alg, spelling in NONE_ALGS.items() for label, sig in [("empty", ""), ("aaaa", "AAAA")]),
    Case("C21-alg-missing", tok(header={"kid": KID1}), INVALID, nofetch=True),
    *(Case(f"C21-alg-{name}", tok(header={"kid": KID1, "alg": alg}), INVALID, nofetch=True)
      for name, alg in BAD_ALGS.items()),
    *(Case(f"C22-hs256-secret-{form}", hs256(form), INVALID)
      for form in HS256_FORMS),
    *(Case(f"C23-{alg.lower()}-signed-with-k1", tok(header={"kid": KID1, "alg": alg}, alg=alg),
           INVALID) for alg in ["RS384", "RS512", "PS256"]),
    Case("C23-ps256-signature-under-rs256-header", tok(alg="PS256"), INVALID),
    Case("C23-es256-signed-with-ke", tok(header={"kid": KID1, "alg": "ES256"}, key="ke",
                                         alg="ES256"), INVALID),
    Case("C23-es256-signed-with-ke-published-under-k1",
         tok(header={"kid": KID1, "alg": "ES256"}, key="ke", alg="ES256"), INVALID,
         jwks=lambda k: {JWKS_URL: {"keys": [ec_jwk(k.ke, KID1), rsa_jwk(k.k2, KID2)]}}),
    Case("C23-rs256-header-signed-with-ke-published-under-k1", tok(key="ke", alg="ES256"),
         INVALID,
         jwks=lambda k: {JWKS_URL: {"keys": [ec_jwk(k.ke, KID1), rsa_jwk(k.k2, KID2)]}}),
    Case("C24-jwk-declares-alg-rs512", tok(), INVALID, jwks=k1_published_as(alg="RS512")),
    Case("C24-jwk-declares-use-enc", tok(), INVALID, jwks=k1_published_as(use="enc")),

    # -- D. key selection
    Case("D25-kid-absent", tok(header={"alg": "RS256"}), INVALID, nofetch=True),
    *(Case(f"D26-kid-{name}", tok(header={"kid": kid, "alg": "RS256"}), INVALID, nofetch=True)
      for name, kid in BAD_KIDS.items()),
    Case("D27-unknown-kid-signed-with-kx", tok(header={"kid": "nope", "alg": "RS256"}, key="kx"),
         INVALID, echo=("nope",)),
    *(Case(f"D29-kid-{name}", tok(header={"kid": kid, "alg": "RS256"}, key="kx"), INVALID,
           echo=(kid,))
      for name, kid in HOSTILE_KIDS.items()),
    Case("D29-kid-10000-characters", tok(header={"kid": "k" * 10_000, "alg": "RS256"}, key="kx"),
         INVALID, nofetch=True, echo=("k" * 129,)),
    Case("D29-kid-129-characters", tok(header={"kid": "k" * 129, "alg": "RS256"}, key="kx"),
         INVALID, nofetch=True, echo=("k" * 129,)),
    Case("D30-kid-k1-signed-with-kx", tok(key="kx"), INVALID),
    Case("D30-kid-k2-signed-with-k1", tok(header={"kid": KID2, "alg": "RS256"}), INVALID),
    Case("D31-jku-and-x5u",
         tok(header={"alg": "RS256", "kid": "kx", "jku": "https://attacker.test/jwks.json",
                     "x5u": "http://169.254.169.254/latest/meta-data/"}, key="kx"),
         INVALID, jwks=jwks_with(attacker=kx_document, metadata=kx_document)),
    Case("D31-jku-only",
         tok(header={"alg": "RS256", "kid": "kx", "jku": "https://attacker.test/jwks.json"},
             key="kx"), INVALID, jwks=jwks_with(attacker=kx_document)),
    Case("D31-x5u-only-with-k1-kid",
         tok(header={**DEFAULT_HEADER, "x5u": "http://169.254.169.254/latest/meta-data/"},
             key="kx"), INVALID, jwks=jwks_with(metadata=kx_document)),
    Case("D32-embedded-jwk-of-kx",
         lambda k: bearer(sign(k.kx, {**DEFAULT_HEADER, "jwk": rsa_jwk(k.kx, KID1)})), INVALID),
    Case("D32-embedded-x5c-of-kx",
         lambda k: bearer(sign(k.kx, {**DEFAULT_HEADER, "x5c": self_signed_x5c(k)})), INVALID),
    Case("D33-crit-exp", tok(header={**DEFAULT_HEADER, "crit": ["exp"], "exp": 1}), INVALID),
    Case("D33-crit-b64-false", tok(header={**DEFAULT_HEADER, "crit": ["b64"], "b64": False}),
         INVALID),
    Case("D33-crit-empty", tok(header={**DEFAULT_HEADER, "crit": []}), INVALID),
    *(Case(f"D34-header-{name}", tok(header={**DEFAULT_HEADER, name: value}), INVALID)
      for name, value in [("zip", "DEF"), ("enc", "A256GCM"), ("p2c", 1_000_000_000),
                          ("epk", {})]),

    # -- E. signature
    Case("E35-signature-truncated-4-chars", mangle(lambda h, p, s: f"{h}.{p}.{s[:-4]}"), INVALID),
    Case("E35-signature-extended-aaaa", mangle(lambda h, p, s: f"{h}.{p}.{s}AAAA"), INVALID),
    Case("E35-signature-bit-flipped", signature_bytes(lambda s, o: bytes([s[0] ^ 1]) + s[1:]),
         INVALID),
    Case("E35-signature-of-another-token", signature_bytes(lambda s, o: o), INVALID),
    Case("E36-tampered-groups-add-admin", tampered({"cognito:groups": ["users", "admin"]}),
         INVALID, path="/admin"),
    Case("E36-tampered-sub", tampered({"sub": "someone-else"}), INVALID, echo=("someone-else",)),
    Case("E37-signature-0-bytes", mangle(lambda h, p, s: f"{h}.{p}."), INVALID),
    Case("E37-signature-1-byte", signature_bytes(lambda s, o: b"\x01"), INVALID),
    Case("E37-signature-256-zero-bytes", signature_bytes(lambda s, o: b"\x00" * 256), INVALID),
    Case("E37-signature-512-bytes", signature_bytes(lambda s, o: s + o), INVALID),
]
# fmt: on


@pytest.mark.anyio
@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
async def test_corpus(case: Case, keys: Keys, library_logs: pytest.LogCaptureFixture) -> None:
    await run_case(case, keys, library_logs)


# -- cases that need more than one request --------------------------------------------------

DEDICATED = {
    "A8-size-checked-before-decoding": "test_a8_size_is_checked_before_any_decoding",
    "D27-refetch-once-per-cooldown": "test_d27_unknown_kid_refetches_once_per_cooldown",
    "D28-kid-flood": "test_d28_kid_flood",
    "D29-no-refetch-storm": "test_d29_hostile_kids_cause_no_refetch_storm",
}
"""Research cases with a test of their own: case id -> test function in this module."""


@pytest.mark.anyio
async def test_a8_size_is_checked_before_any_decoding(
    keys: Keys, jwks: JWKSMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A8: the length check comes before any base64 or JSON work."""
    calls: list[str] = []
    for name in ("decode_checked", "b64url_decode", "loads_object", "_parse_header"):
        original = getattr(verifier_module, name)

        def spy(*args: Any, _name: str = name, _original: Any = original) -> Any:
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(verifier_module, name, spy)
    app = make_app(jwks).app
    for token in ["A" * 2**20, token_of_length(keys, MAX_TOKEN_BYTES + 1)]:
        response = await send(app, "/access", bearer(token))
        assert response.status_code == 401
    assert calls == []
    assert (await send(app, "/access", bearer(sign(keys.k1)))).status_code == 200
    assert calls, "the spies did not see the control token"
    # The token one byte over the limit is otherwise valid: a larger limit accepts it.
    roomy = make_app(JWKSMock({JWKS_URL: baseline_jwks(keys)}), max_token_bytes=32 * 1024).app
    over = token_of_length(keys, MAX_TOKEN_BYTES + 1)
    assert (await send(roomy, "/access", bearer(over))).status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
async def test_d27_unknown_kid_refetches_once_per_cooldown(
    keys: Keys, jwks: JWKSMock, warm: bool
) -> None:
    """D27: unknown kids refetch the JWKS once, then not again within the cooldown (30 s).

    Every fetch starts the cooldown, the first one (warm-up or cold) included.
    """
    now = [1000.0]
    app = make_app(jwks, cache_clock=lambda: now[0]).app
    if warm:
        assert (await send(app, "/access", bearer(sign(keys.k1)))).status_code == 200
        assert jwks.hits() == 1
    forged = sign(keys.kx, {"kid": "nope", "alg": "RS256"})
    for advance in (0, 29, 1):
        now[0] += advance
        for _ in range(5):
            response = await send(app, "/access", bearer(forged))
            assert response.status_code == 401
        # The first fetch (cold, or the warm-up) loads the keys and starts the cooldown; once
        # it is over, one more is the single unknown-kid refetch, and starts it again.
        assert jwks.hits() == (2 if now[0] >= 1030 else 1)
    assert (await send(app, "/access", bearer(sign(keys.k1)))).status_code == 200
    assert jwks.hits() == 2


def random_kid(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=16))


@pytest.mark.anyio
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
async def test_d28_kid_flood(keys: Keys, jwks: JWKSMock, warm: bool) -> None:
    """D28: 1000 concurrent random kids: all 401, at most 2 fetches, valid tokens still 200.

    Warm: the unknown-kid refetch is held in flight while valid tokens are sent; they must get
    200 before it completes (cached keys never wait on the miss path). Cold: concurrent
    callers, valid tokens included, share the initial fetch; at most one miss refetch follows.
    """
    now = [1000.0]
    app = make_app(jwks, cache_clock=lambda: now[0]).app
    rng = random.Random(28)
    payload = access_claims()
    forged = [sign(keys.kx, {"kid": random_kid(rng), "alg": "RS256"}, payload) for _ in range(1000)]
    valid = [sign(keys.k1, payload=access_claims(jti=f"valid-{n}")) for n in range(20)]
    flood: list[int] = []
    during: list[int] = []

    async with asgi_client(app) as client:
        if warm:
            assert (await client.get("/access", headers=bearer(valid[0]))).status_code == 200
            now[0] += 30  # past the cooldown that the warm-up fetch started
            jwks.gate = anyio.Event()

        async def attack(token: str) -> None:
            flood.append((await client.get("/access", headers=bearer(token))).status_code)

        async def legit(token: str) -> None:
            during.append((await client.get("/access", headers=bearer(token))).status_code)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for number, token in enumerate(forged):
                    group.start_soon(attack, token)
                    if number % 50 == 0:
                        group.start_soon(legit, valid[number // 50])
                if warm:
                    assert jwks.gate is not None
                    while jwks.hits() < 2:  # the miss refetch has started, and is held
                        await anyio.sleep(0.001)
                    for token in valid:
                        await legit(token)
                    with anyio.fail_after(10):  # a valid token blocked on the refetch hangs
                        while len(during) < 40:
                            await anyio.sleep(0.001)
                    # Every valid token got its answer while the refetch was still in flight.
                    assert jwks.hits() == 2 and not jwks.gate.is_set()
                    jwks.gate.set()

    assert flood == [401] * 1000
    assert during == [200] * len(during) and len(during) == (40 if warm else 20)
    assert jwks.hits() <= 2
    assert set(jwks.requests) == {JWKS_URL}


@pytest.mark.anyio
async def test_d29_hostile_kids_cause_no_refetch_storm(
    keys: Keys, jwks: JWKSMock, library_logs: pytest.LogCaptureFixture
) -> None:
    """D29: all hostile kids against one app: at most the initial fetch and one refetch."""
    app = make_app(jwks).app
    for kid in HOSTILE_KIDS.values():
        token = sign(keys.kx, {"kid": kid, "alg": "RS256"})
        response = await send(app, "/access", bearer(token))
        assert_safe_answer(response, bearer(token), kid)
        assert response.status_code == 401
    assert jwks.hits() <= 2
    assert set(jwks.requests) == {JWKS_URL}
    assert_logs_hide(library_logs.records, *HOSTILE_KIDS.values())
