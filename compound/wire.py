"""The wire contract: MQTT topics and message models shared by edge agents and the hub.

This is the one module that says what travels on the broker. Edge and hub both import it;
neither imports the other. Every payload is UTF-8 JSON of one of the frozen models below,
carrying ``schema`` (the contract version) so a hub can refuse what it does not understand.

Why one module over 400 lines: the contract is the point. Topics, message models, their limits and
the parser that checks a payload against the model its topic names change together: a new message type
is a new topic segment, a new model and a new branch of ``parse`` in one change, and the contract
version (``SCHEMA_VERSION``) covers all of it. Splitting topics from payloads would put one contract in
two places that must move in step; the README promises one module that owns what travels on the broker.

Topic tree (``<prefix>`` defaults to ``compound``)::

    <prefix>/v1/<compound>/<edge>/event/<device>      Event       QoS 1
    <prefix>/v1/<compound>/<edge>/reading/<device>    Reading     QoS 1
    <prefix>/v1/<compound>/<edge>/status              Status      QoS 1, retained, last will
    <prefix>/v1/<compound>/<edge>/heartbeat           Heartbeat   QoS 1
    <prefix>/v1/<compound>/<edge>/snapshot/<event id> JPEG bytes  QoS 1 (camera evidence)
    <prefix>/v1/<compound>/<edge>/shadow/<device>     ShadowReport QoS 1 (a candidate model's verdicts, never acted on)
    <prefix>/v1/<compound>/<edge>/cmd/<name>          Command     QoS 1 (hub -> edge)
    <prefix>/v1/<compound>/<edge>/cmd/resend          ResendRequest: resend journaled events by seq
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "API_VERSION",
    "MAX_PAYLOAD_BYTES",
    "MAX_RESEND_SEQS",
    "MAX_SNAPSHOT_BYTES",
    "RESEND_COMMAND",
    "SCHEMA_VERSION",
    "Detection",
    "EdgeState",
    "Event",
    "EventKind",
    "EventState",
    "Evidence",
    "Heartbeat",
    "Location",
    "MessageType",
    "Reading",
    "ResendRequest",
    "Severity",
    "ShadowReport",
    "Status",
    "Topic",
    "TopicError",
    "WireError",
    "dump",
    "new_event_id",
    "parse",
    "parse_command",
    "parse_topic",
    "topic",
    "utcnow",
]

SCHEMA_VERSION: Final = 1
"""Version of the payload models; bumped on any incompatible change."""

API_VERSION: Final = "v1"
"""Version segment of the topic tree."""

MAX_PAYLOAD_BYTES: Final = 64 * 1024
"""Largest JSON payload a hub accepts; anything larger is dead-lettered unparsed."""

MAX_SNAPSHOT_BYTES: Final = 256 * 1024
"""Largest JPEG snapshot (``.../snapshot/<event id>``, raw bytes, not JSON) a hub accepts."""

DEFAULT_PREFIX: Final = "compound"

MAX_RESEND_SEQS: Final = 10_000
"""Most sequence numbers one resend request may cover (an open-ended one is capped to this many)."""

RESEND_COMMAND: Final = "resend"
"""Command name (last topic segment) of a ``ResendRequest``."""

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""A topic segment (compound, edge or device id): no MQTT wildcards, no slashes, bounded."""

Identifier = Annotated[
    str,
    Field(pattern=_SEGMENT.pattern, description="Id usable as one MQTT topic segment."),
]


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def new_event_id() -> str:
    """Return a fresh, globally unique event id (the idempotency key)."""
    return uuid.uuid4().hex


class WireError(ValueError):
    """A payload or topic that does not follow the contract; ``reason`` is a short code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class TopicError(WireError):
    """A topic outside the contract's tree."""


class MessageType(StrEnum):
    """The leaf kinds of the topic tree."""

    EVENT = "event"
    READING = "reading"
    STATUS = "status"
    HEARTBEAT = "heartbeat"
    SNAPSHOT = "snapshot"
    SHADOW = "shadow"
    CMD = "cmd"


