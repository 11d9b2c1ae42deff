"""The typed results of the auth flows: parsing Cognito's PascalCase JSON, and what they show.

Each model is frozen, ignores keys it does not know, and keeps tokens and session handles
out of `repr()` and `str()`.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from fastapi_cognito_jwt import (
    AuthChallenge,
    AuthTokens,
    CodeDelivery,
    CognitoUser,
    SignUpResult,
)

ACCESS = "eyJraWQiOiJhIn0.access-payload-Zq7Xw.sig"
ID = "eyJraWQiOiJpIn0.id-payload-Zq7Xw.sig"
REFRESH = "eyJjdHkiOiJKV1QifQ.refresh-blob-Zq7Xw"
SESSION = "AYABeC1-session-handle-Zq7Xw"
USERNAME = "alice.liddell@example.com"
SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"

TOKENS: dict[str, Any] = {
    "AccessToken": ACCESS,
    "ExpiresIn": 3600,
    "TokenType": "Bearer",
    "RefreshToken": REFRESH,
    "IdToken": ID,
    "NewDeviceMetadata": {"DeviceKey": "k", "DeviceGroupKey": "g"},
}
CHALLENGE: dict[str, Any] = {
    "ChallengeName": "SMS_MFA",
    "Session": SESSION,
    "ChallengeParameters": {"CODE_DELIVERY_DESTINATION": "+*******0123"},
    "username": USERNAME,
}
DELIVERY: dict[str, Any] = {
    "Destination": "a***@e***",
    "DeliveryMedium": "EMAIL",
    "AttributeName": "email",
}
SIGN_UP: dict[str, Any] = {"UserConfirmed": False, "UserSub": SUB, "CodeDeliveryDetails": DELIVERY}
USER: dict[str, Any] = {
    "Username": SUB,
    "UserAttributes": [
        {"Name": "sub", "Value": SUB},
        {"Name": "email", "Value": USERNAME},
        {"Name": "custom:team", "Value": "blue"},
    ],
    "PreferredMfaSetting": "SMS_MFA",
    "UserMFASettingList": ["SMS_MFA", "SOFTWARE_TOKEN_MFA"],
    "MFAOptions": [{"DeliveryMedium": "SMS", "AttributeName": "phone_number"}],
}


# -- parsing --------------------------------------------------------------------------------


def test_auth_tokens() -> None:
    tokens = AuthTokens.model_validate(TOKENS)
    assert tokens.access_token == ACCESS
    assert tokens.id_token == ID
    assert tokens.refresh_token == REFRESH
    assert tokens.expires_in == 3600
    assert tokens.token_type == "Bearer"


def test_auth_tokens_after_a_refresh() -> None:
    tokens = AuthTokens.model_validate({"AccessToken": ACCESS, "ExpiresIn": 300})
    assert tokens.refresh_token is None
    assert tokens.id_token is None
    assert tokens.token_type == "Bearer"
    assert tokens.expires_in == 300


def test_auth_challenge() -> None:
    challenge = AuthChallenge.model_validate(CHALLENGE)
    assert challenge.name == "SMS_MFA"
    assert challenge.session == SESSION
    assert challenge.parameters == {"CODE_DELIVERY_DESTINATION": "+*******0123"}
    assert challenge.username == USERNAME


def test_auth_challenge_without_parameters() -> None:
    document = {key: value for key, value in CHALLENGE.items() if key != "ChallengeParameters"}
    assert AuthChallenge.model_validate(document).parameters == {}


def test_code_delivery() -> None:
    delivery = CodeDelivery.model_validate(DELIVERY)
    assert delivery.destination == "a***@e***"
    assert delivery.delivery_medium == "EMAIL"
    assert delivery.attribute_name == "email"
    empty = CodeDelivery.model_validate({})
    assert (empty.destination, empty.delivery_medium, empty.attribute_name) == (None, None, None)


def test_sign_up_result() -> None:
    result = SignUpResult.model_validate(SIGN_UP)
    assert result.user_sub == SUB
    assert result.user_confirmed is False
    assert result.code_delivery == CodeDelivery.model_validate(DELIVERY)
    confirmed = SignUpResult.model_validate({"UserConfirmed": True, "UserSub": SUB})
    assert confirmed.user_confirmed is True
    assert confirmed.code_delivery is None


def test_cognito_user() -> None:
    user = CognitoUser.model_validate(USER)
    assert user.username == SUB
    assert user.attributes == {"sub": SUB, "email": USERNAME, "custom:team": "blue"}
    assert user.preferred_mfa == "SMS_MFA"
    assert user.mfa_methods == ("SMS_MFA", "SOFTWARE_TOKEN_MFA")


def test_cognito_user_defaults() -> None:
    user = CognitoUser.model_validate({"Username": SUB, "UserAttributes": []})
    assert user.attributes == {}
    assert user.preferred_mfa is None
    assert user.mfa_methods == ()


def test_cognito_user_attribute_without_value_is_empty() -> None:
    document = {"Username": SUB, "UserAttributes": [{"Name": "email"}, {"Name": "x", "Value": ""}]}
    assert CognitoUser.model_validate(document).attributes == {"email": "", "x": ""}


def test_cognito_user_accepts_a_mapping_of_attributes() -> None:
    document = {"Username": SUB, "UserAttributes": {"email": USERNAME}}
    assert CognitoUser.model_validate(document).attributes == {"email": USERNAME}


def test_cognito_user_later_duplicate_attribute_wins() -> None:
    attributes = [
        {"Name": "email", "Value": "old@x.test"},
        {"Name": "email", "Value": "new@x.test"},
    ]
    user = CognitoUser.model_validate({"Username": SUB, "UserAttributes": attributes})
    assert user.attributes == {"email": "new@x.test"}


@pytest.mark.parametrize(
    "item",
    [
        pytest.param({"Value": "x"}, id="no-name"),
        pytest.param({"Name": None, "Value": "x"}, id="null-name"),
        pytest.param({"Name": 5, "Value": "x"}, id="number-name"),
        pytest.param(["email", "x"], id="pair"),
        pytest.param("email=x", id="string"),
        pytest.param(None, id="null"),
        pytest.param({"Name": "email", "Value": None}, id="null-value"),
        pytest.param({"Name": "email", "Value": 5}, id="number-value"),
    ],
)
def test_cognito_user_refuses_a_bad_attribute(item: Any) -> None:
    with pytest.raises(ValidationError):
        CognitoUser.model_validate({"Username": SUB, "UserAttributes": [{"Name": "a"}, item]})


# -- refused documents ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "document"),
    [
        pytest.param(AuthTokens, {"ExpiresIn": 3600}, id="tokens-no-access"),
        pytest.param(AuthTokens, {"AccessToken": "", "ExpiresIn": 3600}, id="tokens-empty"),
        pytest.param(AuthTokens, {"AccessToken": ACCESS}, id="tokens-no-expiry"),
        pytest.param(AuthTokens, {"AccessToken": ACCESS, "ExpiresIn": -1}, id="tokens-negative"),
        pytest.param(AuthTokens, {"AccessToken": ACCESS, "ExpiresIn": "soon"}, id="tokens-text"),
        pytest.param(AuthTokens, {"AccessToken": 5, "ExpiresIn": 1}, id="tokens-number"),
        pytest.param(AuthChallenge, {**CHALLENGE, "Session": ""}, id="challenge-empty-session"),
        pytest.param(AuthChallenge, {**CHALLENGE, "ChallengeName": ""}, id="challenge-no-name"),
        pytest.param(
            AuthChallenge,
            {key: value for key, value in CHALLENGE.items() if key != "username"},
            id="challenge-no-username",
        ),
        pytest.param(
            AuthChallenge, {**CHALLENGE, "ChallengeParameters": {"a": 1}}, id="challenge-param"
        ),
        pytest.param(CodeDelivery, {"Destination": 5}, id="delivery-number"),
        pytest.param(SignUpResult, {"UserConfirmed": False}, id="sign-up-no-sub"),
        pytest.param(SignUpResult, {"UserSub": "", "UserConfirmed": False}, id="sign-up-empty"),
        pytest.param(SignUpResult, {"UserSub": SUB}, id="sign-up-no-confirmed"),
        pytest.param(SignUpResult, {**SIGN_UP, "CodeDeliveryDetails": "x"}, id="sign-up-delivery"),
        pytest.param(CognitoUser, {"UserAttributes": []}, id="user-no-username"),
        pytest.param(CognitoUser, {"Username": "", "UserAttributes": []}, id="user-empty"),
        pytest.param(CognitoUser, {"Username": SUB}, id="user-no-attributes"),
        pytest.param(CognitoUser, {"Username": SUB, "UserAttributes": "x"}, id="user-attrs-str"),
    ],
)
def test_documents_of_the_wrong_shape_are_refused(
    model: type[BaseModel], document: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(document)


# -- frozen, unknown keys, field names ------------------------------------------------------

EXAMPLES = [
    pytest.param(AuthTokens, TOKENS, "expires_in", id="AuthTokens"),
    pytest.param(AuthChallenge, CHALLENGE, "name", id="AuthChallenge"),
    pytest.param(CodeDelivery, DELIVERY, "destination", id="CodeDelivery"),
    pytest.param(SignUpResult, SIGN_UP, "user_confirmed", id="SignUpResult"),
    pytest.param(CognitoUser, USER, "username", id="CognitoUser"),
]


@pytest.mark.parametrize(("model", "document", "field"), EXAMPLES)
def test_results_are_frozen(model: type[BaseModel], document: dict[str, Any], field: str) -> None:
    result = model.model_validate(document)
    before = getattr(result, field)
    with pytest.raises(ValidationError):
        setattr(result, field, before)
    assert getattr(result, field) == before


@pytest.mark.parametrize(("model", "document", "field"), EXAMPLES)
def test_unknown_keys_are_ignored(
    model: type[BaseModel], document: dict[str, Any], field: str
) -> None:
    result = model.model_validate({**document, "SomethingNew": {"x": 1}, "Extra": "y"})
    assert result == model.model_validate(document)
    assert not result.model_extra
    assert "SomethingNew" not in result.model_dump()
    assert not hasattr(result, "SomethingNew")


def test_results_can_be_built_by_field_name() -> None:
    tokens = AuthTokens.model_validate({"access_token": ACCESS, "expires_in": 60})
    assert tokens == AuthTokens.model_validate({"AccessToken": ACCESS, "ExpiresIn": 60})
    challenge = AuthChallenge.model_validate(
        {"name": "SMS_MFA", "session": SESSION, "username": USERNAME}
    )
    assert challenge.session == SESSION


# -- what repr and str show -----------------------------------------------------------------


def test_auth_tokens_repr_hides_the_tokens() -> None:
    tokens = AuthTokens.model_validate(TOKENS)
    for text in (repr(tokens), str(tokens), f"{tokens!r}", f"{tokens}"):
        for secret in (ACCESS, ID, REFRESH, "Zq7Xw"):
            assert secret not in text
        assert "expires_in=3600" in text
        assert "Bearer" in text


def test_auth_challenge_repr_hides_the_session_and_username() -> None:
    challenge = AuthChallenge.model_validate(CHALLENGE)
    for text in (repr(challenge), str(challenge)):
        assert SESSION not in text
        assert "Zq7Xw" not in text
        assert USERNAME not in text
        assert "SMS_MFA" in text


def test_auth_challenge_repr_hides_its_parameters() -> None:
    # USER_ID_FOR_SRP and userAttributes name the user and hold their email or phone.
    parameters = {"USER_ID_FOR_SRP": "9f1c-real-username", "userAttributes": '{"email":"a@b.c"}'}
    challenge = AuthChallenge.model_validate({**CHALLENGE, "ChallengeParameters": parameters})
    assert challenge.parameters == parameters
    for text in (repr(challenge), str(challenge)):
        assert "9f1c-real-username" not in text
        assert "a@b.c" not in text


def test_sign_up_result_repr_shows_its_fields() -> None:
    text = repr(SignUpResult.model_validate(SIGN_UP))
    assert SUB in text
    assert "a***@e***" in text
