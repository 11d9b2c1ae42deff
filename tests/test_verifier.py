"""`CognitoVerifier.verify`, its verified-token cache, and the RS256 signature check. Hostile
tokens go through the whole app in tests/security/test_attack_corpus.py."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, cast
from unittest.mock import Mock

import anyio
import httpx2
import pytest
from jose import jwk as jose_jwk
from jose.backends.cryptography_backend import CryptographyRSAKey
from pydantic import Field

import fastapi_cognito_jwt as fcj
from fastapi_cognito_jwt._verification import parsed_token, verifier as verifier_module
from fastapi_cognito_jwt._verification.signing_keys import check_signature, parse_jwks
from fastapi_cognito_jwt._verification.token_cache import CachedToken, VerifiedTokenCache
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.helpers import FakeClock, b64d, b64u, compact, segments

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000
TIMES = {"iat": NOW - 10, "auth_time": NOW - 10, "exp": NOW + 3600}
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def verifier_for(
    pool: LocalUserPool,
    clock: Callable[[], float] = lambda: NOW,
    jwks_clock: Callable[[], float] = time.monotonic,
    transport: httpx2.AsyncBaseTransport | None = None,
    **overrides: Any,
) -> fcj.CognitoVerifier:
    settings = pool.settings(**{"jwks_miss_cooldown": 30.0, **overrides})
    jwks = fcj.JWKSCache(settings, transport=transport or pool.transport(), clock=jwks_clock)
    return fcj.CognitoVerifier(settings, jwks=jwks, clock=clock)


def token_for(pool: LocalUserPool, kind: str = "access", /, **changes: Any) -> str:
    claims = pool.access_claims(claims=TIMES) if kind == "access" else pool.id_claims(claims=TIMES)
    return pool.sign({**claims, **changes})


async def rejects(
    verifier: fcj.CognitoVerifier,
    token: Any,
    expected: type[fcj.TokenError],
    use: fcj.TokenUse = "access",
) -> None:
    with pytest.raises(fcj.TokenError) as info:
        await verifier.verify(token, token_use=use)
    assert info.type is expected, f"{info.type.__name__}: {info.value}"


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    calls: list[bytes] = []

    def counting(key: Any, signing_input: bytes, signature: bytes) -> None:
        calls.append(signing_input)
        check_signature(key, signing_input, signature)

    monkeypatch.setattr(verifier_module, "check_signature", counting)
    return calls


class RoleClaims(fcj.CognitoClaims):
    role: str = Field(alias="custom:role")


async def test_verify(
    pool: LocalUserPool, checks: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claims from the payload; the token parsed once, though its key was fetched on the way;
    the header of a verified token remembered, not that of a refused one."""
    parses: list[str] = []

    def counting(token: str, *args: Any) -> Any:
        parses.append(token)
        return parsed_token.parse_token(token, *args)

    monkeypatch.setattr(verifier_module, "parse_token", counting)
    token = token_for(pool, **{"cognito:groups": ["users"], "scope": "openid api/read"})
    verifier = verifier_for(pool)
    claims = await verifier.verify(token, token_use="access")
    assert type(claims) is fcj.CognitoClaims and dict(claims.payload) == segments(token)[1]
    assert (claims.username, claims.groups, claims.exp) == ("alice", ("users",), NOW + 3600)
    header = token.split(".")[0]
    assert verifier._known_headers == {header: {"kid": pool.signing_kid, "alg": "RS256"}}
    unknown = pool.sign(segments(token)[1], header={"alg": "RS256", "kid": "x"})
    await rejects(verifier, unknown, fcj.KeyNotFoundError)
    assert list(verifier._known_headers) == [header]
    assert (parses, pool.jwks_requests, len(checks)) == ([token, unknown], 1, 1)


async def test_misuse_is_refused(pool: LocalUserPool) -> None:
    verifier = verifier_for(pool)
    with pytest.raises(fcj.ConfigurationError, match="token_use"):
        await verifier.verify(token_for(pool), token_use=cast(Any, "refresh"))
    with pytest.raises(fcj.ConfigurationError, match="jwks"):
        fcj.CognitoVerifier(pool.settings(), jwks=verifier.jwks, transport=pool.transport())
    for value in (token_for(pool).encode(), None, 123, ["a", "b", "c"]):
        await rejects(verifier, value, fcj.MalformedTokenError)
    assert pool.jwks_requests == 0


