"""`CognitoAuthClient`: the user-pool auth flows over httpx2, without boto3 or AWS credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
import httpx2
from pydantic import BaseModel, ValidationError

from .._exceptions import (
    CodeMismatchError,
    CognitoAuthError,
    CognitoServiceError,
    ConfigurationError,
    InvalidParameterError,
)
from .._settings import CognitoSettings, load_settings
from .cognito_api import PooledTransport, Sender, call
from .results import (
    AuthChallenge,
    AuthTokens,
    CodeDelivery,
    CognitoUser,
    SignUpResult,
    SoftwareTokenSetup,
)
from .srp import SRPError, SRPSession

__all__ = ["CognitoAuthClient"]

_Result = TypeVar("_Result", bound=BaseModel)
_ATTRIBUTE_ANSWER = "userAttributes."
# The caller's IP for Cognito's threat protection, set around a request by `user_context`.
_CALLER_IP: ContextVar[str | None] = ContextVar("fastapi_cognito_jwt_caller_ip", default=None)
# The operations that take `UserContextData` (Cognito's API reference).
_WITH_USER_CONTEXT = frozenset({
    "SignUp", "ConfirmSignUp", "ResendConfirmationCode", "InitiateAuth",
    "RespondToAuthChallenge", "ForgotPassword", "ConfirmForgotPassword",
})  # fmt: skip


class CognitoAuthClient:
    """An async client for the Cognito user-pool auth flows.

    It speaks the user-pool JSON API directly (`X-Amz-Target:
    AWSCognitoIdentityProviderService.<Operation>`); these operations need no AWS credentials.
    It uses the first of `client_ids` unless `client_id` names another, and sends
    `SECRET_HASH` when the settings carry a `client_secret`. Every failure is a
    `CognitoAuthError` (Cognito said no) or a `CognitoServiceError` (no usable answer); no
    httpx2 exception escapes. Nothing is retried: sign-up and friends are not idempotent.

    ```python
    async with CognitoAuthClient(settings) as cognito:
        result = await cognito.sign_in("alice@example.com", "correct horse battery")
        if isinstance(result, AuthChallenge):
            result = await cognito.respond_to_challenge(result, {"NEW_PASSWORD": "..."})
        print(result.expires_in)
    ```

    Args:
        settings: the pool, its app clients and `idp_endpoint`; read from the environment
            when not given.
        client_id: the app client to act as; one of `client_ids` (default: the first).
        http_client: an `httpx2.AsyncClient` to use as is; it is never closed by this client.
        transport: an httpx2 transport to send through instead of the one this object
            creates (tests, emulators); `aclose()` closes it.

    Without `http_client`, calls go straight to httpx2 transports (HTTP/1.1, up to 100
    connections kept alive between calls, each in a pool of its own), skipping the
    `httpx2.AsyncClient` layers that Cognito's API never needs; more calls in flight wait for
    the first connection to be free.
    """

    def __init__(
        self,
        settings: CognitoSettings | None = None,
        /,
        *,
        client_id: str | None = None,
        http_client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = load_settings(settings)
        endpoint = self.settings.resolved_idp_endpoint
        if endpoint is None:
            raise ConfigurationError("auth flows need idp_endpoint, or a region to derive it")
        if client_id is None:
            client_id = self.settings.client_ids[0]
        elif client_id not in self.settings.client_ids:
            raise ConfigurationError("client_id must be one of the settings' client_ids")
        elif self.settings.client_secret is not None and client_id != self.settings.client_ids[0]:
            # The secret belongs to the first app client; hashing with it for another fails.
            raise ConfigurationError("client_secret belongs to the first of client_ids")
        if http_client is not None and transport is not None:
            raise ConfigurationError("pass either http_client or transport, not both")
        self.endpoint = endpoint
        self.client_id = client_id
        self._secret = self.settings.client_secret
        self._url = httpx2.URL(endpoint)  # parsed once, not on every call
        self._http_client = http_client
        self._transport = transport
        self._transport_used = False
        self._owned: PooledTransport | None = None
        self._owned_loop: object = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections this object opened, or the `transport` it was given.

        An injected `http_client` is left open.
        """
        owned, self._owned = self._owned, None
        if owned is not None:
            await owned.aclose()
        if self._transport is not None and self._transport_used:
            self._transport_used = False
            await self._transport.aclose()

    # Sign-up and confirmation

    async def sign_up(
        self, username: str, password: str, attributes: Mapping[str, str] | None = None
    ) -> SignUpResult:
        """Register a user with standard and `custom:*` attributes (`SignUp`)."""
        body: dict[str, Any] = {"Username": username, "Password": password}
        body["UserAttributes"] = [
            {"Name": name, "Value": value} for name, value in (attributes or {}).items()
        ]
        reply = await self._call("SignUp", self._with_hash(body, username))
        return _parse(SignUpResult, reply)

    async def confirm_sign_up(self, username: str, code: str) -> None:
        """Confirm a new account with the code Cognito sent (`ConfirmSignUp`)."""
        body = {"Username": username, "ConfirmationCode": code}
        await self._call("ConfirmSignUp", self._with_hash(body, username))

    async def resend_confirmation_code(self, username: str) -> CodeDelivery | None:
        """Send the sign-up confirmation code again (`ResendConfirmationCode`)."""
        reply = await self._call("ResendConfirmationCode", self._with_hash({}, username))
        return _delivery(reply)

    # Sign-in

    async def sign_in(self, username: str, password: str) -> AuthTokens | AuthChallenge:
        """Sign in with the password: tokens, or a challenge to answer.

        With the default `sign_in_flow="USER_SRP_AUTH"` this is `sign_in_srp` (the password
        never leaves this process); with `"USER_PASSWORD_AUTH"` the password is sent to
        Cognito.
        """
        if self.settings.sign_in_flow == "USER_SRP_AUTH":
            return await self.sign_in_srp(username, password)
        parameters = {"USERNAME": username, "PASSWORD": password}
        reply = await self._call(
            "InitiateAuth",
            {
                "ClientId": self.client_id,
                "AuthFlow": "USER_PASSWORD_AUTH",
                "AuthParameters": self._hashed(parameters),
            },
        )
        return _tokens_or_challenge(reply, username)

    async def respond_to_challenge(
        self, challenge: AuthChallenge, responses: Mapping[str, str]
    ) -> AuthTokens | AuthChallenge:
        """Answer a challenge (`RespondToAuthChallenge`): tokens, or the next challenge.

        `responses` holds the challenge's answers, e.g. `{"NEW_PASSWORD": ...}`,
        `{"SMS_MFA_CODE": ...}` or `{"SOFTWARE_TOKEN_MFA_CODE": ...}`; `USERNAME` and
        `SECRET_HASH` are added. When the challenge came from Cognito with `requiredAttributes`
        (`NEW_PASSWORD_REQUIRED`), a `userAttributes.<name>` answer for any other attribute
        raises `InvalidParameterError` unsent.
        """
        asked = _required_attributes(challenge)
        if asked is not None:
            # Forward only the attributes the challenge asked for: an answer is no back door
            # to attributes the user may not set.
            unasked = [k for k in responses if k.startswith(_ATTRIBUTE_ANSWER)
                       and k.removeprefix(_ATTRIBUTE_ANSWER) not in asked]  # fmt: skip
            if unasked:
                raise InvalidParameterError(
                    "InvalidParameterException", "an answer sets an attribute not asked for"
                )
        answers = {**responses, "USERNAME": challenge.username}
        reply = await self._call(
            "RespondToAuthChallenge",
            {
                "ClientId": self.client_id,
                "ChallengeName": challenge.name,
                "Session": challenge.session,
                "ChallengeResponses": self._hashed(answers),
            },
        )
        return _tokens_or_challenge(reply, challenge.username)

    async def refresh(self, refresh_token: str, *, username: str | None = None) -> AuthTokens:
        """New tokens from a refresh token, as the settings' `refresh_token_rotation` says.

        With rotation on, this is `get_tokens_from_refresh_token` (the result carries the new
        refresh token; keep it, the old one stops working). Otherwise `REFRESH_TOKEN_AUTH`:
        with a `client_secret`, `username` is then required, since Cognito's `SECRET_HASH`
        for a refresh is computed over the user's `cognito:username` (for pools that sign in
        by email, a UUID, not the email).
        """
        if self.settings.refresh_token_rotation:
            return await self.get_tokens_from_refresh_token(refresh_token)
        parameters = {"REFRESH_TOKEN": refresh_token}
        if self._secret is not None:
            if not username:
                raise ConfigurationError("refresh with a client secret needs the username")
            parameters["USERNAME"] = username
        reply = await self._call(
            "InitiateAuth",
            {
                "ClientId": self.client_id,
                "AuthFlow": "REFRESH_TOKEN_AUTH",
                "AuthParameters": self._hashed(parameters),
            },
        )
        result = _tokens_or_challenge(reply, username or "")
        if not isinstance(result, AuthTokens):
            raise CognitoServiceError("InitiateAuth: a refresh answered with a challenge")
        return result

    async def get_tokens_from_refresh_token(self, refresh_token: str) -> AuthTokens:
        """New tokens, and a new refresh token when rotation is on (`GetTokensFromRefreshToken`).

        Required once the app client rotates refresh tokens. A confidential client sends its
        `ClientSecret` (not a `SECRET_HASH`), so no username is needed.
        """
        body = {"RefreshToken": refresh_token, "ClientId": self.client_id}
        if self._secret is not None:
            body["ClientSecret"] = self._secret.get_secret_value()
        reply = await self._call("GetTokensFromRefreshToken", body)
        result = _tokens_or_challenge(reply, "")
        if not isinstance(result, AuthTokens):
            raise CognitoServiceError("GetTokensFromRefreshToken: answered with a challenge")
        return result

    # Passwords

    async def forgot_password(self, username: str) -> CodeDelivery | None:
        """Send a password-reset code (`ForgotPassword`)."""
        reply = await self._call("ForgotPassword", self._with_hash({}, username))
        return _delivery(reply)

    async def confirm_forgot_password(self, username: str, code: str, new_password: str) -> None:
        """Set a new password with the reset code (`ConfirmForgotPassword`)."""
        body = {"ConfirmationCode": code, "Password": new_password}
        await self._call("ConfirmForgotPassword", self._with_hash(body, username))

    async def change_password(
        self, access_token: str, previous_password: str, proposed_password: str
    ) -> None:
        """Change the signed-in user's password (`ChangePassword`)."""
        body = {
            "AccessToken": access_token,
            "PreviousPassword": previous_password,
            "ProposedPassword": proposed_password,
        }
        await self._call("ChangePassword", body)

    # Sessions and the current user

    async def global_sign_out(self, access_token: str) -> None:
        """Sign the user out everywhere: revokes every refresh token (`GlobalSignOut`)."""
        await self._call("GlobalSignOut", {"AccessToken": access_token})

    async def revoke_token(self, refresh_token: str) -> None:
        """Revoke one refresh token and the tokens issued from it (`RevokeToken`)."""
        body = {"Token": refresh_token, "ClientId": self.client_id}
        if self._secret is not None:
            body["ClientSecret"] = self._secret.get_secret_value()
        await self._call("RevokeToken", body)

    async def get_user(self, access_token: str) -> CognitoUser:
        """The signed-in user's username, attributes and MFA settings (`GetUser`)."""
        reply = await self._call("GetUser", {"AccessToken": access_token})
        return _parse(CognitoUser, reply)

    async def update_user_attributes(
        self, access_token: str, attributes: Mapping[str, str]
    ) -> tuple[CodeDelivery, ...]:
        """Set the signed-in user's attributes (`UpdateUserAttributes`).

        Returns where Cognito sent codes to verify a changed `email` or `phone_number`. The
        client sends what it is given: decide which attributes users may write before calling
        (the router checks `writable_attributes`).
        """
        body = {
            "AccessToken": access_token,
            "UserAttributes": [
                {"Name": name, "Value": value} for name, value in attributes.items()
            ],
        }
        reply = await self._call("UpdateUserAttributes", body)
        details = reply.get("CodeDeliveryDetailsList", [])
        if not isinstance(details, list) or not all(isinstance(d, dict) for d in details):
            raise CognitoServiceError("Cognito's reply does not have the shape of CodeDelivery")
        return tuple(_parse(CodeDelivery, item) for item in details)

    async def delete_user_attributes(self, access_token: str, names: Sequence[str]) -> None:
        """Remove attributes from the signed-in user (`DeleteUserAttributes`)."""
        body = {"AccessToken": access_token, "UserAttributeNames": list(names)}
        await self._call("DeleteUserAttributes", body)

    async def delete_user(self, access_token: str) -> None:
        """Delete the signed-in user's account (`DeleteUser`); it cannot be undone."""
        await self._call("DeleteUser", {"AccessToken": access_token})

    async def request_attribute_verification(
        self, access_token: str, attribute_name: str
    ) -> CodeDelivery | None:
        """Send a code to verify `email` or `phone_number` (`GetUserAttributeVerificationCode`)."""
        body = {"AccessToken": access_token, "AttributeName": attribute_name}
        reply = await self._call("GetUserAttributeVerificationCode", body)
        return _delivery(reply)

    async def verify_attribute(self, access_token: str, attribute_name: str, code: str) -> None:
        """Confirm `email` or `phone_number` with the code sent (`VerifyUserAttribute`)."""
        body = {"AccessToken": access_token, "AttributeName": attribute_name, "Code": code}
        await self._call("VerifyUserAttribute", body)

    # SRP, choice-based sign-in and MFA

    async def sign_in_srp(self, username: str, password: str) -> AuthTokens | AuthChallenge:
        """Sign in with `USER_SRP_AUTH`: prove the password without sending it.

        `InitiateAuth` carries `SRP_A`; Cognito's `PASSWORD_VERIFIER` challenge is answered
        here with the proof, so the result is tokens or the next challenge (an MFA code, a
        new password). A server value of zero is refused as a `CognitoServiceError`.
        """
        srp = await self._srp_session()
        parameters = {"USERNAME": username, "SRP_A": srp.public_hex}
        reply = await self._call(
            "InitiateAuth",
            {
                "ClientId": self.client_id,
                "AuthFlow": "USER_SRP_AUTH",
                "AuthParameters": self._hashed(parameters),
            },
        )
        return await self._verify_password(reply, username, srp, password)

    async def sign_in_choice(
        self,
        username: str,
        *,
        preferred: str | None = None,
        password: str | None = None,
    ) -> AuthTokens | AuthChallenge:
        """Choice-based sign-in (`USER_AUTH`): passwordless codes, a password, or SRP.

        Without `preferred`, Cognito answers `SELECT_CHALLENGE` with the factors in
        `AuthChallenge.available`; answer it with `select_challenge`. With `preferred`
        (`EMAIL_OTP`, `SMS_OTP`, `PASSWORD` or `PASSWORD_SRP`; the last two need `password`)
        Cognito starts that factor if the user has it. The app client needs `ALLOW_USER_AUTH`.
        """
        parameters = {"USERNAME": username}
        srp = None
        if preferred is not None:
            parameters["PREFERRED_CHALLENGE"] = preferred
            if preferred == "PASSWORD_SRP":
                srp = await self._srp_session()
                parameters["SRP_A"] = srp.public_hex
            elif preferred == "PASSWORD":
                parameters["PASSWORD"] = _needs(password)
        reply = await self._call(
            "InitiateAuth",
            {
                "ClientId": self.client_id,
                "AuthFlow": "USER_AUTH",
                "AuthParameters": self._hashed(parameters),
            },
        )
        if srp is not None:
            return await self._verify_password(reply, username, srp, _needs(password))
        return _tokens_or_challenge(reply, username)

    async def select_challenge(
        self, challenge: AuthChallenge, answer: str, *, password: str | None = None
    ) -> AuthTokens | AuthChallenge:
        """Answer `SELECT_CHALLENGE` (or `SELECT_MFA_TYPE`) with one of its factors.

        `EMAIL_OTP` and `SMS_OTP` make Cognito send a code (the next challenge);
        `PASSWORD` sends `password`; `PASSWORD_SRP` proves it with SRP instead.
        """
        responses = {"ANSWER": answer}
        srp = None
        if challenge.name == "SELECT_CHALLENGE" and answer == "PASSWORD_SRP":
            srp = await self._srp_session()
            responses["SRP_A"] = srp.public_hex
        elif challenge.name == "SELECT_CHALLENGE" and answer == "PASSWORD":
            responses["PASSWORD"] = _needs(password)
        if srp is None:
            return await self.respond_to_challenge(challenge, responses)
        reply = await self._call(
            "RespondToAuthChallenge",
            {
                "ClientId": self.client_id,
                "ChallengeName": challenge.name,
                "Session": challenge.session,
                "ChallengeResponses": self._hashed({**responses, "USERNAME": challenge.username}),
            },
        )
        return await self._verify_password(reply, challenge.username, srp, _needs(password))

    async def associate_software_token(
        self, *, access_token: str | None = None, session: str | None = None
    ) -> SoftwareTokenSetup:
        """A new authenticator-app secret (`AssociateSoftwareToken`).

        For a signed-in user pass `access_token`; during an `MFA_SETUP` sign-in challenge pass
        its `session` (the result then carries the session to verify with).
        """
        reply = await self._call("AssociateSoftwareToken", _token_or_session(access_token, session))
        return _parse(SoftwareTokenSetup, reply)

    async def verify_software_token(
        self,
        code: str,
        *,
        access_token: str | None = None,
        session: str | None = None,
        device_name: str | None = None,
    ) -> str | None:
        """Confirm the authenticator app with a code from it (`VerifySoftwareToken`).

        Returns the session that completes an `MFA_SETUP` challenge (None for a signed-in
        user). A wrong code raises `CodeMismatchError`.
        """
        body = {**_token_or_session(access_token, session), "UserCode": code}
        if device_name is not None:
            body["FriendlyDeviceName"] = device_name
        try:
            reply = await self._call("VerifySoftwareToken", body)
        except CognitoAuthError as exc:
            # Cognito names a wrong code at set-up EnableSoftwareTokenMFAException.
            if exc.code == "EnableSoftwareTokenMFAException":
                raise CodeMismatchError(
                    "CodeMismatchException", "the code was not accepted"
                ) from None
            raise
        if reply.get("Status") != "SUCCESS":
            raise CodeMismatchError("CodeMismatchException", "code not accepted")
        next_session = reply.get("Session")
        return next_session if isinstance(next_session, str) and next_session else None

    async def complete_mfa_setup(
        self, challenge: AuthChallenge, session: str
    ) -> AuthTokens | AuthChallenge:
        """Finish an `MFA_SETUP` challenge with the session `verify_software_token` returned."""
        return await self.respond_to_challenge(
            AuthChallenge(name=challenge.name, session=session, username=challenge.username), {}
        )

    async def set_mfa_preference(
        self,
        access_token: str,
        *,
        sms: bool | None = None,
        totp: bool | None = None,
        email: bool | None = None,
        preferred: str | None = None,
    ) -> None:
        """Turn the user's MFA methods on or off and pick one (`SetUserMFAPreference`).

        A method left as None keeps its setting; `preferred` (`"sms"`, `"totp"` or `"email"`)
        is enabled and made the preferred one.
        """
        methods = {"sms": sms, "totp": totp, "email": email}
        if preferred is not None and preferred not in methods:
            raise ConfigurationError("preferred must be 'sms', 'totp' or 'email'")
        body: dict[str, Any] = {"AccessToken": access_token}
        for method, enabled in methods.items():
            if method == preferred:
                enabled = True
            if enabled is None:
                continue
            body[_MFA_SETTINGS[method]] = {
                "Enabled": enabled,
                "PreferredMfa": method == preferred,
            }
        await self._call("SetUserMFAPreference", body)

    async def _srp_session(self) -> SRPSession:
        # g^a mod N over 3072 bits takes milliseconds of CPU; a worker thread keeps the event
        # loop serving other requests between the big-number operations.
        return await anyio.to_thread.run_sync(SRPSession, self.settings.user_pool_id)

    async def _verify_password(
        self, reply: dict[str, Any], username: str, srp: SRPSession, password: str
    ) -> AuthTokens | AuthChallenge:
        # Answer PASSWORD_VERIFIER with the proof; any other reply is the caller's to handle.
        first = _tokens_or_challenge(reply, username)
        if not isinstance(first, AuthChallenge) or first.name != "PASSWORD_VERIFIER":
            return first
        try:
            # Tens of milliseconds of big-number arithmetic: off the event loop too.
            answers = await anyio.to_thread.run_sync(srp.answer, first.parameters, password)
        except SRPError as exc:
            raise CognitoServiceError(f"InitiateAuth: unusable SRP challenge ({exc})") from None
        reply = await self._call(
            "RespondToAuthChallenge",
            {
                "ClientId": self.client_id,
                "ChallengeName": "PASSWORD_VERIFIER",
                "Session": first.session,
                "ChallengeResponses": self._hashed(answers),
            },
        )
        return _tokens_or_challenge(reply, answers["USERNAME"])

    # Plumbing

    def secret_hash(self, username: str) -> str | None:
        """`SECRET_HASH` for `username`: Base64(HMAC-SHA256(secret, username + client_id))."""
        if self._secret is None:
            return None
        digest = hmac.new(
            self._secret.get_secret_value().encode(),
            (username + self.client_id).encode(),
            hashlib.sha256,
        ).digest()
        return base64.b64encode(digest).decode("ascii")

    def _with_hash(self, body: dict[str, Any], username: str) -> dict[str, Any]:
        body = {"ClientId": self.client_id, "Username": username, **body}
        secret_hash = self.secret_hash(username)
        if secret_hash is not None:
            body["SecretHash"] = secret_hash
        return body

    def _hashed(self, parameters: dict[str, str]) -> dict[str, str]:
        # InitiateAuth and RespondToAuthChallenge carry the hash among their parameters.
        secret_hash = self.secret_hash(parameters["USERNAME"]) if "USERNAME" in parameters else None
        if secret_hash is not None:
            parameters = {**parameters, "SECRET_HASH": secret_hash}
        return parameters

    def _sender(self) -> Sender:
        if self._http_client is not None:
            return self._http_client
        if self._transport is not None:
            self._transport_used = True
            return self._transport
        # Pooled connections belong to one event loop; apps and tests that run several loops
        # get a fresh pool rather than one from a dead loop.
        # Tokens are new objects on each call; they compare equal for the same loop.
        loop = anyio.lowlevel.current_token()
        if self._owned is None or self._owned_loop != loop:
            self._owned = PooledTransport()
            self._owned_loop = loop
        return self._owned

    @staticmethod
    @contextmanager
    def user_context(ip_address: str | None) -> Iterator[None]:
        """Send `ip_address` as `UserContextData.IpAddress` with the calls made inside.

        Cognito's threat protection then sees the end user's address rather than the
        server's. `auth_router` does this for each request (see `trusted_proxies`).

        ```python
        with CognitoAuthClient.user_context("203.0.113.7"):
            await cognito.sign_in(username, password)
        ```
        """
        token = _CALLER_IP.set(ip_address)
        try:
            yield
        finally:
            _CALLER_IP.reset(token)

    async def _call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        ip_address = _CALLER_IP.get()
        if ip_address is not None and operation in _WITH_USER_CONTEXT:
            body = {**body, "UserContextData": {"IpAddress": ip_address}}
        sender = self._sender()
        return await call(sender, self._url, operation, body, self.settings.http_timeout)


