"""Polygon zones in normalized frame coordinates (from config), tested on an object's ground point."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class Zone:
    """A named polygon, vertices as (x, y) fractions of the frame width and height."""

    name: str
    polygon: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if len(self.polygon) < 3:
            raise ValueError(f"zone {self.name!r} needs at least 3 vertices, got {len(self.polygon)}")

    @classmethod
    def whole_frame(cls, name: str = "frame") -> Zone:
        """A zone covering the whole frame."""
        return cls(name, ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)))

    def contains(self, point: Sequence[float]) -> bool:
        """True if the normalized point lies inside or on the polygon."""
        poly = np.array(self.polygon, dtype=np.float32).reshape(-1, 1, 2)
        return bool(cv2.pointPolygonTest(poly, (float(point[0]), float(point[1])), False) >= 0)

    def covers(self, box: Sequence[float], min_fraction: float = 0.5) -> bool:
        """True if the box's ground point is inside, or at least ``min_fraction`` of its bottom edge is."""
        x1, _, x2, y2 = box[0], box[1], box[2], box[3]
        samples = [x1 + (x2 - x1) * k / 8 for k in range(9)]
        inside = sum(self.contains((x, y2)) for x in samples)
        return self.contains(((x1 + x2) / 2, y2)) or inside / len(samples) >= min_fraction
