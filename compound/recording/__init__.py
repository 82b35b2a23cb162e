"""Recordings: one portable MCAP file holding what crossed a compound's broker, its camera frames and raw samples.

``mcapfile`` holds the format and the writer (why MCAP is in its docstring), ``reader`` reads a file back,
``playback`` turns a recording into a sensor driver and a camera source for an edge.
"""

from compound.recording.mcapfile import (
    PROFILE,
    RecordedFrame,
    RecordedMessage,
    RecordingError,
    RecordingWriter,
    from_ns,
    to_ns,
)
from compound.recording.playback import (
    RecordedCamera,
    RecordedDriver,
    open_recorded_camera,
    recording_driver,
    register,
)
from compound.recording.reader import Recording, RecordingInfo

__all__ = [
    "PROFILE",
    "RecordedCamera",
    "RecordedDriver",
    "RecordedFrame",
    "RecordedMessage",
    "Recording",
    "RecordingError",
    "RecordingInfo",
    "RecordingWriter",
    "from_ns",
    "open_recorded_camera",
    "recording_driver",
    "register",
    "to_ns",
]
