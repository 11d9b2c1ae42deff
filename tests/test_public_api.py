"""The public surface: `__all__`, documentation, the exception tree, and what an import loads."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import inspect
import re
import subprocess
import sys
import types

import pytest

import fastapi_cognito_jwt
import fastapi_cognito_jwt.testing
from fastapi_cognito_jwt import _exceptions


def test_all_is_every_public_name_sorted_and_each_resolves() -> None:
    # (+ the lazy ones; not the `CognitoCredentials[X]` pydantic files next to its generic model)
    names = [n for n in dir(fastapi_cognito_jwt) if not n.startswith("_") and n.isidentifier()]
    public = [n for n in names if not isinstance(getattr(fastapi_cognito_jwt, n), types.ModuleType)]
    assert fastapi_cognito_jwt.__all__ == sorted([*public, "__version__"])
    namespace: dict[str, object] = {}
    exec("from fastapi_cognito_jwt import *", namespace)  # noqa: S102
    assert sorted(set(namespace) - {"__builtins__"}) == fastapi_cognito_jwt.__all__
    for name in fastapi_cognito_jwt.__all__:
        value = getattr(fastapi_cognito_jwt, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__ == "fastapi_cognito_jwt", name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        fastapi_cognito_jwt.nothing  # noqa: B018


def test_every_public_name_and_method_is_documented() -> None:
    assert (fastapi_cognito_jwt.__doc__ or "").strip()
    for name in set(fastapi_cognito_jwt.__all__) - {"__version__", "TokenUse"}:
        value = getattr(fastapi_cognito_jwt, name)
        # The object's own docstring, not one inherited from a base class.
        doc = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
        assert isinstance(doc, str) and doc.strip(), name
        methods = (types.FunctionType, property, classmethod)
        for attr, member in vars(value).items() if inspect.isclass(value) else []:
            if not attr.startswith("_") and isinstance(member, methods):
                assert (inspect.getdoc(getattr(value, attr)) or "").strip(), f"{name}.{attr}"


def test_the_exception_tree_is_the_documented_one() -> None:
    # The tree drawn in the exceptions module's docstring, checked against the classes.
    tree = (_exceptions.__doc__ or "").split("```")[1].strip("\n").splitlines()
    parents: list[type] = [Exception]
    documented = set()
    for line in tree:
        match = re.search(r"[A-Z]\w+", line)
        assert match, line
        depth, cls = match.start() // 4, getattr(fastapi_cognito_jwt, match[0])
        del parents[depth + 1 :]
        assert cls.__bases__ == (parents[depth],), match[0]
        assert (cls.__dict__.get("__doc__") or "").strip(), match[0]
        parents.append(cls)
        documented.add(match[0])
    # Every exception is drawn and exported.
    assert documented == set(_exceptions.__all__) <= set(fastapi_cognito_jwt.__all__)


def test_version_typing_marker_and_the_testing_module() -> None:
    assert fastapi_cognito_jwt.__version__ == importlib.metadata.version("fastapi-cognito-jwt")
    assert importlib.resources.files("fastapi_cognito_jwt").joinpath("py.typed").is_file()
    testing = fastapi_cognito_jwt.testing
    assert testing.__all__ == ["LocalUserPool"] and (testing.__doc__ or "").strip()
    assert testing.LocalUserPool.__module__ == "fastapi_cognito_jwt.testing"
    assert (testing.LocalUserPool.__doc__ or "").strip()
    assert not {"LocalUserPool", "testing"} & set(fastapi_cognito_jwt.__all__)


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the tests' own code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("extra", [True, False], ids=["with-auth-flows", "without-auth-flows"])
def test_an_app_that_only_verifies_loads_no_auth_flow_code(extra: bool) -> None:
    result = run(f"""
import asyncio, sys
if not {extra}:
    sys.modules["email_validator"] = None  # as if the auth-flows extra were not installed
import fastapi_cognito_jwt
assert [m for m in sys.modules if m.startswith("fastapi_cognito_jwt._auth_flows")] == []
from fastapi_cognito_jwt.testing import LocalUserPool
pool = LocalUserPool()
claims = asyncio.run(pool.verifier().verify(pool.access_token(), token_use="access"))
assert claims.username == "alice"
assert [m for m in sys.modules if m.startswith("fastapi_cognito_jwt._auth_flows")] == []
try:
    print(fastapi_cognito_jwt.auth_router.__module__)
except ImportError as exc:
    print(exc)
""")
    assert result.returncode == 0, result.stderr
    last = result.stdout.splitlines()[-1]
    assert (last == "fastapi_cognito_jwt") if extra else ("fastapi-cognito-jwt[auth-flows]" in last)


@pytest.mark.parametrize(
    "setup",
    [
        pytest.param('sys.modules["jose.backends.cryptography_backend"] = None', id="missing"),
        pytest.param("import jose.backends; jose.backends.RSAKey = object", id="another-backend"),
    ],
)
def test_python_jose_without_the_cryptography_backend_is_refused(setup: str) -> None:
    result = run(f"import sys\n{setup}\nimport fastapi_cognito_jwt")
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "python-jose[cryptography]" in result.stderr
