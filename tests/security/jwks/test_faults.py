"""JWKS endpoint failure modes, end to end: outages, slowness, statuses, rotation, herds.

Scenarios W1-W4, W7, W8, W12 and W13 of research/security.md §4 (W5, W6 and W9-W11 are in
test_jwks_faults_hostile.py). Each drives a FastAPI app protected by `CognitoBearer` and
asserts what clients get (200 with cached keys; 401 for an unknown kid; 503 with
`Retry-After` and a fixed body when no usable key can be had; never 500) and exactly how many
fetches the JWKS endpoint saw. The endpoint is a real HTTP/1.1 server on 127.0.0.1
(`jwks_server.JWKSServer`), except in W13, whose transports raise on purpose. TTLs, backoff
windows and cooldowns run on a fake clock given to `JWKSCache`, with the library's default
settings unless a test says otherwise; only the HTTP deadline (W3) takes real time.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest

from fastapi_cognito_jwt import JWKSCache
from tests.security.jwks_server import (
    AUTO,
    JWKS_PATH,
    CountingTransport,
    FakeClock,
    JWKSServer,
    Reply,
    app_client,
    assert_invalid,
    assert_ok,
    assert_unavailable,
    call,
    call_many,
    key_ring,
    make_app,
    running_server,
    wait_until,
)

pytestmark = [pytest.mark.security, pytest.mark.anyio]

TTL = 600.0  # the library's default jwks_ttl
DEADLINE = 2.0  # http_timeout of the slow-endpoint scenarios: more than the 1 s trickle gap


def fetch_warnings(logs: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in logs.records
        if record.levelno == logging.WARNING and "JWKS fetch from" in record.getMessage()
    ]


# -- W1: down at startup ------------------------------------------------------------------


@pytest.mark.parametrize("outage", ["connection-refused", "dns-failure"])
async def test_w1_down_at_startup_fails_with_503_backs_off_and_recovers(
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    library_logs: pytest.LogCaptureFixture,
    outage: str,
) -> None:
    ring = key_ring()
    token = ring.token("k1")
    resolvable = False
    with running_server(listening=False) as server:
        fields: dict[str, Any] = {}
        if outage == "connection-refused":
            url = server.url()
            recover = server.up
        else:
            # The server listens; the name does not resolve until it "recovers".
            server.up()
            url = f"http://jwks.invalid:{server.port}{JWKS_PATH}"
            fields["allow_insecure_jwks_url"] = True
            real_getaddrinfo = socket.getaddrinfo

            def getaddrinfo(host: bytes | str | None, port: Any, *args: Any, **kw: Any) -> Any:
                name = host.decode() if isinstance(host, bytes) else host
                if name == "jwks.invalid":
                    if not resolvable:
                        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
                    host = "127.0.0.1"
                return real_getaddrinfo(host, port, *args, **kw)

            def recover() -> None:
                nonlocal resolvable
                resolvable = True

            monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        transport = CountingTransport(clock)
        cache = ring.cache(url, clock, transport=transport, **fields)
        app = make_app(cache, warm_up=True)
        start = clock.now
        async with app.router.lifespan_context(app), app_client(app) as client:
            # The app starts; the failed warm-up is logged, and is not fatal.
            assert app.state.warm_up_failed
            assert len(fetch_warnings(library_logs)) == 1
            assert (await client.get("/public")).status_code == 200
            # One fetch: its connection was retried once at once. Then the 5 s window.
            assert transport.attempts == [start, start]
            # No keys at all: a kid the pool never published is a 503 as well.
            for response in await call_many(client, [token] * 50 + [ring.token("kx")] * 5):
                assert_unavailable(response, 5, 5)
            clock.advance(5)  # the window is over: one fetch for 50 concurrent requests
            for response in await call_many(client, [token] * 50):
                assert_unavailable(response, 10, 10)
            assert transport.attempts == [start] * 2 + [start + 5] * 2
            recover()
            clock.advance(5)  # the endpoint is back, but the window runs until +15 s
            assert_unavailable(await call(client, token), 5, 5)
            assert server.hits() == 0
            clock.advance(5)
            for response in await call_many(client, [token] * 50):
                assert_ok(response)
            assert_ok(await call(client, ring.token("k2")), "k2")
    assert transport.attempts == [start] * 2 + [start + 5] * 2 + [start + 15]
    assert server.hits() == 1


# -- W2: down after a warm cache ----------------------------------------------------------


@pytest.mark.parametrize("outage", ["connection-refused", "http-500"])
async def test_w2_down_after_warm_cache_serves_stale_keys_until_max_stale(
    server: JWKSServer, clock: FakeClock, outage: str
) -> None:
    ring = key_ring()
    k1, unknown = ring.token("k1"), ring.token("k3")
    transport = CountingTransport(clock)
    cache = ring.cache(server.url(), clock, transport=transport, jwks_max_stale=3600)
    start = clock.now
    async with app_client(make_app(cache)) as client:
        assert_ok(await call(client, k1))
        if outage == "connection-refused":
            server.down()
        else:  # a 500 whose body would publish k3: never parsed
            server.serve(Reply(500, ring.body("k1", "k2", "k3")))
        clock.advance(TTL)
        # A request every 10 s from the TTL up to jwks_max_stale: all served from stale keys.
        for step in range(300):
            assert_ok(await call(client, k1))
            if step % 10 == 0:
                assert_ok(await call(client, ring.token("k2")), "k2")
                assert_invalid(await call(client, unknown))  # 401, not 503: keys are usable
            clock.advance(10)
        # A failed refresh at the first request after each window (5, 10, 20, 40, 80, 160,
        # then 300 s): 15 in 3000 s, against 330 requests.
        fetches = [600, 610, 620, 640, 680, 760, 920, 1220, 1520, 1820, 2120, 2420, 2720]
        fetches += [3020, 3320]
        per_fetch = 2 if outage == "connection-refused" else 1  # a refused connect is retried
        expected = [0.0] + [at for at in fetches for _ in range(per_fetch)]
        assert [at - start for at in transport.attempts] == expected
        assert server.hits() == (1 if outage == "connection-refused" else 16)
        # jwks_max_stale reached: fail closed, known kid or not, until the window at 3620 s.
        assert clock.now - start == 3600
        assert_unavailable(await call(client, k1), 20, 20)
        assert_unavailable(await call(client, unknown), 20, 20)
        assert len(transport.attempts) == len(expected)
        if outage == "connection-refused":
            server.up()
        else:
            server.serve(ring.reply("k1", "k2"))
        clock.advance(20)
        assert_ok(await call(client, k1))  # the recovery fetch starts the unknown-kid cooldown
        assert_invalid(await call(client, unknown))
        assert len(transport.attempts) == len(expected) + 1
        clock.advance(30)
        assert_invalid(await call(client, unknown))  # one unknown-kid refetch, then cooldown
        assert_invalid(await call(client, unknown))
    assert len(transport.attempts) == len(expected) + 2
    assert server.hits() == (3 if outage == "connection-refused" else 18)


# -- W3: a slow endpoint ------------------------------------------------------------------


async def test_w3_slow_reply_one_fetch_all_503_within_the_deadline_app_responsive(
    server: JWKSServer, clock: FakeClock
) -> None:
    ring = key_ring()
    server.serve(Reply(body=ring.body("k1", "k2"), delay=10))
    cache = ring.cache(server.url(), clock, http_timeout=DEADLINE)
    responses: list[httpx.Response] = []
    finished: list[float] = []

    async def protected(client: httpx.AsyncClient, token: str) -> None:
        responses.append(await call(client, token))
        finished.append(time.monotonic())

    async with app_client(make_app(cache)) as client:
        started = time.monotonic()
        async with anyio.create_task_group() as group:
            for index in range(100):
                group.start_soon(protected, client, ring.token("k1" if index % 2 else "k2"))
            await wait_until(lambda: server.hits() == 1)
            asked = time.monotonic()
            public = await client.get("/public")
            public_latency = time.monotonic() - asked
            waiting = 100 - len(finished)
        # Inside the backoff window that followed: refused at once, without fetching.
        assert_unavailable(await call(client, ring.token("k1")), 5, 5)
    assert public.status_code == 200
    assert waiting == 100  # the unprotected route answered while all 100 waited on the fetch
    assert public_latency < DEADLINE
    assert len(responses) == 100
    for response in responses:
        assert_unavailable(response, 5, 5)
    assert DEADLINE * 0.9 <= max(finished) - started < DEADLINE + 3
    assert server.hits() == 1 and len(server.connections) == 1
    # The library hung up at its deadline rather than waiting out the 10 s.
    connection = server.connections[0]
    await wait_until(lambda: connection.hung_up_at is not None)
    assert connection.hung_up_at is not None and not connection.complete
    assert connection.hung_up_at - connection.opened_at < DEADLINE + 3


@pytest.mark.parametrize("part", ["body", "head"])
async def test_w3_slowloris_one_byte_per_second_is_cut_by_the_whole_fetch_deadline(
    server: JWKSServer,
    clock: FakeClock,
    library_logs: pytest.LogCaptureFixture,
    part: str,
) -> None:
    # Each byte comes within httpx's per-read timeout (DEADLINE > 1 s): only the deadline on
    # the whole fetch can end it. A 1 KiB JWKS at 1 byte/s would take 17 minutes.
    ring = key_ring()
    if part == "body":
        reply = Reply(body=ring.body("k1", "k2"), body_trickle=1.0)
    else:
        reply = Reply(body=ring.body("k1", "k2"), head_trickle=1.0)
    server.serve(reply)
    cache = ring.cache(server.url(), clock, http_timeout=DEADLINE)
    async with app_client(make_app(cache)) as client:
        started = time.monotonic()
        responses = await call_many(client, [ring.token("k1")] * 100)
        elapsed = time.monotonic() - started
        assert (await client.get("/public")).status_code == 200
    for response in responses:
        assert_unavailable(response, 5, 5)
    assert DEADLINE * 0.9 <= elapsed < DEADLINE + 3
    assert server.hits() == 1 and len(server.connections) == 1
    assert fetch_warnings(library_logs) == [
        f"JWKS fetch from {server.url()} failed (TimeoutError); next attempt in 5 s"
    ]
    connection = server.connections[0]
    await wait_until(lambda: connection.hung_up_at is not None)
    assert not connection.complete
    trickled = connection.bytes_sent - (len(reply.head) if part == "body" else 0)
    assert 1 <= trickled <= DEADLINE + 2  # a byte a second until the library hung up


async def test_w3_slow_refresh_known_kids_do_not_wait_for_it(
    server: JWKSServer, clock: FakeClock
) -> None:
    ring = key_ring()
    cache = ring.cache(server.url(), clock, http_timeout=DEADLINE)
    refreshed: list[httpx.Response] = []
    async with app_client(make_app(cache)) as client:
        assert_ok(await call(client, ring.token("k1")))
        server.serve(Reply(body=ring.body("k1", "k2"), delay=10))
        clock.advance(TTL)

        async def refresher() -> None:
            refreshed.append(await call(client, ring.token("k1")))

        async with anyio.create_task_group() as group:
            group.start_soon(refresher)
            await wait_until(lambda: server.hits() == 2)
            # The refresh hangs; everyone else goes on with the keys already held.
            for response in await call_many(client, [ring.token("k2")] * 50):
                assert_ok(response, "k2")
            assert (await client.get("/public")).status_code == 200
            assert refreshed == []
        # An unknown kid joins the refresh under way (and, once it failed, is refused).
        assert_invalid(await call(client, ring.token("k3")))
    assert len(refreshed) == 1
    assert_ok(refreshed[0])  # the refresh failed at its deadline: stale keys, not a 503
    assert server.hits() == 2


# -- W4: non-200 statuses -----------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 404, 429, 204])
async def test_w4_non_200_status_is_a_fetch_failure_never_parsed(
    server: JWKSServer, clock: FakeClock, transport: httpx.AsyncHTTPTransport, status: int
) -> None:
    ring = key_ring()
    cache = ring.cache(server.url(), clock, transport=transport)
    async with app_client(make_app(cache)) as client:
        assert_ok(await call(client, ring.token("k1")))
        # The reply would add k3 if its body were parsed (204 carries no body at all).
        body = b"" if status == 204 else ring.body("k1", "k2", "k3")
        server.serve(Reply(status, body, content_length=None if status == 204 else AUTO))
        clock.advance(TTL)
        assert_ok(await call(client, ring.token("k1")))  # the previous keys are kept
        assert_invalid(await call(client, ring.token("k3")))
        assert server.hits() == 2
        clock.advance(4)  # inside the 5 s backoff window: no fetch
        assert_ok(await call(client, ring.token("k2")), "k2")
        assert server.hits() == 2
        clock.advance(1)
        assert_ok(await call(client, ring.token("k2")), "k2")
        assert server.hits() == 3
    async with app_client(make_app(ring.cache(server.url(), clock, transport=transport))) as cold:
        for _ in range(2):
            assert_unavailable(await call(cold, ring.token("k1")), 5, 5)
    assert server.hits() == 4


# -- W7: rotation; W8: removal ------------------------------------------------------------


async def test_w7_rotation_costs_exactly_one_refetch(
    server: JWKSServer, clock: FakeClock, transport: httpx.AsyncHTTPTransport
) -> None:
    ring = key_ring()
    server.serve(ring.reply("k1"))
    async with app_client(make_app(ring.cache(server.url(), clock, transport=transport))) as client:
        assert_ok(await call(client, ring.token("k1")))
        clock.advance(30)  # past the unknown-kid cooldown that the first fetch started
        server.serve(ring.reply("k1", "k3"))  # Cognito publishes k3 and starts signing with it
        for response in await call_many(client, [ring.token("k3")] * 100):
            assert_ok(response, "k3")
        assert server.hits() == 2
        assert_ok(await call(client, ring.token("k1")))
        assert_ok(await call(client, ring.token("k3")), "k3")
    assert server.hits() == 2


async def test_w7_rotation_inside_the_cooldown_is_401_until_it_ends(
    server: JWKSServer, clock: FakeClock, transport: httpx.AsyncHTTPTransport
) -> None:
    ring = key_ring()
    server.serve(ring.reply("k1"))
    async with app_client(make_app(ring.cache(server.url(), clock, transport=transport))) as client:
        assert_ok(await call(client, ring.token("k1")))  # every fetch starts the cooldown
        server.serve(ring.reply("k1", "k3"))
        assert_invalid(await call(client, ring.token("k3")))  # refused without a fetch
        assert server.hits() == 1
        clock.advance(29)  # the default jwks_miss_cooldown is 30 s
        assert_invalid(await call(client, ring.token("k3")))
        assert_ok(await call(client, ring.token("k1")))  # known kids never wait on it
        assert server.hits() == 1
        clock.advance(1)
        assert_ok(await call(client, ring.token("k3")), "k3")  # one refetch...
        assert server.hits() == 2
        assert_invalid(await call(client, ring.token("kx")))  # ...which starts it again
        assert server.hits() == 2


async def test_w8_removed_key_is_refused_after_the_ttl_refresh(
    server: JWKSServer, clock: FakeClock, transport: httpx.AsyncHTTPTransport
) -> None:
    ring = key_ring()
    async with app_client(make_app(ring.cache(server.url(), clock, transport=transport))) as client:
        assert_ok(await call(client, ring.token("k1")))
        server.serve(ring.reply("k2"))  # k1 withdrawn (say, compromised)
        clock.advance(TTL - 1)
        assert_ok(await call(client, ring.token("k1")))  # not refetched within the TTL
        assert server.hits() == 1
        clock.advance(1)
        assert_invalid(await call(client, ring.token("k1")))  # the TTL refresh dropped it
        assert server.hits() == 2
        assert_ok(await call(client, ring.token("k2")), "k2")
        assert_invalid(await call(client, ring.token("k1")))  # the refresh started the cooldown
        assert server.hits() == 2
        clock.advance(30)
        assert_invalid(await call(client, ring.token("k1")))  # one unknown-kid refetch...
        assert server.hits() == 3
        assert_invalid(await call(client, ring.token("k1")))  # ...then the cooldown
        assert server.hits() == 3


async def test_w8_forced_refresh_drops_a_removed_key_at_once(
    server: JWKSServer, clock: FakeClock, transport: httpx.AsyncHTTPTransport
) -> None:
    ring = key_ring()
    cache = ring.cache(server.url(), clock, transport=transport)
    async with app_client(make_app(cache)) as client:
        assert_ok(await call(client, ring.token("k1")))
        server.serve(ring.reply("k2"))
        await cache.refresh()
        assert cache.kids == {"k2"}
        assert_invalid(await call(client, ring.token("k1")))
        assert_ok(await call(client, ring.token("k2")), "k2")
    assert server.hits() == 2  # the first fetch and the refresh, which started the cooldown


# -- W12: thundering herd -----------------------------------------------------------------


async def test_w12_thousand_concurrent_cold_requests_make_exactly_one_fetch(
    server: JWKSServer, clock: FakeClock
) -> None:
    ring = key_ring()
    tokens = [ring.token("k1"), ring.token("k2")]
    kids = [("k1", "k2")[index % 2] for index in range(1000)]
    responses: list[httpx.Response | None] = [None] * 1000

    async def one(client: httpx.AsyncClient, index: int) -> None:
        responses[index] = await call(client, tokens[index % 2])

    server.hold()  # the reply waits until all 1000 requests are waiting for it
    async with app_client(make_app(ring.cache(server.url(), clock))) as client:
        async with anyio.create_task_group() as group:
            for index in range(1000):
                group.start_soon(one, client, index)
            await wait_until(lambda: server.hits() == 1)
            await anyio.wait_all_tasks_blocked()
            assert responses == [None] * 1000
            server.release()
    for response, kid in zip(responses, kids, strict=True):
        assert response is not None
        assert_ok(response, kid)
    assert server.hits() == 1 and len(server.connections) == 1


# -- W13: the fetch raises something unexpected --------------------------------------------


class FailingStream(httpx.AsyncByteStream):
    """A body that breaks off with an unexpected exception."""

    def __init__(self, error: Callable[[], Exception]) -> None:
        self.error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"keys": ['
        raise self.error()


class FailingTransport(httpx.AsyncBaseTransport):
    """Serves the baseline JWKS until `failing`; then raises, or breaks off the body."""

    def __init__(self, error: Callable[[], Exception], *, in_body: bool) -> None:
        self.error = error
        self.in_body = in_body
        self.failing = False
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if not self.failing:
            return httpx.Response(200, json=key_ring().document("k1", "k2"))
        if self.in_body:
            return httpx.Response(200, stream=FailingStream(self.error))
        raise self.error()


UNEXPECTED: list[tuple[str, Callable[[], Exception]]] = [
    ("RuntimeError", lambda: RuntimeError("boom")),
    ("KeyError", lambda: KeyError("boom")),
    ("ValueError", lambda: ValueError("boom")),
    ("TypeError", lambda: TypeError("boom")),
    ("AttributeError", lambda: AttributeError("boom")),
    ("OSError", lambda: OSError(5, "boom")),
]


@pytest.mark.parametrize("where", ["send", "body", "injected-client"])
@pytest.mark.parametrize("error", [e for _, e in UNEXPECTED], ids=[i for i, _ in UNEXPECTED])
async def test_w13_unexpected_exception_is_a_fetch_failure_never_a_500(
    clock: FakeClock,
    library_logs: pytest.LogCaptureFixture,
    error: Callable[[], Exception],
    where: str,
) -> None:
    ring = key_ring()
    url = ring.pool.jwks_url  # never reached: the transport answers
    transport = FailingTransport(error, in_body=where == "body")
    async with httpx.AsyncClient(transport=transport) as http_client:

        def cache() -> JWKSCache:
            if where == "injected-client":
                return ring.cache(url, clock, http_client=http_client)
            return ring.cache(url, clock, transport=transport)

        async with app_client(make_app(cache())) as client:
            assert_ok(await call(client, ring.token("k1")))
            transport.failing = True
            clock.advance(TTL)
            assert_ok(await call(client, ring.token("k1")))  # stale keys, no exception
            assert_invalid(await call(client, ring.token("k3")))
        assert transport.calls == 2  # an unexpected error is not retried
        async with app_client(make_app(cache())) as cold:
            assert_unavailable(await call(cold, ring.token("k1")), 5, 5)
        assert transport.calls == 3
    name = type(error()).__name__
    warnings = fetch_warnings(library_logs)
    assert len(warnings) == 2 and all(f"failed ({name})" in text for text in warnings)
    assert "boom" not in library_logs.text
    assert all(record.exc_info is None for record in library_logs.records)
