"""Motion gate: run the detector only when something moves, and re-check still scenes periodically."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class MotionDecision:
    """Whether to run the detector on this frame, and why."""

    run: bool
    reason: str
    changed: float


class MotionGate:
    """Downscaled grey frame differencing against the previous frame, plus a periodic re-check.

    A still object (a parked car, an e-bike left in the lift) stops moving but must still be seen:
    the gate lets one frame through every ``recheck_s`` seconds even without motion, and keeps
    letting frames through for ``hold_s`` seconds after the last motion.
    """

    def __init__(
        self,
        *,
        size: tuple[int, int] = (64, 48),
        pixel_threshold: int = 18,
        min_changed: float = 0.004,
        recheck_s: float = 2.0,
        hold_s: float = 1.0,
    ) -> None:
        self.size = size
        self.pixel_threshold = pixel_threshold
        self.min_changed = min_changed
        self.recheck_s = recheck_s
        self.hold_s = hold_s
        self._prev: NDArray[np.uint8] | None = None
        self._last_run = -1e18
        self._last_motion = -1e18

    def check(self, image: NDArray[np.uint8], t: float) -> MotionDecision:
        """Decide for a frame taken at ``t`` seconds (any monotonic time base)."""
        small = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        grey = np.asarray(cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (3, 3), 0), np.uint8)
        prev, self._prev = self._prev, grey
        changed = 1.0
        if prev is not None:
            diff = cv2.absdiff(grey, prev)
            changed = float(np.count_nonzero(diff > self.pixel_threshold)) / diff.size
        if changed >= self.min_changed:
            self._last_motion = t
            reason = "motion"
        elif t - self._last_motion <= self.hold_s:
            reason = "recent motion"
        elif t - self._last_run >= self.recheck_s:
            reason = "recheck"
        else:
            return MotionDecision(False, "still", changed)
        self._last_run = t
        return MotionDecision(True, reason, changed)
