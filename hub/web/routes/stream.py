"""``GET /api/v1/alarms/stream``: alarm changes pushed live as server-sent events, filtered per person."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from hub.alarms.schemas import AlarmChange
from hub.web.deps import Context, CurrentUser, StillSignedIn
from hub.web.permissions import Viewer

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])

RETRY_MS = 2000
"""How soon a browser's EventSource reconnects after the stream drops."""

RECHECK_S = 5.0
"""How often (at most) an open stream re-checks its credential before sending a change: a revoked token, or a
person removed from people.yaml, gets nothing more and the stream ends."""


async def _next_change(queue: asyncio.Queue[AlarmChange], stopping: asyncio.Event) -> AlarmChange | None:
    """The next change, or ``None`` once the server is stopping."""
    if stopping.is_set():
        return None
    getter = asyncio.ensure_future(queue.get())
    stopper = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not getter.done():
            getter.cancel()
    return getter.result() if getter.done() and not getter.cancelled() else None


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={
        200: {"description": "`event: alarm` with an `AlarmChange` JSON per change (the alarm after it, and what)."}
    },
)
async def stream(
    user: CurrentUser,
    context: Context,
    still_signed_in: StillSignedIn,
    mine: Annotated[bool, Query(description="Only alarms assigned to me or in my own grids")] = False,
) -> AsyncIterator[ServerSentEvent]:
    """Every change to an alarm the caller may see, as it happens (EventSource-compatible)."""
    viewer = Viewer.of(user, context.compound)
    changes = context.service.changes
    queue = changes.subscribe()
    log.info("live stream opened for %s (%d subscribers)", user.id, changes.subscribers)
    checked_at = time.monotonic()
    try:
        yield ServerSentEvent(comment="live", retry=RETRY_MS)
        while (change := await _next_change(queue, context.stopping)) is not None:
            alarm = change.alarm
            if not viewer.sees(alarm) or (mine and not viewer.owns(alarm)):
                continue
            if time.monotonic() - checked_at >= RECHECK_S:
                if not await asyncio.to_thread(still_signed_in):
                    log.info("live stream of %s ended: credential no longer valid", user.id)
                    break
                checked_at = time.monotonic()
            # JSON by pydantic's serializer: a dict would go through jsonable_encoder (~30x slower).
            yield ServerSentEvent(
                event="alarm", id=f"{alarm.id}-{alarm.updated_at.timestamp():.6f}", raw_data=change.model_dump_json()
            )
    finally:
        changes.unsubscribe(queue)
        log.info("live stream closed for %s", user.id)
