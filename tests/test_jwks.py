"""`JWKSCache`: fetching, single flight, TTL, rotation, cooldown, stale-on-error, hostile endpoints.

Follows the JWKS failure modes W1-W13 and the defaults of the security research (§4, §5).
Time is a fake monotonic clock; HTTP is an `httpx.MockTransport` (or respx) that counts hits.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from itertools import pairwise
from typing import Any

import anyio
import httpx
import pytest
import respx

from fastapi_cognito_jwt import (
    CognitoVerifier,
    ConfigurationError,
    JWKSCache,
    JWKSUnavailableError,
    KeyNotFoundError,
)
from fastapi_cognito_jwt._jwks import BACKOFF_INITIAL, BACKOFF_MAX
from fastapi_cognito_jwt.testing import LocalUserPool

pytestmark = pytest.mark.anyio

LIMIT = 64 * 1024
ATTACKER_URL = "https://attacker.test/jwks.json"
SECRET = "c2VjcmV0LXN5bW1ldHJpYy1rZXktbWF0ZXJpYWw"  # an `oct` key's `k`: must never be logged


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Endpoint:
    """A scripted JWKS endpoint: serves the pool's JWKS unless told otherwise; counts hits."""

    def __init__(self, pool: LocalUserPool, clock: FakeClock) -> None:
        self.pool = pool
        self.clock = clock
        self.hits = 0
        self.hit_times: list[float] = []
        self.requests: list[httpx.Request] = []
        self.reply: Callable[[], httpx.Response] | None = None
        self.error: Exception | None = None
        self.errors: list[Exception] = []  # raised once each, before `error`
        self.gate: anyio.Event | None = None
        self.delay = 0.0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.hits += 1
        self.hit_times.append(self.clock())
        self.requests.append(request)
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await anyio.sleep(self.delay)
        if self.errors:
            raise self.errors.pop(0)
        if self.error is not None:
            raise self.error
        if self.reply is not None:
            return self.reply()
        return httpx.Response(200, json=self.pool.jwks())

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def cache(self, **fields: Any) -> JWKSCache:
        """A `JWKSCache` for the pool, fetching from this endpoint, on the fake clock."""
        return JWKSCache(self.pool.settings(**fields), transport=self.transport(), clock=self.clock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def endpoint(pool: LocalUserPool, clock: FakeClock) -> Endpoint:
    return Endpoint(pool, clock)


@pytest.fixture
def cache(endpoint: Endpoint) -> JWKSCache:
    return endpoint.cache()


def good_entry(pool: LocalUserPool) -> dict[str, Any]:
    return next(key for key in pool.jwks()["keys"] if key["kid"] == pool.signing_kid)


def b64url_int(value: int) -> str:
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def padded(document: dict[str, Any], size: int) -> bytes:
    """`document` as JSON, padded with insignificant whitespace to exactly `size` bytes."""
    raw = json.dumps(document).encode()
    assert len(raw) <= size
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def copies(entry: dict[str, Any], count: int) -> list[dict[str, Any]]:
    return [{**entry, "kid": f"copy-{i}"} for i in range(count)]


def variant(entry: dict[str, Any], *drop: str, **changes: Any) -> dict[str, Any]:
    result = {**entry, "kid": "bad-key", **changes}
    for name in drop:
        del result[name]
    return result


async def run_concurrently(
    count: int, call: Callable[[int], Awaitable[object]], endpoint: Endpoint
) -> tuple[list[object], int]:
    """Run `call(i)` `count` times at once while the endpoint holds its responses back.

    Returns each call's result (or exception) and the hits seen while everyone was waiting.
    """
    results: list[object] = [None] * count
    endpoint.gate = anyio.Event()

    async def one(index: int) -> None:
        try:
            results[index] = await call(index)
        except Exception as exc:
            results[index] = exc

    async with anyio.create_task_group() as tg:
        for index in range(count):
            tg.start_soon(one, index)
        await anyio.wait_all_tasks_blocked()
        hits_while_blocked = endpoint.hits
        endpoint.gate.set()
    endpoint.gate = None
    return results, hits_while_blocked


# -- construction, warm-up, single flight (W1, W11, W12) ----------------------------------


async def test_construction_touches_no_network(pool: LocalUserPool, endpoint: Endpoint) -> None:
    cache = endpoint.cache()
    CognitoVerifier(pool.settings(), transport=endpoint.transport())
    JWKSCache(pool.settings())  # default transport: would hit the network if it fetched
    assert cache.kids == frozenset()
    assert cache.lookup(pool.signing_kid) is None
    assert endpoint.hits == 0


def test_plain_http_jwks_url_is_rejected_at_construction(pool: LocalUserPool) -> None:
    with pytest.raises(ConfigurationError):
        JWKSCache(pool.settings(jwks_url="http://jwks.example.com/jwks.json"))
    JWKSCache(pool.settings(jwks_url="http://127.0.0.1:9229/jwks.json"))  # loopback emulator


async def test_cold_start_is_single_flight(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache
) -> None:
    results, blocked_hits = await run_concurrently(
        1000, lambda _: cache.get_key(pool.signing_kid), endpoint
    )
    assert blocked_hits == 1
    assert endpoint.hits == 1
    first = results[0]
    assert not isinstance(first, Exception)
    assert all(result is first for result in results)
    request = endpoint.requests[0]
    assert request.method == "GET"
    assert str(request.url) == pool.jwks_url
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Accept-Encoding"] == "identity"


async def test_refresh_warms_the_cache(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache
) -> None:
    second = pool.add_key("second-key")
    await cache.refresh()
    assert endpoint.hits == 1
    assert cache.kids == {pool.signing_kid, second}
    key = cache.lookup(pool.signing_kid)
    assert key is not None
    assert await cache.get_key(pool.signing_kid) is key
    assert cache.lookup(second) is await cache.get_key(second)
    assert endpoint.hits == 1
    pool.remove_key(second)
    await cache.refresh()  # a forced refresh drops a removed key at once
    assert cache.kids == {pool.signing_kid}
    with pytest.raises(KeyNotFoundError):
        await cache.get_key(second)


async def test_refresh_failure_raises_and_keeps_the_old_keys(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache
) -> None:
    await cache.refresh()
    key = await cache.get_key(pool.signing_kid)
    endpoint.reply = lambda: httpx.Response(500)
    with pytest.raises(JWKSUnavailableError) as info:
        await cache.refresh()  # fetches although the TTL has not expired
    assert endpoint.hits == 2
    assert info.value.retry_after >= 1
    assert cache.kids == {pool.signing_kid}
    assert cache.lookup(pool.signing_kid) is key
    assert await cache.get_key(pool.signing_kid) is key
    assert endpoint.hits == 2


# -- TTL, rotation, unknown-kid cooldown (W7, W8) ------------------------------------------


async def test_ttl_expiry_refetches_and_a_removed_kid_is_then_unknown(
    pool: LocalUserPool, endpoint: Endpoint, clock: FakeClock
) -> None:
    cache = endpoint.cache(jwks_ttl=600)
    removed = pool.add_key("k2")
    await cache.refresh()
    pool.remove_key(removed)
    clock.advance(599)
    assert cache.lookup(removed) is not None
    assert await cache.get_key(removed) is cache.lookup(removed)
    assert endpoint.hits == 1
    clock.advance(1)
    assert cache.lookup(pool.signing_kid) is None  # a fetch is due
    assert cache.lookup(removed) is None
    await cache.get_key(pool.signing_kid)
    assert endpoint.hits == 2
    assert cache.kids == {pool.signing_kid}
    with pytest.raises(KeyNotFoundError):
        await cache.get_key(removed)
    assert cache.lookup(removed) is None


async def test_rotated_kid_costs_exactly_one_refetch_shared_by_concurrent_requests(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache, clock: FakeClock
) -> None:
    old = pool.signing_kid
    await cache.refresh()
    clock.advance(30)  # past the cooldown that the refresh started
    new = pool.rotate_key()
    results, _ = await run_concurrently(100, lambda _: cache.get_key(new), endpoint)
    assert endpoint.hits == 2
    assert not isinstance(results[0], Exception)
    assert all(result is results[0] is cache.lookup(new) for result in results)
    assert await cache.get_key(old) is cache.lookup(old)
    assert endpoint.hits == 2


async def test_unknown_kid_cooldown(
    pool: LocalUserPool, endpoint: Endpoint, clock: FakeClock
) -> None:
    cache = endpoint.cache(jwks_miss_cooldown=30)
    old = pool.signing_kid
    await cache.refresh()
    clock.advance(29)
    with pytest.raises(KeyNotFoundError):  # every fetch starts the cooldown, this one too
        await cache.get_key("made-up-kid")
    assert endpoint.hits == 1
    clock.advance(1)
    with pytest.raises(KeyNotFoundError) as info:
        await cache.get_key("made-up-kid")
    assert "made-up-kid" not in str(info.value)
    assert endpoint.hits == 2  # one refetch, then the cooldown starts again
    clock.advance(29)
    new = pool.rotate_key()
    with pytest.raises(KeyNotFoundError):
        await cache.get_key(new)  # inside the cooldown: refused without fetching
    assert await cache.get_key(old) is cache.lookup(old)  # known kids keep working
    assert endpoint.hits == 2
    clock.advance(1)
    assert await cache.get_key(new) is cache.lookup(new)
    assert endpoint.hits == 3


async def test_concurrent_unknown_kids_share_one_fetch(
    endpoint: Endpoint, cache: JWKSCache, clock: FakeClock
) -> None:
    await cache.refresh()
    clock.advance(30)
    results, _ = await run_concurrently(100, lambda i: cache.get_key(f"unknown-{i}"), endpoint)
    assert endpoint.hits == 2
    assert all(isinstance(result, KeyNotFoundError) for result in results)


@pytest.mark.parametrize("head_start", [None, 0, 1, 29, 599])
async def test_kid_flood_makes_at_most_two_fetches_in_any_minute(
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
    fetches = endpoint.hit_times
    assert all(later - earlier >= 30 for earlier, later in pairwise(fetches))
    assert all(
        sum(1 for at in fetches if minute <= at < minute + 60) <= 2
        for minute in range(int(start) - 60, int(clock.now))
    )
    assert len([at for at in fetches if at >= start]) >= 600 // 30 - 1  # refetches do happen


# -- outages: stale-on-error, cold cache, backoff (W1, W2) ---------------------------------


async def test_stale_keys_serve_through_an_outage_then_fail_closed(
    pool: LocalUserPool, endpoint: Endpoint, clock: FakeClock
) -> None:
    cache = endpoint.cache(jwks_ttl=600, jwks_max_stale=3600)
    await cache.refresh()
    key = await cache.get_key(pool.signing_kid)
    endpoint.error = httpx.ConnectError("connection refused")
    clock.advance(600)
    for _ in range(600, 3599):
        assert await cache.get_key(pool.signing_kid) is key
        clock.advance(1)
    # Each failed fetch makes two requests at once: the dropped connection is retried once.
    assert (endpoint.hits - 1) % 2 == 0, endpoint.hits
    fetch_times = endpoint.hit_times[1::2]
    assert endpoint.hit_times[2::2] == fetch_times
    attempts = len(fetch_times)
    assert 3 <= attempts <= 25, attempts  # backed off, not one attempt per request
    gaps = [b - a for a, b in pairwise(fetch_times)]
    assert min(gaps) >= BACKOFF_INITIAL * 0.8
    assert max(gaps) <= BACKOFF_MAX * 1.2 + 1
    with pytest.raises(KeyNotFoundError):
        await cache.get_key("never-published")  # an unknown kid is a 401, not a 503
    clock.advance(1)
    with pytest.raises(JWKSUnavailableError) as info:
        await cache.get_key(pool.signing_kid)
    assert info.value.retry_after >= 1
    assert cache.lookup(pool.signing_kid) is None


async def test_cold_cache_outage_backs_off_and_recovers(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache, clock: FakeClock
) -> None:
    endpoint.error = httpx.ConnectError("connection refused")
    with pytest.raises(JWKSUnavailableError):
        await cache.refresh()  # an optional warm-up fails loudly but harmlessly
    with pytest.raises(JWKSUnavailableError) as info:
        await cache.get_key(pool.signing_kid)
    assert endpoint.hits == 2  # one fetch, retried once; then inside the backoff window
    retry_after = info.value.retry_after
    assert retry_after >= 1
    clock.advance(retry_after / 2)
    for kid in (pool.signing_kid, "unknown-kid"):
        with pytest.raises(JWKSUnavailableError):
            await cache.get_key(kid)
    assert endpoint.hits == 2
    clock.advance(retry_after)
    endpoint.error = None
    assert await cache.get_key(pool.signing_kid) is cache.lookup(pool.signing_kid)
    assert endpoint.hits == 3


async def test_backoff_doubles_with_jitter_caps_and_resets(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache, clock: FakeClock
) -> None:
    endpoint.error = httpx.ConnectError("connection refused")
    delays = []
    for _ in range(12):
        with pytest.raises(JWKSUnavailableError) as info:
            await cache.get_key(pool.signing_kid)
        delays.append(info.value.retry_after)
        clock.advance(info.value.retry_after)
    assert endpoint.hits == 2 * 12  # one fetch per backoff window, each retried once
    assert BACKOFF_INITIAL * 0.8 <= delays[0] <= BACKOFF_INITIAL * 1.2
    assert all(1 <= delay <= BACKOFF_MAX * 1.2 for delay in delays)
    growing = [delay for delay in delays if delay < BACKOFF_MAX * 0.8 / 2]
    assert len(growing) >= 3, delays
    for before, after in pairwise(growing):
        assert 2 * 0.8 / 1.2 <= after / before <= 2 * 1.2 / 0.8
    assert min(delays[-3:]) >= BACKOFF_MAX * 0.8
    endpoint.error = None
    await cache.get_key(pool.signing_kid)
    assert endpoint.hits == 2 * 12 + 1
    endpoint.error = httpx.ConnectError("connection refused")
    with pytest.raises(JWKSUnavailableError) as info:
        await cache.refresh()
    assert info.value.retry_after <= delays[0] * 1.2 / 0.8  # the backoff started over
    assert BACKOFF_INITIAL * 0.8 <= info.value.retry_after <= BACKOFF_INITIAL * 1.2


async def test_first_backoff_is_5_seconds_with_20_percent_jitter(
    pool: LocalUserPool, endpoint: Endpoint
) -> None:
    # Failure backoff: 5 s doubling to at most 5 min, ± 20 % jitter.
    assert (BACKOFF_INITIAL, BACKOFF_MAX) == (5.0, 300.0)
    endpoint.error = httpx.ConnectError("connection refused")
    delays = []
    for _ in range(50):  # fresh caches: every one is at its first failure
        with pytest.raises(JWKSUnavailableError) as info:
            await endpoint.cache().get_key(pool.signing_kid)
        delays.append(info.value.retry_after)
    assert all(5 * 0.8 <= delay <= 5 * 1.2 for delay in delays), delays
    assert min(delays) < 5 < max(delays)  # jittered, not a fixed 5 s


# -- one immediate retry of a dropped connection, and nothing else --------------------------


DROPPED: list[tuple[str, Callable[[], Exception]]] = [
    ("connect-error", lambda: httpx.ConnectError("connection reset")),
    ("read-error", lambda: httpx.ReadError("connection reset by peer")),
    ("write-error", lambda: httpx.WriteError("broken pipe")),
    ("remote-protocol-error", lambda: httpx.RemoteProtocolError("peer closed")),
]


@pytest.mark.parametrize("injected", [False, True], ids=["own-client", "injected-client"])
@pytest.mark.parametrize("error", [e for _, e in DROPPED], ids=[i for i, _ in DROPPED])
async def test_network_error_is_retried_once_immediately(
    pool: LocalUserPool,
    endpoint: Endpoint,
    clock: FakeClock,
    library_logs: pytest.LogCaptureFixture,
    error: Callable[[], Exception],
    injected: bool,
) -> None:
    # One immediate retry, within the same fetch, on a dropped connection only.
    endpoint.errors = [error()]
    async with httpx.AsyncClient(transport=endpoint.transport()) as client:
        if injected:
            cache = JWKSCache(pool.settings(), http_client=client, clock=clock)
        else:
            cache = endpoint.cache()
        key = await cache.get_key(pool.signing_kid)
    assert key is not None
    assert endpoint.hits == 2
    assert endpoint.hit_times[0] == endpoint.hit_times[1]  # no backoff before the retry
    assert cache.lookup(pool.signing_kid) is key  # a successful fetch: keys are fresh
    assert not [r for r in library_logs.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("error", [e for _, e in DROPPED], ids=[i for i, _ in DROPPED])
async def test_network_error_is_retried_only_once(
    pool: LocalUserPool,
    endpoint: Endpoint,
    cache: JWKSCache,
    clock: FakeClock,
    library_logs: pytest.LogCaptureFixture,
    error: Callable[[], Exception],
) -> None:
    endpoint.errors = [error(), error()]  # a third request would succeed
    with pytest.raises(JWKSUnavailableError) as info:
        await cache.refresh()
    assert endpoint.hits == 2
    # The retried fetch is one failure: the first backoff, and one warning.
    assert BACKOFF_INITIAL * 0.8 <= info.value.retry_after <= BACKOFF_INITIAL * 1.2
    warnings = [r for r in library_logs.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    with pytest.raises(JWKSUnavailableError):
        await cache.get_key(pool.signing_kid)  # inside the backoff window
    assert endpoint.hits == 2
    clock.advance(info.value.retry_after)
    assert await cache.get_key(pool.signing_kid) is cache.lookup(pool.signing_kid)
    assert endpoint.hits == 3


async def test_refusing_endpoint_costs_two_requests_per_fetch(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache, clock: FakeClock
) -> None:
    endpoint.error = httpx.ConnectError("connection refused")
    for fetches in (1, 2, 3):
        with pytest.raises(JWKSUnavailableError) as info:
            await cache.refresh()
        assert endpoint.hits == 2 * fetches
        clock.advance(info.value.retry_after)


NOT_RETRIED: list[tuple[str, Callable[[], Exception | int]]] = [
    ("connect-timeout", lambda: httpx.ConnectTimeout("timed out")),
    ("read-timeout", lambda: httpx.ReadTimeout("timed out")),
    ("write-timeout", lambda: httpx.WriteTimeout("timed out")),
    ("pool-timeout", lambda: httpx.PoolTimeout("timed out")),
    ("decoding-error", lambda: httpx.DecodingError("bad body")),
    ("runtime-error", lambda: RuntimeError("boom")),
    ("key-error", lambda: KeyError("boom")),
    ("http-500", lambda: 500),
    ("http-503", lambda: 503),
]


@pytest.mark.parametrize("failure", [f for _, f in NOT_RETRIED], ids=[i for i, _ in NOT_RETRIED])
async def test_timeouts_and_other_errors_are_not_retried(
    pool: LocalUserPool,
    endpoint: Endpoint,
    cache: JWKSCache,
    failure: Callable[[], Exception | int],
) -> None:
    outcome = failure()
    if isinstance(outcome, int):
        replies = [httpx.Response(outcome, json=pool.jwks())]
        endpoint.reply = lambda: replies.pop() if replies else httpx.Response(200, json=pool.jwks())
    else:
        endpoint.errors = [outcome]
    # The failure happens once only: a retry would succeed, so the fetch must fail.
    with pytest.raises(JWKSUnavailableError):
        await cache.refresh()
    assert endpoint.hits == 1
    assert cache.kids == frozenset()


# -- non-200 statuses, redirects and bad bodies (W4, W5, W9, W10) --------------------------


async def assert_fetch_fails(endpoint: Endpoint, reply: Callable[[], httpx.Response]) -> None:
    """A warm cache survives the reply with its keys intact; a cold cache gets 503."""
    pool = endpoint.pool
    warm = endpoint.cache()
    await warm.refresh()
    key = await warm.get_key(pool.signing_kid)
    endpoint.reply = reply
    with pytest.raises(JWKSUnavailableError) as info:
        await warm.refresh()
    assert info.value.retry_after >= 1
    assert warm.kids == {pool.signing_kid}
    assert await warm.get_key(pool.signing_kid) is key
    cold = endpoint.cache()
    hits = endpoint.hits
    with pytest.raises(JWKSUnavailableError):
        await cold.get_key(pool.signing_kid)
    assert endpoint.hits == hits + 1


@pytest.mark.parametrize("status", [500, 502, 503, 404, 429, 204, 201, 304])
async def test_non_200_status_is_a_failure_and_never_parsed(
    pool: LocalUserPool, endpoint: Endpoint, status: int
) -> None:
    await assert_fetch_fails(endpoint, lambda: httpx.Response(status, json=pool.jwks()))


@pytest.mark.parametrize("injected", [False, True], ids=["own-client", "injected-client"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirect_is_not_followed(
    pool: LocalUserPool, clock: FakeClock, status: int, injected: bool
) -> None:
    hits = {"jwks": 0, "attacker": 0}
    attacker_jwks = {"keys": [{**good_entry(pool), "kid": "attacker-kid"}]}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "attacker.test":
            hits["attacker"] += 1
            return httpx.Response(200, json=attacker_jwks)
        hits["jwks"] += 1
        return httpx.Response(status, headers={"Location": ATTACKER_URL})

    transport = httpx.MockTransport(handle)
    async with httpx.AsyncClient(transport=transport, follow_redirects=True) as client:
        if injected:
            cache = JWKSCache(pool.settings(), http_client=client, clock=clock)
        else:
            cache = JWKSCache(pool.settings(), transport=transport, clock=clock)
        with pytest.raises(JWKSUnavailableError):
            await cache.get_key("attacker-kid")
    assert hits == {"jwks": 1, "attacker": 0}
    assert cache.kids == frozenset()


BAD_BODIES: list[tuple[str, Callable[[dict[str, Any]], bytes]]] = [
    ("html", lambda _: b"<html><body>Service Unavailable</body></html>"),
    ("empty", lambda _: b""),
    ("whitespace", lambda _: b"   \n"),
    ("truncated", lambda doc: json.dumps(doc).encode()[:-3]),
    (
        "invalid-utf8",
        lambda doc: json.dumps({**doc, "x": "\x00"}).encode().replace(b"\\u0000", b"\xff"),
    ),
    ("bom", lambda doc: b"\xef\xbb\xbf" + json.dumps(doc).encode()),
    ("nan", lambda doc: json.dumps(doc).encode()[:-1] + b', "x": NaN}'),
    ("infinity", lambda doc: json.dumps(doc).encode()[:-1] + b', "x": -Infinity}'),
    ("huge-float", lambda doc: json.dumps(doc).encode()[:-1] + b', "x": 1e999}'),
    ("duplicate-keys-member", lambda doc: b'{"keys": [], ' + json.dumps(doc).encode()[1:]),
    ("top-level-array", lambda doc: json.dumps(doc["keys"]).encode()),
    ("top-level-string", lambda _: b'"keys"'),
    ("keys-missing", lambda _: b'{"kids": []}'),
    ("keys-null", lambda _: b'{"keys": null}'),
    ("keys-object", lambda _: b'{"keys": {}}'),
    ("keys-empty", lambda _: b'{"keys": []}'),
    ("keys-not-objects", lambda _: b'{"keys": [1, "x", null]}'),
    ("deep-nesting", lambda _: b'{"keys": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"),
    ("17-keys", lambda doc: json.dumps({"keys": copies(doc["keys"][0], 17)}).encode()),
    ("only-key-duplicated", lambda doc: json.dumps({"keys": doc["keys"] * 2}).encode()),
]


@pytest.mark.parametrize("body", [body for _, body in BAD_BODIES], ids=[i for i, _ in BAD_BODIES])
async def test_bad_body_is_a_failure_and_never_replaces_good_keys(
    pool: LocalUserPool, endpoint: Endpoint, body: Callable[[dict[str, Any]], bytes]
) -> None:
    content = body(pool.jwks())
    await assert_fetch_fails(endpoint, lambda: httpx.Response(200, content=content))


async def streamed(data: bytes, consumed: list[int]) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 4096):  # no Content-Length: Transfer-Encoding chunked
        consumed.append(4096)
        yield data[start : start + 4096]


def sized_reply(kind: str, body: bytes, consumed: list[int]) -> httpx.Response:
    if kind == "chunked":
        return httpx.Response(200, content=streamed(body, consumed))
    if kind == "declared-1GB":
        return httpx.Response(200, content=body, headers={"Content-Length": "1000000000"})
    return httpx.Response(200, content=body)  # with its true Content-Length


@pytest.mark.parametrize(
    ("kind", "size", "ok"),
    [
        pytest.param("length", LIMIT, True, id="64KiB-with-length"),
        pytest.param("length", LIMIT + 1, False, id="over-64KiB-with-length"),
        pytest.param("declared-1GB", 0, False, id="small-body-declared-1GB"),
        pytest.param("chunked", LIMIT, True, id="64KiB-chunked"),
        pytest.param("chunked", LIMIT + 1, False, id="over-64KiB-chunked"),
        pytest.param("chunked", 10 * 2**20, False, id="10MiB-chunked"),
    ],
)
async def test_body_size_is_capped_at_64kib(
    pool: LocalUserPool,
    endpoint: Endpoint,
    cache: JWKSCache,
    library_logs: pytest.LogCaptureFixture,
    kind: str,
    size: int,
    ok: bool,
) -> None:
    body = padded(pool.jwks(), size) if size else json.dumps(pool.jwks()).encode()
    consumed: list[int] = []
    endpoint.reply = lambda: sized_reply(kind, body, consumed)
    if ok:
        assert await cache.get_key(pool.signing_kid) is not None
    else:
        with pytest.raises(JWKSUnavailableError):
            await cache.get_key(pool.signing_kid)
        assert "size limit" in library_logs.text
        assert sum(consumed) <= LIMIT + 2 * 4096  # a streamed body is abandoned early


async def once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def compressed_reply(encoding: str, body: bytes) -> httpx.Response:
    if "gzip" in encoding.lower():
        content = gzip.compress(body)
    elif encoding == "deflate":
        content = zlib.compress(body)
    else:  # br, zstd: not really encoded, which matters only if the body were read
        content = body
    # Streamed, so that httpx decodes nothing unless the library reads the body.
    return httpx.Response(200, content=once(content), headers={"Content-Encoding": encoding})


@pytest.mark.parametrize(
    ("encoding", "size"),
    [
        pytest.param("gzip", 0, id="gzip-small"),
        pytest.param("gzip", LIMIT + 1, id="gzip-just-over-64KiB-decoded"),
        pytest.param("gzip", 10 * 2**20, id="gzip-bomb-10MiB-decoded"),
        pytest.param("GZIP", 0, id="gzip-uppercase"),
        pytest.param("deflate", 0, id="deflate"),
        pytest.param("br", 0, id="br"),
        pytest.param("zstd", 0, id="zstd"),
        pytest.param("identity, gzip", 0, id="identity-then-gzip"),
    ],
)
async def test_compressed_response_is_refused(
    pool: LocalUserPool,
    endpoint: Endpoint,
    library_logs: pytest.LogCaptureFixture,
    encoding: str,
    size: int,
) -> None:
    # Decompressing would let a small body expand past the 64 KiB cap in memory.
    body = padded(pool.jwks(), size) if size else json.dumps(pool.jwks()).encode()
    await assert_fetch_fails(endpoint, lambda: compressed_reply(encoding, body))
    assert endpoint.requests
    assert all(r.headers["Accept-Encoding"] == "identity" for r in endpoint.requests)
    assert "compressed response refused" in library_logs.text
    assert "size limit" not in library_logs.text


@pytest.mark.parametrize("encoding", ["identity", "Identity"])
async def test_identity_content_encoding_is_accepted(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache, encoding: str
) -> None:
    endpoint.reply = lambda: httpx.Response(
        200, json=pool.jwks(), headers={"Content-Encoding": encoding}
    )
    assert await cache.get_key(pool.signing_kid) is not None
    assert endpoint.hits == 1


# -- per-key validation (W6, §5 "Key acceptance") ------------------------------------------


BAD_KEYS: list[tuple[str, Callable[[dict[str, Any]], list[Any]]]] = [
    ("kty-EC", lambda g: [variant(g, kty="EC", crv="P-256")]),
    ("kty-oct", lambda g: [variant(g, "n", "e", kty="oct", k=SECRET)]),
    ("kty-missing", lambda g: [variant(g, "kty")]),
    ("alg-RS512", lambda g: [variant(g, alg="RS512")]),
    ("alg-HS256", lambda g: [variant(g, alg="HS256")]),
    ("alg-none", lambda g: [variant(g, alg="none")]),
    ("use-enc", lambda g: [variant(g, use="enc")]),
    ("key_ops-encrypt", lambda g: [variant(g, key_ops=["encrypt"])]),
    ("key_ops-string", lambda g: [variant(g, key_ops="verify")]),
    ("n-missing", lambda g: [variant(g, "n")]),
    ("e-missing", lambda g: [variant(g, "e")]),
    ("n-not-base64url", lambda g: [variant(g, n=g["n"][:-4] + "+/+/")]),
    ("n-padded", lambda g: [variant(g, n=g["n"] + "==")]),
    ("n-integer", lambda g: [variant(g, n=(1 << 2047) | 1)]),
    ("n-1024-bits", lambda g: [variant(g, n=b64url_int((1 << 1023) | 1))]),
    ("n-2047-bits", lambda g: [variant(g, n=b64url_int((1 << 2046) | 1))]),
    ("n-8193-bits", lambda g: [variant(g, n=b64url_int((1 << 8192) | 1))]),
    ("e-1", lambda g: [variant(g, e=b64url_int(1))]),
    ("e-2", lambda g: [variant(g, e=b64url_int(2))]),
    ("e-even", lambda g: [variant(g, e=b64url_int(65536))]),
    ("e-over-32-bits", lambda g: [variant(g, e=b64url_int(2**32 + 1))]),
    ("duplicate-kid", lambda g: [variant(g, kid="dup"), variant(g, kid="dup")]),
    ("bad-twin-first", lambda g: [variant(g, kid="twin", alg="HS256"), variant(g, kid="twin")]),
    ("bad-twin-last", lambda g: [variant(g, kid="twin"), variant(g, kid="twin", alg="HS256")]),
    ("triplicate-kid", lambda g: [variant(g, kid="dup")] * 3),
    ("kid-integer", lambda g: [variant(g, kid=123)]),
    ("kid-missing", lambda g: [variant(g, "kid")]),
    ("kid-empty", lambda g: [variant(g, kid="")]),
    ("kid-129-chars", lambda g: [variant(g, kid="k" * 129)]),
    ("not-an-object", lambda g: ["x", 1, None, [g]]),
]


@pytest.mark.parametrize("bad", [b for _, b in BAD_KEYS], ids=[i for i, _ in BAD_KEYS])
async def test_bad_keys_are_dropped_individually(
    pool: LocalUserPool,
    endpoint: Endpoint,
    cache: JWKSCache,
    library_logs: pytest.LogCaptureFixture,
    bad: Callable[[dict[str, Any]], list[Any]],
) -> None:
    good = good_entry(pool)
    entries = bad(good)
    endpoint.reply = lambda: httpx.Response(200, json={"keys": [good, *entries]})
    assert await cache.get_key(pool.signing_kid) is not None
    assert cache.kids == {pool.signing_kid}
    dropped = [r for r in library_logs.records if "dropped" in r.getMessage()]
    assert dropped and all(r.levelno == logging.WARNING for r in dropped)
    assert good["n"] not in library_logs.text and SECRET not in library_logs.text
    for entry in entries:
        kid = entry.get("kid") if isinstance(entry, dict) else None
        if isinstance(kid, str) and kid:
            with pytest.raises(KeyNotFoundError):
                await cache.get_key(kid)


GOOD_KEYS: list[tuple[str, Callable[[dict[str, Any]], list[Any]]]] = [
    ("alg-and-use-absent", lambda g: [variant(g, "alg", "use", kid="plain")]),
    ("key_ops-verify", lambda g: [variant(g, kid="ops", key_ops=["verify"])]),
    ("kid-128-chars", lambda g: [variant(g, kid="k" * 128)]),
    ("n-8192-bits", lambda g: [variant(g, kid="big", n=b64url_int((1 << 8191) | 1))]),
    ("e-3", lambda g: [variant(g, kid="e3", e=b64url_int(3))]),
    ("16-keys", lambda g: copies(g, 15)),
]


@pytest.mark.parametrize("extra", [b for _, b in GOOD_KEYS], ids=[i for i, _ in GOOD_KEYS])
async def test_acceptable_keys_at_the_limits(
    pool: LocalUserPool,
    endpoint: Endpoint,
    cache: JWKSCache,
    extra: Callable[[dict[str, Any]], list[Any]],
) -> None:
    entries = [good_entry(pool), *extra(good_entry(pool))]
    endpoint.reply = lambda: httpx.Response(200, json={"keys": entries})
    await cache.refresh()
    assert cache.kids == {entry["kid"] for entry in entries}
    for kid in cache.kids:
        assert await cache.get_key(kid) is cache.lookup(kid)
    assert endpoint.hits == 1


# -- transport errors and timeouts (W3, W11, W13) ------------------------------------------


ERRORS: list[tuple[str, Callable[[], Exception]]] = [
    ("connect-error", lambda: httpx.ConnectError("connection refused")),
    ("tls-error", lambda: httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]")),
    ("read-timeout", lambda: httpx.ReadTimeout("timed out")),
    ("remote-protocol-error", lambda: httpx.RemoteProtocolError("peer closed")),
    ("runtime-error", lambda: RuntimeError("boom")),
    ("key-error", lambda: KeyError("boom")),
]


@pytest.mark.parametrize("injected", [False, True], ids=["own-client", "injected-client"])
@pytest.mark.parametrize("error", [e for _, e in ERRORS], ids=[i for i, _ in ERRORS])
async def test_transport_exceptions_are_fetch_failures(
    pool: LocalUserPool,
    endpoint: Endpoint,
    clock: FakeClock,
    library_logs: pytest.LogCaptureFixture,
    error: Callable[[], Exception],
    injected: bool,
) -> None:
    async with httpx.AsyncClient(transport=endpoint.transport()) as client:
        if injected:
            cache = JWKSCache(pool.settings(), http_client=client, clock=clock)
        else:
            cache = endpoint.cache()
        await cache.refresh()
        key = await cache.get_key(pool.signing_kid)
        endpoint.error = error()
        clock.advance(600)
        assert await cache.get_key(pool.signing_kid) is key  # stale-on-error, no exception
        cold = JWKSCache(pool.settings(), transport=endpoint.transport(), clock=clock)
        with pytest.raises(JWKSUnavailableError):
            await cold.get_key(pool.signing_kid)
        assert not client.is_closed
    warnings = [r for r in library_logs.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all("JWKS fetch" in r.getMessage() and r.exc_info is None for r in warnings)


async def trickle(data: bytes) -> AsyncIterator[bytes]:
    for byte in data:  # a slowloris body: one byte per second
        yield bytes([byte])
        await anyio.sleep(1)


@pytest.mark.parametrize("mode", ["slow-headers", "trickling-body", "injected-client"])
async def test_slow_endpoint_fails_within_http_timeout(
    pool: LocalUserPool, endpoint: Endpoint, clock: FakeClock, mode: str
) -> None:
    settings = pool.settings(http_timeout=0.2)
    if mode == "trickling-body":
        body = json.dumps(pool.jwks()).encode()
        endpoint.reply = lambda: httpx.Response(200, content=trickle(body))
    else:
        endpoint.delay = 5
    started = time.monotonic()
    with anyio.fail_after(4):
        client = httpx.AsyncClient(transport=endpoint.transport(), timeout=None)  # noqa: S113
        async with client:
            if mode == "injected-client":
                cache = JWKSCache(settings, http_client=client, clock=clock)
            else:
                cache = JWKSCache(settings, transport=endpoint.transport(), clock=clock)
            results, _ = await run_concurrently(
                100, lambda _: cache.get_key(pool.signing_kid), endpoint
            )
    assert time.monotonic() - started < 2
    assert endpoint.hits == 1
    assert all(isinstance(result, JWKSUnavailableError) for result in results)


# -- the default client (respx) and a cache shared between verifiers -----------------------


async def test_default_transport_with_respx(
    pool: LocalUserPool, clock: FakeClock, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get(pool.jwks_url).mock(return_value=httpx.Response(200, json=pool.jwks()))
    cache = JWKSCache(pool.settings(), clock=clock)
    key = await cache.get_key(pool.signing_kid)
    assert await cache.get_key(pool.signing_kid) is key
    assert route.call_count == 1
    assert route.calls.last.request.headers["Accept"] == "application/json"
    assert route.calls.last.request.headers["Accept-Encoding"] == "identity"
    clock.advance(600)
    await cache.get_key(pool.signing_kid)
    assert route.call_count == 2


async def test_default_transport_does_not_follow_redirects(
    pool: LocalUserPool, clock: FakeClock
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(pool.jwks_url).mock(
            return_value=httpx.Response(302, headers={"Location": ATTACKER_URL})
        )
        attacker = mock.get(ATTACKER_URL).mock(return_value=httpx.Response(200, json=pool.jwks()))
        cache = JWKSCache(pool.settings(), clock=clock)
        with pytest.raises(JWKSUnavailableError):
            await cache.get_key(pool.signing_kid)
    assert attacker.call_count == 0


async def test_shared_cache_serves_two_verifiers_with_one_fetch(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache
) -> None:
    first = CognitoVerifier(pool.settings(), jwks=cache)
    second = CognitoVerifier(pool.settings(), jwks=cache)
    assert first.jwks is second.jwks is cache
    with pytest.raises(ConfigurationError):
        CognitoVerifier(pool.settings(), jwks=cache, transport=endpoint.transport())
    tokens = [pool.access_token(username=f"user{i}") for i in range(20)]

    async def verify(index: int) -> object:
        verifier = first if index % 2 else second
        return await verifier.verify(tokens[index], token_use="access")

    results, _ = await run_concurrently(20, verify, endpoint)
    assert not any(isinstance(result, Exception) for result in results)
    assert endpoint.hits == 1


# -- logging, lookup, cancellation ---------------------------------------------------------


async def test_failures_are_logged_as_warnings_without_key_material(
    pool: LocalUserPool,
    endpoint: Endpoint,
    cache: JWKSCache,
    clock: FakeClock,
    library_logs: pytest.LogCaptureFixture,
) -> None:
    good = good_entry(pool)
    await cache.refresh()
    replies: list[Callable[[], httpx.Response]] = [
        lambda: httpx.Response(500, json={"keys": [good]}),
        lambda: httpx.Response(200, content=b"<html>" + good["n"].encode() + b"</html>"),
        lambda: httpx.Response(200, json={"keys": [variant(good, "n", "e", kty="oct", k=SECRET)]}),
        lambda: httpx.Response(200, content=padded({"keys": [good]}, LIMIT + 1)),
    ]
    for reply in replies:
        endpoint.reply = reply
        clock.advance(3600)  # past the TTL and any backoff
        assert await cache.get_key(pool.signing_kid) is not None  # no exception
    failures = [r for r in library_logs.records if "JWKS fetch from" in r.getMessage()]
    assert len(failures) == len(replies)
    assert all(r.levelno == logging.WARNING and r.name == "fastapi_cognito_jwt" for r in failures)
    for record in library_logs.records:
        text = record.getMessage()
        assert good["n"] not in text and SECRET not in text and "<html>" not in text
        assert record.exc_info is None


async def test_lookup_only_answers_without_network(
    pool: LocalUserPool, endpoint: Endpoint, clock: FakeClock
) -> None:
    cache = endpoint.cache(jwks_ttl=600, jwks_max_stale=1200)
    assert cache.lookup(pool.signing_kid) is None
    await cache.refresh()
    key = cache.lookup(pool.signing_kid)
    assert key is not None
    assert cache.lookup("unknown") is None
    clock.advance(600)
    assert cache.lookup(pool.signing_kid) is None  # a fetch is due
    endpoint.error = httpx.ConnectError("down")
    assert await cache.get_key(pool.signing_kid) is key
    assert cache.lookup(pool.signing_kid) is key  # stale, while the backoff runs
    clock.advance(600)
    assert cache.lookup(pool.signing_kid) is None  # beyond jwks_max_stale
    assert endpoint.hits == 3  # the refresh, then one failed fetch retried once


async def test_a_cancelled_caller_does_not_fail_the_callers_waiting_on_its_fetch(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache
) -> None:
    # A client that disconnects cancels its request; the requests queued behind its fetch
    # must still get the key (they may fetch again), not a spurious 503.
    endpoint.gate = anyio.Event()
    scope = anyio.CancelScope()
    outcome: list[object] = []

    async def cancelled_caller() -> None:
        with scope:
            await cache.get_key(pool.signing_kid)

    async def waiter() -> None:
        try:
            outcome.append(await cache.get_key(pool.signing_kid))
        except Exception as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(cancelled_caller)
        await anyio.wait_all_tasks_blocked()  # it holds the fetch
        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()  # the waiter queues behind it
        scope.cancel()
        await anyio.wait_all_tasks_blocked()
        endpoint.gate.set()
    assert len(outcome) == 1
    assert not isinstance(outcome[0], Exception), repr(outcome[0])
    assert outcome[0] is cache.lookup(pool.signing_kid)


async def test_known_kids_do_not_wait_for_a_due_refresh(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache, clock: FakeClock
) -> None:
    await cache.refresh()
    clock.advance(600)  # jwks_ttl passed: a refresh is due; one caller performs it, the rest go on
    endpoint.gate = anyio.Event()
    served: list[object] = []

    async def refresher() -> None:
        served.append(await cache.get_key(pool.signing_kid))

    async with anyio.create_task_group() as group:
        group.start_soon(refresher)
        await anyio.wait_all_tasks_blocked()  # the refresh is under way, held at the gate
        for _ in range(50):
            assert cache.lookup(pool.signing_kid) is not None
            served.append(await cache.get_key(pool.signing_kid))
        assert len(served) == 50 and endpoint.hits == 2
        endpoint.gate.set()
    assert len(served) == 51
    assert cache.lookup(pool.signing_kid) is not None  # refreshed: nothing due any more
    assert endpoint.hits == 2


async def test_a_caller_cancelled_mid_fetch_does_not_abort_the_fetch(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache, clock: FakeClock
) -> None:
    await cache.refresh()
    clock.advance(30)
    rotated = pool.rotate_key()
    endpoint.gate = anyio.Event()
    scope = anyio.CancelScope()

    async def impatient() -> None:
        with scope:
            await cache.get_key(rotated)

    async with anyio.create_task_group() as group:
        group.start_soon(impatient)
        await anyio.wait_all_tasks_blocked()  # its fetch waits at the gate
        scope.cancel()
        await anyio.wait_all_tasks_blocked()
        assert cache.lookup(rotated) is None  # the fetch is still under way
        endpoint.gate.set()
    assert endpoint.hits == 2
    assert cache.lookup(rotated) is not None  # the fetch finished for everyone else
    with pytest.raises(KeyNotFoundError):  # and it started the cooldown
        await cache.get_key("made-up")
    assert endpoint.hits == 2


async def test_callers_queued_behind_a_miss_fetch_never_fetch_again(
    endpoint: Endpoint, cache: JWKSCache, clock: FakeClock
) -> None:
    await cache.refresh()
    clock.advance(30)
    endpoint.gate = anyio.Event()
    refused: list[str] = []

    async def unknown(kid: str) -> None:
        with pytest.raises(KeyNotFoundError):
            await cache.get_key(kid)
        refused.append(kid)

    async with anyio.create_task_group() as group:
        for number in range(50):
            group.start_soon(unknown, f"made-up-{number}")
        await anyio.wait_all_tasks_blocked()  # one fetch under way, 49 callers waiting on it
        endpoint.gate.set()
        for number in range(50, 100):  # more arrive while the waiters wake up
            group.start_soon(unknown, f"made-up-{number}")
    assert len(refused) == 100
    assert endpoint.hits == 2  # the warm-up and one miss fetch, whatever the timing
    clock.advance(30)  # the cooldown over: one more miss fetch
    await unknown("made-up-late")
    assert endpoint.hits == 3


async def test_refresh_waits_for_a_fetch_under_way_then_fetches_anew(
    pool: LocalUserPool, endpoint: Endpoint, cache: JWKSCache
) -> None:
    endpoint.gate = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(cache.get_key, pool.signing_kid)  # the cold fetch, held at the gate
        await anyio.wait_all_tasks_blocked()
        group.start_soon(cache.refresh)
        await anyio.wait_all_tasks_blocked()
        assert endpoint.hits == 1  # the refresh waits rather than fetching alongside
        endpoint.gate.set()
    assert endpoint.hits == 2  # then it fetches: a refresh is always a fresh fetch
