"""The vision rule interface: what a camera type's rule sees (tracks, time) and returns (verdicts).

Rules see the tracker's output after every detector run and the passing time on every frame; they return
``VisionVerdict``s (raised / cleared) and may command a local actuator (the lift camera's
``LiftController``). Each camera type's rule lives in its module under ``edge/vision/types/``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from compound.wire import EventKind, EventState, Location, Severity
from edge.vision.detector import Detection
from edge.vision.tracker import Track

log = logging.getLogger(__name__)


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
    location: Location | None = None
    """Where the event happened when the rule estimates it (a thrown object's window); None: the camera's place."""
    snapshot: bytes | None = None
    """The rule's own JPEG evidence (a drawn trajectory and its clip); None: the pipeline draws the detections."""


class VisionRule(Protocol):
    """A rule over tracked detections."""

    active: bool

    def update(self, tracks: list[Track], t: float, detected: bool) -> list[VisionVerdict]:
        """Feed the tracks at frame time ``t`` (every frame); ``detected`` is False when the detector skipped it."""
        ...

    def restore(self, kind: EventKind) -> bool:
        """Re-arm a condition of ``kind`` raised before a restart (True), or say it is not this rule's (False).

        A re-armed rule clears as usual once the camera sees the condition gone, so the clear carries the
        original event id.
        """
        ...


@runtime_checkable
class FrameRule(VisionRule, Protocol):
    """A rule that reads the frames itself instead of the shared detector's detections (a façade camera's motion
    analysis): the pipeline hands it every frame (``see``) and skips its motion gate, detector and tracker."""

    def see(self, image: NDArray[np.uint8], t: float) -> list[VisionVerdict]:
        """Process one frame taken at ``t`` seconds; return the verdicts it produced (usually none)."""
        ...
