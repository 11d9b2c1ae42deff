"""Typed results of the auth-flow operations, read from Cognito's JSON replies.

Tokens and session handles are plain `str` fields kept out of `repr()`, so printing or
logging a result never shows them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "AuthChallenge",
    "AuthTokens",
    "CodeDelivery",
    "CognitoUser",
    "SignUpResult",
    "SoftwareTokenSetup",
]


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", validate_by_name=True)


class AuthTokens(_Result):
    """The tokens of a successful sign-in, challenge answer or refresh.

    `refresh_token` is None after a refresh unless the app client rotates refresh tokens.
    """

    access_token: str = Field(validation_alias="AccessToken", min_length=1, repr=False)
    id_token: str | None = Field(default=None, validation_alias="IdToken", repr=False)
    refresh_token: str | None = Field(default=None, validation_alias="RefreshToken", repr=False)
    expires_in: int = Field(validation_alias="ExpiresIn", ge=0)
    token_type: str = Field(default="Bearer", validation_alias="TokenType")


class AuthChallenge(_Result):
    """Cognito needs more before it issues tokens, e.g. `NEW_PASSWORD_REQUIRED` or an MFA code.

    Answer it with `CognitoAuthClient.respond_to_challenge(challenge, {...})`. `username` is
    the one to answer as: Cognito's `USER_ID_FOR_SRP` when it names one (the real username
    behind an email alias), else the one the sign-in used. `session` is Cognito's opaque
    handle for the next step.
    """

    name: str = Field(validation_alias="ChallengeName", min_length=1)
    session: str = Field(validation_alias="Session", min_length=1, repr=False)
    # Parameters can hold the real username and the user's attributes: kept out of repr().
    parameters: dict[str, str] = Field(
        default_factory=dict, validation_alias="ChallengeParameters", repr=False
    )
    username: str = Field(repr=False)
    # USER_AUTH's SELECT_CHALLENGE: the factors the user may choose, e.g. EMAIL_OTP, PASSWORD.
    available: tuple[str, ...] = Field(default=(), validation_alias="AvailableChallenges")


class CodeDelivery(_Result):
    """Where Cognito sent a code: a masked destination, the medium and the attribute."""

    destination: str | None = Field(default=None, validation_alias="Destination")
    delivery_medium: str | None = Field(default=None, validation_alias="DeliveryMedium")
    attribute_name: str | None = Field(default=None, validation_alias="AttributeName")


class SignUpResult(_Result):
    """A new user: its `sub`, whether it is already confirmed, and where the code went."""

    user_sub: str = Field(validation_alias="UserSub", min_length=1)
    user_confirmed: bool = Field(validation_alias="UserConfirmed")
    code_delivery: CodeDelivery | None = Field(default=None, validation_alias="CodeDeliveryDetails")


class CognitoUser(_Result):
    """The signed-in user as `GetUser` returns it: username, attributes and MFA settings."""

    username: str = Field(validation_alias="Username", min_length=1)
    attributes: dict[str, str] = Field(validation_alias="UserAttributes")
    preferred_mfa: str | None = Field(default=None, validation_alias="PreferredMfaSetting")
    mfa_methods: tuple[str, ...] = Field(default=(), validation_alias="UserMFASettingList")

    @field_validator("attributes", mode="before")
    @classmethod
    def _attribute_list(cls, value: Any) -> Any:
        # Cognito sends [{"Name": ..., "Value": ...}]; a value may be absent.
        if isinstance(value, list):
            pairs = {}
            for item in value:
                if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
                    raise ValueError("attribute without a name")
                pairs[item["Name"]] = item.get("Value", "")
            return pairs
        return value


class SoftwareTokenSetup(_Result):
    """An authenticator app's shared secret from `AssociateSoftwareToken`.

    `secret_code` is the TOTP key (base32) for the user's app, e.g. in an `otpauth://` QR
    code; it is kept out of `repr()`. `session` continues an `MFA_SETUP` sign-in challenge.
    """

    secret_code: str = Field(validation_alias="SecretCode", min_length=1, repr=False)
    session: str | None = Field(default=None, validation_alias="Session", repr=False)
