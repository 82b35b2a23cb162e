"""Sign-in and identity: the login page, the session cookie, logout, and ``GET /api/v1/me``."""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Cookie, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from compound.config import Compound
from hub.web.accounts import AuditAction
from hub.web.assets import page
from hub.web.auth import SESSION_COOKIE, InvalidToken, TokenUse
from hub.web.context import WebContext
from hub.web.deps import Context, CurrentUser, SignInLimit, check_sign_in_limit, client_address, person_of
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


def _refused(context: WebContext, request: Request, reason: str, target: str) -> RedirectResponse:
    log.info("login refused: %s", reason)
    context.account_store.record("-", AuditAction.SIGN_IN_REFUSED, client=client_address(request), detail=reason)
    url = f"/login?error={reason}" + (f"&next={quote(target)}" if target != "/" else "")
    return RedirectResponse(url, status.HTTP_303_SEE_OTHER)


def _sign_in(
    context: WebContext, request: Request, token: str, target: str, *, accepted: frozenset[TokenUse]
) -> RedirectResponse:
    """Verify a token; on success set a fresh session cookie and go to ``target``, else back to the form.

    A login link's token is claimed in the database first, so it signs in once, in one browser, ever.
    The redirect drops the token from the address bar (and ``Referrer-Policy: no-referrer`` keeps it
    from leaking to any other site).
    """
    try:
        claims = context.signer.claims(token.strip())
        if claims.use not in accepted:
            raise InvalidToken("wrong_use", "this token cannot sign in here")
        person = person_of(context, claims)
        if claims.use is TokenUse.LOGIN:
            context.account_store.claim_login(claims)
    except InvalidToken as exc:
        return _refused(context, request, exc.reason, target)
    response = session_redirect(context, person.id, claims.token_id or None, target)
    how = "login link" if claims.use is TokenUse.LOGIN else "token"
    context.account_store.record(
        person.id, AuditAction.SIGN_IN, target=claims.token_id or None, client=client_address(request), detail=how
    )
    log.info("%s signed in to the console with a %s", person.id, how)
    return response


def session_redirect(context: WebContext, person_id: str, via: str | None, target: str) -> RedirectResponse:
    """A redirect to ``target`` that sets a fresh session cookie for ``person_id`` (``via``: the token exchanged)."""
    session = context.signer.issue(person_id, context.session_ttl_s, use=TokenUse.SESSION, via=via)
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
    response.headers["Cache-Control"] = "no-store"
    return response


_LINK_USES = frozenset({TokenUse.LOGIN})
_FORM_USES = frozenset({TokenUse.LOGIN, TokenUse.API})


@router.get("/login", response_class=HTMLResponse, response_model=None, include_in_schema=False)
def login_page(
    context: Context,
    request: Request,
    token: Annotated[str | None, Query(max_length=4096)] = None,
    next: Annotated[str | None, Query(max_length=2048)] = None,
) -> HTMLResponse | RedirectResponse:
    """The login form, or (with ``?token=``, a login link) sign in once and redirect to a clean URL."""
    if token:
        check_sign_in_limit(request, context)
        return _sign_in(context, request, token, safe_next(next), accepted=_LINK_USES)
    return page("login.html")


@router.post("/login", response_model=None, include_in_schema=False, dependencies=[SignInLimit])
def login(
    context: Context,
    request: Request,
    token: Annotated[str, Form(max_length=4096)],
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> RedirectResponse:
    """Sign in with a pasted token or login link token; sets an HttpOnly, SameSite=Strict session cookie."""
    return _sign_in(context, request, token, safe_next(next), accepted=_FORM_USES)


@router.post("/logout", include_in_schema=False)
def logout(
    context: Context,
    request: Request,
    session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
) -> RedirectResponse:
    """End the session server-side (its id is revoked), forget the cookie, go back to the login page."""
    if session:
        try:
            claims = context.signer.claims(session)
        except InvalidToken:
            pass
        else:
            if claims.use is TokenUse.SESSION and claims.token_id:
                context.account_store.revoke(claims.token_id, claims.person_id)
                context.account_store.record(
                    claims.person_id, AuditAction.SIGN_OUT, target=claims.token_id, client=client_address(request)
                )
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
