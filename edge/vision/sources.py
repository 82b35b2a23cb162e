"""Camera sources behind one interface: simulator scenarios and anything OpenCV's ``VideoCapture`` opens.

``open_source("sim:lift-ebike")`` plays a rendered scenario; ``open_source("rtsp://...")`` or a file
path reads a real camera or recording. A real camera is therefore a config change (``source:`` of
the camera device).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class SourceError(OSError):
    """A camera source cannot be opened; ``source`` names it."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"camera source {source!r}: {message}")
        self.source = source


@dataclass(slots=True)
class Frame:
    """One camera frame: BGR pixels, seconds since the stream started, wall/simulated time, index."""

    image: NDArray[np.uint8]
    t: float
    at: datetime
    index: int
    truth: list[object] = field(default_factory=list)
    """Exact labels when the frame comes from the simulator (for evaluation); empty otherwise."""


class CameraSource(Protocol):
    """A stream of frames; ``read`` returns None when the stream has ended."""

    name: str
    fps: float

    def read(self) -> Frame | None:
        """The next frame, or None at the end of the stream."""
        ...

    def close(self) -> None:
        """Release the device or file."""
        ...


class SimulatedCamera:
    """Frames of a simulator scenario at its fps (as fast as read, or paced in real time)."""

    def __init__(
        self, scenario: object, *, start: datetime = EPOCH, realtime: bool = False, with_truth: bool = False
    ) -> None:
        from simulators.camera import CameraScenario

        if not isinstance(scenario, CameraScenario):
            raise TypeError(f"expected a CameraScenario, got {type(scenario).__name__}")
        self.scenario = scenario
        self.name = f"sim:{scenario.name}"
        self.fps = scenario.fps
        self.start = start
        self.realtime = realtime
        self.with_truth = with_truth
        self._index = 0
        self._t0 = time.monotonic()

    def read(self) -> Frame | None:
        """Render the next frame; None after the scenario's duration."""
        t = self._index / self.fps
        if t >= self.scenario.duration_s:
            return None
        if self.realtime:
            delay = self._t0 + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        rendered = self.scenario.frame(t)
        frame = Frame(
            rendered.image,
            t,
            self.start + timedelta(seconds=t),
            self._index,
            list(rendered.boxes) if self.with_truth else [],
        )
        self._index += 1
        return frame

    def close(self) -> None:
        """Nothing to release."""


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


SourceFactory = Callable[[str], CameraSource]
SOURCE_SCHEMES: dict[str, SourceFactory] = {}
"""Source factories by ``scheme:`` prefix; anything else goes to ``VideoCaptureSource``."""


def _open_sim(spec: str) -> CameraSource:
    from simulators.camera import build

    name, _, rest = spec.partition(":")
    seed = 0
    if rest:
        if not rest.isdigit():
            raise SourceError(f"sim:{spec}", f"seed {rest!r} must be a non-negative integer")
        seed = int(rest)
    try:
        return SimulatedCamera(build(name, seed))
    except KeyError as exc:
        raise SourceError(f"sim:{spec}", str(exc.args[0])) from None


SOURCE_SCHEMES["sim"] = _open_sim


def open_source(spec: str) -> CameraSource:
    """Open ``sim:<scenario>[:<seed>]`` or anything ``cv2.VideoCapture`` accepts."""
    scheme, sep, rest = spec.partition(":")
    if sep and scheme in SOURCE_SCHEMES:
        return SOURCE_SCHEMES[scheme](rest)
    return VideoCaptureSource(spec)