class EventKind(StrEnum):
    """What an event is about. Routing and the console key on this."""

    SMOKE = "smoke"
    GAS_PRE_ALARM = "gas_pre_alarm"
    GAS = "gas"
    DOOR_HELD_OPEN = "door_held_open"
    DOOR_FORCED = "door_forced"
    CARE_INACTIVE = "care_inactive"
    DEVICE_OFFLINE = "device_offline"
    LOW_BATTERY = "low_battery"
    STUCK_VALUE = "stuck_value"
    NOISY_SIGNAL = "noisy_signal"
    EBIKE_IN_LIFT = "ebike_in_lift"
    FIRE_LANE_BLOCKED = "fire_lane_blocked"
    THROWN_OBJECT = "thrown_object"
    """高空抛物: a façade camera saw an object fall from a window; the event's location is the edge's estimate of
    the window it came from (building, unit, floor, flat), not the camera's own place (``located_by_event``)."""
    EDGE_OFFLINE = "edge_offline"
    """Raised by the hub only (no edge sends it): an edge went silent, its last will said offline, or a gap in
    its seqs stayed unfilled; the alarm's device is the edge id, its place the edge's building."""

    @property
    def is_fault(self) -> bool:
        """True for kinds that report the device's own health rather than a hazard."""
        return self in _FAULT_KINDS

    @property
    def located_by_event(self) -> bool:
        """True for kinds whose place is estimated by the edge and sent in the event's location (a thrown object's
        window): the hub checks it against the building and routes to it, instead of the device's configured place."""
        return self is EventKind.THROWN_OBJECT


_FAULT_KINDS: Final = frozenset(
    {
        EventKind.DEVICE_OFFLINE,
        EventKind.LOW_BATTERY,
        EventKind.STUCK_VALUE,
        EventKind.NOISY_SIGNAL,
        EventKind.EDGE_OFFLINE,
    }
)


class EventState(StrEnum):
    """Where an event stands in its condition's life on the edge."""

    RAISED = "raised"
    UPDATED = "updated"
    CLEARED = "cleared"


class Severity(StrEnum):
    """How urgent; ordered info < warning < critical."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Numeric order for comparisons and sorting."""
        return {"info": 0, "warning": 1, "critical": 2}[self.value]


class EdgeState(StrEnum):
    """Retained edge status."""

    ONLINE = "online"
    OFFLINE = "offline"


class _Message(BaseModel):
    """Common base: frozen, no unknown keys, ``schema`` on the wire."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_version: Literal[1] = Field(
        default=SCHEMA_VERSION,
        alias="schema",
        description="Contract version of this payload.",
    )


class Location(BaseModel):
    """Where a device is. ``floor``/``flat`` are absent for building- or site-level devices."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    building: str = Field(min_length=1, max_length=32, description="Building id, e.g. 'b2'.")
    unit: str | None = Field(default=None, max_length=32, description="Unit (entrance) id, e.g. 'u1'.")
    floor: int | None = Field(default=None, ge=-5, le=200, description="Floor number; negative is basement.")
    flat: str | None = Field(default=None, max_length=32, description="Flat number, e.g. '1502'.")
    place: str | None = Field(
        default=None, max_length=64, description="Named place when not a flat: 'lift-1', 'fire-door-15'."
    )


class Detection(BaseModel):
    """One detector output: normalized box (0..1, x1 y1 x2 y2), class name and score."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cls: str = Field(min_length=1, max_length=32, description="Class name, e.g. 'ebike'.")
    score: float = Field(ge=0.0, le=1.0, description="Detector confidence.")
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 normalized to the frame.")
    track_id: int | None = Field(default=None, ge=0, description="Tracker id, stable across frames.")


class Evidence(BaseModel):
    """Why the edge believes the event: detections and an optional snapshot reference."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    detections: tuple[Detection, ...] = Field(default=(), max_length=64)
    snapshot: str | None = Field(
        default=None, max_length=256, description="Snapshot topic suffix or id; the JPEG travels separately."
    )


class Event(_Message):
    """A rule's verdict about one device: raised, updated or cleared."""

    type: Literal["event"] = "event"
    id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Idempotency key.")
    seq: int = Field(ge=0, description="Per-edge monotonic sequence number (gap detection).")
    compound: Identifier
    edge: Identifier
    device: Identifier
    kind: EventKind
    state: EventState
    severity: Severity
    value: float | None = Field(default=None, description="Measured value that drove the rule.")
    unit: str | None = Field(default=None, max_length=16, description="Unit of ``value``: 'dB/m', '%LEL', 's'.")
    threshold: float | None = Field(default=None, description="The rule's threshold, in ``unit``.")
    location: Location
    occurred_at: datetime = Field(description="When the condition was observed (device/simulated clock).")
    sent_at: datetime = Field(default_factory=utcnow, description="When the edge created this message.")
    raised_id: str | None = Field(
        default=None, max_length=64, description="For updates and clears: id of the event that raised it."
    )
    message: str | None = Field(default=None, max_length=500, description="Human-readable summary.")
    evidence: Evidence | None = None


