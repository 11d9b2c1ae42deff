"""A test kit: a local user pool that mints Cognito-shaped tokens, with no network.

```python
from fastapi.testclient import TestClient
from fastapi_cognito_jwt.testing import LocalUserPool

pool = LocalUserPool()
app.dependency_overrides[auth] = pool.bearer_like(auth)  # same routes and model, local keys
token = pool.access_token(username="alice", groups=["admin"])
response = TestClient(app).get("/me", headers={"Authorization": f"Bearer {token}"})
```

The override above still verifies every token for real (signature, issuer, client, expiry),
against the pool's own keys. To skip verification entirely, override with fixed credentials:
`app.dependency_overrides[auth] = lambda: pool.credentials(username="alice")`.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, overload

import httpx2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ._settings import CognitoSettings, UserPoolSettings
from ._verification.bearer import CognitoBearer, CognitoCredentials
from ._verification.claims import ClaimsT, CognitoClaims, TokenUse
from ._verification.oauth_bearer import CognitoOAuth2Bearer
from ._verification.revocation import RevocationList
from ._verification.verifier import CognitoVerifier

__all__ = ["LocalUserPool"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(value: Mapping[str, Any] | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    return json.dumps(value, separators=(",", ":")).encode()


class LocalUserPool:
    """An in-memory Cognito user pool: RSA keys, a JWKS endpoint and a token minter.

    `settings()` describes the pool as `CognitoSettings`; `transport()` serves its JWKS at the
    settings' JWKS URL as an `httpx2.MockTransport`; `verifier()` and `bearer()` wire both
    together. Tokens carry the claims Cognito puts in access, ID and client-credentials tokens;
    any claim can be overridden (or removed with `None`) through `claims`.

    Its settings set no unknown-kid cooldown (`jwks_miss_cooldown=0`), so a token signed
    after `rotate_key` verifies at once; pass `jwks_miss_cooldown=30` to `settings()` (or
    `verifier()`, `bearer()`) to test the cooldown itself. Several pools: give the others
    to `settings()`, `verifier()` or `bearer()` as `also=[other]`.

    Args:
        user_pool_id: the pool id; its prefix is the region.
        client_id: the app client the tokens are issued to.
        kid: the `kid` of the first signing key.
    """

    def __init__(
        self,
        *,
        user_pool_id: str = "eu-west-1_LocalPool1",
        client_id: str = "localclient0000000000000000",
        kid: str = "local-key-1",
    ) -> None:
        self.user_pool_id = user_pool_id
        self.client_id = client_id
        region = user_pool_id.split("_", 1)[0]
        self.issuer = f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
        self.jwks_url = f"{self.issuer}/.well-known/jwks.json"
        self.jwks_requests = 0
        """How many times the JWKS has been served."""
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        self.signing_kid = self.add_key(kid)

    # -- keys -----------------------------------------------------------------------------

    def add_key(self, kid: str | None = None) -> str:
        """Publish a new RSA-2048 key in the JWKS (not used for signing); return its kid."""
        kid = kid or f"local-key-{uuid.uuid4().hex[:8]}"
        self._keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return kid

    def rotate_key(self, *, keep_old: bool = True) -> str:
        """Sign from now on with a new key; keep the old one published unless told not to."""
        old = self.signing_kid
        self.signing_kid = self.add_key()
        if not keep_old:
            self.remove_key(old)
        return self.signing_kid

    def remove_key(self, kid: str) -> None:
        """Stop publishing the key `kid` in the JWKS."""
        del self._keys[kid]

    def public_key(self, kid: str | None = None) -> rsa.RSAPublicKey:
        """The public half of key `kid` (default: the signing key)."""
        return self._keys[kid or self.signing_kid].public_key()

    def jwks(self) -> dict[str, Any]:
        """The JWKS document, as Cognito publishes it."""
        keys = []
        for kid, private_key in self._keys.items():
            numbers = private_key.public_key().public_numbers()
            keys.append(
                {
                    "kid": kid,
                    "alg": "RS256",
                    "kty": "RSA",
                    "use": "sig",
                    "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                    "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
                }
            )
        return {"keys": keys}

    # -- wiring ---------------------------------------------------------------------------

    def pool_settings(self) -> UserPoolSettings:
        """This pool as one entry of `CognitoSettings.additional_pools`."""
        return UserPoolSettings(
            user_pool_id=self.user_pool_id,
            client_ids=[self.client_id],
            issuers=[self.issuer],
            jwks_url=self.jwks_url,
        )

    def settings(self, *, also: Iterable[LocalUserPool] = (), **overrides: Any) -> CognitoSettings:
        """`CognitoSettings` that accept this pool's tokens (and those of the pools `also`).

        `overrides` replace fields.
        """
        fields: dict[str, Any] = {
            **self.pool_settings().model_dump(),
            "jwks_miss_cooldown": 0.0,
            "additional_pools": [pool.pool_settings() for pool in also],
        }
        return CognitoSettings(**{**fields, **overrides})

    def transport(self, *, also: Iterable[LocalUserPool] = ()) -> httpx2.MockTransport:
        """An httpx2 transport that serves the JWKS at `jwks_url` (and that of each pool
        `also` at its own) and 404 elsewhere."""
        pools = {pool.jwks_url: pool for pool in (self, *also)}

        def handle(request: httpx2.Request) -> httpx2.Response:
            pool = pools.get(str(request.url))
            if request.method == "GET" and pool is not None:
                pool.jwks_requests += 1
                return httpx2.Response(200, json=pool.jwks())
            return httpx2.Response(404)

        return httpx2.MockTransport(handle)

    def verifier(
        self,
        *,
        also: Iterable[LocalUserPool] = (),
        revocations: RevocationList | None = None,
        **overrides: Any,
    ) -> CognitoVerifier:
        """A `CognitoVerifier` for this pool (and the pools `also`), fetching through
        `transport()`; `revocations` shares a revocation list (by default its own)."""
        also = tuple(also)
        return CognitoVerifier(
            self.settings(also=also, **overrides),
            transport=self.transport(also=also),
            revocations=revocations,
        )

    @overload
    def bearer(
        self,
        *,
        token_use: TokenUse,
        claims_model: type[ClaimsT],
        auto_error: bool = True,
        also: Iterable[LocalUserPool] = (),
        **overrides: Any,
    ) -> CognitoBearer[ClaimsT]: ...

    @overload
    def bearer(
        self,
        *,
        token_use: TokenUse,
        auto_error: bool = True,
        also: Iterable[LocalUserPool] = (),
        **overrides: Any,
    ) -> CognitoBearer[CognitoClaims]: ...

    def bearer(
        self,
        *,
        token_use: TokenUse,
        claims_model: type[Any] = CognitoClaims,
        auto_error: bool = True,
        also: Iterable[LocalUserPool] = (),
        **overrides: Any,
    ) -> CognitoBearer[Any]:
        """A `CognitoBearer` for this pool; use it in `app.dependency_overrides[auth]`."""
        return CognitoBearer(
            token_use=token_use,
            claims_model=claims_model,
            verifier=self.verifier(also=also, **overrides),
            auto_error=auto_error,
        )

    def bearer_like(
        self, bearer: CognitoBearer[ClaimsT], **overrides: Any
    ) -> CognitoBearer[ClaimsT]:
        """A bearer for this pool that stands in for `bearer`: the same class, token use,
        claims model and `auto_error`, and the same revocation list (so that an auth router's
        `/logout` or `/revoke` still reaches the routes it guards). A `CognitoOAuth2Bearer`
        keeps its domain and scopes, with this pool's client as the public client.

        ```python
        app.dependency_overrides[auth] = pool.bearer_like(auth)
        ```
        """
        revocations = bearer.verifier.revocations
        if isinstance(bearer, CognitoOAuth2Bearer):
            original = bearer.verifier.settings
            verifier = self.verifier(
                revocations=revocations,
                **{
                    "oauth_domain": original.oauth_domain,
                    "oauth_client_id": self.client_id,
                    "oauth_scopes": list(original.oauth_scopes),
                    **overrides,
                },
            )
            return CognitoOAuth2Bearer(
                token_use=bearer.token_use,
                claims_model=bearer.claims_model,
                verifier=verifier,
                auto_error=bearer.auto_error,
            )
        return CognitoBearer(
            token_use=bearer.token_use,
            claims_model=bearer.claims_model,
            verifier=self.verifier(revocations=revocations, **overrides),
            auto_error=bearer.auto_error,
        )

    # -- tokens ---------------------------------------------------------------------------

    def sign(
        self,
        payload: Mapping[str, Any] | bytes,
        *,
        header: Mapping[str, Any] | bytes | None = None,
        kid: str | None = None,
    ) -> str:
        """Sign `payload` with RS256 and return the compact token.

        `header` defaults to `{"kid": <signing kid>, "alg": "RS256"}`; bytes are used as they
        are, for tests of malformed JSON. `kid` picks the signing key.
        """
        kid = kid or self.signing_kid
        header_bytes = _json(header if header is not None else {"kid": kid, "alg": "RS256"})
        signing_input = f"{_b64url(header_bytes)}.{_b64url(_json(payload))}".encode("ascii")
        signature = self._keys[kid].sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input.decode('ascii')}.{_b64url(signature)}"

    def access_token(
        self,
        *,
        username: str = "alice",
        groups: Iterable[str] = (),
        scopes: Iterable[str] = ("aws.cognito.signin.user.admin",),
        expires_in: int = 3600,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """Mint an access token for `username`, as Cognito issues at sign-in."""
        return self.sign(self.access_claims(username, groups, scopes, expires_in, claims))

    def id_token(
        self,
        *,
        username: str = "alice",
        groups: Iterable[str] = (),
        expires_in: int = 3600,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """Mint an ID token for `username`; put user attributes in `claims`."""
        return self.sign(self.id_claims(username, groups, expires_in, claims))

    def m2m_token(
        self,
        *,
        scopes: Iterable[str] = ("api/read",),
        expires_in: int = 3600,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """Mint a client-credentials access token: no user, so no username."""
        payload = self._base("access", self.client_id, expires_in)
        payload.update(client_id=self.client_id, scope=" ".join(scopes))
        return self.sign(_apply(payload, claims))

    def access_claims(
        self,
        username: str = "alice",
        groups: Iterable[str] = (),
        scopes: Iterable[str] = ("aws.cognito.signin.user.admin",),
        expires_in: int = 3600,
        claims: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The payload `access_token` signs."""
        payload = self._user_base("access", username, groups, expires_in)
        payload.update(client_id=self.client_id, scope=" ".join(scopes), username=username)
        return _apply(payload, claims)

    def id_claims(
        self,
        username: str = "alice",
        groups: Iterable[str] = (),
        expires_in: int = 3600,
        claims: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The payload `id_token` signs."""
        payload = self._user_base("id", username, groups, expires_in)
        payload.update({"aud": self.client_id, "cognito:username": username})
        return _apply(payload, claims)

    @overload
    def credentials(
        self,
        *,
        token_use: TokenUse = "access",
        username: str = "alice",
        claims_model: type[ClaimsT],
        **kwargs: Any,
    ) -> CognitoCredentials[ClaimsT]: ...

    @overload
    def credentials(
        self, *, token_use: TokenUse = "access", username: str = "alice", **kwargs: Any
    ) -> CognitoCredentials[CognitoClaims]: ...

    def credentials(
        self,
        *,
        token_use: TokenUse = "access",
        username: str = "alice",
        claims_model: type[Any] = CognitoClaims,
        **kwargs: Any,
    ) -> CognitoCredentials[Any]:
        """Fixed credentials for `app.dependency_overrides[auth] = lambda: ...` (no verifying).

        `kwargs` go to `access_claims` or `id_claims`; the claims are validated into
        `claims_model`, as the bearer they stand in for would.
        """
        if token_use == "access":
            payload = self.access_claims(username, **kwargs)
        else:
            payload = self.id_claims(username, **kwargs)
        credentials: CognitoCredentials[Any] = CognitoCredentials.model_construct(
            scheme="Bearer",
            credentials=self.sign(payload),
            claims=claims_model.model_validate(payload),
            user_pool_id=self.user_pool_id,
        )
        return credentials

    def _user_base(
        self, token_use: TokenUse, username: str, groups: Iterable[str], expires_in: int
    ) -> dict[str, Any]:
        """What access and ID tokens from one sign-in share."""
        payload = self._base(token_use, _sub(username), expires_in)
        payload.update(
            origin_jti=str(uuid.uuid4()), event_id=str(uuid.uuid4()), auth_time=payload["iat"]
        )
        if groups := list(groups):
            payload["cognito:groups"] = groups
        return payload

    def _base(self, token_use: TokenUse, sub: str, expires_in: int) -> dict[str, Any]:
        now = int(time.time())
        return {
            "sub": sub,
            "iss": self.issuer,
            "token_use": token_use,
            "iat": now,
            "exp": now + expires_in,
            "jti": str(uuid.uuid4()),
        }


def _sub(username: str) -> str:
    # A stable uuid per username, as Cognito's sub is stable per user.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"local-user-pool/{username}"))


def _apply(payload: dict[str, Any], claims: Mapping[str, Any] | None) -> dict[str, Any]:
    for name, value in (claims or {}).items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload
