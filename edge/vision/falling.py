"""Objects falling from a façade: background subtraction, blob tracking, a gravity fit, and the window of origin.

Motion-based, no trained model: OpenCV's MOG2 background subtractor (on colour frames) marks what moves on the
façade, small blobs are linked frame to frame by a tracker that predicts each path (constant velocity, then a fitted
parabola), and a path counts as **a falling object** only when, mapped onto the façade plane through the
camera's calibration (``FacadeGrid``: four image points of the window grid's corners), its height over time
fits a parabola whose downward acceleration is that of gravity (``MIN_G``..``MAX_G`` of g, drag included), it
has fallen more than a floor, is still falling fast, and drifts little sideways. What else moves there fails
one of these: birds fly across and climb (sideways speed, upward or no acceleration), leaves and rain fall at
a constant terminal speed (no acceleration), a cradle moves slowly, lights and curtains stay where they are.

The origin is where the fitted path began: the top of the parabola (where the vertical speed was zero: an
object dropped or tossed up), or the first sighting when that is earlier; its façade height gives the floor,
its position along the façade the window column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["FacadeGrid", "FallDetector", "FallingPath", "Origin", "PathPoint"]

GRAVITY = 9.81
MIN_G, MAX_G = 0.45, 1.5
"""Downward acceleration a falling path must show, in g (drag lowers it; perspective raises it a little)."""
MIN_POINTS = 9
MIN_SPAN_S = 0.4
MIN_DROP_FLOORS = 2.0
MIN_FALL_SPEED = 3.0
"""m/s downwards at the last sighting: still falling fast."""
MAX_SIDEWAYS = 3.5
"""m/s along the façade: a bird crossing the view flies faster than anything dropped from a window drifts."""
MAX_RESIDUAL_M = 0.15
ORIGIN_WINDOW_S = 1.0
"""Sightings used to locate the origin: the first second of the path (before the object has come far out of the
façade plane, which perspective turns into an apparent rise)."""
MAX_BACK_S = 2.0
"""How far before its first sighting a path may be traced back to its origin."""
SAME_OBJECT_S = 6.0
SAME_OBJECT_M = 3.0
"""A path that starts below a path confirmed in the last ``SAME_OBJECT_S``, within this along the façade of where
that one was heading, is the same object (the tracker lost it and picked it up again; drag slows it below the
fitted parabola): one alarm per object."""
MAX_BLOBS = 400
GLOBAL_CHANGE = 0.04
"""A frame in which this fraction of the picture is foreground changed wholesale (exposure, a cloud, the lights
of the whole building): no new paths start on it."""


@dataclass(frozen=True, slots=True)
class FacadeGrid:
    """The façade's window grid as the camera sees it: floors × columns, sizes in metres, corners in the image.

    ``corners`` are the grid's bottom-left, bottom-right, top-right and top-left corners as fractions of the
    frame (x, y): the bottom edge is floor ``first_floor``'s floor level, the top edge the roof of the last
    floor seen, the sides the outer edges of the first and last window columns.
    """

    floors: int
    columns: int
    corners: tuple[tuple[float, float], ...]
    first_floor: int = 1
    floor_h: float = 3.0
    column_w: float = 3.6

    def homography(self, width: int, height: int) -> NDArray[np.float64]:
        """Image pixels → façade metres (X along, Y up) for a ``width`` × ``height`` frame."""
        w, h = self.columns * self.column_w, self.floors * self.floor_h
        src = np.array([(x * width, y * height) for x, y in self.corners], np.float64)
        dst = np.array([(0, 0), (w, 0), (w, h), (0, h)], np.float64)
        return np.asarray(cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32)), np.float64)

    def window_of(self, x: float, y: float) -> tuple[int, int]:
        """Floor and column (0-based, clipped to the grid) of a façade point in metres."""
        floor = self.first_floor + min(max(math.floor(y / self.floor_h), 0), self.floors - 1)
        column = min(max(math.floor(x / self.column_w), 0), self.columns - 1)
        return floor, column

    def inside(self, x: float, y: float, margin: float = 0.5) -> bool:
        """The façade point lies on the window grid (within ``margin`` of a column or floor outside it)."""
        return (-margin * self.column_w <= x <= (self.columns + margin) * self.column_w) and (
            -margin * self.floor_h <= y <= (self.floors + margin) * self.floor_h
        )


@dataclass(frozen=True, slots=True)
class PathPoint:
    """One sighting of a moving blob: frame time, pixel centre, blob area."""

    t: float
    u: float
    v: float
    area: int


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a falling path began: the window (floor, 0-based column), the façade point and the time."""

    floor: int
    column: int
    x: float
    y: float
    t: float


