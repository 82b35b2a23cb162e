"""The console pages: ``/`` (alarm console), ``/worker`` (phone page), ``/devices/{id}``, ``/metrics``; sign-in
required."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.web.assets import STATES_JS, STATES_JS_PATH, page
from hub.web.deps import OptionalUser

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _page(name: str, user: OptionalUser, request: Request) -> HTMLResponse | RedirectResponse:
    if user is None:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status.HTTP_303_SEE_OTHER)
    return page(name)


@router.get("/", response_class=HTMLResponse, response_model=None)
def console(user: OptionalUser, request: Request) -> HTMLResponse | RedirectResponse:
    """The property manager's live alarm console."""
    return _page("console.html", user, request)


@router.get("/worker", response_class=HTMLResponse, response_model=None)
def worker(user: OptionalUser, request: Request) -> HTMLResponse | RedirectResponse:
    """The grid worker's phone page: only their alarms, live, with the same actions."""
    return _page("worker.html", user, request)


@router.get("/dead-letters", response_class=HTMLResponse, response_model=None)
def dead_letters(user: OptionalUser, request: Request) -> HTMLResponse | RedirectResponse:
    """Messages the hub refused and why (the data itself is for property managers only)."""
    return _page("dead-letters.html", user, request)


@router.get("/metrics", response_class=HTMLResponse, response_model=None)
def metrics(user: OptionalUser, request: Request) -> HTMLResponse | RedirectResponse:
    """响应统计: response times per grid and worker over a period, with a CSV export (figures of visible grids)."""
    return _page("metrics.html", user, request)


@router.get("/siteplan", response_class=HTMLResponse, response_model=None)
def siteplan(user: OptionalUser, request: Request) -> HTMLResponse | RedirectResponse:
    """平面图: the compound drawn from its config, live alarm markers, a building's floors, a flat."""
    return _page("siteplan.html", user, request)


@router.get("/device-health", response_class=HTMLResponse, response_model=None)
def device_health(user: OptionalUser, request: Request) -> HTMLResponse | RedirectResponse:
    """设备状态: devices offline, low on battery, stuck, noisy or stale, per building and type; CSV export."""
    return _page("device-health.html", user, request)


@router.get("/history", response_class=HTMLResponse, response_model=None)
def history(user: OptionalUser, request: Request) -> HTMLResponse | RedirectResponse:
    """历史告警: alarms searched by time, place, kind, state and person, paged on the server."""
    return _page("history.html", user, request)


@router.get("/devices/{device_id}", response_class=HTMLResponse, response_model=None)
def device(device_id: str, user: OptionalUser, request: Request) -> HTMLResponse | RedirectResponse:
    """A device's recent history (1 h, 24 h, 7 d); the page asks the API, which applies the grid rules."""
    return _page("device.html", user, request)


@router.get(STATES_JS_PATH, response_class=Response)
def states_module() -> Response:
    """The alarm states for the console's scripts, generated from the enum; public like the other static files.

    This router is included before the ``/static`` mount, so this path is answered here, not looked up on disk.
    """
    return Response(STATES_JS, media_type="text/javascript")
