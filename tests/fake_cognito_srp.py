"""A stateful fake of Cognito's sign-in: real SRP verification, MFA and passwordless codes.

moto's `USER_SRP_AUTH` is a stub that accepts any proof, and no local emulator has
`USER_AUTH`, email OTP or `SELECT_MFA_TYPE`; this fake plays them behind an
`httpx2.MockTransport`, following Cognito's API reference for `InitiateAuth`,
`RespondToAuthChallenge`, `AssociateSoftwareToken`, `VerifySoftwareToken` and
`SetUserMFAPreference`:

- the server side of SRP-6a, computed with pycognito's helpers rather than the library's
  `srp` module: it keeps only a salt and the verifier v = g^x, answers
  `PASSWORD_VERIFIER` with B = k*v + g^b, and checks the client's HMAC signature with the key
  from S = (A * v^u)^b; an unknown user gets the same challenge (a random verifier) and the
  same `NotAuthorizedException` as a wrong password (Cognito's PreventUserExistenceErrors);
- challenge sessions are single-use; a wrong code is `CodeMismatchException`, an expired one
  `ExpiredCodeException`, a wrong TOTP code at set-up `EnableSoftwareTokenMFAException`;
- after the password: `MFA_SETUP` when the pool requires MFA and the user has none,
  `SELECT_MFA_TYPE` (with `MFAS_CAN_CHOOSE`) when several are on and none is preferred,
  else the preferred one's challenge;
- access tokens are read, unverified, for their `username` claim (the router verifies them).

It shares the wire format (and `reply`) with tests/fake_cognito.py. `requests` keeps every raw
body so tests can show what never left the client.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2
from pycognito.aws_srp import (
    G_HEX,
    N_HEX,
    calculate_u,
    compute_hkdf,
    hash_sha256,
    hex_hash,
    long_to_hex,
    pad_hex,
)

from tests.fake_cognito import reply
from tests.helpers import b64d

TARGET = "AWSCognitoIdentityProviderService."
# The server's arithmetic comes from pycognito's helpers, not from the library under test, so
# a mistake in the library's SRP cannot be mirrored here.
N, G = int(N_HEX, 16), int(G_HEX, 16)
K = int(hex_hash("00" + N_HEX + "0" + G_HEX), 16)
INCORRECT = "Incorrect username or password."
TIMESTAMP = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"[1-9][0-9]? [0-2][0-9]:[0-5][0-9]:[0-5][0-9] UTC [0-9]{4}"
)
MFA_CHALLENGES = {"sms": "SMS_MFA", "totp": "SOFTWARE_TOKEN_MFA", "email": "EMAIL_OTP"}
CODE_KEYS = {"SMS_MFA": "SMS_MFA_CODE", "SOFTWARE_TOKEN_MFA": "SOFTWARE_TOKEN_MFA_CODE",
             "EMAIL_OTP": "EMAIL_OTP_CODE", "SMS_OTP": "SMS_OTP_CODE"}  # fmt: skip
SETTINGS_KEYS = {"SMSMfaSettings": "sms", "SoftwareTokenMfaSettings": "totp",
                 "EmailMfaSettings": "email"}  # fmt: skip


def totp(secret: str, at: float | None = None, step: int = 0) -> str:
    """RFC 6238's 6-digit code (HMAC-SHA1, 30-second steps) for a base32 secret."""
    counter = int((time.time() if at is None else at) // 30) + step
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


class Refusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code, self.message = code, message


@dataclass
class User:
    username: str
    salt: str  # hex, as Cognito sends it
    verifier: int
    password_hash: bytes  # for PASSWORD answers: the fake never keeps the password itself
    email: str | None = None
    phone: str | None = None
    mfa: dict[str, bool] = field(default_factory=dict)  # method -> enabled
    preferred: str | None = None
    totp_secret: str | None = None  # verified
    pending_secret: str | None = None  # associated, not yet verified


@dataclass
class Pending:
    """What a session stands for: the step it awaits."""

    username: str
    step: str
    srp: tuple[int, int, int, str] | None = None  # A, b, B, secret block
    code: str | None = None
    issued: float = 0.0
    available: tuple[str, ...] = ()


class FakeCognitoSRP:
    """Users, sessions and codes of one user pool with one app client."""

    def __init__(
        self, user_pool_id: str, client_id: str, *, secret: str | None = None, mfa: str = "OFF"
    ) -> None:
        self.pool_name = user_pool_id.partition("_")[2]
        self.client_id = client_id
        self.secret = secret
        self.mfa_configuration = mfa  # OFF, OPTIONAL or ON
        self.users: dict[str, User] = {}
        self.aliases: dict[str, str] = {}  # email -> username, for a pool that signs in by email
        self.sessions: dict[str, Pending] = {}
        self.setup_sessions: dict[str, str] = {}  # session -> username (MFA_SETUP)
        self.sent: list[tuple[str, str, str]] = []  # (medium, username, code) messages "sent"
        self.requests: list[bytes] = []
        self.operations: list[str] = []
        self.code_lifetime = 180.0
        self.issued = 0

    # Test set-up

    def add_user(self, username: str, password: str, **fields: Any) -> User:
        salt = format(int.from_bytes(secrets.token_bytes(16), "big"), "x")
        secret = hash_sha256(f"{self.pool_name}{username}:{password}".encode())
        x = int(hex_hash(pad_hex(salt) + secret), 16)
        digest = hashlib.sha256(password.encode()).digest()
        user = User(username, salt, pow(G, x, N), digest, **fields)
        self.users[username] = user
        return user

    def last_code(self, username: str) -> str:
        return next(code for _, name, code in reversed(self.sent) if name == username)

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self.handle)

    # The API

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request.content)
        operation = request.headers["X-Amz-Target"].removeprefix(TARGET)
        self.operations.append(operation)
        try:
            body = json.loads(request.content)
            answer = getattr(self, f"_{operation}")(body)
        except Refusal as refusal:
            refused: httpx2.Response = reply(
                400, {"__type": refusal.code, "message": refusal.message}
            )
            return refused
        answered: httpx2.Response = reply(200, answer)
        return answered

    def _InitiateAuth(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_client(body)
        parameters = body.get("AuthParameters", {})
        username = parameters.get("USERNAME", "")
        self._check_hash(parameters, username)
        flow = body.get("AuthFlow")
        if flow == "USER_SRP_AUTH":
            return self._srp_challenge(username, parameters.get("SRP_A", ""))
        if flow != "USER_AUTH":
            raise Refusal("InvalidParameterException", f"{flow} flow not enabled for this client")
        preferred = parameters.get("PREFERRED_CHALLENGE")
        available = self._factors(username)
        if preferred in available:
            return self._select(username, preferred, parameters)
        return self._challenge(Pending(username, "SELECT_CHALLENGE", available=available), {})

    def _RespondToAuthChallenge(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_client(body)
        answers = body.get("ChallengeResponses", {})
        pending = self.sessions.pop(body.get("Session", ""), None)
        name = body.get("ChallengeName")
        if name == "MFA_SETUP":
            username = self.setup_sessions.pop(body.get("Session", ""), None)
            if username is None or answers.get("USERNAME") != username:
                raise Refusal("NotAuthorizedException", "Invalid session for the user.")
            self._check_hash(answers, username)
            return self._tokens(username)
        if pending is None or pending.step != name or answers.get("USERNAME") != pending.username:
            raise Refusal("NotAuthorizedException", "Invalid session for the user.")
        self._check_hash(answers, pending.username)
        user = self.users.get(pending.username)
        if name == "PASSWORD_VERIFIER":
            if user is None or not self._proof_holds(pending, answers, user):
                raise Refusal("NotAuthorizedException", INCORRECT)
            return self._after_password(user)
        if name == "SELECT_CHALLENGE":
            if answers.get("ANSWER") not in pending.available:
                raise Refusal("InvalidParameterException", "Invalid challenge answer.")
            return self._select(pending.username, answers["ANSWER"], answers)
        if name == "SELECT_MFA_TYPE":
            chosen = answers.get("ANSWER")
            if user is None or chosen not in pending.available:
                raise Refusal("InvalidParameterException", "Invalid MFA type.")
            return self._mfa_challenge(user, chosen)
        if name in CODE_KEYS:
            self._check_code(pending, name, answers.get(CODE_KEYS[name], ""))
            return self._tokens(pending.username)
        raise Refusal("InvalidParameterException", "Unknown challenge.")

    def _AssociateSoftwareToken(self, body: dict[str, Any]) -> dict[str, Any]:
        secret = base64.b32encode(secrets.token_bytes(20)).decode()
        if "Session" in body:
            username = self.setup_sessions.pop(body["Session"], None)
            if username is None:
                raise Refusal("NotAuthorizedException", "Invalid session.")
            self.users[username].pending_secret = secret
            session = self._new_session()
            self.setup_sessions[session] = username
            return {"SecretCode": secret, "Session": session}
        self._user_of(body).pending_secret = secret
        return {"SecretCode": secret}

    def _VerifySoftwareToken(self, body: dict[str, Any]) -> dict[str, Any]:
        session = None
        if "Session" in body:
            username = self.setup_sessions.pop(body["Session"], None)
            if username is None:
                raise Refusal("NotAuthorizedException", "Invalid session.")
            user = self.users[username]
        else:
            user = self._user_of(body)
        code = body.get("UserCode", "")
        if user.pending_secret is None or not _totp_matches(user.pending_secret, code):
            raise Refusal("EnableSoftwareTokenMFAException", f"Code mismatch: {code}")
        user.totp_secret, user.pending_secret = user.pending_secret, None
        user.mfa["totp"] = True
        if "Session" in body:
            session = self._new_session()
            self.setup_sessions[session] = user.username
            return {"Status": "SUCCESS", "Session": session}
        return {"Status": "SUCCESS"}

    def _SetUserMFAPreference(self, body: dict[str, Any]) -> dict[str, Any]:
        user = self._user_of(body)
        for key, method in SETTINGS_KEYS.items():
            setting = body.get(key)
            if setting is None:
                continue
            enabled = bool(setting.get("Enabled"))
            if enabled and method == "totp" and user.totp_secret is None:
                raise Refusal("InvalidParameterException", "User has not verified software token")
            if enabled and method == "sms" and user.phone is None:
                raise Refusal("InvalidParameterException", "User has no phone number")
            if enabled and method == "email" and user.email is None:
                raise Refusal("InvalidParameterException", "User has no email address")
            user.mfa[method] = enabled
            if setting.get("PreferredMfa"):
                user.preferred = method
            elif user.preferred == method:
                user.preferred = None
        return {}

    # Steps

    def _srp_challenge(self, username: str, srp_a: str) -> dict[str, Any]:
        A = int(srp_a, 16) if srp_a else 0
        if A % N == 0:
            raise Refusal("NotAuthorizedException", INCORRECT)
        # Signed in by an alias: the challenge names the real user in USER_ID_FOR_SRP, and the
        # proof (and the answer's USERNAME and SECRET_HASH) are for that user.
        username = self.aliases.get(username, username)
        user = self.users.get(username)
        # An unknown user gets a challenge that no proof can meet: it looks the same.
        salt = user.salt if user else secrets.token_hex(16)
        v = user.verifier if user else pow(G, secrets.randbits(256), N)
        b = secrets.randbits(1024) % N
        B = (K * v + pow(G, b, N)) % N
        block = base64.b64encode(secrets.token_bytes(64)).decode()
        pending = Pending(username, "PASSWORD_VERIFIER", srp=(A, b, B, block))
        parameters = {"SALT": salt, "SRP_B": format(B, "x"), "SECRET_BLOCK": block,
                      "USERNAME": username, "USER_ID_FOR_SRP": username}  # fmt: skip
        return self._challenge(pending, parameters)

    def _proof_holds(self, pending: Pending, answers: dict[str, str], user: User) -> bool:
        assert pending.srp is not None
        A, b, B, block = pending.srp
        if answers.get("PASSWORD_CLAIM_SECRET_BLOCK") != block:
            return False
        u = calculate_u(A, B)
        S = pow(A * pow(user.verifier, u, N), b, N)
        key = compute_hkdf(
            bytearray.fromhex(pad_hex(S)), bytearray.fromhex(pad_hex(long_to_hex(u)))
        )
        message = (self.pool_name + user.username).encode() + base64.b64decode(block)
        timestamp = answers.get("TIMESTAMP", "")
        if not TIMESTAMP.fullmatch(timestamp):
            return False
        message += timestamp.encode()
        expected = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
        return hmac.compare_digest(expected, answers.get("PASSWORD_CLAIM_SIGNATURE", ""))

    def _factors(self, username: str) -> tuple[str, ...]:
        user = self.users.get(username)
        factors = ["PASSWORD", "PASSWORD_SRP"]
        if user is None or user.email:
            factors.append("EMAIL_OTP")
        if user is not None and user.phone:
            factors.append("SMS_OTP")
        return tuple(factors)

    def _select(self, username: str, factor: str, answers: dict[str, str]) -> dict[str, Any]:
        if factor == "PASSWORD_SRP":
            return self._srp_challenge(username, answers.get("SRP_A", ""))
        if factor == "PASSWORD":
            user = self.users.get(username)
            digest = hashlib.sha256(answers.get("PASSWORD", "").encode()).digest()
            if user is None or not hmac.compare_digest(digest, user.password_hash):
                raise Refusal("NotAuthorizedException", INCORRECT)
            return self._after_password(user)
        return self._code_challenge(username, factor)

    def _after_password(self, user: User) -> dict[str, Any]:
        enabled = [method for method, on in user.mfa.items() if on]
        if not enabled and self.mfa_configuration == "ON":
            session = self._new_session()
            self.setup_sessions[session] = user.username
            parameters = {"MFAS_CAN_SETUP": '["SOFTWARE_TOKEN_MFA"]'}
            return {"ChallengeName": "MFA_SETUP", "Session": session,
                    "ChallengeParameters": parameters}  # fmt: skip
        if not enabled:
            return self._tokens(user.username)
        if user.preferred in enabled:
            return self._mfa_challenge(user, MFA_CHALLENGES[user.preferred])
        if len(enabled) == 1:
            return self._mfa_challenge(user, MFA_CHALLENGES[enabled[0]])
        choices = tuple(MFA_CHALLENGES[method] for method in enabled)
        pending = Pending(user.username, "SELECT_MFA_TYPE", available=choices)
        return self._challenge(pending, {"MFAS_CAN_CHOOSE": json.dumps(list(choices))})

    def _mfa_challenge(self, user: User, name: str) -> dict[str, Any]:
        if name == "SOFTWARE_TOKEN_MFA":
            return self._challenge(Pending(user.username, name), {})
        return self._code_challenge(user.username, name)

    def _code_challenge(self, username: str, name: str) -> dict[str, Any]:
        code = f"{secrets.randbelow(1_000_000):06d}"
        medium = "EMAIL" if name == "EMAIL_OTP" else "SMS"
        self.sent.append((medium, username, code))
        pending = Pending(username, name, code=code, issued=time.monotonic())
        parameters = {"CODE_DELIVERY_DELIVERY_MEDIUM": medium,
                      "CODE_DELIVERY_DESTINATION": "a***@e***"}  # fmt: skip
        return self._challenge(pending, parameters)

    def _check_code(self, pending: Pending, name: str, code: str) -> None:
        if name == "SOFTWARE_TOKEN_MFA":
            secret = self.users[pending.username].totp_secret
            if secret is None or not _totp_matches(secret, code):
                raise Refusal("CodeMismatchException", f"Invalid code received for user: {code}")
            return
        if time.monotonic() - pending.issued > self.code_lifetime:
            raise Refusal("ExpiredCodeException", "Invalid code provided, please request again.")
        if not hmac.compare_digest(pending.code or "", code):
            raise Refusal("CodeMismatchException", f"Invalid code received for user: {code}")

    def _challenge(self, pending: Pending, parameters: dict[str, str]) -> dict[str, Any]:
        session = self._new_session()
        self.sessions[session] = pending
        answer: dict[str, Any] = {"ChallengeName": pending.step, "Session": session,
                                  "ChallengeParameters": parameters}  # fmt: skip
        if pending.available and pending.step == "SELECT_CHALLENGE":
            answer["AvailableChallenges"] = list(pending.available)
        return answer

    def _tokens(self, username: str) -> dict[str, Any]:
        self.issued += 1
        result = {"AccessToken": f"access-{username}-{self.issued}", "ExpiresIn": 3600,
                  "IdToken": f"id-{self.issued}", "RefreshToken": f"refresh-{self.issued}",
                  "TokenType": "Bearer"}  # fmt: skip
        return {"AuthenticationResult": result, "ChallengeParameters": {}}

    # Checks

    def _new_session(self) -> str:
        return secrets.token_urlsafe(48)

    def _check_client(self, body: dict[str, Any]) -> None:
        if body.get("ClientId") != self.client_id:
            raise Refusal("ResourceNotFoundException", "User pool client does not exist.")

    def _check_hash(self, parameters: dict[str, str], username: str) -> None:
        if self.secret is None:
            return
        digest = hmac.new(self.secret.encode(), (username + self.client_id).encode(),
                          hashlib.sha256).digest()  # fmt: skip
        if parameters.get("SECRET_HASH") != base64.b64encode(digest).decode():
            raise Refusal("NotAuthorizedException", "Client secret hash does not match.")

    def _user_of(self, body: dict[str, Any]) -> User:
        token = body.get("AccessToken", "")
        try:
            claims = json.loads(b64d(token.split(".")[1]))
            return self.users[claims["username"]]
        except (IndexError, ValueError, KeyError, TypeError):
            raise Refusal("NotAuthorizedException", "Invalid Access Token") from None


def _totp_matches(secret: str, code: str) -> bool:
    # One step either side, as Cognito allows for clock drift.
    return any(hmac.compare_digest(totp(secret, step=step), code) for step in (-1, 0, 1))
