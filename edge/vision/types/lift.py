"""The lift camera: an e-bike in the lift car holds the doors and plays a warning until it is taken out."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from compound.wire import EventKind, EventState, Severity
from edge.vision.camera_types import CameraKind, CameraSetup, register_camera_kind
from edge.vision.lift import LiftController, SimulatedLift
from edge.vision.rules import VisionVerdict
from edge.vision.tracker import Track
from edge.vision.tracks import seen_entering
from edge.vision.zones import Zone

__all__ = ["DEFAULT_DOOR", "LIFT", "EbikeInLiftRule", "LiftRuleConfig"]

log = logging.getLogger(__name__)

DEFAULT_DOOR = Zone("door", ((0.15, 0.25), (0.92, 0.25), (0.92, 0.55), (0.15, 0.55)))
"""Where an object entering the car first stands, for a camera facing the doors across the car (the
simulated lift: doors on the far wall, the car floor's far band). A camera mounted above the doors sees them
at the bottom of its picture: give its ``door`` polygon in vision.yaml."""

ENTERED_MEMORY_S = 60.0
"""How long the rule remembers that a track id was seen entering (its path forgets sooner)."""


class LiftRuleConfig(BaseModel):
    """E-bike in the lift car: the ``lift:`` block of a lift camera in vision.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_score: float = Field(default=0.5, gt=0, lt=1, description="E-bike score that counts as a sighting.")
    confirm_hits: int = Field(default=3, ge=1, le=20, description="Sightings needed within the window.")
    window: int = Field(default=4, ge=1, le=30, description="Detector runs in the confirmation window.")
    clear_after_s: float = Field(default=5.0, gt=0, le=600, description="Release after the e-bike is gone this long.")
    door: list[tuple[float, float]] = Field(
        default_factory=lambda: list(DEFAULT_DOOR.polygon),
        min_length=3,
        max_length=64,
        description="Door zone polygon ([x, y] fractions of the frame): an e-bike holds only once seen coming "
        "in from here into the car.",
    )

    @field_validator("door")
    @classmethod
    def _normalized(cls, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for x, y in pts:
            if not (0 <= x <= 1 and 0 <= y <= 1):
                raise ValueError(f"door vertex ({x}, {y}) is outside the frame: use fractions 0..1")
        return pts

    @model_validator(mode="after")
    def _window(self) -> LiftRuleConfig:
        if self.confirm_hits > self.window:
            raise ValueError("confirm_hits cannot exceed window")
        return self


@dataclass
class EbikeInLiftRule:
    """Hold the lift once an e-bike is seen entering the car; release ``clear_after_s`` after it is last seen.

    Confirmation: one track voted ``ebike`` with score >= ``min_score`` in ``confirm_hits`` of its
    last ``window`` detections, inside the car zone, and that track was **seen entering**: it came
    from the ``door`` zone into the car over consecutive detector runs with the picture changing
    under it (``edge.vision.tracks.seen_entering``). A bicycle misread as an e-bike once or twice
    does not hold the lift; nor does anything the model sees in a still picture (a poster, a photo,
    an object that was there before the camera looked), however high it scores. Once holding, any
    e-bike sighting in the car keeps the hold; an e-bike standing still keeps being re-checked by
    the motion gate.
    """

    lift: LiftController | None
    zone: Zone = field(default_factory=Zone.whole_frame)
    min_score: float = 0.5
    confirm_hits: int = 3
    window: int = 4
    clear_after_s: float = 5.0
    door: Zone = DEFAULT_DOOR
    warning: str = "电动车禁止进入电梯，请将电动车推出轿厢。 E-bikes are not allowed in the lift: please take it out."
    active: bool = False
    _last_seen: float = -1e18
    _entered: dict[int, float] = field(default_factory=dict)
    """Track ids seen entering, with when (forgotten after ``ENTERED_MEMORY_S``)."""

    def entered(self, tr: Track, t: float) -> bool:
        """Whether ``tr`` was seen entering the car (remembered per track id once seen)."""
        if tr.id not in self._entered and seen_entering(tr, self.door, self.zone):
            self._entered[tr.id] = t
        return tr.id in self._entered

    def _ebike_votes(self, tr: Track) -> int:
        recent = list(tr.votes)[-self.window :]
        return sum(1 for c, s in recent if c == "ebike" and s >= self.min_score)

    def update(self, tracks: list[Track], t: float, detected: bool) -> list[VisionVerdict]:
        """Raise and hold on a confirmed e-bike; clear and release when it has been gone long enough."""
        if isinstance(self.lift, SimulatedLift):
            self.lift.now = t  # its commands are stamped with the frame time
        in_car = [tr for tr in tracks if self.zone.covers(tr.bbox)]
        seen = [
            tr
            for tr in in_car
            if tr.misses == 0 and tr.votes and tr.votes[-1][0] == "ebike" and tr.votes[-1][1] >= self.min_score
        ]
        if detected:  # latch entries as they happen: a path walked back later meets the re-check gaps
            self._entered = {i: t0 for i, t0 in self._entered.items() if t - t0 <= ENTERED_MEMORY_S}
            for tr in in_car:
                self.entered(tr, t)
        confirmed = [tr for tr in in_car if self._ebike_votes(tr) >= self.confirm_hits]
        entering = [tr for tr in confirmed if tr.id in self._entered]
        if detected and (seen or (self.active and confirmed)):
            self._last_seen = t
        if not self.active and detected and entering:
            self.active = True
            self._last_seen = t
            dets = tuple(tr.last_detection for tr in entering if tr.last_detection is not None)
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
                    tuple(tr.id for tr in entering),
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

    def restore(self, kind: EventKind) -> bool:
        """Re-arm an e-bike condition open before a restart: hold the doors again until the car is seen free."""
        if kind is not EventKind.EBIKE_IN_LIFT:
            return False
        self.active, self._last_seen = True, 0.0
        if self.lift is not None:
            self.lift.hold_doors("e-bike condition open before the restart")
        return True


def _rule(setup: CameraSetup[LiftRuleConfig]) -> EbikeInLiftRule:
    o = setup.options
    door = Zone("door", tuple(o.door))
    return EbikeInLiftRule(setup.actuator, setup.zone, o.min_score, o.confirm_hits, o.window, o.clear_after_s, door)


LIFT = CameraKind("lift_camera", "lift", LiftRuleConfig, _rule, actuator=SimulatedLift)
"""Lift cameras; each commands its ``LiftController`` (a ``SimulatedLift`` unless the agent is given one)."""

register_camera_kind(LIFT)
