"""Request guards: same-origin check for cookie-authenticated writes, and a per-client rate limit for sign-in.

The rate limit is a small in-process token bucket per client address: enough for one hub process; hub
replicas each keep their own (put a limit in the reverse proxy in front of several replicas).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.web.auth import SESSION_COOKIE

__all__ = ["SAFE_METHODS", "OriginCheck", "RateLimiter", "same_origin"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def same_origin(headers: Headers, scheme: str) -> bool | None:
    """Whether a browser request comes from this site: True, False, or None when it says nothing.

    ``Sec-Fetch-Site`` (sent by every current browser) is trusted first; otherwise ``Origin`` must be
    this host (same scheme, host and port as the ``Host`` header).
    """
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None:
        return None
    if origin == "null":
        return False
    parts = urlsplit(origin)
    host = headers.get("host", "")
    return parts.scheme == scheme and parts.netloc.lower() == host.lower()


class OriginCheck:
    """Pure ASGI middleware: an unsafe method with the session cookie (and no bearer token) must be same-origin.

    A request that says it comes from another site is refused whether or not it carries the cookie (so a
    cross-site form cannot sign a browser in as someone else either). API clients sending
    ``Authorization: Bearer`` are exempt: a browser never adds that header to a cross-site request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if headers.get("authorization", "").lower().startswith("bearer "):
            await self.app(scope, receive, send)
            return
        verdict = same_origin(headers, str(scope.get("scheme", "http")))
        has_session = f"{SESSION_COOKIE}=" in headers.get("cookie", "")
        if verdict is False or (verdict is None and has_session):
            response = JSONResponse(
                {"detail": "cross-site request refused: send it from the console, or use a bearer token"},
                status_code=403,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


@dataclass(slots=True)
class RateLimiter:
    """A token bucket per client: ``burst`` requests at once, refilled at ``per_minute``; thread-safe."""

    burst: int = 10
    per_minute: float = 10.0
    max_clients: int = 10_000
    """Forget the stalest buckets past this many clients (memory stays bounded under a spray of addresses)."""
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, client: str, *, now: float | None = None) -> float:
        """Take one token for ``client``; 0.0 when allowed, else the seconds to wait before the next try."""
        at = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                if len(self._buckets) >= self.max_clients:
                    stalest = min(self._buckets, key=lambda key: self._buckets[key].updated)
                    del self._buckets[stalest]
                bucket = self._buckets[client] = _Bucket(float(self.burst), at)
            bucket.tokens = min(float(self.burst), bucket.tokens + (at - bucket.updated) * rate)
            bucket.updated = at
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate if rate > 0 else 3600.0
