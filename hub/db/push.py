"""Web Push subscriptions: one row per browser a person enabled push notifications in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.db.base import Base

__all__ = ["PushSubscription", "delete_subscription", "save_subscription", "subscriptions_of"]


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


def save_subscription(
    session: Session, person_id: str, endpoint: str, p256dh: str, auth: str, *, now: datetime
) -> PushSubscription:
    """Insert or take over the row of ``endpoint`` (a browser registering again, perhaps for another person)."""
    row = session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if row is None:
        row = PushSubscription(
            person_id=person_id, endpoint=endpoint, p256dh=p256dh, auth=auth, created_at=now, failures=0
        )
        session.add(row)
    else:
        row.person_id, row.p256dh, row.auth = person_id, p256dh, auth
        row.created_at, row.last_ok_at, row.failures = now, None, 0
    session.flush()
    return row


def delete_subscription(session: Session, endpoint: str, *, person_id: str | None = None) -> bool:
    """Delete the row of ``endpoint`` (only if it is ``person_id``'s, when given); whether one was deleted."""
    query = delete(PushSubscription).where(PushSubscription.endpoint == endpoint)
    if person_id is not None:
        query = query.where(PushSubscription.person_id == person_id)
    deleted = session.scalars(query.returning(PushSubscription.id)).all()
    return len(deleted) > 0


def subscriptions_of(session: Session, person_id: str) -> list[PushSubscription]:
    """A person's subscriptions, oldest first."""
    query = select(PushSubscription).where(PushSubscription.person_id == person_id).order_by(PushSubscription.id)
    return list(session.scalars(query))
