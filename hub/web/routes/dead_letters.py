"""``GET /api/v1/dead-letters``: messages the hub refused, with the reason (property managers only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from hub.alarms.schemas import DeadLetterPublic
from hub.web.deps import CompoundDep, CurrentUser, Service
from hub.web.permissions import Viewer

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead letters"])


@router.get(
    "",
    response_model=list[DeadLetterPublic],
    responses={401: {"description": "No valid token or session."}, 403: {"description": "Not a property manager."}},
)
def dead_letters(
    user: CurrentUser,
    service: Service,
    compound: CompoundDep,
    reason: Annotated[str | None, Query(max_length=32, description="Only this reason, e.g. not_json")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetterPublic]:
    """Refused messages, newest first: reason, topic, size and a printable preview of the payload."""
    if not Viewer.of(user, compound).can_read_dead_letters:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "dead letters are for property managers")
    return service.dead_letters(limit, reason=reason)
