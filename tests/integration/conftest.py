"""Fixtures for the end-to-end tests: moto's Cognito server on 127.0.0.1 and real tokens.

Everything is session-scoped: one server, one user pool and one sign-in per user serve the
whole session (moto's tokens live an hour). boto3 gets dummy credentials and the region, so
no profile, config file or instance metadata is consulted.
"""

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from examples.fastcognito.emulator import (
    AWS_ENV,
    AWS_ENV_REMOVED,
    free_port,
    idp_client,
    moto_server as start_moto_server,
)
from fastapi_cognito_jwt import CognitoSettings

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

PASSWORD = "Corr3ct-horse-battery!"
ADMIN_GROUP = "admin"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Start moto's server on a free loopback port; yield its base URL; stop it afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in AWS_ENV.items():
            patch.setenv(name, value)
        for name in AWS_ENV_REMOVED:
            patch.delenv(name, raising=False)
        with start_moto_server() as url:
            yield url


@dataclass(frozen=True)
class SignedIn:
    """A user's real tokens from `initiate_auth(AuthFlow="USER_PASSWORD_AUTH")`."""

    username: str
    sub: str
    email: str
    client_id: str
    access_token: str
    id_token: str
    refresh_token: str


@dataclass(frozen=True)
class MotoUserPool:
    """A user pool on the moto server with two app clients; only `client_id` is configured."""

    base_url: str
    idp: "CognitoIdentityProviderClient"
    user_pool_id: str
    client_id: str
    other_client_id: str

    def settings(self, **overrides: Any) -> CognitoSettings:
        """Settings for this pool: the default issuer, and the JWKS from the moto server."""
        fields: dict[str, Any] = {
            "user_pool_id": self.user_pool_id,
            "client_ids": [self.client_id],
            "jwks_url": f"{self.base_url}/{self.user_pool_id}/.well-known/jwks.json",
        }
        return CognitoSettings(**{**fields, **overrides})

    def sign_up(self, username: str, *, groups: tuple[str, ...] = ()) -> None:
        """Sign a user up (email and custom:team attributes), confirm it, add it to groups."""
        self.idp.sign_up(
            ClientId=self.client_id,
            Username=username,
            Password=PASSWORD,
            UserAttributes=[
                {"Name": "email", "Value": f"{username}@example.com"},
                {"Name": "custom:team", "Value": "platform"},
            ],
        )
        self.idp.admin_confirm_sign_up(UserPoolId=self.user_pool_id, Username=username)
        for group in groups:
            self.idp.admin_add_user_to_group(
                UserPoolId=self.user_pool_id, Username=username, GroupName=group
            )

    def sign_in(self, username: str, *, client_id: str | None = None) -> SignedIn:
        client_id = client_id or self.client_id
        result = self.idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
        )["AuthenticationResult"]
        user = self.idp.admin_get_user(UserPoolId=self.user_pool_id, Username=username)
        attributes = {item["Name"]: item.get("Value", "") for item in user["UserAttributes"]}
        return SignedIn(
            username=username,
            sub=attributes["sub"],
            email=attributes["email"],
            client_id=client_id,
            access_token=result["AccessToken"],
            id_token=result["IdToken"],
            refresh_token=result["RefreshToken"],
        )


@pytest.fixture(scope="session")
def user_pool(moto_server: str) -> MotoUserPool:
    """A pool with a `custom:team` attribute, an `admin` group and two secret-less clients."""
    cognito_idp = idp_client(moto_server)
    pool_id = cognito_idp.create_user_pool(
        PoolName="integration",
        Schema=[{"Name": "team", "AttributeDataType": "String", "Mutable": True}],
    )["UserPool"]["Id"]
    clients = [
        cognito_idp.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=name,
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            # Real Cognito puts every readable attribute in the ID token when ReadAttributes
            # is unset; moto only copies the standard attributes listed here.
            ReadAttributes=["email", "email_verified"],
        )["UserPoolClient"]["ClientId"]
        for name in ("web", "other")
    ]
    cognito_idp.create_group(UserPoolId=pool_id, GroupName=ADMIN_GROUP)
    return MotoUserPool(moto_server, cognito_idp, pool_id, clients[0], clients[1])


@pytest.fixture(scope="session")
def admin_user(user_pool: MotoUserPool) -> SignedIn:
    """`alice`, in the `admin` group, signed in through the configured client."""
    user_pool.sign_up("alice", groups=(ADMIN_GROUP,))
    return user_pool.sign_in("alice")


@pytest.fixture(scope="session")
def plain_user(user_pool: MotoUserPool) -> SignedIn:
    """`bob`, in no group, signed in through the configured client."""
    user_pool.sign_up("bob")
    return user_pool.sign_in("bob")


@pytest.fixture(scope="session")
def other_client_user(user_pool: MotoUserPool, admin_user: SignedIn) -> SignedIn:
    """`alice` again, signed in through the app client that the settings do not list."""
    return user_pool.sign_in(admin_user.username, client_id=user_pool.other_client_id)


class RedisServer:
    """Debian's `redis-server` on 127.0.0.1 and a free port: no persistence, so a restart is
    empty, as a Redis without persistence comes back after a crash."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            shutil.which("redis-server") or "redis-server",
            *("--bind", "127.0.0.1", "--port", str(self.port), "--save", ""),
            *("--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning"),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        """SIGKILL: a crash, not a shutdown."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh `redis-server` for one test (started, killed and restarted as the test wants)."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    server = RedisServer(free_port())
    server.start()
    yield server
    server.kill()
