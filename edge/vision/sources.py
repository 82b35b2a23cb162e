"""Camera sources behind one interface (``compound.frames``): registered schemes and anything OpenCV opens.

``open_source("sim:lift-ebike")`` plays a rendered scenario through the factory the simulators register
(the CLI wires them in; the edge never imports them); ``open_source("rtsp://...")`` or a file path reads a
real camera or recording. A real camera is therefore a config change (``source:`` of the camera device).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np

from compound.frames import CAMERA_SOURCES, Frame, FrameSource, SourceError

__all__ = ["SOURCE_SCHEMES", "CameraSource", "Frame", "SourceError", "VideoCaptureSource", "open_source"]

log = logging.getLogger(__name__)


CameraSource = FrameSource
"""A stream of frames (the shared ``compound.frames.FrameSource`` interface)."""


class VideoCaptureSource:
    """Frames from ``cv2.VideoCapture``: a video file, an RTSP/HTTP URL or a device index."""

    def __init__(self, url: str, *, fps: float | None = None, start: datetime | None = None) -> None:
        self.name = url
        target: str | int = int(url) if url.isdigit() else url
        self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            raise SourceError(url, "OpenCV cannot open it (missing file, bad URL or unsupported codec)")
        reported = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps or (reported if 0 < reported < 240 else 5.0)
        self.live = "://" in url or url.isdigit()
        self.start = start or datetime.now(UTC)
        self._index = 0
        self._t0 = time.monotonic()

    def read(self) -> Frame | None:
        """Grab the next frame; None at end of file or when the stream drops."""
        ok, image = self._cap.read()
        if not ok or image is None:
            return None
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if self.live:
            t = time.monotonic() - self._t0
            at = datetime.now(UTC)
        else:
            t = self._index / self.fps
            at = self.start + timedelta(seconds=t)
        frame = Frame(np.ascontiguousarray(image, dtype=np.uint8), t, at, self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        """Release the capture."""
        self._cap.release()


SOURCE_SCHEMES = CAMERA_SOURCES
"""Source factories by ``scheme:`` prefix (``compound.frames.CAMERA_SOURCES``); anything else is OpenCV's."""


def open_source(spec: str) -> CameraSource:
    """Open ``scheme:rest`` through its registered factory (``sim:<scenario>[:<seed>]`` once the simulators are
    registered), or anything ``cv2.VideoCapture`` accepts (a file, ``rtsp://...``, a device index)."""
    scheme, sep, rest = spec.partition(":")
    if sep and scheme in CAMERA_SOURCES:
        return CAMERA_SOURCES[scheme](rest)
    return VideoCaptureSource(spec)
