"""JWKS faults that need real sockets: deadlines, dropped connections, HTTP framing and TLS.
The cache runs on a `FakeClock`, with the backoff jitter pinned: the first window is 5 s."""

import concurrent.futures
import dataclasses
import datetime
import ipaddress
import json
import random
import re
import ssl
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from fastapi_cognito_jwt import JWKSCache, JWKSUnavailableError
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.helpers import FakeClock
from tests.security.jwks_server import JWKS_PATH, JWKSServer, Reply

pytestmark = [pytest.mark.security, pytest.mark.anyio]

DEADLINE, TRICKLE, TEN_MIB = 1.0, 0.25, 10 * 2**20  # a trickle's gaps are within the deadline
Logs = pytest.LogCaptureFixture
PEM, PKCS8 = Encoding.PEM, PrivateFormat.PKCS8
EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </jwks.json>; rel=preload\r\n\r\n"


@pytest.fixture(autouse=True)
def _pinned_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: (low + high) / 2)


@pytest.fixture
def server(pool: LocalUserPool) -> Iterator[JWKSServer]:
    with JWKSServer() as running:
        running.serve(Reply(body=json.dumps(pool.jwks()).encode()))
        yield running


class Counting(httpx2.AsyncHTTPTransport):
    """The real network transport, counting requests (as no server can when it is down)."""

    sent = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.sent += 1
        return await super().handle_async_request(request)


def failures(logs: Logs) -> list[str]:
    return [r.getMessage() for r in logs.records if r.getMessage().startswith("JWKS fetch from")]


async def wait_until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        while not condition():
            await anyio.sleep(0.005)


@pytest.mark.parametrize(
    ("reply", "injected"),
    [
        pytest.param(Reply(delay=10), False, id="slow-reply"),
        pytest.param(Reply(trickle=TRICKLE), False, id="head-a-byte-at-a-time"),
        pytest.param(Reply(trickle=TRICKLE, trickle_body=True), False, id="body-a-byte-at-a-time"),
        pytest.param(Reply(trickle=TRICKLE, trickle_body=True), True, id="to-a-client-no-timeout"),
        pytest.param(Reply(content_length="60000", hang=True), False, id="short-body-then-quiet"),
        pytest.param(Reply(endless=EARLY_HINTS), False, id="endless-1xx-replies"),
    ],
)
async def test_a_slow_endpoint_is_cut_at_the_deadline_and_not_retried(
    pool: LocalUserPool, server: JWKSServer, library_logs: Logs, reply: Reply, injected: bool
) -> None:
    server.serve(dataclasses.replace(reply, body=server.routes[JWKS_PATH].body))
    settings = pool.settings(jwks_url=server.url(), http_timeout=DEADLINE)
    waits: list[float] = []
    async with httpx2.AsyncClient(timeout=None) as own:  # the deadline applies all the same
        cache = JWKSCache(settings, http_client=own if injected else None, clock=FakeClock())

        async def one() -> None:
            with pytest.raises(JWKSUnavailableError) as info:
                await cache.get_key(pool.signing_kid)
            waits.append(info.value.retry_after)

        started = time.monotonic()
        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(one)
            await wait_until(lambda: server.hits() == 1)
            assert waits == []  # the event loop runs on while all 50 wait on the one fetch
        elapsed = time.monotonic() - started
        with pytest.raises(JWKSUnavailableError):  # inside the backoff window: no fetch
            await cache.get_key(pool.signing_kid)
    assert DEADLINE * 0.9 <= elapsed < DEADLINE + 2 and waits == [5] * 50
    [connection] = server.connections
    await wait_until(lambda: connection.hung_up_at is not None)  # the library hung up
    hung_up, opened = connection.hung_up_at, connection.opened_at
    assert server.hits() == 1 and hung_up is not None and hung_up - opened < DEADLINE + 2
    [failure] = failures(library_logs)  # the deadline of the fetch, or a read as long
    assert re.fullmatch(
        r"JWKS.* failed \((TimeoutError|ReadTimeout)\); next attempt in 5 s", failure
    )


