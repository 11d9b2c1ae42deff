"""The service-token client against the stand-in authorization server under uvicorn."""

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

import anyio
import httpx2
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from fastapi_cognito_jwt import (
    CognitoBearer,
    CognitoCredentials,
    ServiceTokenClient,
    ServiceTokenError,
)
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.fake_hosted_ui import FakeHostedUI
from tests.helpers import assert_logs_hide, send, serve

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SECRET = "s3cret-of-the-service-client"


@pytest.fixture
def hosted_ui() -> Iterator[tuple[FakeHostedUI, str]]:
    pool = LocalUserPool()
    fake = FakeHostedUI(
        pool,
        public_client_id=pool.client_id,
        redirect_uris=(),
        confidential_clients={"serviceclient1": SECRET},
    )
    with serve(fake.app()) as url:
        yield fake, url


def client(url: str, secret: str = SECRET, **kwargs: object) -> ServiceTokenClient:
    settings = LocalUserPool().settings(
        oauth_domain=url, service_client_id="serviceclient1", service_client_secret=secret
    )
    return ServiceTokenClient(settings, **kwargs)  # type: ignore[arg-type]


async def test_100_concurrent_calls_on_a_cold_cache_make_one_request(
    hosted_ui: tuple[FakeHostedUI, str],
) -> None:
    fake, url = hosted_ui
    tokens = client(url, scopes=["api/read"])
    seen: list[str] = []

    async def one() -> None:
        seen.append(await tokens.token())

    async with anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(one)
    assert len(seen) == 100 and len(set(seen)) == 1
    assert fake.client_credentials_requests == 1 == tokens.token_requests
    claims = await fake.pool.verifier(client_ids=["serviceclient1"]).verify(
        seen[0], token_use="access"
    )
    assert list(claims.scopes) == ["api/read"]


def test_20_threads_on_a_cold_cache_make_one_request(hosted_ui: tuple[FakeHostedUI, str]) -> None:
    fake, url = hosted_ui
    tokens = client(url)
    with ThreadPoolExecutor(20) as pool:
        seen = list(pool.map(lambda _: tokens.token_sync(), range(20)))
    assert len(set(seen)) == 1 and fake.client_credentials_requests == 1


async def test_a_token_is_refreshed_before_it_expires(hosted_ui: tuple[FakeHostedUI, str]) -> None:
    fake, url = hosted_ui
    # Refreshed after 2 s: the margin is at most half the lifetime. The token's exp is whole
    # seconds (at least 3 s from now), so the first is still valid when it is replaced.
    fake.m2m_expires_in = 4
    tokens = client(url, refresh_margin=60)
    first = await tokens.token()
    assert await tokens.token() == first and fake.client_credentials_requests == 1
    await anyio.sleep(2.1)
    second = await tokens.token()
    assert second != first and fake.client_credentials_requests == 2
    # The first was still valid when it was replaced.
    await fake.pool.verifier(client_ids=["serviceclient1"]).verify(first, token_use="access")


async def test_a_wrong_secret_is_a_clear_error_that_hides_the_secret(
    hosted_ui: tuple[FakeHostedUI, str], caplog: pytest.LogCaptureFixture
) -> None:
    _, url = hosted_ui
    tokens = client(url, secret="wrong-secret-value")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ServiceTokenError) as raised:
        await tokens.token()
    assert raised.value.error == "invalid_client"
    assert "wrong-secret-value" not in repr(tokens) + str(raised.value) + repr(tokens.auth())
    assert_logs_hide(caplog.records, "wrong-secret-value")


async def test_the_auth_sends_the_token_and_hides_it(
    hosted_ui: tuple[FakeHostedUI, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = hosted_ui
    downstream = FastAPI()
    auth = CognitoBearer(
        token_use="access", verifier=fake.pool.verifier(client_ids=["serviceclient1"])
    )

    @downstream.get("/whoami")
    async def whoami(creds: Annotated[CognitoCredentials, Depends(auth)]) -> dict[str, str | None]:
        return {"client_id": creds.claims.client_id}

    tokens = client(url)
    caplog.set_level(logging.DEBUG)
    with serve(downstream) as service:
        async with httpx2.AsyncClient(auth=tokens.auth(), base_url=service) as http:
            response = await http.get("/whoami")
    assert response.status_code == 200 and response.json() == {"client_id": "serviceclient1"}
    token = await tokens.token()
    assert token not in repr(tokens) and SECRET not in repr(tokens)
    assert_logs_hide(caplog.records, token, SECRET)


async def test_an_app_maps_a_refusal_to_502_as_documented(
    hosted_ui: tuple[FakeHostedUI, str],
) -> None:
    _, url = hosted_ui
    tokens = client(url, secret="wrong-secret-value")
    app = FastAPI()

    @app.exception_handler(ServiceTokenError)
    async def service_token_refused(request: Request, exc: ServiceTokenError) -> JSONResponse:
        return JSONResponse({"detail": "upstream authentication failed"}, status_code=502)

    @app.get("/orders")
    async def orders() -> str:
        return await tokens.token()

    response = await send(app, "/orders")
    assert response.status_code == 502
    assert "wrong-secret-value" not in response.text


async def test_an_unreachable_endpoint_is_a_library_error() -> None:
    from fastapi_cognito_jwt import CognitoUnreachableError

    with serve(FakeHostedUI(LocalUserPool(), "x", ()).app()) as url:
        pass  # the port is free again: nothing listens there now
    start = time.monotonic()
    with pytest.raises(CognitoUnreachableError):
        await client(url).token()
    with pytest.raises(CognitoUnreachableError):
        client(url).token_sync()
    assert time.monotonic() - start < 5
