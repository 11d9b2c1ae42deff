"""`auth_router`: the user-pool auth flows as a mountable FastAPI router."""

# No `from __future__ import annotations`: FastAPI reads the endpoint signatures at runtime.

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from .._exceptions import (
    CognitoAuthError,
    CognitoJWTError,
    CognitoServiceError,
    ConfigurationError,
    InvalidParameterError,
    NotAuthorizedError,
    TokenError,
    TokenRevokedError,
    UserNotFoundError,
)
from .._settings import CognitoSettings
from .._verification.bearer import CognitoBearer, CognitoCredentials, http_exception
from .abuse import RateLimits, caller_ip, trusted_networks
from .bodies import (
    ChallengeAnswer,
    ChallengeResponse,
    ChangePasswordRequest,
    ChoiceChallengeResponse,
    ChoiceSignInRequest,
    ConfirmRequest,
    DeleteAttributesRequest,
    MeResponse,
    MessageResponse,
    MFAPreferenceRequest,
    MFASetupAssociateRequest,
    MFASetupVerifyRequest,
    RefreshRequest,
    ResetPasswordRequest,
    SelectChallengeRequest,
    SignInRequest,
    SignUpForm,
    SignUpRequest,
    SignUpResponse,
    SoftwareTokenResponse,
    TokenResponse,
    TotpVerifyRequest,
    UpdateAttributesRequest,
    UsernameRequest,
)
from .client import CognitoAuthClient
from .http_errors import (
    ACCOUNT_STATE,
    INCORRECT_CREDENTIALS,
    INVALID_CODE,
    INVALID_TOKEN,
    Answer,
    http_error,
)
from .results import AuthChallenge, AuthTokens

__all__ = ["auth_router"]

logger = logging.getLogger("fastapi_cognito_jwt")


# Error types whose pydantic message is a template over the model's own constraints ("String
# should have at least 8 characters"), never over the input; any other type gets a fixed text
# (an e-mail error, for one, quotes the characters it refused).
_SAFE_MESSAGES = frozenset({
    "missing", "string_too_short", "string_too_long", "too_short", "too_long", "string_type",
    "string_pattern_mismatch", "int_type", "int_parsing", "bool_type", "bool_parsing",
    "dict_type", "list_type", "model_attributes_type", "json_invalid", "json_type",
    "greater_than_equal", "less_than_equal", "attribute_not_writable",
})  # fmt: skip
_FIXED_MESSAGES = {"extra_forbidden": "Unknown field"}


class _ScrubbedRoute(APIRoute):
    """A route whose 422 answers name the field and the rule, never a value or key sent.

    FastAPI echoes each invalid input back, which for these bodies means passwords and codes;
    its `loc` also names keys the caller chose (an unknown field, a key of `attributes`), so
    `loc` stops at the first part that is not one of the body's own field names.
    """

    # Set by `auth_router` on its own subclass: the caller's IP for the request.
    caller: Callable[[Request], str | None] = staticmethod(lambda request: None)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known = _field_names(self)
        caller = self.caller

        async def scrubbed(request: Request) -> Response:
            ip_address = caller(request)
            request.state.fastapi_cognito_jwt_ip = ip_address
            try:
                with CognitoAuthClient.user_context(ip_address):
                    return await handler(request)
            except RequestValidationError as exc:
                errors = [_scrubbed(error, known) for error in exc.errors()]
                return JSONResponse({"detail": errors}, status_code=422)

        return scrubbed


def _field_names(route: APIRoute) -> frozenset[str]:
    """The names a 422's `loc` may show: the body's fields (the route's, not the caller's)."""
    names: set[str] = set()
    for param in route.dependant.body_params:
        model = param.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for name, field in model.model_fields.items():
                names.update(n for n in (name, field.alias) if n)
    return frozenset(names)