@pytest.mark.parametrize(
    ("fault", "per_fetch", "reason"),
    [
        ("refused", 2, "ConnectError"),  # a dropped connection is retried once, at once
        ("closed-without-reply", 2, "RemoteProtocolError"),
        ("1KiB-body-claiming-60000-bytes", 2, "RemoteProtocolError"),
        ("10MiB-header", 2, "RemoteProtocolError"),
        ("10MiB-body-without-length", 1, "response larger than the JWKS size limit"),
        ("10MiB-body-claiming-1000-bytes", 1, "response is not a JSON object"),
    ],
)
async def test_a_broken_reply_fails_the_fetch_in_bounded_memory(
    pool: LocalUserPool,
    server: JWKSServer,
    library_logs: Logs,
    fault: str,
    per_fetch: int,
    reason: str,
) -> None:
    good, huge = server.routes[JWKS_PATH], b'{"keys": [' + b" " * TEN_MIB + b"]}"
    recover = server.up if fault == "refused" else lambda: server.serve(good)
    if fault == "refused":
        server.down()
    elif fault == "closed-without-reply":
        server.serve(Reply(drop=True))
    elif fault == "1KiB-body-claiming-60000-bytes":  # then the server hangs up
        server.serve(dataclasses.replace(good, content_length="60000"))
    elif fault == "10MiB-header":
        server.serve(dataclasses.replace(good, headers=(("X-Pad", "a" * TEN_MIB),)))
    else:
        server.serve(Reply(body=huge, content_length=None if "without" in fault else "1000"))
    transport, clock = Counting(), FakeClock()
    cache = JWKSCache(pool.settings(jwks_url=server.url()), transport=transport, clock=clock)
    tracemalloc.start()
    try:
        with pytest.raises(JWKSUnavailableError) as info:
            await cache.get_key(pool.signing_kid)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 2**20, peak  # about the 64 KiB cap, nowhere near 10 MiB
    assert info.value.retry_after == 5 and transport.sent == per_fetch
    recover()
    clock.advance(5)
    assert await cache.get_key(pool.signing_kid) is not None
    assert transport.sent == per_fetch + 1
    assert server.hits() == (1 if fault == "refused" else per_fetch + 1)
    assert failures(library_logs) == [
        f"JWKS fetch from {server.url()} failed ({reason}); next attempt in 5 s"
    ]


def untrusted_tls(directory: Path) -> tuple[ssl.SSLContext, str]:
    """A server context with a self-signed certificate for 127.0.0.1, and the certificate."""
    key, name = ec.generate_private_key(ec.SECP256R1()), x509.Name.from_rfc4514_string("CN=x")
    now, day = datetime.datetime.now(datetime.UTC), datetime.timedelta(days=1)
    ip = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    builder = x509.CertificateBuilder(name, name, key.public_key(), 1, now - day, now + day)
    pem = builder.add_extension(ip, False).sign(key, hashes.SHA256()).public_bytes(PEM)
    (directory / "cert.pem").write_bytes(pem)
    (directory / "key.pem").write_bytes(key.private_bytes(PEM, PKCS8, NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context, pem.decode("ascii")


async def test_a_tls_failure_is_a_dropped_connection(
    pool: LocalUserPool, server: JWKSServer, tmp_path: Path, library_logs: Logs
) -> None:
    context, certificate = untrusted_tls(tmp_path)
    with JWKSServer(tls=context) as tls_server:
        tls_server.serve(server.routes[JWKS_PATH])
        for target in (server, tls_server):  # https to plain http; a certificate nobody trusts
            settings = pool.settings(jwks_url=target.url(scheme="https"))
            cache = JWKSCache(settings, clock=FakeClock())  # its own client checks certificates
            for _ in range(3):
                with pytest.raises(JWKSUnavailableError):
                    await cache.get_key(pool.signing_kid)
            assert len(target.connections) == 2  # one fetch, its connection retried once
            assert target.hits(None) == 0  # and no request was ever sent
        trusting = ssl.create_default_context(cadata=certificate)
        async with httpx2.AsyncClient(verify=trusting) as client:  # the server is sound
            cache = JWKSCache(settings, http_client=client, clock=FakeClock())
            assert await cache.get_key(pool.signing_kid) is not None
        assert tls_server.hits() == 1
    texts = failures(library_logs)  # one fetch for each server
    assert len(texts) == 2 and all("failed (ConnectError); next attempt in 5" in t for t in texts)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply(trickle=TRICKLE), id="head-a-byte-at-a-time"),
        pytest.param(Reply(content_length="60000", hang=True), id="short-body-then-quiet"),
        pytest.param(Reply(body=b'{"keys": [' + b" " * TEN_MIB + b"]}"), id="10MiB-body"),
    ],
)
def test_synchronous_callers_get_the_same_deadline_and_caps(
    pool: LocalUserPool, server: JWKSServer, reply: Reply
) -> None:
    """Threads calling `get_key_sync` share one fetch, cut at the deadline (or the size cap)."""
    if not reply.body:
        reply = dataclasses.replace(reply, body=server.routes[JWKS_PATH].body)
    server.serve(reply)
    settings = pool.settings(jwks_url=server.url(), http_timeout=DEADLINE)
    cache = JWKSCache(settings, clock=FakeClock())
    barrier = threading.Barrier(20)

    def one() -> float:
        barrier.wait()
        with pytest.raises(JWKSUnavailableError) as info:
            cache.get_key_sync(pool.signing_kid)
        return info.value.retry_after

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(20) as threads:
        waits = list(threads.map(lambda _: one(), range(20)))
    assert time.monotonic() - started < DEADLINE + 2
    assert waits == [5] * 20 and server.hits() == 1
