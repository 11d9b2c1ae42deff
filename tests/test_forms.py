"""The request bodies of `auth_router`: what each accepts and refuses before Cognito is asked.

Each refusal names the field it failed on, so a case that is refused for the wrong reason
(or accepted) fails.
"""

from typing import Any

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from fastapi_cognito_jwt import SignUpForm, SignUpRequest
from fastapi_cognito_jwt._forms import (
    ChallengeAnswer,
    ChangePasswordRequest,
    ConfirmRequest,
    RefreshRequest,
    ResetPasswordRequest,
    SignInRequest,
    UsernameRequest,
)

PASSWORD = "Pw-9d2e-Secret!"
SESSION = "s" * 20
SIGN_UP = {"username": "alice", "password": PASSWORD}


def failures(model: type[BaseModel], data: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The locations of the errors validating `data` (empty when it is accepted)."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [error["loc"] for error in exc.errors()]
    return []


# -- SignUpRequest ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        pytest.param({}, None, id="minimal"),
        pytest.param({"username": "a"}, None, id="username-1-char"),
        pytest.param({"username": "u" * 128}, None, id="username-128"),
        pytest.param({"username": "ålice+tag@example.com"}, None, id="username-unicode-symbols"),
        pytest.param({"username": ""}, ("username",), id="username-empty"),
        pytest.param({"username": "u" * 129}, ("username",), id="username-129"),
        pytest.param({"username": "alice smith"}, ("username",), id="username-space"),
        pytest.param({"username": "alice\t"}, ("username",), id="username-tab"),
        pytest.param({"username": "alice\n"}, ("username",), id="username-trailing-newline"),
        pytest.param({"username": "\u00a0alice"}, ("username",), id="username-nbsp"),
        pytest.param({"username": 5}, ("username",), id="username-not-a-string"),
        pytest.param({"password": "p" * 8}, None, id="password-8"),
        pytest.param({"password": "p" * 256}, None, id="password-256"),
        pytest.param({"password": "p" * 7}, ("password",), id="password-7"),
        pytest.param({"password": "p" * 257}, ("password",), id="password-257"),
        pytest.param({"email": "alice@example.com"}, None, id="email"),
        pytest.param({"email": "alice-at-example.com"}, ("email",), id="email-no-at"),
        pytest.param({"email": "alice@localhost"}, ("email",), id="email-no-domain"),
        pytest.param({"email": "alice@@example.com"}, ("email",), id="email-two-ats"),
        pytest.param({"phone_number": "+447700900123"}, None, id="phone-e164"),
        pytest.param({"phone_number": "+1234567"}, None, id="phone-shortest"),
        pytest.param({"phone_number": "+123456789012345"}, None, id="phone-longest"),
        pytest.param({"phone_number": "+123456"}, ("phone_number",), id="phone-too-short"),
        pytest.param({"phone_number": "+1234567890123456"}, ("phone_number",), id="phone-long"),
        pytest.param({"phone_number": "447700900123"}, ("phone_number",), id="phone-no-plus"),
        pytest.param({"phone_number": "+047700900123"}, ("phone_number",), id="phone-leading-0"),
        pytest.param({"phone_number": "+44 7700 900123"}, ("phone_number",), id="phone-spaces"),
        pytest.param({"phone_number": "+447700900123\n"}, ("phone_number",), id="phone-newline"),
        pytest.param({"role": "admin"}, ("role",), id="extra-field"),
    ],
)
def test_sign_up_request_fields(fields: dict[str, Any], loc: tuple[str, ...] | None) -> None:
    assert failures(SignUpRequest, {**SIGN_UP, **fields}) == ([] if loc is None else [loc])


