"""`ServiceTokenClient` and `ServiceTokenAuth` on answers a real server rarely gives.

The integration tests (tests/integration/test_service_tokens.py) cover the stand-in
authorization server: concurrency, refresh, a wrong secret, an app's mapping.
"""

import asyncio
import base64
from typing import Any

import httpx2
import pytest

from fastapi_cognito_jwt import (
    CognitoServiceError,
    ConfigurationError,
    ServiceTokenAuth,
    ServiceTokenClient,
    ServiceTokenError,
)
from fastapi_cognito_jwt.testing import LocalUserPool

pytestmark = pytest.mark.anyio

DOMAIN = "https://myapp.auth.eu-west-1.amazoncognito.com"
SECRET = "the-service-secret"


def tokens_answering(*answers: httpx2.Response) -> tuple[ServiceTokenClient, list[httpx2.Request]]:
    sent: list[httpx2.Request] = []
    queue = list(answers)

    def handle(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return queue.pop(0)

    settings = LocalUserPool().settings(
        oauth_domain=DOMAIN, service_client_id="svc", service_client_secret=SECRET
    )
    return ServiceTokenClient(settings, transport=httpx2.MockTransport(handle)), sent


def ok(token: str = "tok-1", expires_in: Any = 3600) -> httpx2.Response:
    return httpx2.Response(200, json={"access_token": token, "expires_in": expires_in})


async def test_the_request_is_a_basic_authenticated_client_credentials_grant() -> None:
    tokens, sent = tokens_answering(ok())
    tokens.scopes = ("orders/read", "orders/write")
    assert await tokens.token() == "tok-1"
    (request,) = sent
    assert str(request.url) == f"{DOMAIN}/oauth2/token"
    basic = base64.b64encode(f"svc:{SECRET}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {basic}"
    assert request.content == b"grant_type=client_credentials&scope=orders%2Fread+orders%2Fwrite"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx2.Response(400, json={"error": "invalid_scope"}), "invalid_scope"),
        (httpx2.Response(400, json={"error": "<script>"}), "invalid_response"),
        (httpx2.Response(401, text="<html>denied</html>"), "invalid_response"),
        (httpx2.Response(302, headers={"Location": "https://x.example/"}), "invalid_response"),
        (ok(expires_in=True), "invalid_response"),
        (ok(expires_in=0), "invalid_response"),
        (ok(token=""), "invalid_response"),
        (
            httpx2.Response(200, content=b'{"access_token":"' + b"a" * 70_000 + b'"}'),
            "invalid_response",
        ),
    ],
)
async def test_a_refusal_or_an_unusable_answer_is_a_service_token_error(
    answer: httpx2.Response, error: str
) -> None:
    tokens, _ = tokens_answering(answer)
    with pytest.raises(ServiceTokenError) as raised:
        await tokens.token()
    assert raised.value.error == error and "<script>" not in str(raised.value)


async def test_a_server_error_is_a_service_error() -> None:
    tokens, _ = tokens_answering(httpx2.Response(503, text="busy"))
    with pytest.raises(CognitoServiceError):
        await tokens.token()


async def test_the_auth_retries_once_with_a_new_token_on_401() -> None:
    tokens, sent = tokens_answering(ok("tok-1"), ok("tok-2"))
    seen: list[str] = []

    def service(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers["authorization"])
        return httpx2.Response(401 if len(seen) < 3 else 200)

    async with httpx2.AsyncClient(
        auth=tokens.auth(), transport=httpx2.MockTransport(service)
    ) as client:
        assert (await client.get("https://svc.example/a")).status_code == 401
    assert seen == ["Bearer tok-1", "Bearer tok-2"] and len(sent) == 2


def test_the_auth_works_with_a_sync_client_too() -> None:
    tokens, sent = tokens_answering(ok("tok-1"), ok("tok-2"))
    seen: list[str] = []

    def service(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers["authorization"])
        return httpx2.Response(401 if len(seen) == 1 else 200)

    with httpx2.Client(auth=ServiceTokenAuth(tokens), transport=httpx2.MockTransport(service)) as c:
        assert c.get("https://svc.example/a").status_code == 200
        assert c.get("https://svc.example/b").status_code == 200
    assert seen == ["Bearer tok-1", "Bearer tok-2", "Bearer tok-2"] and len(sent) == 2


class AsyncOnly(httpx2.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        raise AssertionError("not called")


class SyncOnly(httpx2.BaseTransport):
    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        raise AssertionError("not called")


async def test_a_transport_of_the_other_kind_is_a_clear_error() -> None:
    settings = LocalUserPool().settings(
        oauth_domain=DOMAIN, service_client_id="svc", service_client_secret=SECRET
    )
    with pytest.raises(ConfigurationError, match="async-only"):
        ServiceTokenClient(settings, transport=AsyncOnly()).token_sync()
    with pytest.raises(ConfigurationError, match="sync-only"):
        await ServiceTokenClient(settings, transport=SyncOnly()).token()


def test_one_client_serves_successive_event_loops() -> None:
    # A module-level client in a handler that runs `asyncio.run(...)` per invocation (Lambda).
    client, sent = tokens_answering(ok("t0"), ok("t1"))

    async def burst() -> list[str]:
        client.invalidate()
        return list(await asyncio.gather(*(client.token() for _ in range(5))))

    assert asyncio.run(burst()) == ["t0"] * 5
    assert asyncio.run(burst()) == ["t1"] * 5
    assert len(sent) == 2


def test_repr_names_the_client_not_the_secret() -> None:
    tokens, _ = tokens_answering()
    assert SECRET not in repr(tokens.auth()) and "svc" in repr(tokens)


@pytest.mark.parametrize(
    "fields",
    [
        {"service_client_id": "svc", "service_client_secret": SECRET},  # no oauth_domain
        {"oauth_domain": DOMAIN},  # no service client
        {"oauth_domain": DOMAIN, "service_client_id": "svc"},  # no secret
        {"oauth_domain": DOMAIN, "service_client_id": "svc", "service_client_secret": ""},
        {"oauth_domain": DOMAIN, "oauth_scopes": ["api read"]},
    ],
)
def test_it_needs_a_domain_and_a_confidential_client(fields: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as raised:
        ServiceTokenClient(LocalUserPool().settings(**fields))
    assert SECRET not in str(raised.value)
