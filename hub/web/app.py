"""The hub's web app: JSON API under ``/api/v1``, the live console, accounts, and background jobs in its lifespan."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.web.assets import STATIC_DIR
from hub.web.context import BackgroundJob, WebContext
from hub.web.limits import BodySizeLimit
from hub.web.routes import (
    actions,
    alarms,
    audit,
    auth,
    dead_letters,
    device_health,
    devices,
    health,
    history,
    learning,
    metrics,
    pages,
    push,
    response,
    siteplan,
    snapshots,
    stream,
)
from hub.web.security import OriginCheck

__all__ = ["create_app"]

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
"""On every response: no MIME sniffing, no framing (the action buttons cannot be clickjacked), no referrer."""

PAGE_CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
"""Content security policy of the console's own pages: their own scripts (no inline one), styles and API."""

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
"""Content security policy of everything that is not a page (JSON, images, scripts): nothing may run from it."""

DOCS_CSP = (
    "default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
"""Swagger UI / ReDoc pages: their one inline bootstrap script is allowed by its hash, no other inline script."""

DOCS_STATIC = "/static-offline-docs"
"""Swagger UI and ReDoc assets, served from the ``fastapi-offline`` package: ``/docs`` works without internet."""

STOP_TIMEOUT_S = 15.0
"""How long a background job may take to finish after being asked to stop."""

_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def _script_hashes(html: bytes) -> str:
    """CSP source expressions (``'sha256-...'``) for each inline ``<script>`` of a page."""
    digests = (base64.b64encode(hashlib.sha256(body).digest()).decode() for body in _INLINE_SCRIPT.findall(html))
    return " ".join(f"'sha256-{digest}'" for digest in digests)


class SecurityHeaders:
    """Pure ASGI middleware adding ``SECURITY_HEADERS`` and a CSP to every response; streams pass untouched.

    The generated API-docs pages (``/docs``, ``/redoc``) are small and buffered so that their inline
    bootstrap script can be allowed by hash rather than by ``'unsafe-inline'``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if path.startswith(("/docs", "/redoc")):
            await self._docs(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.update(SECURITY_HEADERS)
                # A service worker obeys the CSP it was served with: /sw.js gets the pages' policy (it fetches).
                is_page = headers.get("content-type", "").startswith("text/html") or path == "/sw.js"
                headers["Content-Security-Policy"] = PAGE_CSP if is_page else API_CSP
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None
        body = bytearray()

        async def buffer(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body", False) and start is not None:
                    headers = MutableHeaders(scope=start)
                    headers.update(SECURITY_HEADERS)
                    headers["Content-Security-Policy"] = DOCS_CSP.format(hashes=_script_hashes(bytes(body)))
                    await send(start)
                    await send({"type": "http.response.body", "body": bytes(body)})
                return
            await send(message)

        await self.app(scope, receive, buffer)


def _job_name(job: BackgroundJob, index: int) -> str:
    owner = getattr(job, "__self__", None)
    return type(owner).__name__.lower() if owner is not None else getattr(job, "__name__", f"job{index}")


async def _supervise(name: str, job: BackgroundJob, stop: asyncio.Event, context: WebContext) -> None:
    """Run one background job; an unexpected end is logged and reported by ``/healthz``, never silent."""
    try:
        await job(stop)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("background job %s failed", name)
        context.failures[name] = f"{type(exc).__name__}: {exc}"
        return
    if not stop.is_set():
        log.error("background job %s ended before the hub stopped", name)
        context.failures[name] = "ended unexpectedly"


def create_app(context: WebContext) -> FastAPI:
    """Build the FastAPI app around a ``WebContext``; its lifespan starts and stops the background jobs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(_supervise(name, job, stop, context), name=name)
            for name, job in ((_job_name(job, i), job) for i, job in enumerate(context.background))
        ]
        log.info("hub web app started with %d background job(s)", len(tasks))
        try:
            yield
        finally:
            context.stopping.set()
            stop.set()
            if tasks:
                _done, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
                for task in pending:
                    log.warning("background job %s did not stop in %.0f s; cancelling", task.get_name(), STOP_TIMEOUT_S)
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    app = FastAPIOffline(
        static_url=DOCS_STATIC,
        favicon_url="/static/favicon.svg",
        title="Compound safety hub",
        summary="Alarms from a residential compound's edge agents, routed by grid and acted on by people.",
        version="1",
        lifespan=lifespan,
        openapi_tags=[
            {"name": "alarms", "description": "Alarms within the caller's grids; changes pushed live."},
            {"name": "dead letters", "description": "Messages the hub refused, with the reason."},
            {"name": "devices", "description": "Devices within the caller's grids and their recent curves."},
            {"name": "accounts", "description": "Who is signed in. Tokens come from `compound token PERSON_ID`."},
            {"name": "health", "description": "Liveness without authentication."},
        ],
    )
    app.state.hub = context

    app.add_middleware(BodySizeLimit)  # innermost of the three: a 413 gets the security headers too
    app.add_middleware(OriginCheck)
    app.add_middleware(SecurityHeaders)
    # The stream route comes before /alarms/{alarm_id} so that "stream" is never read as an id.
    for module in (stream, alarms, snapshots, dead_letters, devices, auth, audit, pages, health):
        app.include_router(module.router)
    app.include_router(push.router)
    app.include_router(metrics.router)
    app.include_router(response.router)
    app.include_router(actions.router)
    app.include_router(siteplan.router)
    app.include_router(device_health.router)
    app.include_router(history.router)
    app.include_router(learning.router)
    app.include_router(learning.pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
