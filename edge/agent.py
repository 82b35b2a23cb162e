"""The edge agent of one building or site: poll drivers each tick, run rules, store and publish.

Each tick of the (possibly simulated) clock: poll every driver, feed samples to the rule engine, let
time-based rules look at the clock, store the resulting events in the outbox (seq, open conditions
and the resume point commit together), store due readings in one transaction, send a heartbeat when
due. The publisher drains the outbox concurrently. Nothing an event rule decided is lost: if the
outbox refuses it (full outbox or disk), the event waits in a bounded in-memory backlog and is
retried every tick; only a backlog overflow drops (counted and logged). Every event also stays in the
outbox's sent-journal after its PUBACK, and the hub's ``cmd/resend`` requests resend journaled ranges
(``edge/resend.py``), so events a broker lost after acknowledging them are recovered end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import deque
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compound import wire
from compound.clock import Clock
from compound.config import Compound
from compound.drivers import Sample, SensorDriver
from compound.modelstore import ModelStore
from compound.tls import MqttTLS
from compound.wire import EdgeState, EventKind, MessageType, Severity
from edge.engine import Draft, OpenCondition, RuleEngine
from edge.outbox import Lane, Outbox, OutboxError
from edge.publisher import LastWill, Publisher
from edge.resend import ResendHandler

if TYPE_CHECKING:  # the vision stack (OpenCV, onnxruntime) is imported only by agents that run cameras
    from edge.cameras import EdgeCameras
    from edge.vision.pipeline import VisionDraft

__all__ = ["AgentOptions", "EdgeAgent"]

log = logging.getLogger(__name__)

VERSION = "0.1.0"
COND_PREFIX = "cond/"
RESUME_KEY = "resume_at"


@dataclass(frozen=True, slots=True)
class AgentOptions:
    """Tunables of one agent; None means 'from the compound config'."""

    tick_s: float = 1.0
    reading_interval_s: float | None = None
    alarm_reading_interval_s: float = 5.0
    heartbeat_interval_s: float | None = None
    until: datetime | None = None
    window: int = 64
    max_messages: int = 100_000
    max_readings: int | None = None
    max_bytes: int | None = None
    backlog_max: int = 10_000
    events_per_transaction: int = 256
    drain_timeout_s: float = 10.0
    journal_max_events: int = 100_000
    journal_max_age_s: float = 7 * 86_400.0
    resend_min_interval_s: float = 10.0
    cameras: bool = False
    """Run the vision pipeline of the edge's camera devices (``edge/cameras.py``)."""
    camera_sources: tuple[tuple[str, str], ...] = ()
    """(camera device id, source) pairs overriding ``source:`` in devices.yaml, e.g. another ``sim:`` scene."""
    snapshot_backlog: int = 32
    """Snapshots kept in memory while the outbox refuses them; beyond that the oldest is dropped."""


