"""Refuse to run on a python-jose RSA backend other than `cryptography`."""

from __future__ import annotations

__all__ = ["require_cryptography_backend"]


def require_cryptography_backend() -> None:
    """Raise ImportError unless python-jose verifies RSA with `cryptography`.

    Without the `cryptography` extra python-jose silently falls back to the pure-Python `rsa`
    package: slow, and not what this library is tested with.
    """
    try:
        from jose.backends import RSAKey
        from jose.backends.cryptography_backend import CryptographyRSAKey
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "fastapi-cognito-jwt needs python-jose's cryptography backend: "
            "pip install 'python-jose[cryptography]'"
        ) from exc
    if RSAKey is not CryptographyRSAKey:  # pragma: no cover - depends on the environment
        raise ImportError(
            "python-jose is not using the cryptography RSA backend; "
            "pip install 'python-jose[cryptography]'"
        )
