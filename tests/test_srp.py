"""The SRP-6a math: RFC 5054's published vectors, then Cognito's variant against pycognito."""

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from pycognito import aws_srp

from fastapi_cognito_jwt._auth_flows.srp import (
    COGNITO_GROUP,
    SRPError,
    SRPGroup,
    SRPSession,
    cognito_timestamp,
)


def _hex(text: str) -> int:
    return int("".join(text.split()), 16)


# RFC 5054 appendix B: SHA-1, the 1024-bit group of appendix A, N and every value padded.
RFC_GROUP = SRPGroup(
    _hex("""EEAF0AB9 ADB38DD6 9C33F80A FA8FC5E8 6072618775FF3C0B 9EA2314C 9C256576
    D674DF74 96EA81D3 383B4813 D692C6E0 E0D5D8E2 50B98BE4 8E495C1D 6089DAD1 5DC7D7B4 6154D6B6
    CE8EF4AD 69B15D49 82559B29 7BCF1885 C529F566 660E57EC 68EDBC3C 05726CC0 2FD4CBF4 976EAA9A
    FD5138FE 8376435B 9FC61D2F C0EB06E3"""),
    2,
    hash_name="sha1",
    padding="modulus",
)
RFC = {
    "k": "7556AA04 5AEF2CDD 07ABAF0F 665C3E81 8913186F",
    "x": "94B7555A ABE9127C C58CCF49 93DB6CF8 4D16C124",
    "v": """7E273DE8 696FFC4F 4E337D05 B4B375BE B0DDE156 9E8FA00A 9886D812 9BADA1F1 822223CA
    1A605B53 0E379BA4 729FDC59 F105B478 7E5186F5 C671085A 1447B52A 48CF1970 B4FB6F84 00BBF4CE
    BFBB1681 52E08AB5 EA53D15C 1AFF87B2 B9DA6E04 E058AD51 CC72BFC9 033B564E 26480D78 E955A5E2
    9E7AB245 DB2BE315 E2099AFB""",
    "a": "60975527 035CF2AD 1989806F 0407210B C81EDC04 E2762A56 AFD529DD DA2D4393",
    "b": "E487CB59 D31AC550 471E81F0 0F6928E0 1DDA08E9 74A004F4 9E61F5D1 05284D20",
    "A": """61D5E490 F6F1B795 47B0704C 436F523D D0E560F0 C64115BB 72557EC4 4352E890 3211C046
    92272D8B 2D1A5358 A2CF1B6E 0BFCF99F 921530EC 8E393561 79EAE45E 42BA92AE ACED8251 71E1E8B9
    AF6D9C03 E1327F44 BE087EF0 6530E69F 66615261 EEF54073 CA11CF58 58F0EDFD FE15EFEA B349EF5D
    76988A36 72FAC47B 0769447B""",
    "B": """BD0C6151 2C692C0C B6D041FA 01BB152D 4916A1E7 7AF46AE1 05393011 BAF38964 DC46A067
    0DD125B9 5A981652 236F99D9 B681CBF8 7837EC99 6C6DA044 53728610 D0C6DDB5 8B318885 D7D82C7F
    8DEB75CE 7BD4FBAA 37089E6F 9C6059F3 88838E7A 00030B33 1EB76840 910440B1 B27AAEAE EB4012B7
    D7665238 A8E3FB00 4B117B58""",
    "u": "CE38B959 3487DA98 554ED47D 70A7AE5F 462EF019",
    "S": """B0DC82BA BCF30674 AE450C02 87745E79 90A3381F 63B387AA F271A10D 233861E3 59B48220
    F7C4693C 9AE12B0A 6F67809F 0876E2D0 13800D6C 41BB59B6 D5979B5C 00A172B4 A2A5903A 0BDCAF8A
    709585EB 2AFAFA8F 3499B200 210DCC1F 10EB3394 3CD67FC8 8A2F39A4 BE5BEC4E C0A3212D C346D7E4
    74B29EDE 8A469FFE CA686E5A""",
}
V = {name: _hex(value) for name, value in RFC.items()}
SALT = bytes.fromhex("BEB25379D1A8581EB5A727673A2441EE")


def test_rfc5054_vectors() -> None:
    group = RFC_GROUP
    x = group.private_key(SALT, b"alice", b"password123")
    A = pow(group.g, V["a"], group.N)
    B = (group.k * group.verifier(x) + pow(group.g, V["b"], group.N)) % group.N
    assert (group.k, x, group.verifier(x), A, B) == (V["k"], V["x"], V["v"], V["A"], V["B"])
    assert group.scrambler(A, B) == V["u"]
    assert group.client_secret(V["a"], B, x) == V["S"]
    # The server's side of the same secret: (A * v^u) ^ b.
    assert pow(A * pow(V["v"], V["u"], group.N), V["b"], group.N) == V["S"]


@pytest.mark.parametrize("B", [0, RFC_GROUP.N, 3 * RFC_GROUP.N])
def test_a_zero_server_value_is_refused(B: int) -> None:
    with pytest.raises(SRPError, match="B is zero"):
        RFC_GROUP.client_secret(V["a"], B, 1)


