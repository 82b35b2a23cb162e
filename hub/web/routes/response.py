"""The response after acknowledging: on my way, on site (with a photo), what was sent for an alarm, silences."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Body, File, Form, HTTPException, UploadFile, status

from compound.config.models import Role
from hub.notify.records import (
    NotificationRecord,
    SilenceCreate,
    SilencePublic,
    add_photo,
    cancel_silence,
    create_silence,
    list_silences,
    notification_record,
    photo_type,
)
from hub.web.accounts import AuditAction
from hub.web.deps import Audit, CompoundDep, CurrentUser, Service
from hub.web.limits import MAX_PHOTO_BYTES
from hub.web.permissions import Viewer
from hub.web.routes.alarms import perform
from hub.web.schemas import AcknowledgeRequest, AlarmDetailView, Note

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["alarms"])

_NOT_FOUND = {"description": "No such alarm, or it is outside the caller's grids (existence is not revealed)."}
_UNAUTHORIZED = {"description": "No valid token or session."}
_SILENCERS = frozenset({Role.PROPERTY_MANAGER, Role.GRID_LEADER, Role.FULL_TIME_GRID_WORKER})
"""Who may silence: managers and grid leaders (a silence hides alarms from the people on duty)."""


def _not_found(alarm_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"alarm {alarm_id} not found")


@router.post(
    "/alarms/{alarm_id}/on-my-way",
    response_model=AlarmDetailView,
    responses={401: _UNAUTHORIZED, 404: _NOT_FOUND, 409: {"description": "Not in a state to set out for."}},
)
def on_my_way(
    alarm_id: int,
    user: CurrentUser,
    service: Service,
    compound: CompoundDep,
    audit: Audit,
    body: Annotated[AcknowledgeRequest | None, Body()] = None,
) -> AlarmDetailView:
    """The caller is going there (acknowledging first when nobody has)."""
    note = body.note if body is not None and body.note else None
    return perform(service.on_my_way, alarm_id, note, user, compound, audit, AuditAction.ON_MY_WAY)


@router.post(
    "/alarms/{alarm_id}/on-site",
    response_model=AlarmDetailView,
    responses={
        401: _UNAUTHORIZED,
        404: _NOT_FOUND,
        409: {"description": "Resolved already."},
        413: {"description": "Photo larger than 5 MiB."},
        415: {"description": "Photo is not a JPEG or PNG."},
    },
)
async def on_site(
    alarm_id: int,
    user: CurrentUser,
    service: Service,
    compound: CompoundDep,
    audit: Audit,
    note: Annotated[Note | None, Form()] = None,
    photo: Annotated[UploadFile | None, File(description="JPEG or PNG, at most 5 MiB.")] = None,
) -> AlarmDetailView:
    """Someone is at the place, optionally with a photo: the on-site clock of fire and gas stops."""
    data = b""
    content_type = None
    if photo is not None:
        data = await photo.read(MAX_PHOTO_BYTES + 1)
        if len(data) > MAX_PHOTO_BYTES:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"photo is larger than {MAX_PHOTO_BYTES} bytes")
        content_type = photo_type(data)
        if data and content_type is None:
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "photo must be a JPEG or PNG image")
    photo_note = f"photo {len(data)} bytes" if data else None
    view = perform(service.on_site, alarm_id, note, user, compound, audit, AuditAction.ON_SITE, detail=photo_note)
    if data and content_type is not None:  # only once the step is taken: a refused step keeps no photo
        add_photo(service.db, alarm_id, user.id, data, content_type, service.clock.now())
    return view


@router.get(
    "/alarms/{alarm_id}/notifications",
    response_model=NotificationRecord,
    responses={401: _UNAUTHORIZED, 404: _NOT_FOUND},
)
def notifications(alarm_id: int, user: CurrentUser, service: Service, compound: CompoundDep) -> NotificationRecord:
    """Every notification job of the alarm with each delivery attempt, and its escalation steps."""
    viewer = Viewer.of(user, compound)
    if service.get_alarm(alarm_id, grids=viewer.grid_set) is None:
        raise _not_found(alarm_id)
    return notification_record(service.db, alarm_id)


@router.get("/silences", response_model=list[SilencePublic], responses={401: _UNAUTHORIZED})
def silences(user: CurrentUser, service: Service, active: bool = False) -> list[SilencePublic]:
    """Silences, newest first (``active``: only those in force now)."""
    return list_silences(service.db, active_at=service.clock.now() if active else None)


@router.post(
    "/silences",
    response_model=SilencePublic,
    status_code=status.HTTP_201_CREATED,
    responses={401: _UNAUTHORIZED, 403: {"description": "Only managers and grid leaders silence."}},
)
def add_silence(body: SilenceCreate, user: CurrentUser, service: Service, audit: Audit) -> SilencePublic:
    """Stop pushing matching alarms for a while (they are stored and shown). Fire and gas are never silenced;
    ``drill: true`` marks matching alarms as drills instead (pushed marked 演练, kept out of the metrics)."""
    if user.role not in _SILENCERS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only property managers and grid leaders may silence alarms")
    silence = create_silence(service.db, body, user.id, service.clock.now())
    audit.record(AuditAction.SILENCE, f"silence:{silence.id}", detail=body.reason[:200])
    return silence


@router.delete(
    "/silences/{silence_id}",
    response_model=SilencePublic,
    responses={
        401: _UNAUTHORIZED,
        403: {"description": "Only managers and grid leaders."},
        404: {"description": "No such silence."},
    },
)
def end_silence(silence_id: int, user: CurrentUser, service: Service, audit: Audit) -> SilencePublic:
    """End a silence now."""
    if user.role not in _SILENCERS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only property managers and grid leaders may end a silence")
    silence = cancel_silence(service.db, silence_id, service.clock.now())
    if silence is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"silence {silence_id} not found")
    audit.record(AuditAction.SILENCE_END, f"silence:{silence_id}")
    return silence
