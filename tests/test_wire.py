"""`_wire.call`: one POST per operation, reading the reply, and mapping every failure.

HTTP is an `httpx.MockTransport` whose replies are streamed (unread), as a real connection
delivers them. Every failure must be one of the library's errors: a `CognitoAuthError` when
Cognito said no, a `CognitoServiceError` for anything that is not Cognito's answer, and a
`CognitoUnreachableError` when no answer came; never a raw httpx exception.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest

from fastapi_cognito_jwt import (
    CognitoAuthError,
    CognitoServiceError,
    CognitoUnreachableError,
    NotAuthorizedError,
)
from fastapi_cognito_jwt._exceptions import _AUTH_ERRORS
from fastapi_cognito_jwt._wire import MAX_REPLY_BYTES, call
from tests.fake_cognito import JSON_TYPE, reply

pytestmark = pytest.mark.anyio

ENDPOINT = "https://cognito-idp.eu-west-1.amazonaws.com/"
OPERATION = "InitiateAuth"
PASSWORD = "Tr0ub4dor&3-Zq7Xw"  # distinctive: must never be logged or put in an error
USERNAME = "mallory.user@example.com"
BODY: dict[str, Any] = {
    "ClientId": "3n4b5urk1ft4fl3mg5e62d9ado",
    "AuthFlow": "USER_PASSWORD_AUTH",
    "AuthParameters": {"USERNAME": USERNAME, "PASSWORD": PASSWORD},
}
# Cognito's messages may quote the request: this one does.
QUOTING = f"Incorrect username or password for {USERNAME}: {PASSWORD}"
HTML = b"<html><head><title>502 Bad Gateway</title></head><body>cloudfront</body></html>"

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class Recorder:
    """A MockTransport handler: answers with `answer` (a reply, an error or a handler)."""

    def __init__(self, answer: httpx.Response | Exception | Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.answer, Exception):
            raise self.answer
        if isinstance(self.answer, httpx.Response):
            return self.answer
        return await self.answer(request)


async def post(
    answer: httpx.Response | Exception | Handler | Recorder,
    *,
    timeout: float = 5.0,
    follow_redirects: bool = False,
) -> dict[str, Any]:
    recorder = answer if isinstance(answer, Recorder) else Recorder(answer)
    transport = httpx.MockTransport(recorder)
    async with httpx.AsyncClient(transport=transport, follow_redirects=follow_redirects) as client:
        return await call(client, ENDPOINT, OPERATION, BODY, timeout)


def assert_nothing_sensitive_logged(logs: pytest.LogCaptureFixture) -> None:
    for needle in (PASSWORD, USERNAME, QUOTING, "Incorrect username"):
        assert needle not in logs.text


# -- the request ----------------------------------------------------------------------------


async def test_the_request_is_one_unsigned_json_post() -> None:
    recorder = Recorder(reply(200, {"AuthenticationResult": {"AccessToken": "a"}}))
    assert await post(recorder) == {"AuthenticationResult": {"AccessToken": "a"}}
    (request,) = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == ENDPOINT
    assert request.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert request.headers["X-Amz-Target"] == "AWSCognitoIdentityProviderService.InitiateAuth"
    assert request.headers["Accept-Encoding"] == "identity"
    assert json.loads(request.content) == BODY
    assert int(request.headers["Content-Length"]) == len(request.content)
    for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"):
        assert name not in request.headers


async def test_non_ascii_values_survive_the_round_trip() -> None:
    recorder = Recorder(reply(200, {}))
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as client:
        await call(client, ENDPOINT, "SignUp", {"Username": "zoë 日本"}, 5.0)
    assert json.loads(recorder.requests[0].content) == {"Username": "zoë 日本"}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"", {}, id="empty"),
        pytest.param(b" \r\n\t", {}, id="whitespace"),
        pytest.param(b"{}", {}, id="empty-object"),
        pytest.param(b'{"UserConfirmed": true}\n', {"UserConfirmed": True}, id="object"),
    ],
)
async def test_a_200_reply_is_its_json_object(content: bytes, expected: dict[str, Any]) -> None:
    assert await post(reply(200, content=content)) == expected


@pytest.mark.parametrize("encoding", ["identity", "IDENTITY", "Identity"])
async def test_identity_content_encoding_is_accepted(encoding: str) -> None:
    headers = {**JSON_TYPE, "Content-Encoding": encoding}
    assert await post(reply(200, {"ok": 1}, headers=headers)) == {"ok": 1}


async def test_a_reply_of_exactly_the_size_limit_is_read() -> None:
    document = b'{"pad": "' + b"x" * (MAX_REPLY_BYTES - 11) + b'"}'
    assert len(document) == MAX_REPLY_BYTES
    result = await post(reply(200, content=document))
    assert result == {"pad": "x" * (MAX_REPLY_BYTES - 11)}


async def test_a_reply_already_read_by_a_test_transport_is_accepted() -> None:
    # httpx.Response(json=...) from a MockTransport handler arrives already read; a user's
    # test double (or any transport that pre-reads) must work like a network reply.
    assert await post(httpx.Response(200, json={"ok": 1})) == {"ok": 1}
    with pytest.raises(NotAuthorizedError):
        await post(httpx.Response(400, json={"__type": "NotAuthorizedException"}))
    with pytest.raises(CognitoServiceError, match="too large"):  # the cap still holds
        await post(httpx.Response(200, content=b" " * (MAX_REPLY_BYTES + 1)))


# -- Cognito's refusals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error_class"), [pytest.param(c, e, id=c) for c, e in _AUTH_ERRORS.items()]
)
async def test_every_known_code_raises_its_class(
    code: str, error_class: type[CognitoAuthError], library_logs: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(CognitoAuthError) as info:
        await post(reply(400, {"__type": code, "message": QUOTING}))
    assert type(info.value) is error_class
    assert info.value.code == code
    assert info.value.message == QUOTING
    assert code in str(info.value)
    assert PASSWORD not in str(info.value)
    assert USERNAME not in str(info.value)
    (record,) = library_logs.records
    assert record.levelno == logging.INFO
    assert OPERATION in record.getMessage()
    assert code in record.getMessage()
    assert_nothing_sensitive_logged(library_logs)


@pytest.mark.parametrize(
    ("document", "headers"),
    [
        pytest.param(
            {
                "__type": "com.amazonaws.cognito.identity.idp.model#NotAuthorizedException",
                "message": QUOTING,
            },
            JSON_TYPE,
            id="qualified-type",
        ),
        pytest.param(
            {"message": QUOTING},
            {
                **JSON_TYPE,
                "x-amzn-ErrorType": "NotAuthorizedException:http://internal.amazon.com/"
                "coral/com.amazonaws.cognito.identity.idp/",
            },
            id="header-type",
        ),
        pytest.param(
            {"__type": "", "message": QUOTING},
            {**JSON_TYPE, "X-Amzn-ErrorType": "NotAuthorizedException"},
            id="empty-type-then-header",
        ),
        pytest.param(
            {"__type": "NotAuthorizedException", "Message": QUOTING},
            JSON_TYPE,
            id="capital-message",
        ),
        pytest.param(
            {"code": "NotAuthorizedException", "message": QUOTING}, JSON_TYPE, id="code-key"
        ),
    ],
)
async def test_the_forms_of_an_error_code(
    document: dict[str, Any], headers: dict[str, str], library_logs: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(NotAuthorizedError) as info:
        await post(reply(400, document, headers=headers))
    assert info.value.code == "NotAuthorizedException"
    assert info.value.message == QUOTING
    assert QUOTING not in str(info.value)
    assert "NotAuthorizedException" in library_logs.text
    assert_nothing_sensitive_logged(library_logs)


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({"__type": "NotAuthorizedException"}, id="no-message"),
        pytest.param({"__type": "NotAuthorizedException", "message": 42}, id="number"),
        pytest.param({"__type": "NotAuthorizedException", "message": None}, id="null"),
        pytest.param({"__type": "NotAuthorizedException", "Message": ["x"]}, id="list"),
    ],
)
async def test_a_missing_or_odd_message_is_empty(document: dict[str, Any]) -> None:
    with pytest.raises(NotAuthorizedError) as info:
        await post(reply(400, document))
    assert info.value.message == ""


@pytest.mark.parametrize(
    ("status", "code"),
    [
        pytest.param(400, "ResourceNotFoundException", id="resource-not-found"),
        pytest.param(400, "UnsupportedOperationException", id="unsupported"),
        pytest.param(400, "A" + "b" * 99, id="100-chars"),
        pytest.param(404, "SomethingNew", id="404"),
    ],
)
async def test_an_unknown_code_is_a_plain_auth_error(
    status: int, code: str, library_logs: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(CognitoAuthError) as info:
        await post(reply(status, {"__type": code, "message": QUOTING}))
    assert type(info.value) is CognitoAuthError
    assert info.value.code == code
    assert info.value.message == QUOTING
    assert code in str(info.value)
    assert QUOTING not in str(info.value)
    assert code in library_logs.text
    assert_nothing_sensitive_logged(library_logs)


# -- replies that are not Cognito's ---------------------------------------------------------

HTML_TYPE = {"Content-Type": "text/html"}
GZIP = {**JSON_TYPE, "Content-Encoding": "gzip"}


@pytest.mark.parametrize(
    ("status", "content", "headers"),
    [
        pytest.param(502, HTML, HTML_TYPE, id="502-html"),
        pytest.param(503, HTML, HTML_TYPE, id="503-html"),
        pytest.param(500, HTML, HTML_TYPE, id="500-html"),
        pytest.param(403, HTML, HTML_TYPE, id="403-html-waf"),
        pytest.param(500, b"", JSON_TYPE, id="500-empty"),
        pytest.param(204, b"", JSON_TYPE, id="204-empty"),
        pytest.param(200, b"OK", HTML_TYPE, id="200-not-json"),
        pytest.param(200, HTML, HTML_TYPE, id="200-html"),
        pytest.param(200, b"[1, 2]", JSON_TYPE, id="200-json-array"),
        pytest.param(200, b'"text"', JSON_TYPE, id="200-json-string"),
        pytest.param(200, b'{"a": 1, "a": 2}', JSON_TYPE, id="200-duplicate-keys"),
        pytest.param(200, b'{"a": NaN}', JSON_TYPE, id="200-nan"),
        pytest.param(200, b'{"a": "\xff"}', JSON_TYPE, id="200-invalid-utf8"),
        pytest.param(200, b'{"a": 1} trailing', JSON_TYPE, id="200-trailing-data"),
        pytest.param(200, b"[" * 100 + b"]" * 100, JSON_TYPE, id="200-deeply-nested"),
        pytest.param(400, b"[1]", JSON_TYPE, id="400-json-array"),
        pytest.param(400, b"Bad Request", HTML_TYPE, id="400-text"),
        pytest.param(400, b'{"__type": "<script>"}', JSON_TYPE, id="400-type-markup"),
        pytest.param(400, b'{"__type": "A' + b"b" * 100 + b'"}', JSON_TYPE, id="400-type-long"),
        pytest.param(400, b'{"__type": "1Exception"}', JSON_TYPE, id="400-type-digit"),
        pytest.param(400, b'{"__type": "Not Authorized"}', JSON_TYPE, id="400-type-space"),
        pytest.param(400, b'{"__type": 5}', JSON_TYPE, id="400-type-number"),
        pytest.param(400, b'{"__type": ["x"]}', JSON_TYPE, id="400-type-list"),
        pytest.param(400, b'{"message": "no code"}', JSON_TYPE, id="400-no-code"),
        pytest.param(
            302,
            b'{"__type": "NotAuthorizedException"}',
            {**JSON_TYPE, "Location": "https://elsewhere.test/"},
            id="302-with-code",
        ),
        pytest.param(200, gzip.compress(b'{"ok": 1}'), GZIP, id="200-gzip"),
        pytest.param(
            400, gzip.compress(b'{"__type": "NotAuthorizedException"}'), GZIP, id="400-gzip"
        ),
        pytest.param(200, b'{"ok": 1}', {"Content-Encoding": "br"}, id="200-brotli"),
    ],
)
async def test_replies_that_are_not_cognitos(
    status: int, content: bytes, headers: dict[str, str], library_logs: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(reply(status, content=content, headers=headers))
    with pytest.raises(CognitoServiceError) as info:
        await post(recorder)
    assert type(info.value) is CognitoServiceError
    assert len(recorder.requests) == 1
    assert "cloudfront" not in str(info.value)
    assert any(record.levelno == logging.WARNING for record in library_logs.records)
    assert OPERATION in library_logs.text
    assert_nothing_sensitive_logged(library_logs)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_not_followed(status: int) -> None:
    recorder = Recorder(
        reply(status, content=b"", headers={"Location": "https://attacker.test/steal"})
    )
    with pytest.raises(CognitoServiceError) as info:
        await post(recorder)
    assert type(info.value) is CognitoServiceError
    assert [str(request.url) for request in recorder.requests] == [ENDPOINT]


async def test_a_reply_over_the_size_limit_is_refused() -> None:
    document = b'{"pad": "' + b"x" * (MAX_REPLY_BYTES - 10) + b'"}'
    assert len(document) == MAX_REPLY_BYTES + 1
    with pytest.raises(CognitoServiceError, match="too large") as info:
        await post(reply(200, content=document))
    assert type(info.value) is CognitoServiceError


async def test_an_endless_reply_is_refused_without_reading_it_all() -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < 100 * MAX_REPLY_BYTES:
            sent += 64 * 1024
            yield b" " * (64 * 1024)

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=JSON_TYPE, content=endless())

    with pytest.raises(CognitoServiceError, match="too large"):
        await post(handler)
    assert sent <= MAX_REPLY_BYTES + 64 * 1024


# -- transport failures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(httpx.ConnectTimeout("connect timed out"), id="connect-timeout"),
        pytest.param(httpx.ReadTimeout("read timed out"), id="read-timeout"),
        pytest.param(httpx.WriteTimeout("write timed out"), id="write-timeout"),
        pytest.param(httpx.PoolTimeout("pool timed out"), id="pool-timeout"),
        pytest.param(httpx.ConnectError("connection refused"), id="connect-error"),
        pytest.param(httpx.RemoteProtocolError("server disconnected"), id="protocol-error"),
        pytest.param(httpx.ReadError("connection reset"), id="read-error"),
        pytest.param(httpx.WriteError("broken pipe"), id="write-error"),
        pytest.param(httpx.ProxyError("proxy said no"), id="proxy-error"),
    ],
)
async def test_transport_failures_are_unreachable(
    error: httpx.TransportError, library_logs: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(error)
    with pytest.raises(CognitoUnreachableError) as info:
        await post(recorder)
    assert info.value.__cause__ is error
    assert OPERATION in str(info.value)
    assert len(recorder.requests) == 1  # nothing is retried
    assert OPERATION in library_logs.text
    assert_nothing_sensitive_logged(library_logs)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(httpx.DecodingError("bad gzip"), id="decoding-error"),
        pytest.param(httpx.TooManyRedirects("loop"), id="too-many-redirects"),
        pytest.param(httpx.InvalidURL("bad host"), id="invalid-url"),
        pytest.param(httpx.StreamClosed(), id="stream-closed"),
        pytest.param(UnicodeError("label too long"), id="idna"),
    ],
)
async def test_other_httpx_errors_are_service_errors(
    error: Exception, library_logs: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(error)
    with pytest.raises(CognitoServiceError) as info:
        await post(recorder)
    assert type(info.value) is CognitoServiceError
    assert info.value.__cause__ is error
    assert len(recorder.requests) == 1
    assert type(error).__name__ in library_logs.text
    assert_nothing_sensitive_logged(library_logs)


async def test_a_connection_dropped_mid_reply_is_unreachable() -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b'{"AuthenticationResult": '
        raise httpx.ReadError("connection reset by peer")

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=JSON_TYPE, content=broken())

    with pytest.raises(CognitoUnreachableError) as info:
        await post(handler)
    assert isinstance(info.value.__cause__, httpx.ReadError)


async def test_no_answer_within_the_timeout_is_unreachable(
    library_logs: pytest.LogCaptureFixture,
) -> None:
    async def silent(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.5)
        return reply(200, {})

    recorder = Recorder(silent)
    started = time.monotonic()
    with pytest.raises(CognitoUnreachableError) as info:
        await post(recorder, timeout=0.1)
    assert time.monotonic() - started < 0.4
    assert isinstance(info.value.__cause__, TimeoutError)
    assert len(recorder.requests) == 1
    assert OPERATION in library_logs.text
    assert_nothing_sensitive_logged(library_logs)


async def test_a_trickling_reply_is_cut_at_the_total_deadline() -> None:
    async def trickle() -> AsyncIterator[bytes]:
        yield b"{"
        for _ in range(40):
            await anyio.sleep(0.02)  # each chunk is quick; the whole exchange is not
            yield b" "
        yield b"}"

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=JSON_TYPE, content=trickle())

    started = time.monotonic()
    with pytest.raises(CognitoUnreachableError):
        await post(handler, timeout=0.15)
    assert time.monotonic() - started < 0.5


async def test_the_callers_cancellation_is_not_turned_into_an_error() -> None:
    async def silent(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.5)
        return reply(200, {})

    with anyio.move_on_after(0.05) as scope:
        await post(silent, timeout=5.0)
    assert scope.cancelled_caught


async def test_success_logs_nothing_sensitive(library_logs: pytest.LogCaptureFixture) -> None:
    await post(reply(200, {"Echo": QUOTING}))
    assert_nothing_sensitive_logged(library_logs)