@pytest.mark.parametrize(
    "name",
    [
        "name",
        "given_name",
        "preferred_username",
        "zoneinfo",
        "custom:plan",
        "custom:a.b-c_d",
        "custom:tier2",
        "custom:" + "x" * 20,
        "a" * 32,
    ],
)
def test_sign_up_request_accepts_standard_and_custom_attribute_names(name: str) -> None:
    body = SignUpRequest.model_validate({**SIGN_UP, "attributes": {name: "value"}})
    assert body.cognito_attributes() == {name: "value"}


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Name",
        "given-name",
        "email address",
        "a" * 33,
        "custom:",
        "custom:" + "x" * 21,
        "custom:with space",
        "custom:a/b",
        "dev:custom:plan",
        "Custom:plan",
        "name\n",
        "custom:plan\n",
    ],
)
def test_sign_up_request_refuses_other_attribute_names(name: str) -> None:
    assert failures(SignUpRequest, {**SIGN_UP, "attributes": {name: "value"}}) == [
        ("attributes", name, "[key]")
    ]


def test_sign_up_request_attribute_values_are_at_most_2048_characters() -> None:
    assert failures(SignUpRequest, {**SIGN_UP, "attributes": {"name": "v" * 2048}}) == []
    assert failures(SignUpRequest, {**SIGN_UP, "attributes": {"name": "v" * 2049}}) == [
        ("attributes", "name")
    ]
    assert failures(SignUpRequest, {**SIGN_UP, "attributes": {"name": 5}}) == [
        ("attributes", "name")
    ]


def test_sign_up_request_takes_at_most_50_attributes() -> None:
    fifty = {f"custom:a{i}": "v" for i in range(50)}
    assert failures(SignUpRequest, {**SIGN_UP, "attributes": fifty}) == []
    assert failures(SignUpRequest, {**SIGN_UP, "attributes": {**fifty, "name": "v"}}) == [
        ("attributes",)
    ]


def test_sign_up_request_hides_the_password() -> None:
    body = SignUpRequest.model_validate({**SIGN_UP, "email": "alice@example.com"})
    assert isinstance(body.password, SecretStr)
    for shown in (repr(body), str(body), body.model_dump_json(), repr(body.model_dump())):
        assert PASSWORD not in shown
    assert body.cognito_password() == PASSWORD


def test_sign_up_request_is_frozen() -> None:
    body = SignUpRequest.model_validate(SIGN_UP)
    with pytest.raises(ValidationError):
        body.username = "mallory"  # type: ignore[misc]


def test_sign_up_request_sends_username_password_and_merged_attributes() -> None:
    body = SignUpRequest.model_validate(
        {
            **SIGN_UP,
            "email": "alice@example.com",
            "phone_number": "+447700900123",
            "attributes": {"custom:plan": "pro", "name": "Alice", "email": "old@example.com"},
        }
    )
    assert body.cognito_username() == "alice"
    assert body.cognito_password() == PASSWORD
    assert body.cognito_attributes() == {
        "custom:plan": "pro",
        "name": "Alice",
        "email": "alice@example.com",
        "phone_number": "+447700900123",
    }
    assert body.attributes["email"] == "old@example.com"  # the body itself is unchanged


@pytest.mark.parametrize(
    ("fields", "attributes"),
    [
        pytest.param({}, {}, id="none"),
        pytest.param({"email": "a@example.com"}, {"email": "a@example.com"}, id="email"),
        pytest.param({"phone_number": "+15555550100"}, {"phone_number": "+15555550100"}, id="tel"),
        pytest.param({"attributes": {"locale": "fr"}}, {"locale": "fr"}, id="attributes"),
    ],
)
def test_sign_up_request_attributes_hold_only_what_was_given(
    fields: dict[str, Any], attributes: dict[str, str]
) -> None:
    assert SignUpRequest.model_validate({**SIGN_UP, **fields}).cognito_attributes() == attributes


# -- SignUpForm -------------------------------------------------------------------------------


class ByEmail(SignUpForm):
    """The least a form must say: username and password; no attributes."""

    email: str
    password: SecretStr

    def cognito_username(self) -> str:
        return self.email

    def cognito_password(self) -> str:
        return self.password.get_secret_value()


class WithoutPassword(SignUpForm):
    email: str

    def cognito_username(self) -> str:
        return self.email


def test_sign_up_form_is_abstract() -> None:
    with pytest.raises(TypeError):
        SignUpForm()  # type: ignore[abstract]
    with pytest.raises(TypeError):
        SignUpForm.model_validate({})
    with pytest.raises(TypeError):
        WithoutPassword.model_validate({"email": "a@example.com"})


