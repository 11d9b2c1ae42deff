"""The JSON bodies `auth_router` accepts and answers: validated before anything reaches Cognito.

Passwords are `SecretStr`, so a body printed or logged by accident shows `**********`.
"""

# No `from __future__ import annotations`: FastAPI reads these models' annotations at runtime.

from abc import ABC, abstractmethod
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    StrictBool,
    StringConstraints,
    model_validator,
)

__all__ = [
    "ChallengeAnswer",
    "ChoiceChallengeResponse",
    "ChoiceSignInRequest",
    "MFAPreferenceRequest",
    "MFASetupAssociateRequest",
    "MFASetupVerifyRequest",
    "SelectChallengeRequest",
    "SoftwareTokenResponse",
    "TotpVerifyRequest",
    "ChallengeResponse",
    "ChangePasswordRequest",
    "ConfirmRequest",
    "DeleteAttributesRequest",
    "MeResponse",
    "MessageResponse",
    "RefreshRequest",
    "ResetPasswordRequest",
    "SignInRequest",
    "SignUpForm",
    "SignUpRequest",
    "SignUpResponse",
    "TokenResponse",
    "UpdateAttributesRequest",
    "UsernameRequest",
]

# Cognito's username: 1-128 letters, marks, symbols, digits or punctuation; no spaces.
Username = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^\S+$")]
# The password being checked: anything Cognito could hold (it allows up to 256 characters).
Password = Annotated[SecretStr, Field(min_length=1, max_length=256)]
# A password being set: Cognito's policy decides the rest; 8 is its default minimum.
NewPassword = Annotated[SecretStr, Field(min_length=8, max_length=256)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^\S+$")]
PhoneNumber = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]
AttributeName = Annotated[str, StringConstraints(pattern=r"^(custom:[\w.-]{1,20}|[a-z_]{1,32})$")]
AttributeValue = Annotated[str, StringConstraints(max_length=2048)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SignUpForm(_Body, ABC):
    """The base of a sign-up body: say which username, password and attributes to send.

    Subclass it to accept your own fields and pass it as `auth_router(sign_up_model=...)`:

    ```python
    class Registration(SignUpForm):
        email: EmailStr
        password: SecretStr = Field(min_length=8)
        full_name: str = Field(max_length=50)

        def cognito_username(self) -> str:
            return self.email

        def cognito_password(self) -> str:
            return self.password.get_secret_value()

        def cognito_attributes(self) -> dict[str, str]:
            return {"email": self.email, "name": self.full_name}
    ```

    The router sends only attributes named in the settings' `writable_attributes`; any other
    is refused with 422 before Cognito is asked. Never take a role from the user: roles are
    Cognito groups that an administrator or a trigger assigns (check them with `require_groups`).
    """

    @abstractmethod
    def cognito_username(self) -> str:
        """The `Username` sent to `SignUp`."""

    @abstractmethod
    def cognito_password(self) -> str:
        """The `Password` sent to `SignUp`."""

    def cognito_attributes(self) -> dict[str, str]:
        """The `UserAttributes` sent to `SignUp`: each must be in `writable_attributes`."""
        return {}


class SignUpRequest(SignUpForm):
    """The default sign-up body: a username, a password, and optional attributes."""

    username: Username
    password: NewPassword
    email: EmailStr | None = None
    phone_number: PhoneNumber | None = Field(default=None, description="E.164, e.g. +447700900123")
    attributes: dict[AttributeName, AttributeValue] = Field(
        default_factory=dict,
        max_length=50,
        description="Other attributes by name; only those in the settings' "
        "`writable_attributes` are accepted.",
    )

    def cognito_username(self) -> str:
        return self.username

    def cognito_password(self) -> str:
        return self.password.get_secret_value()

    def cognito_attributes(self) -> dict[str, str]:
        attributes = dict(self.attributes)
        if self.email is not None:
            attributes["email"] = self.email
        if self.phone_number is not None:
            attributes["phone_number"] = self.phone_number
        return attributes


class UsernameRequest(_Body):
    """A body naming a user: resend a code, or start a password reset."""

    username: Username


class ConfirmRequest(_Body):
    """Confirm a new account with the code Cognito sent."""

    username: Username
    code: Code


class SignInRequest(_Body):
    """Sign in with a username and password."""

    username: Username
    password: Password


class ChallengeAnswer(_Body):
    """Answer the challenge a sign-in returned, e.g. `{"NEW_PASSWORD": ...}`."""

    username: Username
    challenge_name: Annotated[str, StringConstraints(pattern=r"^[A-Z_]{1,64}$")]
    session: Annotated[str, StringConstraints(min_length=20, max_length=2048)]
    responses: dict[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z_:.]{1,64}$")],
        Annotated[str, StringConstraints(min_length=1, max_length=2048)],
    ] = Field(max_length=10)


