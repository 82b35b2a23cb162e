"""The camera source interface: what an edge's vision pipeline reads, whoever produces the frames.

A camera source yields ``Frame``s; the simulators implement it (``sim:<scene>``), and so does the edge's
OpenCV reader of files and RTSP streams. Sources are opened from a device's ``source:`` string: a
``scheme:rest`` whose scheme is registered here (``register_camera_source``) goes to that factory,
anything else to the edge's OpenCV reader. The shared core holds the registry so that the simulators can
offer a source without importing the edge, and the edge can open one without importing the simulators;
the CLI (the composition root) registers ``sim``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CAMERA_SOURCES",
    "Frame",
    "FrameSource",
    "RenderedSource",
    "SourceError",
    "SourceFactory",
    "register_camera_source",
]


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


class FrameSource(Protocol):
    """A stream of frames; ``read`` returns None when the stream has ended."""

    name: str
    fps: float

    def read(self) -> Frame | None:
        """The next frame, or None at the end of the stream."""
        ...

    def close(self) -> None:
        """Release the device or file."""
        ...


@runtime_checkable
class RenderedSource(Protocol):
    """A source that can render the frame at any time on demand (a simulator): a paced reader asks for the
    frame that is due instead of reading, and frames it skips are never rendered."""

    name: str
    fps: float

    def frame_at(self, t: float) -> Frame | None:
        """The frame ``t`` seconds into the stream, or None past its end."""
        ...


SourceFactory = Callable[[str], FrameSource]
"""Opens a source from what follows ``scheme:`` in a device's ``source:``; raises ``SourceError``."""

CAMERA_SOURCES: dict[str, SourceFactory] = {}
"""Camera source factories by ``scheme:`` prefix (``sim`` is registered by the CLI wiring)."""


def register_camera_source(scheme: str, factory: SourceFactory) -> None:
    """Register a camera source factory for ``scheme:...`` sources (replacing any previous one)."""
    CAMERA_SOURCES[scheme] = factory
