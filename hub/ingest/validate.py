"""Validation as a pure function: (topic, payload, receipt time, config, settings) → a message or a rejection.

No database, no clock: the receipt time is passed in, so the same input always gives the same answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from compound import wire
from compound.config import Compound
from hub.ingest.settings import IngestSettings

__all__ = [
    "DEAD_LETTER_REASONS",
    "Parsed",
    "ParsedSnapshot",
    "Rejected",
    "WireMessage",
    "clock_note",
    "describe_span",
    "validate",
]

JPEG_START: Final = b"\xff\xd8\xff"
JPEG_END: Final = b"\xff\xd9"
SNAPSHOT_ID: Final = re.compile(r"[A-Za-z0-9_-]{8,64}")
"""The last topic segment of a snapshot: the event id it belongs to (as ``wire.Event.id``)."""

DEAD_LETTER_REASONS: Final = {
    "bad_topic": "topic is outside <prefix>/v1/<compound>/<edge>/<type>[/<device>]",
    "unknown_api_version": "topic version segment is not v1",
    "unknown_compound": "topic names another compound than the configured one",
    "oversized": f"payload larger than {wire.MAX_PAYLOAD_BYTES} bytes (not parsed)",
    "not_utf8": "payload bytes are not UTF-8",
    "not_json": "payload is not JSON",
    "not_object": "payload is JSON but not an object",
    "unknown_schema": "payload 'schema' is missing or a version this hub does not speak",
    "wrong_type": "payload 'type' disagrees with the topic",
    "invalid": "a field is missing, of the wrong type or out of bounds (or a timestamp has no timezone)",
    "topic_payload_mismatch": "payload compound/edge/device differ from the topic's",
    "unknown_device": "device id is not in the config",
    "unknown_edge": "edge id is not in the config (status, heartbeat)",
    "device_edge_mismatch": "device exists but is served by another edge than the topic's",
    "bad_snapshot": "a snapshot payload is not a complete JPEG (no FF D8 FF start or no FF D9 end marker)",
    "oversized_snapshot": f"a snapshot larger than {wire.MAX_SNAPSHOT_BYTES} bytes",
    "store_failed": "the message was valid but storing it failed repeatedly (see detail)",
    "internal_error": "the hub failed on this message (a bug: see the hub log); kept so it can be replayed",
}
"""Every reason a message can be dead-lettered for, with what it means."""

WireMessage = wire.Event | wire.Reading | wire.Status | wire.Heartbeat | wire.ShadowReport
"""What an edge publishes that ingest stores (commands are the hub's own; snapshots are raw JPEG)."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """A valid wire message and the topic it came on."""

    topic: wire.Topic
    message: WireMessage
    sent_at: datetime | None = None
    """The edge's own timestamp when its clock was out of bounds and the message was restamped at the hub's
    receipt time (``message`` carries the receipt time); ``None`` when the message keeps its stamp."""


@dataclass(frozen=True, slots=True)
class ParsedSnapshot:
    """A valid camera snapshot: a complete JPEG for ``event_id`` from a configured edge."""

    edge: str
    event_id: str
    jpeg: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message to dead-letter: one of ``DEAD_LETTER_REASONS`` and what exactly was wrong."""

    reason: str
    detail: str


def validate(
    topic: str, payload: bytes, received_at: datetime, compound: Compound, settings: IngestSettings
) -> Parsed | ParsedSnapshot | Rejected | None:
    """Check one message against the wire contract and the config; ``None`` for the hub's own commands."""
    try:
        parsed_topic = wire.parse_topic(topic, prefix=compound.prefix)
    except wire.TopicError as exc:
        return Rejected(exc.reason, exc.message)
    if parsed_topic.type is wire.MessageType.CMD:
        return None  # our own commands: not for this pipeline
    if parsed_topic.compound != compound.id:
        return Rejected(
            "unknown_compound", f"topic compound {parsed_topic.compound!r}, this hub serves {compound.id!r}"
        )
    if parsed_topic.type is wire.MessageType.SNAPSHOT:
        return _snapshot(parsed_topic, payload, compound)
    try:
        msg = wire.parse(parsed_topic.type, payload)
    except wire.WireError as exc:
        return Rejected(exc.reason, exc.message)
    rejected = _check(parsed_topic, msg, received_at, compound)
    if rejected is not None:
        return rejected
    return _stamp(parsed_topic, msg, received_at, settings)


def is_snapshot_topic(topic: str) -> bool:
    """Cheap topic test: ``<prefix>/v1/<compound>/<edge>/snapshot/<event id>``."""
    parts = topic.split("/")
    return len(parts) >= 2 and parts[-2] == wire.MessageType.SNAPSHOT.value


def _snapshot(topic: wire.Topic, data: bytes, compound: Compound) -> ParsedSnapshot | Rejected:
    if topic.edge not in compound.edges():
        return Rejected("unknown_edge", f"edge {topic.edge!r} is not in the config")
    event_id = topic.device or ""
    if not SNAPSHOT_ID.fullmatch(event_id):
        return Rejected("bad_topic", f"snapshot topic must end in an event id (8-64 of [A-Za-z0-9_-]): {event_id!r}")
    if len(data) > wire.MAX_SNAPSHOT_BYTES:
        return Rejected("oversized_snapshot", f"{len(data)} bytes > {wire.MAX_SNAPSHOT_BYTES}")
    if not data.startswith(JPEG_START) or JPEG_END not in data[-64:]:
        return Rejected(
            "bad_snapshot", f"{len(data)} bytes starting {data[:4].hex(' ')}: not a complete JPEG (FF D8 FF ... FF D9)"
        )
    return ParsedSnapshot(topic.edge, event_id, data)


def _check(topic: wire.Topic, msg: WireMessage, received_at: datetime, compound: Compound) -> Rejected | None:
    """The checks past the wire contract: payload vs topic, the config, a timestamp with a timezone."""
    mismatched = [
        f"{name} {got!r} != topic {want!r}"
        for name, got, want in (
            ("compound", msg.compound, topic.compound),
            ("edge", msg.edge, topic.edge),
            ("device", getattr(msg, "device", None), topic.device),
        )
        if got != want
    ]
    if mismatched:
        return Rejected("topic_payload_mismatch", "; ".join(mismatched))
    if isinstance(msg, wire.Event) and msg.kind is wire.EventKind.EDGE_OFFLINE:
        return Rejected("invalid", "kind: edge_offline is raised by the hub only (hub.ingest.supervision)")
    if topic.device is not None:
        device = compound.devices.get(topic.device)
        if device is None:
            return Rejected("unknown_device", f"device {topic.device!r} is not in the config")
        if device.edge != topic.edge:
            return Rejected(
                "device_edge_mismatch", f"device {device.id!r} belongs to edge {device.edge!r}, not {topic.edge!r}"
            )
    elif topic.edge not in compound.edges():
        return Rejected("unknown_edge", f"edge {topic.edge!r} is not in the config")
    name, stamp = ("occurred_at", msg.occurred_at) if isinstance(msg, wire.Event) else ("at", msg.at)
    if stamp.tzinfo is None:
        return Rejected("invalid", f"{name}: timestamp {stamp.isoformat()} has no timezone")
    return None


def _stamp(topic: wire.Topic, msg: WireMessage, received_at: datetime, settings: IngestSettings) -> Parsed:
    """The message as stored: its own timestamp within the bounds, else restamped at the hub's receipt time.

    A wrong edge clock (10 min fast, an RTC back in 1970 after a power cut) must not turn a fire into a dead
    letter, nor let a stamp in the future sort ahead of real events or pick a later roster: such a message is
    accepted at the hub's receipt time, and the edge's own stamp is kept (``Parsed.sent_at``, the event's
    ``raw``) and logged by ingest.
    """
    stamp = msg.occurred_at if isinstance(msg, wire.Event) else msg.at
    skew = stamp - received_at
    if -settings.max_age <= skew <= settings.max_skew:
        return Parsed(topic, msg)
    field = "occurred_at" if isinstance(msg, wire.Event) else "at"
    return Parsed(topic, msg.model_copy(update={field: received_at}), sent_at=stamp)


def clock_note(parsed: Parsed, received_at: datetime, settings: IngestSettings) -> str | None:
    """What ingest logs for a restamped message: how far the edge's clock is off, and the bound it broke."""
    if parsed.sent_at is None:
        return None
    skew = parsed.sent_at - received_at
    way, bound = ("ahead of", settings.max_skew) if skew > timedelta(0) else ("behind", settings.max_age)
    return (
        f"edge {parsed.topic.edge}'s clock is {describe_span(skew)} {way} the hub's "
        f"(allowed {describe_span(bound)}): {parsed.topic.type.value} stored at the hub's receipt time, "
        f"its own stamp {parsed.sent_at.isoformat()} kept"
    )


def describe_span(span: timedelta) -> str:
    """A duration as people read it: ``42 s``, ``5.0 min``, ``3.5 h``, ``30.0 days``."""
    seconds = abs(span.total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
