"""Fixtures of the JWKS fault scenarios: the scripted server, a clock, one transport."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.security.jwks_server import FakeClock, JWKSServer, pin_jitter, running_server


@pytest.fixture
def server() -> Iterator[JWKSServer]:
    """The scripted JWKS server on 127.0.0.1, serving the baseline set {K1, K2}."""
    with running_server() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def transport() -> AsyncIterator[httpx.AsyncHTTPTransport]:
    """httpx's network transport, as the library's own client builds it (less environment
    proxies), but built once per test: a client of its own loads the CA bundle per fetch."""
    transport = httpx.AsyncHTTPTransport()
    yield transport
    await transport.aclose()


@pytest.fixture(autouse=True)
def no_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    pin_jitter(monkeypatch)  # the backoff windows are then exactly 5, 10, 20... s
