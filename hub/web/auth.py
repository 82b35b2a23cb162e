"""Accounts: signed bearer tokens and session cookies for the people named in the config.

A token is ``{"sub": person id, "exp", "iat": epoch seconds, "jti": token id, "use": api|login|session}``
signed with itsdangerous' ``URLSafeTimedSerializer`` (which also stamps the issue time). The server
refuses a token whose signature is wrong, whose own ``exp`` has passed, that is older than the
server's ``max_age``, whose person is no longer in the config, or whose id was revoked
(``hub.web.accounts``); a ``login`` token is good once, on ``/login`` only. Rotating the secret key
revokes every token at once.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.url_safe import URLSafeSerializerMixin

from compound.config import Compound
from compound.config.models import Person

__all__ = [
    "CREDENTIAL_USES",
    "DEFAULT_LOGIN_TTL_S",
    "DEFAULT_SESSION_TTL_S",
    "DEFAULT_TOKEN_MAX_AGE_S",
    "DEFAULT_TOKEN_TTL_S",
    "SECRET_ENV",
    "SESSION_COOKIE",
    "InvalidToken",
    "TokenClaims",
    "TokenSigner",
    "TokenUse",
    "UnknownPerson",
    "load_secret_key",
    "login_url",
]

log = logging.getLogger(__name__)

SECRET_ENV: Final = "COMPOUND_SECRET_KEY"
"""Environment variable that, when set, holds the signing key (otherwise ``<data-dir>/secret.key``)."""

SECRET_FILE: Final = "secret.key"
SESSION_COOKIE: Final = "compound_session"
DEFAULT_TOKEN_TTL_S: Final = 30 * 86400
"""Life of a token printed by ``compound token`` unless ``--ttl`` says otherwise."""
DEFAULT_TOKEN_MAX_AGE_S: Final = 90 * 86400
"""Oldest token the server accepts, whatever its own expiry says."""
DEFAULT_LOGIN_TTL_S: Final = 15 * 60
"""Life of a click-to-login link (``compound token --url``); it also works only once."""
DEFAULT_SESSION_TTL_S: Final = 12 * 3600
"""Life of a browser session cookie."""
_SALT: Final = "compound-auth-v1"
_MIN_SECRET_LEN: Final = 16


class InvalidToken(Exception):
    """A token that cannot be trusted; ``reason`` says why (bad_signature, expired, unknown_person, malformed)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class UnknownPerson(ValueError):
    """A person id that is not in the config."""

    def __init__(self, person_id: str) -> None:
        super().__init__(f"no person with id {person_id!r} in the config")
        self.person_id = person_id


def load_secret_key(data_dir: Path) -> str:
    """The signing key: ``$COMPOUND_SECRET_KEY``, else ``<data_dir>/secret.key`` (created 0600 if missing)."""
    env = os.environ.get(SECRET_ENV)
    if env is not None:
        if len(env) < _MIN_SECRET_LEN:
            raise ValueError(f"{SECRET_ENV} must be at least {_MIN_SECRET_LEN} characters")
        return env
    path = data_dir / SECRET_FILE
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # O_EXCL: two processes starting at once must not both write a different key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_secret_key(data_dir)
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(key + "\n")
        log.info("generated a new secret key in %s", path)
        return key
    if len(key) < _MIN_SECRET_LEN:
        raise ValueError(f"{path} holds a key shorter than {_MIN_SECRET_LEN} characters")
    return key


class _Serializer(URLSafeTimedSerializer):
    """itsdangerous' URL-safe timed serializer, never zlib-compressing: a token's claims stay plainly readable."""

    def dump_payload(self, obj: Any) -> bytes:
        json: bytes = super(URLSafeSerializerMixin, self).dump_payload(obj)
        return base64_encode(json)


class TokenUse(StrEnum):
    """What a token is for: scripts (``api``), one click-to-login link (``login``), a browser ``session``."""

    API = "api"
    LOGIN = "login"
    SESSION = "session"


