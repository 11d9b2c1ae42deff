"""`JWKSCache` and `parse_jwks`, on a `FakeClock` and an `httpx2.MockTransport` that records
every request. Real sockets and real deadlines are in tests/security/test_jwks_faults.py."""

import gzip
import json
import logging
import random
import zlib
from collections.abc import AsyncIterator, Callable
from itertools import pairwise
from typing import Any

import anyio
import httpx2
import pytest
import respx

from fastapi_cognito_jwt import (
    CognitoVerifier,
    ConfigurationError,
    JWKSCache,
    JWKSUnavailableError,
    KeyNotFoundError,
)
from fastapi_cognito_jwt._verification.signing_keys import parse_jwks
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.helpers import FakeClock, assert_logs_hide, b64u, compact

pytestmark = pytest.mark.anyio

LIMIT, BIG = 64 * 1024, 10 * 2**20  # the JWKS size cap, and far beyond it
SECRET = "c2VjcmV0LXN5bW1ldHJpYy1rZXktbWF0ZXJpYWw"  # an `oct` key's `k`: must never be logged
ATTACKER_URL = "https://attacker.test/jwks.json"
NOT_JSON, NO_LIST = "response is not a JSON object", "response has no 'keys' list"
NO_KEY, ZIP = "response has no usable RS256 signing key", "compressed response refused"
TOO_BIG = "response larger than the JWKS size limit"
Answer = Callable[[], httpx2.Response]
Logs = pytest.LogCaptureFixture