async def test_a_subclass_overriding_verify_is_what_callers_get(pool: LocalUserPool) -> None:
    class NoBob(fcj.CognitoVerifier):
        async def verify(self, token: str, **options: Any) -> Any:
            claims = await super().verify(token, **options)
            if claims.username == "bob":
                raise fcj.InvalidClaimError("username is refused", claim="username")
            return claims

    verifier: fcj.CognitoVerifier = NoBob(
        pool.settings(), transport=pool.transport(), clock=lambda: NOW
    )
    bob, alice = token_for(pool, username="bob"), token_for(pool)
    for _ in range(3):  # verified, admitted to the cache, served from it: the override runs
        await rejects(verifier, bob, fcj.InvalidClaimError)
        assert (await verifier.verify(alice, token_use="access")).username == "alice"
    assert verifier._cache.get(bob, "access", fcj.CognitoClaims) is not None


async def test_a_known_kid_never_waits_for_a_refetch(pool: LocalUserPool) -> None:
    held, jwks_transport = anyio.Event(), pool.transport()

    async def handle(request: httpx2.Request) -> httpx2.Response:
        if pool.jwks_requests:  # every fetch after the first waits until released
            await held.wait()
        return await jwks_transport.handle_async_request(request)

    clock = FakeClock(1000.0)
    verifier = verifier_for(pool, jwks_clock=clock, transport=httpx2.MockTransport(handle))
    await verifier.verify(token_for(pool), token_use="access")
    clock.advance(30)  # past the cooldown the first fetch started: an unknown kid refetches
    unknown = pool.sign(pool.access_claims(claims=TIMES), header={"kid": "new", "alg": "RS256"})
    async with anyio.create_task_group() as group:
        group.start_soon(rejects, verifier, unknown, fcj.KeyNotFoundError)
        await anyio.wait_all_tasks_blocked()
        for _ in range(3):
            assert (await verifier.verify(token_for(pool), token_use="access")).username == "alice"
        assert not held.is_set() and pool.jwks_requests == 1  # the refetch is still held
        held.set()
    assert pool.jwks_requests == 2


async def test_cached_from_the_second_use(pool: LocalUserPool, checks: list[bytes]) -> None:
    verifier, token = verifier_for(pool), token_for(pool)
    first = await verifier.verify(token, token_use="access")
    second = await verifier.verify(token, token_use="access")  # verified again, and admitted
    assert second is not first and len(checks) == 2
    for _ in range(3):
        assert await verifier.verify(token, token_use="access") is second
    await verifier.verify(token_for(pool), token_use="access")
    assert (len(checks), pool.jwks_requests) == (3, 1)


async def test_cache_serves_only_the_very_token(pool: LocalUserPool, checks: list[bytes]) -> None:
    """Entries are found by the signature's tail: tokens sharing it are verified in full, or
    refused as non-canonical twins, and the genuine token stays cached."""
    token = pool.sign(pool.access_claims(claims={**TIMES, "pad": "x"}))
    header, payload, signature = token.split(".")
    assert len(payload) % 4 in (2, 3)  # its last character has unused bits
    verifier = verifier_for(pool)
    for _ in range(2):
        await verifier.verify(token, token_use="access")
    mallory = b64u(compact({**segments(token)[1], "username": "mallory"}))
    other_head = ("B" if signature[0] != "B" else "C") + signature[1:]
    twin = f"{payload[:-1]}{ALPHABET[ALPHABET.index(payload[-1]) | 1]}"
    assert b64d(twin) == b64d(payload)
    for forged, error in [(f"{header}.{mallory}.{signature}", fcj.InvalidSignatureError),
                          (f"{header}.{payload}.{other_head}", fcj.InvalidSignatureError),
                          (f"{header}.{twin}.{signature}", fcj.MalformedTokenError)]:  # fmt: skip
        assert forged[-22:] == token[-22:]
        await rejects(verifier, forged, error)
    assert (await verifier.verify(token, token_use="access")).username == "alice"
    assert len(checks) == 4


