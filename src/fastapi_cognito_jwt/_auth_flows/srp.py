"""SRP-6a for Cognito's `USER_SRP_AUTH` sign-in: the password never leaves this process.

Written with the standard library only (`hashlib`, `hmac`, `secrets`, `pow`): no maintained
package fits. The generic SRP packages (`srp`, `srptools`) hash numbers as RFC 5054 does and
have no Cognito key derivation or proof; the Cognito ones are unmaintained (`warrant`,
`warrant-lite`) or synchronous and tied to boto3 (pycognito's `AWSSRP`, used only to
cross-check this module in the tests).

Cognito's variant of SRP-6a: the 3072-bit group of RFC 3526/5054 with g = 2 and SHA-256;
numbers are hashed as their shortest big-endian bytes with a leading zero byte when the
top bit is set (a positive two's-complement number), not padded to the length of N as
RFC 5054 does; k = H(N | g), u = H(A | B), x = H(salt | H(pool | user | ":" | password));
the session key is HKDF-SHA256(S, salt=u, info="Caldera Derived Key")[:16], and the proof
is HMAC-SHA256(key, pool | user | secret block | timestamp). `SRPGroup` keeps the hash, the
group and the padding apart so the generic parts are checked against RFC 5054's vectors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

__all__ = ["COGNITO_GROUP", "SRPError", "SRPGroup", "SRPSession", "cognito_timestamp"]

# RFC 3526 section 4 / RFC 5054 appendix A: the 3072-bit MODP group, generator 2.
_N_3072 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836"
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804"
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6"
    "955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64"
    "ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D226"
    "1AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
    16,
)
_INFO = b"Caldera Derived Key"
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class SRPError(ValueError):
    """The server's SRP values are unusable (zero B or u, or not hexadecimal)."""


