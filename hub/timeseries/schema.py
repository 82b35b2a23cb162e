"""The time-series schema: how wire messages become measurements, tags and fields.

One place decides names, so the InfluxDB writer, the embedded store and the README agree.
Only numeric fields are written: VictoriaMetrics stores a string field as ``0``, which would
chart a lie. Tags are bounded (ids from the config, kinds, quantities); never event ids.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, cast

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from compound import wire

__all__ = [
    "EVENT_STATE_CODES",
    "PRECISION",
    "DeviceLocation",
    "SeriesMapper",
    "SeriesRecord",
    "clean_tag",
    "to_line",
    "to_point",
]

PRECISION: Final = cast(WritePrecision, WritePrecision.MS)
"""Timestamp precision on the wire to the server (and of the embedded store).

Milliseconds: what VictoriaMetrics and Prometheus-style engines store natively, and finer than any
sensor here reports. Sent explicitly with every write: a mismatch is silently dropped by VictoriaMetrics.
"""

READING: Final = "reading"
EVENT: Final = "event"
DETECTION: Final = "detection"
EDGE: Final = "edge"

EVENT_STATE_CODES: Final[Mapping[wire.EventState, int]] = {
    wire.EventState.CLEARED: 0,
    wire.EventState.RAISED: 1,
    wire.EventState.UPDATED: 2,
}
"""Numeric code of an event state (field ``state``)."""

FieldValue = float | int


@dataclass(frozen=True, slots=True)
class DeviceLocation:
    """Where a device is, as far as tags go."""

    building: str | None = None
    unit: str | None = None
    flat: str | None = None


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    """One point: measurement, tags, numeric fields and a timestamp (aware UTC)."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    at: datetime

    @property
    def at_ms(self) -> int:
        """Timestamp in Unix milliseconds (the schema's precision)."""
        return _to_ms(self.at)


def _to_ms(at: datetime) -> int:
    """Unix milliseconds of a datetime (naive means UTC), exact: no float rounding."""
    delta = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def clean_tag(value: str | None) -> str | None:
    """A tag value safe for line protocol: control characters dropped, backslashes made '/'.

    influxdb-client escapes spaces, commas and equals signs but not a backslash, so a value ending
    in one would escape the separator after it and get the whole batch refused.
    """
    if value is None:
        return None
    text = "".join(ch for ch in value if unicodedata.category(ch)[0] != "C").replace("\\", "/").strip()
    return text or None


def to_point(record: SeriesRecord) -> Point:
    """An influxdb-client ``Point`` for one record, stamped in milliseconds."""
    point = Point(record.measurement)  # type: ignore[no-untyped-call]
    for key, value in record.tags.items():
        point.tag(key, value)  # type: ignore[no-untyped-call]
    for name, number in record.fields.items():
        point.field(name, number)  # type: ignore[no-untyped-call]
    point.time(record.at_ms, PRECISION)  # type: ignore[no-untyped-call]
    return point


def to_line(record: SeriesRecord) -> str:
    """Encode one record as InfluxDB line protocol (escaping by influxdb-client), millisecond timestamp."""
    return str(to_point(record).to_line_protocol())  # type: ignore[no-untyped-call]


def _finite(fields: Mapping[str, float | int | None]) -> dict[str, FieldValue]:
    """Drop missing and non-finite values (NaN would make a whole batch invalid)."""
    return {k: v for k, v in fields.items() if v is not None and math.isfinite(v)}


@dataclass(slots=True)
class _EdgeCounts:
    """Messages seen from one edge since its last heartbeat."""

    readings: int = 0
    events: int = 0
    messages: int = 0
    last_heartbeat: datetime | None = None