async def test_cache_keyed_by_use_and_model(pool: LocalUserPool, checks: list[bytes]) -> None:
    verifier = verifier_for(pool)
    access, role = token_for(pool), token_for(pool, "id", **{"custom:role": "admin"})
    for _ in range(3):
        await verifier.verify(access, token_use="access")
        assert type(await verifier.verify(role, token_use="id")) is fcj.CognitoClaims
    await rejects(verifier, access, fcj.InvalidTokenUseError, use="id")
    assert len(checks) == 5  # verified in full, not served from the access entry
    for _ in range(2):
        claims = await verifier.verify(role, token_use="id", claims_model=RoleClaims)
        assert type(claims) is RoleClaims and claims.role == "admin"
    assert len(checks) == 6  # once for the new model, then admitted: the token was seen before
    plain = token_for(pool, "id")
    for _ in range(3):
        await verifier.verify(plain, token_use="id")
    with pytest.raises(fcj.InvalidClaimError):
        await verifier.verify(plain, token_use="id", claims_model=RoleClaims)


async def test_cache_rechecks_expiry(pool: LocalUserPool, checks: list[bytes]) -> None:
    clock = FakeClock(NOW)
    verifier, token = verifier_for(pool, clock, leeway=10), token_for(pool, exp=NOW + 60)
    for _ in range(2):
        await verifier.verify(token, token_use="access")
    clock.now = NOW + 69.5  # expired, but within the leeway: still served from the cache
    await verifier.verify(token, token_use="access")
    assert len(checks) == 2
    clock.now = NOW + 70
    await rejects(verifier, token, fcj.TokenExpiredError)
    assert verifier._cache.get(token, "access", fcj.CognitoClaims) is None


@pytest.mark.parametrize("keep_old", [False, True], ids=["key-removed", "key-kept"])
async def test_cache_serves_only_while_the_key_is_in_the_jwks(
    pool: LocalUserPool, checks: list[bytes], keep_old: bool
) -> None:
    clock = FakeClock(1000.0)
    verifier, token = verifier_for(pool, jwks_clock=clock), token_for(pool)
    for _ in range(2):
        await verifier.verify(token, token_use="access")
    pool.rotate_key(keep_old=keep_old)
    clock.advance(599)  # within jwks_ttl: the keys held are good, and so is the entry
    await verifier.verify(token, token_use="access")
    assert (pool.jwks_requests, len(checks)) == (1, 2)
    clock.advance(1)  # the TTL is over: the next use refreshes, and the key is gone or kept
    if keep_old:
        for _ in range(2):  # verified once more against the refreshed key, then served
            await verifier.verify(token, token_use="access")
        assert len(checks) == 3
    else:
        await rejects(verifier, token, fcj.KeyNotFoundError)
    assert pool.jwks_requests == 2


def test_cache_is_a_bounded_lru_admitting_on_second_use() -> None:
    def put(cache: VerifiedTokenCache, *numbers: int) -> None:
        for n in numbers:
            token = f"h.p.{n:030d}"
            if cache.admits(token):
                entry = CachedToken(token, 0.0, "k", *[cast(Any, None)] * 4)
                cache.put("access", fcj.CognitoClaims, entry)

    def held(cache: VerifiedTokenCache, *numbers: int) -> list[bool]:
        return [
            cache.get(f"h.p.{n:030d}", "access", fcj.CognitoClaims) is not None for n in numbers
        ]

    cache = VerifiedTokenCache(2)
    put(cache, 1)
    assert held(cache, 1) == [False] and len(cache) == 0  # seen once: noted, not kept
    put(cache, 1, 2, 2)
    assert held(cache, 2, 1) == [True, True]  # 1 is now the most recent
    put(cache, 3, 3)
    assert held(cache, 1, 2, 3) == [True, False, True]
    put(cache, *range(10, 30), *range(10, 30))
    assert held(cache, 1, 3, 28, 29) == [False, False, True, True] and len(cache) == 2
    cache._seen_limit = 3
    cache._seen.clear()
    put(cache, 4, 5, 6, 7)  # the fourth first sighting finds the memory full: it starts afresh
    assert len(cache._seen) == 1
    put(cache, 4)  # forgotten: a first sighting again
    assert held(cache, 4) == [False]
    put(cache, 4)
    assert held(cache, 4) == [True]
    disabled = VerifiedTokenCache(0)
    put(disabled, 1, 1, 1)
    assert held(disabled, 1) == [False] and len(disabled) == 0


