"""Request size limit: a body larger than any route needs is refused with 413 before a handler reads it."""

from __future__ import annotations

import json
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_BODY_BYTES", "MAX_PHOTO_BYTES", "UPLOAD_SUFFIX", "BodySizeLimit"]

MAX_BODY_BYTES: Final = 64 * 1024
"""Largest request body accepted. The biggest legitimate one is a resolve note (2 000 characters, up to 8 000
bytes of UTF-8) or the login form (a 4 096-character token). The one upload is the on-site photo (below);
camera snapshots come over MQTT, bounded by ``wire.MAX_SNAPSHOT_BYTES``."""

MAX_PHOTO_BYTES: Final = 5 * 1024 * 1024
"""Largest on-site photo (``POST /api/v1/alarms/{id}/on-site``); its request may be this plus 64 KiB of form."""
UPLOAD_SUFFIX: Final = "/on-site"
"""Paths ending so take the photo limit instead of ``MAX_BODY_BYTES``."""


class BodySizeLimit:
    """Pure ASGI middleware: 413 with a JSON ``detail`` for a declared ``Content-Length`` over ``max_bytes``, or
    for a chunked body that grows past it (read before the handler, at most ``max_bytes`` held); 400 for a
    ``Content-Length`` that is not a number. Requests without a body (streams, pages) pass untouched."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        limit = self.max_bytes
        if str(scope.get("path", "")).endswith(UPLOAD_SUFFIX):
            limit = max(limit, MAX_PHOTO_BYTES + MAX_BODY_BYTES)
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _refuse(send, 400, f"Content-Length is not a number: {declared[:40]!r}")
                return
            if int(declared) > limit:
                await _refuse(send, 413, self._too_large(int(declared), limit))
                return
            await self.app(scope, receive, send)
            return
        if b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            await self.app(scope, receive, send)
            return
        # A chunked body has no declared size: read it here, up to the limit, then hand it on in one piece.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body.extend(message.get("body", b""))
            if len(body) > limit:
                await _refuse(send, 413, self._too_large(None, limit))
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _too_large(size: int | None, limit: int) -> str:
        of = "" if size is None else f" of {size} bytes"
        return f"request body{of} is larger than the {limit} bytes allowed"


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
