"""Serve the web app with uvicorn in the current event loop; live streams end promptly on shutdown."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

import uvicorn
from fastapi import FastAPI
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from compound.modelstore import ModelStore
from hub.notify.channels import ChannelConfig
from hub.notify.runtime import NotifyRuntime
from hub.notify.settings import load_channel_configs
from hub.web.auth import DEFAULT_SESSION_TTL_S, DEFAULT_TOKEN_MAX_AGE_S, TokenSigner, load_secret_key
from hub.web.context import BackgroundJob, HealthSource, IngestHealth, WebContext

if TYPE_CHECKING:
    from hub.ingest import Ingestor
    from hub.timeseries import TimeSeries

__all__ = ["ROLES", "HubServer", "hub_app", "make_server"]

log = logging.getLogger(__name__)

ROLES: Final = ("all", "ingest", "api")
"""What one hub replica does: ``all`` ingest and the API/console; ``ingest`` only the MQTT stream (and
``/healthz``); ``api`` only the API/console (no broker). Every role dispatches notifications (rows are claimed)."""
_INGEST_ONLY_PATHS: Final = frozenset({"/healthz"})


class _HealthOnly:
    """ASGI middleware of an ``ingest`` replica: ``/healthz`` passes, everything else is 404 (no API, no console)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or scope.get("path") in _INGEST_ONLY_PATHS:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await JSONResponse({"detail": "an ingest replica serves /healthz only"}, status_code=404)(
                scope, receive, send
            )
        else:
            await send({"type": "websocket.close", "code": 1008})


class HubServer(uvicorn.Server):
    """A uvicorn server that tells open live streams to end before waiting for connections to close."""

    def __init__(self, config: uvicorn.Config, context: WebContext, on_started: Callable[[str], None] | None) -> None:
        super().__init__(config)
        self.context = context
        self.on_started = on_started

    @property
    def url(self) -> str:
        """``http://host:port`` actually bound (resolves ``--port 0``)."""
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                if sock.family == socket.AF_INET6:
                    host = f"[{host}]"
                return f"http://{host}:{port}"
        return f"http://{self.config.host}:{self.config.port}"

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        notify = getattr(self.config.app.state, "notify", None) if isinstance(self.config.app, FastAPI) else None
        if self.started and notify is not None:
            notify.set_public_url(self.url)
        if self.started and self.on_started is not None:
            self.on_started(self.url)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.context.stopping.set()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """SIGINT/SIGTERM ask for a graceful stop; unlike uvicorn's, they are not re-raised afterwards.

        Re-raising would kill the process with the signal after a clean shutdown; ``compound hub``
        and ``compound up`` should exit 0 when stopped with Ctrl-C or SIGTERM.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def make_server(
    app: FastAPI,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_started: Callable[[str], None] | None = None,
    log_level: str = "warning",
) -> HubServer:
    """A ``HubServer`` for ``app`` (built by ``create_app``); ``await server.serve()`` runs it."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    return HubServer(config, app.state.hub, on_started)


def hub_app(
    ingestor: Ingestor,
    *,
    data_dir: Path,
    session_ttl_s: float = DEFAULT_SESSION_TTL_S,
    token_max_age_s: float = DEFAULT_TOKEN_MAX_AGE_S,
    cookie_secure: bool = False,
    series: TimeSeries | None = None,
    channels: list[ChannelConfig] | None = None,
    public_url: str | None = None,
    role: str = "all",
) -> FastAPI:
    """The whole hub as one app: ``ingestor`` runs in the app's lifespan, the API and console beside it.

    The alarm service shares the ingestor's database, change feed and clock, so what ingest commits is
    pushed to open consoles and people's actions are stamped on the alarms' (possibly simulated) timeline;
    the secret key comes from ``$COMPOUND_SECRET_KEY`` or ``<data_dir>/secret.key``. With ``series`` (the
    time series ingest writes to, ``Ingestor(series=series.sink)``) the console charts devices and
    ``/healthz`` reports it; the caller closes it after the server stops.

    ``role`` (``ROLES``): with ``api`` the ingestor is never started (it only lends its database, compound,
    clock and change feed); with ``ingest`` only ``/healthz`` is served. On PostgreSQL a replica serving consoles
    also listens for the alarm changes other replicas commit (``hub.alarms.relay``).
    """
    if role not in ROLES:
        raise ValueError(f"hub role must be one of {', '.join(ROLES)}; got {role!r}")
    from hub.alarms.service import AlarmService
    from hub.web.app import create_app
    from hub.web.routes.devices import attach_series
    from hub.web.routes.push import attach_vapid

    ingestor.db.upgrade()  # the API may be asked before ingest has started
    secret_key = load_secret_key(data_dir)
    notify = NotifyRuntime(
        ingestor.db,
        ingestor.compound,
        load_channel_configs(ingestor.compound) if channels is None else channels,
        data_dir=data_dir,
        secret_key=secret_key,
        clock=ingestor.clock,
        changes=ingestor.changes,
        public_url=public_url,
        hub_id=ingestor.client_id,
    )
    service = AlarmService(
        ingestor.db, ingestor.compound, changes=ingestor.changes, clock=ingestor.clock, channels=notify.infos
    )
    health: dict[str, HealthSource] = {}
    background: list[BackgroundJob] = []
    if role != "api":
        health["ingest"] = IngestHealth(ingestor)
        background.append(ingestor.run)
    background.append(notify.run)
    listener = None
    if role != "ingest" and ingestor.db.dialect == "postgresql":
        from hub.alarms.relay import ChangeListener

        listener = ChangeListener(ingestor.db, ingestor.changes)
        health["changes"] = listener
        background.append(listener.run)
    if series is not None:
        health["timeseries"] = series
    context = WebContext(
        compound=ingestor.compound,
        service=service,
        signer=TokenSigner(secret_key, max_age_s=token_max_age_s),
        session_ttl_s=session_ttl_s,
        cookie_secure=cookie_secure,
        background=background,
        action_links=notify.links,
        health_sources=health,
    )
    app = create_app(context)
    app.state.notify = notify
    app.state.change_listener = listener
    app.state.models = ModelStore.of_data_dir(data_dir)  # promote / rollback (hub.web.routes.learning)
    ingestor.pipeline.on_raised = notify.dispatcher.wake  # deliver now, not at the next poll
    notify.dispatcher.foreground = ingestor.backlog  # but after the messages already received are stored
    attach_vapid(app, data_dir)  # Web Push: <data_dir>/vapid/, generated on first start
    if series is not None:
        attach_series(app, series.reader)
    if role == "ingest":  # an ingest replica answers health checks only
        app.add_middleware(_HealthOnly)
    return app
