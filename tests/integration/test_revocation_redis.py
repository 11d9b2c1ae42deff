"""`RedisRevocationList` against a real `redis-server`: replicas in one process, and faults.

Each "replica" is a verifier with its own list and its own Redis client. In the default mode
no revoked token may ever be accepted: the replica that recorded it refuses it at once, and a
replica out of touch with Redis for longer than `revocation_max_stale` refuses every token.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from redis.asyncio import Redis

import fastapi_cognito_jwt as fcj
from examples.fastcognito.emulator import free_port
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.helpers import UNAVAILABLE, bearer, send
from tests.integration.conftest import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

STALE = 1.0  # revocation_max_stale in these tests: short, so that faults show quickly


@contextlib.asynccontextmanager
async def replica(
    pool: LocalUserPool, url: str, *, wait: float | None = None, timeout: float = 3, **settings: Any
) -> AsyncIterator[fcj.CognitoVerifier]:
    """A verifier with a started Redis list of its own; both closed afterwards."""
    settings.setdefault("revocation_max_stale", STALE)
    config = pool.settings(**settings)
    client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=1)
    revocations = fcj.RedisRevocationList(config, redis=client)
    verifier = fcj.CognitoVerifier(config, transport=pool.transport(), revocations=revocations)
    await revocations.start(wait=wait)
    try:
        yield verifier
    finally:
        await revocations.aclose()
        await client.aclose()


async def outcome(verifier: fcj.CognitoVerifier, token: str) -> str:
    """ "ok", "revoked" or "unavailable"."""
    try:
        await verifier.verify(token, token_use="access")
    except fcj.TokenRevokedError:
        return "revoked"
    except fcj.RevocationUnavailableError:
        return "unavailable"
    return "ok"


async def eventually(check: Callable[[], Awaitable[bool]], within: float) -> float:
    """Seconds until `check` holds; fails after `within`."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < within, "condition not reached in time"
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def session_token(pool: LocalUserPool) -> tuple[str, str]:
    claims = pool.access_claims()
    return pool.sign(claims), claims["origin_jti"]


async def test_a_revocation_reaches_the_other_replica_and_a_new_one(
    pool: LocalUserPool, redis_server: RedisServer
) -> None:
    token, origin_jti = session_token(pool)
    now = int(time.time())
    bob = pool.access_token(username="bob", claims={"iat": now - 10, "auth_time": now - 10})
    async with replica(pool, redis_server.url) as a, replica(pool, redis_server.url) as b:
        assert await outcome(b, token) == "ok"
        await a.revocations.revoke_session(origin_jti)
        assert await outcome(a, token) == "revoked"
        assert await eventually(lambda: _is(b, token, "revoked"), 1.0) < 1.0
        claims = await b.verify(bob, token_use="access")
        await b.revocations.revoke_user(claims.iss, claims.sub)  # the other way, a user
        assert await eventually(lambda: _is(a, bob, "revoked"), 1.0) < 1.0
    async with replica(pool, redis_server.url) as c:  # started afterwards: loads the list
        assert await outcome(c, token) == "revoked"
        assert await outcome(c, bob) == "revoked"
        assert isinstance(c.revocations, fcj.RedisRevocationList)
        assert c.revocations.in_touch


async def test_the_list_as_a_context_manager_and_its_prefix(
    pool: LocalUserPool, redis_server: RedisServer
) -> None:
    async with Redis.from_url(redis_server.url) as client:
        for prefix in ("", "a*", "b[1]"):
            with pytest.raises(fcj.ConfigurationError):
                fcj.RedisRevocationList(pool.settings(), redis=client, prefix=prefix)
        revocations = fcj.RedisRevocationList(pool.settings(), redis=client, prefix="app1")
        async with revocations:
            assert revocations.in_touch
            await revocations.revoke_session("s1")
            assert await client.exists("app1:s:s1")
        assert revocations._task is None


async def _is(verifier: fcj.CognitoVerifier, token: str, expected: str) -> bool:
    return await outcome(verifier, token) == expected


async def test_unreachable_at_start_refuses_with_503_until_redis_is_there(
    pool: LocalUserPool, redis_server: RedisServer
) -> None:
    token, origin_jti = session_token(pool)
    down = RedisServer(free_port())
    async with replica(pool, down.url, wait=0.2) as a:
        assert await outcome(a, token) == "unavailable"
        app = FastAPI()
        auth = fcj.CognitoBearer(verifier=a, token_use="access")

        @app.get("/", dependencies=[Depends(auth)])
        async def index() -> dict[str, str]:
            return {}

        answer = await send(app, "/", bearer(token))
        assert (answer.status_code, answer.json()) == (503, UNAVAILABLE)
        assert int(answer.headers["retry-after"]) >= 1
        # Revoked while Redis is away: refused here at once, written to Redis once it is up.
        await a.revocations.revoke_session(origin_jti)
        assert await outcome(a, token) == "revoked"
        other, _ = session_token(pool)
        down.start()
        try:
            await eventually(lambda: _is(a, other, "ok"), 5.0)
            async with replica(pool, down.url) as b:
                assert await outcome(b, token) == "revoked"
        finally:
            down.kill()


