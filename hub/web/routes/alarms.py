"""``/api/v1/alarms``: list, read, acknowledge and resolve alarms, within the caller's grids."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from compound.config import Compound
from compound.config.models import Person
from compound.wire import EventKind, Severity
from hub.alarm_states import StateFilter
from hub.alarms.paging import Cursor, CursorError, ListOrder, segment_of
from hub.alarms.schemas import AlarmDetail, AlarmPublic
from hub.errors import AlarmNotFound, InvalidTransition, NoteRequired
from hub.web.accounts import AuditAction
from hub.web.deps import Audit, AuditTrail, CompoundDep, CurrentUser, Service
from hub.web.permissions import Viewer
from hub.web.schemas import AcknowledgeRequest, AlarmDetailView, HouseholdPublic, ResolveRequest

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])

_NOT_FOUND = {"description": "No such alarm, or it is outside the caller's grids (existence is not revealed)."}
_UNAUTHORIZED = {"description": "No valid token or session."}


def view_of(detail: AlarmDetail, viewer: Viewer, compound: Compound) -> AlarmDetailView:
    """The detail with the household attached only when the viewer is responsible for the flat."""
    household = None
    loc = detail.location
    if loc.unit is not None and loc.flat is not None and viewer.responsible_for_flat(detail, compound):
        found = compound.household(loc.building, loc.unit, loc.flat)
        household = HouseholdPublic.of(found) if found is not None else None
    escalation = compound.escalation
    return AlarmDetailView(
        **detail.model_dump(),
        household=household,
        plan=list(escalation.plans.get(detail.kind, ())),
        resources=escalation.resources_for(loc.building, loc.unit),
    )


def _not_found(alarm_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"alarm {alarm_id} not found")


NEXT_CURSOR_HEADER = "X-Next-Cursor"
"""Response header naming the cursor of the next page (absent on the last page)."""


@router.get(
    "",
    response_model=list[AlarmPublic],
    responses={
        200: {"headers": {NEXT_CURSOR_HEADER: {"description": "?cursor= of the next page; absent on the last page."}}},
        401: _UNAUTHORIZED,
        422: {"description": "A bad filter or a cursor no page handed out."},
    },
)
def list_alarms(
    user: CurrentUser,
    service: Service,
    compound: CompoundDep,
    response: Response,
    state: Annotated[
        StateFilter | None, Query(description="A lifecycle state, or 'open' (not resolved), 'cleared' (device cleared)")
    ] = None,
    severity: Annotated[Severity | None, Query()] = None,
    kind: Annotated[EventKind | None, Query()] = None,
    grid: Annotated[str | None, Query(description="A grid id; includes the grids under it")] = None,
    mine: Annotated[bool, Query(description="Only alarms assigned to me or in my own grids")] = False,
    order: Annotated[
        ListOrder, Query(description="'newest': by id; 'attention': open, then critical/warning/info, newest first")
    ] = ListOrder.NEWEST,
    cursor: Annotated[
        str | None, Query(max_length=24, description="The previous page's X-Next-Cursor: the page after it")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlarmPublic]:
    """Alarms the caller may see, one page in ``order``, filtered by state, severity, kind and grid (keyset paging:
    the ``X-Next-Cursor`` header names the next page)."""
    viewer = Viewer.of(user, compound)
    try:
        after = Cursor.parse(cursor, order) if cursor is not None else None
    except CursorError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    # "mine" is a subset of what the caller sees; fetch more so that the limit applies after filtering (the next
    # cursor follows the last row fetched, so a short page is not the last one).
    page = service.page_alarms(
        order=order,
        after=after,
        state=state,
        severity=severity.value if severity else None,
        kind=kind.value if kind else None,
        grid=grid,
        grids=viewer.grid_set,
        limit=limit if not mine else min(limit * 5, 5000),
    )
    items, after = page.items, page.next
    if mine:
        items = [a for a in items if viewer.owns(a)]
        if len(items) > limit:
            items, last = items[:limit], items[limit - 1]
            after = Cursor(segment_of(last.state, last.severity, order), last.id)
    if after is not None:
        response.headers[NEXT_CURSOR_HEADER] = str(after)
    return items


class AlarmSummary(BaseModel):
    """The console's counters over every alarm the caller may see (not one page of them)."""

    open: int = Field(description="Alarms not yet resolved.")
    critical: int = Field(description="Open critical alarms.")
    unacknowledged: int = Field(description="Open alarms nobody has acknowledged yet.")


@router.get("/summary", response_model=AlarmSummary, responses={401: _UNAUTHORIZED})
def alarm_summary(user: CurrentUser, service: Service, compound: CompoundDep) -> AlarmSummary:
    """How many alarms are open, open and critical, and waiting for an acknowledgement, within the caller's grids."""
    return AlarmSummary(**service.summary(grids=Viewer.of(user, compound).grid_set))


@router.get("/{alarm_id}", response_model=AlarmDetailView, responses={401: _UNAUTHORIZED, 404: _NOT_FOUND})
def get_alarm(alarm_id: int, user: CurrentUser, service: Service, compound: CompoundDep) -> AlarmDetailView:
    """One alarm with its history, events, routing decision and (for those responsible) the household."""
    viewer = Viewer.of(user, compound)
    detail = service.get_alarm(alarm_id, grids=viewer.grid_set)
    if detail is None:
        raise _not_found(alarm_id)
    return view_of(detail, viewer, compound)


@router.post(
    "/{alarm_id}/acknowledge",
    response_model=AlarmDetailView,
    responses={401: _UNAUTHORIZED, 404: _NOT_FOUND, 409: {"description": "Already acknowledged or resolved."}},
)
def acknowledge(
    alarm_id: int,
    user: CurrentUser,
    service: Service,
    compound: CompoundDep,
    audit: Audit,
    body: Annotated[AcknowledgeRequest | None, Body()] = None,
) -> AlarmDetailView:
    """Take the alarm on (raised or notified → acknowledged), with an optional note."""
    note = body.note if body is not None and body.note else None
    return perform(service.acknowledge, alarm_id, note, user, compound, audit, AuditAction.ACKNOWLEDGE)


@router.post(
    "/{alarm_id}/resolve",
    response_model=AlarmDetailView,
    responses={
        401: _UNAUTHORIZED,
        404: _NOT_FOUND,
        409: {"description": "Already resolved."},
        422: {"description": "The note is missing or empty."},
    },
)
def resolve(
    alarm_id: int, body: ResolveRequest, user: CurrentUser, service: Service, compound: CompoundDep, audit: Audit
) -> AlarmDetailView:
    """Close the alarm with a note saying what was found and done."""
    return perform(service.resolve, alarm_id, body.note, user, compound, audit, AuditAction.RESOLVE)


def perform(
    action: Callable[..., AlarmDetail],
    alarm_id: int,
    note: str | None,
    user: Person,
    compound: Compound,
    audit: AuditTrail,
    audited: str,
    *,
    detail: str | None = None,
) -> AlarmDetailView:
    """Run a person's action (``service.acknowledge`` …) on an alarm within their grids: 404 outside them or
    missing, 409 for a step the alarm's state does not allow, 422 for a missing note; audit it; the view."""
    viewer = Viewer.of(user, compound)
    try:
        done = action(alarm_id, user.id, note, grids=viewer.grid_set)
    except AlarmNotFound:
        raise _not_found(alarm_id) from None
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except NoteRequired as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    audit.record(audited, f"alarm:{alarm_id}", detail=detail)
    return view_of(done, viewer, compound)