def test_a_sign_up_form_sends_no_attributes_unless_it_says_so() -> None:
    form = ByEmail.model_validate({"email": "a@example.com", "password": PASSWORD})
    assert (form.cognito_username(), form.cognito_password()) == ("a@example.com", PASSWORD)
    assert form.cognito_attributes() == {}


def test_a_sign_up_form_forbids_extra_fields_and_is_frozen() -> None:
    data = {"email": "a@example.com", "password": PASSWORD}
    assert failures(ByEmail, {**data, "role": "admin"}) == [("role",)]
    form = ByEmail.model_validate(data)
    with pytest.raises(ValidationError):
        form.email = "b@example.com"  # type: ignore[misc]


# -- the other bodies -------------------------------------------------------------------------

CHALLENGE = {
    "username": "alice",
    "challenge_name": "NEW_PASSWORD_REQUIRED",
    "session": SESSION,
    "responses": {"NEW_PASSWORD": PASSWORD},
}
RESET = {"username": "alice", "code": "1", "new_password": "p" * 8}
CHANGE = {"previous_password": "p", "proposed_password": "p" * 8}


def body(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**base, **fields}


def answers(responses: dict[str, str]) -> dict[str, Any]:
    return {**CHALLENGE, "responses": responses}


@pytest.mark.parametrize(
    ("model", "data", "loc"),
    [
        # Signing in checks a password that already exists: any length the policy allowed.
        (SignInRequest, {"username": "alice", "password": "p"}, None),
        (SignInRequest, {"username": "alice", "password": "p" * 256}, None),
        (SignInRequest, {"username": "alice", "password": ""}, ("password",)),
        (SignInRequest, {"username": "alice", "password": "p" * 257}, ("password",)),
        (SignInRequest, {"username": "al ice", "password": "p"}, ("username",)),
        (SignInRequest, {"username": "alice"}, ("password",)),
        (SignInRequest, {"username": "alice", "password": "p", "mfa": "1"}, ("mfa",)),
        (UsernameRequest, {"username": "alice"}, None),
        (UsernameRequest, {"username": ""}, ("username",)),
        (UsernameRequest, {"username": "alice", "email": "a@example.com"}, ("email",)),
        (ConfirmRequest, {"username": "alice", "code": "1"}, None),
        (ConfirmRequest, {"username": "alice", "code": "c" * 64}, None),
        (ConfirmRequest, {"username": "alice", "code": "c" * 65}, ("code",)),
        (ConfirmRequest, {"username": "alice", "code": ""}, ("code",)),
        (ConfirmRequest, {"username": "alice", "code": "123 456"}, ("code",)),
        (ConfirmRequest, {"username": "alice", "code": " 123456"}, ("code",)),
        (ConfirmRequest, {"username": "alice", "code": "123456\n"}, ("code",)),
        (ConfirmRequest, {"username": "alice", "code": 123456}, ("code",)),
        (ConfirmRequest, {"username": "alice"}, ("code",)),
        (ChallengeAnswer, CHALLENGE, None),
        (ChallengeAnswer, body(CHALLENGE, challenge_name="SMS_MFA"), None),
        (ChallengeAnswer, body(CHALLENGE, challenge_name="new_password"), ("challenge_name",)),
        (ChallengeAnswer, body(CHALLENGE, challenge_name=""), ("challenge_name",)),
        (ChallengeAnswer, body(CHALLENGE, challenge_name="A" * 65), ("challenge_name",)),
        (ChallengeAnswer, body(CHALLENGE, challenge_name="MFA SETUP"), ("challenge_name",)),
        (ChallengeAnswer, body(CHALLENGE, session="s" * 19), ("session",)),
        (ChallengeAnswer, body(CHALLENGE, session="s" * 2048), None),
        (ChallengeAnswer, body(CHALLENGE, session="s" * 2049), ("session",)),
        (ChallengeAnswer, body(CHALLENGE, username="al ice"), ("username",)),
        (ChallengeAnswer, answers({}), None),
        (ChallengeAnswer, answers({"SMS_MFA_CODE": "123456"}), None),
        (ChallengeAnswer, answers({"userAttributes.name": "A"}), None),
        (ChallengeAnswer, answers({"NEW_PASSWORD": ""}), ("responses", "NEW_PASSWORD")),
        (ChallengeAnswer, answers({"ANSWER": "a" * 2048}), None),
        (ChallengeAnswer, answers({"ANSWER": "a" * 2049}), ("responses", "ANSWER")),
        (ChallengeAnswer, answers({"BAD KEY": "x"}), ("responses", "BAD KEY", "[key]")),
        (ChallengeAnswer, answers({"": "x"}), ("responses", "", "[key]")),
        (ChallengeAnswer, answers({"K" * 65: "x"}), ("responses", "K" * 65, "[key]")),
        (ChallengeAnswer, answers({f"K{'_' * i}": "x" for i in range(11)}), ("responses",)),
        (ChallengeAnswer, {k: v for k, v in CHALLENGE.items() if k != "responses"}, ("responses",)),
        (RefreshRequest, {"refresh_token": "r"}, None),
        (RefreshRequest, {"refresh_token": "r" * 8192, "username": "alice"}, None),
        (RefreshRequest, {"refresh_token": ""}, ("refresh_token",)),
        (RefreshRequest, {"refresh_token": "r" * 8193}, ("refresh_token",)),
        (RefreshRequest, {"refresh_token": "r", "username": ""}, ("username",)),
        (RefreshRequest, {"refresh_token": "r", "username": "al ice"}, ("username",)),
        (RefreshRequest, {"refresh_token": "r", "client_id": "x"}, ("client_id",)),
        (ResetPasswordRequest, RESET, None),
        (ResetPasswordRequest, body(RESET, new_password="p" * 7), ("new_password",)),
        (ResetPasswordRequest, body(RESET, new_password="p" * 257), ("new_password",)),
        (ResetPasswordRequest, body(RESET, code="1 2"), ("code",)),
        (ChangePasswordRequest, CHANGE, None),
        (ChangePasswordRequest, body(CHANGE, previous_password=""), ("previous_password",)),
        (ChangePasswordRequest, body(CHANGE, proposed_password="p" * 7), ("proposed_password",)),
        (ChangePasswordRequest, body(CHANGE, proposed_password="p" * 257), ("proposed_password",)),
        (ChangePasswordRequest, body(CHANGE, previous_password="p" * 257), ("previous_password",)),
    ],
)
def test_request_bodies(
    model: type[BaseModel], data: dict[str, Any], loc: tuple[str, ...] | None
) -> None:
    assert failures(model, data) == ([] if loc is None else [loc])


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (SignInRequest, {"username": "alice", "password": PASSWORD}),
        (ResetPasswordRequest, {"username": "alice", "code": "123456", "new_password": PASSWORD}),
        (ChangePasswordRequest, {"previous_password": PASSWORD, "proposed_password": PASSWORD}),
    ],
)
def test_passwords_are_secret_in_every_body(model: type[BaseModel], data: dict[str, Any]) -> None:
    body = model.model_validate(data)
    assert PASSWORD not in repr(body)
    assert PASSWORD not in body.model_dump_json()
    secrets = [value for value in body.model_dump().values() if isinstance(value, SecretStr)]
    assert secrets and all(secret.get_secret_value() == PASSWORD for secret in secrets)


def test_challenge_answers_are_kept_as_given() -> None:
    body = ChallengeAnswer.model_validate(
        {**CHALLENGE, "responses": {"NEW_PASSWORD": PASSWORD, "userAttributes.name": "Alice"}}
    )
    assert body.responses == {"NEW_PASSWORD": PASSWORD, "userAttributes.name": "Alice"}
    assert (body.username, body.challenge_name, body.session) == (
        "alice",
        "NEW_PASSWORD_REQUIRED",
        SESSION,
    )


def test_refresh_username_is_optional() -> None:
    assert RefreshRequest.model_validate({"refresh_token": "r"}).username is None
