"""Recordings: one portable file holding what crossed a compound's broker, its camera frames and raw samples.

Why MCAP (``mcap`` on PyPI): it is the container robotics already records and replays with (rosbag2's
default storage, Foxglove), so a recording opens in existing viewers and tools (``mcap info``, Foxglove
Studio shows the JSON payloads and the camera channels as images) instead of a format only this project
reads. It is append-only and chunked (zstd) while recording, and ``finish()`` writes a summary (per-channel
counts, time span, chunk index) that makes ``record info`` instant and time-range reads cheap. A file cut
off without its summary is still readable front to back. The Python library is small and pure Python
(zstd/lz4 bindings only).

Layout (profile ``compound``), every time in nanoseconds since the Unix epoch:

- **MQTT messages**: one channel per (topic, QoS, retain), topic = the MQTT topic, metadata
  ``{"kind": "mqtt", "qos": "1", "retain": "false"}``, message data = the payload bytes unchanged,
  ``log_time`` = receive time (strictly increasing within a file, so the order is deterministic).
  Message encoding ``json`` for the wire contract's JSON topics, ``jpeg`` for snapshots.
- **Camera frames** (``record --frames``): channel ``/camera/<device>``, schema ``foxglove.CompressedImage``
  (JSON schema), each message ``{"timestamp", "frame_id": device, "format": "jpeg", "data": base64}``;
  metadata ``{"kind": "frames", "device", "fps"}``.
- **Raw samples** (``sim run --record``: what the devices produced, before any rule): channel
  ``/samples/<edge>``, JSON ``{"device", "quantity", "value", "at", "battery"}``, ``log_time`` = sample time;
  metadata ``{"kind": "samples", "edge"}``.

The reader turns a recording back into messages (``compound replay`` republishes them), into ``Sample``
values (the ``recording`` sensor driver: recorded samples, else recorded readings) and into ``Frame`` values
(the ``recording:`` camera source), so an edge re-runs its rules and detector on recorded input.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Self

import numpy as np
from mcap.writer import CompressionType, Writer
from numpy.typing import NDArray

from compound import wire
from compound.drivers import Quantity, Sample

__all__ = [
    "PROFILE",
    "RecordedFrame",
    "RecordedMessage",
    "RecordingError",
    "RecordingWriter",
    "from_ns",
    "to_ns",
]

log = logging.getLogger(__name__)

PROFILE = "compound"
"""The MCAP profile of this project's recordings."""

FRAMES_PREFIX = "/camera/"
SAMPLES_PREFIX = "/samples/"
CHUNK_BYTES = 256 * 1024
"""Chunk size: what a killed recorder can lose at most, beside what ``flush()`` has not yet written."""
JPEG_QUALITY = 95
"""High enough that the detector sees what it saw live (scores move by a few hundredths at most)."""

_COMPRESSED_IMAGE_SCHEMA = {
    "title": "foxglove.CompressedImage",
    "type": "object",
    "properties": {
        "timestamp": {
            "type": "object",
            "properties": {"sec": {"type": "integer"}, "nsec": {"type": "integer"}},
        },
        "frame_id": {"type": "string"},
        "data": {"type": "string", "contentEncoding": "base64"},
        "format": {"type": "string"},
    },
}
_SAMPLE_SCHEMA = {
    "title": "compound.Sample",
    "type": "object",
    "properties": {
        "device": {"type": "string"},
        "quantity": {"type": "string", "enum": [q.value for q in Quantity]},
        "value": {"type": "number"},
        "at": {"type": "string", "format": "date-time"},
        "battery": {"type": ["number", "null"]},
    },
}


class RecordingError(OSError):
    """A recording cannot be read or written; ``path`` names it."""

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(f"recording {str(path)!r}: {message}")
        self.path = str(path)


