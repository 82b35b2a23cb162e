"""Camera sources behind one interface (``compound.frames``): registered schemes and anything OpenCV opens.

``open_source("sim:lift-ebike")`` plays a rendered scenario through the factory the simulators register
(the CLI wires them in; the edge never imports them); ``open_source("rtsp://...")`` or a file path reads a
real camera or recording. A real camera is therefore a config change (``source:`` of the camera device).

A live camera (``rtsp://``, ``http://``, any ``scheme://`` URL, or a device index) is a ``LiveCaptureSource``:
a background thread reads it with ``cv2.VideoCapture`` (open and read timeouts), keeps only the newest
frame(s) (a consumer that falls behind skips frames instead of lagging), and reconnects with backoff when
the stream drops. It never fails to open: a camera that is down reports silence (``silent_s``), which the
edge turns into ``device_offline`` for that camera (``edge/cameras.py``). A file is a ``VideoCaptureSource``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from compound.frames import CAMERA_SOURCES, Frame, FrameSource, SourceError

__all__ = [
    "FFMPEG_LIVE_OPTIONS",
    "SOURCE_SCHEMES",
    "CameraSource",
    "Frame",
    "LiveCaptureSource",
    "LiveSource",
    "SourceError",
    "VideoCaptureSource",
    "is_live_spec",
    "open_source",
]

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


FFMPEG_LIVE_OPTIONS = "rtsp_transport;tcp|analyzeduration;500000"
"""OpenCV's FFmpeg options for live URLs unless ``$OPENCV_FFMPEG_CAPTURE_OPTIONS`` is set: RTSP over TCP (no
torn frames from lost UDP packets) and 0.5 s of stream analysis on open (FFmpeg's default 5 s makes the open
take 5 s and then delivers those 5 s of frames in a burst)."""

_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_ENV_LOCK = threading.Lock()  # cameras open from their own threads; the options travel in the environment


@runtime_checkable
class LiveSource(Protocol):
    """A camera that sends frames when it likes: read with a timeout, and say how long it has been silent."""

    name: str
    fps: float
    live: bool

    def next_frame(self, timeout: float) -> Frame | None:
        """The newest frame not yet returned, waiting up to ``timeout`` s; None when none came (or closed)."""
        ...

    def silent_s(self) -> float:
        """Seconds since the last frame arrived (since the source opened, when none has)."""
        ...

    def close(self) -> None:
        """Stop reading and release the camera."""
        ...


class LiveCaptureSource:
    """A live camera read by a background thread: bounded latest-frame buffer, timeouts, reconnect with backoff.

    ``buffer`` frames are kept (default 1: only the newest); older ones are dropped and counted in
    ``dropped``. A failed open or a read that fails or times out (``read_timeout_s``) closes the capture
    and opens it again after a backoff that doubles from ``backoff_s`` up to ``max_backoff_s`` (reset by
    the first frame of a connection). ``connects`` counts successful opens, ``losses`` dropped streams.
    ``read()`` (the ``FrameSource`` interface) blocks until a frame comes and returns None only once closed.
    """

    live = True

    def __init__(
        self,
        url: str,
        *,
        fps: float | None = None,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        backoff_s: float = 0.5,
        max_backoff_s: float = 5.0,
        buffer: int = 1,
    ) -> None:
        if buffer < 1:
            raise ValueError("buffer must hold at least one frame")
        self.name = url
        self.fps = fps or 5.0
        self._fps_given = fps is not None
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.connected = False
        self.connects = 0
        self.losses = 0
        self.dropped = 0
        self.received = 0
        self.last_error = ""
        self._frames: deque[Frame] = deque(maxlen=buffer)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._last_frame = self._t0
        self._thread = threading.Thread(target=self._run, name=f"capture-{url}", daemon=True)
        self._thread.start()

    # ---- consumer side
    def next_frame(self, timeout: float) -> Frame | None:
        """The oldest buffered frame (the newest when ``buffer`` is 1), waiting up to ``timeout`` s for one."""
        with self._cond:
            if not self._frames and not self._stop.is_set():
                self._cond.wait(timeout)
            return self._frames.popleft() if self._frames else None

    def read(self) -> Frame | None:
        """The next frame, waiting as long as it takes; None once closed."""
        while not self._stop.is_set():
            frame = self.next_frame(0.5)
            if frame is not None:
                return frame
        return None

    def silent_s(self) -> float:
        """Seconds since the last frame arrived (since the source opened, when none has)."""
        return time.monotonic() - self._last_frame

    def close(self) -> None:
        """Stop the reader thread (within the read timeout) and release the capture."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(self.read_timeout_s + self.open_timeout_s + 1.0)

    # ---- reader thread
    def _open(self) -> cv2.VideoCapture | None:
        target: str | int = int(self.name) if self.name.isdigit() else self.name
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.read_timeout_s * 1000),
        ]
        with _ENV_LOCK:
            preset = _ENV in os.environ
            if not preset:
                os.environ[_ENV] = FFMPEG_LIVE_OPTIONS
            try:
                cap = cv2.VideoCapture(target, cv2.CAP_ANY if isinstance(target, int) else cv2.CAP_FFMPEG, params)
            finally:
                if not preset:
                    os.environ.pop(_ENV, None)
        if not cap.isOpened():
            cap.release()
            return None
        if not self._fps_given:
            reported = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            if 0 < reported < 240:
                self.fps = reported
        return cap

    def _run(self) -> None:
        failures = 0
        index = 0
        while not self._stop.is_set():
            cap = self._open()
            if cap is None:
                self.last_error = "cannot open"
                delay = min(self.max_backoff_s, self.backoff_s * 2**failures)
                failures += 1
                # the first failure is a warning; a camera that stays down is reported as device_offline
                (log.warning if failures == 1 else log.debug)(
                    "camera source %s: cannot open; retrying in %.1f s", self.name, delay
                )
                self._stop.wait(delay)
                continue
            self.connects += 1
            self.connected = True
            log.info("camera source %s: connected (%.1f fps)", self.name, self.fps)
            try:
                while not self._stop.is_set():
                    ok, image = cap.read()
                    if not ok or image is None:
                        break
                    failures = 0
                    if image.ndim == 2:
                        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
                    now = time.monotonic()
                    frame = Frame(np.ascontiguousarray(image, dtype=np.uint8), now - self._t0, datetime.now(UTC), index)
                    index += 1
                    with self._cond:
                        if len(self._frames) == self._frames.maxlen:
                            self.dropped += 1
                        self._frames.append(frame)
                        self._last_frame = now
                        self.received += 1
                        self._cond.notify_all()
            finally:
                cap.release()
                self.connected = False
            if self._stop.is_set():
                break
            self.losses += 1
            self.last_error = "stream lost"
            delay = min(self.max_backoff_s, self.backoff_s * 2**failures)
            failures += 1
            log.warning("camera source %s: stream lost; reconnecting in %.1f s", self.name, delay)
            self._stop.wait(delay)


SOURCE_SCHEMES = CAMERA_SOURCES
"""Source factories by ``scheme:`` prefix (``compound.frames.CAMERA_SOURCES``); anything else is OpenCV's."""


def is_live_spec(spec: str) -> bool:
    """A live camera: a URL (``rtsp://``, ``http://``, ...; not ``file://``) or a device index."""
    return spec.isdigit() or ("://" in spec and not spec.startswith("file://"))


def open_source(spec: str) -> CameraSource:
    """Open ``scheme:rest`` through its registered factory (``sim:<scenario>[:<seed>]`` once the simulators are
    registered), a live camera (``rtsp://...``, a device index: ``LiveCaptureSource``), or a file."""
    scheme, sep, rest = spec.partition(":")
    if sep and scheme in CAMERA_SOURCES:
        return CAMERA_SOURCES[scheme](rest)
    if is_live_spec(spec):
        return LiveCaptureSource(spec)
    return VideoCaptureSource(spec)
