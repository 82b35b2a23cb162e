"""Learning from the compound's own cameras: marks on camera alarms, shadow-model results, promoting a model.

- ``POST /api/v1/alarms/{id}/marks``: *correct* / *false* / *missed* (boxes) on a camera alarm's snapshot;
  managers, and grid workers answering for the alarm's grid. Audited (``mark``).
- ``GET /api/v1/alarms/{id}/marks``: the alarm's marks.
- ``GET /api/v1/shadow``: per camera, how a candidate in shadow mode agreed with the live model.
- ``GET /api/v1/models``, ``POST /api/v1/models/promote`` and ``/rollback`` (managers): the live detector
  version in ``<data-dir>/models`` (``compound.modelstore``); edges load it on their next start.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from compound.config.models import Person, Role
from compound.modelstore import ModelStore, ModelStoreError, ModelVersion, sha256_of
from hub.alarms.schemas import AlarmDetail
from hub.marks import MarkPublic, MarkRequest, add_mark, marks_of, may_mark
from hub.shadow import ShadowCameraSummary, ShadowEpisode, recent_episodes, shadow_summary
from hub.snapshots import evidence
from hub.web.accounts import AuditAction
from hub.web.assets import page
from hub.web.deps import Audit, CompoundDep, CurrentUser, OptionalUser, Service
from hub.web.permissions import Viewer

__all__ = ["CANDIDATES_DIR", "pages", "router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["learning"])
pages = APIRouter(include_in_schema=False)

CANDIDATES_DIR = "candidates"
"""Candidate models (``*.onnx``) the console may promote live in ``<data-dir>/models/candidates/``."""

MARKABLE_KINDS = frozenset({"ebike_in_lift", "fire_lane_blocked"})
"""Alarms the detector raised: their pictures can teach it (a thrown object is found by motion, not the model)."""

_UNAUTHORIZED = {"description": "No valid token or session."}
_NOT_FOUND = {"description": "No such alarm, or outside the caller's grids."}


def _alarm(alarm_id: int, user: Person, service: Service, compound: CompoundDep) -> tuple[AlarmDetail, Viewer]:
    viewer = Viewer.of(user, compound)
    detail = service.get_alarm(alarm_id, grids=viewer.grid_set)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alarm {alarm_id} not found")
    return detail, viewer


@router.post(
    "/alarms/{alarm_id}/marks",
    response_model=MarkPublic,
    status_code=status.HTTP_201_CREATED,
    tags=["alarms"],
    responses={
        401: _UNAUTHORIZED,
        403: {"description": "Neither a property manager nor answering for the alarm's grid."},
        404: _NOT_FOUND,
        409: {"description": "Not an alarm the detector raised, or its snapshot has not arrived."},
        422: {"description": "Bad verdict or boxes (a 'missed' mark needs boxes; others take none)."},
    },
)
def mark_alarm(
    alarm_id: int, body: MarkRequest, user: CurrentUser, service: Service, compound: CompoundDep, audit: Audit
) -> MarkPublic:
    """Mark a camera alarm's snapshot correct, false, or with e-bikes the detector missed (boxes drawn)."""
    detail, viewer = _alarm(alarm_id, user, service, compound)
    if detail.kind not in MARKABLE_KINDS:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"alarm {alarm_id} is a {detail.kind} alarm, not one the detector raised "
            f"({', '.join(sorted(MARKABLE_KINDS))})",
        )
    if not may_mark(user, detail, viewer.own_grids):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "only property managers and the grid workers of the alarm's grid may mark it"
        )
    shown = evidence(service.db, alarm_id, [e.id for e in detail.events])
    if shown.snapshot is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"alarm {alarm_id} has no snapshot yet: nothing to mark")
    mark = add_mark(service.db, alarm_id, shown.snapshot.event_id, detail.device, body, user.id)
    boxes = f" {len(body.boxes)} box(es)" if body.boxes else ""
    audit.record(AuditAction.MARK, f"alarm:{alarm_id}", detail=f"{body.verdict.value}{boxes}")
    log.info("alarm %s marked %s by %s", alarm_id, body.verdict.value, user.id, extra={"alarm_id": alarm_id})
    return mark


@router.get(
    "/alarms/{alarm_id}/marks",
    response_model=list[MarkPublic],
    tags=["alarms"],
    responses={401: _UNAUTHORIZED, 404: _NOT_FOUND},
)
def alarm_marks(alarm_id: int, user: CurrentUser, service: Service, compound: CompoundDep) -> list[MarkPublic]:
    """The alarm's marks, oldest first (the newest counts)."""
    _alarm(alarm_id, user, service, compound)
    return marks_of(service.db, alarm_id)


class ShadowView(BaseModel):
    """Shadow mode at a glance: per camera and candidate, and the newest episodes."""

    cameras: list[ShadowCameraSummary]
    episodes: list[ShadowEpisode]


