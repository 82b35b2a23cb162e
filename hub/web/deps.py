"""Dependencies of the routes, as ``Annotated`` aliases: the context, the service, the signed-in person."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from compound.config import Compound
from compound.config.models import Person
from hub.alarms.changes import AlarmChanges
from hub.alarms.service import AlarmService
from hub.web.accounts import AccountStore
from hub.web.auth import CREDENTIAL_USES, SESSION_COOKIE, InvalidToken, TokenClaims
from hub.web.context import WebContext

__all__ = [
    "Audit",
    "AuditTrail",
    "Changes",
    "CompoundDep",
    "Context",
    "CurrentUser",
    "OptionalUser",
    "Service",
    "SignInLimit",
    "StillSignedIn",
    "check_sign_in_limit",
    "client_address",
    "get_context",
    "person_from_request",
    "person_of",
]

log = logging.getLogger(__name__)

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="Bearer token",
    description="A token printed by `compound token PERSON_ID`, sent as `Authorization: Bearer TOKEN`.",
)
_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="Session cookie",
    description="Set by the console's login page (`/login`).",
)


def get_context(request: Request) -> WebContext:
    """The hub's web context kept on ``app.state``."""
    context: WebContext = request.app.state.hub
    return context


Context = Annotated[WebContext, Depends(get_context)]


def _service(context: Context) -> AlarmService:
    return context.service


def _changes(context: Context) -> AlarmChanges:
    return context.service.changes


def _compound(context: Context) -> Compound:
    return context.compound


Service = Annotated[AlarmService, Depends(_service)]
Changes = Annotated[AlarmChanges, Depends(_changes)]
CompoundDep = Annotated[Compound, Depends(_compound)]


def person_from_request(
    context: WebContext, bearer: HTTPAuthorizationCredentials | None, session: str | None
) -> Person | None:
    """The person a bearer token (preferred) or a session cookie names; ``None`` when neither is sent.

    Raises ``InvalidToken`` when a credential is sent but cannot be trusted: bad signature, expired, a login
    link's token (good only on ``/login``), revoked, or its person no longer in ``people.yaml``.
    """
    token = bearer.credentials if bearer is not None else session
    if not token:
        return None
    claims = context.signer.claims(token)
    if claims.use not in CREDENTIAL_USES:
        raise InvalidToken("wrong_use", "a login link's token only works on /login")
    return person_of(context, claims)


def person_of(context: WebContext, claims: TokenClaims) -> Person:
    """The person of verified claims, if the token is not revoked and the person is still in ``people.yaml``."""
    person = context.compound.people.get(claims.person_id)
    if person is None or claims.person_id not in context.people_now:
        raise InvalidToken("unknown_person", f"person {claims.person_id!r} is no longer in the config")
    context.account_store.check_not_revoked(claims)
    return person


def client_address(request: Request) -> str:
    """The client's address as the server saw it (the proxy's, behind a proxy that uvicorn does not trust)."""
    return request.client.host if request.client is not None else "unknown"


@dataclass(frozen=True, slots=True)
class AuditTrail:
    """Writes audit-log lines for one request: the signed-in person and their client address filled in."""

    store: AccountStore
    actor: str
    client: str

    def record(self, action: str, target: str | None = None, detail: str | None = None) -> None:
        """Append ``action`` on ``target`` to the audit log."""
        self.store.record(self.actor, action, target=target, client=self.client, detail=detail)


def check_sign_in_limit(request: Request, context: Context) -> None:
    wait_s = context.sign_in_limit.allow(client_address(request))
    if wait_s > 0:
        log.warning("sign-in rate limit hit by %s", client_address(request))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many sign-in attempts from this address; try again later",
            {"Retry-After": str(max(1, math.ceil(wait_s)))},
        )


SignInLimit = Depends(check_sign_in_limit)
"""Per-client token bucket on sign-in and token endpoints (429 with ``Retry-After``)."""


def _optional_user(
    context: Context,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[str | None, Depends(_cookie)],
) -> Person | None:
    try:
        return person_from_request(context, bearer, session)
    except InvalidToken as exc:
        log.info("refused a credential: %s", exc.reason)
        return None


def _current_user(
    context: Context,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[str | None, Depends(_cookie)],
) -> Person:
    challenge = {"WWW-Authenticate": "Bearer"}
    try:
        person = person_from_request(context, bearer, session)
    except InvalidToken as exc:
        log.info("refused a credential: %s", exc.reason)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"invalid credentials ({exc.reason})", challenge) from exc
    if person is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "sign in: send 'Authorization: Bearer TOKEN' (see `compound token`) or log in at /login",
            challenge,
        )
    return person


CurrentUser = Annotated[Person, Depends(_current_user)]
"""The signed-in person; 401 when no valid token or session is sent."""


def _still_signed_in(
    context: Context,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[str | None, Depends(_cookie)],
) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return person_from_request(context, bearer, session) is not None
        except InvalidToken as exc:
            log.info("credential of an open stream no longer valid: %s", exc.reason)
            return False

    return check


StillSignedIn = Annotated[Callable[[], bool], Depends(_still_signed_in)]
"""Re-checks the request's credential (revoked, expired, person removed) for long-lived responses."""

OptionalUser = Annotated[Person | None, Depends(_optional_user)]
"""The signed-in person, or ``None`` (pages redirect to the login page instead of answering 401)."""


def _audit(request: Request, context: Context, user: CurrentUser) -> AuditTrail:
    return AuditTrail(context.account_store, user.id, client_address(request))


Audit = Annotated[AuditTrail, Depends(_audit)]
"""The audit log, for the signed-in person and their client address."""
