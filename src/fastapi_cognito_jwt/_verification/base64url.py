"""Strict, canonical base64url (RFC 4648 §5, unpadded): one spelling per byte string."""

from __future__ import annotations

import binascii

__all__ = ["B64URL_ALPHABET", "decode", "decode_bytes"]

B64URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Last characters (as byte values) that leave unused bits set, by segment length modulo 4
# (RFC 4648 §3.5).
_NONCANONICAL_LAST = {
    0: frozenset(),
    1: frozenset(),
    2: frozenset(c for i, c in enumerate(B64URL_ALPHABET) if i & 0b1111),
    3: frozenset(c for i, c in enumerate(B64URL_ALPHABET) if i & 0b11),
}
# base64url to base64; '+', '/' and '=' are not base64url, so they become a byte the strict
# decoder refuses.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"", b"==", b"=")


def decode_bytes(segment: bytes) -> bytes:
    """Decode one canonical, unpadded base64url segment given as bytes; `ValueError` otherwise.

    Refused: an empty segment, an impossible length, a byte outside the base64url alphabet,
    and a last character that leaves unused bits set. Without that last check a signature
    could be re-spelt 15 ways and slip past caches and revocation lists.
    """
    length = len(segment)
    if length % 4 == 1 or not length or segment[-1] in _NONCANONICAL_LAST[length % 4]:
        raise ValueError("base64url segment is empty, of impossible length or not canonical")
    return binascii.a2b_base64(
        segment.translate(_TO_STANDARD) + _PADDING[length % 4], strict_mode=True
    )


def decode(segment: str) -> bytes:
    """Decode one canonical, unpadded base64url segment; `ValueError` for anything else."""
    if not isinstance(segment, str):
        raise ValueError("base64url segment is not a string")
    try:
        return decode_bytes(segment.encode("ascii"))
    except UnicodeEncodeError:
        raise ValueError("not a base64url segment") from None
