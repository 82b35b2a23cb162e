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

    Camera shake is undone before differencing: the global shift between the two small frames is
    estimated by phase correlation and the previous frame moved back by it.

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
        max_shift: float = 4.0,
    ) -> None:
        self.size = size
        self.pixel_threshold = pixel_threshold
        self.min_changed = min_changed
        self.recheck_s = recheck_s
        self.hold_s = hold_s
        self.max_shift = max_shift
        self.border = 2
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
            changed = self._changed(prev, grey)
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

    def _changed(self, prev: NDArray[np.uint8], grey: NDArray[np.uint8]) -> float:
        """Fraction of changed pixels after undoing a global shift (camera shake) between the frames."""
        (dx, dy), response = cv2.phaseCorrelate(prev.astype(np.float32), grey.astype(np.float32))
        if not (np.isfinite(dx) and np.isfinite(dy) and np.isfinite(response)) or response < 0.05:
            dx = dy = 0.0  # featureless frames: no reliable shift, plain differencing
        elif abs(dx) > self.max_shift or abs(dy) > self.max_shift:
            return 1.0  # the camera moved a lot (or the scene changed wholesale): look
        shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        aligned = cv2.warpAffine(prev, shift, (prev.shape[1], prev.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        b = self.border
        diff = cv2.absdiff(grey[b:-b, b:-b], aligned[b:-b, b:-b])
        return float(np.count_nonzero(diff > self.pixel_threshold)) / diff.size
