"""The fire-lane camera: an object that arrived and stands still in the fire lane past a dwell time raises an alarm."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from compound.wire import EventKind, EventState, Severity
from edge.vision.camera_types import CameraKind, CameraSetup, register_camera_kind
from edge.vision.rules import VisionVerdict
from edge.vision.tracker import Track, iou_matrix
from edge.vision.tracks import arrived
from edge.vision.zones import Zone

__all__ = ["FIRE_LANE", "NEVER_BLOCKING", "FireLaneRule", "FireLaneRuleConfig", "StillSpot"]

log = logging.getLogger(__name__)

NEVER_BLOCKING = frozenset({"person", "pet"})
"""Classes that never block a fire lane (they walk away)."""

SAME_SPOT_IOU = 0.5
"""A new track this close to where a still object was last seen is that object again (an id switch)."""

SPOT_MEMORY_S = 6.0
"""How long a still object's spot is remembered after it was last seen: an occlusion of a few detector runs
(``recheck_s`` 2 s), short enough that another vehicle passing the spot later starts its own dwell."""


@dataclass(frozen=True, slots=True)
class StillSpot:
    """Where a blocking object stood, since when, and when it was last seen there."""

    box: tuple[float, float, float, float]
    """The box of the object when it first stood here."""
    since: float
    """Since when an object stands here (carried over tracker id switches)."""
    seen: float
    """When an object was last seen here."""
    arrived: bool = False
    """The object here was seen arriving (``edge.vision.tracks.arrived``), by the track that made the spot."""
    track: int = 0
    """The track id that made the spot."""


class FireLaneRuleConfig(BaseModel):
    """Object dwelling in a fire lane: the ``fire_lane:`` block of a fire-lane camera in vision.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dwell_s: float = Field(default=60.0, gt=0, le=86400, description="Standing still this long raises an alarm.")
    clear_after_s: float = Field(default=10.0, gt=0, le=3600, description="Clear after the lane is free this long.")
    min_score: float = Field(default=0.4, gt=0, lt=1, description="Detection score an object needs to count.")


@dataclass
class FireLaneRule:
    """Alarm when a non-person object that arrived stands still in the lane zone for ``dwell_s``; clear when free.

    Moving traffic never counts (a track's still time restarts whenever it moves), nor do people
    and pets; a brief stop shorter than the dwell never alarms. Only an object seen **arriving** counts
    (``edge.vision.tracks.arrived``: it moved in, or appeared where the picture had just changed): what the
    model sees in a still picture (markings, a poster, a photo) or what stood there when the camera started
    never dwells, however it scores.

    The dwell belongs to the object, not to a tracker id: when a passer-by hides a parked car for a
    detection and the tracker gives it a new id, the new track standing where a still object was
    seen within ``SPOT_MEMORY_S`` keeps that object's still time (``StillSpot``). Without this the
    raised condition cleared with the car still there and the first raise came a full dwell late.
    It keeps the spot's arrival too: a track re-made where a passer-by uncovered an object that never
    arrived "appears" in changing pixels, but it is that object again.
    """

    zone: Zone = field(default_factory=Zone.whole_frame)
    dwell_s: float = 60.0
    clear_after_s: float = 10.0
    min_score: float = 0.4
    active: bool = False
    _last_blocked: float = -1e18
    _spots: list[StillSpot] = field(default_factory=list)

    def blocking(self, tracks: list[Track], t: float) -> list[tuple[Track, float]]:
        """Tracks blocking the lane now, with how long each has stood still."""
        out = []
        for tr in tracks:
            if tr.cls in NEVER_BLOCKING or not tr.votes or max(s for _, s in tr.votes) < self.min_score:
                continue
            if self.zone.covers(tr.bbox):
                out.append((tr, t - tr.still_since))
        return out

    def update(self, tracks: list[Track], t: float, detected: bool) -> list[VisionVerdict]:
        """Raise once an object has dwelt past ``dwell_s``; clear after the lane is free ``clear_after_s``."""
        live = [tr for tr in tracks if tr.misses == 0] if detected else tracks
        carried = self._carry_dwell(self.blocking(live, t), t)
        dwelling = [(tr, d) for tr, d, came in carried if came and d >= self.dwell_s]
        if dwelling:
            self._last_blocked = t
        if not self.active and dwelling:
            self.active = True
            longest = max(d for _, d in dwelling)
            dets = tuple(tr.last_detection for tr, _ in dwelling if tr.last_detection is not None)
            names = ", ".join(sorted({tr.cls for tr, _ in dwelling}))
            return [
                VisionVerdict(
                    EventKind.FIRE_LANE_BLOCKED,
                    EventState.RAISED,
                    Severity.WARNING,
                    t,
                    f"Fire lane blocked by {names} for {longest:.0f} s",
                    dets,
                    tuple(tr.id for tr, _ in dwelling),
                    round(longest, 1),
                    "s",
                    self.dwell_s,
                )
            ]
        if self.active and detected and t - self._last_blocked >= self.clear_after_s:
            self.active = False
            return [
                VisionVerdict(
                    EventKind.FIRE_LANE_BLOCKED, EventState.CLEARED, Severity.WARNING, t, "Fire lane free again"
                )
            ]
        return []

    def _carry_dwell(self, blocking: list[tuple[Track, float]], t: float) -> list[tuple[Track, float, bool]]:
        """Blocking tracks with the still time of the spot they stand on, whatever their tracker id, and whether
        the object on it arrived.

        A spot is where a blocking object first stood still (its box then, fixed), since when, and when an
        object was last seen on it. A track on a spot seen within ``SPOT_MEMORY_S`` takes the spot's still
        time and arrival (only the spot's own track can add its arrival); a track on no spot starts one with
        its own. An object that moves off its spot's box starts anew.
        """
        memory = min(SPOT_MEMORY_S, self.clear_after_s)
        spots = [s for s in self._spots if t - s.seen <= memory]
        out = []
        for tr, still in blocking:
            box = tr.bbox
            on = [i for i, s in enumerate(spots) if _iou(s.box, box) >= SAME_SPOT_IOU]
            if on:
                since = min(spots[i].since for i in on)
                came = any(spots[i].arrived or (spots[i].track == tr.id and arrived(tr)) for i in on)
                for i in on:
                    spots[i] = replace(spots[i], seen=t, arrived=came)
            else:
                since = t - still
                came = arrived(tr)
                spots.append(StillSpot(box, since, t, came, tr.id))
            out.append((tr, t - since, came))
        self._spots = spots
        return out

    def restore(self, kind: EventKind) -> bool:
        """Re-arm a blocked-lane condition open before a restart; it clears once the lane is seen free."""
        if kind is not EventKind.FIRE_LANE_BLOCKED:
            return False
        self.active, self._last_blocked = True, 0.0
        return True


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    return float(iou_matrix(np.array([a]), np.array([b]))[0, 0])


def _rule(setup: CameraSetup[FireLaneRuleConfig]) -> FireLaneRule:
    o = setup.options
    return FireLaneRule(setup.zone, o.dwell_s, o.clear_after_s, o.min_score)


FIRE_LANE = CameraKind("fire_lane_camera", "fire_lane", FireLaneRuleConfig, _rule)
"""Fire-lane cameras."""

register_camera_kind(FIRE_LANE)