@dataclass(frozen=True)
class SRPGroup:
    """An SRP-6a group: N, g, the hash, and how numbers become bytes before hashing.

    `padding="sign"` is Cognito's (shortest bytes, a zero byte before a set top bit);
    `padding="modulus"` is RFC 5054's (every number padded to the length of N).
    """

    N: int
    g: int
    hash_name: str = "sha256"
    padding: Literal["sign", "modulus"] = "sign"
    k: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", self.hash_int(self.pad(self.N), self.pad(self.g)))

    def pad(self, value: int) -> bytes:
        """`value` as the bytes that are hashed."""
        if self.padding == "modulus":
            return value.to_bytes((self.N.bit_length() + 7) // 8, "big")
        # One extra bit for the sign: a set top bit gets a leading zero byte.
        return value.to_bytes(value.bit_length() // 8 + 1, "big")

    def hash(self, *parts: bytes) -> bytes:
        return hashlib.new(self.hash_name, b"".join(parts)).digest()

    def hash_int(self, *parts: bytes) -> int:
        return int.from_bytes(self.hash(*parts), "big")

    def private_key(self, salt: bytes, identity: bytes, password: bytes) -> int:
        """x = H(salt | H(identity | ":" | password))."""
        return self.hash_int(salt, self.hash(identity, b":", password))

    def verifier(self, x: int) -> int:
        """v = g^x mod N: what the server stores instead of the password."""
        return pow(self.g, x, self.N)

    def scrambler(self, A: int, B: int) -> int:
        """u = H(A | B)."""
        return self.hash_int(self.pad(A), self.pad(B))

    def client_secret(self, a: int, B: int, x: int) -> int:
        """S = (B - k * g^x) ^ (a + u * x) mod N, refusing a zero B or u."""
        if B % self.N == 0:
            raise SRPError("the server's SRP value B is zero modulo N")
        u = self.scrambler(pow(self.g, a, self.N), B)
        if u == 0:
            raise SRPError("the SRP scrambling value u is zero")
        base = (B - self.k * pow(self.g, x, self.N)) % self.N
        return pow(base, a + u * x, self.N)


COGNITO_GROUP = SRPGroup(_N_3072, 2)


def cognito_timestamp(now: datetime | None = None) -> str:
    """Cognito's TIMESTAMP, e.g. `Tue Mar 3 04:05:06 UTC 2026`: English names, unpadded day.

    Built by hand: `strftime`'s `%a`/`%b` follow the locale and `%-d` is not portable.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return (
        f"{_DAYS[now.weekday()]} {_MONTHS[now.month - 1]} {now.day} {now:%H:%M:%S} UTC {now.year}"
    )


def _hkdf(ikm: bytes, salt: bytes, length: int = 16) -> bytes:
    # RFC 5869 with one block of output: 16 bytes need only T(1).
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, _INFO + b"\x01", hashlib.sha256).digest()[:length]


def _hex_int(value: str, name: str) -> int:
    # int() would also take "0x", "_" and spaces; Cognito sends bare hex digits.
    if len(value) > 2048 or not all(c in "0123456789abcdefABCDEF" for c in value):
        raise SRPError(f"the challenge's {name} is not hexadecimal")
    try:
        return int(value, 16)
    except ValueError:
        raise SRPError(f"the challenge's {name} is not hexadecimal") from None


class SRPSession:
    """One client side of Cognito's `USER_SRP_AUTH`: `SRP_A`, then the `PASSWORD_VERIFIER` answer.

    ```python
    srp = SRPSession("eu-west-1_AbC123")
    reply = initiate_auth(AuthFlow="USER_SRP_AUTH", USERNAME=name, SRP_A=srp.public_hex)
    answers = srp.answer(reply["ChallengeParameters"], password)
    ```

    The private value `a` is drawn with `secrets` unless given (tests).
    """

    def __init__(
        self, user_pool_id: str, *, group: SRPGroup = COGNITO_GROUP, a: int | None = None
    ) -> None:
        # The pool's name is the part of its id after the region: "eu-west-1_AbC123" -> "AbC123".
        self.pool_name = user_pool_id.partition("_")[2]
        self.group = group
        while True:
            self._a = a if a is not None else secrets.randbits(1024) % group.N
            self.A = pow(group.g, self._a, group.N)
            if self.A != 0:
                break
            if a is not None:
                raise SRPError("the private value gives A = 0")

    def __repr__(self) -> str:
        return f"SRPSession(pool_name={self.pool_name!r})"

    @property
    def public_hex(self) -> str:
        """`SRP_A` for `InitiateAuth`."""
        return format(self.A, "x")

    def password_key(self, user_id: str, password: str, B: int, salt: int) -> bytes:
        """The 16-byte key both sides derive; only a client with the password gets it."""
        group = self.group
        identity = (self.pool_name + user_id).encode()
        x = group.private_key(group.pad(salt), identity, password.encode())
        S = group.client_secret(self._a, B, x)
        return _hkdf(group.pad(S), group.pad(group.scrambler(self.A, B)))

    def answer(
        self, parameters: Mapping[str, str], password: str, *, now: datetime | None = None
    ) -> dict[str, str]:
        """The `PASSWORD_VERIFIER` challenge responses (without `SECRET_HASH`)."""
        names = ("USER_ID_FOR_SRP", "SRP_B", "SALT", "SECRET_BLOCK")
        if not all(isinstance(parameters.get(name), str) and parameters[name] for name in names):
            raise SRPError("the PASSWORD_VERIFIER challenge lacks a parameter")
        user_id = parameters["USER_ID_FOR_SRP"]
        B = _hex_int(parameters["SRP_B"], "SRP_B")
        salt = _hex_int(parameters["SALT"], "SALT")
        try:
            # Not validate=True: moto's stub sends a UUID here, which real Cognito never does.
            secret_block = base64.b64decode(parameters["SECRET_BLOCK"])
        except binascii.Error:
            raise SRPError("the challenge's SECRET_BLOCK is not base64") from None
        key = self.password_key(user_id, password, B, salt)
        timestamp = cognito_timestamp(now)
        message = self.pool_name.encode() + user_id.encode() + secret_block + timestamp.encode()
        signature = hmac.new(key, message, hashlib.sha256).digest()
        return {
            # Cognito's USERNAME (the real one behind an alias) when it names one.
            "USERNAME": parameters.get("USERNAME") or user_id,
            "PASSWORD_CLAIM_SECRET_BLOCK": parameters["SECRET_BLOCK"],
            "PASSWORD_CLAIM_SIGNATURE": base64.b64encode(signature).decode("ascii"),
            "TIMESTAMP": timestamp,
        }
