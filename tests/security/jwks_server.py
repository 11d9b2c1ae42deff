"""A scriptable JWKS endpoint over real HTTP/1.1 on 127.0.0.1, and the app the faults hit.

`JWKSServer` runs an asyncio server on a thread and event loop of its own, so a slow or
trickling reply does not depend on the event loop under test, and a blocking call in the
library would stall the app rather than the server. It speaks just enough HTTP/1.1 to control
every byte: delayed heads, heads or bodies trickled a byte at a time, `Content-Length` headers
that lie, chunked or close-delimited bodies, compressed bodies, and TLS with a certificate
nobody trusts. It records every TCP connection and every request it reads: the hit counter.

`make_app` wires a `JWKSCache` into a FastAPI app with `CognitoBearer`; `KeyRing` holds the
signing keys of the scenarios (K1, K2, K3, KX and a 1024-bit one) and mints their tokens.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.

import asyncio
import datetime
import functools
import http
import ipaddress
import json
import random
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from fastapi import Depends, FastAPI

from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoCredentials,
    CognitoSettings,
    CognitoVerifier,
    JWKSCache,
    JWKSUnavailableError,
)
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.answers import INVALID, UNAVAILABLE

T = TypeVar("T")

JWKS_PATH = "/eu-west-1_LocalPool1/.well-known/jwks.json"
CHUNK = 64 * 1024
AUTO = "auto"  # Reply.content_length: the true length of the body


# -- the server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What the server answers on a path.

    `content_length` is sent verbatim, `AUTO` (the true length) or `None` (no header: the body
    ends when the connection closes). `delay` holds the whole reply back; `head_trickle` and
    `body_trickle` send one byte per that many seconds; `hang` keeps the connection open after
    the body until the client hangs up; `drop` closes the connection without replying.
    `endless` is sent over and over before the head,
    until the client hangs up (e.g. informational 1xx responses that never end).
    """

    status: int = 200
    body: bytes = b""
    drop: bool = False
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    content_length: str | None = AUTO
    chunked: bool = False
    delay: float = 0.0
    head_trickle: float = 0.0
    body_trickle: float = 0.0
    hang: bool = False
    endless: bytes = b""

    @functools.cached_property
    def head(self) -> bytes:
        """The status line and headers (built once: a test may measure memory meanwhile)."""
        try:
            reason = http.HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Whatever"
        lines = [f"HTTP/1.1 {self.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.chunked:
            lines.append("Transfer-Encoding: chunked")
        elif self.content_length == AUTO:
            lines.append(f"Content-Length: {len(self.body)}")
        elif self.content_length is not None:
            lines.append(f"Content-Length: {self.content_length}")
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class Seen:
    """A request the server read."""

    method: str
    path: str
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


@dataclass
class Connection:
    """A TCP connection the server accepted."""

    opened_at: float = field(default_factory=time.monotonic)
    request: Seen | None = None
    bytes_sent: int = 0
    complete: bool = False  # the whole reply was sent
    hung_up_at: float | None = None  # when the server saw the client close the connection


class JWKSServer:
    """An HTTP/1.1 server on 127.0.0.1 serving scripted `Reply`s; counts what it sees.

    The port is bound at construction and kept for the server's life: `down()` leaves it
    bound but not listening, so that connecting is refused (ECONNREFUSED), and `up()` listens
    on it again. `hold()` makes every reply wait until `release()`. Use it as a context
    manager: everything it started is stopped and closed on exit.
    """

    def __init__(self, *, listening: bool = True, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Reply] = {}
        self.connections: list[Connection] = []
        self.requests: list[Seen] = []
        self._tls = tls
        self._sock: socket.socket | None = self._bind(0)
        self.port: int = self._sock.getsockname()[1]
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._gate: asyncio.Event | None = None
        self.loop_errors: list[BaseException | None] = []
        self._loop = asyncio.new_event_loop()
        # E.g. a TLS handshake the client aborted: recorded rather than logged as an error.
        self._loop.set_exception_handler(
            lambda _loop, context: self.loop_errors.append(context.get("exception"))
        )
        self._thread = threading.Thread(target=self._loop.run_forever, name="jwks-server")
        self._thread.start()
        if listening:
            self.up()

    def __enter__(self) -> "JWKSServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what the tests read and set

    def url(self, path: str = JWKS_PATH, *, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def serve(self, reply: Reply, path: str = JWKS_PATH) -> None:
        self.routes[path] = reply

    def hits(self, path: str | None = JWKS_PATH) -> int:
        """Requests read on `path` (on any path with `None`)."""
        return sum(1 for seen in self.requests if path is None or seen.path == path)

    # -- control, from the test's thread

    def up(self) -> None:
        self._run(self._up())

    def down(self) -> None:
        """Stop listening; connecting is then refused. Connections under way carry on."""
        self._run(self._down())

    def hold(self) -> None:
        self._gate = self._run(self._new_event())

    def release(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            self._loop.call_soon_threadsafe(gate.set)

    def close(self) -> None:
        if self._thread.is_alive():
            self._run(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        if not self._loop.is_closed():
            self._loop.close()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- the server's loop

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    @staticmethod
    def _bind(port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        return sock

    async def _new_event(self) -> asyncio.Event:
        return asyncio.Event()

    async def _up(self) -> None:
        assert self._server is None and self._sock is not None
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.StreamReaderProtocol:
            # What `asyncio.start_server` does, but this runs on every TCP accept, before any
            # TLS handshake: connections whose handshake fails are counted too.
            connection = Connection()
            self.connections.append(connection)

            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await self._handle(reader, writer, connection)

            return asyncio.StreamReaderProtocol(asyncio.StreamReader(), handle)

        sock, self._sock = self._sock, None
        self._server = await loop.create_server(protocol, sock=sock, ssl=self._tls)

    async def _down(self) -> None:
        assert self._server is not None
        self._server.close()  # closes the listening socket at once
        self._server = None
        self._sock = self._bind(self.port)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: Connection
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._converse(reader, writer, connection)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away, or sent something that is not HTTP
        finally:
            self._tasks.discard(task)
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: Connection
    ) -> None:
        first = await reader.readexactly(1)
        if not first.isalpha():  # e.g. a TLS ClientHello (0x16) sent to plain HTTP
            writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            return
        head = (first + await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *header_lines = head.split("\r\n")
        method, path, _version = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        if headers.get("content-length", "0").isdigit():
            # A request body (the auth flows POST JSON) is read before replying, so that it
            # is not mistaken for the client hanging up.
            await reader.readexactly(int(headers.get("content-length", "0")))
        seen = Seen(method, path, headers)
        connection.request = seen
        self.requests.append(seen)
        reply = self.routes.get(path, Reply(404, b'{"message":"not found"}'))

        # Reply, while watching for the client hanging up (it sends nothing after its request).
        replying = asyncio.ensure_future(self._reply(writer, connection, reply))
        hung_up = asyncio.ensure_future(reader.read(1))
        try:
            await asyncio.wait({replying, hung_up}, return_when=asyncio.FIRST_COMPLETED)
            failure = replying.exception() if replying.done() else None
            connection.complete = replying.done() and failure is None
            if connection.complete and reply.hang:
                await asyncio.wait({hung_up})
            if hung_up.done() or isinstance(failure, OSError):
                connection.hung_up_at = time.monotonic()
        finally:
            for future in (replying, hung_up):
                future.cancel()
            await asyncio.gather(replying, hung_up, return_exceptions=True)

    async def _reply(
        self, writer: asyncio.StreamWriter, connection: Connection, reply: Reply
    ) -> None:
        if self._gate is not None:
            await self._gate.wait()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.drop:
            return  # close the connection without a word
        while reply.endless:
            await self._send(writer, connection, reply.endless, 0)
            await asyncio.sleep(0)  # drain() need not yield: let the hang-up be noticed
        await self._send(writer, connection, reply.head, reply.head_trickle)
        if reply.chunked:
            for start in range(0, len(reply.body), CHUNK):
                chunk = reply.body[start : start + CHUNK]
                framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
                await self._send(writer, connection, framed, reply.body_trickle)
            await self._send(writer, connection, b"0\r\n\r\n", 0)
        else:
            await self._send(writer, connection, reply.body, reply.body_trickle)

    @staticmethod
    async def _send(
        writer: asyncio.StreamWriter, connection: Connection, data: bytes, trickle: float
    ) -> None:
        step = 1 if trickle else CHUNK
        view = memoryview(data)
        for start in range(0, len(data), step):
            piece = view[start : start + step]
            writer.write(piece)
            await writer.drain()
            connection.bytes_sent += len(piece)
            if trickle:
                await asyncio.sleep(trickle)


@contextmanager
def running_server(*, listening: bool = True) -> Iterator[JWKSServer]:
    """A `JWKSServer` serving the baseline JWKS {K1, K2} at `JWKS_PATH`."""
    with JWKSServer(listening=listening) as server:
        server.serve(key_ring().reply("k1", "k2"))
        yield server


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `condition` (the server runs on another thread) until it holds."""
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.005)


# -- the library's side: clock, counting transport, app ------------------------------------


class FakeClock:
    """The JWKS cache's monotonic clock: it moves only when told to (backoff, TTL, cooldown)."""

    def __init__(self, now: float = 10_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingTransport(httpx.AsyncBaseTransport):
    """httpx's real network transport, counting the requests it is asked to send.

    The server cannot count connections it refuses, nor lookups of a name that does not
    resolve: this counts those attempts on the client side.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.clock = clock
        self.attempts: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts.append(self.clock())
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        # The library closes its client, and so this transport, after each fetch; httpcore's
        # pool opens new connections when used again.
        await self.inner.aclose()


def pin_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin the backoff jitter to x1.0: the backoff windows are then exactly 5, 10, 20... s."""
    monkeypatch.setattr(random, "uniform", lambda low, high: (low + high) / 2)


def make_app(cache: JWKSCache, *, warm_up: bool = False) -> FastAPI:
    """An app with `/protected` (access tokens, via `CognitoBearer`) and `/public`.

    With `warm_up`, the lifespan fetches the keys; a failure (the library logs it) only sets
    `app.state.warm_up_failed`: it is not fatal.
    """
    bearer = CognitoBearer(token_use="access", verifier=CognitoVerifier(cache.settings, jwks=cache))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm_up:
            try:
                await cache.refresh()
            except JWKSUnavailableError:
                app.state.warm_up_failed = True
        yield

    app = FastAPI(lifespan=lifespan)
    app.state.warm_up_failed = False

    @app.get("/protected")
    async def protected(creds: Annotated[CognitoCredentials, Depends(bearer)]) -> dict[str, str]:
        return {"kid": str(creds.header["kid"])}

    @app.get("/public")
    async def public() -> dict[str, str]:
        return {"status": "ok"}

    return app


@asynccontextmanager
async def app_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client for `app`, in process. An exception escaping the app fails the test."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        yield client


async def call(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/protected", headers={"Authorization": f"Bearer {token}"})


async def call_many(client: httpx.AsyncClient, tokens: list[str]) -> list[httpx.Response]:
    """Send one request per token, all at once."""
    responses: list[httpx.Response | None] = [None] * len(tokens)

    async def one(index: int) -> None:
        responses[index] = await call(client, tokens[index])

    async with anyio.create_task_group() as group:
        for index in range(len(tokens)):
            group.start_soon(one, index)
    return [response for response in responses if response is not None]


def assert_ok(response: httpx.Response, kid: str = "k1") -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"kid": kid}


def assert_invalid(response: httpx.Response) -> None:
    status, challenge, body = INVALID
    assert response.status_code == status, response.text
    assert response.headers.get_list("www-authenticate") == [challenge]
    assert response.json() == body


def assert_unavailable(response: httpx.Response, low: int = 1, high: int = 360) -> int:
    """503, the fixed body, and a `Retry-After` of `low`..`high` seconds; return it."""
    assert response.status_code == 503, response.text
    assert response.json() == UNAVAILABLE
    assert "www-authenticate" not in response.headers
    retry_after = response.headers.get_list("retry-after")
    assert len(retry_after) == 1 and retry_after[0].isdigit(), retry_after
    assert low <= int(retry_after[0]) <= high, retry_after
    return int(retry_after[0])


# -- keys and tokens ----------------------------------------------------------------------


class KeyRing:
    """The scenarios' keys: K1, K2 (the baseline JWKS), K3 (rotation), KX (the attacker's),
    and "weak", a 1024-bit RSA key. Tokens are access tokens of one local pool."""

    def __init__(self) -> None:
        self.pool = LocalUserPool(kid="k1")
        for kid in ("k2", "k3", "kx"):
            self.pool.add_key(kid)
        # The test kit makes 2048-bit keys only; its key table takes any RSA key.
        self.pool._keys["weak"] = rsa.generate_private_key(65537, 1024)  # noqa: S505 - on purpose

    def entry(self, kid: str) -> dict[str, Any]:
        return next(key for key in self.pool.jwks()["keys"] if key["kid"] == kid)

    def modulus(self, kid: str) -> int:
        return self.pool.public_key(kid).public_numbers().n

    def document(self, *kids: str) -> dict[str, Any]:
        return {"keys": [self.entry(kid) for kid in kids]}

    def body(self, *kids: str) -> bytes:
        return json.dumps(self.document(*kids)).encode()

    def reply(self, *kids: str) -> Reply:
        return Reply(body=self.body(*kids))

    def token(self, signer: str = "k1", *, kid: str | None = None) -> str:
        """An access token signed with `signer`'s key, whose header names `kid` (or `signer`)."""
        header = {"kid": kid if kid is not None else signer, "alg": "RS256"}
        return self.pool.sign(self.pool.access_claims(), header=header, kid=signer)

    def settings(self, url: str, **overrides: Any) -> CognitoSettings:
        return self.pool.settings(jwks_url=url, **overrides)

    def cache(
        self,
        url: str,
        clock: Callable[[], float],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        **overrides: Any,
    ) -> JWKSCache:
        """A cache for `url`, on `clock`, with the library's defaults unless overridden."""
        return JWKSCache(
            self.settings(url, **overrides),
            transport=transport,
            http_client=http_client,
            clock=clock,
        )


@functools.cache
def key_ring() -> KeyRing:
    return KeyRing()  # RSA key generation is slow: one ring for the whole session


# -- TLS ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TLSFiles:
    """A private CA and a certificate it issued for 127.0.0.1; nothing trusts the CA."""

    server: ssl.SSLContext
    ca_pem: bytes


def make_tls(directory: Path) -> TLSFiles:
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "JWKS fault test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = directory / "leaf.pem", directory / "leaf.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return TLSFiles(server=context, ca_pem=ca.public_bytes(serialization.Encoding.PEM))
