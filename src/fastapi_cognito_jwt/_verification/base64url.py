"""Strict, canonical base64url (RFC 4648 §5, unpadded): one spelling per byte string.

The checks are ours and the same whoever decodes: pybase64's C decoder (libbase64) when it is
installed with its C extension (the `speedups` extra), else the standard library's `binascii`.
A new token has about 1 000 characters to decode (its payload and signature), which binascii
does at about 2 ns a character: with pybase64 a verification takes about 1.6 us less here
(`make bench-verify`).
"""

from __future__ import annotations

import binascii
from collections.abc import Callable

__all__ = ["B64URL_ALPHABET", "DECODER", "decode", "decode_bytes"]

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


def _fast_decoder() -> Callable[[bytes, None, bool], bytes] | None:
    """pybase64's decoder, if it is installed with its C extension; else None (binascii)."""
    try:
        import pybase64
    except ImportError:
        return None
    # Built without its C extension (no wheel for the platform, no compiler), pybase64 runs
    # Python code that is slower than binascii.
    if "C extension active" not in pybase64.get_version():
        return None
    return pybase64.b64decode


_fast_b64decode = _fast_decoder()
DECODER = "binascii" if _fast_b64decode is None else "pybase64"
"""The decoder `decode_bytes` calls: `"pybase64"` (the `speedups` extra) or `"binascii"`."""


def decode_bytes(segment: bytes) -> bytes:
    """Decode one canonical, unpadded base64url segment given as bytes; `ValueError` otherwise.

    Refused: an empty segment, an impossible length, a byte outside the base64url alphabet,
    and a last character that leaves unused bits set. Without that last check a signature
    could be re-spelt 15 ways and slip past caches and revocation lists.
    """
    length = len(segment)
    if length % 4 == 1 or not length or segment[-1] in _NONCANONICAL_LAST[length % 4]:
        raise ValueError("base64url segment is empty, of impossible length or not canonical")
    # Standard base64 with its padding, or a byte ('!') that both decoders refuse: each only
    # has to refuse what is not standard base64 and decode what is. The translation of '='
    # matters: the two decoders disagree on padding at the wrong place (binascii's strict mode
    # takes b"AAAA====", pybase64 refuses it), and after it no '=' is left but ours.
    standard = segment.translate(_TO_STANDARD) + _PADDING[length % 4]
    if _fast_b64decode is not None:
        # altchars None, validate True; positional, as keywords cost it 0.15 us a call.
        return _fast_b64decode(standard, None, True)
    return binascii.a2b_base64(standard, strict_mode=True)


def decode(segment: str) -> bytes:
    """Decode one canonical, unpadded base64url segment; `ValueError` for anything else."""
    if not isinstance(segment, str):
        raise ValueError("base64url segment is not a string")
    try:
        return decode_bytes(segment.encode("ascii"))
    except UnicodeEncodeError:
        raise ValueError("not a base64url segment") from None
