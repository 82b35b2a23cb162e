"""The fire-lane camera: an object standing still in the fire lane past a dwell time raises an alarm."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from compound.wire import EventKind, EventState, Severity
from edge.vision.camera_types import CameraKind, CameraSetup, register_camera_kind
from edge.vision.rules import VisionVerdict
from edge.vision.tracker import Track
from edge.vision.zones import Zone

__all__ = ["FIRE_LANE", "NEVER_BLOCKING", "FireLaneRule", "FireLaneRuleConfig"]

log = logging.getLogger(__name__)

NEVER_BLOCKING = frozenset({"person", "pet"})
"""Classes that never block a fire lane (they walk away)."""


class FireLaneRuleConfig(BaseModel):
    """Object dwelling in a fire lane: the ``fire_lane:`` block of a fire-lane camera in vision.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dwell_s: float = Field(default=60.0, gt=0, le=86400, description="Standing still this long raises an alarm.")
    clear_after_s: float = Field(default=10.0, gt=0, le=3600, description="Clear after the lane is free this long.")
    min_score: float = Field(default=0.4, gt=0, lt=1, description="Detection score an object needs to count.")


@dataclass
class FireLaneRule:
    """Alarm when a non-person object stands still in the lane zone for ``dwell_s``; clear when free.

    Moving traffic never counts (a track's still time restarts whenever it moves), nor do people
    and pets; a brief stop shorter than the dwell never alarms.
    """

    zone: Zone = field(default_factory=Zone.whole_frame)
    dwell_s: float = 60.0
    clear_after_s: float = 10.0
    min_score: float = 0.4
    active: bool = False
    _last_blocked: float = -1e18

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
        dwelling = [(tr, d) for tr, d in self.blocking(live, t) if d >= self.dwell_s]
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

    def restore(self, kind: EventKind) -> bool:
        """Re-arm a blocked-lane condition open before a restart; it clears once the lane is seen free."""
        if kind is not EventKind.FIRE_LANE_BLOCKED:
            return False
        self.active, self._last_blocked = True, 0.0
        return True


def _rule(setup: CameraSetup[FireLaneRuleConfig]) -> FireLaneRule:
    o = setup.options
    return FireLaneRule(setup.zone, o.dwell_s, o.clear_after_s, o.min_score)


FIRE_LANE = CameraKind("fire_lane_camera", "fire_lane", FireLaneRuleConfig, _rule)
"""Fire-lane cameras."""

register_camera_kind(FIRE_LANE)
