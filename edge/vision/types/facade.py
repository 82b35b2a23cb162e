"""The façade camera (高空抛物): an object thrown or dropped from a window raises ``thrown_object`` for its flat.

The camera looks up at a building face. Its options (``facade:`` in vision.yaml) say which floors and window
columns it sees, which unit and flat each column belongs to, and where the window grid's corners are in its
picture (measured once when it is installed). The rule reads the frames itself (a ``FrameRule``): motion
analysis (``edge/vision/falling.py``) finds paths that fall like a thrown body and traces each back to its
window; no trained model is involved, so it behaves the same on real footage.

The alarm's location is the estimated window: building, unit, floor and flat (``EventKind.located_by_event``),
so the hub routes it to that flat's micro-grid. Its evidence is one payload on the snapshot topic: a JPEG of
the frame with the fitted path, the sightings and the window of origin drawn, followed by a short clip of the
fall (smaller JPEG frames with the path drawn), i.e. a Motion-JPEG. Any JPEG viewer shows the first image (the
still); ``clip_frames`` splits out the rest.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from compound.wire import MAX_SNAPSHOT_BYTES, EventKind, EventState, Location, Severity
from edge.vision.camera_types import CameraKind, CameraSetup, register_camera_kind
from edge.vision.detector import Detection
from edge.vision.falling import FacadeGrid, FallDetector, FallingPath
from edge.vision.rules import VisionVerdict
from edge.vision.tracker import Track

__all__ = ["FACADE", "FacadeRuleConfig", "ThrownObjectRule", "clip_frames"]

log = logging.getLogger(__name__)

_RED, _YELLOW, _WHITE = (0, 0, 255), (0, 220, 255), (255, 255, 255)

Corner = tuple[float, float]


class FacadeRuleConfig(BaseModel):
    """A façade camera's window grid and alarm options: the ``facade:`` block of its camera in vision.yaml.

    Defaults describe the simulated camera in front of building b1 (18 floors, units u1 and u2 with 4 flats a
    floor each, ``sim:facade-throw``); a real camera gives its own ``grid`` corners.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_floor: int = Field(default=1, ge=-5, le=120, description="Lowest floor the camera sees.")
    floors: int = Field(default=18, ge=1, le=120, description="Floors seen, from first_floor up.")
    units: list[str] = Field(
        default_factory=lambda: ["u1", "u2"],
        min_length=1,
        max_length=12,
        description="Units whose windows the camera sees, left to right in its picture.",
    )
    flats_per_floor: int = Field(default=4, ge=1, le=12, description="Window columns (flats) of each unit.")
    floor_h_m: float = Field(default=3.0, gt=1.5, le=10, description="Floor height, metres.")
    column_w_m: float = Field(default=3.6, gt=0.5, le=30, description="Width of one window column, metres.")
    grid: list[Corner] = Field(
        default_factory=lambda: [(0.0361, 0.9386), (0.9639, 0.9386), (0.7837, 0.044), (0.2163, 0.044)],
        min_length=4,
        max_length=4,
        description="The window grid's corners as frame fractions: bottom-left, bottom-right, top-right, top-left.",
    )
    clear_after_s: float = Field(default=30.0, gt=0, le=3600, description="Clear after no throw for this long.")
    clip_frames: int = Field(default=10, ge=0, le=40, description="Frames of the fall in the evidence clip.")
    clip_width: int = Field(default=200, ge=64, le=640, description="Width of the clip's frames, pixels.")

    @model_validator(mode="after")
    def _grid(self) -> FacadeRuleConfig:
        for x, y in self.grid:
            if not (0 <= x <= 1 and 0 <= y <= 1):
                raise ValueError(f"grid corner ({x}, {y}) is outside the frame: use fractions 0..1")
        pts = np.array(self.grid, np.float64)
        area = 0.5 * abs(float(np.dot(pts[:, 0], np.roll(pts[:, 1], 1)) - np.dot(pts[:, 1], np.roll(pts[:, 0], 1))))
        (blx, bly), (brx, bry), (trx, try_), (tlx, tly) = self.grid
        if area < 0.01 or not (blx < brx and tlx < trx and tly < bly and try_ < bry):
            raise ValueError(
                "grid must be the window grid's bottom-left, bottom-right, top-right, top-left corners "
                f"(a quadrilateral covering at least 1% of the frame), got {self.grid}"
            )
        if len(set(self.units)) != len(self.units):
            raise ValueError("units must be distinct")
        return self

    @property
    def columns(self) -> int:
        """Window columns seen: units × flats per floor."""
        return len(self.units) * self.flats_per_floor

    def facade_grid(self) -> FacadeGrid:
        """The detector's view of this grid."""
        return FacadeGrid(
            self.floors, self.columns, tuple(self.grid), self.first_floor, self.floor_h_m, self.column_w_m
        )

    def flat(self, floor: int, column: int) -> tuple[str, str]:
        """Unit and flat number of the window at ``floor``, ``column`` (0-based from the left): (u1, "1203")."""
        unit = self.units[column // self.flats_per_floor]
        return unit, f"{floor * 100 + column % self.flats_per_floor + 1}"


@dataclass
class ThrownObjectRule:
    """Raise ``thrown_object`` for each object seen falling from a window; clear after ``clear_after_s`` of quiet.

    A second object while the alarm is open is an ``updated`` event with its own window and evidence.
    """

    building: str
    options: FacadeRuleConfig = field(default_factory=FacadeRuleConfig)
    active: bool = False
    _last: float = -1e18
    _detector: FallDetector = field(init=False)
    _recent: deque[tuple[float, NDArray[np.uint8]]] = field(init=False)

    def __post_init__(self) -> None:
        self._grid = self.options.facade_grid()
        self._detector = FallDetector(self._grid)
        self._recent = deque(maxlen=60)

    def see(self, image: NDArray[np.uint8], t: float) -> list[VisionVerdict]:
        """Feed one frame; a verdict for each object confirmed falling on it, or the clear after a quiet spell."""
        if self.options.clip_frames:
            h, w = image.shape[:2]
            cw = self.options.clip_width
            small = cv2.resize(image, (cw, max(1, round(h * cw / w))), interpolation=cv2.INTER_AREA)
            self._recent.append((t, np.asarray(small, np.uint8)))
        out = [self._verdict(path, image, t) for path in self._detector.feed(image, t)]
        if self.active and not out and t - self._last >= self.options.clear_after_s:
            self.active = False
            return [VisionVerdict(EventKind.THROWN_OBJECT, EventState.CLEARED, Severity.CRITICAL, t, "No more throws")]
        return out

    def update(self, tracks: list[Track], t: float, detected: bool) -> list[VisionVerdict]:
        """Unused: the pipeline hands this rule frames (``see``), never tracks."""
        return []

    def restore(self, kind: EventKind) -> bool:
        """Re-arm an open thrown-object alarm after a restart; it clears after ``clear_after_s`` of quiet."""
        if kind is not EventKind.THROWN_OBJECT:
            return False
        self.active, self._last = True, 0.0
        return True

    def _verdict(self, path: FallingPath, image: NDArray[np.uint8], t: float) -> VisionVerdict:
        o = path.origin
        unit, flat = self.options.flat(o.floor, o.column)
        state = EventState.UPDATED if self.active else EventState.RAISED
        self.active, self._last = True, t
        h, w = image.shape[:2]
        last = path.points[-1]
        half = max(3.0, np.sqrt(last.area))
        box = (
            max(0.0, (last.u - half) / w),
            max(0.0, (last.v - half) / h),
            min(1.0, (last.u + half) / w),
            min(1.0, (last.v + half) / h),
        )
        score = float(np.clip(1.0 - path.residual, 0.0, 1.0))
        message = (
            f"Object thrown from floor {o.floor}, window column {o.column + 1} (unit {unit}, flat {flat}): "
            f"fell {path.drop:.1f} m at {path.acceleration:.1f} m/s²"
        )
        log.warning("façade %s: %s", self.building, message)
        return VisionVerdict(
            EventKind.THROWN_OBJECT,
            state,
            Severity.CRITICAL,
            t,
            message,
            (Detection("thrown_object", score, box),),
            (path.track,),
            float(o.floor),
            "floor",
            None,
            location=Location(
                building=self.building,
                unit=unit,
                floor=o.floor,
                flat=flat,
                place=f"facade window column {o.column + 1}",
            ),
            snapshot=self._evidence(path, image),
        )

    def _evidence(self, path: FallingPath, image: NDArray[np.uint8]) -> bytes:
        """The still with the path and window drawn, then the clip's frames: one Motion-JPEG under the size limit."""
        h, w = image.shape[:2]
        curve = path.curve(self._grid, w, h)
        still = image.copy()
        self._draw(still, curve, path, 1.0)
        label = f"F{path.origin.floor} C{path.origin.column + 1} {path.acceleration:.1f} m/s2"
        cv2.putText(still, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, _YELLOW, 2, cv2.LINE_AA)
        parts = [_jpeg(still, 80)]
        if self.options.clip_frames:
            start = path.origin.t - 0.3
            clip = [(t, im) for t, im in self._recent if t >= start]
            step = max(1, len(clip) // self.options.clip_frames)
            for _, small in clip[::step][-self.options.clip_frames :]:
                frame = small.copy()
                self._draw(frame, curve, path, small.shape[1] / w)
                parts.append(_jpeg(frame, 60))
        while sum(map(len, parts)) > MAX_SNAPSHOT_BYTES and len(parts) > 1:
            parts.pop()
        return b"".join(parts)

    def _draw(self, img: NDArray[np.uint8], curve: NDArray[np.float64], path: FallingPath, scale: float) -> None:
        g, o = self._grid, path.origin
        hinv = np.linalg.inv(g.homography(round(img.shape[1] / scale), round(img.shape[0] / scale)))
        k = o.floor - g.first_floor
        x1, y1 = o.column * g.column_w, k * g.floor_h
        window = np.array([[x1, y1], [x1 + g.column_w, y1], [x1 + g.column_w, y1 + g.floor_h], [x1, y1 + g.floor_h]])
        quad = cv2.perspectiveTransform(window.reshape(-1, 1, 2), hinv).reshape(-1, 2) * scale
        thick = max(1, round(2 * scale))
        cv2.polylines(img, [np.round(quad).astype(np.int32)], True, _YELLOW, thick, cv2.LINE_AA)
        cv2.polylines(img, [np.round(curve * scale).astype(np.int32)], False, _RED, thick, cv2.LINE_AA)
        for p in path.points:
            cv2.circle(img, (round(p.u * scale), round(p.v * scale)), max(1, round(2 * scale)), _WHITE, -1)


def _jpeg(img: NDArray[np.uint8], quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buf)


def clip_frames(evidence: bytes) -> list[bytes]:
    """Split a façade alarm's Motion-JPEG evidence into its JPEGs: the still first, then the clip's frames."""
    parts = evidence.split(b"\xff\xd9\xff\xd8")
    if len(parts) == 1:
        return [evidence]
    return [parts[0] + b"\xff\xd9"] + [b"\xff\xd8" + p + b"\xff\xd9" for p in parts[1:-1]] + [b"\xff\xd8" + parts[-1]]


def _rule(setup: CameraSetup[FacadeRuleConfig]) -> ThrownObjectRule:
    return ThrownObjectRule(setup.device.building, setup.options)


FACADE = CameraKind("facade_camera", "facade", FacadeRuleConfig, _rule)
"""Façade cameras (高空抛物)."""

register_camera_kind(FACADE)
