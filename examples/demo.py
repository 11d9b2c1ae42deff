"""`make demo`: the FastCognito app on a local Cognito (moto's server), no AWS account needed.

FastCognito is an authentication API built on the library: sign-up, verification, sign-in,
refresh, password change and sign-out on Cognito, and routes that need a valid access token.
The demo starts moto's Cognito server on 127.0.0.1 with the app's user pool, serves the app
with uvicorn at http://127.0.0.1:8000, walks a user's journey over real HTTP printing each
request and answer (sign up, a refused attempt to pick one's own role, verify, sign in, the
protected routes, an administrator granting a role as a Cognito group, refresh, change the
password, sign out and the protected route refusing the signed-out token, revoke a session
with its refresh token), then keeps the app running for you to try at /docs until Ctrl-C.

    python -m examples.demo                          # walk through, then keep serving
    python -m examples.demo --exit-after-walkthrough # or DEMO_EXIT=1: stop after the walk
    DEMO_PORT=8001 python -m examples.demo           # another port (8000 is the default)
"""

import argparse
import asyncio
import json
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

import httpx2
import uvicorn

from examples.fastcognito.emulator import (
    add_to_group,
    create_user_pool,
    free_port,
    moto_server,
    use_dummy_aws_env,
)
from examples.fastcognito.main import create_app

EMAIL = "ada@example.com"
PASSWORD = "Corr3ct-horse-battery!"
NEW_PASSWORD = "An0ther-horse-battery!"


def _short(value: str) -> str:
    return value if len(value) < 60 else f"{value[:12]}...{value[-6:]}"


def _shown(body: Any) -> str:
    """A body for printing: passwords masked, tokens and long values shortened."""
    if not isinstance(body, dict):
        return json.dumps(body)
    shown: dict[str, Any] = {}
    for key, value in body.items():
        if "password" in key:
            shown[key] = "********"
        elif isinstance(value, str) and key.endswith("token"):
            shown[key] = _short(value)
        elif isinstance(value, dict):
            shown[key] = {k: _short(v) if isinstance(v, str) else v for k, v in value.items()}
        else:
            shown[key] = value
    return json.dumps(shown)


class Walkthrough:
    """Sends the journey's requests and prints each with its answer."""

    def __init__(self, client: httpx2.AsyncClient) -> None:
        self.client = client
        self.statuses: list[int] = []

    async def send(
        self, what: str, method: str, path: str, *, body: Any = None, token: str | None = None
    ) -> httpx2.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.request(method, path, json=body, headers=headers)
        self.statuses.append(response.status_code)
        print(f"\n# {what}")
        print(f"{method} {path}" + (f"  Authorization: Bearer {_short(token)}" if token else ""))
        if body is not None:
            print(f"    {_shown(body)}")
        answer = _shown(response.json()) if response.content else "(no content)"
        print(f"  -> {response.status_code} {answer}")
        return response


