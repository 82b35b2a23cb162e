"""Write rendered scenario frames to a video file (read back with any OpenCV ``VideoCapture``)."""

from __future__ import annotations

from pathlib import Path

import cv2

from simulators.camera.scenarios import CameraScenario


def write_video(scenario: CameraScenario, path: Path | str, *, start: float = 0.0, end: float | None = None,
                fourcc: str = "MJPG") -> int:
    """Render ``scenario`` from ``start`` to ``end`` seconds into ``path``; return the number of frames."""
    end = scenario.duration_s if end is None else end
    h, w = scenario.scene.h, scenario.scene.w
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), scenario.fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write video {path} with codec {fourcc}")
    n = 0
    try:
        for t in scenario.times():
            if start <= t < end:
                writer.write(scenario.frame(t).image)
                n += 1
    finally:
        writer.release()
    return n