class EdgeAgent:
    """One edge: drivers -> rules -> outbox -> broker."""

    def __init__(
        self,
        compound: Compound,
        edge: str,
        drivers: Sequence[SensorDriver],
        clock: Clock,
        *,
        host: str,
        port: int,
        data_dir: Path,
        fallbacks: Sequence[tuple[str, int]] = (),
        options: AgentOptions | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: MqttTLS | None = None,
    ) -> None:
        self.compound = compound
        self.edge = edge
        self.drivers = list(drivers)
        self.clock = clock
        self.options = options or AgentOptions()
        self.engine = RuleEngine(compound, edge)
        self.cameras: EdgeCameras | None = None
        if self.options.cameras:  # before the outbox: a bad camera config fails without taking its lock
            from edge.cameras import EdgeCameras

            self.cameras = EdgeCameras.for_edge(
                compound,
                edge,
                clock,
                sources=dict(self.options.camera_sources),
                models=ModelStore.of_data_dir(data_dir),  # a promoted model is live from the edge's next start
            )
        self.snapshots: deque[tuple[str, bytes]] = deque()
        self.dropped_snapshots = 0
        self.state_dir = Path(data_dir) / f"edge-{edge}"
        self.outbox = Outbox(
            self.state_dir / "outbox.db",
            max_messages=self.options.max_messages,
            max_readings=self.options.max_readings,
            max_bytes=self.options.max_bytes,
            journal_max_events=self.options.journal_max_events,
            journal_max_age_s=self.options.journal_max_age_s,
        )
        self.resend = ResendHandler(
            self.outbox,
            compound.id,
            edge,
            prefix=compound.prefix,
            min_interval_s=self.options.resend_min_interval_s,
        )
        rules = compound.rules
        self.reading_interval = (
            self.options.reading_interval_s if self.options.reading_interval_s is not None else rules.reading_interval_s
        )
        self.heartbeat_interval = self.options.heartbeat_interval_s or rules.heartbeat_interval_s
        self.publisher = Publisher(
            self.outbox,
            host=host,
            port=port,
            client_id=f"edge-{compound.id}-{edge}",
            status=LastWill(
                self._topic(MessageType.STATUS),
                lambda: self._status(EdgeState.ONLINE),
                lambda: self._status(EdgeState.OFFLINE),
            ),
            window=self.options.window,
            commands=[self.resend.topic],
            on_command=self.resend.handle,
            fallbacks=fallbacks,
            username=username,
            password=password,
            tls=tls,
        )
        self.backlog: deque[Draft | VisionDraft] = deque()
        self.dropped_events = 0
        self.events_stored = 0
        self._latest: dict[str, Sample] = {}
        self._last_reading: dict[str, datetime] = {}
        self._last_heartbeat: datetime | None = None
        self._resume_at = self._load_resume_point()
        self._started_real = time.monotonic()
        self._restore_conditions()

    # ---- helpers
    def _topic(self, kind: MessageType, device: str | None = None) -> str:
        return wire.topic(self.compound.id, self.edge, kind, device, prefix=self.compound.prefix)

    def _status(self, state: EdgeState) -> bytes:
        return wire.dump(wire.Status(compound=self.compound.id, edge=self.edge, state=state, version=VERSION))

    def _load_resume_point(self) -> datetime | None:
        raw = self.outbox.get_state(RESUME_KEY)
        return datetime.fromisoformat(raw) if raw else None

    def _forget_resume_point(self, point: datetime, now: datetime) -> None:
        """Drop a resume point ahead of the clock: it was saved on another timeline than this run's.

        A restart on the same timeline starts after the point its previous run saved. A point ahead of the
        clock means the timeline began again (a new run of a scenario in the same data dir, or a clock set
        back): its samples are stamped before that point, and discarding them left every device silent,
        flagged ``device_offline`` ``offline_after_s`` into the run, until the clock passed the old point.
        """
        log.warning(
            "edge %s: resume point %s is ahead of the clock (%s): the timeline was restarted (a new scenario run "
            "or a clock set back), so it does not apply and every new sample is judged",
            self.edge,
            point.isoformat(),
            now.isoformat(),
        )
        self._resume_at = None
        self.outbox.set_state(RESUME_KEY, None)  # a later restart on this timeline resumes from this run's points

    def _restore_conditions(self) -> None:
        conditions = []
        for key, raw in self.outbox.states(COND_PREFIX).items():
            try:
                _, device, kind = key.split("/", 2)
                data = json.loads(raw)
                conditions.append(
                    OpenCondition(device, EventKind(kind), str(data["raised_id"]), Severity(data["severity"]))
                )
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable open condition %r: %s", key, exc)
        restored = self.engine.restore(conditions)
        if self.cameras is not None:
            restored += self.cameras.restore(conditions)
        if restored:
            log.info("edge %s: %d open condition(s) restored from the outbox", self.edge, restored)

    @property
    def dropped(self) -> int:
        """Messages that could not be stored (outbox refusals plus backlog overflow)."""
        cameras = (self.cameras.dropped if self.cameras else 0) + self.dropped_snapshots
        return self.outbox.dropped + self.dropped_events + cameras

    # ---- one tick
    def step(self, now: datetime) -> None:
        """Poll, apply rules, store events and due readings, and send a heartbeat when due."""
        samples: list[Sample] = []
        for driver in self.drivers:
            try:
                samples.extend(driver.poll(now))
            except Exception:
                log.exception("driver %s failed to poll; its devices will look silent", driver.name)
        if self._resume_at is not None and self._resume_at > now:
            self._forget_resume_point(self._resume_at, now)
        if self._resume_at is not None:
            # After a restart, samples the previous run already judged are not judged twice.
            samples = [s for s in samples if s.at > self._resume_at]
        samples.sort(key=lambda s: s.at)
        verdicts = self.engine.feed(samples)
        verdicts.extend(self.engine.tick(now))
        for verdict in verdicts:
            draft = self.engine.draft(verdict)
            if draft is None:
                continue
            if len(self.backlog) >= self.options.backlog_max:
                lost = self.backlog.popleft()
                self.dropped_events += 1
                log.error(
                    "event backlog full: event %s (%s %s) dropped", lost.id, lost.verdict.kind, lost.verdict.device
                )
            self.backlog.append(draft)
        if self.cameras is not None:
            self._take_camera_drafts()
        self._store_events(now)
        self._store_snapshots()
        for sample in samples:
            if sample.quantity.periodic:  # a card grant is an instant, not the door's state
                self._latest[sample.device] = sample
        self._store_readings(now)
        self._heartbeat(now)
        self.publisher.poke()

    def _take_camera_drafts(self) -> None:
        """Camera events join the event backlog (same seq, journal, resend); their snapshots wait for the outbox.

        The lift was already commanded in the camera thread. A snapshot is a QoS 1 message of the event
        lane (not journaled, so not replayable), stored after the tick's events so that events come first
        when room is short. While the outbox refuses it, it waits in a bounded in-memory list
        (``snapshot_backlog``), retried every tick, the oldest dropped (counted) beyond it.
        """
        assert self.cameras is not None
        for draft in self.cameras.take():
            if draft.snapshot is not None:
                if len(self.snapshots) >= self.options.snapshot_backlog:
                    topic, _ = self.snapshots.popleft()
                    self.dropped_snapshots += 1
                    log.error("snapshot backlog full: %s dropped", topic)
                self.snapshots.append((draft.snapshot_topic, draft.snapshot))
            if draft.frame is not None:  # the clean frame: a marked alarm becomes a training picture
                self.snapshots.append((draft.frame_topic, draft.frame))
            if len(self.backlog) >= self.options.backlog_max:
                lost = self.backlog.popleft()
                self.dropped_events += 1
                log.error("event backlog full: event %s dropped", lost.id)
            self.backlog.append(draft)
        for report in self.cameras.take_shadow():  # a candidate model's verdicts: published, never acted on
            topic = self._topic(MessageType.SHADOW, report.device)
            self.snapshots.append((topic, wire.dump(report)))

    def _store_snapshots(self) -> None:
        """Store waiting snapshots, oldest first, until the outbox refuses one."""
        while self.snapshots:
            topic, jpeg = self.snapshots[0]
            try:
                self.outbox.put(topic, jpeg, lane=Lane.EVENT)
            except OutboxError as exc:
                log.error("%d snapshot(s) wait in memory: %s", len(self.snapshots), exc)
                return
            self.snapshots.popleft()

    def _store_events(self, now: datetime) -> None:
        """Store the backlog in one transaction (one fsync per tick, not per event); keep what did not fit."""
        if not self.backlog:
            return
        resume = now.isoformat()
        batch = list(self.backlog)[: self.options.events_per_transaction]
        items = []
        for draft in batch:
            cond = draft.condition
            key = f"{COND_PREFIX}{draft.verdict.device}/{draft.verdict.kind.value}"
            value = json.dumps({"raised_id": cond.raised_id, "severity": cond.severity.value}) if cond else None
            topic = self._topic(MessageType.EVENT, draft.verdict.device)
            items.append((functools.partial(_event_message, topic, draft), {key: value, RESUME_KEY: resume}))
        before = self.outbox.last_seq()
        try:
            self.outbox.put_sequenced_many(items, kept=True)  # refused ones stay in the backlog: not dropped
        except OutboxError as exc:
            log.error("%d event(s) wait in memory: %s", len(self.backlog) - (self.outbox.last_seq() - before), exc)
        stored = self.outbox.last_seq() - before
        for seq in range(before + 1, before + stored + 1):
            draft = self.backlog.popleft()
            self.events_stored += 1
            v = draft.verdict
            log.info("event %s seq=%d %s %s %s: %s", draft.id, seq, v.kind.value, v.state.value, v.device, v.message)

    def _store_readings(self, now: datetime) -> None:
        if self.reading_interval <= 0:
            self._latest.clear()
            return
        open_devices = {device for device, _ in self.engine.open}
        batch: list[tuple[str, bytes]] = []
        for device, sample in list(self._latest.items()):
            interval = self.options.alarm_reading_interval_s if device in open_devices else self.reading_interval
            last = self._last_reading.get(device)
            if last is not None and (sample.at - last).total_seconds() < interval:
                continue
            del self._latest[device]
            self._last_reading[device] = sample.at
            reading = wire.Reading(
                compound=self.compound.id,
                edge=self.edge,
                device=device,
                quantity=sample.quantity.value,
                value=sample.value,
                unit=sample.quantity.unit,
                battery=sample.battery,
                at=sample.at,
            )
            batch.append((self._topic(MessageType.READING, device), wire.dump(reading)))
        if batch:
            with contextlib.suppress(OutboxError):  # logged and counted by the outbox; readings are expendable
                self.outbox.put_many(batch, lane=Lane.READING)

    def _heartbeat(self, now: datetime) -> None:
        if self._last_heartbeat is not None and (now - self._last_heartbeat).total_seconds() < self.heartbeat_interval:
            return
        self._last_heartbeat = now
        beat = wire.Heartbeat(
            compound=self.compound.id,
            edge=self.edge,
            uptime_s=time.monotonic() - self._started_real,
            seq=self.outbox.last_seq(),
            outbox_depth=self.outbox.depth() + len(self.backlog),
            outbox_full=self.outbox.full or bool(self.backlog),
            dropped=self.dropped,
            devices_online=self.engine.devices_online() - (self.cameras.offline() if self.cameras else 0),
            devices_total=len(self.engine.devices),
        )
        self.publisher.publish_now(self._topic(MessageType.HEARTBEAT), wire.dump(beat))

    # ---- run
    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set or the clock reaches ``until``; then drain the outbox and go offline."""
        stop = stop or asyncio.Event()
        start = self.clock.now()
        log.info(
            "edge %s: %d devices, %d driver(s), outbox %s (%d waiting), sim time %s",
            self.edge,
            len(self.engine.devices),
            len(self.drivers),
            self.outbox.path,
            self.outbox.depth(),
            start.isoformat(),
        )
        self.publisher.start()
        pump = asyncio.create_task(self.publisher.run(), name=f"pump-{self.edge}")
        try:
            # Connected, but no tick before the clock's time zero: a process tree starts its edges ahead of
            # it, and silence counted from a tick before it (simulators start at zero) flagged every device
            # offline at start-up under a fast clock (x300: 3 real seconds ahead are 900 simulated ones).
            await _first_done(self.clock.started(), stop.wait())
            if self.cameras is not None:
                self.cameras.start()
            while not stop.is_set():
                now = self.clock.now()
                if self.options.until is not None and now >= self.options.until:
                    break
                self.step(now)
                await _first_done(self.clock.sleep(self.options.tick_s), stop.wait())
            if self.cameras is not None:  # what the cameras decided before the stop is stored too
                await asyncio.to_thread(self.cameras.stop)
                self.cameras.flush_shadow()
                self._take_camera_drafts()
                self._store_events(self.clock.now())
                self._store_snapshots()
            self.outbox.set_state(RESUME_KEY, self.clock.now().isoformat())
            drained = await self.publisher.flush(self.options.drain_timeout_s)
            if not drained:
                log.warning(
                    "edge %s stops with %d message(s) in the outbox; they are sent on the next start",
                    self.edge,
                    self.outbox.depth(),
                )
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await self.publisher.stop()
            if self.cameras is not None:
                self.cameras.stop()
            for driver in self.drivers:
                driver.close()
            last_seq, depth = self.outbox.last_seq(), self.outbox.depth()
            self.outbox.close()
        log.info(
            "edge %s stopped: %d event(s) stored this run, last seq %d, %d left in the outbox",
            self.edge,
            self.events_stored,
            last_seq,
            depth,
        )


async def _first_done(*waits: Coroutine[Any, Any, object]) -> None:
    """Wait until the first of ``waits`` is done; cancel the others."""
    tasks = [asyncio.create_task(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def _event_message(topic: str, draft: Draft | VisionDraft, seq: int) -> tuple[str, bytes]:
    """Topic and payload of a drafted event once its seq is known."""
    return topic, wire.dump(draft.event(seq))
