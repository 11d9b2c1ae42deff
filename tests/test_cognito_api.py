"""How `CognitoAuthClient` sends: its own transport's pool and headers, and an injected client's.

What a reply means and every failure are tested in tests/test_auth_client.py; here, what the
faster sending path (an httpx2 transport used directly, see docs/performance.md) must keep.
"""

import importlib.abc
import json
import ssl
import sys
from collections.abc import Coroutine
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest

from fastapi_cognito_jwt import AuthTokens, CognitoAuthClient, CognitoSettings, __version__
from fastapi_cognito_jwt._auth_flows import cognito_api
from tests import fake_cognito as cognito
from tests.fake_cognito import ACCESS, PASSWORD, USERNAME

pytestmark = pytest.mark.anyio

SETTINGS = CognitoSettings(
    user_pool_id="eu-west-1_AbC123",
    client_ids=["3n4b5urk1ft4fl3m"],
    sign_in_flow="USER_PASSWORD_AUTH",  # one request per sign-in, as these tests count
)
SIGN_IN = {
    "ClientId": "3n4b5urk1ft4fl3m",
    "AuthFlow": "USER_PASSWORD_AUTH",
    "AuthParameters": {"USERNAME": USERNAME, "PASSWORD": PASSWORD},
}
REPLY = json.dumps({"AuthenticationResult": {"AccessToken": ACCESS, "ExpiresIn": 3600}}).encode()


async def test_the_own_transport_sends_compact_json_with_fixed_headers_and_timeouts() -> None:
    fake = cognito.FakeCognito()
    async with CognitoAuthClient(SETTINGS, transport=fake.transport()) as client:
        await client.sign_in(USERNAME, PASSWORD)
        await client.global_sign_out(ACCESS)
    first, second = fake.requests
    assert first.content == json.dumps(SIGN_IN, separators=(",", ":")).encode()
    assert dict(first.headers) == {
        "host": "cognito-idp.eu-west-1.amazonaws.com",
        "content-length": str(len(first.content)),
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": "AWSCognitoIdentityProviderService.InitiateAuth",
        "accept-encoding": "identity",
        "accept": "*/*",
        "user-agent": f"fastapi-cognito-jwt/{__version__}",
    }
    # Headers are built once per operation: the next operation's are its own.
    assert second.headers["X-Amz-Target"] == "AWSCognitoIdentityProviderService.GlobalSignOut"
    # Without an httpx2.AsyncClient in between, the settings' timeout still reaches the pool.
    timeouts = httpx2.Timeout(SETTINGS.http_timeout).as_dict()
    assert first.extensions["timeout"] == second.extensions["timeout"] == timeouts


async def test_an_injected_client_keeps_its_own_headers_and_timeouts() -> None:
    fake = cognito.FakeCognito()
    injected = httpx2.AsyncClient(
        transport=fake.transport(), headers={"User-Agent": "app/1.0"}, timeout=7.0
    )
    async with injected:
        await CognitoAuthClient(SETTINGS, http_client=injected).sign_in(USERNAME, PASSWORD)
    (request,) = fake.requests
    assert (request.headers["User-Agent"], request.headers["Accept-Encoding"]) == (
        "app/1.0",
        "identity",
    )
    assert request.headers["X-Amz-Target"] == "AWSCognitoIdentityProviderService.InitiateAuth"
    assert request.extensions["timeout"] == httpx2.Timeout(7.0).as_dict()


def test_the_pools_share_one_tls_context_verifying_as_httpx2_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[ssl.SSLContext] = []
    given: list[object] = []

    def create(*args: object, **kwargs: object) -> ssl.SSLContext:
        assert (args, kwargs) == ((), {})  # httpx2's defaults: verify=True, trust_env=True
        made.append(ssl.create_default_context())
        return made[-1]

    real_transport = httpx2.AsyncHTTPTransport

    def transport(**kwargs: Any) -> httpx2.AsyncHTTPTransport:
        given.append(kwargs["verify"])
        return real_transport(**kwargs)

    monkeypatch.setattr(httpx2, "create_ssl_context", create)
    monkeypatch.setattr(httpx2, "AsyncHTTPTransport", transport)
    cognito_api.PooledTransport(pools=4)
    (context,) = made
    assert given == [context] * 4


