"""Web Push: the hub's VAPID public key, and a signed-in person registering or removing a browser's subscription.

``GET /api/v1/push/key`` is public (a browser needs it before it can subscribe). Writes need a signed-in person and,
with the session cookie, come from the console's own origin (``OriginCheck``); the body limit of every API write
applies. The service worker is served at ``/sw.js`` so that its scope is the whole site (``/``): a worker served
from ``/static/`` could only control ``/static/``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from hub.db.push import delete_subscription, save_subscription
from hub.notify.vapid import VapidKeys, load_vapid_keys
from hub.web.assets import STATIC_DIR
from hub.web.deps import Audit, Context, CurrentUser

__all__ = [
    "PushKey",
    "PushSubscriptionIn",
    "PushSubscriptionKeys",
    "PushUnsubscribe",
    "attach_vapid",
    "router",
]

log = logging.getLogger(__name__)

router = APIRouter(tags=["accounts"])

MAX_ENDPOINT = 2048
"""Longer than any push service's endpoint URL (FCM's, Mozilla's autopush, Apple's and WNS's are under 600)."""


def attach_vapid(app: FastAPI, data_dir: Path) -> VapidKeys:
    """Give the app the hub's VAPID pair from ``<data_dir>/vapid/`` (generated there on first use)."""
    keys = load_vapid_keys(data_dir)
    app.state.vapid = keys
    return keys


def _keys(request: Request) -> VapidKeys:
    keys: VapidKeys | None = getattr(request.app.state, "vapid", None)
    if keys is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "web push is not set up on this hub")
    return keys


def _b64url_bytes(value: str) -> bytes:
    if not value or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=" for c in value):
        raise ValueError("must be base64url")
    try:
        return base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be base64url") from exc


def _public_endpoint(url: str) -> str:
    """An ``https://`` URL whose host is a name or a public address: the hub must not be made to post inward."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise ValueError("must be an https:// URL of a push service")
    host = parts.hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        raise ValueError("must be a push service on the internet")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return url
    if not address.is_global:
        raise ValueError("must be a push service on the internet")
    return url


class PushSubscriptionKeys(BaseModel):
    """``keys`` of a browser's ``PushSubscription.toJSON()``."""

    model_config = ConfigDict(extra="forbid")

    p256dh: Annotated[str, StringConstraints(min_length=80, max_length=100)] = Field(
        description="The browser's P-256 public key, uncompressed (65 bytes), base64url."
    )
    auth: Annotated[str, StringConstraints(min_length=16, max_length=32)] = Field(
        description="The browser's 16-byte authentication secret, base64url."
    )

    @field_validator("p256dh")
    @classmethod
    def _p256dh(cls, value: str) -> str:
        raw = _b64url_bytes(value)
        if len(raw) != 65 or raw[0] != 0x04:
            raise ValueError("must be an uncompressed P-256 point (65 bytes)")
        return value

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: str) -> str:
        if len(_b64url_bytes(value)) != 16:
            raise ValueError("must be 16 bytes")
        return value


class PushSubscriptionIn(BaseModel):
    """A browser's ``PushSubscription.toJSON()``, as ``pushManager.subscribe()`` gave it."""

    model_config = ConfigDict(extra="forbid")

    endpoint: Annotated[str, StringConstraints(min_length=12, max_length=MAX_ENDPOINT)] = Field(
        description="The push service's https URL for this browser."
    )
    expirationTime: float | None = Field(default=None, ge=0, description="When the subscription ends (ms), if known.")
    keys: PushSubscriptionKeys

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return _public_endpoint(value)


class PushUnsubscribe(BaseModel):
    """Body of ``DELETE /api/v1/push/subscriptions``: which of the caller's subscriptions to remove."""

    model_config = ConfigDict(extra="forbid")

    endpoint: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ENDPOINT)]


class PushKey(BaseModel):
    """The hub's VAPID public key, as ``pushManager.subscribe({applicationServerKey})`` takes it."""

    public_key: str = Field(description="Uncompressed P-256 point, base64url without padding.")


class PushSubscribed(BaseModel):
    """A stored subscription."""

    person: str
    endpoint: str


@router.get("/api/v1/push/key", response_model=PushKey, responses={404: {"description": "Web push is not set up."}})
def push_key(request: Request) -> PushKey:
    """The VAPID public key (``applicationServerKey``) browsers subscribe with."""
    return PushKey(public_key=_keys(request).public_key)


@router.post(
    "/api/v1/push/subscriptions",
    response_model=PushSubscribed,
    status_code=status.HTTP_201_CREATED,
    responses={401: {"description": "Not signed in."}, 422: {"description": "Not a push subscription."}},
)
def subscribe(body: PushSubscriptionIn, user: CurrentUser, context: Context, audit: Audit) -> PushSubscribed:
    """Register this browser's push subscription for the signed-in person (alarms routed to them are pushed)."""
    with context.service.db.session() as session:
        save_subscription(session, user.id, body.endpoint, body.keys.p256dh, body.keys.auth, now=datetime.now(UTC))
    audit.record("push_subscribe", target=urlsplit(body.endpoint).hostname)
    log.info("%s registered a push subscription at %s", user.id, urlsplit(body.endpoint).hostname)
    return PushSubscribed(person=user.id, endpoint=body.endpoint)


@router.delete(
    "/api/v1/push/subscriptions",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={401: {"description": "Not signed in."}, 404: {"description": "No such subscription of yours."}},
)
def unsubscribe(body: PushUnsubscribe, user: CurrentUser, context: Context, audit: Audit) -> Response:
    """Remove one of the signed-in person's subscriptions (this browser stops getting pushes)."""
    with context.service.db.session() as session:
        deleted = delete_subscription(session, body.endpoint, person_id=user.id)
    if not deleted:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such push subscription of yours")
    audit.record("push_unsubscribe", target=urlsplit(body.endpoint).hostname)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sw.js", response_class=Response, include_in_schema=False)
def service_worker() -> Response:
    """The service worker, at the root so that its scope is the whole site; always revalidated."""
    return Response(
        (STATIC_DIR / "sw.js").read_bytes(),
        media_type="application/javascript",
        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"},
    )
