"""Hub ingest: MQTT → validate → dead-letter or store → dedup → seq gaps → alarms → routing → changes.

Why paho-mqtt directly and not aiomqtt: "a hub killed with SIGKILL loses nothing" needs a QoS 1
message to be PUBACKed only after it is committed. aiomqtt 2.5 builds its paho client without
``manual_ack`` and exposes no ``ack()``; paho 2.x has both as public API. So paho's own network
thread (which also reconnects by itself) feeds a queue, one worker thread stores messages in
batches, commits, and only then acks them, in arrival order. A message received on a connection
that has since dropped is not acked: the broker re-sends it on the resumed persistent session
(stable client id, ``clean_session=False``) and dedup by event id absorbs the copy.

Brokers that acknowledge an event to the edge and then lose it (amqtt restarts, a hub SIGKILLed on
amqtt) are covered end to end: the hub asks the edge to resend what it misses (``hub/resend.py``): a
recorded seq gap, a heartbeat past the last stored seq, and after every subscribe the open gaps and
everything after the last stored seq; a sweep every ``resend_sweep_s`` asks again while gaps stay open.

``Ingestor(...).run(stop)`` is a coroutine, so a FastAPI lifespan or ``compound hub`` can host it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from compound import wire
from compound.broker import supports_shared_subscriptions
from compound.clock import Clock, WallClock
from compound.config import Compound
from hub.alarms import lifecycle
from hub.alarms.changes import AlarmChanges
from hub.alarms.lifecycle import Transition
from hub.db import Alarm, Database, DeadLetter, EdgeRecord, EventRecord, SeqGap, Snapshot, insert_ignore
from hub.resend import ResendRequester
from hub.routing.notifier import Notifiers
from hub.routing.router import Router
from hub.timeseries.base import SeriesSink

__all__ = ["DEAD_LETTER_REASONS", "Inbound", "IngestSettings", "Ingestor", "MessagePipeline"]

log = logging.getLogger(__name__)

EXCERPT_BYTES: Final = 1024
"""Raw payload bytes kept with a dead letter."""

PREVIEW_CHARS: Final = 200

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
    "timestamp_out_of_range": "occurred_at/at further from the hub's clock than the allowed skew",
    "bad_snapshot": "a snapshot payload is not a complete JPEG (no FF D8 FF start or no FF D9 end marker)",
    "oversized_snapshot": f"a snapshot larger than {wire.MAX_SNAPSHOT_BYTES} bytes",
    "store_failed": "the message was valid but storing it failed repeatedly (see detail)",
    "internal_error": "the hub failed on this message (a bug: see the hub log); kept so it can be replayed",
}
"""Every reason a message can be dead-lettered for, with what it means."""


_EVENTS = EventRecord.metadata.tables[EventRecord.__tablename__]
_SET_EVENT_ALARM = update(_EVENTS).where(_EVENTS.c.id == bindparam("record_id")).values(alarm_id=bindparam("alarm"))
"""Link stored events to their alarm, executed once per batch with every pair (executemany)."""


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message as received: topic, raw bytes, receipt time, and what is needed to ack it."""

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    qos: int = 0
    generation: int = 0


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """Ingest knobs."""

    max_skew: timedelta = timedelta(days=400)
    """How far a device timestamp may be from the hub's wall clock. Simulated scenarios run on a
    scaled clock that may start anywhere in the past year or the next one; this bound still
    catches devices with no time (1970), a wrong century, or ms-vs-s confusion."""
    batch_size: int = 200
    """Most messages stored in one transaction (then acked together)."""
    shared_group: str = "hub"
    replica: str = "1"
    """Names this hub among replicas; part of the stable MQTT client id."""
    keepalive: int = 30
    username: str | None = None
    """MQTT username. amqtt 0.12 keeps sessions (offline queue) only for non-anonymous clients."""
    password: str | None = None
    resend_min_interval_s: float = 10.0
    """No seq range is asked of an edge again within this many seconds."""
    resend_sweep_s: float = 5.0
    """How often open seq gaps are asked for again (and heartbeats ahead of the stored seq checked)."""
    resend_settle_s: float = 3.0
    """After a subscribe, wait this long before asking for everything after the last stored seq: a broker that
    kept the session (Mosquitto) delivers its queue first, so only what it really lost is asked for."""
    resend_gap_max_age: timedelta = timedelta(days=8)
    """Gaps older than this are no longer asked for (the edge journal keeps 7 days by default)."""