class RefreshRequest(_Body):
    """A refresh token; with a confidential app client, also the `cognito:username`."""

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=8192)]
    username: Username | None = None


class ResetPasswordRequest(_Body):
    """Set a new password with the code from forgot-password."""

    username: Username
    code: Code
    new_password: NewPassword


class ChangePasswordRequest(_Body):
    """Change the signed-in user's password."""

    previous_password: Password
    proposed_password: NewPassword


class UpdateAttributesRequest(_Body):
    """Set the signed-in user's attributes; only names in `writable_attributes` are accepted."""

    attributes: dict[AttributeName, AttributeValue] = Field(min_length=1, max_length=50)


class DeleteAttributesRequest(_Body):
    """Remove attributes from the signed-in user; only names in `writable_attributes`."""

    names: list[AttributeName] = Field(min_length=1, max_length=50)


class MessageResponse(BaseModel):
    """A fixed, human-readable outcome."""

    message: str


class SignUpResponse(MessageResponse):
    """The new user's `sub`."""

    sub: str


class TokenResponse(BaseModel):
    """Tokens from sign-in, a challenge answer or a refresh."""

    access_token: str
    id_token: str | None
    refresh_token: str | None
    expires_in: int
    token_type: str


class ChallengeResponse(BaseModel):
    """Cognito needs more before it issues tokens; answer at `/challenge`.

    Send `challenge_name`, `session` and `username` back as they are: `username` is the one
    Cognito wants the answer under (the real username when the sign-in used an alias).
    """

    challenge_name: str
    session: str
    username: str
    parameters: dict[str, str]


class MeResponse(BaseModel):
    """The signed-in user: verified token claims and Cognito's attributes."""

    username: str
    claims: dict[str, Any]
    attributes: dict[str, str]


# Choice-based sign-in (USER_AUTH) and MFA.

Factor = Literal["EMAIL_OTP", "SMS_OTP", "PASSWORD", "PASSWORD_SRP"]
Session = Annotated[str, StringConstraints(min_length=20, max_length=2048)]
TotpCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
DeviceName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\w .-]+$")]


class _NeedsPassword(_Body):
    password: Password | None = None

    def _factor(self) -> str | None:
        raise NotImplementedError

    @model_validator(mode="after")
    def _password_for_password_factors(self) -> Self:
        if self._factor() in ("PASSWORD", "PASSWORD_SRP") and self.password is None:
            raise ValueError("this factor needs the password")
        return self


class ChoiceSignInRequest(_NeedsPassword):
    """Choice-based sign-in: a username, and optionally the factor to start with.

    Without `preferred_challenge` the answer is a `SELECT_CHALLENGE` listing the factors;
    `PASSWORD` and `PASSWORD_SRP` need `password`.
    """

    username: Username
    preferred_challenge: Factor | None = None

    def _factor(self) -> str | None:
        return self.preferred_challenge


class SelectChallengeRequest(_NeedsPassword):
    """Answer `SELECT_CHALLENGE` with a factor (`PASSWORD` and `PASSWORD_SRP` need `password`)."""

    username: Username
    session: Session
    answer: Factor

    def _factor(self) -> str | None:
        return self.answer


class MFASetupAssociateRequest(_Body):
    """Start an authenticator app during sign-in: the `MFA_SETUP` challenge's session."""

    session: Session


class MFASetupVerifyRequest(_Body):
    """Finish `MFA_SETUP`: the session `/challenge/mfa-setup/associate` returned, and a code."""

    username: Username
    session: Session
    code: TotpCode
    device_name: DeviceName | None = None


class TotpVerifyRequest(_Body):
    """Confirm the signed-in user's authenticator app with a code from it."""

    code: TotpCode
    device_name: DeviceName | None = None


class MFAPreferenceRequest(_Body):
    """Turn MFA methods on or off (omitted: unchanged) and pick the preferred one."""

    sms: StrictBool | None = None
    totp: StrictBool | None = None
    email: StrictBool | None = None
    preferred: Literal["sms", "totp", "email"] | None = None

    @model_validator(mode="after")
    def _preferred_is_not_disabled(self) -> Self:
        if self.preferred is not None and getattr(self, self.preferred) is False:
            raise ValueError("the preferred method cannot be turned off")
        return self


class ChoiceChallengeResponse(ChallengeResponse):
    """A challenge of choice-based sign-in; for `SELECT_CHALLENGE`, the factors to pick from."""

    available_challenges: list[str] = Field(default_factory=list)


class SoftwareTokenResponse(BaseModel):
    """The authenticator app's secret (base32), shown once to the user; never logged.

    `session` continues an `MFA_SETUP` sign-in challenge.
    """

    secret_code: str
    session: str | None = None