def test_a_zero_scrambler_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SRPGroup, "scrambler", lambda self, A, B: 0)
    with pytest.raises(SRPError, match="u is zero"):
        RFC_GROUP.client_secret(V["a"], V["B"], 1)


def test_cognito_padding_is_a_sign_byte() -> None:
    assert COGNITO_GROUP.pad(0x7F) == b"\x7f"
    assert COGNITO_GROUP.pad(0x80) == b"\x00\x80"
    assert COGNITO_GROUP.pad(COGNITO_GROUP.N)[:2] == b"\x00\xff"
    assert COGNITO_GROUP.N.bit_length() == 3072


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 3, 3, 4, 5, 6, tzinfo=UTC), "Tue Mar 3 04:05:06 UTC 2026"),
        (datetime(2026, 12, 24, 23, 0, 0, tzinfo=UTC), "Thu Dec 24 23:00:00 UTC 2026"),
    ],
)
def test_timestamp(moment: datetime, text: str) -> None:
    assert cognito_timestamp(moment) == text
    assert aws_srp.AWSSRP.get_cognito_formatted_timestamp(moment) == text


POOL_ID = "eu-west-1_Pool42"
SMALL_A = int("3" * 250, 16)
CHALLENGE = {
    "USER_ID_FOR_SRP": "5f1c7a4e-1111-4000-8000-00000000a11c",
    "USERNAME": "5f1c7a4e-1111-4000-8000-00000000a11c",
    "SRP_B": format(pow(2, 12345678901234567890, COGNITO_GROUP.N), "x"),
    "SALT": "e2a5b4c1d0f98877665544332211aabb",
    "SECRET_BLOCK": base64.b64encode(b"opaque-secret-block" * 3).decode(),
}
MOMENT = datetime(2026, 12, 4, 12, 0, 1, tzinfo=UTC)


def _pycognito() -> Any:
    helper = aws_srp.AWSSRP("alice", "Pw-9d2e-Secret!", POOL_ID, "client", client=object())
    helper.small_a_value = SMALL_A
    helper.large_a_value = helper.calculate_a()
    return helper


# pycognito calls datetime.utcnow(), deprecated since Python 3.12, before the timestamp
# function replaced below; its warning is pycognito's, not ours.
@pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")
def test_cognito_values_match_pycognito(monkeypatch: pytest.MonkeyPatch) -> None:
    reference = _pycognito()
    ours = SRPSession(POOL_ID, a=SMALL_A)
    assert ours.group.k == reference.val_k
    assert ours.A == reference.large_a_value
    B = int(CHALLENGE["SRP_B"], 16)
    key = reference.get_password_authentication_key(
        CHALLENGE["USER_ID_FOR_SRP"], "Pw-9d2e-Secret!", B, CHALLENGE["SALT"]
    )
    assert ours.password_key(
        CHALLENGE["USER_ID_FOR_SRP"], "Pw-9d2e-Secret!", B, int(CHALLENGE["SALT"], 16)
    ) == bytes(key)
    # pycognito reads the clock with the deprecated utcnow(); give it the same moment.
    monkeypatch.setattr(
        aws_srp.AWSSRP, "get_cognito_formatted_timestamp", staticmethod(lambda _: "T")
    )
    expected = reference.process_challenge(CHALLENGE, {"USERNAME": "alice"})
    monkeypatch.setattr("fastapi_cognito_jwt._auth_flows.srp.cognito_timestamp", lambda _: "T")
    assert ours.answer(CHALLENGE, "Pw-9d2e-Secret!") == expected


def test_a_wrong_password_gives_another_signature() -> None:
    right = SRPSession(POOL_ID, a=SMALL_A).answer(CHALLENGE, "Pw-9d2e-Secret!", now=MOMENT)
    wrong = SRPSession(POOL_ID, a=SMALL_A).answer(CHALLENGE, "Pw-9d2e-Secret?", now=MOMENT)
    assert right["PASSWORD_CLAIM_SIGNATURE"] != wrong["PASSWORD_CLAIM_SIGNATURE"]
    assert right["TIMESTAMP"] == "Fri Dec 4 12:00:01 UTC 2026"


def test_each_session_draws_a_new_private_value() -> None:
    first, second = SRPSession(POOL_ID), SRPSession(POOL_ID)
    assert first.public_hex != second.public_hex
    assert "Pool42" in repr(first) and first.public_hex not in repr(first)


@pytest.mark.parametrize(
    "change",
    [
        {"SRP_B": "0"},
        {"SRP_B": format(COGNITO_GROUP.N, "x")},
        {"SRP_B": "0x12"},
        {"SRP_B": "zz"},
        {"SALT": " 12"},
        {"SRP_B": "f" * 4000},
        {"SECRET_BLOCK": "a"},
        {"USER_ID_FOR_SRP": ""},
        {"SALT": None},
    ],
)
def test_unusable_challenges_are_refused(change: dict[str, Any]) -> None:
    parameters = {key: value for key, value in {**CHALLENGE, **change}.items() if value is not None}
    with pytest.raises(SRPError):
        SRPSession(POOL_ID).answer(parameters, "Pw-9d2e-Secret!")
