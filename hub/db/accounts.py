"""The accounts tables: the audit log, used single-use login links, revoked tokens."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

if TYPE_CHECKING:
    pass
from hub.db.base import Base

__all__ = ["AuditEntry", "RevokedToken", "UsedLoginToken"]


class AuditEntry(Base):
    """One action by a person on the web or API: who, when, from which client address, what, on what."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(80), index=True)
    action: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str | None] = mapped_column(String(120))
    client: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(300))


class UsedLoginToken(Base):
    """A single-use login link already exchanged for a session; kept until it would have expired anyway."""

    __tablename__ = "used_login_tokens"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person: Mapped[str] = mapped_column(String(80))
    used_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class RevokedToken(Base):
    """A token id (or ``person:<id>``: every token of that person issued before ``revoked_at``) refused from now on."""

    __tablename__ = "revoked_tokens"

    token_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    revoked_at: Mapped[datetime]
    revoked_by: Mapped[str] = mapped_column(String(80))
