"""Sign-in and identity: the login page, the session cookie, logout, and ``GET /api/v1/me``."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Query, status
from fastapi.responses import HTMLResponse, RedirectResponse

from compound.config import Compound
from hub.web.assets import page
from hub.web.auth import SESSION_COOKIE, InvalidToken
from hub.web.context import WebContext
from hub.web.deps import Context, CurrentUser
from hub.web.permissions import Viewer
from hub.web.schemas import CompoundPublic, Directory, GridPublic, MePublic, PersonPublic

__all__ = ["router", "safe_next"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["accounts"])


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else (another site, ``//host``) becomes ``/``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _sign_in(context: WebContext, token: str, target: str) -> RedirectResponse:
    """Verify a token; on success set a fresh session cookie and go to ``target``, else back to the form."""
    try:
        person = context.signer.person(token.strip(), context.compound)
    except InvalidToken as exc:
        log.info("login refused: %s", exc.reason)
        url = f"/login?error={exc.reason}" + (f"&next={target}" if target != "/" else "")
        return RedirectResponse(url, status.HTTP_303_SEE_OTHER)
    session = context.signer.issue(person.id, context.session_ttl_s)
    response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=int(context.session_ttl_s),
        httponly=True,
        samesite="strict",
        secure=context.cookie_secure,
        path="/",
    )
    log.info("%s signed in to the console", person.id)
    return response


@router.get("/login", response_class=HTMLResponse, response_model=None, include_in_schema=False)
def login_page(
    context: Context,
    token: Annotated[str | None, Query(max_length=4096)] = None,
    next: Annotated[str | None, Query(max_length=2048)] = None,
) -> HTMLResponse | RedirectResponse:
    """The login form, or (with ``?token=``) sign in at once: the link ``compound up`` prints."""
    if token:
        return _sign_in(context, token, safe_next(next))
    return page("login.html")


@router.post("/login", response_model=None, include_in_schema=False)
def login(
    context: Context,
    token: Annotated[str, Form(max_length=4096)],
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> RedirectResponse:
    """Sign in with a pasted token; sets an HttpOnly, SameSite=Strict session cookie."""
    return _sign_in(context, token, safe_next(next))


@router.post("/logout", include_in_schema=False)
def logout() -> RedirectResponse:
    """Forget the session cookie and go back to the login page."""
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _directory(compound: Compound) -> Directory:
    grids = compound.grids
    entries = [GridPublic(id=grids.total.id, name=grids.total.name, level="total")]
    entries += [GridPublic(id=g.id, name=g.name, level="general", parents=[grids.total.id]) for g in grids.general]
    entries += [
        GridPublic(id=g.id, name=g.name, level="micro", parents=[g.general, grids.total.id]) for g in grids.micro
    ]
    entries += [GridPublic(id=g.id, name=g.name, level="dedicated", parents=[grids.total.id]) for g in grids.dedicated]
    buildings = {b.id: b.name for b in compound.buildings} | {s.id: s.name for s in compound.compound.sites}
    return Directory(
        people={
            p.id: PersonPublic(id=p.id, name=p.name, role=p.role.value, grids=list(p.grids))
            for p in compound.people_file.people
        },
        grids={g.id: g for g in entries},
        buildings=buildings,
    )


@router.get("/api/v1/me", response_model=MePublic, responses={401: {"description": "No valid token or session."}})
def me(user: CurrentUser, context: Context) -> MePublic:
    """Who is signed in, which grids they see, and the names of people, grids and buildings."""
    compound = context.compound
    viewer = Viewer.of(user, compound)
    directory = _directory(compound)
    visible = list(directory.grids) if viewer.grids is None else [g for g in directory.grids if g in viewer.grids]
    return MePublic(
        person=PersonPublic(id=user.id, name=user.name, role=user.role.value, grids=list(user.grids)),
        compound=CompoundPublic(id=compound.id, name=compound.name, timezone=compound.compound.compound.timezone),
        visible_grids=visible,
        all_grids=viewer.grids is None,
        can_read_dead_letters=viewer.can_read_dead_letters,
        directory=directory,
    )
