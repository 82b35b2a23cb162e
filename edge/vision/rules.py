"""Vision rules over tracks: e-bike in the lift car (hold the doors), object dwelling in a fire lane.

Rules see the tracker's output after every detector run and the passing time on every frame;
they return ``VisionVerdict``s (raised / cleared) and, for the lift, command a ``LiftController``.
People and moving traffic never alarm: the lift rule counts only e-bikes confirmed over several
detector runs, and the fire-lane rule counts only non-person objects standing still in the lane.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from compound.wire import EventKind, EventState, Severity
from edge.vision.detector import Detection
from edge.vision.lift import LiftController
from edge.vision.tracker import Track
from edge.vision.zones import Zone

log = logging.getLogger(__name__)

NEVER_BLOCKING = frozenset({"person", "pet"})
"""Classes that never block a fire lane (they walk away)."""


@dataclass(frozen=True, slots=True)
class VisionVerdict:
    """A rule's decision at frame time ``t``: raise or clear, with the evidence to show."""

    kind: EventKind
    state: EventState
    severity: Severity
    t: float
    message: str
    detections: tuple[Detection, ...] = ()
    track_ids: tuple[int, ...] = ()
    value: float | None = None
    unit: str | None = None
    threshold: float | None = None
    device: str = ""
    """Camera device id; filled in by the pipeline (rules do not know which camera they serve)."""


class VisionRule(Protocol):
    """A rule over tracked detections."""

    active: bool

    def update(self, tracks: list[Track], t: float, detected: bool) -> list[VisionVerdict]:
        """Feed the tracks at frame time ``t``; ``detected`` is False when the detector skipped the frame."""
        ...


@dataclass
class EbikeInLiftRule:
    """Hold the lift while an e-bike is in the car; release ``clear_after_s`` after it is last seen.

    Confirmation: one track voted ``ebike`` with score >= ``min_score`` in ``confirm_hits`` of its
    last ``window`` detections, inside the car zone. A bicycle misread as an e-bike once or twice
    does not hold the lift; an e-bike standing still keeps being re-checked by the motion gate.
    """

    lift: LiftController | None
    zone: Zone = field(default_factory=Zone.whole_frame)
    min_score: float = 0.5
    confirm_hits: int = 3
    window: int = 4
    clear_after_s: float = 5.0
    warning: str = "电动车禁止进入电梯，请将电动车推出轿厢。 E-bikes are not allowed in the lift: please take it out."
    active: bool = False
    _last_seen: float = -1e18

    def _ebike_votes(self, tr: Track) -> int:
        recent = list(tr.votes)[-self.window :]
        return sum(1 for c, s in recent if c == "ebike" and s >= self.min_score)

    def update(self, tracks: list[Track], t: float, detected: bool) -> list[VisionVerdict]:
        """Raise and hold on a confirmed e-bike; clear and release when it has been gone long enough."""
        in_car = [tr for tr in tracks if self.zone.covers(tr.bbox)]
        seen = [
            tr
            for tr in in_car
            if tr.misses == 0 and tr.votes and tr.votes[-1][0] == "ebike" and tr.votes[-1][1] >= self.min_score
        ]
        confirmed = [tr for tr in in_car if self._ebike_votes(tr) >= self.confirm_hits]
        if detected and (seen or (self.active and confirmed)):
            self._last_seen = t
        if not self.active and detected and confirmed:
            self.active = True
            self._last_seen = t
            dets = tuple(tr.last_detection for tr in confirmed if tr.last_detection is not None)
            if self.lift is not None:
                self.lift.hold_doors("e-bike in the car")
                self.lift.play_warning(self.warning)
            score = max(d.score for d in dets) if dets else None
            return [
                VisionVerdict(
                    EventKind.EBIKE_IN_LIFT,
                    EventState.RAISED,
                    Severity.WARNING,
                    t,
                    "E-bike in the lift car: doors held, warning playing",
                    dets,
                    tuple(tr.id for tr in confirmed),
                    score,
                    None,
                    self.min_score,
                )
            ]
        if self.active and t - self._last_seen >= self.clear_after_s:
            self.active = False
            if self.lift is not None:
                self.lift.release()
            return [
                VisionVerdict(
                    EventKind.EBIKE_IN_LIFT,
                    EventState.CLEARED,
                    Severity.WARNING,
                    t,
                    f"E-bike gone for {self.clear_after_s:.0f} s: doors released",
                )
            ]
        return []


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
