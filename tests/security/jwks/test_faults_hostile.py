"""JWKS endpoint failure modes, end to end: hostile bodies, keys, sizes, redirects and TLS.

Scenarios W5, W6 and W9-W11 of research/security.md §4 (the others are in
test_jwks_faults.py). The JWKS endpoint is a real HTTP/1.1 server on 127.0.0.1
(`jwks_server.JWKSServer`) with a hit counter; clients call a FastAPI app protected by
`CognitoBearer`. The rule throughout: a bad answer is a failed fetch, a good cache is never
replaced by it, a cold cache gives 503 with `Retry-After`, nothing is ever a 500, and the
endpoint sees exactly the fetches the library means to make.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import re
import ssl
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoSettings,
    ConfigurationError,
    JWKSUnavailableError,
)
from tests.security.jwks_server import (
    FakeClock,
    JWKSServer,
    Reply,
    app_client,
    assert_invalid,
    assert_ok,
    assert_unavailable,
    call,
    key_ring,
    make_app,
    make_tls,
)

pytestmark = [pytest.mark.security, pytest.mark.anyio]

TTL = 600.0  # the library's default jwks_ttl
LIMIT = 64 * 1024
TEN_MIB = 10 * 2**20


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_int(value: int) -> str:
    return b64url(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def padded(size: int, *kids: str) -> bytes:
    """The JWKS of `kids` (default K1, K2), padded with whitespace to exactly `size` bytes."""
    raw = key_ring().body(*(kids or ("k1", "k2")))
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def fetch_failures(logs: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in logs.records if "JWKS fetch from" in r.getMessage()]


async def assert_good_cache_survives(
    server: JWKSServer, clock: FakeClock, transport: httpx.AsyncHTTPTransport, bad: Reply
) -> None:
    """Warm with {K1, K2}; `bad` after the TTL keeps them (stale, then through a forced
    refresh); a cold cache gets 503. Four fetches in all, none retried."""
    ring = key_ring()
    cache = ring.cache(server.url(), clock, transport=transport)
    async with app_client(make_app(cache)) as client:
        assert_ok(await call(client, ring.token("k1")))
        server.serve(bad)
        clock.advance(TTL)
        assert_ok(await call(client, ring.token("k1")))
        assert cache.kids == {"k1", "k2"}
        with pytest.raises(JWKSUnavailableError):
            await cache.refresh()
        assert cache.kids == {"k1", "k2"}
        assert_ok(await call(client, ring.token("k2")), "k2")
        assert_invalid(await call(client, ring.token("k3")))  # inside the backoff: no fetch
        assert server.hits() == 3
    async with app_client(make_app(ring.cache(server.url(), clock, transport=transport))) as cold:
        assert_unavailable(await call(cold, ring.token("k1")), 5, 5)
    assert server.hits() == 4


# -- W5: 200 with a body that is not a usable JWKS ----------------------------------------


def _bad_keys_only() -> bytes:
    entries = [{**key_ring().entry(kid), "alg": "HS256"} for kid in ("k1", "k2")]
    return json.dumps({"keys": entries}).encode()


BAD_BODIES: list[tuple[str, Callable[[], bytes]]] = [
    ("html", lambda: b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    ("empty", lambda: b""),
    ("truncated-json", lambda: key_ring().body("k1", "k2")[:-7]),
    ("invalid-utf8", lambda: key_ring().body("k1", "k2")[:-1] + b', "x": "\xff\xfe"}'),
    ("utf8-bom", lambda: b"\xef\xbb\xbf" + key_ring().body("k1", "k2")),
    ("nan-literal", lambda: key_ring().body("k1", "k2")[:-1] + b', "x": NaN}'),
    ("top-level-array", lambda: json.dumps(key_ring().document("k1", "k2")["keys"]).encode()),
    ("keys-object", lambda: b'{"keys": {}}'),
    ("keys-empty", lambda: b'{"keys": []}'),
    ("keys-not-objects", lambda: b'{"keys": [1, "x", null]}'),
    ("keys-duplicated-member", lambda: b'{"keys": [], ' + key_ring().body("k1", "k2")[1:]),
    ("deep-nesting", lambda: b'{"keys": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"),
    ("no-usable-key", _bad_keys_only),  # W6 with zero good keys counts as W5
]


@pytest.mark.parametrize("body", [b for _, b in BAD_BODIES], ids=[i for i, _ in BAD_BODIES])
async def test_w5_bad_body_never_replaces_a_good_cache(
    server: JWKSServer,
    clock: FakeClock,
    transport: httpx.AsyncHTTPTransport,
    body: Callable[[], bytes],
) -> None:
    await assert_good_cache_survives(server, clock, transport, Reply(body=body()))


# -- W6: per-key garbage ------------------------------------------------------------------


def bad(*drop: str, **changes: Any) -> dict[str, Any]:
    """K2's real entry renamed "bad" and altered: accepting it would verify K2's tokens."""
    entry = {**key_ring().entry("k2"), "kid": "bad", **changes}
    for name in drop:
        del entry[name]
    return entry


# (id, entries, the kid a token names, the key that signs it)
BadKey = tuple[str, Callable[[], list[Any]], str, str]
BAD_KEYS: list[BadKey] = [
    ("kty-EC", lambda: [bad("n", "e", kty="EC", crv="P-256", x="AA", y="AA")], "bad", "k2"),
    ("kty-oct", lambda: [bad("n", "e", kty="oct", alg="HS256", k=b64url(b"s" * 32))], "bad", "k2"),
    ("kty-missing", lambda: [bad("kty")], "bad", "k2"),
    ("alg-RS512", lambda: [bad(alg="RS512")], "bad", "k2"),
    ("alg-HS256", lambda: [bad(alg="HS256")], "bad", "k2"),
    ("alg-none", lambda: [bad(alg="none")], "bad", "k2"),
    ("use-enc", lambda: [bad(use="enc")], "bad", "k2"),
    ("n-missing", lambda: [bad("n")], "bad", "k2"),
    ("e-missing", lambda: [bad("e")], "bad", "k2"),
    ("n-not-base64url", lambda: [bad(n=bad()["n"][:-4] + "+/+/")], "bad", "k2"),
    ("n-integer", lambda: [bad(n=key_ring().modulus("k2"))], "bad", "k2"),
    ("modulus-1024-bits", lambda: [{**key_ring().entry("weak"), "kid": "bad"}], "bad", "weak"),
    ("e-1", lambda: [bad(e=b64url_int(1))], "bad", "k2"),
    ("e-even", lambda: [bad(e=b64url_int(65536))], "bad", "k2"),
    ("duplicate-kid", lambda: [bad(), bad()], "bad", "k2"),
    ("duplicate-of-a-good-kid", lambda: [bad(kid="k1")], "k1", "k2"),
    ("kid-integer", lambda: [bad(kid=123)], "123", "k2"),
    ("kid-129-chars", lambda: [bad(kid="k" * 129)], "k" * 129, "k2"),
]


@pytest.mark.parametrize(
    ("entries", "kid", "signer"),
    [(e, k, s) for _, e, k, s in BAD_KEYS],
    ids=[i for i, *_ in BAD_KEYS],
)
async def test_w6_each_bad_key_is_dropped_alone(
    server: JWKSServer,
    clock: FakeClock,
    transport: httpx.AsyncHTTPTransport,
    library_logs: pytest.LogCaptureFixture,
    entries: Callable[[], list[Any]],
    kid: str,
    signer: str,
) -> None:
    ring = key_ring()
    published = [ring.entry("k1"), ring.entry("k3"), *entries()]
    server.serve(Reply(body=json.dumps({"keys": published}).encode()))
    async with app_client(make_app(ring.cache(server.url(), clock, transport=transport))) as client:
        assert_ok(await call(client, ring.token("k3")), "k3")
        if kid == "k1":  # an ambiguous kid is trusted for none of its keys
            assert_invalid(await call(client, ring.token("k1")))
        else:
            assert_ok(await call(client, ring.token("k1")))
            assert server.hits() == 1
        clock.advance(30)  # past the cooldown that the first fetch started
        for _ in range(3):  # one unknown-kid refetch, then the cooldown
            assert_invalid(await call(client, ring.token(signer, kid=kid)))
        assert_ok(await call(client, ring.token("k3")), "k3")
    # A kid over 128 characters is refused from the token header, before any fetch.
    assert server.hits() == (1 if len(kid) > 128 else 2)
    dropped = [r for r in library_logs.records if "dropped" in r.getMessage()]
    duplicates = 1 if kid == "k1" else 0  # the good k1 is dropped too: its kid is ambiguous
    assert len(dropped) == (len(entries()) + duplicates) * server.hits()
    assert all(record.levelno == logging.WARNING for record in dropped)


async def test_w6_fourteen_bad_keys_beside_two_good_ones(
    server: JWKSServer, clock: FakeClock, transport: httpx.AsyncHTTPTransport
) -> None:
    ring = key_ring()
    singles = [(i, e) for i, e, kid, _ in BAD_KEYS if kid == "bad" and len(e()) == 1]
    assert len(singles) == 14  # with K1 and K2: 16 keys, the most a JWKS may hold
    bad_entries = [{**entries()[0], "kid": f"bad-{name}"} for name, entries in singles]
    document = {"keys": [ring.entry("k1"), *bad_entries, ring.entry("k2")]}
    server.serve(Reply(body=json.dumps(document).encode()))
    async with app_client(make_app(ring.cache(server.url(), clock, transport=transport))) as client:
        assert_ok(await call(client, ring.token("k1")))
        assert_ok(await call(client, ring.token("k2")), "k2")
        clock.advance(30)  # past the cooldown that the first fetch started
        for name, _ in singles:
            signer = "weak" if name == "modulus-1024-bits" else "k2"
            assert_invalid(await call(client, ring.token(signer, kid=f"bad-{name}")))
        assert_ok(await call(client, ring.token("k1")))
    assert server.hits() == 2  # the first fetch, and one unknown-kid refetch for all 14


# -- W9: huge answers ---------------------------------------------------------------------


def _many_keys(count: int) -> bytes:
    entry = json.dumps(key_ring().entry("k1")).encode()
    return b'{"keys": [' + b", ".join([entry] * count) + b"]}"


def _seventeen_keys() -> bytes:
    entry = key_ring().entry("k1")
    keys = [{**entry, "kid": f"k1-copy-{index}"} for index in range(17)]
    body = json.dumps({"keys": keys}).encode()
    assert len(body) < LIMIT
    return body


def _encoded(encoding: str, body: bytes, **options: Any) -> Reply:
    headers = (("Content-Type", "application/json"), ("Content-Encoding", encoding))
    return Reply(body=body, headers=headers, **options)


EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </jwks.json>; rel=preload\r\n\r\n"

# (id, the reply, fetches per failed attempt, what the library logs as the reason: a regex)
Huge = tuple[str, Callable[[], Reply], int, str]
HUGE: list[Huge] = [
    ("10MiB-true-length", lambda: Reply(body=padded(TEN_MIB)), 1, "size limit"),
    (
        "10MiB-no-length",
        lambda: Reply(body=padded(TEN_MIB), content_length=None),
        1,
        "size limit",
    ),
    ("10MiB-chunked", lambda: Reply(body=padded(TEN_MIB), chunked=True), 1, "size limit"),
    (
        "100000-keys",
        lambda: Reply(body=_many_keys(100_000), content_length=None),
        1,
        "size limit",
    ),
    ("17-keys", lambda: Reply(body=_seventeen_keys()), 1, "more than 16 keys"),
    (
        "declares-1GB-sends-1KiB",
        lambda: Reply(body=key_ring().body("k1", "k2"), content_length="1000000000"),
        1,
        "size limit",
    ),
    (
        "declares-1000-sends-10MiB",
        lambda: Reply(body=padded(TEN_MIB), content_length="1000"),
        1,
        "not a JSON object",
    ),
    (
        "declares-60000-sends-1KiB-then-closes",
        lambda: Reply(body=key_ring().body("k1", "k2"), content_length="60000"),
        2,  # a connection dropped mid-body is retried once
        "RemoteProtocolError",
    ),
    (
        "declares-60000-sends-1KiB-then-hangs",
        lambda: Reply(body=key_ring().body("k1", "k2"), content_length="60000", hang=True),
        1,
        "TimeoutError|ReadTimeout",  # the deadline, or the read timeout of the same length
    ),
    (
        "10MiB-header",
        lambda: Reply(body=key_ring().body("k1"), headers=(("X-Pad", "a" * TEN_MIB),)),
        2,  # httpx (h11) refuses an oversized head as a protocol error: retried once
        "RemoteProtocolError",
    ),
    (
        "endless-1xx-responses",
        lambda: Reply(body=key_ring().body("k1"), endless=EARLY_HINTS),
        1,  # data keeps flowing, so no read times out: the whole-fetch deadline ends it
        "TimeoutError",
    ),
    ("gzip-bomb", lambda: _encoded("gzip", gzip.compress(padded(TEN_MIB))), 1, "compressed"),
    (
        "gzip-bomb-no-length",
        lambda: _encoded("gzip", gzip.compress(padded(TEN_MIB)), content_length=None),
        1,
        "compressed",
    ),
    ("deflate-bomb", lambda: _encoded("deflate", zlib.compress(padded(TEN_MIB))), 1, "compressed"),
    ("gzip-small", lambda: _encoded("gzip", gzip.compress(key_ring().body("k1"))), 1, "compressed"),
]


@pytest.mark.parametrize(
    ("reply", "per_fetch", "reason"),
    [(r, n, why) for _, r, n, why in HUGE],
    ids=[i for i, *_ in HUGE],
)
async def test_w9_huge_answer_is_aborted_with_bounded_memory(
    server: JWKSServer,
    clock: FakeClock,
    transport: httpx.AsyncHTTPTransport,
    library_logs: pytest.LogCaptureFixture,
    reply: Callable[[], Reply],
    per_fetch: int,
    reason: str,
) -> None:
    ring = key_ring()
    huge = reply()
    cache = ring.cache(server.url(), clock, transport=transport, http_timeout=0.5)
    async with app_client(make_app(cache)) as client:
        assert_ok(await call(client, ring.token("k1")))
        server.serve(huge)
        clock.advance(TTL)
        assert_ok(await call(client, ring.token("k1")))  # a failed refresh: stale keys
        assert cache.kids == {"k1", "k2"}
        assert server.hits() == 1 + per_fetch
    cold_cache = ring.cache(server.url(), clock, transport=transport, http_timeout=0.5)
    async with app_client(make_app(cold_cache)) as cold:
        tracemalloc.start()
        try:
            response = await call(cold, ring.token("k1"))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert_unavailable(response, 5, 5)
    assert server.hits() == 1 + 2 * per_fetch
    assert peak < 2 * 2**20, peak  # about the 64 KiB cap, nowhere near the body's size
    failures = fetch_failures(library_logs)
    assert len(failures) == 2 and all(re.search(reason, text) for text in failures), failures
    assert all(seen.headers.get("accept-encoding") == "identity" for seen in server.requests)


async def test_w9_body_of_exactly_64kib_is_accepted(
    server: JWKSServer, clock: FakeClock, transport: httpx.AsyncHTTPTransport
) -> None:
    ring = key_ring()
    for reply in (Reply(body=padded(LIMIT)), Reply(body=padded(LIMIT), chunked=True)):
        server.serve(reply)
        async with app_client(
            make_app(ring.cache(server.url(), clock, transport=transport))
        ) as client:
            assert_ok(await call(client, ring.token("k2")), "k2")
    assert server.hits() == 2


# -- W10: redirects -----------------------------------------------------------------------


@pytest.mark.parametrize("client_kind", ["library-client", "injected-following-client"])
@pytest.mark.parametrize("target", ["other-server", "same-server"])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_w10_redirect_is_not_followed(
    server: JWKSServer, clock: FakeClock, status: int, target: str, client_kind: str
) -> None:
    ring = key_ring()
    with JWKSServer() as attacker:
        attacker.serve(ring.reply("kx"), "/jwks.json")
        server.serve(ring.reply("kx"), "/elsewhere.json")
        if target == "other-server":
            location = attacker.url("/jwks.json")
        else:
            location = "/elsewhere.json"
        async with httpx.AsyncClient(follow_redirects=True) as following:
            injected = following if client_kind == "injected-following-client" else None
            cache = ring.cache(server.url(), clock, http_client=injected)
            async with app_client(make_app(cache)) as client:
                assert_ok(await call(client, ring.token("k1")))
                server.serve(Reply(status, b"", headers=(("Location", location),)))
                clock.advance(TTL)
                assert_ok(await call(client, ring.token("k1")))  # stale keys are kept
                assert_invalid(await call(client, ring.token("kx")))
                assert cache.kids == {"k1", "k2"}
            cold_cache = ring.cache(server.url(), clock, http_client=injected)
            async with app_client(make_app(cold_cache)) as cold:
                assert_unavailable(await call(cold, ring.token("kx")), 5, 5)
        assert server.hits() == 3
        assert server.hits("/elsewhere.json") == 0
        assert attacker.hits(None) == 0 and attacker.connections == []


# -- W11: plain http, and TLS -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://jwks.example.com/.well-known/jwks.json",
        "http://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_LocalPool1/.well-known/jwks.json",
        "http://10.0.0.1/jwks.json",
        "http://0.0.0.0:8080/jwks.json",
        "http://127.0.0.1.nip.io/jwks.json",
        "http://localhost.example.com/jwks.json",
        "ftp://127.0.0.1/jwks.json",
        "file:///etc/jwks.json",
        "https://user:pass@cognito-idp.eu-west-1.amazonaws.com/jwks.json",
    ],
)
def test_w11_insecure_jwks_url_is_refused_at_configuration(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = key_ring().pool
    with pytest.raises(ConfigurationError):
        CognitoBearer(pool.settings(jwks_url=url), token_use="access")
    monkeypatch.setenv("COGNITO_USER_POOL_ID", pool.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_IDS", pool.client_id)
    monkeypatch.setenv("COGNITO_JWKS_URL", url)
    with pytest.raises(ConfigurationError):
        CognitoSettings()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9229/jwks.json",
        "http://127.8.9.10/jwks.json",
        "http://localhost:9229/jwks.json",
        "http://[::1]:9229/jwks.json",
    ],
)
def test_w11_plain_http_is_allowed_on_loopback_only(url: str) -> None:
    pool = key_ring().pool
    assert CognitoBearer(pool.settings(jwks_url=url), token_use="access").verifier.jwks.url == url
    opted_in = pool.settings(jwks_url="http://jwks.example.com/a", allow_insecure_jwks_url=True)
    assert opted_in.resolved_jwks_url == "http://jwks.example.com/a"


async def test_w11_https_to_a_plain_http_server_is_a_fetch_failure(
    server: JWKSServer, clock: FakeClock
) -> None:
    ring = key_ring()
    cache = ring.cache(server.url(scheme="https"), clock)
    async with app_client(make_app(cache)) as client:
        for _ in range(3):
            assert_unavailable(await call(client, ring.token("k1")), 5, 5)
    # One fetch: the TLS failure is a connect error, retried once; no HTTP request was read.
    assert len(server.connections) == 2
    assert server.hits(None) == 0


async def test_w11_untrusted_certificate_is_a_fetch_failure(
    clock: FakeClock, tmp_path: Path
) -> None:
    ring = key_ring()
    tls = make_tls(tmp_path)
    with JWKSServer(tls=tls.server) as server:
        server.serve(ring.reply("k1", "k2"))
        cache = ring.cache(server.url(scheme="https"), clock)
        async with app_client(make_app(cache)) as client:
            for _ in range(3):
                assert_unavailable(await call(client, ring.token("k1")), 5, 5)
        assert len(server.connections) == 2  # one fetch, its connection retried once
        assert server.hits(None) == 0
        assert all(isinstance(error, OSError) for error in server.loop_errors)  # handshakes
        # Control: the server is sound; a client that trusts its CA gets the keys.
        trusting = ssl.create_default_context(cadata=tls.ca_pem.decode("ascii"))
        async with httpx.AsyncClient(verify=trusting) as http_client:
            cache = ring.cache(server.url(scheme="https"), clock, http_client=http_client)
            async with app_client(make_app(cache)) as client:
                assert_ok(await call(client, ring.token("k1")))
        assert server.hits() == 1