class Reading(_Message):
    """A periodic measurement from one device."""

    type: Literal["reading"] = "reading"
    compound: Identifier
    edge: Identifier
    device: Identifier
    quantity: str = Field(min_length=1, max_length=32, description="'smoke', 'gas', 'door', 'battery'.")
    value: float
    unit: str = Field(max_length=16, description="'dB/m', '%LEL', 'open', '%'.")
    battery: float | None = Field(default=None, ge=0, le=100, description="Battery percent, if battery-powered.")
    at: datetime = Field(description="Measurement time (device/simulated clock).")


class Status(_Message):
    """Retained liveness of an edge agent; the last will publishes ``offline``."""

    type: Literal["status"] = "status"
    compound: Identifier
    edge: Identifier
    state: EdgeState
    at: datetime = Field(default_factory=utcnow)
    version: str | None = Field(default=None, max_length=32, description="Agent software version.")


class Heartbeat(_Message):
    """Periodic health of an edge agent."""

    type: Literal["heartbeat"] = "heartbeat"
    compound: Identifier
    edge: Identifier
    at: datetime = Field(default_factory=utcnow)
    uptime_s: float = Field(ge=0)
    seq: int = Field(ge=0, description="Last event seq assigned.")
    outbox_depth: int = Field(ge=0, description="Messages waiting for a broker acknowledgement.")
    outbox_full: bool = Field(default=False, description="True while the outbox refuses new messages.")
    dropped: int = Field(default=0, ge=0, description="Messages that could not be stored (disk or outbox full).")
    devices_online: int = Field(default=0, ge=0)
    devices_total: int = Field(default=0, ge=0)


class ShadowReport(_Message):
    """One episode of a camera seen by the live detector and a candidate in shadow mode, side by side.

    An episode runs from the first raise of either (live or shadow rule) until both have been quiet again;
    it says whether each raised (would have held the lift / raised the alarm) and the detections behind
    each. Only the live verdict was acted on; the shadow one is recorded for comparison, never acted on.
    """

    type: Literal["shadow"] = "shadow"
    id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Idempotency key.")
    compound: Identifier
    edge: Identifier
    device: Identifier
    kind: EventKind = Field(description="What the camera's rule raises, e.g. ebike_in_lift.")
    at: datetime = Field(description="Start of the episode (the first raise of either model).")
    until: datetime = Field(description="End of the episode.")
    live_raised: bool = Field(description="The live model's rule raised (and was acted on).")
    shadow_raised: bool = Field(description="The candidate's rule would have raised (not acted on).")
    live_model: str = Field(max_length=128, description="The live model (file name and short SHA-256).")
    shadow_model: str = Field(max_length=128, description="The candidate model (file name and short SHA-256).")
    live_detections: tuple[Detection, ...] = Field(default=(), max_length=16)
    shadow_detections: tuple[Detection, ...] = Field(default=(), max_length=16)


class ResendRequest(_Message):
    """Hub -> edge: publish again the journaled events ``from_seq..to_seq`` (``to_seq`` None: up to the last).

    The edge re-enqueues them with their original id and payload; the hub dedups by id.
    """

    type: Literal["resend"] = "resend"
    id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Request id (logs).")
    compound: Identifier
    edge: Identifier
    from_seq: int = Field(ge=0, description="First seq to resend.")
    to_seq: int | None = Field(default=None, ge=0, description="Last seq to resend; None: up to the edge's last.")
    requested_by: str = Field(min_length=1, max_length=64, description="Who asks, e.g. 'hub:1'.")
    at: datetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _bounded(self) -> ResendRequest:
        if self.to_seq is not None:
            if self.to_seq < self.from_seq:
                raise ValueError(f"to_seq {self.to_seq} is below from_seq {self.from_seq}")
            if self.to_seq - self.from_seq + 1 > MAX_RESEND_SEQS:
                raise ValueError(
                    f"range {self.from_seq}..{self.to_seq} covers more than {MAX_RESEND_SEQS} seqs; split it"
                )
        return self

    @property
    def last(self) -> int:
        """The last seq this request may cover (open-ended requests are capped to ``MAX_RESEND_SEQS``)."""
        return self.to_seq if self.to_seq is not None else self.from_seq + MAX_RESEND_SEQS - 1


Message = Event | Reading | Status | Heartbeat

_COMMANDS: Final[dict[str, type[_Message]]] = {RESEND_COMMAND: ResendRequest}

