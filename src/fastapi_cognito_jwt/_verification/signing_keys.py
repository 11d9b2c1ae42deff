"""RS256 signing keys: a JWKS document read into python-jose keys, and the signature check.

python-jose is imported here first, so this is where its RSA backend is checked: without the
`cryptography` extra python-jose silently falls back to the pure-Python `rsa` package (slow,
and not what this library is tested with), and this module refuses to import.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from jose.backends import RSAKey
from jose.backends.base import Key

from .._exceptions import InvalidSignatureError
from .._json import loads_object
from . import base64url
from .parsed_token import MAX_KID_LENGTH

try:
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

__all__ = [
    "MAX_JWKS_KEYS",
    "MAX_RSA_BITS",
    "MIN_RSA_BITS",
    "JWKSFormatError",
    "check_signature",
    "parse_jwks",
]

logger = logging.getLogger("fastapi_cognito_jwt")

MAX_JWKS_KEYS = 16
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192

# Stateless, so one of each serves every check, from any thread.
_PKCS1V15 = padding.PKCS1v15()
_PREHASHED_SHA256 = utils.Prehashed(hashes.SHA256())


class _RS256Key(CryptographyRSAKey):
    """python-jose's RSA key for RS256, checking signatures without per-call set-up.

    python-jose's own `verify` makes a padding and a hash object and re-derives the public
    key on every call; with thousands of distinct tokens a second that is about 0.7 us of a
    verification (`make bench-verify`). The digest is hashlib's SHA-256, handed over as
    `Prehashed`: the same PKCS#1 v1.5 check, and cryptography then skips two of the four
    abstract-class checks (Python-level `isinstance` calls) it makes on every call, about
    0.3 us. Built from the public numbers a JWKS gives.
    """

    def __init__(self, public_key: rsa.RSAPublicKey) -> None:
        super().__init__(public_key, "RS256")
        self._public_key = public_key

    def verify(self, msg: bytes, sig: bytes) -> bool:
        try:
            digest = hashlib.sha256(msg).digest()
            self._public_key.verify(sig, digest, _PKCS1V15, _PREHASHED_SHA256)
        except InvalidSignature:
            return False
        return True


class JWKSFormatError(ValueError):
    """A JWKS document, or one key in it, that cannot be used; the message is safe to log."""


def check_signature(key: Key, signing_input: bytes, signature: bytes) -> None:
    """Check an RS256 signature with python-jose's key; raise `InvalidSignatureError`.

    The key must be an RS256 key of the cryptography backend, whatever built it (a custom
    `jwks` included): `Key.verify` follows the algorithm the key carries.
    """
    rs256: Key = key
    if type(key) is not _RS256Key and (  # the JWKS cache's own keys are RS256 by construction
        not isinstance(key, CryptographyRSAKey) or key.hash_alg is not CryptographyRSAKey.SHA256
    ):
        raise InvalidSignatureError("key is not an RS256 key")
    try:
        valid = rs256.verify(signing_input, signature)
    except Exception as exc:  # a crash in a backend is a bad signature, not a 500
        raise InvalidSignatureError("signature could not be verified") from exc
    if not valid:
        raise InvalidSignatureError("signature does not match")


def parse_jwks(body: bytes) -> dict[str, Key]:
    """The usable RS256 signing keys of a JWKS document, by `kid`.

    Keys that cannot be used are dropped (and logged); a document without a usable key, or
    that is not a JWKS, raises `JWKSFormatError`.
    """
    try:
        document = loads_object(body)
    except ValueError as exc:
        raise JWKSFormatError("response is not a JSON object") from exc
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise JWKSFormatError("response has no 'keys' list")
    if len(entries) > MAX_JWKS_KEYS:
        raise JWKSFormatError(f"response has more than {MAX_JWKS_KEYS} keys")
    # An ambiguous kid could select either of its keys, even one dropped below: trust none.
    kids = [entry.get("kid") for entry in entries if isinstance(entry, dict)]
    ambiguous = {kid for kid in kids if isinstance(kid, str) and kids.count(kid) > 1}
    keys: dict[str, Key] = {}
    for position, entry in enumerate(entries):
        try:
            kid, key = _parse_jwk(entry)
        except JWKSFormatError as exc:
            logger.warning("JWKS key #%d dropped: %s", position, exc)
            continue
        if kid in ambiguous:
            logger.warning("JWKS key #%d dropped: duplicate kid", position)
            continue
        keys[kid] = key
    if not keys:
        raise JWKSFormatError("response has no usable RS256 signing key")
    return keys


def _parse_jwk(entry: Any) -> tuple[str, Key]:
    if not isinstance(entry, dict):
        raise JWKSFormatError("not an object")
    if entry.get("kty") != "RSA":
        raise JWKSFormatError("kty is not RSA")
    if entry.get("alg", "RS256") != "RS256":
        raise JWKSFormatError("alg is not RS256")
    if entry.get("use", "sig") != "sig":
        raise JWKSFormatError("use is not sig")
    key_ops = entry.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise JWKSFormatError("key_ops does not allow verify")
    kid = entry.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise JWKSFormatError("kid is not a string of 1-128 characters")
    n, e = entry.get("n"), entry.get("e")
    if not isinstance(n, str) or not isinstance(e, str):
        raise JWKSFormatError("n or e is not a string")
    try:
        modulus = int.from_bytes(base64url.decode(n), "big")
        exponent = int.from_bytes(base64url.decode(e), "big")
    except ValueError as exc:
        raise JWKSFormatError("n or e is not canonical base64url") from exc
    if not MIN_RSA_BITS <= modulus.bit_length() <= MAX_RSA_BITS:
        raise JWKSFormatError("modulus size outside 2048-8192 bits")
    if exponent < 3 or exponent % 2 == 0 or exponent.bit_length() > 32:
        raise JWKSFormatError("public exponent is not an odd number from 3 to 2**32")
    try:
        # Built once per kid and reused for every verification with this key.
        key = _RS256Key(rsa.RSAPublicNumbers(exponent, modulus).public_key())
    except Exception as exc:  # pragma: no cover - cryptography raises several unrelated types
        raise JWKSFormatError("key could not be constructed") from exc
    return kid, key
