"""Swagger UI sign-in end to end: Debian's chromium, driven by Playwright, against the app and a
stand-in for Cognito's managed login, both under uvicorn on 127.0.0.1.

Open `/docs`, click Authorize, sign in on the login page, come back, Try it out on a protected
route: 200. A wrong PKCE verifier or a changed `state` ends the sign-in without a token.
Swagger UI's assets come from the fastapi-offline package, as an offline app serves them.
"""

# No `from __future__ import annotations`: this module defines FastAPI routes.

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import fastapi_offline
import pytest
from fastapi import FastAPI, Security
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from playwright.sync_api import Locator, Page, Route, sync_playwright

from fastapi_cognito_jwt import CognitoCredentials, CognitoOAuth2Bearer
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.fake_hosted_ui import FakeHostedUI
from tests.helpers import serve

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "Correct-Horse-1"


def make_app(auth: CognitoOAuth2Bearer) -> FastAPI:
    """The Swagger sign-in recipe's app, with Swagger UI 5 served from fastapi-offline."""
    app = FastAPI(docs_url=None, swagger_ui_init_oauth=auth.swagger_ui_init_oauth())
    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/swagger-ui", StaticFiles(directory=assets))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="API",
            swagger_js_url="/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/swagger-ui/favicon.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
            init_oauth=app.swagger_ui_init_oauth,
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return auth.swagger_ui_oauth2_redirect_html()

    @app.get("/items")
    async def items(
        creds: Annotated[CognitoCredentials, Security(auth, scopes=["api/read"])],
    ) -> dict[str, str | None]:
        return {"username": creds.claims.username}

    return app


@dataclass
class Setup:
    fake: FakeHostedUI
    app_url: str
    page: Page


@pytest.fixture
def setup() -> Iterator[Setup]:
    if not Path(CHROMIUM).exists():  # pragma: no cover - .ci/run installs it
        pytest.fail("chromium is missing: apt-get install chromium (.ci/run does)")
    pool = LocalUserPool()
    fake = FakeHostedUI(pool, public_client_id=pool.client_id, redirect_uris=())
    with serve(fake.app()) as idp:
        settings = pool.settings(
            jwks_url=f"{idp}/.well-known/jwks.json",
            oauth_domain=idp,
            oauth_client_id=pool.client_id,
            oauth_scopes=["openid", "api/read"],
        )
        app = make_app(CognitoOAuth2Bearer(settings, token_use="access"))
        with serve(app) as app_url, sync_playwright() as playwright:
            fake.redirect_uris = (f"{app_url}/docs/oauth2-redirect",)
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(15_000)
                yield Setup(fake, app_url, page)
            finally:
                browser.close()


def sign_in(page: Page, app_url: str) -> None:
    """Open /docs, click Authorize and sign in on the login page that pops up."""
    page.goto(f"{app_url}/docs")
    page.locator("button.authorize").first.click()
    with page.expect_popup() as popup_info:
        page.locator(".auth-container button.authorize").click()
    login = popup_info.value
    login.fill("input[name=username]", "alice")
    login.fill("input[name=password]", PASSWORD)
    with login.expect_event("close"):  # the redirect page closes the popup, maybe at once
        login.click("button[type=submit]")


def logout(page: Page) -> Locator:
    """The dialog's Logout button, there once Swagger UI holds a token."""
    return page.locator(".auth-container button:text-is('Logout')")


def try_it_out(page: Page) -> int:
    """Close the dialog, then Try it out on GET /items; the status Swagger UI got."""
    page.locator(".auth-btn-wrapper button:text-is('Close')").first.click()
    page.locator("#operations-default-items_items_get .opblock-summary").click()
    page.locator("button.try-out__btn").click()
    with page.expect_response(lambda response: response.url.endswith("/items")) as answer:
        page.locator("button.execute").click()
    return answer.value.status


def test_sign_in_from_swagger_ui_then_a_protected_route_answers_200(setup: Setup) -> None:
    sign_in(setup.page, setup.app_url)
    logout(setup.page).wait_for()  # signed in
    assert try_it_out(setup.page) == 200
    body = setup.page.locator(".live-responses-table .response-col_description pre").first
    assert '"username": "alice"' in body.inner_text()


def test_a_wrong_pkce_verifier_is_refused(setup: Setup) -> None:
    def wrong_verifier(route: Route) -> None:
        body = (route.request.post_data or "").replace("code_verifier=", "code_verifier=x")
        route.continue_(post_data=body)

    setup.page.route("**/oauth2/token", wrong_verifier)
    sign_in(setup.page, setup.app_url)
    setup.page.get_by_text("invalid_grant").first.wait_for()
    assert logout(setup.page).count() == 0
    assert try_it_out(setup.page) == 401


def test_a_changed_state_is_refused(setup: Setup) -> None:
    setup.fake.tamper_state = True
    sign_in(setup.page, setup.app_url)
    setup.page.get_by_text("the state returned is not the one sent").first.wait_for()
    assert setup.fake.token_requests == 0  # the code was never exchanged
    assert logout(setup.page).count() == 0
    assert try_it_out(setup.page) == 401