@dataclass(slots=True)
class SeriesMapper:
    """Turns wire messages into records; keeps per-edge message counts to compute rates.

    ``locate`` returns a device's location from the config (readings carry none); events teach
    the mapper their location too, for devices the config does not know. Not thread-safe: call
    from the ingest loop.
    """

    locate: Callable[[str], DeviceLocation | None] = field(default=lambda _device: None)
    _seen: dict[str, DeviceLocation] = field(default_factory=dict)
    _edges: dict[tuple[str, str], _EdgeCounts] = field(default_factory=dict)

    def _counts(self, compound: str, edge: str) -> _EdgeCounts:
        key = (compound, edge)
        counts = self._edges.get(key)
        if counts is None:
            counts = self._edges[key] = _EdgeCounts()
        return counts

    def _device_tags(self, compound: str, edge: str, device: str) -> dict[str, str]:
        where = self.locate(device) or self._seen.get(device) or DeviceLocation()
        tags = {
            "compound": compound,
            "edge": edge,
            "device": device,
            "building": clean_tag(where.building),
            "unit": clean_tag(where.unit),
            "flat": clean_tag(where.flat),
        }
        return {k: v for k, v in tags.items() if v}

    def reading(self, msg: wire.Reading) -> list[SeriesRecord]:
        """A reading: its value, plus the battery level as its own quantity when reported."""
        counts = self._counts(msg.compound, msg.edge)
        counts.readings += 1
        counts.messages += 1
        base = self._device_tags(msg.compound, msg.edge, msg.device)
        out: list[SeriesRecord] = []
        quantity = clean_tag(msg.quantity)
        fields = _finite({"value": msg.value})
        if quantity and fields:
            tags = {**base, "quantity": quantity}
            uom = clean_tag(msg.unit)
            if uom:
                tags["uom"] = uom
            out.append(SeriesRecord(READING, tags, fields, msg.at))
        battery = _finite({"value": msg.battery})
        if battery and quantity != "battery":
            out.append(SeriesRecord(READING, {**base, "quantity": "battery", "uom": "%"}, battery, msg.at))
        return out

    def event(self, msg: wire.Event) -> list[SeriesRecord]:
        """An event: active flag, state code, severity rank, value and threshold; detections apart."""
        counts = self._counts(msg.compound, msg.edge)
        counts.events += 1
        counts.messages += 1
        self._seen[msg.device] = DeviceLocation(msg.location.building, msg.location.unit, msg.location.flat)
        base = self._device_tags(msg.compound, msg.edge, msg.device)
        fields = _finite(
            {
                "active": 0 if msg.state is wire.EventState.CLEARED else 1,
                "state": EVENT_STATE_CODES[msg.state],
                "severity": msg.severity.rank,
                "value": msg.value,
                "threshold": msg.threshold,
            }
        )
        out = [SeriesRecord(EVENT, {**base, "kind": msg.kind.value}, fields, msg.occurred_at)]
        if msg.evidence is not None and msg.evidence.detections:
            best: dict[str, tuple[float, int]] = {}
            for det in msg.evidence.detections:
                score, count = best.get(det.cls, (0.0, 0))
                best[det.cls] = (max(score, det.score), count + 1)
            for cls, (score, count) in sorted(best.items()):
                cls_tag = clean_tag(cls)
                if cls_tag is None:
                    continue
                tags = {**base, "kind": msg.kind.value, "class": cls_tag}
                out.append(SeriesRecord(DETECTION, tags, {"score": score, "count": count}, msg.occurred_at))
        return out

    def heartbeat(self, msg: wire.Heartbeat) -> list[SeriesRecord]:
        """An edge's health figures, with message rates since its previous heartbeat."""
        counts = self._counts(msg.compound, msg.edge)
        counts.messages += 1
        fields: dict[str, FieldValue] = {
            "uptime_s": msg.uptime_s,
            "seq": msg.seq,
            "outbox_depth": msg.outbox_depth,
            "outbox_full": int(msg.outbox_full),
            "dropped": msg.dropped,
            "devices_online": msg.devices_online,
            "devices_total": msg.devices_total,
        }
        if counts.last_heartbeat is not None:
            elapsed = (msg.at - counts.last_heartbeat).total_seconds()
            if elapsed > 0:
                fields["readings_per_s"] = counts.readings / elapsed
                fields["events_per_s"] = counts.events / elapsed
                fields["messages_per_s"] = counts.messages / elapsed
        if counts.last_heartbeat is None or msg.at > counts.last_heartbeat:
            counts.last_heartbeat = msg.at
            counts.readings = counts.events = counts.messages = 0
        return [SeriesRecord(EDGE, {"compound": msg.compound, "edge": msg.edge}, _finite(fields), msg.at)]

    def status(self, msg: wire.Status) -> list[SeriesRecord]:
        """An edge going online (1) or offline (0)."""
        self._counts(msg.compound, msg.edge).messages += 1
        online = 1 if msg.state is wire.EdgeState.ONLINE else 0
        return [SeriesRecord(EDGE, {"compound": msg.compound, "edge": msg.edge}, {"online": online}, msg.at)]
