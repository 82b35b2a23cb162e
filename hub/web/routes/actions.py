"""Action links from pushed messages: ``GET /a/<token>`` asks, ``POST /a/<token>`` does it, once.

IM apps and mail scanners fetch links to preview them, so a GET never acts: it shows what the link will do
(the alarm's kind and place, no personal data) and one button. The POST verifies the signature and expiry,
spends the link's id (a second use is refused, atomically across hub replicas) and then acknowledges, sets
out (on my way), or — for ``open`` — signs the person in and opens the alarm on the worker page.
"""

from __future__ import annotations

import html
import logging
from typing import Final

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from hub.errors import AlarmNotFound, InvalidTransition
from hub.notify.cards import KIND_LABELS
from hub.notify.links import Action, ActionClaims, ActionLinkError
from hub.web.accounts import AuditAction
from hub.web.auth import InvalidToken, TokenClaims, TokenUse
from hub.web.context import WebContext
from hub.web.deps import Context, client_address
from hub.web.permissions import Viewer
from hub.web.routes.auth import session_redirect

__all__ = ["TEXT", "router"]

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

TEXT: Final = {
    "ack": "确认接警",
    "on_my_way": "我在路上",
    "open": "打开告警",
    "unusable": "链接不可用",
    "used": "这个链接已经用过了",
    "acked": "已确认接警",
    "marked_on_my_way": "已标记：在路上",
    "not_found": "找不到告警",
    "not_found_body": "告警 {alarm} 不存在或不在你的网格内",
    "nothing_to_do": "无需操作",
    "maybe_taken": "（可能已有人确认）",
    "alarm": "告警 {alarm}",
    "alarm_at": "告警 {alarm}：{kind}（{where}）",
    "open_worker": "打开工作台",
    "unit": "{unit}单元",
    "flat": "{flat}室",
    "note_ack": "通过消息链接确认",
    "note_on_my_way": "通过消息链接",
}
"""Every word the page shows (Chinese: these links go to grid workers' phones); the browser tests check the page
against it, as the console's pages are checked against ``common.js``'s tables."""
_VIA_LINK: Final = {"key": "via_link"}
"""A step taken through a link, its history note as data (the console words it: 通过消息链接 / via a message link)."""
_VERBS: Final = {Action.ACK: TEXT["ack"], Action.ON_MY_WAY: TEXT["on_my_way"], Action.OPEN: TEXT["open"]}


def _page(title: str, body: str, code: int = 200) -> HTMLResponse:
    doc = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{html.escape(title)}</title><link rel="stylesheet" href="/static/app.css"></head>'
        f'<body class="action-page"><main class="action-card"><h1>{html.escape(title)}</h1>{body}</main></body></html>'
    )
    return HTMLResponse(doc, status_code=code, headers={"Cache-Control": "no-store"})


def _claims(context: WebContext, token: str) -> ActionClaims:
    if context.action_links is None:
        raise ActionLinkError("disabled", "this hub does not accept links from messages")
    claims = context.action_links.claims(token)
    if claims.person_id not in context.people_now:
        raise ActionLinkError("unknown_person", "this link's person is no longer on the staff list")
    return claims


def _what(context: WebContext, claims: ActionClaims) -> str:
    person = context.compound.people[claims.person_id]
    alarm = context.service.get_alarm(claims.alarm_id, grids=Viewer.of(person, context.compound).grid_set)
    if alarm is None:
        return TEXT["alarm"].format(alarm=claims.alarm_id)
    kind = KIND_LABELS.get(alarm.kind, (alarm.kind, alarm.kind))[0]
    loc = alarm.location
    names = {b.id: b.name for b in context.compound.buildings} | {s.id: s.name for s in context.compound.compound.sites}
    where = " ".join(
        [names.get(loc.building, loc.building)]
        + ([TEXT["unit"].format(unit=loc.unit.removeprefix("u"))] if loc.unit else [])
        + ([TEXT["flat"].format(flat=loc.flat)] if loc.flat else [])
    )
    return TEXT["alarm_at"].format(alarm=alarm.id, kind=kind, where=where)


@router.get("/a/{token}", response_class=HTMLResponse)
def ask(token: str, context: Context) -> HTMLResponse:
    """Show what the link does and one button; never act on a GET."""
    try:
        claims = _claims(context, token)
    except ActionLinkError as exc:
        return _page(TEXT["unusable"], f"<p>{html.escape(str(exc))}</p>", status.HTTP_400_BAD_REQUEST)
    verb = _VERBS[claims.action]
    body = (
        f"<p>{html.escape(_what(context, claims))}</p>"
        f'<form method="post" action="/a/{html.escape(token)}"><button type="submit" class="primary big">'
        f"{html.escape(verb)}</button></form>"
    )
    return _page(verb, body)


@router.post("/a/{token}", response_model=None)
def act(token: str, request: Request, context: Context) -> HTMLResponse | RedirectResponse:
    """Do what the link says, once."""
    try:
        claims = _claims(context, token)
        context.account_store.claim_login(
            TokenClaims(claims.person_id, claims.token_id, TokenUse.LOGIN, 0, claims.expires_at)
        )
    except (ActionLinkError, InvalidToken) as exc:
        reason = getattr(exc, "reason", "invalid")
        log.info("action link refused: %s", reason)
        text = TEXT["used"] if reason == "used" else str(exc)
        return _page(TEXT["unusable"], f"<p>{html.escape(text)}</p>", status.HTTP_400_BAD_REQUEST)
    person = context.compound.people[claims.person_id]
    client = client_address(request)
    context.account_store.record(
        person.id, AuditAction.ACTION_LINK, target=f"alarm:{claims.alarm_id}", client=client, detail=claims.action
    )
    if claims.action is Action.OPEN:
        return session_redirect(context, person.id, claims.token_id, f"/worker#alarm-{claims.alarm_id}")
    grids = Viewer.of(person, context.compound).grid_set
    try:
        if claims.action is Action.ACK:
            context.service.acknowledge(claims.alarm_id, person.id, TEXT["note_ack"], grids=grids, note_data=_VIA_LINK)
            done = TEXT["acked"]
        else:
            context.service.on_my_way(
                claims.alarm_id, person.id, TEXT["note_on_my_way"], grids=grids, note_data=_VIA_LINK
            )
            done = TEXT["marked_on_my_way"]
    except AlarmNotFound:
        body = f"<p>{TEXT['not_found_body'].format(alarm=claims.alarm_id)}</p>"
        return _page(TEXT["not_found"], body, status.HTTP_404_NOT_FOUND)
    except InvalidTransition as exc:
        return _page(
            TEXT["nothing_to_do"], f"<p>{html.escape(str(exc))}{TEXT['maybe_taken']}</p>", status.HTTP_409_CONFLICT
        )
    action = AuditAction.ACKNOWLEDGE if claims.action is Action.ACK else AuditAction.ON_MY_WAY
    context.account_store.record(person.id, action, target=f"alarm:{claims.alarm_id}", client=client, detail="link")
    return _page(
        done, f'<p>{html.escape(_what(context, claims))}</p><p><a href="/worker">{TEXT["open_worker"]}</a></p>'
    )
