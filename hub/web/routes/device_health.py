"""``/api/v1/device-health`` (JSON), ``.csv`` and ``/edges``: devices online, offline, dying, stuck, noisy, stale.

The rules are ``hub.web.device_health``'s; a person sees the devices of the grids they see. ``/edges`` is the
small poll behind the console's "edge offline" banner.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Final

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import func, select

from hub.db import DeviceSeen, EdgeRecord, EventRecord
from hub.web.accounts import AuditAction
from hub.web.deps import Audit, CompoundDep, CurrentUser, Service
from hub.web.device_health import PROBLEMS, EdgeHealth, EdgeSeen, HealthReport, Status, health_report
from hub.web.permissions import Viewer

__all__ = ["CSV_COLUMNS", "router"]

router = APIRouter(prefix="/api/v1/device-health", tags=["devices"])

OPEN_LIMIT: Final = 5000

CSV_COLUMNS: Final = (
    "id", "type", "building", "unit", "floor", "flat", "place", "grid", "status", "problems", "value", "since",
    "last_report_at", "alarm_ids",
)  # fmt: skip


def _report(user: CurrentUser, compound: CompoundDep, service: Service) -> HealthReport:
    viewer = Viewer.of(user, compound)
    with service.db.session() as session:
        edges = [
            EdgeSeen(edge=e.edge, status=e.status, last_seen_at=e.last_seen_at)
            for e in session.scalars(select(EdgeRecord))
        ]
        last_events: dict[str, datetime] = {
            row[0]: row[1]
            for row in session.execute(
                select(EventRecord.device, func.max(EventRecord.received_at)).group_by(EventRecord.device)
            )
        }
        device_seen: dict[str, datetime] = {
            row[0]: row[1] for row in session.execute(select(DeviceSeen.device, DeviceSeen.last_at))
        }
    return health_report(
        compound,
        device_seen=device_seen,
        now=service.clock.now(),
        edges=edges,
        open_alarms=service.list_alarms(state="open", grids=viewer.grid_set, limit=OPEN_LIMIT),
        last_events=last_events,
        grids=viewer.grids,
    )


@router.get("", response_model=HealthReport, responses={401: {"description": "No valid token or session."}})
def device_health(user: CurrentUser, compound: CompoundDep, service: Service) -> HealthReport:
    """Every visible device's health, counts per building and type, and the edges."""
    return _report(user, compound, service)


@router.get("/edges", response_model=list[EdgeHealth], responses={401: {"description": "No valid token or session."}})
def edge_health(user: CurrentUser, compound: CompoundDep, service: Service) -> list[EdgeHealth]:
    """The edges and whether each is offline (for the console's banner)."""
    return _report(user, compound, service).edges


@router.get(
    ".csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "One row per device with a problem."},
        401: {"description": "No valid token or session."},
    },
)
def device_health_csv(
    user: CurrentUser,
    compound: CompoundDep,
    service: Service,
    audit: Audit,
    include_online: Annotated[
        bool, Query(alias="all", description="Every device, not only those with a problem")
    ] = False,
    status_filter: Annotated[Status | None, Query(alias="status", description="Only this status")] = None,
) -> Response:
    """The maintenance list as CSV (UTF-8 with a BOM, for spreadsheet programs): worst problems first."""
    report = _report(user, compound, service)
    rank = {s: i for i, s in enumerate(PROBLEMS)}
    rows = [d for d in report.devices if include_online or d.problems]
    if status_filter is not None:
        rows = [d for d in rows if status_filter in d.problems or d.status == status_filter]
    rows.sort(key=lambda d: (rank.get(d.status, len(PROBLEMS)), d.building, d.unit or "", d.floor or 0, d.id))
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for d in rows:
        writer.writerow(
            [
                d.id, d.type, d.building, d.unit or "", "" if d.floor is None else d.floor, d.flat or "",
                d.place or "", d.grid, d.status, " ".join(d.problems), "" if d.value is None else d.value,
                d.since.isoformat() if d.since else "", d.last_report_at.isoformat() if d.last_report_at else "",
                " ".join(str(i) for i in d.alarm_ids),
            ]
        )  # fmt: skip
    audit.record(AuditAction.EXPORT, "device-health.csv")
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="device-health.csv"'},
    )