def _scrubbed(error: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    kind = str(error.get("type", "value_error"))
    parts = list(error.get("loc", ()))
    # "body", then one of the body's own fields, then list positions or JSON offsets (where,
    # not what); it stops at anything else, such as a dict key, even one spelt like a field.
    loc: list[str | int] = parts[:1] if parts[:1] == ["body"] else []
    rest = parts[len(loc) :]
    if loc and rest and isinstance(rest[0], str) and rest[0] in known:
        loc.append(rest.pop(0))
    for part in rest:
        if not isinstance(part, int):
            break
        loc.append(part)
    if kind in _SAFE_MESSAGES:
        message = str(error.get("msg", "Invalid value"))
    else:
        message = _FIXED_MESSAGES.get(kind, "Invalid value")
    return {"type": kind, "loc": loc, "msg": message}


INVALID_REFRESH: Answer = (401, "Invalid refresh token")
# GetTokensFromRefreshToken's answer to a refresh token that rotation already replaced.
_REUSED_REFRESH_TOKEN = "RefreshTokenReuseException"
# USER_AUTH factors for which Cognito sends a message (at the pool owner's cost).
_SENDS_A_CODE = frozenset({"EMAIL_OTP", "SMS_OTP"})
# A challenge answer sets attribute X through the response key `userAttributes.X`.
_ATTRIBUTE_ANSWER = "userAttributes."
# Challenges that ask for attributes: Cognito lists them in `requiredAttributes`.
_ASKS_FOR_ATTRIBUTES = frozenset({"NEW_PASSWORD_REQUIRED"})


def _not_writable(*loc: str) -> RequestValidationError:
    """A 422 for an attribute the user may not set; it names no attribute."""
    message = "Only the attributes this service accepts can be set"
    return RequestValidationError(
        [{"type": "attribute_not_writable", "loc": ("body", *loc), "msg": message}]
    )


def _tokens(result: AuthTokens | AuthChallenge) -> TokenResponse | ChallengeResponse:
    if isinstance(result, AuthChallenge):
        return ChallengeResponse(
            challenge_name=result.name,
            session=result.session,
            username=result.username,
            parameters=result.parameters,
        )
    return _token_response(result)


def _token_response(result: AuthTokens) -> TokenResponse:
    return TokenResponse(
        access_token=result.access_token,
        id_token=result.id_token,
        refresh_token=result.refresh_token,
        expires_in=result.expires_in,
        token_type=result.token_type,
    )


def auth_router(
    settings: CognitoSettings | None = None,
    /,
    *,
    client: CognitoAuthClient | None = None,
    bearer: CognitoBearer | None = None,
    sign_up_model: type[SignUpForm] = SignUpRequest,
    tags: Sequence[str] = ("auth",),
) -> APIRouter:
    """Build a router with the user-pool auth flows; mount it under any prefix.

    ```python
    app = FastAPI()
    app.include_router(auth_router(settings), prefix="/api/v1/auth")
    ```

    Routes (all JSON): `POST /signup` (201), `/verify`, `/resend-code`, `/signin`,
    `/challenge`, `/refresh`, `/forgot-password`, `/reset-password`, and with a bearer
    access token `/change-password`, `/update-attributes`, `/delete-attributes`,
    `/delete-account` (204), `POST /logout` (204) and `GET /me`; `POST /revoke` (204) with a
    refresh token. `/logout` and `/revoke` also put the user or the session on the bearer's
    revocation list (`bearer.verifier.revocations`), so that their tokens are refused here
    too, not only by Cognito. Users set only the attributes in the settings'
    `writable_attributes`; the caller's IP goes to Cognito (`trusted_proxies`); with
    `rate_limit_storage`, sign-in, code and message routes are rate-limited per IP and per
    username (429 with `Retry-After`). Failures are fixed
    texts: duplicate user 409; wrong or expired code 400; wrong password and unknown user the
    same 401; unconfirmed user 403; password policy 400 with Cognito's policy text; throttling
    429 with `Retry-After`; Cognito unreachable 503; anything else 502. Invalid bodies are 422
    without the values sent. Forgot-password and resend-code answer the same whether or not
    the account exists.

    `/signin` proves the password with SRP unless `sign_in_flow` says otherwise. Choice-based
    and passwordless sign-in: `/signin/choice`, `/challenge/select`; authenticator set-up
    during sign-in: `/challenge/mfa-setup/associate`, `/challenge/mfa-setup/verify`; with a
    bearer access token: `/mfa/totp/associate`, `/mfa/totp/verify`, `/mfa/preferences`
    (docs/mfa-and-srp.md).

    Args:
        settings: the pool, its app clients and `idp_endpoint`; read from the environment when
            neither this nor `client` is given.
        client: a `CognitoAuthClient` to use (instead of settings); you close it.
        bearer: the `CognitoBearer` (access tokens) for the routes that need a signed-in user.
            Pass your routes' own bearer: `/logout` and `/revoke` record into its verifier's
            revocation list, which is the one your routes check. Without it the router makes
            a bearer, and a revocation list, of its own.
        sign_up_model: a `SignUpForm` subclass: the body `/signup` accepts.
        tags: OpenAPI tags of the routes.
    """
    if client is not None and settings is not None:
        raise ConfigurationError("pass either client or settings, not both")
    if not (isinstance(sign_up_model, type) and issubclass(sign_up_model, SignUpForm)):
        raise ConfigurationError("sign_up_model must be a subclass of SignUpForm")
    if inspect.isabstract(sign_up_model):
        raise ConfigurationError("sign_up_model must implement cognito_username and _password")
    owned = client is None
    cognito = client if client is not None else CognitoAuthClient(settings)
    if bearer is None:
        bearer = CognitoBearer(cognito.settings, token_use="access")
    elif bearer.token_use != "access":
        raise ConfigurationError("the bearer must accept access tokens (token_use='access')")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned:
                await cognito.aclose()

    proxies = trusted_networks(cognito.settings)
    route_class = type(
        "_AuthRoute",
        (_ScrubbedRoute,),
        {"caller": staticmethod(lambda request: caller_ip(request, proxies))},
    )
    limits = RateLimits(cognito.settings) if cognito.settings.rate_limit_storage else None

    async def throttle(request: Request, group: str, username: str | None) -> None:
        if limits is not None:
            await limits.check(group, request.state.fastapi_cognito_jwt_ip, username)

    router = APIRouter(tags=list(tags), route_class=route_class, lifespan=lifespan)
    # What users may write about themselves; role-like attributes stay out (docs/security.md).
    writable = frozenset(cognito.settings.writable_attributes)
    verifier = bearer.verifier
    signed_in = Annotated[CognitoCredentials, Depends(bearer)]

    async def attempt(
        flow: Coroutine[Any, Any, Any],
        overrides: Mapping[type[Exception], Answer] | None = None,
        sent: Sequence[str] = (),
    ) -> Any:
        try:
            return await flow
        except (CognitoAuthError, CognitoServiceError) as exc:
            raise http_error(exc, overrides or {}, sent) from None

    async def quietly(flow: Coroutine[Any, Any, Any]) -> None:
        # The answer must not tell whether the account exists, or what state it is in.
        try:
            await flow
        except ACCOUNT_STATE as exc:
            logger.info("Answered generically instead of %s", type(exc).__name__)
        except (CognitoAuthError, CognitoServiceError) as exc:
            raise http_error(exc, {}) from None

    async def sign_up(body: SignUpForm, request: Request) -> SignUpResponse:
        username, password = body.cognito_username(), body.cognito_password()
        await throttle(request, "messages", username)
        attributes = body.cognito_attributes()
        if not writable.issuperset(attributes):
            raise _not_writable()
        result = await attempt(
            cognito.sign_up(username, password, attributes),
            sent=(username, password, *attributes.values()),
        )
        return SignUpResponse(message="User created successfully", sub=result.user_sub)

    # The body's type is the caller's model; FastAPI reads it from the annotations.
    sign_up.__annotations__["body"] = sign_up_model
    router.add_api_route(
        "/signup",
        sign_up,
        methods=["POST"],
        status_code=201,
        response_model=SignUpResponse,
        summary="Sign up",
    )

    @router.post("/verify", summary="Verify the account with the emailed code")
    async def verify(body: ConfirmRequest, request: Request) -> MessageResponse:
        await throttle(request, "codes", body.username)
        await attempt(
            cognito.confirm_sign_up(body.username, body.code),
            {
                UserNotFoundError: INVALID_CODE,
                # "Already confirmed": answered as a wrong code so it tells nothing more.
                NotAuthorizedError: INVALID_CODE,
            },
        )
        return MessageResponse(message="Account verified")

    @router.post("/resend-code", summary="Send the verification code again")
    async def resend_code(body: UsernameRequest, request: Request) -> MessageResponse:
        await throttle(request, "messages", body.username)
        await quietly(cognito.resend_confirmation_code(body.username))
        return MessageResponse(message="If the account needs verifying, a new code was sent")

    @router.post(
        "/signin",
        summary="Sign in with username and password",
        response_model=TokenResponse | ChallengeResponse,
    )
    async def sign_in(body: SignInRequest, request: Request) -> TokenResponse | ChallengeResponse:
        await throttle(request, "sign-in", body.username)
        result = await attempt(
            cognito.sign_in(body.username, body.password.get_secret_value()),
            {NotAuthorizedError: INCORRECT_CREDENTIALS},
        )
        return _tokens(result)

    @router.post(
        "/challenge",
        summary="Answer a sign-in challenge",
        response_model=TokenResponse | ChallengeResponse,
    )
    async def challenge(
        body: ChallengeAnswer, request: Request
    ) -> TokenResponse | ChallengeResponse:
        await throttle(request, "sign-in", body.username)
        for key in body.responses:
            name = key.removeprefix(_ATTRIBUTE_ANSWER)
            if key != name and (
                body.challenge_name not in _ASKS_FOR_ATTRIBUTES or name not in writable
            ):
                raise _not_writable("responses")
        pending = AuthChallenge(
            name=body.challenge_name,
            session=body.session,
            username=body.username,
        )
        result = await attempt(
            cognito.respond_to_challenge(pending, body.responses),
            {
                NotAuthorizedError: (401, "The sign-in session is invalid or has expired"),
                UserNotFoundError: (401, "The sign-in session is invalid or has expired"),
            },
            sent=(body.username, body.session, *body.responses.values()),
        )
        return _tokens(result)

    async def refreshed(body: RefreshRequest, action: str) -> AuthTokens:
        """New tokens from the body's refresh token; the same answers for /refresh and
        /revoke."""
        settings = cognito.settings
        # With rotation, Cognito takes the client secret itself and needs no username.
        needs_username = settings.client_secret is not None and not settings.refresh_token_rotation
        if needs_username and body.username is None:
            raise HTTPException(400, f"username is required to {action} with this app client")
        refused: dict[type[Exception], Answer] = {
            NotAuthorizedError: INVALID_REFRESH,
            UserNotFoundError: INVALID_REFRESH,
        }
        try:
            return await cognito.refresh(body.refresh_token, username=body.username)
        except CognitoAuthError as exc:
            if exc.code == _REUSED_REFRESH_TOKEN:  # a rotated-out token: invalid, as any other
                refused[CognitoAuthError] = INVALID_REFRESH
            raise http_error(exc, refused) from None
        except CognitoServiceError as exc:
            raise http_error(exc, {}) from None

    @router.post("/refresh", summary="New tokens from a refresh token")
    async def refresh(body: RefreshRequest) -> TokenResponse:
        return _token_response(await refreshed(body, "refresh"))

    @router.post("/forgot-password", summary="Send a password-reset code")
    async def forgot_password(body: UsernameRequest, request: Request) -> MessageResponse:
        await throttle(request, "messages", body.username)
        await quietly(cognito.forgot_password(body.username))
        return MessageResponse(message="If the account exists, a reset code was sent")

    @router.post("/reset-password", summary="Set a new password with the reset code")
    async def reset_password(body: ResetPasswordRequest, request: Request) -> MessageResponse:
        await throttle(request, "codes", body.username)
        new_password = body.new_password.get_secret_value()
        await attempt(
            cognito.confirm_forgot_password(body.username, body.code, new_password),
            {UserNotFoundError: INVALID_CODE, NotAuthorizedError: INVALID_CODE},
            sent=(body.username, body.code, new_password),
        )
        return MessageResponse(message="Password reset")

    @router.post("/change-password", summary="Change the signed-in user's password")
    async def change_password(body: ChangePasswordRequest, creds: signed_in) -> MessageResponse:
        previous = body.previous_password.get_secret_value()
        proposed = body.proposed_password.get_secret_value()
        await attempt(
            cognito.change_password(creds.credentials, previous, proposed),
            {
                NotAuthorizedError: (401, "Incorrect password, or the token was revoked"),
                UserNotFoundError: (401, "Incorrect password, or the token was revoked"),
            },
            sent=(previous, proposed, creds.credentials),
        )
        return MessageResponse(message="Password changed")

    @router.post("/logout", status_code=204, summary="Sign out everywhere")
    async def logout(creds: signed_in) -> Response:
        # Cognito's sign-out reaches no locally verified token: refuse them here, first, so
        # that the sign-out holds here even if Cognito fails to answer. The user's sign-ins
        # before this second, and this token's session whenever it began.
        await verifier.revocations.revoke_user(creds.claims.iss, creds.claims.sub)
        if creds.claims.origin_jti is not None:
            await verifier.revocations.revoke_session(creds.claims.origin_jti)
        await attempt(
            cognito.global_sign_out(creds.credentials),
            {NotAuthorizedError: INVALID_TOKEN, UserNotFoundError: INVALID_TOKEN},
        )
        return Response(status_code=204)

    async def session_of(access_token: str) -> str | None:
        """The `origin_jti` of a token Cognito just issued, verified here; None if it is
        already revoked."""
        try:
            claims = await verifier.verify(access_token, token_use="access")
        except TokenRevokedError:
            return None
        except TokenError as exc:
            logger.warning("Refreshed access token refused: %s", type(exc).__name__)
            raise HTTPException(502, "Unexpected answer from the authentication service") from None
        except CognitoJWTError as exc:
            raise http_exception(exc) from None
        if claims.origin_jti is None:
            logger.warning("Refreshed access token has no origin_jti: its session stays valid")
        return claims.origin_jti

    @router.post("/revoke", status_code=204, summary="Revoke a refresh token and its session")
    async def revoke(body: RefreshRequest) -> Response:
        # A refresh token is opaque (Cognito encrypts it). Refreshing once yields a token of
        # the same session, whose origin_jti names it; that works after the access token has
        # expired, and cannot name another session, as an access token sent along could.
        tokens = await refreshed(body, "revoke")
        refused: dict[type[Exception], Answer] = {
            NotAuthorizedError: INVALID_REFRESH,
            UserNotFoundError: INVALID_REFRESH,
        }
        origin_jti = await session_of(tokens.access_token)
        if origin_jti is not None:
            await verifier.revocations.revoke_session(origin_jti)
        await attempt(cognito.revoke_token(body.refresh_token), refused)
        if tokens.refresh_token not in (None, body.refresh_token):
            # With refresh-token rotation the refresh gave a new one: revoke it too.
            await attempt(cognito.revoke_token(tokens.refresh_token), refused)
        return Response(status_code=204)

    signed_out: dict[type[Exception], Answer] = {
        NotAuthorizedError: INVALID_TOKEN,
        UserNotFoundError: INVALID_TOKEN,
    }

    @router.post("/update-attributes", summary="Set the signed-in user's attributes")
    async def update_attributes(body: UpdateAttributesRequest, creds: signed_in) -> MessageResponse:
        if not writable.issuperset(body.attributes):
            raise _not_writable("attributes")
        await attempt(
            cognito.update_user_attributes(creds.credentials, body.attributes), signed_out
        )
        return MessageResponse(message="Attributes updated")

    @router.post("/delete-attributes", summary="Remove attributes from the signed-in user")
    async def delete_attributes(body: DeleteAttributesRequest, creds: signed_in) -> MessageResponse:
        if not writable.issuperset(body.names):
            raise _not_writable("names")
        await attempt(cognito.delete_user_attributes(creds.credentials, body.names), signed_out)
        return MessageResponse(message="Attributes deleted")

    @router.post("/delete-account", status_code=204, summary="Delete the signed-in user")
    async def delete_account(creds: signed_in) -> Response:
        await attempt(cognito.delete_user(creds.credentials), signed_out)
        return Response(status_code=204)

    @router.get("/me", summary="The signed-in user")
    async def me(creds: signed_in) -> MeResponse:
        user = await attempt(
            cognito.get_user(creds.credentials),
            {NotAuthorizedError: INVALID_TOKEN, UserNotFoundError: INVALID_TOKEN},
        )
        return MeResponse(
            username=user.username, claims=dict(creds.claims.payload), attributes=user.attributes
        )

    _add_mfa_routes(router, cognito, attempt, signed_in, throttle)
    return router


_SESSION_EXPIRED: Answer = (401, "The sign-in session is invalid or has expired")
_Attempt = Callable[..., Coroutine[Any, Any, Any]]
_Outcome = TokenResponse | ChoiceChallengeResponse


def _add_mfa_routes(
    router: APIRouter,
    cognito: CognitoAuthClient,
    attempt: _Attempt,
    signed_in: Any,
    throttle: Callable[[Request, str, str | None], Awaitable[None]],
) -> None:
    """Choice-based (passwordless) sign-in, authenticator-app set-up and MFA preferences.

    Sign-in steps share the sign-in routes' rate limits; a step that makes Cognito send a
    code counts against the message limits too.
    """

    async def limited(request: Request, username: str | None, factor: str | None) -> None:
        await throttle(request, "sign-in", username)
        if factor in _SENDS_A_CODE:
            await throttle(request, "messages", username)

    incorrect = {
        NotAuthorizedError: INCORRECT_CREDENTIALS,
        UserNotFoundError: INCORRECT_CREDENTIALS,
    }
    expired = {NotAuthorizedError: _SESSION_EXPIRED, UserNotFoundError: _SESSION_EXPIRED}
    revoked = {NotAuthorizedError: INVALID_TOKEN, UserNotFoundError: INVALID_TOKEN}
    union = _Outcome

    def answer(result: AuthTokens | AuthChallenge) -> _Outcome:
        if isinstance(result, AuthChallenge):
            return ChoiceChallengeResponse(
                challenge_name=result.name,
                session=result.session,
                username=result.username,
                parameters=result.parameters,
                available_challenges=list(result.available),
            )
        return _token_response(result)

    @router.post(
        "/signin/choice",
        summary="Choice-based sign-in: a one-time code, a password or SRP",
        response_model=union,
    )
    async def sign_in_choice(body: ChoiceSignInRequest, request: Request) -> _Outcome:
        await limited(request, body.username, body.preferred_challenge)
        password = body.password.get_secret_value() if body.password is not None else None
        result = await attempt(
            cognito.sign_in_choice(
                body.username, preferred=body.preferred_challenge, password=password
            ),
            incorrect,
        )
        return answer(result)

    @router.post(
        "/challenge/select", summary="Answer SELECT_CHALLENGE with a factor", response_model=union
    )
    async def select_challenge(body: SelectChallengeRequest, request: Request) -> _Outcome:
        await limited(request, body.username, body.answer)
        password = body.password.get_secret_value() if body.password is not None else None
        pending = AuthChallenge(
            name="SELECT_CHALLENGE", session=body.session, username=body.username
        )
        result = await attempt(
            cognito.select_challenge(pending, body.answer, password=password), incorrect
        )
        return answer(result)

    @router.post(
        "/challenge/mfa-setup/associate",
        summary="MFA_SETUP: the authenticator app's secret (shown once)",
    )
    async def mfa_setup_associate(body: MFASetupAssociateRequest) -> SoftwareTokenResponse:
        setup = await attempt(cognito.associate_software_token(session=body.session), expired)
        return SoftwareTokenResponse(secret_code=setup.secret_code, session=setup.session)

    @router.post(
        "/challenge/mfa-setup/verify",
        summary="MFA_SETUP: confirm the authenticator app and finish signing in",
        response_model=union,
    )
    async def mfa_setup_verify(body: MFASetupVerifyRequest, request: Request) -> _Outcome:
        await limited(request, body.username, None)  # a code to guess, as at /challenge
        session = await attempt(
            cognito.verify_software_token(
                body.code, session=body.session, device_name=body.device_name
            ),
            expired,
        )
        if session is None:
            raise HTTPException(502, "Unexpected answer from the authentication service")
        pending = AuthChallenge(name="MFA_SETUP", session=body.session, username=body.username)
        result = await attempt(cognito.complete_mfa_setup(pending, session), expired)
        return answer(result)

    @router.post(
        "/mfa/totp/associate",
        summary="A new authenticator-app secret for the signed-in user (shown once)",
    )
    async def totp_associate(creds: signed_in) -> SoftwareTokenResponse:
        setup = await attempt(
            cognito.associate_software_token(access_token=creds.credentials), revoked
        )
        return SoftwareTokenResponse(secret_code=setup.secret_code)

    @router.post("/mfa/totp/verify", summary="Confirm the signed-in user's authenticator app")
    async def totp_verify(body: TotpVerifyRequest, creds: signed_in) -> MessageResponse:
        await attempt(
            cognito.verify_software_token(
                body.code, access_token=creds.credentials, device_name=body.device_name
            ),
            revoked,
        )
        return MessageResponse(message="Authenticator app verified")

    @router.post("/mfa/preferences", summary="Turn MFA methods on or off; pick one")
    async def mfa_preferences(body: MFAPreferenceRequest, creds: signed_in) -> MessageResponse:
        await attempt(
            cognito.set_mfa_preference(
                creds.credentials,
                sms=body.sms,
                totp=body.totp,
                email=body.email,
                preferred=body.preferred,
            ),
            {
                **revoked,
                InvalidParameterError: (400, "That MFA method cannot be used by this account"),
            },
        )
        return MessageResponse(message="MFA preferences saved")