def test_check_signature(pool: LocalUserPool, monkeypatch: pytest.MonkeyPatch) -> None:
    key = parse_jwks(compact(pool.jwks()))[pool.signing_kid]
    header, payload, signature = token_for(pool).split(".")
    signing_input, raw = f"{header}.{payload}".encode(), b64d(signature)
    check_signature(key, signing_input, raw)  # raises if refused
    with pytest.raises(fcj.InvalidSignatureError, match="^signature does not match$"):
        check_signature(key, signing_input, raw[:-1])  # more refused through the app's corpus
    for other in (
        jose_jwk.construct(pool.jwks()["keys"][0], algorithm="RS512"),
        jose_jwk.construct("a-shared-secret-of-32-bytes-long", algorithm="HS256"),
    ):
        with pytest.raises(fcj.InvalidSignatureError, match="^key is not an RS256 key$"):
            check_signature(other, signing_input, raw)
    crashing = parse_jwks(compact(pool.jwks()))[pool.signing_kid]
    monkeypatch.setattr(crashing, "verify", Mock(side_effect=TypeError("backend failure")))
    with pytest.raises(
        fcj.InvalidSignatureError, match="^signature could not be verified$"
    ) as info:
        check_signature(crashing, signing_input, raw)
    assert isinstance(info.value.__cause__, TypeError)


def test_jwks_keys_verify_as_python_jose_does(pool: LocalUserPool) -> None:
    # parse_jwks builds its keys to skip python-jose's per-call set-up; each answer must be
    # the one python-jose's own key gives, for good signatures and every kind of bad one.
    key = parse_jwks(compact(pool.jwks()))[pool.signing_kid]
    reference = jose_jwk.construct(pool.jwks()["keys"][0], algorithm="RS256")
    header, payload, signature = token_for(pool).split(".")
    signing_input, raw = f"{header}.{payload}".encode(), b64d(signature)
    flipped = bytes([raw[0] ^ 1]) + raw[1:]
    cases = [(signing_input, raw), (signing_input + b"x", raw), (signing_input, flipped),
             (signing_input, raw[:-1]), (signing_input, raw + b"\0"), (signing_input, b""),
             (signing_input, b"\0" * 256), (signing_input, b"\xff" * 256)]  # fmt: skip
    answers = [key.verify(message, sig) for message, sig in cases]
    assert answers == [reference.verify(message, sig) for message, sig in cases]
    assert answers == [True] + [False] * (len(cases) - 1)
    assert isinstance(key, CryptographyRSAKey) and key.hash_alg is CryptographyRSAKey.SHA256


# -- several user pools ----------------------------------------------------------------------

POOL_B = LocalUserPool(user_pool_id="us-east-2_PoolB", client_id="poolbclient", kid="b-key-1")


async def test_each_pool_has_its_own_issuer_keys_and_clients(pool: LocalUserPool) -> None:
    """Both pools' tokens verify, each against its own JWKS, and say which pool they are from;
    a client id is accepted only with its own pool's issuer."""
    POOL_B.jwks_requests = 0
    verifier = pool.verifier(also=[POOL_B])
    a = await verifier.verify(pool.access_token(), token_use="access")
    b = await verifier.verify(POOL_B.id_token(username="bea"), token_use="id")
    assert (a.iss, b.iss, b.username) == (pool.issuer, POOL_B.issuer, "bea")
    assert (pool.jwks_requests, POOL_B.jwks_requests) == (1, 1)
    assert verifier.user_pool_of(b.iss) == POOL_B.pool_settings()
    assert verifier.user_pool_of("https://elsewhere.test") is None
    assert set(verifier.jwks_caches) == {pool.user_pool_id, POOL_B.user_pool_id}
    assert verifier.jwks is verifier.jwks_caches[pool.user_pool_id]
    # Pool A's token naming pool B's client (and the reverse) is refused.
    crossed = [
        pool.access_token(claims={"client_id": POOL_B.client_id}),
        POOL_B.access_token(claims={"client_id": pool.client_id}),
        POOL_B.id_token(claims={"aud": pool.client_id}),
    ]
    uses: tuple[fcj.TokenUse, ...] = ("access", "access", "id")
    for token, use in zip(crossed, uses, strict=True):
        with pytest.raises(fcj.InvalidClientError):
            await verifier.verify(token, token_use=use)


async def test_an_unknown_issuer_is_refused_before_any_key(pool: LocalUserPool) -> None:
    """The issuer picks the pool after the strict parse: an unknown one costs no fetch."""
    stranger = LocalUserPool(user_pool_id="ap-south-1_Nobody", kid=pool.signing_kid)
    verifier = pool.verifier(also=[POOL_B])
    POOL_B.jwks_requests = 0
    for token in (stranger.access_token(), pool.access_token(claims={"iss": None})):
        with pytest.raises(fcj.InvalidIssuerError):
            await verifier.verify(token, token_use="access")
    assert pool.jwks_requests == POOL_B.jwks_requests == stranger.jwks_requests == 0
    with pytest.raises(fcj.MalformedTokenError):  # syntax first: a broken token names no pool
        await verifier.verify(stranger.access_token()[:-1] + "!", token_use="access")


