"""``GET /healthz``: no authentication; is the database reachable, are ingest and the other parts running."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from hub.web.deps import Context
from hub.web.schemas import HealthPublic

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
def healthz(context: Context, response: Response) -> HealthPublic:
    """``ok`` (200) or ``degraded`` (503) with the database and each background part's own report."""
    ok = True
    try:
        with context.service.db.session() as session:
            session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError as exc:
        log.warning("health check: database unreachable: %s", exc)
        database = f"error: {type(exc).__name__}"
        ok = False
    parts: dict[str, Any] = {}
    for name, source in context.health_sources.items():
        try:
            report = dict(source.health())
        except Exception as exc:  # a broken reporter must not break the health endpoint
            report = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        parts[name] = report
        ok = ok and bool(report.get("ok", True))
    for name, failure in context.failures.items():
        parts.setdefault(name, {})["ok"] = False
        parts[name]["error"] = failure
        ok = False
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return HealthPublic(status="ok" if ok else "degraded", database=database, parts=parts)
