"""Web Push subscriptions: one row per browser a person enabled push notifications in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base

__all__ = ["PushSubscription"]


class PushSubscription(Base):
    """A browser's push subscription (``PushSubscription.toJSON()``) registered by a signed-in person.

    The endpoint is the push service's URL for that browser and is unique: the same browser registering again
    (or another person signing in on it) takes the row over. The channel deletes a row when the push service
    answers 404 or 410 (the subscription is gone) and counts other failures in ``failures``.
    """

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(80), index=True)
    endpoint: Mapped[str] = mapped_column(Text, unique=True)
    p256dh: Mapped[str] = mapped_column(String(128))
    """The browser's P-256 public key (base64url, 65 bytes decoded)."""
    auth: Mapped[str] = mapped_column(String(64))
    """The browser's authentication secret (base64url, 16 bytes decoded)."""
    created_at: Mapped[datetime]
    last_ok_at: Mapped[datetime | None]
    """When a push service last accepted a message for it."""
    failures: Mapped[int] = mapped_column(Integer, default=0)
    """Failed sends since the last accepted one."""
