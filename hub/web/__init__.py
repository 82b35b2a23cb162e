"""The hub's web side: JSON API, live console pages and accounts (signed tokens, session cookie)."""

from hub.web.app import create_app
from hub.web.auth import TokenSigner, load_secret_key, login_url
from hub.web.context import BackgroundJob, HealthSource, IngestHealth, WebContext
from hub.web.server import HubServer, hub_app, make_server

__all__ = [
    "BackgroundJob",
    "HealthSource",
    "HubServer",
    "IngestHealth",
    "TokenSigner",
    "WebContext",
    "create_app",
    "hub_app",
    "load_secret_key",
    "login_url",
    "make_server",
]