_Resends = list[tuple[str, int, int | None]]
"""(edge, from_seq, to_seq) ranges to ask an edge for."""


class _Rejected(Exception):
    """Internal: a message is dead-lettered with ``reason``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class _BatchResult:
    transitions: list[Transition] = field(default_factory=list)
    series: list[wire.Event | wire.Reading | wire.Status | wire.Heartbeat] = field(default_factory=list)
    dead: int = 0
    duplicates: int = 0
    resends: _Resends = field(default_factory=list)


def _preview(payload: bytes) -> str:
    text = payload[:PREVIEW_CHARS].decode("utf-8", errors="replace")
    return "".join(ch if ch.isprintable() else "·" for ch in text)


class MessagePipeline:
    """Validates and stores batches of inbound messages in one transaction; publishes after commit."""

    def __init__(
        self,
        db: Database,
        compound: Compound,
        *,
        changes: AlarmChanges | None = None,
        series: SeriesSink | None = None,
        notifiers: Notifiers | None = None,
        settings: IngestSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.compound = compound
        self.changes = changes if changes is not None else AlarmChanges()
        self.series = series
        self.notifiers = notifiers or Notifiers()
        self.settings = settings or IngestSettings()
        self.clock: Clock = clock or WallClock()
        self.router = Router(compound)
        self._edges = set(compound.edges())
        self._grids = {dev_id: compound.grid_of(dev) for dev_id, dev in compound.devices.items()}
        self.processed = 0
        self._insert_event: Insert | None = None
        self.on_resend: Callable[[str, int, int | None], object] | None = None
        """Called after commit with (edge, from_seq, to_seq) for each range this batch found missing."""

    # ------------------------------------------------------------------ batches

    def process(self, batch: Sequence[Inbound]) -> None:
        """Store a batch; on a database error fall back to one transaction per message. Never raises."""
        try:
            result = self._store(batch)
        except Exception as exc:
            log.warning("batch of %d failed (%s: %s); storing one by one", len(batch), exc.__class__.__name__, exc)
            result = _BatchResult()
            for item in batch:
                self._store_one_with_retries(item, result)
        self.processed += len(batch)
        self._after_commit(result)

    def _store(self, batch: Sequence[Inbound]) -> _BatchResult:
        result = _BatchResult()
        with self.db.session() as session, session.no_autoflush:
            # No autoflush: counters and alarm updates go out once at commit; steps that need ids flush.
            edges: dict[str, EdgeRecord] = {}
            events: list[tuple[Inbound, wire.Event, EdgeRecord]] = []
            for item in batch:
                self._handle(session, item, edges, result, events)
            if events:
                self._events(session, events, result)
            for msg in result.series:  # after the batch's events: a heartbeat counts the events sent before it
                if isinstance(msg, wire.Heartbeat):
                    self._tail_gap(session, edges[msg.edge], msg, datetime.now(UTC), result.resends)
        return result

    def _store_one_with_retries(self, item: Inbound, result: _BatchResult, attempts: int = 3) -> None:
        for attempt in range(1, attempts + 1):
            try:
                single = self._store([item])
            except SQLAlchemyError as exc:
                log.warning("storing %s failed (attempt %d/%d): %s", item.topic, attempt, attempts, exc)
                time.sleep(0.1 * attempt)
                continue
            except Exception as exc:  # a bug on this input: keep the message, never stall the loop on it
                log.exception("internal error on a message from %.120s", item.topic)
                with self.db.session() as session:
                    self._dead_letter(session, item, "internal_error", f"{exc.__class__.__name__}: {exc}")
                return
            result.transitions += single.transitions
            result.series += single.series
            result.resends += single.resends
            return
        # Valid or not, it cannot be stored: keep it as a dead letter rather than block ingest forever.
        # If even that fails the database is down: raise, the caller waits and retries the batch.
        with self.db.session() as session:
            self._dead_letter(session, item, "store_failed", f"storing failed {attempts} times; see hub log")

    def _after_commit(self, result: _BatchResult) -> None:
        if self.on_resend is not None:
            for edge, from_seq, to_seq in result.resends:
                try:
                    self.on_resend(edge, from_seq, to_seq)
                except Exception:  # asking for a resend must never stop ingest
                    log.exception("resend request to %s failed", edge)
        for transition in result.transitions:
            self.changes.publish(transition.change)
            self.notifiers.notify(transition.change, transition.decision)
        if self.series is not None:
            for msg in result.series:
                try:
                    if isinstance(msg, wire.Event):
                        self.series.event(msg)
                    elif isinstance(msg, wire.Reading):
                        self.series.reading(msg)
                    elif isinstance(msg, wire.Heartbeat):
                        self.series.heartbeat(msg)
                    else:
                        self.series.status(msg)
                except Exception:  # the time-series side must never stop alarms
                    log.exception("series sink failed on a %s from %s", msg.type, msg.edge)

    # ------------------------------------------------------------------ one message

    def _handle(
        self,
        session: Session,
        item: Inbound,
        edges: dict[str, EdgeRecord],
        result: _BatchResult,
        events: list[tuple[Inbound, wire.Event, EdgeRecord]],
    ) -> None:
        """Validate one message; dead-letter it, or apply it (events are collected for ``_events``)."""
        try:
            if self._is_snapshot(item):
                self._snapshot(session, item, edges)
                return
            msg, topic = self._validate(item)
        except _Rejected as rejected:
            self._dead_letter(session, item, rejected.reason, rejected.detail)
            result.dead += 1
            return
        if msg is None:
            return
        edge = self._edge(session, topic.edge, edges)
        edge.last_seen_at = item.received_at
        if isinstance(msg, wire.Event):
            events.append((item, msg, edge))
        elif isinstance(msg, wire.Reading):
            edge.readings += 1
            result.series.append(msg)
        elif isinstance(msg, wire.Heartbeat):
            edge.heartbeats += 1
            edge.heartbeat = msg.model_dump(mode="json", by_alias=True)
            result.series.append(msg)
        elif isinstance(msg, wire.Status):
            edge.status = msg.state.value
            edge.status_at = msg.at.astimezone(UTC)
            edge.version = msg.version
            result.series.append(msg)

    def _is_snapshot(self, item: Inbound) -> bool:
        """Cheap topic test: ``<prefix>/v1/<compound>/<edge>/snapshot/<event id>``."""
        parts = item.topic.split("/")
        return len(parts) >= 2 and parts[-2] == wire.MessageType.SNAPSHOT.value

    def _snapshot(self, session: Session, item: Inbound, edges: dict[str, EdgeRecord]) -> None:
        """Store a camera event's JPEG under its event id (idempotent); the alarm finds it through its events."""
        try:
            topic = wire.parse_topic(item.topic, prefix=self.compound.prefix)
        except wire.TopicError as exc:
            raise _Rejected(exc.reason, exc.message) from None
        if topic.compound != self.compound.id:
            raise _Rejected(
                "unknown_compound", f"topic compound {topic.compound!r}, this hub serves {self.compound.id!r}"
            )
        if topic.edge not in self._edges:
            raise _Rejected("unknown_edge", f"edge {topic.edge!r} is not in the config")
        event_id = topic.device or ""
        if not SNAPSHOT_ID.fullmatch(event_id):
            raise _Rejected(
                "bad_topic", f"snapshot topic must end in an event id (8-64 of [A-Za-z0-9_-]): {event_id!r}"
            )
        data = item.payload
        if len(data) > wire.MAX_SNAPSHOT_BYTES:
            raise _Rejected("oversized_snapshot", f"{len(data)} bytes > {wire.MAX_SNAPSHOT_BYTES}")
        if not data.startswith(JPEG_START) or JPEG_END not in data[-64:]:
            raise _Rejected(
                "bad_snapshot",
                f"{len(data)} bytes starting {data[:4].hex(' ')}: not a complete JPEG (FF D8 FF ... FF D9)",
            )
        session.execute(
            insert_ignore(session, Snapshot).values(
                event_id=event_id, edge=topic.edge, received_at=item.received_at, size=len(data), jpeg=data
            )
        )
        self._edge(session, topic.edge, edges).last_seen_at = item.received_at

    def _validate(
        self, item: Inbound
    ) -> tuple[wire.Event | wire.Reading | wire.Status | wire.Heartbeat | None, wire.Topic]:
        try:
            topic = wire.parse_topic(item.topic, prefix=self.compound.prefix)
        except wire.TopicError as exc:
            raise _Rejected(exc.reason, exc.message) from None
        if topic.type is wire.MessageType.CMD:
            return None, topic  # our own commands: not for this pipeline
        if topic.compound != self.compound.id:
            raise _Rejected(
                "unknown_compound", f"topic compound {topic.compound!r}, this hub serves {self.compound.id!r}"
            )
        try:
            msg = wire.parse(topic.type, item.payload)
        except wire.WireError as exc:
            raise _Rejected(exc.reason, exc.message) from None
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
            raise _Rejected("topic_payload_mismatch", "; ".join(mismatched))
        if topic.device is not None:
            device = self.compound.devices.get(topic.device)
            if device is None:
                raise _Rejected("unknown_device", f"device {topic.device!r} is not in the config")
            if device.edge != topic.edge:
                raise _Rejected(
                    "device_edge_mismatch", f"device {device.id!r} belongs to edge {device.edge!r}, not {topic.edge!r}"
                )
        elif topic.edge not in self._edges:
            raise _Rejected("unknown_edge", f"edge {topic.edge!r} is not in the config")
        name, stamp = ("occurred_at", msg.occurred_at) if isinstance(msg, wire.Event) else ("at", msg.at)
        if stamp.tzinfo is None:
            raise _Rejected("invalid", f"{name}: timestamp {stamp.isoformat()} has no timezone")
        skew = stamp - item.received_at
        if abs(skew) > self.settings.max_skew:
            raise _Rejected(
                "timestamp_out_of_range",
                f"{name} {stamp.isoformat()} is {skew.total_seconds() / 86400:+.1f} days from the hub clock "
                f"(allowed ±{self.settings.max_skew.days} days)",
            )
        return msg, topic

    def _events(
        self, session: Session, events: list[tuple[Inbound, wire.Event, EdgeRecord]], result: _BatchResult
    ) -> None:
        """Store a batch's events in bulk (dedup by id), then apply the new ones to alarms in arrival order."""
        table = EventRecord.metadata.tables[EventRecord.__tablename__]
        if self._insert_event is None:
            # Built once: a Core statement with bound parameters compiles once and is cached; executed
            # with a list it becomes multi-row INSERT .. ON CONFLICT DO NOTHING RETURNING (insertmanyvalues).
            self._insert_event = insert_ignore(session, table).returning(table.c.id, table.c.event_id)
        params = [
            {
                "alarm_id": None,
                "event_id": msg.id,
                "seq": msg.seq,
                "compound": msg.compound,
                "edge": msg.edge,
                "device": msg.device,
                "kind": msg.kind.value,
                "state": msg.state.value,
                "severity": msg.severity.value,
                "value": msg.value,
                "unit": msg.unit,
                "threshold": msg.threshold,
                "message": msg.message,
                "occurred_at": msg.occurred_at.astimezone(UTC),
                "received_at": item.received_at,
                "raw": msg.model_dump(mode="json", by_alias=True, exclude_none=True),
            }
            for item, msg, _ in events
        ]
        inserted = {event_id: row_id for row_id, event_id in session.connection().execute(self._insert_event, params)}
        fresh: list[tuple[int, wire.Event]] = []
        for item, msg, edge in events:
            record_id = inserted.pop(msg.id, None)  # pop: a second copy in the same batch is a duplicate too
            if record_id is None:
                edge.duplicates += 1
                result.duplicates += 1
                log.info("duplicate event from %s ignored (event_id=%s)", msg.edge, msg.id)
                continue
            edge.events += 1
            self._track_seq(session, edge, msg.seq, item.received_at, result.resends)
            fresh.append((record_id, msg))
        if not fresh:
            return
        open_alarms = lifecycle.open_alarms(session, {(msg.device, msg.kind.value) for _, msg in fresh})
        attached: list[tuple[int, Alarm]] = []
        now = self.clock.now()
        for record_id, msg in fresh:
            key = (msg.device, msg.kind.value)
            transition = lifecycle.apply_event(
                session,
                msg,
                self.compound.devices[msg.device],
                self._grids[msg.device],
                self.router,
                now,
                open_alarms.get(key),
            )
            if transition is not None:
                open_alarms[key] = transition.alarm
                attached.append((record_id, transition.alarm))
                result.transitions.append(transition)
            result.series.append(msg)
        if attached:
            session.flush()  # ids for alarms raised in this batch
            session.connection().execute(
                _SET_EVENT_ALARM, [{"record_id": record_id, "alarm": alarm.id} for record_id, alarm in attached]
            )

    @staticmethod
    def _tail_gap(
        session: Session,
        edge: EdgeRecord,
        beat: wire.Heartbeat,
        now: datetime,
        resends: _Resends,
    ) -> None:
        """A heartbeat past the last stored seq: ask for the rest; with an empty outbox, it is also a lost tail."""
        if beat.seq > (edge.max_seq or 0):
            resends.append((edge.edge, (edge.max_seq or 0) + 1, beat.seq))
        if beat.outbox_depth or edge.max_seq is None or beat.seq <= edge.max_seq:
            return
        session.add(SeqGap(edge=edge.edge, from_seq=edge.max_seq + 1, to_seq=beat.seq, detected_at=now))
        log.warning(
            "edge %s reports seq %d with an empty outbox; events after %d never arrived",
            edge.edge,
            beat.seq,
            edge.max_seq,
        )
        edge.max_seq = beat.seq

    @staticmethod
    def _track_seq(session: Session, edge: EdgeRecord, seq: int, now: datetime, resends: _Resends) -> None:
        """Record skipped sequence numbers; a late arrival fills (shrinks or splits) the gap it falls in."""
        if edge.max_seq is None or edge.min_seq is None:
            edge.min_seq = edge.max_seq = seq
            return
        if seq > edge.max_seq:
            if seq > edge.max_seq + 1:
                session.add(SeqGap(edge=edge.edge, from_seq=edge.max_seq + 1, to_seq=seq - 1, detected_at=now))
                resends.append((edge.edge, edge.max_seq + 1, seq - 1))
                log.warning("edge %s skipped seq %d..%d", edge.edge, edge.max_seq + 1, seq - 1)
            edge.max_seq = seq
            return
        if seq < edge.min_seq:
            # Older than anything seen (an outbox replayed after the hub's first message): a new lower bound.
            if seq < edge.min_seq - 1:
                session.add(SeqGap(edge=edge.edge, from_seq=seq + 1, to_seq=edge.min_seq - 1, detected_at=now))
                resends.append((edge.edge, seq + 1, edge.min_seq - 1))
            edge.min_seq = seq
            return
        session.flush()
        gap = session.scalars(
            select(SeqGap).where(SeqGap.edge == edge.edge, SeqGap.from_seq <= seq, SeqGap.to_seq >= seq)
        ).first()
        if gap is None:
            # Same seq, new event id: the edge reused a number (lost its state?). Count it, keep going.
            edge.seq_anomalies += 1
            log.warning("edge %s reused seq %d with a new event id", edge.edge, seq)
            return
        if gap.from_seq == gap.to_seq:
            session.delete(gap)
        elif seq == gap.from_seq:
            gap.from_seq += 1
        elif seq == gap.to_seq:
            gap.to_seq -= 1
        else:
            session.add(SeqGap(edge=edge.edge, from_seq=seq + 1, to_seq=gap.to_seq, detected_at=gap.detected_at))
            gap.to_seq = seq - 1

    @staticmethod
    def _edge(session: Session, edge_id: str, cache: dict[str, EdgeRecord]) -> EdgeRecord:
        edge = cache.get(edge_id)
        if edge is None:
            session.execute(
                insert_ignore(session, EdgeRecord).values(
                    edge=edge_id, events=0, readings=0, heartbeats=0, duplicates=0, seq_anomalies=0
                )
            )
            found = session.get(EdgeRecord, edge_id, with_for_update=True)
            assert found is not None
            edge = cache[edge_id] = found
        return edge

    @staticmethod
    def _dead_letter(session: Session, item: Inbound, reason: str, detail: str) -> None:
        log.warning("dead letter %s on %.120s: %.200s", reason, item.topic, detail)
        session.add(
            DeadLetter(
                received_at=item.received_at,
                topic=item.topic[:256],
                reason=reason,
                detail=detail[:1000],
                size=len(item.payload),
                excerpt=item.payload[:EXCERPT_BYTES],
                preview=_preview(item.payload),
            )
        )