_MODELS: Final[dict[MessageType, type[_Message]]] = {
    MessageType.EVENT: Event,
    MessageType.READING: Reading,
    MessageType.STATUS: Status,
    MessageType.HEARTBEAT: Heartbeat,
    MessageType.SHADOW: ShadowReport,
}


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic: who published what, about which device (if any)."""

    prefix: str
    compound: str
    edge: str
    type: MessageType
    device: str | None = None

    def __str__(self) -> str:
        return topic(self.compound, self.edge, self.type, self.device, prefix=self.prefix)


def topic(
    compound: str,
    edge: str,
    type: MessageType | str,
    device: str | None = None,
    *,
    prefix: str = DEFAULT_PREFIX,
) -> str:
    """Build a topic string; ``device`` is the last segment for events, readings and snapshots."""
    kind = MessageType(type)
    for name, segment in (("compound", compound), ("edge", edge)):
        if not _SEGMENT.match(segment):
            raise TopicError("bad_topic", f"{name} id {segment!r} is not a valid topic segment")
    base = f"{prefix}/{API_VERSION}/{compound}/{edge}/{kind.value}"
    if device is None:
        return base
    if not _SEGMENT.match(device):
        raise TopicError("bad_topic", f"device id {device!r} is not a valid topic segment")
    return f"{base}/{device}"


def subscription(prefix: str = DEFAULT_PREFIX, compound: str = "+", edge: str = "+") -> str:
    """Topic filter for everything under the contract (optionally one compound/edge)."""
    return f"{prefix}/{API_VERSION}/{compound}/{edge}/#"


def parse_topic(raw: str, *, prefix: str = DEFAULT_PREFIX) -> Topic:
    """Parse a topic string; raise ``TopicError`` with a specific reason if it is not ours."""
    parts = raw.split("/")
    if len(parts) < 5 or parts[0] != prefix:
        raise TopicError("bad_topic", f"topic {raw!r} is not under '{prefix}/{API_VERSION}/'")
    if parts[1] != API_VERSION:
        raise TopicError("unknown_api_version", f"topic version {parts[1]!r}, expected {API_VERSION!r}")
    _, _, compound, edge, kind, *rest = parts
    try:
        mtype = MessageType(kind)
    except ValueError:
        raise TopicError("bad_topic", f"unknown message type {kind!r} in topic {raw!r}") from None
    needs_device = mtype in (
        MessageType.EVENT,
        MessageType.READING,
        MessageType.SNAPSHOT,
        MessageType.SHADOW,
        MessageType.CMD,
    )
    if needs_device and len(rest) != 1:
        raise TopicError("bad_topic", f"{mtype.value} topic needs exactly one trailing segment: {raw!r}")
    if not needs_device and rest:
        raise TopicError("bad_topic", f"{mtype.value} topic takes no trailing segment: {raw!r}")
    for segment in (compound, edge, *rest):
        if not _SEGMENT.match(segment):
            raise TopicError("bad_topic", f"invalid segment {segment!r} in topic {raw!r}")
    return Topic(prefix, compound, edge, mtype, rest[0] if rest else None)


def dump(message: _Message) -> bytes:
    """Serialize a message to its wire form (compact JSON, ``schema`` key, UTC ISO timestamps)."""
    return message.model_dump_json(by_alias=True, exclude_none=True).encode()


def parse(mtype: MessageType, payload: bytes) -> Any:
    """Parse and validate a payload of the given type; raise ``WireError`` with a specific reason.

    Reasons: ``oversized``, ``not_utf8``, ``not_json``, ``not_object``, ``unknown_schema``,
    ``wrong_type`` (payload ``type`` disagrees with the topic), ``invalid`` (field errors).
    """
    model = _MODELS.get(mtype)
    if model is None:
        raise WireError("bad_topic", f"{mtype.value} messages carry no JSON model")
    return _validate(model, mtype.value, payload)


def parse_command(name: str, payload: bytes) -> Any:
    """Parse a command payload (topic ``.../cmd/<name>``); same reasons as ``parse``, ``unknown_command`` too."""
    model = _COMMANDS.get(name)
    if model is None:
        raise WireError("unknown_command", f"no command {name!r} (known: {', '.join(sorted(_COMMANDS))})")
    return _validate(model, name, payload)


def _validate(model: type[_Message], type_name: str, payload: bytes) -> Any:
    import json

    if len(payload) > MAX_PAYLOAD_BYTES:
        raise WireError("oversized", f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError("not_utf8", f"payload is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WireError("not_json", f"payload is not JSON: {exc.msg} at line {exc.lineno} col {exc.colno}") from exc
    if not isinstance(data, dict):
        raise WireError("not_object", f"payload is JSON {type(data).__name__}, expected an object")
    version = data.get("schema")
    if version != SCHEMA_VERSION:
        raise WireError("unknown_schema", f"schema {version!r} is not supported (this hub speaks {SCHEMA_VERSION})")
    if data.get("type", type_name) != type_name:
        raise WireError("wrong_type", f"payload type {data.get('type')!r} on a {type_name} topic")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise WireError("invalid", f"{where}: {first['msg']} ({exc.error_count()} error(s))") from exc
