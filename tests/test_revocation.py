"""The revocation list (in memory) and its check in `CognitoVerifier.verify`, cached or not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import anyio
import pytest
from fastapi import FastAPI

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
    # A revoked token is refused before it is remembered: sent again, it is not served.
    fresh = _verifier(pool)
    await fresh.revocations.revoke_session(claims["origin_jti"])
    assert [await _revoked(fresh, sibling) for _ in range(3)] == [True] * 3
    assert len(fresh._cache) == 0


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


async def test_entries_come_back_as_they_were_recorded(pool: LocalUserPool) -> None:
    # Keys are held as they were given (see below for uuids in capitals).
    clock = FakeClock(1_700_000_000.25)
    revocations = fcj.InMemoryRevocationList(pool.settings(), clock=clock)
    session, sub = "0f8fad5b-d9cb-469f-a165-70867728950e", "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    await revocations.revoke_session(session)
    await revocations.revoke_session("not-a-uuid")
    await revocations.revoke_session("x" * 36)  # uuid-long, not a uuid
    await revocations.revoke_user(pool.issuer, sub, at=clock.now)
    assert sorted(revocations.entries()) == [
        fcj.Revocation("session", session, "", 0.0, 1_700_086_440.0),
        fcj.Revocation("session", "not-a-uuid", "", 0.0, 1_700_086_440.0),
        fcj.Revocation("session", "x" * 36, "", 0.0, 1_700_086_440.0),
        fcj.Revocation("user", sub, pool.issuer, 1_700_000_001.0, 1_700_086_401.0),
    ]


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


# -- the auth router records revocations ------------------------------------------------------


def _clock() -> FakeClock:
    """Now, held half a second into the current second: tests of whole seconds never straddle."""
    return FakeClock(int(time.time()) + 0.5)


def _router_app(
    pool: LocalUserPool, fake: Any, clock: FakeClock | None = None
) -> tuple[Any, fcj.CognitoBearer]:
    from fastapi import Depends, FastAPI

    clock = clock or _clock()
    verifier = fcj.CognitoVerifier(pool.settings(), transport=pool.transport(), clock=clock)
    auth = fcj.CognitoBearer(token_use="access", verifier=verifier)
    client = fcj.CognitoAuthClient(pool.settings(), transport=fake.transport())
    app = FastAPI()
    app.include_router(fcj.auth_router(client=client, bearer=auth), prefix="/auth")

    @app.get("/hello", dependencies=[Depends(auth)])
    async def hello() -> dict[str, str]:
        return {}

    return app, auth


def _refreshed(pool: LocalUserPool, claims: dict[str, Any], rotated: str | None = None) -> Any:
    from tests import fake_cognito

    result: dict[str, Any] = {"AccessToken": pool.sign({**claims, "jti": "r"}), "ExpiresIn": 60}
    if rotated:
        result["RefreshToken"] = rotated
    return fake_cognito.ok({"AuthenticationResult": result})


async def _post(app: Any, path: str, *, token: str = "", body: Any = None) -> Any:
    import httpx2

    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(path, json=body, headers=bearer(token) if token else {})


async def test_logout_signs_the_user_out_here_too(pool: LocalUserPool) -> None:
    from tests.fake_cognito import FakeCognito

    fake = FakeCognito()
    clock = _clock()
    app, _ = _router_app(pool, fake, clock)
    now = int(clock.now)
    claims = pool.access_claims(claims={"iat": now - 5, "auth_time": now - 5})
    token, other_session = pool.sign(claims), pool.sign({**claims, "origin_jti": "o2"})
    for _ in range(2):  # the second is served from the verified-token cache
        assert (await send(app, "/hello", bearer(token))).status_code == 200
    assert (await _post(app, "/auth/logout", token=token)).status_code == 204
    assert [op for op, _ in fake.calls] == ["GlobalSignOut"]
    for refused in (token, other_session):
        assert_rejected(await send(app, "/hello", bearer(refused)), INVALID, pool, refused)
    later = pool.access_token(claims={"iat": now + 2, "auth_time": now + 2})
    assert (await send(app, "/hello", bearer(later))).status_code == 200
    # A sign-in in the very second of the sign-out (whole seconds) is another session: served.
    same_second = pool.access_token(claims={"iat": now, "auth_time": now})
    assert (await send(app, "/hello", bearer(same_second))).status_code == 200


async def test_logout_refuses_its_own_session_signed_in_the_same_second(
    pool: LocalUserPool,
) -> None:
    from tests.fake_cognito import FakeCognito

    clock = _clock()
    app, _ = _router_app(pool, FakeCognito(), clock)
    now = int(clock.now)
    token = pool.access_token(claims={"iat": now, "auth_time": now})
    assert (await _post(app, "/auth/logout", token=token)).status_code == 204
    assert_rejected(await send(app, "/hello", bearer(token)), INVALID, pool, token)


async def test_logout_refused_by_cognito_still_signs_out_here(pool: LocalUserPool) -> None:
    from tests.fake_cognito import FakeCognito, error

    fake = FakeCognito()
    fake.replies["GlobalSignOut"] = error("InternalErrorException", status=500)
    app, _ = _router_app(pool, fake)
    token = pool.access_token(claims={"iat": int(time.time()) - 5})
    assert (await _post(app, "/auth/logout", token=token)).status_code == 502
    assert_rejected(await send(app, "/hello", bearer(token)), INVALID, pool, token)


async def test_revoke_refuses_the_session_even_after_its_access_token_expired(
    pool: LocalUserPool,
) -> None:
    from tests.fake_cognito import FakeCognito

    fake = FakeCognito()
    app, auth = _router_app(pool, fake)
    claims = pool.access_claims()
    token, id_token = pool.sign(claims), pool.sign({**pool.id_claims(), **_same(claims)})
    fake.replies["InitiateAuth"] = _refreshed(pool, claims, rotated="rotated-refresh")
    assert (await send(app, "/hello", bearer(token))).status_code == 200
    answer = await _post(app, "/auth/revoke", body={"refresh_token": "old-refresh"})
    assert answer.status_code == 204
    assert [(op, body.get("Token")) for op, body in fake.calls] == [
        ("InitiateAuth", None),
        ("RevokeToken", "old-refresh"),
        ("RevokeToken", "rotated-refresh"),
    ]
    assert_rejected(await send(app, "/hello", bearer(token)), INVALID, pool, token)
    other = pool.access_token()  # another sign-in of the same user
    assert (await send(app, "/hello", bearer(other))).status_code == 200
    with pytest.raises(fcj.TokenRevokedError):  # the session's ID token too
        await auth.verifier.verify(id_token, token_use="id")


def _same(claims: dict[str, Any]) -> dict[str, Any]:
    return {"origin_jti": claims["origin_jti"], "sub": claims["sub"]}


async def test_revoke_with_a_bad_refresh_token_revokes_nothing(pool: LocalUserPool) -> None:
    from tests.fake_cognito import FakeCognito, error

    fake = FakeCognito()
    fake.replies["InitiateAuth"] = error("NotAuthorizedException")
    app, auth = _router_app(pool, fake)
    answer = await _post(app, "/auth/revoke", body={"refresh_token": "bad"})
    assert (answer.status_code, answer.json()) == (401, {"detail": "Invalid refresh token"})
    assert [op for op, _ in fake.calls] == ["InitiateAuth"]
    assert len(auth.verifier.revocations) == 0


async def test_revoke_of_a_revoked_session_still_revokes_at_cognito(pool: LocalUserPool) -> None:
    from tests.fake_cognito import FakeCognito

    fake = FakeCognito()
    app, auth = _router_app(pool, fake)
    claims = pool.access_claims()
    await auth.verifier.revocations.revoke_session(claims["origin_jti"])
    fake.replies["InitiateAuth"] = _refreshed(pool, claims)
    assert (await _post(app, "/auth/revoke", body={"refresh_token": "r"})).status_code == 204
    assert [op for op, _ in fake.calls] == ["InitiateAuth", "RevokeToken"]


async def test_revoke_refuses_a_refreshed_token_it_cannot_verify(
    pool: LocalUserPool, library_logs: pytest.LogCaptureFixture
) -> None:
    from tests.fake_cognito import FakeCognito

    fake = FakeCognito()
    app, auth = _router_app(pool, fake)
    fake.replies["InitiateAuth"] = _refreshed(pool, {**pool.access_claims(), "client_id": "x"})
    answer = await _post(app, "/auth/revoke", body={"refresh_token": "r"})
    assert answer.status_code == 502
    assert [op for op, _ in fake.calls] == ["InitiateAuth"]
    # Without origin_jti nothing can be revoked here, but Cognito still revokes.
    fake.replies["InitiateAuth"] = _refreshed(pool, pool.access_claims(claims={"origin_jti": None}))
    assert (await _post(app, "/auth/revoke", body={"refresh_token": "r"})).status_code == 204
    assert "no origin_jti" in library_logs.text
    assert len(auth.verifier.revocations) == 0


async def test_a_session_or_user_is_named_in_any_case(pool: LocalUserPool) -> None:
    revocations, now = fcj.InMemoryRevocationList(pool.settings()), int(time.time())
    session, sub = "0F8FAD5B-D9CB-469F-A165-70867728950E", "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    await revocations.revoke_session(session)
    await revocations.revoke_session("Session-X")
    await revocations.revoke_user(pool.issuer, sub, at=now + 10)

    def refused(**claims: Any) -> bool:
        try:
            revocations.check(fcj.CognitoClaims.model_validate(pool.access_claims(claims=claims)))
        except fcj.TokenRevokedError:
            return True
        return False

    # An entry from Redis (another replica, an older version) in any case is held so too.
    revocations.apply([fcj.Revocation("session", "From-Redis", "", 0.0, now + 3600)])
    assert refused(origin_jti="from-redis") and refused(origin_jti="FROM-REDIS")
    spellings = [session, session.lower(), "Session-X", "session-x", "SESSION-X"]
    assert [refused(origin_jti=value) for value in spellings] == [True] * 5
    assert not refused(origin_jti="Session-Y")
    assert [refused(sub=value, auth_time=now) for value in (sub, sub.upper())] == [True, True]
    # Held once each, in lower case (Cognito's spelling), so counted and re-published once.
    assert len(revocations) == 4
    assert sorted(entry.key for entry in revocations.entries()) == sorted(
        [session.lower(), "session-x", "from-redis", sub]
    )


async def test_revoke_needs_the_username_with_a_secret_and_a_key_to_verify(
    pool: LocalUserPool,
) -> None:
    from tests.fake_cognito import FakeCognito

    fake = FakeCognito()
    client = fcj.CognitoAuthClient(
        pool.settings(client_secret="s3cret"), transport=fake.transport()
    )
    app = FastAPI()
    app.include_router(fcj.auth_router(client=client, bearer=pool.bearer(token_use="access")))
    assert (await _post(app, "/revoke", body={"refresh_token": "r"})).status_code == 400
    assert fake.calls == []
    # The refreshed token's key cannot be had (the JWKS endpoint fails): 503, and nothing
    # is revoked at Cognito.
    import httpx2

    failing = httpx2.MockTransport(lambda request: httpx2.Response(500))
    verifier = fcj.CognitoVerifier(pool.settings(), transport=failing)
    auth = fcj.CognitoBearer(token_use="access", verifier=verifier)
    app = FastAPI()
    app.include_router(fcj.auth_router(client=client, bearer=auth))
    fake.replies["InitiateAuth"] = _refreshed(pool, pool.access_claims())
    answer = await _post(app, "/revoke", body={"refresh_token": "r", "username": "alice"})
    assert answer.status_code == 503
    assert "retry-after" in answer.headers
    assert [op for op, _ in fake.calls] == ["InitiateAuth"]


class _PubSubLosingACancel:
    """A pub/sub connection whose read takes the first cancel for its own timeout and returns,
    as a read inside redis-py can; later cancels go through."""

    def __init__(self) -> None:
        self.lost = 0

    async def subscribe(self, channel: str) -> None:
        pass

    async def get_message(self, timeout: float) -> None:
        try:
            await asyncio.sleep(timeout)
        except asyncio.CancelledError:
            if self.lost:
                raise
            self.lost += 1

    async def ping(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class _RedisLosingACancel:
    """Just what the list needs: an empty database, the pub/sub above, and pipelines whose
    writes take 0.2 s and are kept in `stored`."""

    def __init__(self) -> None:
        self.pubsubs: list[_PubSubLosingACancel] = []
        self.stored: list[str] = []

    def pubsub(self) -> _PubSubLosingACancel:
        self.pubsubs.append(_PubSubLosingACancel())
        return self.pubsubs[-1]

    async def scan_iter(self, **_: object) -> AsyncIterator[bytes]:
        keys: tuple[bytes, ...] = ()
        for key in keys:
            yield key

    def pipeline(self, **_: object) -> _SlowPipeline:
        return _SlowPipeline(self.stored)


class _SlowPipeline:
    def __init__(self, stored: list[str]) -> None:
        self._stored = stored
        self._queued: list[str] = []

    async def __aenter__(self) -> _SlowPipeline:
        return self

    async def __aexit__(self, *_: object) -> None:
        pass

    def set(self, key: str, value: str, ex: int) -> None:
        self._queued.append(key)

    def publish(self, channel: str, value: str) -> None:
        pass

    async def execute(self) -> None:
        await asyncio.sleep(0.2)
        self._stored.extend(self._queued)


async def test_closing_a_redis_list_stops_its_follower_even_when_a_cancel_is_lost(
    pool: LocalUserPool,
) -> None:
    fake = _RedisLosingACancel()
    revocations = fcj.RedisRevocationList(pool.settings(), redis=cast(Any, fake))
    await revocations.start()
    assert revocations.in_touch
    follower = revocations._task
    assert follower is not None
    started = time.monotonic()
    with anyio.move_on_after(5):  # a follower that survives its cancel would hang here
        await revocations.aclose()
    assert follower.done() and time.monotonic() - started < 2
    assert [pubsub.lost for pubsub in fake.pubsubs] == [1]


async def test_closing_a_redis_list_first_lets_the_revocations_being_written_reach_redis(
    pool: LocalUserPool,
) -> None:
    fake = _RedisLosingACancel()
    revocations = fcj.RedisRevocationList(
        pool.settings(revocation_max_stale=5.0), redis=cast(Any, fake)
    )
    await revocations.start()
    entry = fcj.Revocation("session", "Session-Being-Written", "", 0.0, time.time() + 3600)
    recording = asyncio.create_task(revocations.record([entry]))
    await asyncio.sleep(0.05)  # applied here, in Redis's hands
    await revocations.aclose()
    # Stored as held here, in lower case: a reload finds it under this one key.
    assert fake.stored == ["fastapi-cognito-jwt:revoked:s:session-being-written"]
    await recording