class Ingestor:
    """Subscribes to the compound's topics and feeds the pipeline; acks each message after its commit."""

    def __init__(
        self,
        db: Database,
        compound: Compound,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        broker_kind: str = "mosquitto",
        changes: AlarmChanges | None = None,
        series: SeriesSink | None = None,
        notifiers: Notifiers | None = None,
        settings: IngestSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.compound = compound
        self.host = host
        self.port = port
        self.broker_kind = broker_kind
        self.settings = settings or IngestSettings()
        self.pipeline = MessagePipeline(
            db, compound, changes=changes, series=series, notifiers=notifiers, settings=self.settings, clock=clock
        )
        self.changes = self.pipeline.changes
        self.clock = self.pipeline.clock
        """The hub's clock; give the same one to ``AlarmService`` so people's actions share the timeline."""
        self.client_id = f"compound-hub-{compound.id}-{self.settings.replica}"[:64]
        base = wire.subscription(compound.prefix, compound.id)
        self._base_filter = base
        self.shared = supports_shared_subscriptions(broker_kind)
        """Whether to subscribe through ``$share/``; with ``broker_kind='auto'`` a probe decides in ``run``."""
        self.subscribed = threading.Event()
        """Set once the broker has acknowledged the subscription (tests and readiness wait on it)."""
        self.connections = 0
        """Successful connections so far (1 + reconnects)."""
        self._inbox: queue.Queue[Inbound] = queue.Queue()
        self._generation = 0
        self._gen_lock = threading.Lock()
        self._stopping = threading.Event()
        self._client: mqtt.Client | None = None
        self.resends = ResendRequester(
            compound,
            self._publish_command,
            requested_by=f"hub:{self.settings.replica}",
            min_interval_s=self.settings.resend_min_interval_s,
        )
        """Asks edges to resend what this hub misses (rate-limited per edge)."""
        self.pipeline.on_resend = self.resends.request
        self._resync_at: float | None = None
        self._next_sweep = 0.0

    @property
    def topic_filter(self) -> str:
        """The subscription: shared (``$share/<group>/...``) where the broker delivers those, plain otherwise."""
        return f"$share/{self.settings.shared_group}/{self._base_filter}" if self.shared else self._base_filter

    # ------------------------------------------------------------------ MQTT callbacks (paho thread)

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused connection: %s", reason)
            return
        with self._gen_lock:
            self._generation += 1
        self.connections += 1
        log.info(
            "connected to %s:%d (session present: %s); subscribing %s",
            self.host,
            self.port,
            flags.session_present,
            self.topic_filter,
        )
        client.subscribe(self.topic_filter, qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Any) -> None:
        if any(r.is_failure for r in reasons):
            log.error("broker refused subscription %s: %s", self.topic_filter, reasons)
            return
        log.info("hub ingest subscribed to %s", self.topic_filter)
        self.subscribed.set()
        # Nothing can be missed any more: ask for what was (once the broker's own queue had time to arrive).
        self._resync_at = time.monotonic() + self.settings.resend_settle_s

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        with self._gen_lock:
            self._generation += 1  # acks for messages of the dropped connection must not be sent
        self.subscribed.clear()
        if not self._stopping.is_set():
            log.warning("disconnected from broker (%s); reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # brokers should refuse these; if one arrives, dead-letter it as bad_topic
            topic = message._topic.decode("utf-8", errors="replace")
        self._inbox.put(
            Inbound(
                topic=topic,
                payload=bytes(message.payload),
                received_at=datetime.now(UTC),
                mid=message.mid,
                qos=message.qos,
                generation=self._generation,
            )
        )

    # ------------------------------------------------------------------ worker thread

    def _work(self) -> None:
        while not self._stopping.is_set():
            self._maybe_sweep()
            try:
                first = self._inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self.settings.batch_size:
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            self._process_until_stored(batch)
            self._ack(batch)

    def _publish_command(self, topic: str, payload: bytes) -> bool:
        """Publish a command to an edge (QoS 1); only while subscribed, so that what it triggers is not missed."""
        client = self._client
        if client is None or not self.subscribed.is_set():
            return False
        return client.publish(topic, payload, qos=1).rc == mqtt.MQTT_ERR_SUCCESS

    def _maybe_sweep(self) -> None:
        """After a subscribe, and every ``resend_sweep_s``: ask edges for open gaps and unseen tails."""
        now = time.monotonic()
        resync = self._resync_at is not None and now >= self._resync_at
        if not resync and now < self._next_sweep:
            return
        if not self.subscribed.is_set():
            return
        if resync:
            self._resync_at = None
        self._next_sweep = time.monotonic() + self.settings.resend_sweep_s
        try:
            self.sweep(open_ended=resync)
        except Exception:  # the database may be down; ingest goes on and the next sweep tries again
            log.exception("resend sweep failed")

    def sweep(self, *, open_ended: bool) -> int:
        """Ask for every open seq gap and every tail a heartbeat showed; ``open_ended``: also for anything
        after the last stored seq of every configured edge. Returns the number of requests sent."""
        cutoff = datetime.now(UTC) - self.settings.resend_gap_max_age
        with self.db.session() as session:
            records = {r.edge: (r.min_seq, r.max_seq, r.heartbeat) for r in session.scalars(select(EdgeRecord))}
            gaps = session.execute(
                select(SeqGap.edge, SeqGap.from_seq, SeqGap.to_seq)
                .where(SeqGap.detected_at >= cutoff)
                .order_by(SeqGap.edge, SeqGap.from_seq)
            ).all()
        sent = 0
        for edge, from_seq, to_seq in gaps:
            sent += self.resends.request(edge, from_seq, to_seq)
        for edge in self.compound.edges():
            min_seq, max_seq, beat = records.get(edge, (None, None, None))
            beat_seq = beat.get("seq") if isinstance(beat, dict) else None
            if isinstance(beat_seq, int) and beat_seq > (max_seq or 0):
                sent += self.resends.request(edge, (max_seq or 0) + 1, beat_seq)
            if open_ended:
                if min_seq is not None and min_seq > 1:
                    sent += self.resends.request(edge, 1, min_seq - 1)
                sent += self.resends.request(edge, (max_seq or 0) + 1, None)
        return sent

    def _process_until_stored(self, batch: list[Inbound]) -> None:
        delay = 0.5
        while True:
            try:
                self.pipeline.process(batch)
                return
            except Exception:
                # Only reached when even a dead letter cannot be written: the database is unreachable.
                # Do not ack; wait and retry, the broker keeps the messages meanwhile.
                log.exception("database unavailable; retrying a batch of %d in %.1fs", len(batch), delay)
                if self._stopping.wait(delay):
                    return
                delay = min(delay * 2, 10.0)

    def _ack(self, batch: list[Inbound]) -> None:
        client = self._client
        if client is None:
            return
        with self._gen_lock:
            for item in batch:
                if item.qos > 0 and item.generation == self._generation:
                    client.ack(item.mid, item.qos)

    # ------------------------------------------------------------------ lifecycle

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        if self.settings.username is not None:
            client.username_pw_set(self.settings.username, self.settings.password)
        return client

    async def run(self, stop: asyncio.Event) -> None:
        """Ingest until ``stop`` is set; reconnects by itself; returns after a clean disconnect."""
        await asyncio.to_thread(self.db.create)
        self._stopping.clear()
        if self.broker_kind == "auto":
            found = await self._probe_until_reachable(stop)
            if found is None:
                return
            self.shared = found
        worker = threading.Thread(target=self._work, name="hub-ingest", daemon=True)
        worker.start()
        client = self._client = self._make_client()
        client.connect_async(self.host, self.port, keepalive=self.settings.keepalive)
        client.loop_start()
        log.info(
            "hub ingest for %s: broker %s:%d (%s), client id %s",
            self.compound.id,
            self.host,
            self.port,
            self.broker_kind,
            self.client_id,
        )
        try:
            await stop.wait()
        finally:
            # Finish (store and ack) the batch in hand; anything still queued is unacked and comes back.
            self._stopping.set()
            await asyncio.to_thread(worker.join, 30)
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)
            self._client = None
            log.info("hub ingest stopped after %d messages", self.pipeline.processed)

    async def _probe_until_reachable(self, stop: asyncio.Event) -> bool | None:
        """Probe shared-subscription support, retrying while the broker is unreachable; None if stopped first."""
        delay = 1.0
        while not stop.is_set():
            found = await asyncio.to_thread(probe_shared_subscriptions, self.host, self.port, self.compound.prefix)
            if found is not None:
                log.info(
                    "broker %s:%d %s shared subscriptions",
                    self.host,
                    self.port,
                    "delivers" if found else "does not deliver",
                )
                return found
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                delay = min(delay * 2, 10.0)
        return None


def probe_shared_subscriptions(
    host: str, port: int, prefix: str = wire.DEFAULT_PREFIX, timeout: float = 3.0
) -> bool | None:
    """Whether the broker delivers ``$share/`` subscriptions (amqtt 0.12 acknowledges them, then delivers
    nothing): subscribe shared to a private probe topic and publish to it. ``None``: broker unreachable."""
    token = uuid.uuid4().hex[:12]
    probe_topic = f"{prefix}/probe/{token}"
    delivered = threading.Event()
    subscribed = threading.Event()
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"hub-probe-{token}")
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_message = lambda _c, _u, msg: delivered.set() if msg.topic == probe_topic else None
    try:
        client.connect(host, port, keepalive=10)
    except OSError as exc:
        log.warning("broker %s:%d unreachable for the shared-subscription probe: %s", host, port, exc)
        return None
    client.loop_start()
    try:
        client.subscribe(f"$share/probe-{token}/{probe_topic}", qos=1)
        if not subscribed.wait(timeout):
            return None
        client.publish(probe_topic, b"probe", qos=1)
        return delivered.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
