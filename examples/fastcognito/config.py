"""The app's settings, read from the environment and `.env`, and the library's from them."""

from functools import lru_cache
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from fastapi_cognito_jwt import CognitoSettings


class Settings(BaseSettings):
    """The pool, its region and the app client, plus two optional URLs for a local emulator,
    and `REDIS_URL` for a revocation list shared by replicas (in memory when unset)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    AWS_REGION_NAME: str
    AWS_COGNITO_APP_CLIENT_ID: str
    AWS_COGNITO_USER_POOL_ID: str
    AWS_COGNITO_ENDPOINT_URL: str | None = None
    AWS_COGNITO_JWKS_URL: str | None = None
    # SRP keeps the password in this process; USER_PASSWORD_AUTH only for emulators without it.
    AWS_COGNITO_SIGN_IN_FLOW: Literal["USER_SRP_AUTH", "USER_PASSWORD_AUTH"] = "USER_SRP_AUTH"
    REDIS_URL: str | None = None

    def cognito(self) -> CognitoSettings:
        """The library's `CognitoSettings` for this pool and app client."""
        return CognitoSettings(
            user_pool_id=self.AWS_COGNITO_USER_POOL_ID,
            client_ids=[self.AWS_COGNITO_APP_CLIENT_ID],
            region=self.AWS_REGION_NAME,
            idp_endpoint=self.AWS_COGNITO_ENDPOINT_URL,
            jwks_url=self.AWS_COGNITO_JWKS_URL,
            sign_in_flow=self.AWS_COGNITO_SIGN_IN_FLOW,
        )


@lru_cache
def get_settings() -> Settings:
    """The settings, read once."""
    return Settings()  # the fields come from the environment and .env
