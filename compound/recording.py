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
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Self

import numpy as np
from mcap.reader import NonSeekingReader, make_reader
from mcap.writer import CompressionType, Writer
from numpy.typing import NDArray

from compound import wire
from compound.clock import Clock
from compound.drivers import Quantity, Sample, register_driver
from compound.frames import Frame, SourceError, register_camera_source

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


@dataclass(slots=True)
class RecordingInfo:
    """What a recording holds: per-topic counts, time span, devices and edges seen, cameras, sample edges."""

    path: Path
    source: str
    messages: int
    start_ns: int
    end_ns: int
    topics: dict[str, int]
    devices: list[str]
    edges: list[str]
    compounds: list[str]
    cameras: dict[str, int] = field(default_factory=dict)
    sample_edges: dict[str, int] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Seconds from the first message to the last."""
        return max(0, self.end_ns - self.start_ns) / 1e9

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": str(self.path),
            "source": self.source,
            "messages": self.messages,
            "start": from_ns(self.start_ns).isoformat() if self.messages else None,
            "end": from_ns(self.end_ns).isoformat() if self.messages else None,
            "duration_s": round(self.duration_s, 3),
            "compounds": self.compounds,
            "edges": self.edges,
            "devices": self.devices,
            "topics": self.topics,
            "cameras": self.cameras,
            "sample_edges": self.sample_edges,
        }


class Recording:
    """A recording opened for reading (re-opened for each pass, so iterators are independent)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise RecordingError(path, "no such file")
        self.metadata: dict[str, str] = {}
        self.complete = True
        """False for a file cut off before its summary (a killed recorder): it is read front to back."""
        try:
            with open(self.path, "rb") as stream:
                header = NonSeekingReader(stream).get_header()
        except Exception as exc:  # the mcap library raises its own errors, struct errors and more
            raise RecordingError(path, f"not a readable MCAP file ({exc})") from exc
        try:
            with open(self.path, "rb") as stream:
                for record in make_reader(stream).iter_metadata():
                    if record.name == "recording":
                        self.metadata.update(record.metadata)
        except Exception as exc:
            self.complete = False
            log.warning("recording %s has no summary (%s): reading it front to back", self.path, exc)
        if header.profile != PROFILE:
            log.warning("recording %s has MCAP profile %r, not %r", self.path, header.profile, PROFILE)

    def _iter(self, *, start_ns: int | None = None, end_ns: int | None = None) -> Iterator[tuple[Any, Any]]:
        """(channel, message) in log-time order, optionally within ``[start_ns, end_ns]``."""
        with open(self.path, "rb") as stream:
            if self.complete:
                messages = make_reader(stream).iter_messages(
                    log_time_order=True, starting_at=start_ns, ending_at=end_ns
                )
            else:
                messages = NonSeekingReader(stream).iter_messages(log_time_order=False)
            try:
                for _schema, channel, message in messages:
                    if start_ns is not None and message.log_time < start_ns:
                        continue
                    if end_ns is not None and message.log_time > end_ns:
                        continue
                    yield channel, message
            except Exception as exc:
                if self.complete:
                    raise RecordingError(self.path, f"cannot read on ({exc})") from exc
                log.warning("recording %s: cut off after the last whole chunk (%s)", self.path, exc)

    def messages(self, *, start_ns: int | None = None, end_ns: int | None = None) -> Iterator[RecordedMessage]:
        """The recorded MQTT messages in receive order."""
        for channel, message in self._iter(start_ns=start_ns, end_ns=end_ns):
            if channel.metadata.get("kind") == "mqtt":
                yield RecordedMessage(
                    channel.topic,
                    bytes(message.data),
                    int(channel.metadata.get("qos", "1")),
                    channel.metadata.get("retain") == "true",
                    message.log_time,
                )

    def frames(self, device: str) -> Iterator[RecordedFrame]:
        """The recorded frames of camera ``device``, in order."""
        for channel, message in self._iter():
            if channel.metadata.get("kind") == "frames" and channel.metadata.get("device") == device:
                body = json.loads(message.data)
                yield RecordedFrame(
                    device,
                    base64.b64decode(body["data"]),
                    int(body.get("index", 0)),
                    message.log_time,
                    float(channel.metadata.get("fps", "5")),
                )

    def samples(self, edge: str, devices: Sequence[str] | None = None) -> list[Sample]:
        """Samples of ``edge``'s devices in time order: the raw samples when recorded, else the readings
        its edge published (a live capture), converted back to samples."""
        wanted = set(devices) if devices is not None else None
        raw: list[Sample] = []
        from_readings: list[Sample] = []
        for channel, message in self._iter():
            kind = channel.metadata.get("kind")
            if kind == "samples" and channel.metadata.get("edge") == edge:
                body = json.loads(message.data)
                raw.append(
                    Sample(
                        body["device"],
                        Quantity(body["quantity"]),
                        float(body["value"]),
                        datetime.fromisoformat(body["at"]),
                        body.get("battery"),
                    )
                )
            elif kind == "mqtt" and not raw:
                sample = _reading_sample(channel.topic, bytes(message.data), edge)
                if sample is not None:
                    from_readings.append(sample)
        chosen = raw or from_readings
        if wanted is not None:
            chosen = [s for s in chosen if s.device in wanted]
        return sorted(chosen, key=lambda s: s.at)

    def info(self) -> RecordingInfo:
        """Topics and counts, time span, compounds, edges and devices (from the wire topics), cameras."""
        topics: Counter[str] = Counter()
        cameras: Counter[str] = Counter()
        sample_edges: Counter[str] = Counter()
        devices: set[str] = set()
        edges: set[str] = set()
        compounds: set[str] = set()
        count, start, end = 0, 0, 0
        channel_topics: dict[int, Any] = {}
        summary = None
        try:
            with open(self.path, "rb") as stream:
                summary = make_reader(stream).get_summary()
        except Exception:  # no summary (a cut-off file): count by reading through
            summary = None
        if summary is not None and summary.statistics is not None:
            stats = summary.statistics
            count, start, end = stats.message_count, stats.message_start_time, stats.message_end_time
            channel_topics = dict(summary.channels)
            for channel_id, n in stats.channel_message_counts.items():
                channel = channel_topics[channel_id]
                _tally(channel, n, topics, cameras, sample_edges)
        else:
            for channel, message in self._iter():
                count += 1
                start = message.log_time if count == 1 else start
                end = message.log_time
                channel_topics[channel.id] = channel
                _tally(channel, 1, topics, cameras, sample_edges)
        for channel in channel_topics.values():
            kind = channel.metadata.get("kind")
            if kind == "mqtt":
                try:
                    parsed = wire.parse_topic(channel.topic, prefix=channel.topic.split("/")[0])
                except wire.TopicError:
                    continue
                compounds.add(parsed.compound)
                edges.add(parsed.edge)
                if parsed.type in (wire.MessageType.EVENT, wire.MessageType.READING) and parsed.device:
                    devices.add(parsed.device)
            elif kind == "samples":
                edges.add(channel.metadata.get("edge", ""))
            elif kind == "frames":
                devices.add(channel.metadata.get("device", ""))
        if summary is not None and count:
            for edge in sample_edges:  # sampled devices are named in the messages, not the channels
                devices.update(s.device for s in self.samples(edge))
        return RecordingInfo(
            self.path,
            self.metadata.get("source", "?"),
            count,
            start,
            end,
            dict(sorted(topics.items())),
            sorted(d for d in devices if d),
            sorted(e for e in edges if e),
            sorted(compounds),
            dict(sorted(cameras.items())),
            dict(sorted(sample_edges.items())),
        )


def _tally(channel: Any, n: int, topics: Counter[str], cameras: Counter[str], sample_edges: Counter[str]) -> None:
    topics[channel.topic] += n
    kind = channel.metadata.get("kind")
    if kind == "frames":
        cameras[channel.metadata.get("device", "")] += n
    elif kind == "samples":
        sample_edges[channel.metadata.get("edge", "")] += n


def _reading_sample(topic: str, payload: bytes, edge: str) -> Sample | None:
    """A wire Reading of ``edge`` as a Sample (None for other topics, battery readings, or bad payloads)."""
    parts = topic.split("/")
    if len(parts) != 6 or parts[3] != edge or parts[4] != wire.MessageType.READING.value:
        return None
    try:
        reading = wire.parse(wire.MessageType.READING, payload)
        quantity = Quantity(reading.quantity)
    except (wire.WireError, ValueError):
        return None
    return Sample(reading.device, quantity, reading.value, reading.at, reading.battery)


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
