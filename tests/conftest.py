"""Shared fixtures: a local user pool, its settings, and the asyncio backend for anyio."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from fastapi_cognito_jwt import CognitoBearer, CognitoSettings
from fastapi_cognito_jwt.testing import LocalUserPool


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def _session_pool() -> LocalUserPool:
    # RSA key generation is the slow part; one pool's keys serve the whole session.
    return LocalUserPool()


@pytest.fixture
def pool(_session_pool: LocalUserPool) -> Iterator[LocalUserPool]:
    """A local user pool whose key set is restored after each test."""
    keys = dict(_session_pool._keys)
    signing_kid = _session_pool.signing_kid
    _session_pool.jwks_requests = 0
    yield _session_pool
    _session_pool._keys = keys
    _session_pool.signing_kid = signing_kid


@pytest.fixture
def settings(pool: LocalUserPool) -> CognitoSettings:
    return pool.settings()


@pytest.fixture
def auth(pool: LocalUserPool) -> CognitoBearer:
    """A bearer for the local pool's access tokens."""
    return pool.bearer(token_use="access")


@pytest.fixture(autouse=True)
def _clean_cognito_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's COGNITO_* variables out of the tests."""
    import os

    for name in list(os.environ):
        if name.startswith("COGNITO_"):
            monkeypatch.delenv(name)


@pytest.fixture
def library_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture everything the library logs, at every level."""
    caplog.set_level(logging.DEBUG, logger="fastapi_cognito_jwt")
    return caplog
