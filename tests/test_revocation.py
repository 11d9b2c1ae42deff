"""The revocation list (in memory) and its check in `CognitoVerifier.verify`, cached or not."""

from __future__ import annotations

import time
from typing import Any

import pytest

import fastapi_cognito_jwt as fcj
from fastapi_cognito_jwt.testing import LocalUserPool
from tests.helpers import INVALID, FakeClock, assert_rejected, bearer, send

pytestmark = pytest.mark.anyio


def _verifier(pool: LocalUserPool, **settings: Any) -> fcj.CognitoVerifier:
    return fcj.CognitoVerifier(pool.settings(**settings), transport=pool.transport())


async def _revoked(verifier: fcj.CognitoVerifier, token: str) -> bool:
    try:
        await verifier.verify(token, token_use="access")
    except fcj.TokenRevokedError as exc:
        assert exc.reason == "revoked"
        return True
    return False


async def test_a_revoked_session_refuses_its_tokens_cached_or_not(pool: LocalUserPool) -> None:
    verifier = _verifier(pool)
    claims = pool.access_claims()
    token, sibling = pool.sign(claims), pool.sign({**claims, "jti": "another"})
    other = pool.access_token()  # another sign-in of the same user: another origin_jti
    for _ in range(3):  # the third use is served from the verified-token cache
        await verifier.verify(token, token_use="access")
    await verifier.revocations.revoke_session(claims["origin_jti"])
    assert await _revoked(verifier, token)
    assert await _revoked(verifier, sibling)
    assert not await _revoked(verifier, other)
    id_token = pool.sign({**pool.id_claims(), "origin_jti": claims["origin_jti"]})
    with pytest.raises(fcj.TokenRevokedError):
        await verifier.verify(id_token, token_use="id")


async def test_a_signed_out_user_is_refused_for_sign_ins_before_the_sign_out(
    pool: LocalUserPool,
) -> None:
    verifier = _verifier(pool)
    now = int(time.time())
    before = pool.access_token(claims={"iat": now - 100, "auth_time": now - 100})
    # Refreshed after the sign-out, but of a sign-in before it: auth_time decides.
    refreshed = pool.access_token(claims={"iat": now, "auth_time": now - 100})
    after = pool.access_token(claims={"iat": now + 1, "auth_time": now + 1})
    no_auth_time = pool.access_token(claims={"iat": now - 100, "auth_time": None})
    bob = pool.access_token(username="bob", claims={"iat": now - 100, "auth_time": now - 100})
    claims = await verifier.verify(before, token_use="access")
    await verifier.revocations.revoke_user(claims.iss, claims.sub, at=now - 50)
    assert await _revoked(verifier, before)
    assert await _revoked(verifier, refreshed)
    assert await _revoked(verifier, no_auth_time)  # iat stands in for a missing auth_time
    assert not await _revoked(verifier, after)
    assert not await _revoked(verifier, bob)
    # Another pool's user with the same sub is another user.
    await verifier.revocations.revoke_user("https://elsewhere.example", "x", at=now + 10)
    assert not await _revoked(verifier, after)
    # A later sign-out of the same user widens it; an earlier one does not narrow it.
    await verifier.revocations.revoke_user(claims.iss, claims.sub, at=now + 2)
    await verifier.revocations.revoke_user(claims.iss, claims.sub, at=now - 500)
    assert await _revoked(verifier, after)


async def test_a_sign_in_in_the_second_of_the_sign_out_is_refused(pool: LocalUserPool) -> None:
    # Cognito's times are whole seconds: iat 1000 may be 1000.9, after a sign-out at 1000.5.
    verifier = _verifier(pool)
    now = int(time.time())
    same_second = pool.access_token(claims={"iat": now, "auth_time": now})
    claims = await verifier.verify(same_second, token_use="access")
    await verifier.revocations.revoke_user(claims.iss, claims.sub, at=now + 0.5)
    assert await _revoked(verifier, same_second)


async def test_entries_expire_after_the_longest_token_lifetime(pool: LocalUserPool) -> None:
    clock = FakeClock(time.time())
    revocations = fcj.InMemoryRevocationList(
        pool.settings(revocation_max_lifetime=3600), clock=clock
    )
    await revocations.revoke_session("s1")
    await revocations.revoke_user(pool.issuer, "u1")
    assert len(revocations) == 2
    clock.advance(3600 + 61)  # rounded up to the minute
    revocations.apply([])  # a write sweeps what expired
    assert len(revocations) == 0
    # An entry already expired (from another replica's old record) is not taken.
    assert revocations.apply([fcj.Revocation("session", "s2", "", 0.0, clock.now - 1)]) == 0
    assert revocations.entries() == []


async def test_revocation_arguments_are_checked(pool: LocalUserPool) -> None:
    revocations = fcj.InMemoryRevocationList(pool.settings())
    with pytest.raises(fcj.ConfigurationError):
        await revocations.revoke_session("")
    with pytest.raises(fcj.ConfigurationError):
        await revocations.revoke_user(pool.issuer, "")
    with pytest.raises(fcj.ConfigurationError):
        fcj.CognitoVerifier(pool.settings(), revocations=object())  # type: ignore[arg-type]
    await revocations.start()
    await revocations.aclose()


async def test_a_verifier_shares_the_list_it_is_given(pool: LocalUserPool) -> None:
    revocations = fcj.InMemoryRevocationList(pool.settings())
    first = fcj.CognitoVerifier(
        pool.settings(), transport=pool.transport(), revocations=revocations
    )
    second = fcj.CognitoVerifier(
        pool.settings(), transport=pool.transport(), revocations=revocations
    )
    claims = pool.access_claims()
    await revocations.revoke_session(claims["origin_jti"])
    assert await _revoked(first, pool.sign(claims))
    assert await _revoked(second, pool.sign(claims))


async def test_the_bearer_answers_a_revoked_token_like_any_invalid_one(
    pool: LocalUserPool, library_logs: pytest.LogCaptureFixture
) -> None:
    from fastapi import Depends, FastAPI

    auth = pool.bearer(token_use="access")
    app = FastAPI()

    @app.get("/", dependencies=[Depends(auth)])
    async def index() -> dict[str, str]:
        return {}

    claims = pool.access_claims()
    token = pool.sign(claims)
    assert (await send(app, "/", bearer(token))).status_code == 200
    await auth.verifier.revocations.revoke_session(claims["origin_jti"])
    assert_rejected(await send(app, "/", bearer(token)), INVALID, pool, token)
    assert "TokenRevokedError" in library_logs.text
    assert claims["origin_jti"] not in library_logs.text