class Endpoint:
    """The JWKS URL answers `once` answers, then `answer`, else the pool's JWKS (as any URL
    does: a followed redirect would succeed). Records requests and their (fake) times."""

    def __init__(self, pool: LocalUserPool, clock: FakeClock) -> None:
        self.pool, self.clock = pool, clock
        self.requests: list[httpx2.Request] = []
        self.times: list[float] = []
        self.once: list[Answer] = []
        self.answer: Answer | None = None
        self.gate: anyio.Event | None = None
        self.transport = httpx2.MockTransport(self.handle)

    @property
    def hits(self) -> int:
        return len(self.requests)

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        self.times.append(self.clock())
        if self.gate is not None:
            await self.gate.wait()
        if str(request.url) == self.pool.jwks_url:
            answer = self.once.pop(0) if self.once else self.answer
            if answer is not None:
                return answer()
        return httpx2.Response(200, json=self.pool.jwks())

    def cache(self, client: httpx2.AsyncClient | None = None, **fields: Any) -> JWKSCache:
        """A cache of the pool on the fake clock, through `client` or a client of its own."""
        transport = self.transport if client is None else None
        settings = self.pool.settings(**{"jwks_miss_cooldown": 30.0, **fields})
        return JWKSCache(settings, http_client=client, transport=transport, clock=self.clock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def endpoint(pool: LocalUserPool, clock: FakeClock) -> Endpoint:
    return Endpoint(pool, clock)


@pytest.fixture
def cache(endpoint: Endpoint) -> JWKSCache:
    return endpoint.cache()


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> None:  # backoff windows of 5, 10, 20... s
    monkeypatch.setattr(random, "uniform", lambda low, high: (low + high) / 2)


def raising(kind: type[Exception]) -> Answer:
    def answer() -> httpx2.Response:
        raise kind("boom")

    return answer


def breaking(kind: type[Exception]) -> Answer:
    """A 200 whose body breaks off with `kind`."""

    async def body() -> AsyncIterator[bytes]:
        yield b'{"keys": ['
        raise kind("boom")

    return lambda: httpx2.Response(200, content=body())


def good_entry(pool: LocalUserPool) -> dict[str, Any]:
    return next(key for key in pool.jwks()["keys"] if key["kid"] == pool.signing_kid)


def fetch_logs(logs: Logs) -> list[logging.LogRecord]:
    return [r for r in logs.records if r.getMessage().startswith("JWKS fetch from")]


async def assert_fetch_fails(
    endpoint: Endpoint, answer: Answer, client: httpx2.AsyncClient | None = None
) -> None:
    """A warm cache keeps its keys through `answer` (fetched once); a cold one gets 503."""
    kid = endpoint.pool.signing_kid
    warm = endpoint.cache(client)
    key = await warm.get_key(kid)
    endpoint.answer = answer
    with pytest.raises(JWKSUnavailableError) as info:
        await warm.refresh()
    assert info.value.retry_after >= 1
    assert warm.kids == {kid} and await warm.get_key(kid) is key
    hits = endpoint.hits
    with pytest.raises(JWKSUnavailableError):
        await endpoint.cache(client).get_key(kid)
    assert endpoint.hits == hits + 1


async def test_construction_fetches_nothing(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache
) -> None:
    CognitoVerifier(pool.settings(), transport=endpoint.transport)
    JWKSCache(pool.settings())  # a client of its own: would reach the network if it fetched
    assert cache.kids == frozenset() and cache.lookup(pool.signing_kid) is None
    assert endpoint.hits == 0
    loopback = "http://127.0.0.1:9229/jwks.json"  # plain http is fine on loopback (emulators)
    assert JWKSCache(pool.settings(jwks_url=loopback)).url == loopback
    for url in ("http://0.0.0.0:8080/jwks.json", "http://127.0.0.1.nip.io/jwks.json"):
        with pytest.raises(ConfigurationError):  # plain http off loopback
            JWKSCache(pool.settings(jwks_url=url))
    async with httpx2.AsyncClient() as client:
        with pytest.raises(ConfigurationError):
            JWKSCache(pool.settings(), http_client=client, transport=endpoint.transport)


async def test_a_thousand_cold_callers_share_one_fetch_through_any_verifier(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache
) -> None:
    verifiers = [CognitoVerifier(pool.settings(), jwks=cache) for _ in range(2)]
    with pytest.raises(ConfigurationError):
        CognitoVerifier(pool.settings(), jwks=cache, transport=endpoint.transport)
    tokens = [pool.access_token(username=f"user{i}") for i in range(20)]
    results: list[object] = []

    async def call(index: int) -> None:  # a verifier for the first 20, the cache after
        if index < 20:
            await verifiers[index % 2].verify(tokens[index], token_use="access")
        else:
            results.append(await cache.get_key(pool.signing_kid))

    endpoint.gate = anyio.Event()
    async with anyio.create_task_group() as group:  # a failure would fail the group
        for index in range(1000):
            group.start_soon(call, index)
        await anyio.wait_all_tasks_blocked()
        assert endpoint.hits == 1  # while all wait on the one fetch
        endpoint.gate.set()
    assert endpoint.hits == 1 and results == [cache.lookup(pool.signing_kid)] * 980
    request = endpoint.requests[0]
    assert (request.method, str(request.url)) == ("GET", pool.jwks_url)
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Accept-Encoding"] == "identity"


async def test_refresh_fetches_at_once_and_the_ttl_refetches(
    pool: LocalUserPool, endpoint: Endpoint, clock: FakeClock, library_logs: Logs
) -> None:
    cache = endpoint.cache(jwks_ttl=600)
    second, third = pool.add_key("second-key"), pool.add_key("third-key")
    endpoint.gate = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(cache.get_key, pool.signing_kid)  # the cold fetch, held at the gate
        await anyio.wait_all_tasks_blocked()
        group.start_soon(cache.refresh)
        await anyio.wait_all_tasks_blocked()
        assert endpoint.hits == 1  # the refresh waits rather than fetching alongside
        endpoint.gate.set()
    assert endpoint.hits == 2  # then fetches anew
    assert cache.kids == {pool.signing_kid, second, third} and cache.lookup("other") is None
    pool.remove_key(second)
    clock.advance(599)
    assert await cache.get_key(second) is cache.lookup(second) is not None  # within the TTL
    clock.advance(1)
    assert cache.lookup(pool.signing_kid) is None  # a fetch is due and nobody performs it
    assert await cache.get_key(pool.signing_kid) is cache.lookup(pool.signing_kid) is not None
    assert endpoint.hits == 3 and cache.kids == {pool.signing_kid, third}
    with pytest.raises(KeyNotFoundError):
        await cache.get_key(second)  # the refresh started the cooldown: no refetch
    pool.remove_key(third)
    await cache.refresh()  # within the TTL and the cooldown: fetched all the same
    assert endpoint.hits == 4 and cache.kids == {pool.signing_kid}
    fetched = f"JWKS fetched from {pool.jwks_url}: "  # each fetch, changed or not
    assert [(r.levelno, r.getMessage()) for r in library_logs.records] == [
        (logging.INFO, f"{fetched}3 signing keys (3 new, 0 gone)"),
        (logging.INFO, f"{fetched}3 signing keys (unchanged)"),
        (logging.INFO, f"{fetched}2 signing keys (0 new, 1 gone)"),
        (logging.INFO, f"{fetched}1 signing keys (0 new, 1 gone)"),
    ]


async def test_while_a_refresh_is_under_way_known_kids_go_on_and_others_wait_for_it(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache, clock: FakeClock
) -> None:
    known = pool.signing_kid
    old = await cache.get_key(known)
    clock.advance(600)  # the TTL has passed: the next caller refreshes
    rotated, scope, endpoint.gate = pool.rotate_key(), anyio.CancelScope(), anyio.Event()
    waited: dict[str, object] = {}

    async def impatient() -> None:  # performs the refresh, then goes away
        with scope:
            await cache.get_key(rotated)

    async def wait_for(caller: str) -> None:
        try:
            waited[caller] = await cache.get_key(caller.partition("#")[0])
        except KeyNotFoundError as exc:
            waited[caller] = exc

    async with anyio.create_task_group() as group:
        group.start_soon(impatient)
        await anyio.wait_all_tasks_blocked()  # its fetch waits at the gate
        for _ in range(50):  # the known kid is served at once, from the keys at hand
            assert await cache.get_key(known) is old
        for kid in [f"{rotated}#{n}" for n in range(20)] + [f"made-up-{n}" for n in range(30)]:
            group.start_soon(wait_for, kid)
        await anyio.wait_all_tasks_blocked()
        scope.cancel()  # the caller goes, its fetch stays: the others count on it
        await anyio.wait_all_tasks_blocked()
        assert cache.lookup(rotated) is None and endpoint.hits == 2
        endpoint.gate.set()
        for number in range(50):  # more arrive while the waiters wake up
            group.start_soon(wait_for, f"late-{number}")
    new = cache.lookup(rotated)
    assert endpoint.hits == 2 and new is not None
    assert [waited.pop(f"{rotated}#{n}") for n in range(20)] == [new] * 20
    assert len(waited) == 80  # and the refresh started the cooldown: none fetched again
    assert all(isinstance(result, KeyNotFoundError) for result in waited.values())
    clock.advance(30)
    await wait_for("made-up-after-the-cooldown")
    assert endpoint.hits == 3


async def test_unknown_kids_refetch_once_per_cooldown(
    pool: LocalUserPool, endpoint: Endpoint, clock: FakeClock
) -> None:
    cache = endpoint.cache(jwks_miss_cooldown=30)
    old = pool.signing_kid
    await cache.refresh()
    clock.advance(29)
    with pytest.raises(KeyNotFoundError):  # every fetch starts the cooldown, a refresh too
        await cache.get_key("made-up-kid")
    clock.advance(1)
    with pytest.raises(KeyNotFoundError) as info:
        await cache.get_key("made-up-kid")
    assert "made-up-kid" not in str(info.value)
    assert endpoint.hits == 2  # one refetch, which starts the cooldown again
    clock.advance(29)
    new = pool.rotate_key()
    with pytest.raises(KeyNotFoundError):
        await cache.get_key(new)  # inside the cooldown: refused without fetching
    assert await cache.get_key(old) is cache.lookup(old)  # known kids never wait on it
    assert endpoint.hits == 2
    clock.advance(1)  # then one refetch
    assert await cache.get_key(new) is cache.lookup(new) is not None
    assert await cache.get_key(old) is cache.lookup(old) and endpoint.hits == 3
    endpoint.answer = raising(httpx2.ConnectError)
    clock.advance(30)
    for _ in range(2):  # a failed unknown-kid fetch starts the cooldown too
        with pytest.raises(KeyNotFoundError):
            await cache.get_key("made-up-kid")
        clock.advance(10)  # past the backoff, not the cooldown
    assert endpoint.hits == 5


@pytest.mark.parametrize("head_start", [None, 0, 1, 29, 599])
async def test_a_kid_flood_makes_at_most_two_fetches_in_any_minute(
    pool: LocalUserPool, endpoint: Endpoint, clock: FakeClock, head_start: int | None
) -> None:
    """A made-up kid every second, from a cold start or `head_start` s after a refresh."""
    cache = endpoint.cache(jwks_miss_cooldown=30, jwks_ttl=600)
    if head_start is not None:
        await cache.refresh()
        clock.advance(head_start)
    start = clock.now
    for second in range(600):
        with pytest.raises(KeyNotFoundError):
            await cache.get_key(f"flood-{second}")
        assert await cache.get_key(pool.signing_kid) is not None  # known kids never wait
        clock.advance(1)
    fetches = endpoint.times
    assert all(later - earlier >= 30 for earlier, later in pairwise(fetches))
    assert all(
        sum(1 for at in fetches if minute <= at < minute + 60) <= 2
        for minute in range(int(start) - 60, int(clock.now))
    )
    assert len([at for at in fetches if at >= start]) >= 600 // 30 - 1  # refetches do happen


async def test_stale_keys_serve_through_an_outage_then_fail_closed(
    pool: LocalUserPool, endpoint: Endpoint, clock: FakeClock, pinned: None
) -> None:
    cache = endpoint.cache(jwks_ttl=600, jwks_max_stale=3600)
    key = await cache.get_key(pool.signing_kid)
    start = clock.now
    endpoint.answer = raising(httpx2.ConnectError)
    clock.advance(600)
    for _ in range(600, 3599):  # a request every second
        assert await cache.get_key(pool.signing_kid) is key
        clock.advance(1)
    # A fetch at the first request after each window (5, 10, 20... 300 s), retried at once.
    fetches = [600, 605, 615, 635, 675, 755, 915, 1215, 1515, 1815, 2115, 2415, 2715, 3015, 3315]
    assert [at - start for at in endpoint.times[1:]] == [at for at in fetches for _ in (1, 2)]
    assert cache.lookup(pool.signing_kid) is key  # stale, inside a backoff window
    with pytest.raises(KeyNotFoundError):
        await cache.get_key("never-published")  # an unknown kid is a 401, not a 503
    clock.advance(1)
    with pytest.raises(JWKSUnavailableError) as info:  # past jwks_max_stale, inside a window
        await cache.get_key(pool.signing_kid)
    assert info.value.retry_after == 3615 - 3600 and cache.lookup(pool.signing_kid) is None


async def test_a_cold_outage_backs_off_then_recovers_and_the_backoff_starts_over(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache, clock: FakeClock, pinned: None
) -> None:
    endpoint.answer = raising(httpx2.ConnectError)
    with pytest.raises(JWKSUnavailableError) as info:
        await cache.refresh()  # an optional warm-up fails loudly but harmlessly
    assert info.value.retry_after == 5 and endpoint.hits == 2  # one fetch, retried once
    clock.advance(4)
    for kid in (pool.signing_kid, "unknown-kid"):  # no keys at all: 503 for any kid
        with pytest.raises(JWKSUnavailableError) as info:
            await cache.get_key(kid)
        assert info.value.retry_after == 1
    assert endpoint.hits == 2
    clock.advance(1)
    with pytest.raises(JWKSUnavailableError) as info:
        await cache.get_key(pool.signing_kid)
    assert info.value.retry_after == 10 and endpoint.hits == 4
    endpoint.answer = None
    clock.advance(10)
    assert await cache.get_key(pool.signing_kid) is cache.lookup(pool.signing_kid)
    endpoint.answer = raising(httpx2.ConnectError)
    with pytest.raises(JWKSUnavailableError) as info:
        await cache.refresh()
    assert info.value.retry_after == 5 and endpoint.hits == 7


async def test_backoff_is_jittered_by_20_percent(pool: LocalUserPool, endpoint: Endpoint) -> None:
    endpoint.answer = raising(httpx2.ConnectError)
    delays = []
    for _ in range(50):  # fresh caches: every one at its first failure
        with pytest.raises(JWKSUnavailableError) as info:
            await endpoint.cache().get_key(pool.signing_kid)
        delays.append(info.value.retry_after)
    assert 4 <= min(delays) < 5 < max(delays) <= 6, delays


DROPPED = [httpx2.ConnectError, httpx2.ReadError, httpx2.WriteError, httpx2.RemoteProtocolError]
OTHERS: list[type[Exception]] = [RuntimeError, KeyError, ValueError, TypeError, AttributeError]
OTHERS += [httpx2.ConnectTimeout, httpx2.ReadTimeout, httpx2.WriteTimeout, httpx2.PoolTimeout]
OTHERS += [httpx2.DecodingError, OSError]  # none of them is retried
CLIENTS = pytest.mark.parametrize("injected", [False, True], ids=["own-client", "injected"])


@CLIENTS
@pytest.mark.parametrize("kind", DROPPED)
async def test_a_dropped_connection_is_retried_once_at_once(
    pool: LocalUserPool, endpoint: Endpoint, library_logs: Logs, kind: Any, injected: bool
) -> None:
    endpoint.once = [raising(kind)]
    async with httpx2.AsyncClient(transport=endpoint.transport) as client:
        cache = endpoint.cache(client if injected else None)
        key = await cache.get_key(pool.signing_kid)
    assert endpoint.hits == 2 and endpoint.times[0] == endpoint.times[1]
    assert cache.lookup(pool.signing_kid) is key  # a successful fetch: the keys are fresh
    assert not [r for r in library_logs.records if r.levelno >= logging.WARNING]


@CLIENTS
@pytest.mark.parametrize("broken", [raising, breaking], ids=["at-send", "mid-body"])
@pytest.mark.parametrize("kind", [*DROPPED, *OTHERS])
async def test_any_exception_is_a_failed_fetch_never_a_crash(
    pool: LocalUserPool,
    endpoint: Endpoint,
    clock: FakeClock,
    library_logs: Logs,
    kind: type[Exception],
    broken: Callable[[type[Exception]], Answer],
    injected: bool,
) -> None:
    per_fetch = 2 if kind in DROPPED else 1  # only a dropped connection is retried, once
    async with httpx2.AsyncClient(transport=endpoint.transport) as client:
        cache = endpoint.cache(client if injected else None)
        key = await cache.get_key(pool.signing_kid)
        endpoint.answer = broken(kind)
        clock.advance(600)
        assert await cache.get_key(pool.signing_kid) is key  # stale keys, no exception
        assert endpoint.hits == 1 + per_fetch
        with pytest.raises(JWKSUnavailableError) as info:
            await endpoint.cache(client if injected else None).get_key(pool.signing_kid)
        assert 4 <= info.value.retry_after <= 6  # one failure: the first backoff window
        assert endpoint.hits == 1 + 2 * per_fetch and not client.is_closed
    failures = fetch_logs(library_logs)
    assert len(failures) == 2 and all(r.levelno == logging.WARNING for r in failures)
    assert all(f"failed ({kind.__name__})" in r.getMessage() for r in failures)
    assert "boom" not in library_logs.text
    assert all(record.exc_info is None for record in library_logs.records)


@pytest.mark.parametrize("target", [ATTACKER_URL, "/elsewhere.json"])
@pytest.mark.parametrize("injected", [False, True], ids=["own-client", "following-client"])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_not_followed(
    pool: LocalUserPool, endpoint: Endpoint, status: int, injected: bool, target: str
) -> None:
    async with httpx2.AsyncClient(transport=endpoint.transport, follow_redirects=True) as client:
        answer = lambda: httpx2.Response(status, headers={"Location": target})  # noqa: E731
        await assert_fetch_fails(endpoint, answer, client if injected else None)
    assert {str(request.url) for request in endpoint.requests} == {pool.jwks_url}


async def test_a_cache_with_a_client_of_its_own(
    pool: LocalUserPool, clock: FakeClock, httpx2_mock: respx.Router
) -> None:
    # respx builds its answers itself (`respond`): it takes no httpx2.Response.
    route = httpx2_mock.get(pool.jwks_url).respond(200, json=pool.jwks())
    cache = JWKSCache(pool.settings(), clock=clock)
    key = await cache.get_key(pool.signing_kid)
    assert await cache.get_key(pool.signing_kid) is key and route.call_count == 1
    clock.advance(600)
    await cache.get_key(pool.signing_kid)
    assert route.call_count == 2


async def streamed(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    """`data` in chunks, without Content-Length; reading on far past the size cap fails."""
    for start in range(0, len(data), size):
        assert start <= LIMIT + size, "read on past the size cap"
        yield data[start : start + size]


def sized(doc: dict[str, Any], size: int) -> bytes:
    """`doc` as JSON, padded with insignificant whitespace to exactly `size` bytes."""
    raw = json.dumps(doc).encode()
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def extra(doc: dict[str, Any], raw: bytes) -> bytes:
    return json.dumps(doc).encode()[:-1] + b', "x": ' + raw + b"}"


def copies(entry: dict[str, Any], count: int) -> list[dict[str, Any]]:
    return [{**entry, "kid": f"copy-{i}"} for i in range(count)]


Reply = Callable[[dict[str, Any]], bytes | httpx2.Response]


def status(code: int) -> Reply:
    return lambda doc: httpx2.Response(code, json=doc)


def chunked(size: int) -> Reply:
    return lambda doc: httpx2.Response(200, content=streamed(sized(doc, size)))


def encoded(encoding: str, size: int = 0) -> Reply:
    """Compressed (br and zstd only labelled) and streamed: decoded only if the body is read."""
    packs: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip.compress, "deflate": zlib.compress}
    pack = packs.get(encoding.lower(), bytes)
    return lambda doc: httpx2.Response(
        200,
        content=streamed(pack(sized(doc, size) if size else compact(doc)), 2**30),
        headers={"Content-Encoding": encoding},
    )


REPLIES: list[tuple[str, Reply, str | None]] = [
    *[(f"status-{c}", status(c), f"HTTP status {c}") for c in (500, 502, 503, 404, 429, 204)],
    *[(f"status-{c}", status(c), f"HTTP status {c}") for c in (201, 304)],
    ("html", lambda doc: b"<html><body>%s</body></html>" % doc["keys"][0]["n"].encode(), NOT_JSON),
    ("oct-key", lambda _: compact({"keys": [{"kty": "oct", "kid": "k", "k": SECRET}]}), NO_KEY),
    ("empty", lambda _: b"", NOT_JSON),
    ("whitespace", lambda _: b"   \n", NOT_JSON),
    ("truncated", lambda doc: json.dumps(doc).encode()[:-3], NOT_JSON),
    ("invalid-utf8", lambda doc: extra(doc, b'"\xff\xfe"'), NOT_JSON),
    ("bom", lambda doc: b"\xef\xbb\xbf" + json.dumps(doc).encode(), NOT_JSON),
    *[(f"{raw!r}", lambda doc, raw=raw: extra(doc, raw), NOT_JSON) for raw in (b"NaN", b"1e999")],
    ("-Infinity", lambda doc: extra(doc, b"-Infinity"), NOT_JSON),
    ("duplicate-member", lambda doc: b'{"keys": [], ' + json.dumps(doc).encode()[1:], NOT_JSON),
    ("deep-nesting", lambda _: b'{"keys": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", NOT_JSON),
    ("top-level-array", lambda doc: json.dumps(doc["keys"]).encode(), NOT_JSON),
    ("top-level-string", lambda _: b'"keys"', NOT_JSON),
    *[(f"keys-{v!r}", lambda _, v=v: b'{"keys": %s}' % v, NO_LIST) for v in (b"null", b"{}")],
    ("keys-missing", lambda _: b'{"kids": []}', NO_LIST),
    *[(f"keys-{v!r}", lambda _, v=v: b'{"keys": %s}' % v, NO_KEY) for v in (b"[]", b'[1, "x"]')],
    ("only-key-duplicated", lambda doc: compact({"keys": doc["keys"] * 2}), NO_KEY),
    ("17-keys", lambda doc: compact({"keys": copies(doc["keys"][0], 17)}), "response has more"),
    ("64KiB-with-length", lambda doc: sized(doc, LIMIT), None),
    ("over-64KiB-with-length", lambda doc: sized(doc, LIMIT + 1), TOO_BIG),
    (
        "declares-1GB",
        lambda doc: httpx2.Response(200, json=doc, headers={"Content-Length": "1" + "0" * 9}),
        TOO_BIG,
    ),
    *[
        (f"{s}-chunked", chunked(s), None if s == LIMIT else TOO_BIG)
        for s in (LIMIT, LIMIT + 1, BIG)
    ],
    *[(f"encoding-{e}", encoded(e), None) for e in ("identity", "Identity")],
    *[(f"encoding-{e}", encoded(e), ZIP) for e in ("gzip", "GZIP", "deflate", "br", "zstd")],
    ("encoding-identity-then-gzip", encoded("identity, gzip"), ZIP),
    *[(f"gzip-{s}-bytes-decoded", encoded("gzip", s), ZIP) for s in (LIMIT + 1, BIG)],
]


@pytest.mark.parametrize(("reply", "reason"), [r[1:] for r in REPLIES], ids=[r[0] for r in REPLIES])
async def test_a_bad_reply_is_a_failed_fetch_that_keeps_the_keys(
    pool: LocalUserPool, endpoint: Endpoint, library_logs: Logs, reply: Reply, reason: str | None
) -> None:
    """Any status but 200, a body that is not a usable JWKS, over 64 KiB, or compressed."""

    good = good_entry(pool)

    def answer() -> httpx2.Response:
        made = reply({"keys": [good]})
        return made if isinstance(made, httpx2.Response) else httpx2.Response(200, content=made)

    if reason is None:
        endpoint.answer = answer
        assert await endpoint.cache().get_key(pool.signing_kid) is not None
    else:
        await assert_fetch_fails(endpoint, answer)
        failures = fetch_logs(library_logs)
        assert len(failures) == 2 and all(r.levelno == logging.WARNING for r in failures)
        assert all(f"failed ({reason}" in r.getMessage() for r in failures)
    assert all(r.headers["Accept-Encoding"] == "identity" for r in endpoint.requests)
    assert_logs_hide(library_logs.records, good["n"], SECRET, "<html")  # nor the body
    assert {r.name for r in library_logs.records} == {"fastapi_cognito_jwt"}
    assert all(record.exc_info is None for record in library_logs.records)


def b64_int(value: int) -> str:
    return b64u(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def variant(entry: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`entry` with the kid "bad-key" and `changes` (None removes a member)."""
    changed = {**entry, "kid": "bad-key", **changes}
    return {name: value for name, value in changed.items() if value is not None}


KTY, ALG, USE, DUP = "kty is not RSA", "alg is not RS256", "use is not sig", "duplicate kid"
OPS, KID = "key_ops does not allow verify", "kid is not a string of 1-128 characters"
NE, B64 = "n or e is not a string", "n or e is not canonical base64url"
BITS, EXP = "modulus size outside 2048-8192 bits", "public exponent is not an odd number"
Entries = dict[str, Any] | Callable[[dict[str, Any]], list[Any]]  # one variant, or entries
BAD_KEYS: list[tuple[str, Entries, list[str]]] = [
    *[(f"kty-{v}", {"kty": v}, [KTY]) for v in ("EC", None)],
    ("kty-oct", {"kty": "oct", "k": SECRET, "n": None, "e": None}, [KTY]),
    *[(f"alg-{v}", {"alg": v}, [ALG]) for v in ("RS512", "HS256", "none")],
    ("use-enc", {"use": "enc"}, [USE]),
    *[(f"key_ops-{v}", {"key_ops": v}, [OPS]) for v in (["encrypt"], "verify")],
    *[(f"kid-{v!r:.9}", {"kid": v}, [KID]) for v in (123, None, "", "k" * 129)],
    *[(f"{v}-missing", {v: None}, [NE]) for v in ("n", "e")],
    ("n-integer", {"n": (1 << 2047) | 1}, [NE]),
    *[(f"n-{v}", {"n": v}, [B64]) for v in ("AQAB+/+/", "AQAB==")],
    *[(f"n-{b}-bits", {"n": b64_int((1 << b - 1) | 1)}, [BITS]) for b in (1024, 2047, 8193)],
    *[(f"e-{v}", {"e": b64_int(v)}, [EXP]) for v in (1, 2, 65536, 2**32 + 1)],
    ("duplicate-kid", lambda g: [variant(g, kid="dup")] * 2, [DUP, DUP]),
    ("triplicate-kid", lambda g: [variant(g, kid="dup")] * 3, [DUP] * 3),
    ("bad-twin-first", lambda g: [variant(g, use="x"), variant(g)], [USE, DUP]),
    ("bad-twin-last", lambda g: [variant(g), variant(g, use="x")], [DUP, USE]),
    ("not-objects", lambda g: ["x", 1, None, [g]], ["not an object"] * 4),
]


@pytest.mark.parametrize(
    ("entries", "reasons"), [(e, r) for _, e, r in BAD_KEYS], ids=[i for i, *_ in BAD_KEYS]
)
def test_a_bad_key_is_dropped_alone_and_logged(
    pool: LocalUserPool, library_logs: Logs, entries: Entries, reasons: list[str]
) -> None:
    good = good_entry(pool)
    bad = [variant(good, **entries)] if isinstance(entries, dict) else entries(good)
    assert set(parse_jwks(compact({"keys": [good, *bad]}))) == {pool.signing_kid}
    dropped = [r for r in library_logs.records if "dropped" in r.getMessage()]
    assert all(r.levelno == logging.WARNING for r in dropped)
    assert len(dropped) == len(reasons)
    for position, (record, reason) in enumerate(zip(dropped, reasons, strict=True), 1):
        assert record.getMessage().startswith(f"JWKS key #{position} dropped: {reason}")
    assert good["n"] not in library_logs.text and SECRET not in library_logs.text


def test_keys_at_the_limits_are_accepted_and_a_shared_kid_trusts_none(pool: LocalUserPool) -> None:
    good = good_entry(pool)
    accepted: list[dict[str, Any]] = [
        {"alg": None, "use": None},
        {"key_ops": ["sign", "verify"]},
        {"kid": "k" * 128},
        *[{"n": b64_int((1 << bits - 1) | 1)} for bits in (2048, 8192)],
        *[{"e": b64_int(e)} for e in (3, 2**32 - 1)],
    ]
    for changes in accepted:
        entry = variant(good, **{"kid": "other", **changes})
        assert set(parse_jwks(compact({"keys": [good, entry]}))) == {good["kid"], entry["kid"]}
    assert len(parse_jwks(compact({"keys": [good, *copies(good, 15)]}))) == 16
    twin = variant(good, kid=good["kid"], alg="HS256")  # the kid is ambiguous: trusted for none
    assert set(parse_jwks(compact({"keys": [good, variant(good, kid="x"), twin]}))) == {"x"}