CREDENTIAL_USES: Final = frozenset({TokenUse.API, TokenUse.SESSION})
"""Tokens accepted as a bearer header or a session cookie; a login link's token is only good on ``/login``."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says: the person, its id (for revocation), its use, when it was issued and expires."""

    person_id: str
    token_id: str
    use: TokenUse
    issued_at: int
    expires_at: int
    via: str | None = None
    """For a session: the id of the token it was exchanged for (revoking that one ends the session too)."""


@dataclass(frozen=True, slots=True)
class TokenSigner:
    """Issues and verifies person tokens for one compound."""

    secret_key: str
    max_age_s: float = DEFAULT_TOKEN_MAX_AGE_S

    @property
    def _serializer(self) -> URLSafeTimedSerializer:
        return _Serializer(self.secret_key, salt=_SALT)

    def issue(
        self,
        person_id: str,
        ttl_s: float = DEFAULT_TOKEN_TTL_S,
        *,
        now: float | None = None,
        use: TokenUse = TokenUse.API,
        via: str | None = None,
    ) -> str:
        """A signed token for ``person_id`` valid for ``ttl_s`` seconds from ``now`` (capped by ``max_age_s``)."""
        if ttl_s <= 0:
            raise ValueError("a token's time to live must be positive")
        start = time.time() if now is None else now
        payload: dict[str, Any] = {
            "sub": person_id,
            "exp": int(start + ttl_s),
            "iat": int(start),
            "jti": secrets.token_urlsafe(12),
            "use": use.value,
        }
        if via:
            payload["via"] = via
        token: str = self._serializer.dumps(payload)
        return token

    def claims(self, token: str) -> TokenClaims:
        """Verify a token's signature, age and expiry; raise ``InvalidToken`` otherwise."""
        try:
            data: Any = self._serializer.loads(token, max_age=int(self.max_age_s))
        except SignatureExpired as exc:
            raise InvalidToken("expired", "token is older than the server accepts") from exc
        except BadSignature as exc:
            raise InvalidToken("bad_signature", "token signature is not valid") from exc
        if not isinstance(data, dict) or not isinstance(data.get("sub"), str) or not isinstance(data.get("exp"), int):
            raise InvalidToken("malformed", "token payload is not a person token")
        if data["exp"] < time.time():
            raise InvalidToken("expired", "token has expired")
        try:
            use = TokenUse(data.get("use", TokenUse.API.value))
        except ValueError as exc:
            raise InvalidToken("malformed", "token payload names no known use") from exc
        via = data.get("via")
        return TokenClaims(
            person_id=str(data["sub"]),
            token_id=str(data.get("jti", "")),
            use=use,
            issued_at=int(data.get("iat", 0)),
            expires_at=int(data["exp"]),
            via=str(via) if isinstance(via, str) else None,
        )

    def person_id(self, token: str) -> str:
        """The person id a token was issued for; raise ``InvalidToken`` otherwise."""
        return self.claims(token).person_id

    def person(self, token: str, compound: Compound) -> Person:
        """The config person a token names; ``InvalidToken`` if the token or the person is not valid."""
        person_id = self.person_id(token)
        person = compound.people.get(person_id)
        if person is None:
            raise InvalidToken("unknown_person", f"person {person_id!r} is no longer in the config")
        return person

    def issue_for(
        self, compound: Compound, person_id: str, ttl_s: float = DEFAULT_TOKEN_TTL_S, *, use: TokenUse = TokenUse.API
    ) -> str:
        """Like ``issue`` but refuse a person that is not in the config (``UnknownPerson``)."""
        if person_id not in compound.people:
            raise UnknownPerson(person_id)
        return self.issue(person_id, ttl_s, use=use)

    def issue_login(self, compound: Compound, person_id: str, ttl_s: float = DEFAULT_LOGIN_TTL_S) -> str:
        """A single-use, short-lived token for a click-to-login link (``login_url``)."""
        return self.issue_for(compound, person_id, ttl_s, use=TokenUse.LOGIN)


def login_url(base_url: str, token: str) -> str:
    """A click-to-login console link: ``<base>/login?token=...`` (tokens are URL-safe)."""
    return f"{base_url.rstrip('/')}/login?token={token}"
