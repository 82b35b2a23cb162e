"""Storage of validated messages inside the batch's transaction: events once (insert-ignore on the event id)
and applied to alarms, snapshots, edge rows and their counters, dead letters."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Final

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from compound import wire
from compound.clock import Clock
from compound.config import Compound
from hub.alarms import lifecycle
from hub.db import Alarm, DeadLetter, EdgeRecord, EventRecord, Snapshot, event_row, insert_ignore
from hub.ingest.fanout import BatchOutcome
from hub.ingest.inbound import Inbound
from hub.ingest.sequence import track_seq
from hub.ingest.validate import ParsedSnapshot
from hub.notify.escalation import DEFAULT_CHANNELS, ChannelInfo, Escalation
from hub.routing.router import Router

__all__ = ["EXCERPT_BYTES", "PREVIEW_CHARS", "EventStore", "dead_letter", "edge_record", "store_snapshot"]

log = logging.getLogger(__name__)

EXCERPT_BYTES: Final = 1024
"""Raw payload bytes kept with a dead letter."""

PREVIEW_CHARS: Final = 200

_EVENTS = EventRecord.metadata.tables[EventRecord.__tablename__]
_SET_EVENT_ALARM = update(_EVENTS).where(_EVENTS.c.id == bindparam("record_id")).values(alarm_id=bindparam("alarm"))
"""Link stored events to their alarm, executed once per batch with every pair (executemany)."""

PendingEvent = tuple[Inbound, wire.Event, EdgeRecord, datetime | None]
"""An event of the batch waiting for the bulk insert: its message as stored, its edge row, and the edge's own
stamp when the hub restamped it (``Parsed.sent_at``)."""


class EventStore:
    """Stores a batch's events in bulk, deduplicated by id, and applies the new ones to alarms (routed)."""

    def __init__(self, compound: Compound, clock: Clock, channels: Mapping[str, ChannelInfo] | None = None) -> None:
        self.compound = compound
        self.clock = clock
        self.router = Router(compound)
        self.escalation = Escalation(compound, self.router, DEFAULT_CHANNELS if channels is None else channels)
        self._grids = {dev_id: compound.grid_of(dev) for dev_id, dev in compound.devices.items()}
        self._insert: Insert | None = None

    def store(self, session: Session, events: list[PendingEvent], outcome: BatchOutcome) -> None:
        """Insert the events (dedup by id), track seqs, then apply the new ones to alarms in arrival order."""
        if self._insert is None:
            # Built once: a Core statement with bound parameters compiles once and is cached; executed
            # with a list it becomes multi-row INSERT .. ON CONFLICT DO NOTHING RETURNING (insertmanyvalues).
            self._insert = insert_ignore(session, _EVENTS).returning(_EVENTS.c.id, _EVENTS.c.event_id)
        params = [event_row(msg, item.received_at, sent_at) for item, msg, _, sent_at in events]
        inserted = {event_id: row_id for row_id, event_id in session.connection().execute(self._insert, params)}
        fresh: list[tuple[int, wire.Event]] = []
        for item, msg, edge, _ in events:
            record_id = inserted.pop(msg.id, None)  # pop: a second copy in the same batch is a duplicate too
            if record_id is None:
                edge.duplicates += 1
                outcome.duplicates += 1
                log.info("duplicate event from %s ignored (event_id=%s)", msg.edge, msg.id)
                continue
            edge.events += 1
            track_seq(session, edge, msg.seq, item.received_at, outcome.resends)
            fresh.append((record_id, msg))
        if fresh:
            self._apply(session, fresh, outcome)

    def _apply(self, session: Session, fresh: list[tuple[int, wire.Event]], outcome: BatchOutcome) -> None:
        """Attach each new event to the open alarm for its device and kind, or raise one; link events to alarms."""
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
                if transition.change.change == "raised":
                    self.escalation.on_raise(session, transition.alarm, now)
                elif transition.reraised:
                    self.escalation.on_reraise(session, transition.alarm, now)
                open_alarms[key] = transition.alarm
                attached.append((record_id, transition.alarm))
                outcome.transitions.append(transition)
            outcome.series.append(msg)
        if attached:
            session.flush()  # ids for alarms raised in this batch
            session.connection().execute(
                _SET_EVENT_ALARM, [{"record_id": record_id, "alarm": alarm.id} for record_id, alarm in attached]
            )


def store_snapshot(session: Session, snapshot: ParsedSnapshot, received_at: datetime) -> None:
    """Store a camera event's JPEG under its event id (idempotent); the alarm finds it through its events."""
    session.execute(
        insert_ignore(session, Snapshot).values(
            event_id=snapshot.event_id,
            edge=snapshot.edge,
            received_at=received_at,
            size=len(snapshot.jpeg),
            jpeg=snapshot.jpeg,
        )
    )


def edge_record(session: Session, edge_id: str, cache: dict[str, EdgeRecord]) -> EdgeRecord:
    """The edge's row, created if new and locked for this transaction; cached per batch."""
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


def dead_letter(session: Session, item: Inbound, reason: str, detail: str) -> None:
    """Keep a rejected message with its reason, size, first bytes and a printable preview."""
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


def _preview(payload: bytes) -> str:
    text = payload[:PREVIEW_CHARS].decode("utf-8", errors="replace")
    return "".join(ch if ch.isprintable() else "·" for ch in text)
