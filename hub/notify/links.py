"""Action links in messages: per person, per alarm, single-use, expiring, signed.

A link is ``<public_url>/a/<token>``; the token says who (``sub``), which alarm, which action (``ack``,
``on_my_way``, ``open``), when it expires and its id (``jti``). It is signed with the hub's secret key
(itsdangerous, its own salt, so a login or API token can never pass for one, nor the reverse). The web side
(``hub.web.routes.actions``) shows a confirmation page on GET — IM apps fetch links to preview them, and a
preview must not acknowledge a fire — performs the action on POST, and spends the id so the link works once.
``open`` signs the person in on the worker page (like a login link) and opens the alarm there.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from hub.notify.card import ActionLinks

__all__ = ["Action", "ActionClaims", "ActionLinkError", "ActionTokens"]

_SALT: Final = "compound-action-v1"


class Action(StrEnum):
    ACK = "ack"
    ON_MY_WAY = "on_my_way"
    OPEN = "open"


class ActionLinkError(Exception):
    """A link that cannot be used: ``reason`` is bad_signature, expired, or malformed."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ActionClaims:
    person_id: str
    alarm_id: int
    action: Action
    token_id: str
    expires_at: int


@dataclass(slots=True)
class ActionTokens:
    """Issues and checks action links for one hub (its secret key and public address)."""

    secret_key: str
    public_url: str
    ttl_s: float = 24 * 3600

    @property
    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt=_SALT)

    def issue(self, person_id: str, alarm_id: int, action: Action, *, now: float | None = None) -> str:
        start = time.time() if now is None else now
        payload = {
            "sub": person_id,
            "alarm": alarm_id,
            "act": action.value,
            "exp": int(start + self.ttl_s),
            "jti": secrets.token_urlsafe(12),
        }
        token: str = self._serializer.dumps(payload)
        return token

    def url(self, token: str) -> str:
        return f"{self.public_url.rstrip('/')}/a/{token}"

    def links(self, person_id: str, alarm_id: int) -> ActionLinks:
        """The links one message to one person carries."""
        return ActionLinks(
            acknowledge=self.url(self.issue(person_id, alarm_id, Action.ACK)),
            on_my_way=self.url(self.issue(person_id, alarm_id, Action.ON_MY_WAY)),
            open=self.url(self.issue(person_id, alarm_id, Action.OPEN)),
        )

    def claims(self, token: str) -> ActionClaims:
        """Verify a link's token; ``ActionLinkError`` when it is forged, too old or not an action link."""
        try:
            data: Any = self._serializer.loads(token, max_age=int(self.ttl_s) + 60)
        except SignatureExpired as exc:
            raise ActionLinkError("expired", "this link has expired") from exc
        except BadSignature as exc:
            raise ActionLinkError("bad_signature", "this link is not valid") from exc
        if not isinstance(data, dict):
            raise ActionLinkError("malformed", "this link is not an action link")
        try:
            claims = ActionClaims(
                person_id=str(data["sub"]),
                alarm_id=int(data["alarm"]),
                action=Action(data["act"]),
                token_id=str(data["jti"]),
                expires_at=int(data["exp"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ActionLinkError("malformed", "this link is not an action link") from exc
        if claims.expires_at < time.time():
            raise ActionLinkError("expired", "this link has expired")
        return claims
