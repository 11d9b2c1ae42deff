"""Strict, canonical base64url (RFC 4648 §5, unpadded): one spelling per byte string."""

from __future__ import annotations

import binascii

__all__ = ["B64URL_ALPHABET", "canonical_end", "decode", "decode_checked"]

B64URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Last characters that leave unused bits set, by segment length modulo 4 (RFC 4648 §3.5).
_NONCANONICAL_LAST = {
    0: frozenset(),
    1: frozenset(),
    2: frozenset(chr(c) for i, c in enumerate(B64URL_ALPHABET) if i & 0b1111),
    3: frozenset(chr(c) for i, c in enumerate(B64URL_ALPHABET) if i & 0b11),
}
# base64url to base64; '+', '/' and '=' are not base64url, so they become a byte the strict
# decoder refuses.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"", b"==", b"=")


def canonical_end(length: int, last: str) -> bool:
    """Whether a segment of `length` characters ending in `last` can be canonical.

    Without this check a signature could be re-spelt 15 ways (unused low bits in the last
    character) and slip past caches and revocation lists.
    """
    return length % 4 != 1 and length != 0 and last not in _NONCANONICAL_LAST[length % 4]


def decode_checked(segment: bytes) -> bytes:
    """Decode a segment whose length and last character passed `canonical_end`.

    Raises `ValueError` (binascii.Error) for any byte outside the base64url alphabet.
    """
    return binascii.a2b_base64(
        segment.translate(_TO_STANDARD) + _PADDING[len(segment) % 4], strict_mode=True
    )


def decode(segment: str) -> bytes:
    """Decode one canonical, unpadded base64url segment; `ValueError` for anything else."""
    if not isinstance(segment, str) or not canonical_end(len(segment), segment[-1:]):
        raise ValueError("base64url segment is empty, of impossible length or not canonical")
    try:
        return decode_checked(segment.encode("ascii"))
    except UnicodeEncodeError:
        raise ValueError("not a base64url segment") from None