@dataclass(frozen=True, slots=True)
class FallingPath:
    """A confirmed falling object: its sightings, the fit, and its estimated origin."""

    track: int
    points: tuple[PathPoint, ...]
    acceleration: float
    """Fitted downward acceleration, m/s²."""
    residual: float
    """RMS distance of the sightings from the fitted parabola, metres."""
    drop: float
    origin: Origin

    def curve(self, grid: FacadeGrid, width: int, height: int, n: int = 24) -> NDArray[np.float64]:
        """The fitted path from the origin to the last sighting, in image pixels [n, 2] (for drawing)."""
        h = np.linalg.inv(grid.homography(width, height))
        xy = _facade_points(self.points, grid.homography(width, height))
        ts = np.array([p.t for p in self.points])
        cy = np.polyfit(ts - ts[0], xy[:, 1], 2)
        cx = np.polyfit(ts - ts[0], xy[:, 0], 1)
        tt = np.linspace(self.origin.t - ts[0], ts[-1] - ts[0], n)
        pts = np.stack([np.polyval(cx, tt), np.polyval(cy, tt)], axis=1)
        pts[0] = (self.origin.x, self.origin.y)
        return np.asarray(cv2.perspectiveTransform(pts.reshape(-1, 1, 2), h).reshape(-1, 2), np.float64)


@dataclass
class _Track:
    id: int
    points: list[PathPoint] = field(default_factory=list)
    misses: int = 0
    confirmed: bool = False

    def predict(self, t: float) -> tuple[float, float, float]:
        """Predicted pixel position at ``t`` and the gate radius around it."""
        pts = self.points[-8:]
        last = pts[-1]
        if len(pts) == 1:
            return last.u, last.v, 28.0
        if len(pts) < 4:
            prev = pts[-2]
            f = (t - last.t) / max(last.t - prev.t, 1e-6)
            u, v = last.u + (last.u - prev.u) * f, last.v + (last.v - prev.v) * f
            return u, v, 7.0 + 0.35 * math.hypot(u - last.u, v - last.v)
        ts = np.array([p.t for p in pts]) - last.t
        us, vs = np.array([p.u for p in pts]), np.array([p.v for p in pts])
        deg = 2 if len(pts) >= 4 else 1
        u = float(np.polyval(np.polyfit(ts, us, deg), t - last.t))
        v = float(np.polyval(np.polyfit(ts, vs, deg), t - last.t))
        step = math.hypot(u - last.u, v - last.v)
        return u, v, 7.0 + 0.35 * step


def _facade_points(points: Sequence[PathPoint], h: NDArray[np.float64]) -> NDArray[np.float64]:
    uv = np.array([(p.u, p.v) for p in points], np.float64).reshape(-1, 1, 2)
    return np.asarray(cv2.perspectiveTransform(uv, h).reshape(-1, 2), np.float64)


