"""Durable account state: single-use login links, revoked tokens, the audit log, and who is in ``people.yaml`` now.

Kept in the hub database (``hub.db``) so that a used login link stays used and a revoked token stays
revoked across restarts and across hub replicas sharing one PostgreSQL.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, Field
from sqlalchemy import delete, select

from compound.config import Compound
from hub.db import AuditEntry, Database, RevokedToken, UsedLoginToken, insert_ignore
from hub.web.auth import InvalidToken, TokenClaims

__all__ = ["AccountStore", "AuditAction", "AuditEntryPublic", "PeopleWatch", "person_revocation_id"]

log = logging.getLogger(__name__)


class AuditAction(StrEnum):
    """The actions the audit log records (their values are what the table holds)."""

    SIGN_IN = "sign_in"
    SIGN_IN_REFUSED = "sign_in_refused"
    SIGN_OUT = "sign_out"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    TOKEN_REVOKE = "token_revoke"
    EXPORT = "export"
    ON_MY_WAY = "on_my_way"
    ON_SITE = "on_site"
    SILENCE = "silence"
    SILENCE_END = "silence_end"
    ACTION_LINK = "action_link"
    MARK = "mark"
    MODEL_PROMOTE = "model_promote"
    MODEL_ROLLBACK = "model_rollback"


class AuditEntryPublic(BaseModel):
    """One audit-log line: who did what, when, on what, from which client address."""

    id: int
    at: datetime
    actor: str = Field(description="Person id, or '-' when nobody could be identified (refused sign-in).")
    action: str = Field(description="sign_in, sign_in_refused, sign_out, acknowledge, resolve, token_revoke")
    target: str | None = Field(description="What it acted on: 'alarm:12', a token id, 'person:p-x'.")
    client: str | None = Field(description="The client's address as the hub saw it.")
    detail: str | None


def person_revocation_id(person_id: str) -> str:
    """The revocation id that ends every token of a person issued until now."""
    return f"person:{person_id}"


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


@dataclass(slots=True)
class AccountStore:
    """Login-link use, token revocation and the audit log, in the hub database."""

    db: Database

    def claim_login(self, claims: TokenClaims) -> None:
        """Mark a login link used; raise ``InvalidToken("used")`` if it was used before (atomic across processes)."""
        if not claims.token_id:
            raise InvalidToken("malformed", "login link has no id")
        now = time.time()
        with self.db.session() as session:
            session.execute(delete(UsedLoginToken).where(UsedLoginToken.expires_at < _utc(now)))
            stmt = (
                insert_ignore(session, UsedLoginToken)
                .values(
                    token_id=claims.token_id,
                    person=claims.person_id,
                    used_at=_utc(now),
                    expires_at=_utc(claims.expires_at),
                )
                .returning(UsedLoginToken.token_id)
            )
            if session.execute(stmt).first() is None:
                raise InvalidToken("used", "this login link was already used; ask for a new one")

    def check_not_revoked(self, claims: TokenClaims) -> None:
        """Raise ``InvalidToken("revoked")`` if the token, the token it came from, or its person was revoked."""
        ids = [person_revocation_id(claims.person_id)]
        ids += [token_id for token_id in (claims.token_id, claims.via) if token_id]
        with self.db.session() as session:
            rows = session.execute(select(RevokedToken).where(RevokedToken.token_id.in_(ids))).scalars().all()
        for row in rows:
            if not row.token_id.startswith("person:") or claims.issued_at <= row.revoked_at.timestamp():
                raise InvalidToken("revoked", "token was revoked")

    def revoke(self, token_id: str, by: str) -> bool:
        """Refuse ``token_id`` (or every token of ``person:<id>`` issued until now) from now on; False if already."""
        with self.db.session() as session:
            existing = session.get(RevokedToken, token_id)
            if existing is not None and not token_id.startswith("person:"):
                return False
            if existing is not None:
                existing.revoked_at = datetime.now(UTC)
                existing.revoked_by = by
            else:
                session.add(RevokedToken(token_id=token_id, revoked_at=datetime.now(UTC), revoked_by=by))
        log.info("token %s revoked by %s", token_id, by)
        return True

    def record(
        self,
        actor: str,
        action: str,
        *,
        target: str | None = None,
        client: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Append one line to the audit log (never a resident's data: ids and reasons only)."""
        with self.db.session() as session:
            session.add(
                AuditEntry(
                    at=datetime.now(UTC),
                    actor=actor[:80],
                    action=action[:32],
                    target=target[:120] if target else None,
                    client=client[:64] if client else None,
                    detail=detail[:300] if detail else None,
                )
            )

    def entries(
        self, *, limit: int = 200, actor: str | None = None, action: str | None = None
    ) -> list[AuditEntryPublic]:
        """The newest audit lines first, optionally only one actor's or one action's."""
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if actor:
            query = query.where(AuditEntry.actor == actor)
        if action:
            query = query.where(AuditEntry.action == action)
        with self.db.session() as session:
            rows = session.execute(query).scalars().all()
            return [
                AuditEntryPublic(
                    id=r.id, at=r.at, actor=r.actor, action=r.action, target=r.target, client=r.client, detail=r.detail
                )
                for r in rows
            ]


def _people_ids(path: Path) -> frozenset[str]:
    """The ``id`` of every entry under ``people:`` in a people file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise ValueError(f"{path} has no 'people' list")
    return frozenset(str(p["id"]) for p in people if isinstance(p, dict) and "id" in p)


class PeopleWatch:
    """Who is in ``people.yaml`` right now: re-read when the file changes, so a removed person is refused at once.

    The check is a ``stat`` at most every ``interval_s``; only the ids are read (a removed person may still be
    named in a roster until that is edited too). A file that cannot be read keeps the last good list (logged).
    """

    def __init__(self, compound: Compound, *, interval_s: float = 1.0) -> None:
        self._source: Path | None = getattr(compound, "source", None)
        self._configured = frozenset(compound.people)
        self._people = self._configured
        self._interval_s = interval_s
        self._checked = 0.0
        self._stamp = self._file_stamp()
        self._lock = threading.Lock()

    def _file_stamp(self) -> tuple[int, int] | None:
        if self._source is None:
            return None
        try:
            st = (self._source / "people.yaml").stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def current(self) -> frozenset[str]:
        """The person ids ``people.yaml`` holds now."""
        now = time.monotonic()
        if self._source is None or now - self._checked < self._interval_s:
            return self._people
        with self._lock:
            self._checked = now
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return self._people
            self._stamp = stamp
            try:
                listed = _people_ids(self._source / "people.yaml")
            except (OSError, ValueError, yaml.YAMLError) as exc:
                log.warning("people.yaml changed but cannot be read; keeping the previous people: %s", exc)
            else:
                # Only removals take effect at once; someone added needs a hub restart (rosters, grids).
                self._people = self._configured & listed
                log.info("people.yaml changed: %d of the configured people remain", len(self._people))
        return self._people