async def test_shared_jwks_caches_are_matched_to_pools_by_url(pool: LocalUserPool) -> None:
    settings = pool.settings(also=[POOL_B])
    shared = fcj.JWKSCache(settings, pool=settings.pools[1], transport=POOL_B.transport())
    verifier = fcj.CognitoVerifier(settings, jwks=[shared])
    assert verifier.jwks_caches[POOL_B.user_pool_id] is shared
    assert verifier.jwks_caches[pool.user_pool_id] is not shared
    with pytest.raises(fcj.ConfigurationError, match="matches no user pool"):
        fcj.CognitoVerifier(pool.settings(), jwks=shared)
    with pytest.raises(fcj.ConfigurationError, match="one of settings.pools"):
        fcj.JWKSCache(pool.settings(), pool=POOL_B.pool_settings())


# -- verify_sync -----------------------------------------------------------------------------


def test_verify_sync_from_many_threads_makes_one_fetch(pool: LocalUserPool) -> None:
    """50 threads on a cold cache: one JWKS fetch, every one verified; bad tokens raise."""
    fetches = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        fetches.append(request.url)
        time.sleep(0.2)  # hold the fetch while the other threads arrive
        return httpx2.Response(200, json=pool.jwks())

    verifier = fcj.CognitoVerifier(pool.settings(), transport=httpx2.MockTransport(handle))
    tokens = [pool.access_token(username=f"user{n}") for n in range(50)]
    barrier = threading.Barrier(50)

    def one(token: str) -> str | None:
        barrier.wait()
        return verifier.verify_sync(token, token_use="access").username

    with concurrent.futures.ThreadPoolExecutor(50) as threads:
        names = list(threads.map(one, tokens))
    assert names == [f"user{n}" for n in range(50)]
    assert len(fetches) == 1
    with pytest.raises(fcj.InvalidSignatureError):
        verifier.verify_sync(tokens[0][:-4] + "AAAA", token_use="access")
    with pytest.raises(fcj.TokenExpiredError):
        verifier.verify_sync(pool.access_token(expires_in=-10), token_use="access")
    header = {"kid": "never-published", "alg": "RS256"}
    with pytest.raises(fcj.KeyNotFoundError):  # the kit sets no cooldown: refetched, not found
        verifier.verify_sync(pool.sign(pool.access_claims(), header=header), token_use="access")
    assert len(fetches) == 2
    with pytest.raises(fcj.ConfigurationError):
        verifier.verify_sync(tokens[0], token_use=cast(Any, "refresh"))
    with pytest.raises(fcj.MalformedTokenError):
        verifier.verify_sync(cast(Any, b"a.b.c"), token_use="access")


