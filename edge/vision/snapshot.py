"""Evidence snapshots: the frame with detection boxes and labels drawn, as JPEG bytes."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np
from numpy.typing import NDArray

from edge.vision.detector import Detection

ALARM_CLASSES = frozenset({"ebike"})
_RED, _GREEN, _AMBER = (0, 0, 255), (0, 200, 0), (0, 190, 255)


def render_snapshot(
    image: NDArray[np.uint8],
    detections: Iterable[Detection],
    *,
    highlight: Iterable[Detection] = (),
    quality: int = 85,
    max_bytes: int = 60_000,
) -> bytes:
    """Draw boxes (highlighted ones red and thick) and return a JPEG no larger than ``max_bytes``."""
    img = image.copy()
    h, w = img.shape[:2]
    marked = {id(d) for d in highlight}
    for det in detections:
        color = _RED if id(det) in marked else (_AMBER if det.cls in ALARM_CLASSES else _GREEN)
        x1, y1, x2, y2 = (int(det.box[0] * w), int(det.box[1] * h), int(det.box[2] * w), int(det.box[3] * h))
        cv2.rectangle(img, (x1, y1), (x2, y2), color, 2 if id(det) in marked else 1)
        label = f"{det.cls} {det.score:.2f}"
        cv2.putText(img, label, (x1 + 2, max(9, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, color, 1, cv2.LINE_AA)
    while True:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("JPEG encoding failed")
        if len(buf) <= max_bytes or quality <= 30:
            return bytes(buf)
        quality -= 15