async def test_killed_mid_way_then_restarted_empty(
    pool: LocalUserPool, redis_server: RedisServer
) -> None:
    token, origin_jti = session_token(pool)
    valid, _ = session_token(pool)
    async with replica(pool, redis_server.url) as a, replica(pool, redis_server.url) as b:
        await a.revocations.revoke_session(origin_jti)
        await eventually(lambda: _is(b, token, "revoked"), 1.0)
        redis_server.kill()
        # Until the bound the local copy serves; after it, every token is refused (503);
        # the revoked one is never accepted.
        seen = set()
        deadline = time.monotonic() + STALE + 1.0
        while time.monotonic() < deadline:
            assert await outcome(b, token) == "revoked"
            seen.add(await outcome(b, valid))
            await asyncio.sleep(0.02)
        assert seen == {"ok", "unavailable"}
        assert await outcome(b, valid) == "unavailable"
        # Redis comes back empty: the replicas write back what they hold.
        redis_server.start()
        await eventually(lambda: _is(a, valid, "ok"), 5.0)
        await eventually(lambda: _is(b, valid, "ok"), 5.0)
        assert await outcome(b, token) == "revoked"
        async with replica(pool, redis_server.url) as c:
            assert await outcome(c, token) == "revoked"


async def test_fail_open_keeps_serving_on_the_local_copy(
    pool: LocalUserPool, redis_server: RedisServer, library_logs: pytest.LogCaptureFixture
) -> None:
    token, origin_jti = session_token(pool)
    valid, _ = session_token(pool)
    async with replica(pool, redis_server.url, revocation_fail_open=True) as a:
        await a.revocations.revoke_session(origin_jti)
        redis_server.kill()
        await asyncio.sleep(STALE + 0.3)
        assert await outcome(a, valid) == "ok"
        assert await outcome(a, token) == "revoked"  # what the copy holds is still refused
    assert "failing open" in library_logs.text


class SlowProxy:
    """A TCP proxy to Redis that holds each reply back for `delay` seconds."""

    def __init__(self, upstream_port: int, delay: float) -> None:
        self.upstream_port, self.delay = upstream_port, delay
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> SlowProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        for task in (
            asyncio.create_task(self._pipe(reader, up_writer, 0.0)),
            asyncio.create_task(self._pipe(up_reader, writer, self.delay)),
        ):
            self.tasks.add(task)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
    ) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()

        delivering = asyncio.create_task(deliver())
        try:
            while data := await reader.read(65536):
                queue.put_nowait((time.monotonic() + delay, data))
            while not queue.empty():
                await asyncio.sleep(0.05)
        finally:
            delivering.cancel()
            writer.close()


async def test_slow_replies_of_one_second(pool: LocalUserPool, redis_server: RedisServer) -> None:
    token, origin_jti = session_token(pool)
    valid, _ = session_token(pool)
    async with SlowProxy(redis_server.port, 1.0) as proxy:
        slow_url = f"redis://127.0.0.1:{proxy.port}/0"
        # Each command takes a second, the connection handshake included: wait for the load.
        settings = {"revocation_max_stale": 5.0, "timeout": 5, "wait": 20}
        async with (
            replica(pool, slow_url, **settings) as a,
            replica(pool, slow_url, **settings) as b,
        ):
            assert await outcome(b, valid) == "ok"
            started = time.monotonic()
            await a.revocations.revoke_session(origin_jti)
            assert time.monotonic() - started >= 1.0  # the write did wait for Redis
            assert await outcome(a, token) == "revoked"
            await eventually(lambda: _is(b, token, "revoked"), 3.0)
            # Slow, not out of touch: for longer than a few replies, valid tokens still pass.
            for _ in range(30):
                assert await outcome(b, valid) == "ok"
                assert await outcome(a, token) == "revoked"
                await asyncio.sleep(0.1)


async def test_a_flood_of_ten_thousand_revocations(
    pool: LocalUserPool, redis_server: RedisServer
) -> None:
    claims = pool.access_claims()
    sessions = [f"flood-{i:05}" for i in range(10_000)]
    async with replica(pool, redis_server.url) as a, replica(pool, redis_server.url) as b:
        started = time.monotonic()
        await asyncio.gather(*(a.revocations.revoke_session(s) for s in sessions))
        recorded = time.monotonic() - started
        await eventually(lambda: _counts(b, 10_000), 10.0)
        for origin_jti in (sessions[0], sessions[-1]):
            assert await outcome(b, pool.sign({**claims, "origin_jti": origin_jti})) == "revoked"
        assert await outcome(b, pool.sign(claims)) == "ok"
        assert recorded < 30
    async with replica(pool, redis_server.url) as c:
        assert len(c.revocations) == 10_000


async def _counts(verifier: fcj.CognitoVerifier, expected: int) -> bool:
    return len(verifier.revocations) == expected


async def test_what_is_not_an_entry_is_ignored_and_logged(
    pool: LocalUserPool, redis_server: RedisServer, library_logs: pytest.LogCaptureFixture
) -> None:
    prefix = "fastapi-cognito-jwt:revoked"
    garbage = [b"{", b"[]", b'{"kind":"session","key":"","iss":"","at":0,"exp":1e12}',
               b'{"kind":"user","key":"u","iss":"","at":0,"exp":1e12}',
               b'{"kind":"other","key":"k","iss":"","at":0,"exp":1e12}',
               b'{"kind":"session","key":"k","iss":"","at":0,"exp":"NaN"}']  # fmt: skip
    async with Redis.from_url(redis_server.url) as writer:
        for index, value in enumerate(garbage):
            await writer.set(f"{prefix}:s:bad{index}", value)
        async with replica(pool, redis_server.url) as a:
            assert len(a.revocations) == 0
            await writer.publish(f"{prefix}:events", b"not json")
            token, origin_jti = session_token(pool)
            await a.revocations.revoke_session(origin_jti)  # still works
            assert await outcome(a, token) == "revoked"
    assert library_logs.text.count("ignored an entry that is not one") == len(garbage) + 1
