"""Draw primitives into a frame and, with the same geometry, into a per-pixel object-id label map."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

Color = tuple[int, int, int]
Point = tuple[float, float]


class Painter:
    """Draw one object in local coordinates (cm, origin at ground contact, y up) onto image and labels."""

    def __init__(
        self,
        image: NDArray[np.uint8],
        labels: NDArray[np.int32],
        obj_id: int,
        origin: Point,
        scale: float,
        *,
        flip: bool = False,
        squash: float = 1.0,
        tilt: float = 0.0,
    ) -> None:
        self.image = image
        self.labels = labels
        self.obj_id = obj_id
        self.ox, self.oy = origin
        self.sx = -scale if flip else scale
        self.sy = scale * squash
        self.tilt = tilt

    def pt(self, x: float, y: float) -> tuple[int, int]:
        """Map a local point to integer pixel coordinates (shift=4 fixed point)."""
        px = self.ox + self.sx * x + self.tilt * y * abs(self.sx)
        py = self.oy - self.sy * y
        return round(px * 16), round(py * 16)

    def _pts(self, points: Sequence[Point]) -> NDArray[np.int32]:
        return np.array([self.pt(x, y) for x, y in points], dtype=np.int32).reshape(-1, 1, 2)

    def _w(self, width: float) -> int:
        return max(1, round(width * abs(self.sx)))

    def poly(self, points: Sequence[Point], color: Color) -> None:
        """Fill a polygon."""
        pts = self._pts(points)
        cv2.fillPoly(self.image, [pts], color, cv2.LINE_AA, shift=4)
        cv2.fillPoly(self.labels, [pts], self.obj_id, cv2.LINE_8, shift=4)

    def line(self, a: Point, b: Point, width: float, color: Color) -> None:
        """Draw a thick line segment (width in cm)."""
        pa, pb = self.pt(*a), self.pt(*b)
        w = self._w(width)
        cv2.line(self.image, pa, pb, color, w, cv2.LINE_AA, shift=4)
        cv2.line(self.labels, pa, pb, self.obj_id, w, cv2.LINE_8, shift=4)

    def polyline(self, points: Sequence[Point], width: float, color: Color, closed: bool = False) -> None:
        """Draw connected segments."""
        pts = self._pts(points)
        w = self._w(width)
        cv2.polylines(self.image, [pts], closed, color, w, cv2.LINE_AA, shift=4)
        cv2.polylines(self.labels, [pts], closed, self.obj_id, w, cv2.LINE_8, shift=4)

    def ellipse(self, center: Point, rx: float, ry: float, color: Color, width: float = -1) -> None:
        """Draw a filled (width < 0) or outlined axis-aligned ellipse; radii in cm."""
        c = self.pt(*center)
        axes = (max(1, round(rx * abs(self.sx) * 16)), max(1, round(ry * self.sy * 16)))
        w = -1 if width < 0 else self._w(width)
        cv2.ellipse(self.image, c, axes, 0, 0, 360, color, w, cv2.LINE_AA, shift=4)
        cv2.ellipse(self.labels, c, axes, 0, 0, 360, self.obj_id, w, cv2.LINE_8, shift=4)

    def circle(self, center: Point, r: float, color: Color, width: float = -1) -> None:
        """Draw a circle (an ellipse under the view's squash)."""
        self.ellipse(center, r, r, color, width)
