"""SORT-style multi-object tracker: constant-velocity prediction, IoU matching by the Hungarian method.

Each track keeps its path: one ``Observation`` per detector run that saw it, with the pixel evidence of
the motion gate's ``ForegroundMap`` under its box (does it stand out from the scene the camera has been
watching). What a path means (seen entering through a door, arrived) is ``edge/vision/tracks.py``'s.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.vision.detector import Detection
from edge.vision.motion import ForegroundMap

Box = tuple[float, float, float, float]

PATH_LENGTH = 64
"""Observations kept per track (about 13 s of detector runs at 5 fps): enough to see an entry through."""

FOREGROUND_FRACTION = 0.15
"""A sighting stands out from the scene (``Observation.new``) when this fraction of its box is foreground."""


@dataclass(frozen=True, slots=True)
class Observation:
    """One detector run's sighting of a track: when, where, and how much of the box stands out from the scene."""

    t: float
    box: Box
    foreground: float = 0.0
    """Fraction of the box's cells that differ from the motion gate's background (``ForegroundMap``)."""

    @property
    def ground(self) -> tuple[float, float]:
        """Where the object stands: the middle of the box's bottom edge."""
        return (self.box[0] + self.box[2]) / 2, self.box[3]

    @property
    def new(self) -> bool:
        """The box stands out from the scene the camera has been watching (``FOREGROUND_FRACTION``)."""
        return self.foreground >= FOREGROUND_FRACTION


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes ``a`` [n, 4] and ``b`` [m, 4] (x1, y1, x2, y2)."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9))


@dataclass(slots=True)
class Track:
    """One tracked object: stable id, smoothed box and velocity, class votes, timing."""

    id: int
    box: np.ndarray
    first_seen: float
    last_seen: float
    hits: int = 1
    misses: int = 0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    votes: deque[tuple[str, float]] = field(default_factory=lambda: deque(maxlen=10))
    last_detection: Detection | None = None
    still_since: float = 0.0
    anchor: np.ndarray | None = None
    path: deque[Observation] = field(default_factory=lambda: deque(maxlen=PATH_LENGTH))
    """The last ``PATH_LENGTH`` sightings, oldest first."""
    origin: Observation | None = None
    """The first sighting (kept after it leaves ``path``)."""
    moved: float = 0.0
    """Furthest its ground point has been from the origin's on a sighting that stood out from the scene."""

    @property
    def cls(self) -> str:
        """Majority class over the recent detections."""
        return Counter(c for c, _ in self.votes).most_common(1)[0][0]

    @property
    def bbox(self) -> Box:
        """Current box (normalized x1, y1, x2, y2)."""
        b = self.box
        return float(b[0]), float(b[1]), float(b[2]), float(b[3])

    def class_hits(self, cls: str, last: int) -> int:
        """How many of the last ``last`` detections voted for ``cls``."""
        return sum(1 for c, _ in list(self.votes)[-last:] if c == cls)


class SortTracker:
    """Associate detections to tracks each detector run; tracks survive ``max_age`` missed runs.

    Still-object timing (``still_since``) is kept per track: the box centre staying within
    ``still_tolerance`` (fraction of the box size) of where it settled.
    """

    def __init__(
        self, *, iou_threshold: float = 0.25, max_age: int = 3, min_hits: int = 1, still_tolerance: float = 0.25
    ) -> None:
        self.iou_threshold = iou_threshold
        self.max_age = max_age
        self.min_hits = min_hits
        self.still_tolerance = still_tolerance
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, detections: list[Detection], t: float, foreground: ForegroundMap | None = None) -> list[Track]:
        """Feed one detector run at time ``t``; return the confirmed tracks seen in this run.

        ``foreground`` is the motion gate's map of what stands out from the scene; without one (a caller
        with no gate) no sighting stands out.
        """
        for tr in self.tracks:
            tr.box = tr.box + tr.velocity
        dets = np.array([d.box for d in detections], dtype=np.float64).reshape(-1, 4)
        boxes = np.array([tr.box for tr in self.tracks], dtype=np.float64).reshape(-1, 4)
        ious = iou_matrix(boxes, dets)
        matched_t, matched_d = set(), set()
        if ious.size:
            rows, cols = linear_sum_assignment(-ious)
            for r, c in zip(rows, cols, strict=True):
                if ious[r, c] >= self.iou_threshold:
                    self._apply(self.tracks[r], detections[c], t)
                    _observe(self.tracks[r], t, foreground)
                    matched_t.add(r)
                    matched_d.add(c)
        for i, tr in enumerate(self.tracks):
            if i not in matched_t:
                tr.misses += 1
                tr.velocity *= 0.5
        for j, det in enumerate(detections):
            if j not in matched_d:
                tr = Track(self._next_id, np.array(det.box, dtype=np.float64), t, t)
                tr.votes.append((det.cls, det.score))
                tr.last_detection = det
                tr.still_since = t
                tr.anchor = tr.box.copy()
                _observe(tr, t, foreground)
                self._next_id += 1
                self.tracks.append(tr)
        self.tracks = [tr for tr in self.tracks if tr.misses <= self.max_age]
        return [tr for tr in self.tracks if tr.misses == 0 and tr.hits >= self.min_hits]

    def _apply(self, tr: Track, det: Detection, t: float) -> None:
        new = np.array(det.box, dtype=np.float64)
        dt_runs = tr.misses + 1
        tr.velocity = 0.5 * tr.velocity + 0.5 * (new - tr.box + tr.velocity * dt_runs) / dt_runs
        tr.box = new
        tr.hits += 1
        tr.misses = 0
        tr.last_seen = t
        tr.votes.append((det.cls, det.score))
        tr.last_detection = det
        anchor = tr.anchor if tr.anchor is not None else new
        size = max(new[2] - new[0], new[3] - new[1], 1e-6)
        shift = max(
            abs((new[0] + new[2]) - (anchor[0] + anchor[2])) / 2, abs((new[1] + new[3]) - (anchor[1] + anchor[3])) / 2
        )
        if shift > self.still_tolerance * size:
            tr.anchor = new.copy()
            tr.still_since = t

    def reset(self) -> None:
        """Forget all tracks."""
        self.tracks.clear()


def _observe(tr: Track, t: float, foreground: ForegroundMap | None) -> None:
    """Append this run's sighting of ``tr`` to its path, with how much of its box stands out from the scene."""
    box = tr.bbox
    obs = Observation(t, box, foreground.fraction(box) if foreground is not None else 0.0)
    tr.path.append(obs)
    if tr.origin is None:
        tr.origin = obs
    elif obs.new:
        (x0, y0), (x1, y1) = tr.origin.ground, obs.ground
        tr.moved = max(tr.moved, float(np.hypot(x1 - x0, y1 - y0)))
