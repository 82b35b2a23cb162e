"""``MessagePipeline``: one batch of inbound messages → validate → one transaction → commit → fan out.

Nothing raises out of ``process`` but a database that cannot even take a dead letter: a batch that fails is
stored one message per transaction (retried), a message that breaks the hub is kept as ``internal_error``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from compound import wire
from compound.clock import Clock, WallClock
from compound.config import Compound
from hub.alarms.changes import AlarmChanges
from hub.db import Database, EdgeRecord
from hub.ingest.fanout import BatchOutcome, ResendCallback, fan_out
from hub.ingest.inbound import Inbound
from hub.ingest.sequence import tail_gap
from hub.ingest.settings import IngestSettings
from hub.ingest.store import EventStore, PendingEvent, dead_letter, edge_record, store_snapshot
from hub.ingest.supervision import EdgeSupervisor
from hub.ingest.validate import Parsed, ParsedSnapshot, Rejected, clock_note, validate
from hub.notify.escalation import ChannelInfo, jobs_written
from hub.shadow import store_shadow
from hub.timeseries.base import SeriesSink

__all__ = ["MessagePipeline"]

log = logging.getLogger(__name__)

CLOCK_WARNING_EVERY_S = 60.0
"""A wrong edge clock is logged at most this often per edge."""


class MessagePipeline:
    """Validates and stores batches of inbound messages in one transaction; publishes after commit."""

    def __init__(
        self,
        db: Database,
        compound: Compound,
        *,
        changes: AlarmChanges | None = None,
        series: SeriesSink | None = None,
        channels: Mapping[str, ChannelInfo] | None = None,
        settings: IngestSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.compound = compound
        self.changes = changes if changes is not None else AlarmChanges()
        self.series = series
        self.settings = settings or IngestSettings()
        self.clock: Clock = clock or WallClock()
        """The hub's clock: alarm step times and the detection time of a tail gap."""
        self.events = EventStore(compound, self.clock, channels)
        self.supervisor = EdgeSupervisor(
            compound, self.events.router, self.events.escalation, self.clock, self.settings
        )
        """Supervised links: ``edge_offline`` alarms and the stale-device patrol (``supervise``)."""
        self.processed = 0
        self._clock_warned: dict[str, float] = {}
        """When (monotonic) each edge's wrong clock was last logged."""
        self.on_resend: ResendCallback | None = None
        """Called after commit with (edge, from_seq, to_seq) for each range this batch found missing."""
        self.on_raised: Callable[[], object] | None = None
        """Called after a commit that wrote notification jobs (``BatchOutcome.jobs``): wakes the dispatcher now
        rather than at its next poll. Only a nudge: a hub without it still delivers, at the poll."""

    def process(self, batch: Sequence[Inbound]) -> None:
        """Store a batch; on a database error fall back to one transaction per message. Never raises."""
        try:
            outcome = self._store(batch)
        except Exception as exc:
            log.warning("batch of %d failed (%s: %s); storing one by one", len(batch), exc.__class__.__name__, exc)
            outcome = BatchOutcome()
            for item in batch:
                self._store_one_with_retries(item, outcome)
        self.processed += len(batch)
        fan_out(outcome, changes=self.changes, series=self.series, on_resend=self.on_resend)
        self._nudge(outcome)

    def _nudge(self, outcome: BatchOutcome) -> None:
        if self.on_raised is not None and outcome.jobs:
            try:
                self.on_raised()
            except Exception:  # a nudge must never stop ingest
                log.exception("waking the notification dispatcher failed")

    def _store(self, batch: Sequence[Inbound]) -> BatchOutcome:
        outcome = BatchOutcome()
        with self.db.session() as session, session.no_autoflush:
            # No autoflush: counters and alarm updates go out once at commit; steps that need ids flush.
            edges: dict[str, EdgeRecord] = {}
            events: list[PendingEvent] = []
            for item in batch:
                self._handle(session, item, edges, outcome, events)
            if events:
                self.events.store(session, events, outcome)
            liveness: dict[str, EdgeRecord] = {}
            for msg in outcome.series:  # after the batch's events: a heartbeat counts the events sent before it
                if isinstance(msg, wire.Heartbeat):
                    tail_gap(session, edges[msg.edge], msg, self.clock.now(), outcome.resends)
                if isinstance(msg, wire.Heartbeat | wire.Status):
                    liveness[msg.edge] = edges[msg.edge]
            if liveness and self.settings.supervise_edges:  # a last will raises at once, a return clears
                self.supervisor.observe(session, liveness.values(), self.clock.now(), outcome)
            self.changes.announce(session, (t.change for t in outcome.transitions))  # to other replicas, at commit
            outcome.jobs = jobs_written(session)
        return outcome

    def supervise(self, *, heard_since: datetime | None = None, judge: bool = True) -> BatchOutcome:
        """One supervision round on the hub clock (``hub.ingest.supervision``), in its own transaction; the alarm
        changes it made are published once committed. ``heard_since``: when this hub's subscription began;
        ``judge``: False on a replica that does not lead supervision (it only writes what it saw: the patrol)."""
        outcome = BatchOutcome()
        with self.db.session() as session:
            if self.settings.supervise_edges and judge:
                self.supervisor.check(session, self.clock.now(), outcome, heard_since=heard_since)
            else:
                self.supervisor.patrol(session, self.clock.now())
            self.changes.announce(session, (t.change for t in outcome.transitions))
            outcome.jobs = jobs_written(session)
        fan_out(outcome, changes=self.changes, series=None, on_resend=None)
        self._nudge(outcome)
        return outcome

    def _store_one_with_retries(self, item: Inbound, outcome: BatchOutcome, attempts: int = 3) -> None:
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
                    dead_letter(session, item, "internal_error", f"{exc.__class__.__name__}: {exc}")
                return
            outcome.extend(single)
            return
        # A database that does not answer is down, and the message is not to blame: raise, the caller waits and
        # retries the batch unacknowledged. (Dead-lettering here lost good events when a PostgreSQL outage ended
        # between the attempts and the dead letter: found by tests/faults, PostgreSQL stopped 30 s.)
        self._check_database()
        try:  # it answers now: one more try (an outage may have ended just now), then the message is to blame
            outcome.extend(self._store([item]))
            return
        except SQLAlchemyError as exc:
            log.warning("storing %s failed with the database up: %s", item.topic, exc)
        # Valid or not, it cannot be stored: keep it as a dead letter rather than block ingest forever.
        # If even that fails the database is down: raise, the caller waits and retries the batch.
        with self.db.session() as session:
            dead_letter(session, item, "store_failed", f"storing failed {attempts + 1} times; see hub log")

    def _clock_warning(self, edge: str, note: str) -> None:
        """Log a wrong edge clock at most once a minute per edge (every message of such an edge is restamped)."""
        now = time.monotonic()
        if now - self._clock_warned.get(edge, -CLOCK_WARNING_EVERY_S) >= CLOCK_WARNING_EVERY_S:
            self._clock_warned[edge] = now
            log.warning("%s", note)

    def _check_database(self) -> None:
        """Raise ``SQLAlchemyError`` unless the database answers a trivial query."""
        with self.db.session() as session:
            session.execute(text("SELECT 1"))

    def _handle(
        self,
        session: Session,
        item: Inbound,
        edges: dict[str, EdgeRecord],
        outcome: BatchOutcome,
        events: list[PendingEvent],
    ) -> None:
        """Validate one message; dead-letter it, or apply it (events are collected for the bulk insert)."""
        checked = validate(item.topic, item.payload, item.received_at, self.compound, self.settings)
        if checked is None:
            return
        if isinstance(checked, Rejected):
            dead_letter(session, item, checked.reason, checked.detail)
            outcome.dead += 1
            return
        if isinstance(checked, ParsedSnapshot):
            store_snapshot(session, checked, item.received_at)
            edge_record(session, checked.edge, edges).last_seen_at = item.received_at
            return
        note = clock_note(checked, item.received_at, self.settings)
        if note is not None:
            self._clock_warning(checked.topic.edge, note)
        self._apply(session, item, checked, edges, outcome, events)
        msg = checked.message
        if isinstance(msg, wire.Reading | wire.Event):
            self.supervisor.saw(msg.device, item.received_at)

    def _apply(
        self,
        session: Session,
        item: Inbound,
        parsed: Parsed,
        edges: dict[str, EdgeRecord],
        outcome: BatchOutcome,
        events: list[PendingEvent],
    ) -> None:
        """Update the edge's row for a valid message; events wait for the batch's bulk insert."""
        msg = parsed.message
        edge = edge_record(session, parsed.topic.edge, edges)
        edge.last_seen_at = item.received_at
        if isinstance(msg, wire.Event):
            events.append((item, msg, edge, parsed.sent_at))
        elif isinstance(msg, wire.Reading):
            edge.readings += 1
            outcome.series.append(msg)
        elif isinstance(msg, wire.Heartbeat):
            edge.heartbeats += 1
            edge.heartbeat = msg.model_dump(mode="json", by_alias=True)
            outcome.series.append(msg)
        elif isinstance(msg, wire.ShadowReport):
            store_shadow(session, msg, item.received_at)  # recorded for comparison, never acted on
        elif isinstance(msg, wire.Status):
            edge.status = msg.state.value
            edge.status_at = msg.at.astimezone(UTC)
            edge.version = msg.version
            outcome.series.append(msg)