def _inliers(ts: NDArray[np.float64], xy: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Sightings that lie on the path: at most a fifth, the furthest from a first parabola fit, are dropped (in rain
    a drop next to the object can stand in for it for a frame)."""
    cy, cx = np.polyfit(ts, xy[:, 1], 2), np.polyfit(ts, xy[:, 0], 1)
    err = np.hypot(xy[:, 1] - np.polyval(cy, ts), xy[:, 0] - np.polyval(cx, ts))
    limit = max(3 * float(np.median(err)), 0.1)
    worst = np.argsort(err)[::-1][: len(ts) // 5]
    keep = np.ones(len(ts), np.bool_)
    keep[worst[err[worst] > limit]] = False
    return keep


class FallDetector:
    """Feed frames in order (``feed``); get back the paths confirmed as falling objects on that frame."""

    def __init__(
        self,
        grid: FacadeGrid,
        *,
        warmup_s: float = 1.5,
        var_threshold: float = 25.0,
        history: int = 300,
        min_area: int = 2,
        max_area: int = 2500,
    ) -> None:
        self.grid = grid
        self.warmup_s = warmup_s
        self.min_area, self.max_area = min_area, max_area
        self._mog = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=var_threshold, detectShadows=False)
        self._h: NDArray[np.float64] | None = None
        self._size: tuple[int, int] | None = None
        self._tracks: list[_Track] = []
        self._next = 1
        self._t0: float | None = None
        self._recent: list[tuple[float, NDArray[np.float64], NDArray[np.float64]]] = []
        self.frames = 0

    def feed(self, image: NDArray[np.uint8], t: float) -> list[FallingPath]:
        """Process one frame taken at ``t`` seconds; return paths confirmed as falling on it (usually none)."""
        self.frames += 1
        h, w = image.shape[:2]
        if self._size != (w, h):
            self._size, self._h = (w, h), self.grid.homography(w, h)
        # Colour, not grey: an object as bright as the wall behind it but of another colour still stands out.
        mask = np.asarray(self._mog.apply(image), np.uint8)
        if self._t0 is None:
            self._t0 = t
        if t - self._t0 < self.warmup_s:
            return []
        wholesale = np.count_nonzero(mask) > GLOBAL_CHANGE * mask.size
        blobs = [] if wholesale else self._blobs(mask)
        self._associate(blobs, t)
        return [p for tr in self._tracks if not tr.confirmed and (p := self._judge(tr)) is not None]

    def _blobs(self, mask: NDArray[np.uint8]) -> list[tuple[float, float, int]]:
        n, _, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        out = [
            (float(centroids[i][0]), float(centroids[i][1]), int(stats[i, cv2.CC_STAT_AREA]))
            for i in range(1, n)
            if self.min_area <= stats[i, cv2.CC_STAT_AREA] <= self.max_area
        ]
        if len(out) > MAX_BLOBS:
            out.sort(key=lambda b: -b[2])
            out = out[:MAX_BLOBS]
        return out

    def _associate(self, blobs: list[tuple[float, float, int]], t: float) -> None:
        """Greedy nearest matching of blobs to predicted track positions within each track's gate."""
        used_t: set[int] = set()
        used_b: set[int] = set()
        if blobs and self._tracks:
            bu = np.array([b[0] for b in blobs])
            bv = np.array([b[1] for b in blobs])
            # Established paths choose first (a cascade, as in DeepSORT): in rain a drop near a falling object's
            # predicted spot must not take the object's place in its path.
            predicted = np.array([tr.predict(t) for tr in self._tracks]).reshape(-1, 3)
            d = np.hypot(predicted[:, 0:1] - bu[None, :], predicted[:, 1:2] - bv[None, :])
            within = d <= predicted[:, 2:3]
            long = np.array([len(tr.points) >= 3 for tr in self._tracks])
            for established in (True, False):
                rows, cols = np.nonzero(within & (long == established)[:, None])
                pairs = sorted(zip(d[rows, cols].tolist(), rows.tolist(), cols.tolist(), strict=True))
                for _, i, j in pairs:
                    if i in used_t or j in used_b:
                        continue
                    used_t.add(i)
                    used_b.add(j)
                    u, v, a = blobs[j]
                    self._tracks[i].points.append(PathPoint(t, u, v, a))
                    self._tracks[i].misses = 0
        for i, tr in enumerate(self._tracks):
            if i not in used_t:
                tr.misses += 1
        self._tracks = [tr for tr in self._tracks if tr.misses <= 2 and len(tr.points) < 200]
        for j, (u, v, a) in enumerate(blobs):
            if j not in used_b:
                self._tracks.append(_Track(self._next, [PathPoint(t, u, v, a)]))
                self._next += 1

    def _judge(self, tr: _Track) -> FallingPath | None:
        """The path as a falling object if it fits one (see the module docstring), else None."""
        pts = tr.points
        if tr.misses or len(pts) < MIN_POINTS or pts[-1].t - pts[0].t < MIN_SPAN_S:
            return None
        assert self._h is not None
        xy = _facade_points(pts, self._h)
        ts = np.array([p.t for p in pts]) - pts[0].t
        drop = float(xy[0, 1] - xy[-1, 1])
        if drop < MIN_DROP_FLOORS * self.grid.floor_h:
            return None
        keep = _inliers(ts, xy)
        ts, xy = ts[keep], xy[keep]
        cy = np.polyfit(ts, xy[:, 1], 2)
        accel = -2 * float(cy[0])
        if not MIN_G * GRAVITY <= accel <= MAX_G * GRAVITY:
            return None
        fall_speed = -float(np.polyval(np.polyder(cy), ts[-1]))
        if fall_speed < MIN_FALL_SPEED:
            return None
        cx = np.polyfit(ts, xy[:, 0], 1)
        if abs(float(cx[0])) > MAX_SIDEWAYS:
            return None
        res_y = xy[:, 1] - np.polyval(cy, ts)
        res_x = xy[:, 0] - np.polyval(cx, ts)
        residual = float(np.sqrt(np.mean(res_y**2 + res_x**2)))
        if residual > MAX_RESIDUAL_M + 0.002 * drop:
            return None
        tr.confirmed = self._continues(pts[0].t, xy[0], pts[-1].t)
        if tr.confirmed:
            return None  # the same object again, picked up anew after its first path was lost
        origin = self._origin(ts, xy, pts[0].t)
        if not self.grid.inside(origin.x, origin.y):
            return None
        tr.confirmed = True
        self._recent.append((pts[0].t, cx, cy))
        return FallingPath(tr.id, tuple(pts), round(accel, 2), round(residual, 3), round(drop, 2), origin)

    def _continues(self, t: float, xy: NDArray[np.float64], now: float) -> bool:
        """A path starting at façade point ``xy`` at ``t`` lies on the extrapolation of one confirmed lately."""
        self._recent = [r for r in self._recent if now - r[0] <= SAME_OBJECT_S]
        for t0, cx, cy in self._recent:
            x, y = float(np.polyval(cx, t - t0)), float(np.polyval(cy, t - t0))
            if abs(x - xy[0]) <= SAME_OBJECT_M and xy[1] <= float(np.polyval(cy, 0.0)) and y - xy[1] > -SAME_OBJECT_M:
                return True
        return False

    def _origin(self, ts: NDArray[np.float64], xy: NDArray[np.float64], t_first: float) -> Origin:
        """Trace the first second of the path back, under gravity, to where its vertical speed was zero."""
        early = ts <= ts[0] + ORIGIN_WINDOW_S
        te, ye, xe = ts[early], xy[early, 1], xy[early, 0]
        c1, c0 = np.polyfit(te, ye + GRAVITY * te**2 / 2, 1)  # y = c0 + c1 t - g t²/2
        t_apex = float(c1) / GRAVITY
        t0 = min(max(t_apex, -MAX_BACK_S), 0.0)
        y0 = float(c0 + c1 * t0 - GRAVITY * t0**2 / 2)
        bx = np.polyfit(te, xe, 1) if len(te) >= 2 else np.array([0.0, float(xe[0])])
        x0 = float(np.polyval(bx, t0))
        floor, column = self.grid.window_of(x0, y0)
        return Origin(floor, column, round(x0, 2), round(y0, 2), round(t_first + t0, 3))
