"""Fixtures for the end-to-end tests: moto's Cognito server on 127.0.0.1 and real tokens.

Everything is session-scoped: one server, one user pool and one sign-in per user serve the
whole module (moto's tokens live an hour). boto3 gets dummy credentials and the region
explicitly and through the environment, so no profile, config file or IMDS is consulted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
import pytest

from examples.fastcognito.emulator import moto_server as start_moto_server
from fastapi_cognito_jwt import CognitoSettings

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

# moto answers unsigned user-pool calls (GlobalSignOut among them) from its us-east-1 backend.
REGION = "us-east-1"
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
PASSWORD = "Corr3ct-horse-battery!"
ADMIN_GROUP = "admin"

# What the fixture puts in the environment for the session; the previous values come back
# afterwards. Pointing the config files at nothing keeps a developer's ~/.aws out of it.
_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_AWS_ENV_REMOVED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Start moto's server on a free loopback port; yield its base URL; stop it afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in _AWS_ENV.items():
            patch.setenv(name, value)
        for name in _AWS_ENV_REMOVED:
            patch.delenv(name, raising=False)
        with start_moto_server() as url:
            yield url


@pytest.fixture(scope="session")
def cognito_idp(moto_server: str) -> CognitoIdentityProviderClient:
    """A boto3 Cognito client talking to the moto server only."""
    return boto3.client(
        "cognito-idp",
        region_name=REGION,
        endpoint_url=moto_server,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


@dataclass(frozen=True)
class SignedIn:
    """A user's real tokens from `initiate_auth(AuthFlow="USER_PASSWORD_AUTH")`."""

    username: str
    sub: str
    email: str
    client_id: str
    groups: tuple[str, ...]
    access_token: str
    id_token: str
    refresh_token: str


@dataclass(frozen=True)
class MotoUserPool:
    """A user pool on the moto server with two app clients; only `client_id` is configured."""

    base_url: str
    idp: CognitoIdentityProviderClient
    user_pool_id: str
    client_id: str
    other_client_id: str

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/{self.user_pool_id}/.well-known/jwks.json"

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{REGION}.amazonaws.com/{self.user_pool_id}"

    def settings(self, *, client_ids: list[str] | None = None) -> CognitoSettings:
        """Settings for this pool: the default issuer, and the JWKS from the moto server."""
        return CognitoSettings(
            user_pool_id=self.user_pool_id,
            client_ids=client_ids if client_ids is not None else [self.client_id],
            jwks_url=self.jwks_url,
        )

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
        response = self.idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
        )
        result = response["AuthenticationResult"]
        user = self.idp.admin_get_user(UserPoolId=self.user_pool_id, Username=username)
        attributes = {item["Name"]: item.get("Value", "") for item in user["UserAttributes"]}
        groups = self.idp.admin_list_groups_for_user(
            UserPoolId=self.user_pool_id, Username=username
        )["Groups"]
        return SignedIn(
            username=username,
            sub=attributes["sub"],
            email=attributes["email"],
            client_id=client_id,
            groups=tuple(group["GroupName"] for group in groups),
            access_token=result["AccessToken"],
            id_token=result["IdToken"],
            refresh_token=result["RefreshToken"],
        )


@pytest.fixture(scope="session")
def user_pool(moto_server: str, cognito_idp: CognitoIdentityProviderClient) -> MotoUserPool:
    """A pool with a `custom:team` attribute, an `admin` group and two secret-less clients."""
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
    return MotoUserPool(
        base_url=moto_server,
        idp=cognito_idp,
        user_pool_id=pool_id,
        client_id=clients[0],
        other_client_id=clients[1],
    )


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
