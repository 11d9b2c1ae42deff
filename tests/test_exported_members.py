"""The public surface: what `fastapi_cognito_jwt` exports, and that each export is documented."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
import inspect
import sys
from pathlib import Path

import jose.backends
import pytest

import fastapi_cognito_jwt
import fastapi_cognito_jwt.testing
from fastapi_cognito_jwt import _exceptions
from fastapi_cognito_jwt._backend import require_cryptography_backend

EXPECTED_ALL = [
    "AliasExistsError",
    "AuthChallenge",
    "AuthTokens",
    "CodeDelivery",
    "CodeDeliveryFailureError",
    "CodeMismatchError",
    "CognitoAuthClient",
    "CognitoAuthError",
    "CognitoBearer",
    "CognitoClaims",
    "CognitoCredentials",
    "CognitoJWTError",
    "CognitoServiceError",
    "CognitoSettings",
    "CognitoUnreachableError",
    "CognitoUser",
    "CognitoVerifier",
    "ConfigurationError",
    "ExpiredCodeError",
    "InvalidClaimError",
    "InvalidClientError",
    "InvalidIssuerError",
    "InvalidParameterError",
    "InvalidPasswordError",
    "InvalidSignatureError",
    "InvalidTokenUseError",
    "JWKSCache",
    "JWKSUnavailableError",
    "KeyNotFoundError",
    "LimitExceededError",
    "MalformedTokenError",
    "NotAuthorizedError",
    "PasswordResetRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "SettingsFields",
    "SignUpForm",
    "SignUpRequest",
    "SignUpResult",
    "TokenError",
    "TokenExpiredError",
    "TokenNotYetValidError",
    "TokenUse",
    "TooManyFailedAttemptsError",
    "TooManyRequestsError",
    "UserNotConfirmedError",
    "UserNotFoundError",
    "UsernameExistsError",
    "__version__",
    "auth_router",
    "current_claims",
    "current_username",
    "require_groups",
    "require_scopes",
]
# Names that cannot carry a docstring of their own.
UNDOCUMENTED = {"__version__", "TokenUse"}

PUBLIC_CLASSES = [
    name
    for name in EXPECTED_ALL
    if isinstance(getattr(fastapi_cognito_jwt, name, None), type) and name != "TokenUse"
]
PUBLIC_FUNCTIONS = [
    name for name in EXPECTED_ALL if inspect.isfunction(getattr(fastapi_cognito_jwt, name, None))
]
EXCEPTIONS = [
    name
    for name in EXPECTED_ALL
    if isinstance(getattr(fastapi_cognito_jwt, name, None), type)
    and issubclass(getattr(fastapi_cognito_jwt, name), BaseException)
]


def test_all_is_the_expected_sorted_list() -> None:
    assert fastapi_cognito_jwt.__all__ == EXPECTED_ALL
    assert sorted(EXPECTED_ALL) == EXPECTED_ALL
    assert len(set(EXPECTED_ALL)) == len(EXPECTED_ALL)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from fastapi_cognito_jwt import *", namespace)  # noqa: S102
    namespace.pop("__builtins__")
    assert sorted(namespace) == EXPECTED_ALL


def test_partition_of_names_is_complete() -> None:
    # Every export is a class, a function, or one of the documented exceptions to both.
    assert sorted([*PUBLIC_CLASSES, *PUBLIC_FUNCTIONS, *UNDOCUMENTED]) == EXPECTED_ALL
    assert len(EXCEPTIONS) == 32


@pytest.mark.parametrize("name", EXPECTED_ALL)
def test_name_is_importable(name: str) -> None:
    module = importlib.import_module("fastapi_cognito_jwt")
    assert hasattr(module, name)
    namespace: dict[str, object] = {}
    exec(f"from fastapi_cognito_jwt import {name}", namespace)  # noqa: S102
    assert namespace[name] is getattr(module, name)


@pytest.mark.parametrize("name", sorted(set(EXPECTED_ALL) - UNDOCUMENTED))
def test_name_is_documented(name: str) -> None:
    value = getattr(fastapi_cognito_jwt, name)
    # The object's own docstring, not one inherited from a base class.
    doc = value.__dict__.get("__doc__") if isinstance(value, type) else value.__doc__
    assert isinstance(doc, str)
    assert doc.strip()


@pytest.mark.parametrize("name", PUBLIC_CLASSES)
def test_public_methods_are_documented(name: str) -> None:
    cls = getattr(fastapi_cognito_jwt, name)
    missing = [
        attr
        for attr, member in vars(cls).items()
        if not attr.startswith("_")
        and (inspect.isfunction(member) or isinstance(member, (property, classmethod)))
        and not (inspect.getdoc(getattr(cls, attr)) or "").strip()
    ]
    assert missing == []


@pytest.mark.parametrize("name", PUBLIC_CLASSES)
def test_public_class_module(name: str) -> None:
    assert getattr(fastapi_cognito_jwt, name).__module__ == "fastapi_cognito_jwt"


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_public_function_module(name: str) -> None:
    assert getattr(fastapi_cognito_jwt, name).__module__ == "fastapi_cognito_jwt"


def test_package_is_documented() -> None:
    assert fastapi_cognito_jwt.__doc__
    assert fastapi_cognito_jwt.__doc__.strip()


def test_version() -> None:
    version = fastapi_cognito_jwt.__version__
    assert isinstance(version, str)
    assert version == importlib.metadata.version("fastapi-cognito-jwt")


def test_py_typed_ships_in_package() -> None:
    package_dir = Path(fastapi_cognito_jwt.__file__).parent
    assert (package_dir / "py.typed").is_file()
    assert importlib.resources.files("fastapi_cognito_jwt").joinpath("py.typed").is_file()


# -- exceptions -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXCEPTIONS)
def test_exception_derives_from_base_and_is_documented(name: str) -> None:
    cls = getattr(fastapi_cognito_jwt, name)
    assert issubclass(cls, fastapi_cognito_jwt.CognitoJWTError)
    assert issubclass(cls, Exception)
    doc = cls.__dict__.get("__doc__")
    assert isinstance(doc, str)
    assert doc.strip()


def test_every_exception_of_the_module_is_exported() -> None:
    module_exceptions = {
        name
        for name, value in vars(_exceptions).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__.startswith("fastapi_cognito_jwt")
    }
    assert module_exceptions == set(EXCEPTIONS)
    assert sorted(_exceptions.__all__) == sorted(EXCEPTIONS)


@pytest.mark.parametrize(
    ("name", "parent"),
    [
        pytest.param("ConfigurationError", "CognitoJWTError", id="ConfigurationError"),
        pytest.param("TokenError", "CognitoJWTError", id="TokenError"),
        pytest.param("MalformedTokenError", "TokenError", id="MalformedTokenError"),
        pytest.param("KeyNotFoundError", "TokenError", id="KeyNotFoundError"),
        pytest.param("InvalidSignatureError", "TokenError", id="InvalidSignatureError"),
        pytest.param("TokenExpiredError", "TokenError", id="TokenExpiredError"),
        pytest.param("TokenNotYetValidError", "TokenError", id="TokenNotYetValidError"),
        pytest.param("InvalidClaimError", "TokenError", id="InvalidClaimError"),
        pytest.param("InvalidIssuerError", "InvalidClaimError", id="InvalidIssuerError"),
        pytest.param("InvalidTokenUseError", "InvalidClaimError", id="InvalidTokenUseError"),
        pytest.param("InvalidClientError", "InvalidClaimError", id="InvalidClientError"),
        pytest.param("PermissionDeniedError", "CognitoJWTError", id="PermissionDeniedError"),
        pytest.param("JWKSUnavailableError", "CognitoJWTError", id="JWKSUnavailableError"),
        pytest.param("CognitoJWTError", "Exception", id="CognitoJWTError"),
        pytest.param("CognitoAuthError", "CognitoJWTError", id="CognitoAuthError"),
        pytest.param("CognitoServiceError", "CognitoJWTError", id="CognitoServiceError"),
        pytest.param(
            "CognitoUnreachableError", "CognitoServiceError", id="CognitoUnreachableError"
        ),
        pytest.param("RateLimitError", "CognitoAuthError", id="RateLimitError"),
        pytest.param("LimitExceededError", "RateLimitError", id="LimitExceededError"),
        pytest.param("TooManyRequestsError", "RateLimitError", id="TooManyRequestsError"),
        pytest.param(
            "TooManyFailedAttemptsError", "RateLimitError", id="TooManyFailedAttemptsError"
        ),
        *(
            pytest.param(name, "CognitoAuthError", id=name)
            for name in (
                "UsernameExistsError",
                "AliasExistsError",
                "CodeMismatchError",
                "ExpiredCodeError",
                "NotAuthorizedError",
                "UserNotConfirmedError",
                "UserNotFoundError",
                "PasswordResetRequiredError",
                "InvalidPasswordError",
                "InvalidParameterError",
                "CodeDeliveryFailureError",
            )
        ),
    ],
)
def test_exception_hierarchy(name: str, parent: str) -> None:
    cls = getattr(fastapi_cognito_jwt, name)
    expected = Exception if parent == "Exception" else getattr(fastapi_cognito_jwt, parent)
    assert cls.__bases__ == (expected,)


def test_exceptions_are_not_token_errors_when_they_should_not_be() -> None:
    # Neither a 403 nor a 503 may be caught as a 401.
    for name in (
        "PermissionDeniedError",
        "JWKSUnavailableError",
        "ConfigurationError",
        "CognitoAuthError",
        "CognitoServiceError",
    ):
        assert not issubclass(getattr(fastapi_cognito_jwt, name), fastapi_cognito_jwt.TokenError)


# -- fastapi_cognito_jwt.testing ------------------------------------------------------------


def test_testing_all() -> None:
    assert fastapi_cognito_jwt.testing.__all__ == ["LocalUserPool"]
    pool_class = fastapi_cognito_jwt.testing.LocalUserPool
    assert pool_class.__module__ == "fastapi_cognito_jwt.testing"
    assert (pool_class.__doc__ or "").strip()
    assert (fastapi_cognito_jwt.testing.__doc__ or "").strip()


def test_testing_is_not_exported_from_the_package() -> None:
    assert "LocalUserPool" not in fastapi_cognito_jwt.__all__
    assert "testing" not in fastapi_cognito_jwt.__all__


# -- the python-jose backend ----------------------------------------------------------------


def test_cryptography_backend_is_in_use() -> None:
    require_cryptography_backend()


def test_other_rsa_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class PurePythonRSAKey:
        """Stands in for python-jose's fallback `rsa` backend."""

    monkeypatch.setattr(jose.backends, "RSAKey", PurePythonRSAKey)
    with pytest.raises(ImportError, match=r"python-jose\[cryptography\]"):
        require_cryptography_backend()


def test_missing_cryptography_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail, as without the `cryptography` extra.
    monkeypatch.setitem(sys.modules, "jose.backends.cryptography_backend", None)
    with pytest.raises(ImportError, match=r"python-jose\[cryptography\]"):
        require_cryptography_backend()