def _visible_devices(user: Person, compound: CompoundDep) -> set[str] | None:
    grids = Viewer.of(user, compound).grids
    if grids is None:
        return None
    return {d.id for d in compound.devices.values() if compound.grid_of(d) in grids}


@router.get("/shadow", response_model=ShadowView, responses={401: _UNAUTHORIZED})
def shadow(
    user: CurrentUser,
    service: Service,
    compound: CompoundDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ShadowView:
    """Per camera: episodes where both models raised, only the candidate, only the live one; the newest ones."""
    devices = _visible_devices(user, compound)
    return ShadowView(cameras=shadow_summary(service.db, devices), episodes=recent_episodes(service.db, devices, limit))


class Candidate(BaseModel):
    """A model file in ``<data-dir>/models/candidates/`` that can be promoted."""

    name: str
    sha256: str
    size: int


class ModelsView(BaseModel):
    """The live detector version, every promoted version, the history, and the candidates."""

    live: ModelVersion | None = Field(description="None: vision.yaml's model runs (nothing promoted).")
    versions: list[ModelVersion]
    history: list[dict[str, object]]
    candidates: list[Candidate]
    pickup: str = Field(description="When edges load a promoted model.")


class PromoteRequest(BaseModel):
    """Promote one candidate by file name."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.onnx$")


_NO_STORE = "this hub has no model store (it was started without a data directory)"


def _store(request: Request) -> ModelStore | None:
    store: ModelStore | None = getattr(request.app.state, "models", None)
    return store


def _needs_store(request: Request) -> ModelStore:
    store = _store(request)
    if store is None:
        raise HTTPException(status.HTTP_409_CONFLICT, _NO_STORE)
    return store


def _manager(user: Person) -> None:
    if user.role is not Role.PROPERTY_MANAGER:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "for property managers only")


def _view(store: ModelStore | None) -> ModelsView:
    pickup = "on restart: each edge loads the live version when it (re)starts"
    if store is None:
        return ModelsView(live=None, versions=[], history=[], candidates=[], pickup=f"{pickup}; {_NO_STORE}")
    folder = store.root / CANDIDATES_DIR
    files = sorted(folder.glob("*.onnx")) if folder.is_dir() else []
    try:
        live, versions, history = store.live(), store.versions(), store.history()
    except ModelStoreError as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from exc
    return ModelsView(
        live=live,
        versions=versions,
        history=history,
        candidates=[Candidate(name=p.name, sha256=sha256_of(p), size=p.stat().st_size) for p in files],
        pickup=pickup,
    )


_MANAGER_ERRORS: dict[int | str, dict[str, str]] = {
    401: _UNAUTHORIZED,
    403: {"description": "Not a property manager."},
}


@router.get("/models", response_model=ModelsView, responses=_MANAGER_ERRORS)
def models(request: Request, user: CurrentUser) -> ModelsView:
    """The live detector version, the promoted versions and the candidates (property managers)."""
    _manager(user)
    return _view(_store(request))


@router.post(
    "/models/promote",
    response_model=ModelsView,
    responses={
        **_MANAGER_ERRORS,
        404: {"description": "No such candidate."},
        409: {"description": "Refused: already live, not a loadable model, or no model store."},
    },
)
def promote(body: PromoteRequest, request: Request, user: CurrentUser, audit: Audit) -> ModelsView:
    """Make a candidate the live model (the previous one is kept for rollback); audited."""
    _manager(user)
    store = _needs_store(request)
    path = store.root / CANDIDATES_DIR / body.name
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no candidate {body.name!r} in {path.parent}")
    try:
        version = store.promote(path, by=user.id)
    except ModelStoreError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    audit.record(AuditAction.MODEL_PROMOTE, f"model:v{version.version}", detail=f"{body.name} {version.sha256[:12]}")
    return _view(store)


@router.post(
    "/models/rollback",
    response_model=ModelsView,
    responses={**_MANAGER_ERRORS, 409: {"description": "Nothing live, or no model store."}},
)
def rollback(request: Request, user: CurrentUser, audit: Audit) -> ModelsView:
    """Make the previously promoted version live again (or vision.yaml's model); audited."""
    _manager(user)
    store = _needs_store(request)
    try:
        previous = store.rollback(by=user.id)
    except ModelStoreError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    audit.record(AuditAction.MODEL_ROLLBACK, f"model:v{previous.version}" if previous else "model:vision.yaml")
    return _view(store)


@pages.get("/models", response_class=HTMLResponse, response_model=None)
def models_page(user: OptionalUser, request: Request) -> HTMLResponse | RedirectResponse:
    """识别模型: shadow mode compared per camera; promote / roll back (property managers)."""
    if user is None:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status.HTTP_303_SEE_OTHER)
    return page("models.html")


def candidate_dir(data_dir: Path) -> Path:
    """Where the console's promotable candidates live for a data directory."""
    return ModelStore.of_data_dir(data_dir).root / CANDIDATES_DIR