def _required_attributes(challenge: AuthChallenge) -> frozenset[str] | None:
    """The attribute names a challenge asked for (None when it does not say)."""
    listed = challenge.parameters.get("requiredAttributes")
    if listed is None:
        return None
    try:
        names = json.loads(listed)
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise CognitoServiceError("Cognito's requiredAttributes is not a list of names")
    # Cognito prefixes them as the answer keys are: "userAttributes.name".
    return frozenset(name.removeprefix(_ATTRIBUTE_ANSWER) for name in names)


def _parse(model: type[_Result], reply: dict[str, Any], **extra: Any) -> _Result:
    try:
        return model.model_validate({**reply, **extra})
    except ValidationError:
        raise CognitoServiceError(
            f"Cognito's reply does not have the shape of {model.__name__}"
        ) from None


_MFA_SETTINGS = {"sms": "SMSMfaSettings", "totp": "SoftwareTokenMfaSettings",
                 "email": "EmailMfaSettings"}  # fmt: skip


def _needs(password: str | None) -> str:
    if not password:
        raise ConfigurationError("this sign-in factor needs the password")
    return password


def _token_or_session(access_token: str | None, session: str | None) -> dict[str, str]:
    if (access_token is None) == (session is None):
        raise ConfigurationError("pass either access_token or session")
    return {"AccessToken": access_token} if access_token is not None else {"Session": session or ""}


def _delivery(reply: dict[str, Any]) -> CodeDelivery | None:
    details = reply.get("CodeDeliveryDetails")
    if details is None:
        return None
    if not isinstance(details, dict):
        raise CognitoServiceError("Cognito's reply does not have the shape of CodeDelivery")
    return _parse(CodeDelivery, details)


def _tokens_or_challenge(reply: dict[str, Any], username: str) -> AuthTokens | AuthChallenge:
    if "AuthenticationResult" in reply:
        result = reply["AuthenticationResult"]
        if isinstance(result, dict):
            return _parse(AuthTokens, result)
    elif "ChallengeName" in reply:
        # With an alias (e.g. an email) Cognito names the real username in USER_ID_FOR_SRP,
        # and the answer and its SECRET_HASH must use that.
        parameters = reply.get("ChallengeParameters")
        alias_of = parameters.get("USER_ID_FOR_SRP") if isinstance(parameters, dict) else None
        real = alias_of if isinstance(alias_of, str) and alias_of else username
        return _parse(AuthChallenge, reply, username=real)
    raise CognitoServiceError("Cognito's reply has neither tokens nor a challenge")
