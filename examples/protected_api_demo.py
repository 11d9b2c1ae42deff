"""The protected-API example against the test kit's local user pool, no AWS account needed.

Run it with `python -m examples.protected_api_demo`.

The test kit's `LocalUserPool` owns an RSA key, serves its JWKS to the library through an
httpx2 transport and mints Cognito-shaped tokens. The demo wires the example app to it, then
calls the protected routes the way clients would and prints each answer: 401 without or with a
bad token, 403 without the required group or scope, 200 with the right token.
"""

import asyncio
import json

import httpx2

from examples.protected_api import create_app
from fastapi_cognito_jwt.testing import LocalUserPool


def _short(token: str) -> str:
    return token if len(token) < 32 else f"{token[:16]}...{token[-8:]}"


async def main() -> None:
    pool = LocalUserPool()
    app = create_app(pool.bearer(token_use="access"))
    alice = pool.access_token(username="alice", groups=["users"], scopes=["openid"])
    root = pool.access_token(username="root", groups=["admin"], scopes=["openid", "api/read"])
    expired = pool.access_token(username="alice", claims={"exp": 1_700_000_000})
    id_token = pool.id_token(username="alice")
    forged = LocalUserPool(kid=pool.signing_kid).access_token(username="mallory")

    calls = [
        ("a public route", "/public", None),
        ("no token", "/me", None),
        ("a token that is not a JWT", "/me", "not-a-jwt"),
        ("a token signed by someone else's key", "/me", forged),
        ("an expired token", "/me", expired),
        ("an ID token where an access token is required", "/me", id_token),
        ("alice's access token", "/me", alice),
        ("alice, the username helper", "/hello", alice),
        ("alice, a route for the admin group", "/admin", alice),
        ("root, a route for the admin group", "/admin", root),
        ("alice, a route that needs scope api/read", "/reports", alice),
        ("root, a route that needs scope api/read", "/reports", root),
        ("root, a router protected as a whole", "/private/groups", root),
    ]
    print(f"Local user pool {pool.user_pool_id}, app client {pool.client_id}")
    print(f"JWKS served locally at {pool.jwks_url}\n")
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://demo") as client:
        for what, path, token in calls:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = await client.get(path, headers=headers)
            shown = f"Bearer {_short(token)}" if token else "(no Authorization header)"
            print(f"GET {path}  -- {what}")
            print(f"    Authorization: {shown}")
            print(f"    -> {response.status_code} {json.dumps(response.json())}")
            if "www-authenticate" in response.headers:
                print(f"       WWW-Authenticate: {response.headers['www-authenticate']}")
    print(f"\nThe JWKS was fetched {pool.jwks_requests} time(s) for {len(calls)} requests.")


if __name__ == "__main__":
    asyncio.run(main())
