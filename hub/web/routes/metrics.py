"""``/api/v1/metrics/response`` (JSON) and ``/api/v1/metrics/response.csv``: response times per grid and worker.

What the figures mean is written once, in ``hub.notify.metrics``. A person sees the figures of the grids they
see (``Viewer``): a micro-grid worker their grids, a grid leader theirs and those under them, others all; the
per-worker rows are computed from those alarms only. The CSV export is written to the audit log.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response

from compound.config import Compound
from hub.alarms.access import grid_and_descendants
from hub.notify.metrics import ResponseReport, ResponseRow, response_metrics
from hub.web.accounts import AuditAction
from hub.web.deps import Audit, CompoundDep, CurrentUser, Service
from hub.web.permissions import Viewer
from hub.web.times import query_time

__all__ = ["CSV_COLUMNS", "router"]

router = APIRouter(prefix="/api/v1/metrics", tags=["alarms"])

DEFAULT_PERIOD: Final = timedelta(days=7)
LONGEST_PERIOD: Final = timedelta(days=400)

CSV_COLUMNS: Final = ("scope", *ResponseRow.model_fields)
"""The CSV's header: ``scope`` (total, grid, worker), then every field of a row."""

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "No valid token or session."},
    422: {"description": "from is not before to, the period is over 400 days, or the grid is unknown."},
}

_FROM = Query(alias="from", description="Alarms raised at or after this time (no offset: the compound's time zone).")
_TO = Query(alias="to", description="...and before this one; default now, and from a week before.")
_GRID = Query(max_length=64, description="A grid id: that grid and the grids under it.")


def _aware(at: datetime, compound: Compound) -> datetime:
    return query_time(at, compound)


def _report(
    service: Service,
    compound: Compound,
    user: CurrentUser,
    start: datetime | None,
    end: datetime | None,
    grid: str | None,
) -> ResponseReport:
    end = _aware(end, compound) if end is not None else service.clock.now()
    start = _aware(start, compound) if start is not None else end - DEFAULT_PERIOD
    if start >= end:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "from must be before to")
    if end - start > LONGEST_PERIOD:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"a period of at most {LONGEST_PERIOD.days} days")
    grids = Viewer.of(user, compound).grid_set
    if grid is not None:
        if grid not in _all_grids(compound):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown grid {grid!r}")
        wanted = grid_and_descendants(compound, grid)
        grids = wanted if grids is None else grids & wanted
    return response_metrics(service.db, compound, start, end, grids=grids, grid=grid)


def _all_grids(compound: Compound) -> set[str]:
    g = compound.grids
    return {g.total.id} | {x.id for x in g.general} | {x.id for x in g.micro} | {x.id for x in g.dedicated}


@router.get("/response", response_model=ResponseReport, responses=_ERRORS)
def response(
    user: CurrentUser,
    service: Service,
    compound: CompoundDep,
    start: Annotated[datetime | None, _FROM] = None,
    end: Annotated[datetime | None, _TO] = None,
    grid: Annotated[str | None, _GRID] = None,
) -> ResponseReport:
    """Time to acknowledge, to on site and to resolve (p50, p90) and the shares acknowledged within level 1, on
    site within the policy and closed within 24 h, per grid and per worker; drills counted apart."""
    return _report(service, compound, user, start, end, grid)


@router.get(
    "/response.csv",
    response_class=Response,
    responses={**_ERRORS, 200: {"content": {"text/csv": {}}, "description": "One row per total, grid, worker."}},
)
def response_csv(
    user: CurrentUser,
    service: Service,
    compound: CompoundDep,
    audit: Audit,
    start: Annotated[datetime | None, _FROM] = None,
    end: Annotated[datetime | None, _TO] = None,
    grid: Annotated[str | None, _GRID] = None,
) -> Response:
    """The same figures as CSV (UTF-8 with a byte-order mark, so that spreadsheet programs read the Chinese)."""
    report = _report(service, compound, user, start, end, grid)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    scoped = [("total", report.total)] + [("grid", r) for r in report.grids] + [("worker", r) for r in report.workers]
    for scope, row in scoped:
        writer.writerow([scope, *(_cell(v) for v in row.model_dump().values())])
    period = f"{report.start.isoformat()}/{report.end.isoformat()}"
    audit.record(AuditAction.EXPORT, "metrics:response", f"{period} grid={grid or '*'} rows={len(scoped)}")
    name = f"response-{report.start:%Y%m%d}-{report.end:%Y%m%d}.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if not value.is_integer() else str(int(value))
    return str(value)
