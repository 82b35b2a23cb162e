"""Procedural camera scenes: a lift car seen from a ceiling corner, a fire lane seen from a pole.

A scene maps ground coordinates ``(u, v)`` (``u`` across, ``v`` depth, both 0..1) to a pixel
position and a pixel-per-cm scale, paints its background once, and renders objects over it with
a per-pixel object-id label map, so box labels are exact (visible extent, after occlusion, lens
distortion and jitter). Camera effects: lighting from bright to night infrared, sensor noise,
motion blur, camera jitter and barrel distortion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from simulators.camera.classes import CLASS_ID
from simulators.camera.painter import Painter
from simulators.camera.shapes import DRAWERS, Style, draw_person

SceneKind = Literal["lift", "fire_lane"]
Split = Literal["train", "heldout"]

FRAME_W, FRAME_H = 320, 240
"""Rendered frame size (a low-resolution substream, as edge NVRs feed analytics)."""

HELDOUT_STYLE = 4
"""Background style index reserved for held-out evaluation; training never renders it."""


@dataclass(frozen=True, slots=True)
class Box:
    """An exact label: class name and pixel box (x1, y1, x2, y2), with the visible fraction."""

    cls: str
    x1: float
    y1: float
    x2: float
    y2: float
    visible: float = 1.0

    @property
    def class_id(self) -> int:
        """Index of the class in ``CLASS_NAMES``."""
        return CLASS_ID[self.cls]


@dataclass(slots=True)
class Placed:
    """One object to draw in a frame: class, ground position, look and animation phase."""

    cls: str
    u: float
    v: float
    seed: int
    flip: bool = False
    phase: float = 0.0
    rider: bool = False
    label: bool = True


@dataclass(frozen=True, slots=True)
class SceneParams:
    """Appearance and camera parameters of one clip (fixed while the clip plays)."""

    kind: SceneKind
    style: int
    seed: int
    gain: float
    ir: bool
    noise: float
    blur: int
    jitter: float
    k1: float
    tint: tuple[float, float, float]
    occluder: bool


def sample_params(kind: SceneKind, rng: np.random.Generator, split: Split = "train") -> SceneParams:
    """Draw random scene parameters; ``heldout`` uses a background style training never sees."""
    style = HELDOUT_STYLE if split == "heldout" else int(rng.integers(0, HELDOUT_STYLE))
    ir = bool(rng.random() < 0.25)
    gain = float(rng.uniform(0.8, 1.4)) if ir else float(rng.uniform(0.45, 1.3))
    return SceneParams(
        kind=kind,
        style=style,
        seed=int(rng.integers(0, 2**31 - 1)),
        gain=gain,
        ir=ir,
        noise=float(rng.uniform(1.0, 9.0 if ir else 6.0)),
        blur=int(rng.choice([0, 0, 0, 3, 5])),
        jitter=float(rng.uniform(0.0, 2.0)),
        k1=float(rng.uniform(-0.22, 0.02)),
        tint=(float(rng.uniform(0.85, 1.15)), float(rng.uniform(0.9, 1.1)), float(rng.uniform(0.85, 1.15))),
        occluder=bool(rng.random() < 0.15),
    )


@dataclass(slots=True)
class RenderedFrame:
    """A camera frame (BGR uint8) with its exact labels."""

    image: NDArray[np.uint8]
    boxes: list[Box] = field(default_factory=list)


def _col(rng: np.random.Generator, lo: int, hi: int) -> tuple[int, int, int]:
    c = rng.integers(lo, hi, size=3)
    return int(c[0]), int(c[1]), int(c[2])


class Scene:
    """A camera view: background, ground geometry and camera effects for one clip."""

    def __init__(self, params: SceneParams, width: int = FRAME_W, height: int = FRAME_H) -> None:
        self.params = params
        self.w, self.h = width, height
        rng = np.random.default_rng(params.seed)
        self.background = np.zeros((height, width, 3), np.uint8)
        if params.kind == "lift":
            self._geometry_lift(rng)
            self._paint_lift(rng)
        else:
            self._geometry_lane(rng)
            self._paint_lane(rng)
        self._map_x, self._map_y = self._distortion_maps(params.k1)
        self._occluder: tuple[int, int, int, int] | None = None
        if params.occluder:
            ow = int(rng.uniform(0.04, 0.1) * width)
            ox = int(rng.uniform(0.15, 0.85) * width)
            oy = int(rng.uniform(0.0, 0.5) * height)
            self._occluder = (ox, oy, ow, height)
            self._occluder_color = _col(rng, 40, 200)

    # ------------------------------------------------------------------ geometry

    def _geometry_lift(self, rng: np.random.Generator) -> None:
        j = rng.uniform(-0.04, 0.04, size=4)
        self.y_far, self.y_near = (0.42 + j[0]) * self.h, 1.02 * self.h
        self.far_x = ((0.22 + j[1]) * self.w, (0.86 + j[2]) * self.w)
        self.near_x = (-0.08 * self.w, 1.08 * self.w)
        self.s_far, self.s_near = (0.45 + j[3]) * self.w / 320, (0.85 + j[3]) * self.w / 320

    def _geometry_lane(self, rng: np.random.Generator) -> None:
        j = rng.uniform(-0.03, 0.03, size=4)
        self.y_far, self.y_near = (0.45 + j[0]) * self.h, (0.88 + j[1]) * self.h
        self.far_x = (-0.1 * self.w, 1.1 * self.w)
        self.near_x = (-0.25 * self.w, 1.25 * self.w)
        self.s_far, self.s_near = (0.20 + j[2]) * self.w / 320, (0.32 + j[3]) * self.w / 320

    def ground(self, u: float, v: float) -> tuple[float, float, float]:
        """Pixel position and px/cm scale of ground point (u across, v depth 0 far .. 1 near)."""
        y = self.y_far + (self.y_near - self.y_far) * v
        xl = self.far_x[0] + (self.near_x[0] - self.far_x[0]) * v
        xr = self.far_x[1] + (self.near_x[1] - self.far_x[1]) * v
        return xl + (xr - xl) * u, y, self.s_far + (self.s_near - self.s_far) * v

    def zone_polygon(self) -> list[tuple[float, float]]:
        """The floor (lift) or the lane (fire lane) as a normalized polygon, for zone config."""
        pts = [self.ground(0, 0), self.ground(1, 0), self.ground(1, 1), self.ground(0, 1)]
        return [(min(max(x / self.w, 0.0), 1.0), min(max(y / self.h, 0.0), 1.0)) for x, y, _ in pts]

    # ------------------------------------------------------------------ backgrounds

    def _palette(self, rng: np.random.Generator) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        style = self.params.style
        if style == HELDOUT_STYLE:  # warm wood-and-beige interior / reddish paving: never in training
            return (int(rng.integers(60, 90)), int(rng.integers(110, 140)), int(rng.integers(160, 200))), _col(
                rng, 70, 140
            )
        bases = [(170, 170, 175), (120, 125, 130), (200, 195, 185), (90, 100, 95)]
        b = bases[style]
        d = rng.integers(-20, 20, size=3)
        wall = (int(b[0] + d[0]), int(b[1] + d[1]), int(b[2] + d[2]))
        return wall, _col(rng, 50, 160)

    def _paint_lift(self, rng: np.random.Generator) -> None:
        bg = self.background
        wall, floor = self._palette(rng)
        bg[:] = wall
        # brushed steel texture on the walls
        stripes = rng.normal(0, 6, size=(1, self.w, 1))
        bg[:] = np.clip(bg.astype(np.float32) + stripes, 0, 255).astype(np.uint8)
        fx0, fx1 = self.far_x
        back = np.array([[fx0, 0], [fx1, 0], [fx1, self.y_far], [fx0, self.y_far]], np.int32)
        cv2.fillPoly(bg, [back], tuple(int(c * 0.85) for c in wall))
        # door on the back wall with its centre gap
        dx0, dx1 = fx0 + (fx1 - fx0) * 0.25, fx0 + (fx1 - fx0) * 0.75
        cv2.rectangle(bg, (int(dx0), int(self.y_far * 0.15)), (int(dx1), int(self.y_far)), (150, 150, 155), -1)
        cv2.line(bg, (int((dx0 + dx1) / 2), int(self.y_far * 0.15)), (int((dx0 + dx1) / 2), int(self.y_far)),
                 (60, 60, 60), 1)
        floor_poly = np.array(
            [self.ground(0, 0)[:2], self.ground(1, 0)[:2], self.ground(1, 1)[:2], self.ground(0, 1)[:2]], np.int32
        )
        cv2.fillPoly(bg, [floor_poly], floor)
        if rng.random() < 0.5:  # checker floor tiles
            for k in range(1, 8):
                a, b = self.ground(k / 8, 0), self.ground(k / 8, 1)
                cv2.line(bg, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), tuple(int(c * 0.8) for c in floor), 1)
        # control panel and handrail
        px = int(fx1 + (self.w - fx1) * 0.3)
        cv2.rectangle(bg, (px, int(self.h * 0.2)), (px + 10, int(self.h * 0.45)), (50, 50, 55), -1)
        for k in range(5):
            cv2.circle(bg, (px + 5, int(self.h * 0.23) + k * 10), 2, (200, 200, 120), -1)
        cv2.line(bg, (0, int(self.h * 0.55)), (int(fx0), int(self.y_far * 0.8)), (190, 190, 195), 3)
        if rng.random() < 0.5:  # advertising poster
            x = int(rng.uniform(0.0, 0.1) * self.w)
            cv2.rectangle(bg, (x, int(self.h * 0.1)), (x + 40, int(self.h * 0.4)), _col(rng, 30, 230), -1)

    def _paint_lane(self, rng: np.random.Generator) -> None:
        bg = self.background
        wall, road = self._palette(rng)
        bg[: int(self.y_far)] = wall
        for k in range(0, self.w, int(rng.integers(30, 60))):  # building windows
            cv2.rectangle(bg, (k + 5, int(self.y_far * 0.2)), (k + 22, int(self.y_far * 0.6)), (90, 80, 70), -1)
        road_c = tuple(int(c * 0.6) for c in road)
        bg[int(self.y_far) :] = road_c
        tex = rng.normal(0, 5, size=(self.h - int(self.y_far), self.w, 1))
        bg[int(self.y_far) :] = np.clip(bg[int(self.y_far) :].astype(np.float32) + tex, 0, 255).astype(np.uint8)
        # curb and pavement nearest the camera
        y_curb = int(self.y_near)
        cv2.rectangle(bg, (0, y_curb), (self.w, self.h), (150, 155, 160), -1)
        cv2.line(bg, (0, y_curb), (self.w, y_curb), (200, 200, 200), 2)
        if rng.random() < 0.5:  # grass strip
            cv2.rectangle(bg, (0, y_curb + 10), (self.w, self.h), (50, 120, 60), -1)
        # fire lane markings: yellow edge lines and hatching with "消防通道"-style blocks
        yellow = (40, 200, 230)
        for v in (0.05, 0.95):
            a, b = self.ground(0, v), self.ground(1, v)
            cv2.line(bg, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), yellow, 2)
        for k in range(12):
            a = self.ground(k / 12, 0.1)
            b = self.ground(k / 12 + 0.04, 0.9)
            cv2.line(bg, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), yellow, 1)

    def _distortion_maps(self, k1: float) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        ys, xs = np.mgrid[0 : self.h, 0 : self.w].astype(np.float32)
        cx, cy = self.w / 2, self.h / 2
        nx, ny = (xs - cx) / cx, (ys - cy) / cx
        r2 = nx * nx + ny * ny
        f = 1 + k1 * r2
        return (nx * f * cx + cx).astype(np.float32), (ny * f * cx + cy).astype(np.float32)

    # ------------------------------------------------------------------ rendering

    def render(self, objects: list[Placed], frame_index: int = 0) -> RenderedFrame:
        """Render objects (painted far to near) with camera effects; labels are visible extents."""
        p = self.params
        img = self.background.copy()
        labels = np.zeros((self.h, self.w), np.int32)
        order = sorted(range(len(objects)), key=lambda i: objects[i].v)
        full_area: dict[int, int] = {}
        for i in order:
            o = objects[i]
            x, y, s = self.ground(o.u, o.v)
            rng = np.random.default_rng(o.seed)
            style = Style.random(rng)
            style.extra["seed"] = float(o.seed % 100000)
            squash = 0.8 if p.kind == "lift" else 0.9
            painter = Painter(img, labels, i + 1, (x, y), s, flip=o.flip, squash=squash)
            # drop shadow grounds the object in the scene
            ln = {"car": 220, "tricycle": 130}.get(o.cls, 55) * s
            cv2.ellipse(img, (int(x), int(y)), (int(ln), max(2, int(8 * s))), 0, 0, 360,
                        tuple(int(c * 0.5) for c in img[min(int(y), self.h - 1), min(max(int(x), 0), self.w - 1)]),
                        -1)
            DRAWERS[o.cls](painter, style, o.phase)
            if o.rider:
                rider_style = Style.random(np.random.default_rng(o.seed + 1))
                seat_h = {"ebike": 68.0, "bicycle": 85.0, "wheelchair": 48.0, "mobility_scooter": 48.0}.get(o.cls, 60)
                seat_x = {"ebike": -40.0, "bicycle": -16.0, "wheelchair": -4.0, "mobility_scooter": -30.0}.get(
                    o.cls, 0.0)
                rider_painter = Painter(img, labels, i + 1 + 1000, (x, y), s, flip=o.flip, squash=squash)
                rider_painter.ox, rider_painter.oy = rider_painter.ox + (-seat_x if o.flip else seat_x) * s, (
                    rider_painter.oy - seat_h * s * squash)
                draw_person(rider_painter, rider_style, 0.0, seated=True, lean=6.0)
            full_area[i + 1] = int(np.count_nonzero(labels == i + 1))
            if o.rider:
                full_area[i + 1001] = int(np.count_nonzero(labels == i + 1001))
        if self._occluder is not None:
            ox, oy, ow, oh = self._occluder
            cv2.rectangle(img, (ox, oy), (ox + ow, oh), self._occluder_color, -1)
            labels[oy:oh, ox : ox + ow] = 0
        # camera jitter + lens distortion in one remap (labels with nearest neighbour)
        jrng = np.random.default_rng((p.seed, frame_index))
        jx, jy = jrng.normal(0, p.jitter, size=2) if p.jitter > 0 else (0.0, 0.0)
        mx, my = self._map_x + np.float32(jx), self._map_y + np.float32(jy)
        warped = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        labels = cv2.remap(labels.astype(np.float32), mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0).astype(np.int32)
        img = self._photometric(np.asarray(warped, np.uint8), jrng)
        boxes: list[Box] = []
        for key, area in full_area.items():
            idx = key - 1 if key <= 1000 else key - 1001
            o = objects[idx]
            if not o.label or area == 0:
                continue
            mask = (labels == key).astype(np.uint8)
            pts = cv2.findNonZero(mask)
            if pts is None:
                continue
            bx, by, bw, bh = cv2.boundingRect(pts)
            if bw < 3 or bh < 3:
                continue
            cls = "person" if key > 1000 else o.cls
            boxes.append(Box(cls, float(bx), float(by), float(bx + bw), float(by + bh), len(pts) / area))
        return RenderedFrame(img, boxes)

    def _photometric(self, img: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.uint8]:
        p = self.params
        f = img.astype(np.float32)
        if p.ir:
            gray = f @ np.array([0.2, 0.5, 0.3], np.float32)
            yy, xx = np.mgrid[0 : self.h, 0 : self.w].astype(np.float32)
            vign = 1.0 - 0.55 * (((xx - self.w / 2) / self.w) ** 2 + ((yy - self.h / 2) / self.h) ** 2) * 2.2
            f = np.repeat((gray * vign)[..., None], 3, axis=2)
        else:
            f *= np.array(p.tint, np.float32)
        f *= p.gain
        if p.blur > 1:
            k = np.zeros((p.blur, p.blur), np.float32)
            k[p.blur // 2, :] = 1.0 / p.blur
            f = np.asarray(cv2.filter2D(f, -1, k), np.float32)
        f += rng.normal(0, p.noise, size=(self.h, self.w, 1)).astype(np.float32)
        return np.clip(f, 0, 255).astype(np.uint8)


def walk_phase(t: float, speed: float = 1.0) -> float:
    """Leg/wheel animation phase at time t for an object moving at ``speed`` (m/s)."""
    return (t * speed * 6.0) % (2 * math.pi)
