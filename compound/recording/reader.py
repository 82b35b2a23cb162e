"""Reading a recording: its summary (``RecordingInfo``) and its messages, frames and samples (``Recording``)."""

from __future__ import annotations

import base64
import json
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mcap.reader import NonSeekingReader, make_reader

from compound import wire
from compound.drivers import Quantity, Sample
from compound.recording.mcapfile import (
    PROFILE,
    RecordedFrame,
    RecordedMessage,
    RecordingError,
    from_ns,
)

__all__ = ["Recording", "RecordingInfo"]

log = logging.getLogger(__name__)


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
