"""Recordings played into an edge: the ``recording`` sensor driver and the ``recording:PATH#DEVICE`` camera source.

Both read a file written by ``compound.recording.mcapfile`` and offer it through the same interfaces as the
simulators and real devices (``compound.drivers``, ``compound.frames``), so an edge re-runs its rules and
detector on recorded input (``compound replay --into-edge``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from compound.clock import Clock
from compound.drivers import Sample, register_driver
from compound.frames import Frame, SourceError, register_camera_source
from compound.recording.mcapfile import RecordedFrame, RecordingError, from_ns
from compound.recording.reader import Recording

__all__ = ["RecordedCamera", "RecordedDriver", "open_recorded_camera", "recording_driver", "register"]

log = logging.getLogger(__name__)


class RecordedDriver:
    """The ``recording`` sensor driver: yields a recording's samples of one edge as the clock reaches them.

    Sample times are shifted by ``offset`` (the run's start minus the recording's first sample), so a
    recording plays from whenever the edge's clock starts; ``compound replay --into-edge`` starts the clock
    at the recording's own time, which keeps every timestamp as recorded.
    """

    name = "recording"

    def __init__(self, samples: Sequence[Sample], devices: Sequence[str], offset: timedelta) -> None:
        self._samples = [
            Sample(s.device, s.quantity, s.value, s.at + offset, s.battery) if offset else s for s in samples
        ]
        self._devices = list(devices)
        self._next = 0

    def devices(self) -> Sequence[str]:
        """The edge's devices (all of them: a device missing from the recording is silent)."""
        return self._devices

    def poll(self, now: datetime) -> Sequence[Sample]:
        """Recorded samples up to ``now`` not yet returned."""
        start = self._next
        while self._next < len(self._samples) and self._samples[self._next].at <= now:
            self._next += 1
        return self._samples[start : self._next]

    @property
    def done(self) -> bool:
        """True once every recorded sample has been returned."""
        return self._next >= len(self._samples)

    def close(self) -> None:
        """Nothing to release (the samples were read at start)."""


def recording_driver(
    compound: Any,
    edge_id: str,
    clock: Clock,
    *,
    path: str | None = None,
    start: datetime | None = None,
    scenario: object | None = None,
    seed: int | None = None,
    **options: Any,
) -> RecordedDriver:
    """``DriverFactory`` for ``recording``: ``--driver-option path=FILE`` (a recording with samples or readings
    of ``edge_id``'s devices), played from the run's ``start``."""
    if options:
        raise TypeError(f"unknown recording driver option(s): {', '.join(sorted(options))}")
    if path is None:
        raise ValueError("the recording driver needs --driver-option path=FILE")
    if scenario is not None or seed is not None:
        raise ValueError("a recording plays what was recorded: no --scenario or --seed")
    devices = [d.id for d in compound.devices_of_edge(edge_id)]
    samples = Recording(path).samples(edge_id, devices)
    if not samples:
        log.warning("recording %s holds no samples or readings of edge %s", path, edge_id)
    begin = start or clock.now()
    offset = begin - samples[0].at if samples else timedelta(0)
    return RecordedDriver(samples, devices, offset)


class RecordedCamera:
    """The ``recording:PATH#DEVICE`` camera source: a camera's recorded frames, decoded, at their recorded fps.

    Not live: the edge paces it by its clock and frame index, as it paces a video file.
    """

    live = False

    def __init__(self, recording: Recording, device: str) -> None:
        self.name = f"recording:{recording.path}#{device}"
        self._frames = recording.frames(device)
        first = next(self._frames, None)
        if first is None:
            raise SourceError(self.name, f"the recording holds no frames of camera {device}")
        self._pending: RecordedFrame | None = first
        self.fps = first.fps
        self._start_ns = first.time_ns

    def read(self) -> Frame | None:
        """The next recorded frame, or None at the end."""
        import cv2

        recorded, self._pending = self._pending, None
        if recorded is None:
            recorded = next(self._frames, None)
        if recorded is None:
            return None
        decoded = cv2.imdecode(np.frombuffer(recorded.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if decoded is None:
            raise SourceError(self.name, f"frame {recorded.index} is not a decodable JPEG")
        image: NDArray[np.uint8] = np.ascontiguousarray(decoded, dtype=np.uint8)
        return Frame(image, recorded.index / self.fps, from_ns(recorded.time_ns), recorded.index)

    def close(self) -> None:
        """Stop reading the file."""
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()


def open_recorded_camera(spec: str) -> RecordedCamera:
    """Open ``PATH#DEVICE`` (what follows ``recording:`` in a camera source); raises ``SourceError``."""
    path, sep, device = spec.rpartition("#")
    if not sep or not path or not device:
        raise SourceError(f"recording:{spec}", "expected recording:PATH#CAMERA_DEVICE")
    try:
        return RecordedCamera(Recording(path), device)
    except RecordingError as exc:
        raise SourceError(f"recording:{spec}", str(exc)) from exc


def register() -> None:
    """Register the ``recording`` sensor driver and the ``recording:`` camera source (called by the CLI)."""
    register_driver("recording", recording_driver)
    register_camera_source("recording", open_recorded_camera)