def to_ns(moment: datetime) -> int:
    """Nanoseconds since the Unix epoch of an aware datetime."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def from_ns(ns: int) -> datetime:
    """The UTC datetime of nanoseconds since the Unix epoch (microsecond resolution)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1_000)


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """One MQTT message as received: topic, payload bytes, QoS, retain flag, receive time (ns)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    time_ns: int


@dataclass(frozen=True, slots=True)
class RecordedFrame:
    """One camera frame as recorded: JPEG bytes, its index in the stream and its time (ns)."""

    device: str
    jpeg: bytes
    index: int
    time_ns: int
    fps: float


class RecordingWriter:
    """Writes a recording as it goes; thread-safe (MQTT callbacks and camera threads write into one file).

    ``close()`` writes the MCAP summary; a file is readable after ``close()`` and, front to back, even
    without it.
    """

    def __init__(self, path: Path | str, *, source: str, metadata: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        try:
            self._stream: IO[bytes] = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise RecordingError(path, exc.strerror or str(exc)) from exc
        self._writer = Writer(self._stream, chunk_size=CHUNK_BYTES, compression=CompressionType.ZSTD)
        self._writer.start(profile=PROFILE, library=f"compound-safety recording, {source}")
        self._writer.add_metadata(
            "recording",
            {"source": source, "created": datetime.now(UTC).isoformat(timespec="seconds"), **dict(metadata or {})},
        )
        self._lock = threading.Lock()
        self._channels: dict[tuple[str, int, bool], int] = {}
        self._frame_channels: dict[str, int] = {}
        self._sample_channels: dict[str, int] = {}
        self._schemas: dict[str, int] = {}
        self._last_ns = 0
        self._sequence = 0
        self.messages = 0
        """Messages written so far (MQTT messages, frames and samples)."""
        self.bytes = 0
        """Payload bytes written so far (before compression)."""
        self.closed = False

    # ---- writing
    def message(self, topic: str, payload: bytes, qos: int, retain: bool, time_ns: int) -> None:
        """Add one MQTT message (receive time ``time_ns``)."""
        with self._lock:
            key = (topic, qos, retain)
            channel = self._channels.get(key)
            if channel is None:
                encoding = "jpeg" if _is_snapshot(topic) else "json"
                meta = {"kind": "mqtt", "qos": str(qos), "retain": "true" if retain else "false"}
                channel = self._channels[key] = self._writer.register_channel(topic, encoding, 0, meta)
            # Strictly increasing receive times: a reader's time order is then the receive order, whatever ties.
            time_ns = max(time_ns, self._last_ns + 1)
            self._last_ns = time_ns
            self._add(channel, time_ns, payload)

    def frame(self, device: str, image: NDArray[np.uint8] | bytes, *, index: int, time_ns: int, fps: float) -> None:
        """Add one camera frame (BGR pixels are JPEG-encoded; bytes are taken as a JPEG already)."""
        jpeg = image if isinstance(image, bytes) else _encode_jpeg(image)
        body = {
            "timestamp": {"sec": time_ns // 1_000_000_000, "nsec": time_ns % 1_000_000_000},
            "frame_id": device,
            "format": "jpeg",
            "index": index,
            "data": base64.b64encode(jpeg).decode("ascii"),
        }
        with self._lock:
            channel = self._frame_channels.get(device)
            if channel is None:
                schema = self._schema("foxglove.CompressedImage", _COMPRESSED_IMAGE_SCHEMA)
                meta = {"kind": "frames", "device": device, "fps": f"{fps:g}"}
                channel = self._writer.register_channel(FRAMES_PREFIX + device, "json", schema, meta)
                self._frame_channels[device] = channel
            self._add(channel, time_ns, json.dumps(body).encode())

    def sample(self, edge: str, sample: Sample) -> None:
        """Add one raw sample of a device of ``edge`` (time = the sample's ``at``)."""
        body = {
            "device": sample.device,
            "quantity": sample.quantity.value,
            "value": sample.value,
            "at": sample.at.isoformat(),
            "battery": sample.battery,
        }
        with self._lock:
            channel = self._sample_channels.get(edge)
            if channel is None:
                schema = self._schema("compound.Sample", _SAMPLE_SCHEMA)
                meta = {"kind": "samples", "edge": edge}
                channel = self._writer.register_channel(SAMPLES_PREFIX + edge, "json", schema, meta)
                self._sample_channels[edge] = channel
            self._add(channel, to_ns(sample.at), json.dumps(body).encode())

    def flush(self) -> None:
        """Write the chunk in progress to disk (a recorder calls it every few seconds)."""
        with self._lock:
            if not self.closed:
                self._writer.flush()  # type: ignore[no-untyped-call]
                self._stream.flush()

    def close(self) -> None:
        """Write the summary and close the file (idempotent)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                self._writer.finish()  # type: ignore[no-untyped-call]
            finally:
                self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _schema(self, name: str, schema: dict[str, Any]) -> int:
        if name not in self._schemas:
            self._schemas[name] = self._writer.register_schema(name, "jsonschema", json.dumps(schema).encode())
        return self._schemas[name]

    def _add(self, channel: int, time_ns: int, data: bytes) -> None:
        if self.closed:
            raise RecordingError(self.path, "already closed")
        self._sequence += 1
        self._writer.add_message(channel, log_time=time_ns, data=data, publish_time=time_ns, sequence=self._sequence)
        self.messages += 1
        self.bytes += len(data)


def _is_snapshot(topic: str) -> bool:
    parts = topic.split("/")
    return len(parts) >= 6 and parts[4] == wire.MessageType.SNAPSHOT.value


def _encode_jpeg(image: NDArray[np.uint8]) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), JPEG_QUALITY])
    if not ok:
        raise ValueError("OpenCV could not encode the frame as JPEG")
    return bytes(buf.tobytes())
