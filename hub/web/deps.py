"""Dependencies of the routes, as ``Annotated`` aliases: the context, the service, the signed-in person."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from compound.config import Compound
from compound.config.models import Person
from hub.alarms.changes import AlarmChanges
from hub.alarms.service import AlarmService
from hub.web.auth import SESSION_COOKIE, InvalidToken
from hub.web.context import WebContext

__all__ = [
    "Changes",
    "CompoundDep",
    "Context",
    "CurrentUser",
    "OptionalUser",
    "Service",
    "get_context",
    "person_from_request",
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

    Raises ``InvalidToken`` when a credential is sent but cannot be trusted.
    """
    token = bearer.credentials if bearer is not None else session
    if not token:
        return None
    return context.signer.person(token, context.compound)


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

OptionalUser = Annotated[Person | None, Depends(_optional_user)]
"""The signed-in person, or ``None`` (pages redirect to the login page instead of answering 401)."""