async def test_each_call_takes_an_idle_pool_and_waits_for_one_when_all_are_busy() -> None:
    transport = cognito_api.PooledTransport(pools=3)
    sent: list[int] = []
    for index, pool in enumerate(transport._pools):

        async def handle(request: httpx2.Request, index: int = index) -> httpx2.Response:
            sent.append(index)
            if request.headers.get("fail"):
                raise httpx2.ConnectError("refused")
            if request.headers.get("whole"):
                return httpx2.Response(200, content=REPLY)  # read and closed already
            return httpx2.Response(200, stream=httpx2.ByteStream(REPLY))

        pool.handle_async_request = handle  # type: ignore[method-assign]
    request = httpx2.Request("POST", "http://127.0.0.1/")
    replies = [await transport.handle_async_request(request) for _ in range(3)]
    assert (sent, transport._busy) == ([0, 1, 2], [True, True, True])
    late: list[httpx2.Response] = []
    async with anyio.create_task_group() as group:
        # Every pool is busy: the fourth call waits for the first to be free, not in a queue.
        group.start_soon(lambda: _append(late, transport.handle_async_request(request)))
        await anyio.wait_all_tasks_blocked()
        assert (sent, late) == ([0, 1, 2], [])
        for _ in range(2):  # the body closed twice (not through the response): freed once
            await replies[1].stream.aclose()  # type: ignore[union-attr]
            await anyio.wait_all_tasks_blocked()  # the waiting call takes the freed pool
    assert (sent[-1], transport._busy) == (1, [True, True, True])
    for reply in (replies[0], late[0]):
        await reply.aclose()
    with pytest.raises(httpx2.ConnectError):  # a failed call frees its pool
        await transport.handle_async_request(
            httpx2.Request("POST", "http://x/", headers={"fail": "1"})
        )
    assert (sent[-1], transport._busy) == (0, [False, False, True])
    whole = await transport.handle_async_request(httpx2.Request("GET", "/", headers={"whole": "1"}))
    assert (sent[-1], transport._busy, whole.content) == (0, [False, False, True], REPLY)
    assert [chunk async for chunk in replies[2].aiter_raw()] == [REPLY]  # closes it
    assert transport._busy == [False, False, False]
    await transport.aclose()


async def test_calls_waiting_for_a_pool_get_one_in_the_order_they_came() -> None:
    transport = cognito_api.PooledTransport(pools=1)

    async def handle(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, stream=httpx2.ByteStream(REPLY))

    transport._pools[0].handle_async_request = handle  # type: ignore[method-assign]
    first = await transport.handle_async_request(httpx2.Request("POST", "http://x/"))
    served: list[str] = []

    async def call(name: str) -> None:
        reply = await transport.handle_async_request(httpx2.Request("POST", "http://x/"))
        served.append(name)
        await anyio.sleep(0.01)  # holds the pool a little, so later calls keep waiting
        await reply.aclose()

    async with anyio.create_task_group() as group:
        for name in "abc":
            group.start_soon(call, name)
            await anyio.wait_all_tasks_blocked()
        await first.aclose()
        # A newcomer asking the moment the pool is freed waits behind a, b and c.
        await call("late")
    assert served == ["a", "b", "c", "late"]
    assert transport._busy == [False]


async def test_a_call_cancelled_while_it_waits_or_sends_takes_no_pool() -> None:
    transport = cognito_api.PooledTransport(pools=1)
    gate = anyio.Event()

    async def hang(request: httpx2.Request) -> httpx2.Response:
        await gate.wait()
        return httpx2.Response(200, stream=httpx2.ByteStream(REPLY))

    transport._pools[0].handle_async_request = hang  # type: ignore[method-assign]
    request = httpx2.Request("POST", "http://127.0.0.1/")
    with anyio.move_on_after(0.05):  # cancelled while sending
        await transport.handle_async_request(request)
    assert transport._busy == [False]
    async with anyio.create_task_group() as group:
        group.start_soon(transport.handle_async_request, request)  # holds the one pool
        await anyio.wait_all_tasks_blocked()
        with anyio.move_on_after(0.05):  # cancelled while waiting for a pool
            await transport.handle_async_request(request)
        assert transport._busy == [True]
        gate.set()
    await transport.aclose()


async def _append(into: list[httpx2.Response], reply: Coroutine[Any, Any, httpx2.Response]) -> None:
    into.append(await reply)


class _Searches(importlib.abc.MetaPathFinder):
    """Counts module searches: imports of anything not in sys.modules yet."""

    def __init__(self) -> None:
        self.count = 0

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        self.count += 1


async def test_bursts_of_calls_reuse_their_connections_and_import_nothing() -> None:
    """More calls in flight than httpx2 keeps alive by default (20): none reconnects."""
    burst, connections = 30, 0
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610

    async def serve(stream: anyio.abc.SocketStream) -> None:
        nonlocal connections
        connections += 1
        buffer = b""
        async with stream:
            while True:
                while b"\r\n\r\n" not in buffer:
                    try:
                        buffer += await stream.receive()
                    except anyio.EndOfStream:
                        return
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(buffer) < length:
                    buffer += await stream.receive()
                buffer = buffer[length:]
                await anyio.sleep(0.05)  # every call of a burst is in flight at once
                await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(REPLY))
                await stream.send(REPLY)

    searches = _Searches()
    settings = CognitoSettings(
        user_pool_id=SETTINGS.user_pool_id,
        client_ids=SETTINGS.client_ids,
        idp_endpoint=f"http://127.0.0.1:{port}/",
    )
    async with listener, CognitoAuthClient(settings) as client:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(listener.serve, serve)
            for _ in range(3):
                await client.sign_in(USERNAME, PASSWORD)
            assert connections == 1  # one call at a time: one connection, kept alive
            for round_ in range(2):
                if round_:
                    sys.meta_path.insert(0, searches)
                try:
                    async with anyio.create_task_group() as calls:
                        for _ in range(burst):
                            calls.start_soon(client.sign_in, USERNAME, PASSWORD)
                finally:
                    if round_:
                        sys.meta_path.remove(searches)
            assert isinstance(await client.sign_in(USERNAME, PASSWORD), AuthTokens)
            tasks.cancel_scope.cancel()
    assert connections == burst
    # No dependency is looked up per call (httpcore once searched sys.path for sniffio).
    assert searches.count == 0