def test_verify_sync_reports_an_unreachable_jwks(pool: LocalUserPool) -> None:
    def handle(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(500)

    verifier = fcj.CognitoVerifier(pool.settings(), transport=httpx2.MockTransport(handle))
    with pytest.raises(fcj.JWKSUnavailableError):
        verifier.verify_sync(pool.access_token(), token_use="access")


async def test_verify_sync_on_a_loops_thread_refreshes_keys_of_a_remembered_token(
    pool: LocalUserPool,
) -> None:
    """A remembered token whose keys are due for refresh, on the event loop's own thread:
    the refresh happens (on a loop of its own), the token verifies, the loop is unharmed."""
    clock = FakeClock()
    settings = pool.settings()
    jwks = fcj.JWKSCache(settings, transport=pool.transport(), clock=clock)
    verifier = fcj.CognitoVerifier(settings, jwks=jwks)
    token = pool.access_token()
    for _ in range(2):  # the second use admits it to the token cache
        assert verifier.verify_sync(token, token_use="access").username == "alice"
    clock.advance(settings.jwks_ttl + 1)
    assert verifier.verify_sync(token, token_use="access").username == "alice"
    assert pool.jwks_requests == 2
    await anyio.sleep(0.01)  # this task and its loop still work
    assert (await verifier.verify(token, token_use="access")).username == "alice"


async def test_sync_and_async_callers_wait_on_each_others_fetch(pool: LocalUserPool) -> None:
    """An async caller joins a sync caller's fetch and vice versa: one fetch each time."""
    gate, entered = threading.Event(), threading.Event()

    def handle(request: httpx2.Request) -> httpx2.Response:
        entered.set()
        gate.wait(5)
        return httpx2.Response(200, json=pool.jwks())

    transport = httpx2.MockTransport(handle)
    verifier = fcj.CognitoVerifier(pool.settings(), transport=transport)
    token = pool.access_token()
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        sync_call = thread.submit(verifier.verify_sync, token, token_use="access")
        await anyio.to_thread.run_sync(entered.wait, 5)  # the sync fetch is under way
        async with anyio.create_task_group() as group:
            results: list[str | None] = []

            async def joined() -> None:
                results.append((await verifier.verify(token, token_use="access")).username)

            group.start_soon(joined)
            await anyio.sleep(0.05)
            gate.set()
        assert sync_call.result(5).username == results[0] == "alice"
    calls = 0

    async def counted(request: httpx2.Request) -> httpx2.Response:  # on the app's loop
        nonlocal calls
        calls += 1
        entered.set()
        await anyio.to_thread.run_sync(gate.wait, 5)
        return httpx2.Response(200, json=pool.jwks())

    gate.clear()
    entered.clear()
    other = fcj.CognitoVerifier(pool.settings(), transport=httpx2.MockTransport(counted))
    async with anyio.create_task_group() as group:
        group.start_soon(other.jwks.refresh)  # an async fetch under way
        await anyio.to_thread.run_sync(entered.wait, 5)
        with concurrent.futures.ThreadPoolExecutor(1) as thread:
            waiting = thread.submit(other.verify_sync, token, token_use="access")
            await anyio.sleep(0.05)
            gate.set()
            assert (await anyio.to_thread.run_sync(waiting.result, 5)).username == "alice"
    assert calls == 1


def test_verify_sync_cannot_fetch_with_an_apps_async_client(pool: LocalUserPool) -> None:
    client = httpx2.AsyncClient(transport=pool.transport())
    verifier = fcj.CognitoVerifier(pool.settings(), http_client=client)
    with pytest.raises(fcj.ConfigurationError, match="synchronous"):
        verifier.verify_sync(pool.access_token(), token_use="access")
    anyio.run(verifier.jwks.refresh)  # keys fetched by the app's own loop: usable from sync code
    assert verifier.verify_sync(pool.access_token(), token_use="access").username == "alice"


class Audited(fcj.CognitoVerifier):
    """An override that awaits asyncio itself, and reads the token its own way."""

    calls = 0

    async def verify(self, token: str, **kwargs: Any) -> Any:
        type(self).calls += 1
        await asyncio.sleep(0)
        claims = await super().verify(token.strip(), **kwargs)
        if claims.username == "mallory":
            raise fcj.InvalidClaimError("banned", claim="username")
        return claims


def check_audited(pool: LocalUserPool) -> None:
    Audited.calls = 0
    verifier = Audited(pool.settings(), transport=pool.transport())
    assert verifier.verify_sync(" " + pool.access_token(), token_use="access").username == "alice"
    with pytest.raises(fcj.InvalidClaimError):
        verifier.verify_sync(pool.access_token(username="mallory"), token_use="access")
    assert Audited.calls == 2 and pool.jwks_requests == 1


def test_verify_sync_runs_an_override_whole(pool: LocalUserPool) -> None:
    check_audited(pool)


async def test_verify_sync_runs_an_override_whole_on_a_loops_thread(pool: LocalUserPool) -> None:
    check_audited(pool)
    await asyncio.sleep(0)


def test_the_token_cache_is_safe_to_share_between_threads(pool: LocalUserPool) -> None:
    """Threads churning a tiny cache: no KeyError or mutation error escapes (cachetools'
    caches are not thread-safe on their own)."""
    verifier = pool.verifier(token_cache_size=4)
    tokens = [pool.access_token(username=f"u{n}") for n in range(12)]
    errors: list[BaseException] = []
    stop = time.monotonic() + 1.0

    def churn(offset: int) -> None:
        n = offset
        while time.monotonic() < stop:
            try:
                verifier.verify_sync(tokens[n % len(tokens)], token_use="access")
            except BaseException as exc:  # any escape is the failure
                errors.append(exc)
                return
            n += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as threads:
            list(threads.map(churn, range(8)))
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