async def walk(base_url: str, promote: Callable[[str], None] | None = None) -> list[int]:
    """A user's journey through the app's HTTP API; returns the statuses seen.

    `promote(username)` is the administrator's server-side call that puts the user in the
    `admins` group; without it that step and the admin route after it are skipped.
    """
    auth = "/api/v1/auth"
    signup = {
        "full_name": "Ada Lovelace",
        "email": EMAIL,
        "phone_number": "+15555550100",
        "password": PASSWORD,
    }
    async with httpx2.AsyncClient(base_url=base_url, timeout=10) as client:
        w = Walkthrough(client)
        await w.send("Sign up (name, phone_number)", "POST", f"{auth}/signup", body=signup)
        await w.send(
            "Sign up choosing your own role: refused, roles are set on the server",
            "POST",
            f"{auth}/signup",
            body={**signup, "email": "mallory@example.com", "role": "admin"},
        )
        await w.send("The same email again", "POST", f"{auth}/signup", body=signup)
        credentials = {"username": EMAIL, "password": PASSWORD}
        await w.send("Sign in before verifying", "POST", f"{auth}/signin", body=credentials)
        await w.send(
            "Verify the account (moto accepts any code; Cognito would email one)",
            "POST",
            f"{auth}/verify",
            body={"username": EMAIL, "code": "123456"},
        )
        wrong = {"username": EMAIL, "password": "Wr0ng-password!"}
        await w.send("Sign in with a wrong password", "POST", f"{auth}/signin", body=wrong)
        nobody = {"username": "nobody@example.com", "password": "Wr0ng-password!"}
        await w.send(
            "Sign in as an unknown user: the same answer", "POST", f"{auth}/signin", body=nobody
        )
        tokens = (await w.send("Sign in", "POST", f"{auth}/signin", body=credentials)).json()
        access = tokens["access_token"]
        await w.send("The protected route without a token", "GET", "/api/v1/users/hello")
        await w.send(
            "The protected route with the access token", "GET", "/api/v1/users/hello", token=access
        )
        await w.send(
            "Who am I: verified claims and Cognito's attributes", "GET", f"{auth}/me", token=access
        )
        await w.send("The admin route, not in admins", "GET", "/api/v1/users/admin", token=access)
        if promote is not None:
            print("\n# An administrator puts the user in the admins group (AdminAddUserToGroup)")
            promote(EMAIL)
        refreshed = await w.send(
            "Refresh: the new access token carries cognito:groups",
            "POST",
            f"{auth}/refresh",
            body={"refresh_token": tokens["refresh_token"]},
        )
        access = refreshed.json()["access_token"]
        if promote is not None:
            await w.send("The admin route, now", "GET", "/api/v1/users/admin", token=access)
        await w.send(
            "Change the password",
            "POST",
            f"{auth}/change-password",
            body={"previous_password": PASSWORD, "proposed_password": NEW_PASSWORD},
            token=access,
        )
        await w.send("Log out everywhere", "POST", f"{auth}/logout", token=access)
        await w.send(
            "Who am I, after logging out: Cognito refuses", "GET", f"{auth}/me", token=access
        )
        await w.send(
            "The protected route, after logging out: refused here too (revocation list)",
            "GET",
            "/api/v1/users/hello",
            token=access,
        )
        session = {"username": EMAIL, "password": NEW_PASSWORD}
        tokens = (await w.send("Sign in again", "POST", f"{auth}/signin", body=session)).json()
        access = tokens["access_token"]
        await w.send("The protected route", "GET", "/api/v1/users/hello", token=access)
        refresh = {"refresh_token": tokens["refresh_token"]}
        await w.send(
            "Revoke this session with its refresh token", "POST", f"{auth}/revoke", body=refresh
        )
        await w.send(
            "The protected route with the revoked session's token",
            "GET",
            "/api/v1/users/hello",
            token=access,
        )
        await w.send(
            "Refresh with the revoked refresh token", "POST", f"{auth}/refresh", body=refresh
        )
    return w.statuses


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


async def main(exit_after_walkthrough: bool, port: int) -> None:
    use_dummy_aws_env()
    with moto_server() as endpoint:
        pool = create_user_pool(endpoint)
        print(f"Local Cognito (moto) at {endpoint}: user pool {pool.user_pool_id}")
        print(f"App client {pool.client_id} (USER_PASSWORD_AUTH and refresh, no secret)")
        app = create_app(pool.settings())
        if not _port_is_free(port):
            taken, port = port, free_port()
            print(f"Port {taken} is in use; serving on {port} instead.")
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()  # uvicorn could not start: raise its error
                raise SystemExit("uvicorn stopped before it started")
            await asyncio.sleep(0.05)
        base_url = f"http://127.0.0.1:{port}"
        print(f"FastCognito at {base_url}")
        walked = False
        try:
            statuses = await walk(base_url, lambda user: add_to_group(pool, user, "admins"))
            walked = True
            print(f"\nAnswers: {' '.join(map(str, statuses))}")
            print(
                "Sign-out and revocation hold for locally verified tokens too: the app keeps a "
                "revocation list (set REDIS_URL to share it between replicas)."
            )
            if not exit_after_walkthrough:
                print(f"\nThe app keeps running: open {base_url}/docs  (Ctrl-C to stop)")
        finally:
            # A failed walk stops the server too, so the demo (and CI) never hangs on it.
            if exit_after_walkthrough or not walked:
                server.should_exit = True
            await serving


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m examples.demo", description=__doc__)
    parser.add_argument(
        "--exit-after-walkthrough",
        action="store_true",
        default=os.environ.get("DEMO_EXIT", "") not in ("", "0"),
        help="stop after the walkthrough instead of serving until Ctrl-C (or set DEMO_EXIT=1)",
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("DEMO_PORT", "8000")), help="app port"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args(sys.argv[1:])
    try:
        asyncio.run(main(args.exit_after_walkthrough, args.port))
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully on Ctrl-C, then re-raises it for the caller.
        print("\nStopped.")
