"""``/api/v1/alarms/{id}/snapshot`` and ``/evidence``: a camera alarm's JPEG and detections, in the caller's grids."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from hub.alarms.schemas import AlarmDetail
from hub.snapshots import EvidenceView, evidence, latest_snapshot
from hub.web.deps import CompoundDep, CurrentUser, Service
from hub.web.permissions import Viewer

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])

_NOT_FOUND = {"description": "No such alarm or outside the caller's grids, or (snapshot) no JPEG stored for it yet."}
_UNAUTHORIZED = {"description": "No valid token or session."}


def _visible(alarm_id: int, user: CurrentUser, service: Service, compound: CompoundDep) -> AlarmDetail:
    detail = service.get_alarm(alarm_id, grids=Viewer.of(user, compound).grid_set)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alarm {alarm_id} not found")
    return detail


def _event_ids(detail: AlarmDetail) -> list[str]:
    return [e.id for e in detail.events]  # raised, updated and cleared events of the alarm


@router.get(
    "/{alarm_id}/snapshot",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "The JPEG, boxes drawn by the edge."},
        304: {"description": "Unchanged (If-None-Match)."},
        401: _UNAUTHORIZED,
        404: _NOT_FOUND,
    },
)
def snapshot(alarm_id: int, request: Request, user: CurrentUser, service: Service, compound: CompoundDep) -> Response:
    """The newest camera snapshot of the alarm's events (JPEG)."""
    detail = _visible(alarm_id, user, service, compound)
    found = latest_snapshot(service.db, _event_ids(detail))
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alarm {alarm_id} has no snapshot")
    etag = f'"{found.event_id}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(found.jpeg, media_type="image/jpeg", headers=headers)


@router.get("/{alarm_id}/evidence", response_model=EvidenceView, responses={401: _UNAUTHORIZED, 404: _NOT_FOUND})
def alarm_evidence(alarm_id: int, user: CurrentUser, service: Service, compound: CompoundDep) -> EvidenceView:
    """The alarm's snapshot (if stored) and the detections (class, score, box) of the event behind it."""
    detail = _visible(alarm_id, user, service, compound)
    return evidence(service.db, alarm_id, _event_ids(detail))
