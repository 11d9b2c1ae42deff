"""Abuse resistance for `auth_router`: the caller's IP behind trusted proxies, and rate limits.

The limits are the `limits` library's (optional, the rate-limit extra): a moving window per
caller IP and per username, in the storage the settings name (`memory://` for one process,
`redis://...` for many replicas sharing the counts).
"""

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException, Request

from .._exceptions import ConfigurationError
from .._settings import CognitoSettings

__all__ = ["THROTTLED", "RateLimits", "caller_ip"]

logger = logging.getLogger("fastapi_cognito_jwt")

THROTTLED = "Too many requests; try again later"
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def caller_ip(request: Request, trusted: Sequence[_Network]) -> str | None:
    """The end user's IP: the peer's, or `X-Forwarded-For`'s when the peer is a trusted proxy.

    The header is read right to left, skipping trusted proxies: the first other address is
    the one the last trusted proxy saw connect. Anything left of it could be forged by the
    caller, and a header from an untrusted peer is ignored entirely.
    """
    peer = _address(request.client.host) if request.client else None
    if peer is None:
        return None

    def is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in trusted)

    if not is_trusted(peer):
        return str(peer)
    hops = [hop for value in request.headers.getlist("x-forwarded-for") for hop in value.split(",")]
    client = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # garbage: trust nothing further left
        client = address
        if not is_trusted(address):
            break
    return str(client)


def trusted_networks(settings: CognitoSettings) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in settings.trusted_proxies)


class RateLimits:
    """Per-IP and per-username moving-window limits for groups of routes, via `limits`."""

    def __init__(self, settings: CognitoSettings) -> None:
        uri = settings.rate_limit_storage
        if uri is None:
            raise ConfigurationError("rate limits need rate_limit_storage")
        try:
            from limits import parse_many
            from limits.aio.strategies import MovingWindowRateLimiter
            from limits.storage import storage_from_string
        except ImportError:  # pragma: no cover - depends on the environment
            raise ConfigurationError(
                "rate limits need the rate-limit extra: "
                "pip install 'fastapi-cognito-jwt[rate-limit]'"
            ) from None
        try:
            # The router is async: limits' async storages are named "async+<scheme>://".
            storage = storage_from_string(uri if uri.startswith("async+") else f"async+{uri}")
            self._per_ip = parse_many(settings.rate_limit_per_ip)
            self._per_username = parse_many(settings.rate_limit_per_username)
        except Exception:  # limits raises ConfigurationError, ValueError, ImportError...
            raise ConfigurationError(
                "rate_limit_storage or a rate is not valid for limits"
            ) from None
        self._limiter = MovingWindowRateLimiter(storage)

    async def check(self, group: str, ip: str | None, username: str | None) -> None:
        """Count one request; raise a 429 with `Retry-After` when a limit is exceeded.

        Usernames are keyed by a hash, so the storage holds no usernames. If the storage
        fails, the request goes on (logged): Cognito's own limits still apply.
        """
        keys: list[tuple[Any, str, str]] = []
        if ip is not None:
            keys += [(limit, "ip", ip) for limit in self._per_ip]
        if username is not None:
            digest = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
            keys += [(limit, "user", digest) for limit in self._per_username]
        try:
            for limit, kind, key in keys:
                if not await self._limiter.hit(limit, "fastapi-cognito-jwt", group, kind, key):
                    stats = await self._limiter.get_window_stats(
                        limit, "fastapi-cognito-jwt", group, kind, key
                    )
                    retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                    logger.info("Rate limit reached on %s per %s", group, kind)
                    raise HTTPException(429, THROTTLED, headers={"Retry-After": str(retry_after)})
        except HTTPException:
            raise
        except Exception as exc:  # the storage is down: do not turn it into a 500
            logger.warning("Rate-limit storage failed: %s", type(exc).__name__)
