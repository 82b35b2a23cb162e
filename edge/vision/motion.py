"""Motion gate: run the detector only when something moves, and re-check still scenes periodically."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

Box = tuple[float, float, float, float]

BACKGROUND_S = 20.0
"""Time constant of the gate's background (a running average of what the camera sees): a thing that stands
still fades into it over about this long; something that moves or appears stands out from it at once."""

GLOBAL_CHANGE = 0.5
"""A frame in which this fraction of the picture changed at once (lights switched, exposure jumped, the camera
knocked) is motion for the gate, but says nothing about what is new in the scene: the background restarts."""


class ForegroundMap:
    """Where the picture differs from the scene the camera has been watching: the gate's small grid, True where
    a cell differs from the background by more than the pixel threshold.

    Pixel evidence for the tracker: a detector box on an object that is moving, or has just appeared or been
    wheeled in, covers foreground; a box on something the model imagines in a still picture (a poster, a
    photo, an object that stood there when the camera started) covers none, however confident the model is.
    """

    __slots__ = ("mask",)

    def __init__(self, mask: NDArray[np.bool_]) -> None:
        self.mask = mask

    @classmethod
    def empty(cls, size: tuple[int, int] = (64, 48)) -> ForegroundMap:
        """A map with no foreground: a scene in which nothing has changed."""
        return cls(np.zeros((size[1], size[0]), np.bool_))

    def with_box(self, box: Box) -> ForegroundMap:
        """A copy with the cells under ``box`` (normalized x1, y1, x2, y2) in the foreground (for tests)."""
        mask = self.mask.copy()
        mask[self._cells(box)] = True
        return ForegroundMap(mask)

    def fraction(self, box: Box) -> float:
        """Fraction of the cells under ``box`` (normalized x1, y1, x2, y2) that are foreground."""
        cells = self.mask[self._cells(box)]
        return float(np.count_nonzero(cells)) / cells.size if cells.size else 0.0

    def _cells(self, box: Box) -> tuple[slice, slice]:
        h, w = self.mask.shape
        x1 = min(max(int(np.floor(box[0] * w)), 0), w - 1)
        y1 = min(max(int(np.floor(box[1] * h)), 0), h - 1)
        x2 = min(max(int(np.ceil(box[2] * w)), x1 + 1), w)
        y2 = min(max(int(np.ceil(box[3] * h)), y1 + 1), h)
        return slice(y1, y2), slice(x1, x2)


@dataclass(frozen=True, slots=True)
class MotionDecision:
    """Whether to run the detector on this frame, and why; ``foreground`` is what stands out from the scene."""

    run: bool
    reason: str
    changed: float
    foreground: ForegroundMap | None = None


class MotionGate:
    """Downscaled grey frame differencing against the frame the detector last ran on, plus a periodic re-check.

    Differencing against the last detector frame, not the previous frame, lets a slow mover add up: an
    e-bike wheeled in slowly through a dim, low-contrast car changes too few pixels from one frame to the
    next, but enough within a few frames.

    Camera shake is undone before differencing: the global shift between the two small frames is
    estimated by phase correlation and the previous frame moved back by it.

    A still object (a parked car, an e-bike left in the lift) stops moving but must still be seen:
    the gate lets one frame through every ``recheck_s`` seconds even without motion, and keeps
    letting frames through for ``hold_s`` seconds after the last motion.

    Beside the frame difference the gate keeps a background: a running average of the small grey frames
    with time constant ``background_s``, started from the first frame. Each decision carries the
    ``ForegroundMap`` of the frame against it. What the camera sees when it starts is background (it was
    not seen arriving); a frame that changed wholesale (``GLOBAL_CHANGE``) restarts the background from it.
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
        background_s: float = BACKGROUND_S,
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
        self.background_s = background_s
        self._background: NDArray[np.float32] | None = None
        self._last_t = 0.0

    def check(self, image: NDArray[np.uint8], t: float) -> MotionDecision:
        """Decide for a frame taken at ``t`` seconds (any monotonic time base)."""
        small = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        grey = np.asarray(cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (3, 3), 0), np.uint8)
        prev = self._prev  # what the detector last looked at: slow movers add up until they count
        changed = 1.0
        if prev is not None:
            changed = self._changed(prev, grey)
        foreground = self._foreground(grey, t, wholesale=prev is not None and changed >= GLOBAL_CHANGE)
        if changed >= self.min_changed:
            self._last_motion = t
            reason = "motion"
        elif t - self._last_motion <= self.hold_s:
            reason = "recent motion"
        elif t - self._last_run >= self.recheck_s:
            reason = "recheck"
        else:
            return MotionDecision(False, "still", changed, foreground)
        self._last_run, self._prev = t, grey
        return MotionDecision(True, reason, changed, foreground)

    def _foreground(self, grey: NDArray[np.uint8], t: float, *, wholesale: bool) -> ForegroundMap:
        """The cells of ``grey`` that differ from the background; then fold the frame into the background."""
        frame = grey.astype(np.float32)
        bg = self._background
        if bg is None or wholesale:
            self._background, self._last_t = frame, t
            return ForegroundMap(np.zeros(grey.shape, np.bool_))
        b = self.border
        mask = np.zeros(grey.shape, np.bool_)
        mask[b:-b, b:-b] = np.abs(frame[b:-b, b:-b] - bg[b:-b, b:-b]) > self.pixel_threshold
        rate = 1.0 - float(np.exp(-max(t - self._last_t, 0.0) / self.background_s))
        bg += rate * (frame - bg)
        self._last_t = t
        return ForegroundMap(mask)

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
