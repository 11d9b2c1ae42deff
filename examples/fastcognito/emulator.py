"""A local Cognito for the demo and the tests: moto's server and FastCognito's user pool.

moto answers the user-pool API without an AWS account. Its confirmation step accepts any
code (it sends no email), and it serves the pool's signing keys at
`{server}/{pool_id}/.well-known/jwks.json`. It has no `RevokeToken`: `moto_server` adds one
(see `_revoke_token`). Everything else here is as in real Cognito; its tokens carry
`origin_jti`, shared by a sign-in's tokens and their refreshes, as Cognito's do.
"""

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from moto.cognitoidp.responses import CognitoIdpResponse
from moto.core.responses import EmptyResult
from moto.server import ThreadedMotoServer

from .config import Settings

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

# moto keeps user pools per region and answers unsigned calls (the auth flows) from us-east-1.
REGION = "us-east-1"
# boto3 needs credentials to sign the admin calls that create the pool; moto accepts any.
# Pointing the config files at nothing keeps the developer's ~/.aws out of it.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
AWS_ENV_REMOVED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def use_dummy_aws_env() -> None:
    """Point boto3 at dummy credentials, and away from the developer's AWS profile."""
    os.environ.update(AWS_ENV)
    for name in AWS_ENV_REMOVED:
        os.environ.pop(name, None)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def _revoke_token(self: CognitoIdpResponse) -> EmptyResult:
    """`RevokeToken` as Cognito documents it, for moto, which lacks it: the refresh token of
    the app client `ClientId` can no longer refresh (moto's `GlobalSignOut` does the same to
    all of a user's). An unknown token is no error, as in Cognito."""
    token, client_id = self._get_param("Token"), self._get_param("ClientId")
    for user_pool in self.backend.user_pools.values():
        session = user_pool.refresh_tokens.get(token)
        if session is not None and session[0] == client_id:
            user_pool.refresh_tokens[token] = None
    return EmptyResult()


@contextmanager
def moto_server(host: str = "127.0.0.1", port: int | None = None) -> Iterator[str]:
    """Run moto's server on `host` (a free port by default); yield its base URL."""
    # werkzeug logs each request moto serves; the demo prints its own account of them.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    CognitoIdpResponse.revoke_token = _revoke_token  # type: ignore[attr-defined]
    server = ThreadedMotoServer(ip_address=host, port=port or free_port(host), verbose=False)
    server.start()
    try:
        bound_host, bound_port = server.get_host_and_port()
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.stop()


def idp_client(endpoint: str) -> "CognitoIdentityProviderClient":
    """A boto3 Cognito client that talks to the emulator at `endpoint` only."""
    return boto3.client(
        "cognito-idp",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


@dataclass(frozen=True)
class LocalPool:
    """FastCognito's user pool on the emulator, and the app settings that point at it."""

    endpoint: str
    user_pool_id: str
    client_id: str

    def settings(self) -> Settings:
        """The FastCognito app's settings for this pool."""
        return Settings(
            AWS_REGION_NAME=REGION,
            AWS_COGNITO_APP_CLIENT_ID=self.client_id,
            AWS_COGNITO_USER_POOL_ID=self.user_pool_id,
            AWS_COGNITO_ENDPOINT_URL=f"{self.endpoint}/",
            AWS_COGNITO_JWKS_URL=f"{self.endpoint}/{self.user_pool_id}/.well-known/jwks.json",
            # moto's USER_SRP_AUTH accepts any proof, so a wrong password would sign in; against
            # it the app sends the password instead. Against Cognito, leave SRP (the default).
            AWS_COGNITO_SIGN_IN_FLOW="USER_PASSWORD_AUTH",
        )


def create_user_pool(endpoint: str) -> LocalPool:
    """FastCognito's pool: sign-in by email, `name`, `phone_number` and an `admins` group.

    Its app client has no secret and allows `USER_PASSWORD_AUTH` and refresh, which the app's
    sign-in and refresh use. The pool has no role attribute: roles are groups (`add_to_group`).
    """
    idp = idp_client(endpoint)
    pool_id = idp.create_user_pool(
        PoolName="FastCognito",
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
    )["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="fastcognito",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    idp.create_group(GroupName="admins", UserPoolId=pool_id, Description="FastCognito admins")
    return LocalPool(endpoint=endpoint, user_pool_id=pool_id, client_id=client_id)


def add_to_group(pool: LocalPool, username: str, group: str) -> None:
    """An administrator's call (`AdminAddUserToGroup`, AWS credentials): give a user a role.

    In production the same call runs from an admin tool or a Cognito trigger, never from a
    route a user can reach with their own token.
    """
    idp_client(pool.endpoint).admin_add_user_to_group(
        UserPoolId=pool.user_pool_id, Username=username, GroupName=group
    )
