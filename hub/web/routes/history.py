"""``GET /api/v1/history/alarms``: alarms searched by time range, place, kind, severity, state and person, paged
on the server (``total`` and one page, newest first), within the caller's grids.

Times without an offset are read in the compound's time zone (as the 响应统计 page does). ``person`` matches
alarms the person was routed to or acted on (acknowledged, on my way, on site, resolved).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import selectinload

from compound.config import Compound
from compound.wire import EventKind, Severity
from hub.alarm_states import OPEN_STATES, StateFilter
from hub.alarms import lifecycle
from hub.alarms.schemas import AlarmPublic
from hub.db import Alarm, AlarmAssignee, AlarmHistory
from hub.web.deps import CompoundDep, CurrentUser, Service
from hub.web.permissions import Viewer
from hub.web.times import query_time

__all__ = ["AlarmPage", "router"]

router = APIRouter(prefix="/api/v1/history", tags=["alarms"])

MAX_PAGE: Final = 200
_ID = Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


class AlarmPage(BaseModel):
    """One page of a search: how many alarms match in all, and this page of them, newest first."""

    total: int = Field(description="Alarms matching the search (every page).")
    offset: int
    limit: int
    items: list[AlarmPublic]


def _local(at: datetime | None, compound: Compound) -> datetime | None:
    return None if at is None else query_time(at, compound)


@router.get(
    "/alarms",
    response_model=AlarmPage,
    responses={401: {"description": "No valid token or session."}, 422: {"description": "A bad filter."}},
)
def search_alarms(
    user: CurrentUser,
    compound: CompoundDep,
    service: Service,
    start: Annotated[datetime | None, Query(alias="from", description="Raised at or after (no offset: local)")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="Raised before (no offset: local)")] = None,
    building: Annotated[str | None, _ID] = None,
    unit: Annotated[str | None, _ID] = None,
    flat: Annotated[str | None, Query(pattern=r"^[0-9]{3,5}$")] = None,
    kind: Annotated[EventKind | None, Query()] = None,
    severity: Annotated[Severity | None, Query()] = None,
    state: Annotated[StateFilter | None, Query(description="A state, or 'open'")] = None,
    person: Annotated[str | None, _ID] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> AlarmPage:
    """Alarms matching every filter given, newest first, one page at a time."""
    viewer = Viewer.of(user, compound)
    frm, to = _local(start, compound), _local(end, compound)
    if frm is not None and to is not None and to <= frm:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "'to' must be after 'from'")
    conditions: list[ColumnElement[bool]] = []
    if viewer.grids is not None:
        conditions.append(Alarm.grid.in_(viewer.grids))
    if frm is not None:
        conditions.append(Alarm.raised_at >= frm)
    if to is not None:
        conditions.append(Alarm.raised_at < to)
    for column, value in ((Alarm.building, building), (Alarm.unit, unit), (Alarm.flat, flat)):
        if value is not None:
            conditions.append(column == value)
    if kind is not None:
        conditions.append(Alarm.kind == kind.value)
    if severity is not None:
        conditions.append(Alarm.severity == severity.value)
    if state is not None:
        if state.value == "open":
            conditions.append(Alarm.state.in_(OPEN_STATES))
        elif state.value == "cleared":
            conditions.append(Alarm.cleared_at.is_not(None))
            conditions.append(Alarm.state.in_(OPEN_STATES))
        else:
            conditions.append(Alarm.state == state.value)
    if person is not None:
        routed = select(AlarmAssignee.alarm_id).where(AlarmAssignee.person_id == person)
        acted = select(AlarmHistory.alarm_id).where(AlarmHistory.actor == person)
        conditions.append(or_(Alarm.id.in_(routed), Alarm.id.in_(acted)))
    count = select(func.count(Alarm.id)).where(*conditions)
    page = (
        select(Alarm)
        .options(selectinload(Alarm.assignees))
        .where(*conditions)
        .order_by(Alarm.id.desc())
        .offset(offset)
        .limit(limit)
    )
    with service.db.session() as session:
        total = int(session.scalar(count) or 0)
        items = [lifecycle.to_public(a) for a in session.scalars(page)]
    return AlarmPage(total=total, offset=offset, limit=limit, items=items)
