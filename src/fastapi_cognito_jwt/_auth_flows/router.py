"""`auth_router`: the user-pool auth flows as a mountable FastAPI router."""

# No `from __future__ import annotations`: FastAPI reads the endpoint signatures at runtime.

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

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
from .bodies import (
    ChallengeAnswer,
    ChallengeResponse,
    ChangePasswordRequest,
    ChoiceChallengeResponse,
    ChoiceSignInRequest,
    ConfirmRequest,
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


class _ScrubbedRoute(APIRoute):
    """A route whose 422 answers name the field and the rule, never the value sent.

    FastAPI echoes each invalid input back, which for these bodies means passwords and codes.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def scrubbed(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = [
                    {"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")}
                    for e in exc.errors()
                ]
                return JSONResponse({"detail": errors}, status_code=422)

        return scrubbed


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
    access token `/change-password`, `POST /logout` (204) and `GET /me`; `POST /revoke` (204)
    with a refresh token. `/logout` and `/revoke` also put the user or the session on the
    bearer's revocation list (`bearer.verifier.revocations`), so that their tokens are refused
    here too, not only by Cognito. Failures are fixed
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

    router = APIRouter(tags=list(tags), route_class=_ScrubbedRoute, lifespan=lifespan)
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

    async def sign_up(body: SignUpForm) -> SignUpResponse:
        username, password = body.cognito_username(), body.cognito_password()
        attributes = body.cognito_attributes()
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
    async def verify(body: ConfirmRequest) -> MessageResponse:
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
    async def resend_code(body: UsernameRequest) -> MessageResponse:
        await quietly(cognito.resend_confirmation_code(body.username))
        return MessageResponse(message="If the account needs verifying, a new code was sent")

    @router.post(
        "/signin",
        summary="Sign in with username and password",
        response_model=TokenResponse | ChallengeResponse,
    )
    async def sign_in(body: SignInRequest) -> TokenResponse | ChallengeResponse:
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
    async def challenge(body: ChallengeAnswer) -> TokenResponse | ChallengeResponse:
        pending = AuthChallenge(
            name=body.challenge_name, session=body.session, username=body.username
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

    @router.post("/refresh", summary="New tokens from a refresh token")
    async def refresh(body: RefreshRequest) -> TokenResponse:
        if cognito.settings.client_secret is not None and body.username is None:
            raise HTTPException(400, "username is required to refresh with this app client")
        result = await attempt(
            cognito.refresh(body.refresh_token, username=body.username),
            {
                NotAuthorizedError: (401, "Invalid refresh token"),
                UserNotFoundError: (401, "Invalid refresh token"),
            },
        )
        return _token_response(result)

    @router.post("/forgot-password", summary="Send a password-reset code")
    async def forgot_password(body: UsernameRequest) -> MessageResponse:
        await quietly(cognito.forgot_password(body.username))
        return MessageResponse(message="If the account exists, a reset code was sent")

    @router.post("/reset-password", summary="Set a new password with the reset code")
    async def reset_password(body: ResetPasswordRequest) -> MessageResponse:
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
        if cognito.settings.client_secret is not None and body.username is None:
            raise HTTPException(400, "username is required to revoke with this app client")
        refused: dict[type[Exception], Answer] = {
            NotAuthorizedError: (401, "Invalid refresh token"),
            UserNotFoundError: (401, "Invalid refresh token"),
        }
        tokens = await attempt(cognito.refresh(body.refresh_token, username=body.username), refused)
        origin_jti = await session_of(tokens.access_token)
        if origin_jti is not None:
            await verifier.revocations.revoke_session(origin_jti)
        await attempt(cognito.revoke_token(body.refresh_token), refused)
        if tokens.refresh_token not in (None, body.refresh_token):
            # With refresh-token rotation the refresh gave a new one: revoke it too.
            await attempt(cognito.revoke_token(tokens.refresh_token), refused)
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

    _add_mfa_routes(router, cognito, attempt, signed_in)
    return router


_SESSION_EXPIRED: Answer = (401, "The sign-in session is invalid or has expired")
_Attempt = Callable[..., Coroutine[Any, Any, Any]]
_Outcome = TokenResponse | ChoiceChallengeResponse


def _add_mfa_routes(
    router: APIRouter, cognito: CognitoAuthClient, attempt: _Attempt, signed_in: Any
) -> None:
    """Choice-based (passwordless) sign-in, authenticator-app set-up and MFA preferences."""
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
    async def sign_in_choice(body: ChoiceSignInRequest) -> _Outcome:
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
    async def select_challenge(
        body: SelectChallengeRequest,
    ) -> _Outcome:
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
    async def mfa_setup_verify(
        body: MFASetupVerifyRequest,
    ) -> _Outcome:
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
